"""Segment history: who was in which segment at each saved moment, and who moved since.

Every `segments` and `report` run can save a snapshot of its classification: for one as_of, the
users in at least one segment with their segments and primary segment (a user absent from a
snapshot was in no segment). Snapshots live in one SQLite file, `<USERTRACK_HOME>/history.sqlite3`
(SQLite rather than DuckDB because several usertrack processes may write it at once: SQLite locks
per transaction, DuckDB per process). Re-saving the same as_of replaces that snapshot in one
transaction, so a reader sees the old one or the new one, never a mix.

Snapshots are keyed by a workspace identity, so the demo's history never mixes with your data's:
`demo:<users>u:<anchor>` for the built-in demo, `live:<hash>` for configured sources, where the hash
covers the Postgres connection without its password, the PostHog host and project, and the events
export's path. No secret is stored, not even hashed.

Movement ("--changes") compares a baseline with the current run. The baseline is the snapshot
saved at exactly the `since` moment; when there is none, the caller computes the segments as of
`since` itself (`Workspace.classify`), the rule the weekly report follows too. Never a snapshot of
another moment: the window asked for is the window answered, whatever the history happens to
hold. Computed baselines are not saved: a snapshot records what a run saw then.

Every snapshot carries a fingerprint of what decided membership: the segment rules (ids, rules,
order), the exclude list and the per-user query files (`rules_fingerprint`). A snapshot taken under
another fingerprint is never compared as it is: loosening a threshold would report every user it
catches as "entering" a segment. The baseline is then recomputed with the current rules, and the
caller is told why.

The history keeps one snapshot per UTC day, the latest of that day, and drops snapshots more than
USERTRACK_HISTORY_DAYS (default 400) older than the newest one. The file is 0600 inside a 0700
USERTRACK_HOME: it holds your users' emails.

A snapshot's members are one value of its `snapshots` row (schema version 3): zlib-compressed JSON
grouping the emails by their segment list, a handful of lists among 100,000 users. Writing them as
one SQLite row per member cost 0.2 s a save at 100,000 users, most of it SQLite's B-tree work.
Snapshots saved before version 3 keep their rows in `members` and are read from there. Since
version 4 a snapshot also keeps the app's accounts in no segment (`accounts`, the same encoding),
so that `--by-segment` on a saved moment tells "no segment" from "no account" without the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import Cancelled, ConfigError, DataError, StateFileError, UsageError
from usertrack.engines.concurrency import Background
from usertrack.segments.snapshot_codec import MEMBERSHIPS_LEVEL, Classified
from usertrack.segments.snapshot_codec import accounts_of as _accounts_of
from usertrack.segments.snapshot_codec import decode_accounts as _decode_accounts
from usertrack.segments.snapshot_codec import decode_memberships as _decode_memberships
from usertrack.segments.snapshot_codec import encode_accounts as _encode_accounts
from usertrack.segments.snapshot_codec import members_of as _members_of
from usertrack.segments.snapshot_codec import segment_ids as _segment_ids
from usertrack.segments.snapshot_codec import user_count as _user_count

if TYPE_CHECKING:
    from usertrack.core.config import Settings
    from usertrack.segments.rules import Segment
    from usertrack.workspace import Workspace

HISTORY_FILE = "history.sqlite3"
SCHEMA_VERSION = 4  # 2: snapshots.fingerprint; 3: snapshots.memberships; 4: snapshots.accounts
DEFAULT_HISTORY_DAYS = 400

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS snapshots (
    workspace TEXT NOT NULL,
    as_of TEXT NOT NULL,            -- 'YYYY-MM-DDTHH:MM:SSZ' (UTC; sorts as time)
    saved_at TEXT NOT NULL,
    users INTEGER NOT NULL,         -- every user classified, in a segment or not
    segments TEXT NOT NULL,         -- JSON list of the segment ids, in rule order
    fingerprint TEXT,               -- rules_fingerprint of the run (NULL: saved before version 2)
    memberships BLOB,               -- see _encode_memberships (NULL: saved before version 3)
    accounts BLOB,                  -- see _encode_accounts (NULL: not recorded)
    PRIMARY KEY (workspace, as_of)
)""",
    # The members of snapshots saved before version 3 (none are written since).
    """CREATE TABLE IF NOT EXISTS members (
    workspace TEXT NOT NULL,
    as_of TEXT NOT NULL,
    email TEXT NOT NULL,
    segments TEXT NOT NULL,         -- JSON list of segment ids
    primary_segment TEXT,
    PRIMARY KEY (workspace, as_of, email)
) WITHOUT ROWID""",
)
# What brings a file of each older version to SCHEMA_VERSION (old snapshots stay as they are).
_UPGRADES: dict[int, tuple[str, ...]] = {
    0: _SCHEMA,
    1: (  # snapshots saved before fingerprints: never compared as they are
        "ALTER TABLE snapshots ADD COLUMN fingerprint TEXT",
        "ALTER TABLE snapshots ADD COLUMN memberships BLOB",
        "ALTER TABLE snapshots ADD COLUMN accounts BLOB",
    ),
    2: (
        "ALTER TABLE snapshots ADD COLUMN memberships BLOB",
        "ALTER TABLE snapshots ADD COLUMN accounts BLOB",
    ),
    3: ("ALTER TABLE snapshots ADD COLUMN accounts BLOB",),
}


@dataclass(frozen=True)
class Snapshot:
    """Who was in which segment at `as_of`. `members` maps email -> segment ids (never empty)."""

    as_of: datetime
    members: Mapping[str, tuple[str, ...]]
    primary: Mapping[str, str | None] = field(default_factory=dict)
    segment_ids: tuple[str, ...] = ()
    users: int = 0
    source: str = "snapshot"  # "snapshot" (saved) or "computed" (classified for this comparison)
    fingerprint: str | None = None  # rules_fingerprint of the run that classified it
    # The emails of the app's accounts in no segment (queries/neon/accounts.sql's rows as the
    # run loaded them): with `primary`, who had an account, so that `--by-segment` tells "no
    # segment" from "no account" without asking the database again. None: not recorded (a
    # snapshot saved before version 4, or a run without the accounts query).
    accounts: frozenset[str] | None = None

    @classmethod
    def of(
        cls,
        result: Classified,
        *,
        source: str = "computed",
        fingerprint: str | None = None,
        accounts: bool = False,
    ) -> Snapshot:
        """The snapshot of a classification; with `accounts`, its accounts in no segment too
        (a query of the classification's DuckDB: only `--by-segment` reads them)."""
        members, primary = _members_of(result)
        return cls(
            as_of=_utc(result.as_of),
            members=members,
            primary=primary,
            segment_ids=_segment_ids(result),
            users=_user_count(result),
            source=source,
            fingerprint=fingerprint,
            accounts=_accounts_of(result) if accounts else None,
        )

    def in_segment(self, segment_id: str) -> set[str]:
        return {email for email, segs in self.members.items() if segment_id in segs}


def _encode_memberships(result: Classified) -> bytes:
    """A snapshot's members as one value: zlib of the JSON `[[segment ids, primary, [emails]],
    ...]`, one entry per distinct segment list, emails in order. JSON holds any email exactly
    (quotes, control characters, any unicode). A classification still in DuckDB builds the
    JSON there (no Python object per member)."""
    in_duckdb = getattr(result, "snapshot_json", None)
    if in_duckdb is not None and getattr(result, "con", None) is not None:
        text: str = in_duckdb()
        return zlib.compress(text.encode(), MEMBERSHIPS_LEVEL)
    snap = Snapshot.of(result)
    groups: dict[tuple[tuple[str, ...], str | None], list[str]] = {}
    for email, segs in sorted(snap.members.items()):
        groups.setdefault((segs, snap.primary.get(email)), []).append(email)
    entries = [[list(segs), first, emails] for (segs, first), emails in groups.items()]
    # ASCII: a str that is not valid UTF-8 (a lone surrogate) is still written exactly.
    return zlib.compress(json.dumps(entries).encode(), MEMBERSHIPS_LEVEL)


def encode_snapshot(result: Classified) -> tuple[bytes, bytes | None]:
    """`_encode_memberships` and `_encode_accounts` of `result`. A classification still in
    DuckDB makes the two side by side, each on a cursor of its own (DuckDB runs each of them on
    one core, and zlib too leaves the interpreter's lock): at 100,000 users about 0.05 s each."""
    if getattr(result, "con", None) is None or getattr(result, "snapshot_json", None) is None:
        return _encode_memberships(result), _encode_accounts(result)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="usertrack-accounts") as beside:
        accounts = beside.submit(_encode_accounts, result)
        memberships = _encode_memberships(result)
        return memberships, accounts.result()


@dataclass(frozen=True)
class SegmentMovement:
    """One segment between a baseline and the current run. Emails are sorted."""

    segment: str
    before: int
    after: int
    entered: tuple[str, ...]
    left: tuple[str, ...]
    name: str = ""
    action: str = ""

    @property
    def change(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class Changes:
    """Who entered and left each segment between `baseline` and `current`."""

    baseline: Snapshot
    current: Snapshot
    segments: tuple[SegmentMovement, ...]

    def get(self, segment_id: str) -> SegmentMovement:
        for movement in self.segments:
            if movement.segment == segment_id:
                return movement
        raise KeyError(segment_id)


def compare(
    baseline: Snapshot,
    current: Snapshot,
    segments: Sequence[Segment] | Sequence[str] = (),
) -> Changes:
    """Entered and left per segment, in the order of `segments` (default: the current run's ids,
    then ids only the baseline had, sorted)."""
    names: dict[str, tuple[str, str]] = {}
    order: list[str] = []
    for seg in segments:
        if isinstance(seg, str):
            order.append(seg)
        else:
            order.append(seg.id)
            names[seg.id] = (seg.name, seg.action)
    if not order:
        order = list(current.segment_ids)
        seen = set(order)
        extra = {s for segs in current.members.values() for s in segs}
        extra |= set(baseline.segment_ids)
        extra |= {s for segs in baseline.members.values() for s in segs}
        order += sorted(extra - seen)
    moves = []
    for seg_id in order:
        before = baseline.in_segment(seg_id)
        after = current.in_segment(seg_id)
        name, action = names.get(seg_id, ("", ""))
        moves.append(
            SegmentMovement(
                segment=seg_id,
                before=len(before),
                after=len(after),
                entered=tuple(sorted(after - before)),
                left=tuple(sorted(before - after)),
                name=name,
                action=action,
            )
        )
    return Changes(baseline=baseline, current=current, segments=tuple(moves))


# --------------------------------------------------------------------------------------------
# Workspace identity


def workspace_identity(ws: Workspace) -> str:
    """`demo:<users>u:<anchor>` on the demo; `live:<hash of the non-secret source settings>`."""
    if ws.demo is not None:
        return f"demo:{ws.demo.users}u:{ws.demo.anchor.isoformat()}"
    return live_identity(ws.settings)


def live_identity(settings: Settings) -> str:
    from usertrack.core.dsn import dsn_without_password

    parts = {
        "database": dsn_without_password(settings.database_url) if settings.database_url else "",
        "posthog_host": (settings.posthog_host or "").rstrip("/").lower(),
        "posthog_project_id": settings.posthog_project_id or "",
        "events": str(settings.events_path.resolve()) if settings.events_path else "",
    }
    text = json.dumps(parts, sort_keys=True)
    return "live:" + hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# The store


def history_path(home: Path) -> Path:
    return home / HISTORY_FILE


def history_days(env: Mapping[str, str] | None = None) -> int:
    """USERTRACK_HISTORY_DAYS: how many days of snapshots to keep, counted back from the newest."""
    env = os.environ if env is None else env
    raw = (env.get("USERTRACK_HISTORY_DAYS") or "").strip()
    if not raw:
        return DEFAULT_HISTORY_DAYS
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if days < 1:
        raise ConfigError(
            f"USERTRACK_HISTORY_DAYS={raw!r} is not a whole number of days (1 or more)",
            hint=f"unset it for the default ({DEFAULT_HISTORY_DAYS} days)",
        )
    return days


def rules_fingerprint(ws: Workspace) -> str:
    """What decides who is in which segment: the segment rules (ids, rules and their order, which
    decides `primary`), the exclude list and the per-user query files, join/profile included.
    Names, actions and display settings are left out: they change no membership."""
    queries = sorted(
        (q.id, q.sql)
        for folder in ("posthog", "neon", "join")
        for q in ws.library.in_folder(folder, per_user=True)
    )
    material = {
        "rules": [[s.id, s.rule] for s in ws.rules.segments],
        "exclude": sorted(d.strip().lower() for d in ws.rules.exclude),
        "queries": queries,
    }
    text = json.dumps(material, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC, microsecond=0)
    return moment.astimezone(UTC).replace(microsecond=0)


def moment_key(moment: datetime) -> str:
    """A moment as the history keys and shows it: UTC to the second, 'YYYY-MM-DDTHH:MM:SSZ'."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_key(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class History:
    """The snapshots of one workspace in one history file. Use as a context manager.

    `fingerprint` is the rules_fingerprint of the runs this History saves and compares with.
    """

    def __init__(
        self,
        path: Path,
        workspace: str,
        *,
        fingerprint: str | None = None,
        keep_days: int = DEFAULT_HISTORY_DAYS,
    ) -> None:
        self.path = path
        self.workspace = workspace
        self.fingerprint = fingerprint
        self.keep_days = keep_days
        self._con: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            from usertrack.core.files import private_file

            try:
                # A new home is made owner-only here; an existing one is secure_home's to tighten.
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                private_file(self.path)  # 0600 before SQLite writes a byte (journals copy it)
                con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                try:
                    _check_schema(con, self.path)
                except BaseException:
                    con.close()
                    raise
            except (OSError, sqlite3.Error) as e:
                raise DataError(
                    f"{self.path}: cannot open the segment history: {e}",
                    hint=f"move it aside to start a new one: mv {self.path} {self.path}.damaged",
                ) from None
            self._con = con
        return self._con

    def save(
        self,
        result: Classified,
        *,
        saved_at: datetime | None = None,
        encoded: tuple[bytes, bytes | None] | None = None,
    ) -> datetime | None:
        """Store the classification as the snapshot of its UTC day, replacing an earlier one of
        that day; return its moment, or None (nothing saved) when the day already has a later
        snapshot. Snapshots more than `keep_days` older than the newest are deleted in the same
        transaction. `encoded`: `encode_snapshot(result)`, made before."""
        as_of = _utc(result.as_of)
        key = moment_key(as_of)
        day_start = moment_key(datetime.combine(as_of.date(), datetime.min.time(), tzinfo=UTC))
        day_end = moment_key(
            datetime.combine(as_of.date() + timedelta(days=1), datetime.min.time(), UTC)
        )
        stamp = moment_key(saved_at or datetime.now(UTC))
        memberships, accounts = encoded or encode_snapshot(result)
        con = self._connection()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                later = con.execute(
                    "SELECT 1 FROM snapshots WHERE workspace = ? AND as_of > ? AND as_of < ?",
                    (self.workspace, key, day_end),
                ).fetchone()
                if later is not None:
                    con.execute("ROLLBACK")
                    return None
                day = (self.workspace, day_start, day_end)
                for table in ("members", "snapshots"):  # members: that day's before version 3
                    con.execute(
                        f"DELETE FROM {table} WHERE workspace = ? AND as_of >= ? AND as_of < ?",
                        day,
                    )
                con.execute(
                    "INSERT INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.workspace,
                        key,
                        stamp,
                        _user_count(result),
                        json.dumps(list(_segment_ids(result))),
                        self.fingerprint,
                        memberships,
                        accounts,
                    ),
                )
                self._prune(con)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        except sqlite3.Error as e:
            raise DataError(f"{self.path}: cannot save the segment snapshot: {e}") from None
        return as_of

    def _prune(self, con: sqlite3.Connection) -> None:
        """Delete the snapshots more than keep_days older than the newest (inside save's
        transaction)."""
        newest = con.execute(
            "SELECT max(as_of) FROM snapshots WHERE workspace = ?", (self.workspace,)
        ).fetchone()[0]
        if newest is None:
            return
        cutoff = moment_key(_parse_key(newest) - timedelta(days=self.keep_days))
        for table in ("members", "snapshots"):
            con.execute(
                f"DELETE FROM {table} WHERE workspace = ? AND as_of < ?", (self.workspace, cutoff)
            )

    def moments(self) -> list[datetime]:
        """The as_of of every snapshot of this workspace, oldest first."""
        rows = (
            self._connection()
            .execute(
                "SELECT as_of FROM snapshots WHERE workspace = ? ORDER BY as_of", (self.workspace,)
            )
            .fetchall()
        )
        return [_parse_key(r[0]) for r in rows]

    def stamp(self, as_of: datetime) -> tuple[str, str | None, bool] | None:
        """What tells the snapshot of exactly `as_of` from any other, without decoding its
        members: a digest of all it holds (two saves within a second differ), its
        fingerprint, and whether it keeps its accounts; None when there is none."""
        found = (
            self._connection()
            .execute(
                "SELECT saved_at, users, segments, fingerprint, memberships, accounts"
                " FROM snapshots WHERE workspace = ? AND as_of = ?",
                (self.workspace, moment_key(as_of)),
            )
            .fetchone()
        )
        if found is None:
            return None
        digest = hashlib.sha256()
        for part in found:  # each part's length, then the part: no two rows read the same
            data = part if isinstance(part, bytes) else repr(part).encode()
            digest.update(len(data).to_bytes(8, "big") + data)
        return digest.hexdigest(), found[3], found[5] is not None

    def load(self, as_of: datetime) -> Snapshot | None:
        """The snapshot of exactly `as_of`, if one was saved; DamagedSnapshotError when it
        cannot be read back."""
        con = self._connection()
        key = moment_key(as_of)
        head = con.execute(
            "SELECT users, segments, fingerprint, memberships, accounts FROM snapshots"
            " WHERE workspace = ? AND as_of = ?",
            (self.workspace, key),
        ).fetchone()
        if head is None:
            return None
        try:
            if head[3] is not None:
                members, primary = _decode_memberships(head[3])
            else:  # saved before version 3: a row per member
                members, primary = {}, {}
                for email, segs, prim in con.execute(
                    "SELECT email, segments, primary_segment FROM members"
                    " WHERE workspace = ? AND as_of = ? ORDER BY email",
                    (self.workspace, key),
                ):
                    members[email] = tuple(json.loads(segs))
                    primary[email] = prim
            segment_ids = json.loads(head[1])
            if not isinstance(segment_ids, list):
                raise ValueError(f"segments is {type(segment_ids).__name__}, not a list")
            return Snapshot(
                as_of=_parse_key(key),
                members=members,
                primary=primary,
                segment_ids=tuple(segment_ids),
                users=int(head[0]),
                source="snapshot",
                fingerprint=head[2],
                accounts=_decode_accounts(head[4]),
            )
        except (zlib.error, ValueError, TypeError) as e:
            raise DamagedSnapshotError(
                f"{self.path}: the snapshot of {key} is damaged ({str(e).splitlines()[0]})",
                hint=f"usertrack segments --as-of {key} --save computes it again",
            ) from None

    def latest(
        self,
        upto: datetime,
        *,
        before: bool = False,
        since: datetime | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> Snapshot | None:
        """The latest snapshot at `upto` or earlier (`before`: strictly earlier) and not before
        `since`, or None. A damaged one is skipped, `warn` told (its path, its moment and the
        command that computes it again), and the one before it is taken: one bad snapshot must
        not stop every comparison, nor be read as nobody in any segment."""
        op = "<" if before else "<="
        rows = (
            self._connection()
            .execute(
                f"SELECT as_of FROM snapshots WHERE workspace = ? AND as_of {op} ?"
                " AND as_of >= ? ORDER BY as_of DESC",
                (self.workspace, moment_key(upto), moment_key(since) if since else ""),
            )
            .fetchall()
        )
        for (key,) in rows:
            try:
                return self.load(_parse_key(key))
            except DamagedSnapshotError as e:
                if warn:
                    warn(f"{e}; skipped (hint: {e.hint})")
        return None

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class DamagedSnapshotError(StateFileError):
    """One snapshot of the history cannot be read back: comparisons skip it (`History.latest`)."""


def _too_new(path: Path, version: int) -> DataError:
    return DataError(
        f"{path}: history schema version {version} is newer than this"
        f" usertrack understands ({SCHEMA_VERSION}); upgrade usertrack"
    )


def _check_schema(con: sqlite3.Connection, path: Path) -> None:
    """Refuse a file of a newer schema; bring an older one to SCHEMA_VERSION in one transaction
    (the version read again under the write lock: another process may have just done it)."""
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise _too_new(path, version)
    if version == SCHEMA_VERSION:
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise _too_new(path, version)
        for statement in _UPGRADES.get(version, ()):
            con.execute(statement)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def open_history(ws: Workspace) -> History:
    """The history of this workspace, in its USERTRACK_HOME, for runs under its current rules."""
    return History(
        history_path(ws.settings.home),
        workspace_identity(ws),
        fingerprint=rules_fingerprint(ws),
        keep_days=history_days(),
    )


def saves_by_default(ws: Workspace) -> bool:
    """Whether a run saves its snapshot without an explicit --save: only under the default rules
    file (--segments naming another file is an experiment, not the history of your users)."""
    from usertrack.core.config import resolve_segments_file

    try:
        default = resolve_segments_file(None).resolve()
        return ws.rules.path.resolve() == default
    except OSError:
        return False


def baseline_for(
    ws: Workspace,
    history: History | None,
    since: datetime,
    progress: Any = None,
    notice: Callable[[str], None] | None = None,
) -> Snapshot:
    """The snapshot saved at exactly `since`, else the segments computed as of `since`: a
    snapshot of an earlier moment would widen the window by itself (what happens to be in the
    history must not change the answer).

    A snapshot taken under other rules, exclusions or query files (another fingerprint) is not
    compared as it is: the segments as of `since` are recomputed with the current ones, and
    `notice` (default: the workspace's) is told. A damaged snapshot is skipped with a warning
    (`History.latest`), as `alerts` does: the one before it in the window is taken, or the
    segments are recomputed."""
    return saved_baseline(ws, history, since, notice) or computed_baseline(
        ws, history, since, progress
    )


def saved_baseline(
    ws: Workspace,
    history: History | None,
    since: datetime,
    notice: Callable[[str], None] | None = None,
) -> Snapshot | None:
    """baseline_for's snapshot saved at exactly `since` under the current rules, or None (the
    segments are then to be computed: `computed_baseline`); `notice` told of one saved under
    other rules, a damaged one skipped with a warning, as baseline_for says."""
    notice = notice or getattr(ws, "notice", None)
    if history is None:
        return None
    found = history.latest(since, since=since, warn=warning_to(ws, notice))
    if found is None:
        return None
    if found.fingerprint is not None and found.fingerprint == history.fingerprint:
        return found
    if notice:
        notice(
            f"usertrack: the snapshot of {moment_key(found.as_of)} was saved under other"
            " segment rules, exclusions or query files; recomputing the segments as of"
            f" {moment_key(since)} with the current ones instead of comparing with it"
        )
    return None


def computed_baseline(
    ws: Workspace,
    history: History | None,
    since: datetime,
    progress: Any = None,
) -> Snapshot:
    """The segments computed as of `since` (baseline_for when no snapshot stands for it)."""
    fingerprint = history.fingerprint if history is not None else None
    result = ws.classify(since, progress)
    return Snapshot.of(result, source="computed", fingerprint=fingerprint)


def encode_meanwhile(history: History | None, result: Classified) -> Background[Any] | None:
    """The snapshot of `result` encoded for `history` on a thread of its own from now (None
    when nothing is saved): the segment figures are made meanwhile, which read neither it nor
    the history, so the save after them has only its write left (at 100,000 users the
    encoding is 0.15 s of the wall time after the last query, on a loaded machine)."""
    if history is None:
        return None
    return Background(lambda: encode_snapshot(result), "usertrack-snapshot")


def save_snapshot(
    history: History,
    result: Classified,
    notice: Callable[[str], None],
    encoding: Background[Any] | None = None,
) -> None:
    """Save the snapshot of `result` in `history` (open), telling `notice` when it was not.
    `encoding`: its encoding begun meanwhile (`encode_meanwhile`); when that failed, or none
    was begun, the save makes it now, on this thread (a Ctrl-C that stopped it stops this)."""
    encoded = None
    if encoding is not None:
        try:
            encoded = encoding.result()
        except Cancelled:
            raise
        except Exception:  # the thread's failure is not the save's: encoded again below
            encoded = None
    try:
        if history.save(result, encoded=encoded) is None:
            notice("usertrack: not saved: the history holds a later snapshot of that day")
    except DataError as e:
        notice(f"usertrack: warning: snapshot not saved: {e}")


def save_and_close(
    history: History,
    result: Classified,
    notice: Callable[[str], None],
    encoding: Background[Any] | None = None,
) -> None:
    """`save_snapshot`, then the history closed (`segments` does both on a thread of their own
    while it writes its answer)."""
    with history:
        save_snapshot(history, result, notice, encoding)


def save_quietly(ws: Workspace, history: History, result: Classified) -> bool:
    """Save `result` to `history` for a command whose answer is something else (`--by-segment`
    keeping the classification it made): True when saved; False when that day holds a later
    snapshot (History.save) or the history cannot be written (a warning: the answer stands)."""
    try:
        return history.save(result) is not None
    except DataError as e:
        warn = warning_to(ws)
        if warn is not None:
            warn(f"segments not saved to the history: {e}")
        return False


def warning_to(
    ws: Workspace, notice: Callable[[str], None] | None = None
) -> Callable[[str], None] | None:
    """Where a warning about the history goes: the workspace's `warn` (shown under --quiet
    too), else `notice` with the "usertrack: warning: " prefix."""
    warn = getattr(ws, "warn", None)
    if warn is not None:
        return warn  # type: ignore[no-any-return]
    if notice is None:
        return None
    say = notice
    return lambda message: say(f"usertrack: warning: {message}")


def check_since(since: datetime, as_of: datetime) -> None:
    if since >= as_of:
        raise UsageError(
            f"--since {moment_key(since)} is not before the run's as-of {moment_key(as_of)}"
            " (it names the earlier moment to compare with)"
        )
