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

Exactly once. The apply holds `<home>/sync.lock` (usertrack.core.locks), so two runs never plan the
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

import json
import os
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from usertrack.act.sync_state import (
    ACKS_FILE,
    LOCK_NAME,
    LOCK_WHAT,
    Pending,
    State,
    cannot_write,
    finish_generation,
    keep_acks,
    load_state,
    pending_generations,
    save_state,
    trim_torn_tail,
)
from usertrack.act.sync_state import reset_state as reset_state  # for the command
from usertrack.core import locks
from usertrack.core.errors import ConfigError, quiet_log, register_secret

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

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
    from usertrack.core.config import check_outgoing_url, setting

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
    from usertrack.core.config import setting

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
    from usertrack.core.emails import normalize_email

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
        from usertrack.engines.hogql.parser import sdk_module

        Posthog = sdk_module("posthog").Posthog
        quiet_log("posthog")
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


def _post(key: str, host: str, batch: list[dict[str, Any]], deadline: float) -> None:
    """One batch to the capture host's /batch/ through the SDK's poster, retried like the SDK's
    consumer does, each post bounded by POST_TIMEOUT_SECONDS; raises the last error."""
    from usertrack.engines.hogql.parser import sdk_module

    batch_post = sdk_module("posthog.request").batch_post
    for attempt in range(RETRIES + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the sync's deadline passed")
        try:
            batch_post(key, host, gzip=True, timeout=min(POST_TIMEOUT_SECONDS, left), batch=batch)
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
    outcome: SyncResult

    def send(self, pending: Pending, todo: list[int]) -> bool:
        """Post the items `todo` of `pending`; True when every one was acknowledged."""
        messages = _Messages(self.key, self.host)
        path = self.home / ACKS_FILE
        try:
            trim_torn_tail(path)
            acks = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as e:
            messages.close()
            raise cannot_write(path, e) from None
        try:
            for n, batch_indexes in enumerate(_batches(todo, self.batch_size)):
                batch = []
                for i in batch_indexes:
                    _email, did, segments, primary = pending.items[i]
                    props = properties(segments, primary, pending.synced_at)
                    event_id = event_uuid(self.workspace, pending.generation, did, props)
                    batch.append(messages.build(did, props, pending.synced_at, event_id))
                try:
                    _post(self.key, self.host, batch, self.deadline)
                except Exception as e:
                    self.outcome.errors.append(_describe(e))
                    self.outcome.failed += len(todo) - n * self.batch_size
                    return False
                line = {"generation": pending.generation, "done": _spans(batch_indexes)}
                try:  # not recorded (disk full): the batch goes again next time, the same events
                    os.write(acks, (json.dumps(line) + "\n").encode())
                    os.fsync(acks)
                except OSError as e:
                    raise cannot_write(path, e) from None
                self.outcome.sent += len(batch_indexes)
            return True
        finally:
            os.close(acks)
            messages.close()


def _describe(error: Exception) -> str:
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def apply_sync(
    home: Path,
    facts: Facts,
    synced_at: datetime,
    *,
    key: str,
    host: str,
    everyone: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[str], None] | None = None,
) -> tuple[SyncPlan, SyncResult]:
    """Under the home's sync lock: finish an interrupted generation, plan against the state it
    leaves, save the new generation as pending, send it batch by batch, fold it when done.
    Each post is bounded by POST_TIMEOUT_SECONDS, the whole send by DEADLINE_SECONDS: what is
    left then stays pending."""
    from usertrack.core.files import private_dir

    private_dir(home)
    deadline = time.monotonic() + DEADLINE_SECONDS
    outcome = SyncResult()
    workspace = facts.workspace
    with locks.exclusive(home, LOCK_NAME, what=LOCK_WHAT, wait=locks.DEFAULT_WAIT_SECONDS):
        state = load_state(home)
        keep_acks(home, pending_generations(state))
        plan = plan_from(facts, state, everyone=everyone)
        sender = _Sender(home, workspace, key, host, batch_size, deadline, outcome)
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
            finish_generation(home, state, workspace, pending)
        if not plan.changes:
            return plan, outcome
        pending = Pending(
            generation=uuid.uuid4().hex,
            synced_at=synced_at.astimezone(UTC),
            items=[(c.email, str(c.distinct_id), c.after, c.primary) for c in plan.changes],
        )
        state.doc.setdefault("pending", {})[workspace] = pending.to_json()
        save_state(state)  # before the first post: a crash from here on re-sends the same events
        if progress:
            progress(f"sending {len(plan.changes)} users to PostHog")
        todo = list(range(len(pending.items)))
        if sender.send(pending, todo):
            finish_generation(home, state, workspace, pending)
    return plan, outcome
