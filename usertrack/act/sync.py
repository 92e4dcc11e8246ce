"""`usertrack sync posthog`: each user's segments written to PostHog as person properties.

Reverse ETL, as Hightouch or Census do it: `usertrack_segments` (a list),
`usertrack_primary_segment` and `usertrack_synced_at`, set with `$set` events posted to the
capture host's /batch/. Only users whose segments changed since the last sync are sent
(`everyone` sends all); a user who left every segment gets an empty list and a null primary, not
stale values.

To the right person. queries/posthog/person_distinct_ids.sql lists, per email, the PostHog
persons carrying it and their distinct_ids; `pick_target` writes only to a person usertrack can
tie to the user without a stranger's help (anyone with the project's public token can give a
person any email): the one person with the email, or, when several carry it, the one person
holding the distinct_id the app identifies the user with (the account's user id,
queries/neon/account_ids.sql; the email itself for people without an account). Otherwise the
email is skipped as ambiguous and reported. Never by recency. No person is ever created: users
PostHog has never seen are skipped and counted.

Exactly once. The apply holds `<home>/sync.lock` (usertrack.locks), so two runs never plan the
same change; the plan is made under it, against the state the previous run left. Before anything
is sent, the whole list (a generation: its id, the moment, every user's distinct_id and values)
is saved in `<home>/posthog-sync.json` as `pending`; each batch the capture host acknowledges is
appended to `<home>/posthog-sync.acks` (fsynced) before the next is posted. An event's uuid is a
uuid5 of (workspace, generation, distinct_id, the properties sent) and its timestamp the
generation's moment, so after a crash (kill -9 anywhere) the next run re-sends exactly the
batches that were not acknowledged, as the same events: PostHog's events table deduplicates on
(day of timestamp, event, distinct_id, uuid) (posthog/models/event/sql.py, ReplacingMergeTree
ORDER BY (team_id, toDate(timestamp), event, cityHash64(distinct_id), cityHash64(uuid))). When
every batch is acknowledged the generation is folded into the synced state and the acks dropped.
A generation that could not be finished (the capture host down, the deadline passed) stays
pending: the next run sends its rest first, then plans anew.

The messages are built by the posthog SDK (`set()`, with `send=False`: its `before_send` hands
over the finished event) and posted by the SDK's own `batch_post`, batch by batch, so each batch's
success is known; the SDK's background consumer only reports failures.

Damaged state (not JSON, wrong shapes) is a StateFileError naming the file and what is wrong,
never treated as empty nor overwritten; `reset_state` moves the files aside.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from usertrack import locks
from usertrack.errors import ConfigError, StateFileError, register_secret

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

STATE_FILE = "posthog-sync.json"
ACKS_FILE = "posthog-sync.acks"
LOCK_NAME = "sync"
LOCK_WHAT = "usertrack sync posthog --apply"
DISTINCT_IDS_QUERY = "posthog/person_distinct_ids"
ACCOUNT_IDS_QUERY = "neon/account_ids"
# PostHog Cloud: the app and API at us/eu.posthog.com, ingestion at us/eu.i.posthog.com.
CLOUD_CAPTURE = {"us.posthog.com": "us.i.posthog.com", "eu.posthog.com": "eu.i.posthog.com"}

# Events per post. The SDK's consumer caps a batch at 5 MiB (posthog/consumer.py
# BATCH_SIZE_LIMIT; the capture endpoint takes 20 MiB); a $set event here is about 400 bytes, so
# the CLI's largest --batch-size (10,000) stays near 4 MiB.
DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 10_000
POST_TIMEOUT_SECONDS = 15.0  # one post, connect and each read
DEADLINE_SECONDS = 600.0  # the whole send; what is left stays pending for the next run
RETRIES = 3  # per batch, on a timeout, a network error, 408, 429 or 5xx (as the SDK's consumer)

RESET_HINT = (
    "usertrack sync posthog --reset-state moves it aside; the next --apply then sends every"
    " segmented user again"
)
# A uuid5 namespace of usertrack's sync events (uuid5 of the URL namespace and this name).
EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://usertrack.invalid/sync/posthog")


@dataclass(frozen=True)
class Change:
    email: str
    distinct_id: str | None
    kind: str  # "gaining", "changing", "losing", "unchanged" (everyone=True) or "re-send"
    before: tuple[str, ...]
    after: tuple[str, ...]
    primary: str | None


@dataclass
class Facts:
    """What a sync is planned from: the segments now and whom PostHog lets us write to."""

    as_of: datetime
    workspace: str  # history.workspace_identity: the state is kept per workspace
    now: dict[str, tuple[tuple[str, ...], str | None]] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)  # email -> distinct_id to write to
    ambiguous: dict[str, int] = field(default_factory=dict)  # email -> persons carrying it


@dataclass
class SyncPlan:
    as_of: datetime
    workspace: str = ""
    changes: list[Change] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # changed, but PostHog has never seen them
    ambiguous: list[str] = field(default_factory=list)  # changed, several persons, none tied
    resend: list[Change] = field(default_factory=list)  # an interrupted sync's unacknowledged

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)


@dataclass
class SyncResult:
    sent: int = 0  # users acknowledged by the capture host in this run (re-sent ones included)
    resent: int = 0  # of which from an interrupted sync
    failed: int = 0  # users not acknowledged: they stay pending
    errors: list[str] = field(default_factory=list)


def capture_host(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The ingestion host and where it came from: POSTHOG_CAPTURE_HOST, else derived from
    POSTHOG_HOST (PostHog Cloud's app host -> its .i. ingestion host; a self-hosted one as is)."""
    from usertrack.config import check_outgoing_url, setting

    env_map = env
    host, where = setting("POSTHOG_CAPTURE_HOST", env_map)
    insecure = (setting("USERTRACK_INSECURE", env_map)[0] or "0") in ("1", "true", "yes")
    if not host:
        app_host, where = setting("POSTHOG_HOST", env_map)
        if not app_host:
            raise ConfigError(
                "sync --apply needs PostHog's capture host: set POSTHOG_CAPTURE_HOST, or"
                " POSTHOG_HOST (https://us.posthog.com or https://eu.posthog.com)"
            )
        parts = urlsplit(app_host.strip())
        name = parts.hostname or ""
        host = f"{parts.scheme}://{CLOUD_CAPTURE[name]}" if name in CLOUD_CAPTURE else app_host
    check_outgoing_url(host, where, insecure=insecure)
    return host.rstrip("/"), where


def project_key(env: Mapping[str, str] | None = None) -> str:
    from usertrack.config import setting

    key, _ = setting("POSTHOG_PROJECT_API_KEY", env)
    if not key:
        raise ConfigError(
            "sync --apply needs POSTHOG_PROJECT_API_KEY (the project's phc_ key, write-only)"
            " and a capture host (POSTHOG_CAPTURE_HOST, or POSTHOG_HOST for PostHog Cloud)",
            hint="PostHog: Project settings > Project API key",
        )
    register_secret(key)
    return key


# --------------------------------------------------------------------------------------------
# Identity: which person to write to


def pick_target(persons: Mapping[str, Collection[str]], identifying: Collection[str]) -> str | None:
    """The distinct_id to write an email's properties to, or None when it is ambiguous.

    `persons`: person_id -> the distinct_ids of that person carrying the email. `identifying`: the
    distinct_ids the app identifies this user with. One person: theirs (an identifying distinct_id
    if they have one, else their first, sorted). Several: the one person holding an identifying
    distinct_id, if exactly one does; otherwise None. Which person was seen last never counts: a
    stranger can always be the latest.
    """
    tied = {p: sorted(set(ids) & set(identifying)) for p, ids in persons.items()}
    if len(persons) == 1:
        ((person, ids),) = persons.items()
        return tied[person][0] if tied[person] else min(ids)
    holders = [p for p, ids in tied.items() if ids]
    if len(holders) == 1:
        return tied[holders[0]][0]
    return None


def resolve_targets(
    rows: Sequence[Mapping[str, Any]], app_ids: Mapping[str, Collection[str]]
) -> tuple[dict[str, str], dict[str, int]]:
    """email -> distinct_id for every email person_distinct_ids.sql returned that can be tied to
    one person, and email -> number of persons for the ambiguous ones. `app_ids`: email -> the
    app's user ids (accounts); an email without an account is identified by the email itself."""
    from usertrack.emails import normalize_email

    targets: dict[str, str] = {}
    ambiguous: dict[str, int] = {}
    for row in rows:
        email = str(row["email"])
        persons: dict[str, set[str]] = {}
        for person, distinct_id in zip(
            row.get("person_ids") or [], row.get("distinct_ids") or [], strict=True
        ):
            if not distinct_id:
                continue
            # no person_id: a person of its own, never merged with another by the email
            key = str(person) if person else f"distinct_id:{distinct_id}"
            persons.setdefault(key, set()).add(str(distinct_id))
        if not persons:
            continue
        accounts = app_ids.get(email)
        if accounts:
            identifying: set[str] = set(accounts)
        else:  # the app identifies people without an account by their email
            identifying = {
                d for ids in persons.values() for d in ids if normalize_email(d) == email
            }
        target = pick_target(persons, identifying)
        if target is None:
            ambiguous[email] = len(persons)
        else:
            targets[email] = target
    return targets, ambiguous


def gather(ws: Workspace, as_of: datetime, progress: Callable[[str], None] | None = None) -> Facts:
    """Classify everyone and find whom to write to: the slow part, done before the lock."""
    from usertrack.segments.history import workspace_identity

    result = ws.classify(as_of, progress)
    facts = Facts(as_of=as_of, workspace=workspace_identity(ws))
    for email, segments, primary in result.memberships():
        facts.now[email] = (tuple(segments or ()), primary)
    if progress:
        progress(f"running {DISTINCT_IDS_QUERY}")
    rows = ws.run_query(DISTINCT_IDS_QUERY, as_of).as_dicts()
    app_ids: dict[str, set[str]] = {}
    if "neon" in ws.sources:
        if progress:
            progress(f"running {ACCOUNT_IDS_QUERY}")
        for r in ws.run_query(ACCOUNT_IDS_QUERY, as_of).as_dicts():
            if r.get("email") and r.get("user_id") is not None:
                app_ids.setdefault(str(r["email"]), set()).add(str(r["user_id"]))
    facts.targets, facts.ambiguous = resolve_targets(rows, app_ids)
    return facts


# --------------------------------------------------------------------------------------------
# The state: posthog-sync.json (synced + pending) and posthog-sync.acks


@dataclass
class Pending:
    """A generation being sent: its items are (email, distinct_id, segments, primary)."""

    generation: str
    synced_at: datetime
    items: list[tuple[str, str, tuple[str, ...], str | None]]

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "synced_at": self.synced_at.isoformat(),
            "items": [[e, d, list(s), p] for e, d, s, p in self.items],
        }


@dataclass
class State:
    path: Path
    doc: dict[str, Any]  # the file's whole document, other workspaces' entries included
    acked: dict[str, set[int]] = field(default_factory=dict)  # generation -> item indexes

    def synced(self, workspace: str) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.doc["workspaces"].get(workspace, {}).items()}

    def pending(self, workspace: str) -> Pending | None:
        raw = self.doc.get("pending", {}).get(workspace)
        if raw is None:
            return None
        return Pending(
            generation=raw["generation"],
            synced_at=datetime.fromisoformat(raw["synced_at"]),
            items=[(e, d, tuple(s), p) for e, d, s, p in raw["items"]],
        )

    def after_pending(self, workspace: str) -> tuple[dict[str, list[str]], list[int]]:
        """The synced state once the pending generation (if any) is done, and the indexes of its
        items not acknowledged yet."""
        synced = self.synced(workspace)
        pending = self.pending(workspace)
        if pending is None:
            return synced, []
        _fold(synced, pending.items)
        done = self.acked.get(pending.generation, set())
        return synced, [i for i in range(len(pending.items)) if i not in done]


def _fold(synced: dict[str, list[str]], items: Sequence[tuple[str, str, Any, Any]]) -> None:
    for email, _did, segments, _primary in items:
        if segments:
            synced[email] = list(segments)
        else:
            synced.pop(email, None)


def _damaged(path: Path, what: str) -> StateFileError:
    return StateFileError(f"{path}: {what}", hint=RESET_HINT)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_doc(path: Path, doc: Any) -> dict[str, Any]:
    """The document, or a StateFileError naming the first thing wrong with it."""
    if not isinstance(doc, dict):
        raise _damaged(path, f"the sync state is a JSON {_json_type(doc)}, not an object")
    workspaces = doc.get("workspaces")
    if not isinstance(workspaces, dict):
        raise _damaged(path, '"workspaces" is missing or not an object')
    for ws, synced in workspaces.items():
        if not isinstance(synced, dict):
            raise _damaged(path, f'"workspaces" > {json.dumps(ws)} is not an object')
        for email, segments in synced.items():
            if not _is_str_list(segments):
                raise _damaged(
                    path,
                    f'"workspaces" > {json.dumps(ws)} > {json.dumps(email)}: the segments are'
                    f" {json.dumps(segments)[:40]}, not a list of segment ids",
                )
    pending = doc.get("pending", {})
    if not isinstance(pending, dict):
        raise _damaged(path, '"pending" is not an object')
    for ws, gen in pending.items():
        where = f'"pending" > {json.dumps(ws)}'
        if not isinstance(gen, dict) or not isinstance(gen.get("generation"), str):
            raise _damaged(path, f"{where} has no generation")
        try:
            datetime.fromisoformat(str(gen.get("synced_at")))
        except ValueError:
            raise _damaged(path, f"{where}: synced_at is not a moment") from None
        items = gen.get("items")
        if not isinstance(items, list):
            raise _damaged(path, f'{where}: "items" is not a list')
        for n, item in enumerate(items):
            if not (
                isinstance(item, list)
                and len(item) == 4
                and isinstance(item[0], str)
                and isinstance(item[1], str)
                and _is_str_list(item[2])
                and (item[3] is None or isinstance(item[3], str))
            ):
                raise _damaged(
                    path, f"{where}: item {n} is not [email, distinct_id, [segments], primary]"
                )
    return doc


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "null"


def _read_acks(path: Path) -> dict[str, set[int]]:
    """generation -> acknowledged item indexes. A last line cut short (the process was killed
    while appending it) was never recorded: its batch is sent again, as the same events."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise _damaged(path, f"cannot read the sync acknowledgements: {e.strerror or e}") from None
    acked: dict[str, set[int]] = {}
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    for n, line in enumerate(complete, 1):
        try:
            entry = json.loads(line)
            generation, spans = entry["generation"], entry["done"]
            if not isinstance(generation, str) or not isinstance(spans, list):
                raise ValueError
            indexes = acked.setdefault(generation, set())
            for start, stop in spans:
                if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop):
                    raise ValueError
                indexes.update(range(start, stop))
        except (ValueError, KeyError, TypeError):
            raise _damaged(
                path, f"line {n} is not an acknowledgement ({{'generation', 'done'}})"
            ) from None
    del tail  # an unfinished last line: not acknowledged
    return acked


def load_state(home: Path) -> State:
    """The sync state of `home`, checked: a StateFileError names the file and what is wrong."""
    path = home / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        doc: Any = {"workspaces": {}}
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise _damaged(path, f"cannot read the sync state: {reason}") from None
    else:
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise _damaged(path, f"not valid JSON ({e})") from None
    return State(path, _check_doc(path, doc), _read_acks(home / ACKS_FILE))


def _write_private(path: Path, text: str) -> None:
    """Whole or nothing, 0600 from the start: a temp file beside it (mkstemp makes it 0600),
    fsynced, renamed over `path`, the folder fsynced."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _cannot_write(path, e) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _cannot_write(path, e) from None
        raise
    _fsync_dir(path.parent)


def _cannot_write(path: Path, error: OSError) -> Exception:
    from usertrack.rendering.output import OutputError

    return OutputError(f"cannot write {path}: {error.strerror or error}")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _save(state: State) -> None:
    _write_private(state.path, json.dumps(state.doc, indent=0, sort_keys=True) + "\n")


def _keep_acks(home: Path, generations: Collection[str]) -> None:
    """Keep only the acknowledgements of `generations` (the pending ones): a folded
    generation's are dropped, also those a crash between the fold and this left behind."""
    path = home / ACKS_FILE
    try:
        lines = path.read_bytes().split(b"\n")[:-1]
    except FileNotFoundError:
        return
    keep = [ln for ln in lines if json.loads(ln).get("generation") in generations]
    if len(keep) == len(lines):
        return
    if keep:
        _write_private(path, b"\n".join(keep).decode() + "\n")
    else:
        path.unlink()
        _fsync_dir(home)


def reset_state(home: Path, now: datetime) -> list[tuple[Path, Path]]:
    """Move the sync state files aside as `<name>.damaged-<time>`, under the sync lock.
    Returns (from, to) of each file moved."""
    moved: list[tuple[Path, Path]] = []
    if not home.is_dir():
        return moved
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    with locks.exclusive(home, LOCK_NAME, what=LOCK_WHAT, wait=locks.DEFAULT_WAIT_SECONDS):
        for name in (STATE_FILE, ACKS_FILE):
            path = home / name
            if path.exists():
                target = path.with_name(f"{name}.damaged-{stamp}")
                n = 1
                while target.exists():
                    n += 1
                    target = path.with_name(f"{name}.damaged-{stamp}-{n}")
                os.replace(path, target)
                moved.append((path, target))
        _fsync_dir(home)
    return moved


# --------------------------------------------------------------------------------------------
# Planning


def plan_from(facts: Facts, state: State, *, everyone: bool = False) -> SyncPlan:
    """Who would be sent: each user's segments now against what the syncs before sent (an
    interrupted one counted as done: its rest goes first, in `resend`)."""
    plan = SyncPlan(as_of=facts.as_of, workspace=facts.workspace)
    synced, unacked = state.after_pending(facts.workspace)
    pending = state.pending(facts.workspace)
    if pending is not None:
        for i in unacked:
            email, did, segments, primary = pending.items[i]
            plan.resend.append(Change(email, did, "re-send", (), tuple(segments), primary))
    for email in sorted(set(facts.now) | set(synced)):
        after, primary = facts.now.get(email, ((), None))
        before = tuple(synced.get(email, ()))
        if after == before and not (everyone and (after or email in synced)):
            continue
        if not after and not before:
            continue
        kind = (
            "unchanged"
            if after == before
            else "gaining"
            if not before
            else "losing"
            if not after
            else "changing"
        )
        if email in facts.ambiguous:
            plan.ambiguous.append(email)
            continue
        distinct_id = facts.targets.get(email)
        if distinct_id is None:
            plan.unknown.append(email)
            continue
        plan.changes.append(Change(email, distinct_id, kind, before, after, primary))
    return plan


def plan_sync(
    ws: Workspace,
    as_of: datetime,
    *,
    everyone: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SyncPlan:
    """The dry run's plan (no lock: it reads the state, writes nothing)."""
    state = load_state(ws.settings.home)  # a damaged state stops before the slow part
    return plan_from(gather(ws, as_of, progress), state, everyone=everyone)


# --------------------------------------------------------------------------------------------
# Sending


def properties(segments: Sequence[str], primary: str | None, synced_at: datetime) -> dict[str, Any]:
    return {
        "usertrack_segments": list(segments),
        "usertrack_primary_segment": primary if segments else None,
        "usertrack_synced_at": synced_at.isoformat().replace("+00:00", "Z"),
    }


def event_uuid(
    workspace: str, generation: str, distinct_id: str, props: Mapping[str, Any]
) -> uuid.UUID:
    """The same event for the same (workspace, generation, person, values): a re-send after a
    crash is one PostHog already has."""
    key = json.dumps([workspace, generation, distinct_id, props], sort_keys=True)
    return uuid.uuid5(EVENT_NAMESPACE, key)


class _Messages:
    """$set events as the posthog SDK builds them (`set()`), caught before its queue."""

    def __init__(self, key: str, host: str) -> None:
        from posthog import Posthog

        _quiet_sdk()
        self._caught: list[dict[str, Any]] = []

        def catch(msg: dict[str, Any]) -> None:
            self._caught.append(msg)
            return None  # dropped: usertrack posts it itself

        self.client = Posthog(
            key, host=host, send=False, before_send=catch, disable_geoip=True, sync_mode=True
        )

    def build(
        self, distinct_id: str, props: dict[str, Any], when: datetime, event_id: uuid.UUID
    ) -> dict[str, Any]:
        self._caught.clear()
        # Handed over as a UUID, not its text: the SDK re-parses a text uuid to check it.
        self.client.set(distinct_id=distinct_id, properties=props, timestamp=when, uuid=event_id)
        if len(self._caught) != 1:
            raise RuntimeError("the posthog SDK did not build the $set event")
        return self._caught[0]

    def close(self) -> None:
        self.client.shutdown()


def _retryable(error: Exception) -> bool:
    status = getattr(error, "status", None)
    if isinstance(status, int):
        return status in (408, 429) or status >= 500
    return getattr(error, "status", None) is None  # a timeout or a network error


def _quiet_sdk() -> None:
    """The posthog SDK logs a failed upload as its own unprefixed `[PostHog] error uploading`
    line on stderr (Python's last-resort handler); usertrack says what failed in its own words."""
    import logging

    log = logging.getLogger("posthog")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    log.propagate = False


def _post(
    key: str, host: str, batch: list[dict[str, Any]], deadline: float, timeout: float
) -> None:
    """One batch to the capture host's /batch/ through the SDK's poster, retried like the SDK's
    consumer does; raises the last error."""
    from posthog.request import batch_post

    for attempt in range(RETRIES + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the sync's deadline passed")
        try:
            batch_post(key, host, gzip=True, timeout=min(timeout, left), batch=batch)
            return
        except Exception as e:
            if attempt == RETRIES or not _retryable(e):
                raise
            wait = getattr(e, "retry_after", None) or min(0.5 * 2**attempt, 8.0)
            if time.monotonic() + wait >= deadline:
                raise
            time.sleep(wait)


def _batches(indexes: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(indexes), size):
        yield indexes[start : start + size]


def _spans(indexes: list[int]) -> list[list[int]]:
    """[2, 3, 4, 7] -> [[2, 5], [7, 8]]."""
    spans: list[list[int]] = []
    for i in indexes:
        if spans and spans[-1][1] == i:
            spans[-1][1] = i + 1
        else:
            spans.append([i, i + 1])
    return spans


@dataclass
class _Sender:
    """Posts generations' items in batches, recording each acknowledged batch before the next."""

    home: Path
    workspace: str
    key: str
    host: str
    batch_size: int
    deadline: float  # time.monotonic()
    timeout: float
    outcome: SyncResult

    def send(self, pending: Pending, todo: list[int]) -> bool:
        """Post the items `todo` of `pending`; True when every one was acknowledged."""
        messages = _Messages(self.key, self.host)
        path = self.home / ACKS_FILE
        try:
            _trim_torn_tail(path)
            acks = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as e:
            messages.close()
            raise _cannot_write(path, e) from None
        try:
            for n, batch_indexes in enumerate(_batches(todo, self.batch_size)):
                batch = []
                for i in batch_indexes:
                    _email, did, segments, primary = pending.items[i]
                    props = properties(segments, primary, pending.synced_at)
                    event_id = event_uuid(self.workspace, pending.generation, did, props)
                    batch.append(messages.build(did, props, pending.synced_at, event_id))
                try:
                    _post(self.key, self.host, batch, self.deadline, self.timeout)
                except Exception as e:
                    self.outcome.errors.append(_describe(e))
                    self.outcome.failed += len(todo) - n * self.batch_size
                    return False
                line = {"generation": pending.generation, "done": _spans(batch_indexes)}
                try:  # not recorded (disk full): the batch goes again next time, the same events
                    os.write(acks, (json.dumps(line) + "\n").encode())
                    os.fsync(acks)
                except OSError as e:
                    raise _cannot_write(path, e) from None
                self.outcome.sent += len(batch_indexes)
            return True
        finally:
            os.close(acks)
            messages.close()


def _trim_torn_tail(path: Path) -> None:
    """Cut an acks file's unfinished last line (a kill while appending it), so that the next
    line appended is a line of its own."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)
            fh.flush()
            os.fsync(fh.fileno())


def _describe(error: Exception) -> str:
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _pending_generations(state: State) -> set[str]:
    return {g["generation"] for g in state.doc.get("pending", {}).values()}


def _finish(home: Path, state: State, workspace: str, pending: Pending) -> None:
    """Fold a fully acknowledged generation into the synced state, then drop its acks."""
    synced = state.synced(workspace)
    _fold(synced, pending.items)
    state.doc["workspaces"][workspace] = dict(sorted(synced.items()))
    state.doc.get("pending", {}).pop(workspace, None)
    if not state.doc.get("pending"):
        state.doc.pop("pending", None)
    _save(state)
    _keep_acks(home, _pending_generations(state))


def apply_sync(
    home: Path,
    facts: Facts,
    synced_at: datetime,
    *,
    key: str,
    host: str,
    everyone: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    timeout: float | None = None,
    deadline_seconds: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[SyncPlan, SyncResult]:
    """Under the home's sync lock: finish an interrupted generation, plan against the state it
    leaves, save the new generation as pending, send it batch by batch, fold it when done.
    `timeout` bounds each post (POST_TIMEOUT_SECONDS), `deadline_seconds` the whole send
    (DEADLINE_SECONDS): what is left then stays pending."""
    from usertrack.files import private_dir

    private_dir(home)
    timeout = POST_TIMEOUT_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + (
        DEADLINE_SECONDS if deadline_seconds is None else deadline_seconds
    )
    outcome = SyncResult()
    workspace = facts.workspace
    with locks.exclusive(home, LOCK_NAME, what=LOCK_WHAT, wait=locks.DEFAULT_WAIT_SECONDS):
        state = load_state(home)
        _keep_acks(home, _pending_generations(state))
        plan = plan_from(facts, state, everyone=everyone)
        sender = _Sender(home, workspace, key, host, batch_size, deadline, timeout, outcome)
        pending = state.pending(workspace)
        if pending is not None:
            _synced, todo = state.after_pending(workspace)
            if todo and progress:
                progress(f"re-sending {len(todo)} users of an interrupted sync")
            done = sender.send(pending, todo)
            outcome.resent = outcome.sent
            if not done:
                outcome.failed += len(plan.changes)
                return plan, outcome
            _finish(home, state, workspace, pending)
        if not plan.changes:
            return plan, outcome
        pending = Pending(
            generation=uuid.uuid4().hex,
            synced_at=synced_at.astimezone(UTC),
            items=[(c.email, str(c.distinct_id), c.after, c.primary) for c in plan.changes],
        )
        state.doc.setdefault("pending", {})[workspace] = pending.to_json()
        _save(state)  # before the first post: a crash from here on re-sends the same events
        if progress:
            progress(f"sending {len(plan.changes)} users to PostHog")
        todo = list(range(len(pending.items)))
        if sender.send(pending, todo):
            _finish(home, state, workspace, pending)
    return plan, outcome
