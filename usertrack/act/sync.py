"""`usertrack sync posthog`: each user's segments written to PostHog as person properties.

Reverse ETL, as Hightouch or Census do it: `usertrack_segments` (a list),
`usertrack_primary_segment` and `usertrack_synced_at`, set through the posthog SDK (`$set` events
to the capture host's /batch/). Only users whose segments changed since the last successful sync
are sent (`everyone` sends all); a user who left every segment gets an empty list and a null
primary, not stale values. The distinct_id is one PostHog already knows for the person
(queries/posthog/ person_distinct_ids.sql), so no person is ever created; users PostHog has never
seen are skipped and counted. What was synced is remembered in `<USERTRACK_HOME>/posthog-sync.json`
(0600), and only for the users whose batch the capture host took (the SDK's on_error names the
others).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from usertrack.errors import ConfigError, DeliveryError, register_secret

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

STATE_FILE = "posthog-sync.json"
DISTINCT_IDS_QUERY = "posthog/person_distinct_ids"
# PostHog Cloud: the app and API at us/eu.posthog.com, ingestion at us/eu.i.posthog.com.
CLOUD_CAPTURE = {"us.posthog.com": "us.i.posthog.com", "eu.posthog.com": "eu.i.posthog.com"}


@dataclass(frozen=True)
class Change:
    email: str
    distinct_id: str | None
    kind: str  # "gaining", "changing", "losing" or "unchanged" (sent with everyone=True)
    before: tuple[str, ...]
    after: tuple[str, ...]
    primary: str | None


@dataclass
class SyncPlan:
    as_of: datetime
    workspace: str = ""  # history.workspace_identity: the state is kept per workspace
    changes: list[Change] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # changed, but PostHog has never seen them

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)


@dataclass
class SyncResult:
    sent: int = 0
    failed: set[str] = field(default_factory=set)  # distinct_ids whose batch was not taken
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


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise DeliveryError(f"{path}: cannot read the sync state: {e}") from None
    return doc if isinstance(doc, dict) else {}


def load_state(home: Path, workspace: str) -> dict[str, list[str]]:
    """What the last successful syncs of `workspace` sent: email -> segments (non-empty)."""
    synced = _read(home / STATE_FILE).get("workspaces", {}).get(workspace, {})
    return {str(k): list(v) for k, v in synced.items()}


def save_state(home: Path, workspace: str, synced: Mapping[str, list[str]]) -> None:
    """Written whole (atomically), 0600; other workspaces' entries kept as they were."""
    from usertrack.rendering.output import write_atomic
    from usertrack.workspace import private_dir, private_file

    private_dir(home)
    path = home / STATE_FILE
    doc = _read(path)
    doc.setdefault("workspaces", {})[workspace] = dict(sorted(synced.items()))
    write_atomic(path, json.dumps(doc, indent=0) + "\n")
    private_file(path)


def plan_sync(
    ws: Workspace,
    as_of: datetime,
    *,
    everyone: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SyncPlan:
    """Who would be sent: each user's segments now against what the last sync sent."""
    result = ws.classify(as_of, progress)
    if progress:
        progress(f"running {DISTINCT_IDS_QUERY}")
    ids = {r["email"]: r["distinct_id"] for r in ws.run_query(DISTINCT_IDS_QUERY, as_of).as_dicts()}
    from usertrack.segments.history import workspace_identity

    plan = SyncPlan(as_of=as_of, workspace=workspace_identity(ws))
    state = load_state(ws.settings.home, plan.workspace)
    now: dict[str, tuple[tuple[str, ...], str | None]] = {}
    for email, segments, primary in result.memberships():
        now[email] = (tuple(segments or ()), primary)
    for email in sorted(set(now) | set(state)):
        after, primary = now.get(email, ((), None))
        before = tuple(state.get(email, ()))
        if after == before and not (everyone and (after or email in state)):
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
        distinct_id = ids.get(email)
        if distinct_id is None:
            plan.unknown.append(email)
            continue
        plan.changes.append(Change(email, str(distinct_id), kind, before, after, primary))
    return plan


def properties(change: Change, synced_at: datetime) -> dict[str, Any]:
    return {
        "usertrack_segments": list(change.after),
        "usertrack_primary_segment": change.primary if change.after else None,
        "usertrack_synced_at": synced_at.isoformat().replace("+00:00", "Z"),
    }


def apply_sync(
    home: Path,
    plan: SyncPlan,
    synced_at: datetime,
    *,
    key: str,
    host: str,
    client_factory: Callable[..., Any] | None = None,
) -> SyncResult:
    """Hand every change to the SDK, flush, shut down; advance the state only for the users
    whose batch the capture host took."""
    from posthog import Posthog

    outcome = SyncResult()
    lock = threading.Lock()

    def on_error(error: Exception, batch: list[dict[str, Any]]) -> None:
        with lock:
            outcome.errors.append(type(error).__name__ + ": " + str(error).splitlines()[0][:200])
            for msg in batch:
                outcome.failed.add(str(msg.get("distinct_id")))

    factory = client_factory or Posthog
    client = factory(
        key,
        host=host,
        on_error=on_error,
        gzip=True,
        max_retries=3,
        flush_at=1000,
        max_queue_size=max(10_000, len(plan.changes) + 1),
        timeout=15,
        disable_geoip=True,
    )
    import uuid

    stamp = synced_at.isoformat()
    try:
        for change in plan.changes:
            # A uuid derived from the person and the sync's moment: PostHog deduplicates events
            # by uuid, so a batch the SDK retries is not applied twice (and uuid4's os.urandom
            # was a third of the hand-off time).
            event_id = uuid.uuid5(
                uuid.NAMESPACE_URL, f"usertrack-sync:{change.distinct_id}:{stamp}"
            )
            # Handed over as a UUID, not its text: the SDK re-parses a text uuid to check it.
            client.set(
                distinct_id=change.distinct_id,
                properties=properties(change, synced_at),
                uuid=event_id,
            )
            outcome.sent += 1
        client.flush()
    finally:
        client.shutdown()
    state = load_state(home, plan.workspace)
    for change in plan.changes:
        if change.distinct_id in outcome.failed:
            continue
        if change.after:
            state[change.email] = list(change.after)
        else:
            state.pop(change.email, None)
    save_state(home, plan.workspace, state)
    return outcome
