"""A local copy (DuckDB, under USERTRACK_HOME) of the narrow columns `usertrack tools` reads from
the app's tool calls, agent runs, code executions, deployments and users (and an alerts pass
and `churn` from its workflow runs), checked against the app's database on every use.

Why: the tools overview groups every tool call of its window several ways (1.7 M calls in 30 days
at 100,000 users), and PostgreSQL spends about a microsecond of CPU per call and grouping pass:
11 s of its CPU for one overview. Reading the window once to check it is a tenth of that; DuckDB
groups the copy on the machine's cores in a fraction of a second.

How the copy stays exact (never written to the app's database: read-only transactions only):
- PostgreSQL gives every row version it writes (an insert, each update) the writing
  transaction's id, `xmin`; a delete removes the row. For each UTC day of the window, the check
  asks three figures: the count of the window's rows, the sum of `age(xmin)` (transactions
  since each row was written) and the sum of its squares. The copy holds each row's `xmin` and
  computes the same three for the same window; a day whose figures differ (a row inserted,
  updated or deleted since it was copied) is copied again whole, in the check's own snapshot
  (REPEATABLE READ). The users (fastapi_user, wasp_user) are checked as whole tables the same
  way.
- Why the squares: the sum alone misses a transaction that was running during a copy and
  later rewrites two of the copied rows, one written before it started (its xmin goes up by
  k) and one written after (its xmin goes down by k): count and sum are unchanged. For the
  squares to stay equal too, the two new ages would have to be the old two swapped, and a
  rewritten row's new xmin is never one the copy holds (those transactions had ended). So
  every change of one or two rows of a day is seen; several rows rewritten so that both sums
  stay equal remain possible in principle. The squares are summed exactly on both sides
  (PostgreSQL's sum of int8 is numeric, DuckDB's of BIGINT is HUGEINT; a square of a 32-bit
  age fits 64 bits).
- The check is one pass over the window's rows per table with no sort and no join, whatever
  the indexes (a database without an index on the time column scans the table).
- age() counts from the current transaction id, so the copy compares through a reference id
  kept with it: age(xmin) = age(ref) - (xmin - ref) in 32-bit arithmetic, exact whatever the
  reference's age.
- Within one process, a table found equal in the snapshot the database still gives is not
  read again (usertrack/engines/postgres/mirror_checks.py): a dashboard asks the copy several times.
- A copy file DuckDB reads as damaged is replaced by an empty one and copied again (mirror_file).
- A database restored to an earlier moment (a point-in-time restore, a Neon branch reset) at
  the same address hands out transaction ids again that rows of the copy hold. The copy keeps
  the full 64-bit transaction id of its last check and the server's system identifier: a lower
  id or another identifier starts a new copy.

The copy is the rows as PostgreSQL gives them: normalized emails (`lower(btrim(...))`), the
exclusion pattern's verdict per user, error previews (`left(error_message, 200)`) and code
lengths are computed by PostgreSQL when a row is copied, so no text function is reimplemented.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from usertrack.core.clock import naive_utc
from usertrack.engines.base import CancelToken, cancel_scope, current_token
from usertrack.engines.postgres import mirror_checks as checks
from usertrack.engines.postgres import mirror_file
from usertrack.engines.postgres.mirror_specs import (  # noqa: F401  (their public home is here too)
    AGENT_RUNS,
    CODE_RUNS,
    DEPLOYMENTS,
    FASTAPI_USERS,
    RUNS,
    TIMED,
    TOOL_CALLS,
    TOOLS,
    WASP_USERS,
    WHOLE,
    Spec,
)

if TYPE_CHECKING:
    import duckdb
    import psycopg

    from usertrack.engines.cache import CachedSource
    from usertrack.engines.postgres.source import PostgresSource
    from usertrack.engines.shortcut import MirrorShortcut
    from usertrack.queries.library import Query

FORMAT = 2  # bumped when the copy's tables change (beyond its Specs): started again
KEPT_DAYS_BEFORE = 60  # days kept before the window asked (a longer window then copies none)
# A window that starts earlier keeps its days for the asks of this many days around its as_of:
# churn's every run beside failures' week is not copied again on each alternation.
WIDE_ASK_DAYS = 30
KEPT_ANSWERS = 32  # reports kept per generation of the copy (each a few kB)
_INT_MAX = 2_147_483_647  # age() of a special transaction id (frozen before 9.4, bootstrap)


# The copy's 32-bit view of age(xmin), as PostgreSQL computes it: (int32)(next - xmin), where
# next - ref is age(ref) (both bound), and a special id (< 3) is INT_MAX.
_WRAP = "((({x}) % 4294967296 + 4294967296 + 2147483648) % 4294967296 - 2147483648)"
_AGE = (
    f"CASE WHEN xmin < 3 THEN {_INT_MAX} ELSE "
    + _WRAP.format(x="$age - " + _WRAP.format(x="xmin - $ref"))
    + " END"
)
# The check's three figures of a set of rows (see the module): their count, the sum of their
# ages and the sum of the ages' squares, exact on both sides. In the copy, over `age` (a
# subquery's _AGE); in PostgreSQL, over the table `t`.
_FIGURES = "count(*), coalesce(sum(age), 0)::BIGINT, coalesce(sum(age * age), 0)::HUGEINT"
_PG_FIGURES = (
    "count(*), coalesce(sum(age(t.xmin)), 0)::int8,"
    " coalesce(sum(age(t.xmin)::int8 * age(t.xmin)), 0)::text"
)
Figures = tuple[int, int, int]


def _figures(row: Sequence[Any]) -> Figures:
    """A row's three figures (count, sum of ages, sum of squares) as Python ints."""
    return int(row[0]), int(row[1]), int(row[2])


def layout() -> str:
    """The copy's format as kept in it: FORMAT and a hash of its tables' columns, so a change
    of either starts a new copy (and drops the answers kept for the old)."""
    import hashlib

    specs = repr((TIMED, WHOLE)).encode()
    return f"{FORMAT}:{hashlib.sha256(specs).hexdigest()[:16]}"


def mirror_path(home: Path, identity: str) -> Path:
    return home / "cache" / "app-mirror" / f"{identity}.duckdb"


class Asking(Protocol):
    """What `copy_source` reads of a workspace (usertrack.workspace.Workspace)."""

    @property
    def settings(self) -> Any: ...

    @property
    def sources(self) -> Mapping[str, Any]: ...


# A query a command would answer from the copy: the statement declared for its file (a
# usertrack.engines.shortcut.MirrorShortcut), the query as the command has it, and the values
# it is bound with (None: any the statement's gate allows).
Asked = tuple["MirrorShortcut", "Query", "Mapping[str, Any] | None"]


def copy_source(ws: Asking, asked: Iterable[Asked]) -> PostgresSource | None:
    """The app's database when the copy may answer for `asked`, else None (the files run):
    USERTRACK_APP_MIRROR not 0, no bound on the command's connections
    (USERTRACK_DB_CONNECTIONS: the check opens one per table), a PostgreSQL database (asked
    directly or through the answer cache) and each query's declared statement gated in (its
    file the shipped one by digest, no option it cannot apply: MirrorShortcut.gate; an edited
    file runs on the database as written). The one rule of every command that answers from
    the copy; each still asks the answer cache first where it has one."""
    import os

    from usertrack.engines.cache import CachedSource
    from usertrack.engines.postgres.source import PostgresSource

    if os.environ.get("USERTRACK_APP_MIRROR", "1").strip() == "0":
        return None
    if ws.settings.db_connections is not None:
        return None
    source = ws.sources.get("neon")
    if isinstance(source, CachedSource):
        source = source.inner
    if not isinstance(source, PostgresSource):
        return None
    if not all(cut.gate(query, values) for cut, query, values in asked):
        return None
    return source


def answer_cache(ws: Asking) -> CachedSource | None:
    """The answer cache in front of the app's database, where it has one: a command that
    answers from the copy asks it first, and keeps the copy's answers in it."""
    from usertrack.engines.cache import CachedSource

    found = ws.sources.get("neon")
    return found if isinstance(found, CachedSource) else None


_FILES: dict[str, threading.Lock] = {}
_FILES_LOCK = threading.Lock()


def one_at_a_time(path: Path) -> threading.Lock:
    """The lock of the copy at `path` in this process: its opening and its refreshes one at a
    time (a dashboard's panels ask it from several threads; two refreshes at once write the
    same rows, and DuckDB refuses the second)."""
    with _FILES_LOCK:
        return _FILES.setdefault(str(path), threading.Lock())


class MirrorUnavailable(Exception):
    """The copy cannot be used (another command holds it, a column's type is not one the copy
    keeps): the caller asks the database the usual way."""


class StartOver(Exception):
    """The database's history is not the one the copy was made of: start a new copy."""


class AppMirror:
    """The copy's DuckDB file, opened for one command (one writer at a time: a second command
    meanwhile finds it busy and asks the database instead)."""

    def __init__(self, path: Path) -> None:
        from usertrack.checks.sandbox import memory_limit
        from usertrack.core import bounds
        from usertrack.core.files import private_dir

        private_dir(path.parent)  # the copy holds emails: its owner's alone
        # DuckDB's memory limit as every connection's (its own default is 80% of the machine's
        # memory), inside the process's bound; the commands of one process that have the copy
        # open at once share its DuckDB instance (its buffers and its threads).
        limit = memory_limit()
        bounds.limit_memory(limit)
        self.path = path
        self._limit = limit
        # a block of the file found unreadable: the copy is replaced when closed (`close`)
        self.damaged = False
        with one_at_a_time(path):  # a new file's tables made once, a damaged one replaced once
            self._open(limit)

    def _open(self, limit: str) -> None:
        import duckdb

        path = self.path
        for attempt in (1, 2):
            try:
                self.con = duckdb.connect(str(path), config={"memory_limit": limit})
            except duckdb.InterruptException:
                raise KeyboardInterrupt from None
            except duckdb.Error as e:
                # only a file DuckDB reads as damaged is made again: busy, out of memory or
                # written by a newer DuckDB, the files answer and the copy stays as it is
                if attempt == 2 or mirror_file.busy(e) or not mirror_file.damage_seen(e):
                    raise MirrorUnavailable(str(e)) from None
                mirror_file.replace_damaged(path, limit)
                continue
            try:
                self._ensure()
                mirror_file.hold(path, limit)  # in a dashboard: open until its run ends
                return
            except duckdb.InterruptException:
                self.con.close()
                raise KeyboardInterrupt from None
            except duckdb.Error as e:
                self.con.close()
                if attempt == 2 or not mirror_file.damage_seen(e):
                    raise MirrorUnavailable(str(e)) from None
                mirror_file.replace_damaged(path, limit)

    def close(self) -> None:
        """Close the copy; one found damaged while it was read (`damaged`) is replaced."""
        with self._lock:  # not while a check left behind by a Ctrl-C still reads the copy
            self.con.close()
        if self.damaged:
            mirror_file.replace_damaged(self.path, self._limit)

    def __enter__(self) -> AppMirror:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if isinstance(error, Exception) and mirror_file.damage_seen(error):
            self.damaged = True
        self.close()

    def _ensure(self) -> None:
        con = self.con
        _run(con, "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        rows = con.execute("SELECT value FROM meta WHERE key = 'format'").fetchall()
        if rows and rows[0][0] == layout():
            return
        self._start_over()

    def _start_over(self) -> None:
        con = self.con
        for spec in (*TIMED, *WHOLE):
            _run(con, f"DROP TABLE IF EXISTS {spec.name}")
        _run(con, "DELETE FROM meta")
        _run(con, "DROP TABLE IF EXISTS answers")
        _run(con, "CREATE TABLE answers (key VARCHAR PRIMARY KEY, generation BIGINT, data BLOB)")
        for spec in TIMED:
            cols = ", ".join(f"{n} {t}" for n, _, t in spec.columns)
            _run(con, f"CREATE TABLE {spec.name} ({cols}, ts TIMESTAMP, day DATE, xmin BIGINT)")
        for spec in WHOLE:
            cols = ", ".join(f"{n} {t}" for n, _, t in spec.columns)
            _run(con, f"CREATE TABLE {spec.name} ({cols}, xmin BIGINT)")
        _run(con, "INSERT INTO meta VALUES ('format', ?)", [layout()])
        # which copy this is: one made again (a new format, `cache clear`) is not this one
        _run(con, "INSERT INTO meta VALUES ('made', ?)", [uuid.uuid4().hex])

    def meta(self, key: str) -> str | None:
        rows = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        _run(self.con, "INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    # --------------------------------------------------------------- answers of this copy

    @property
    def generation(self) -> int:
        """Changes whenever rows are copied: an answer kept for one generation is the answer
        for the copy as it stands, which the check has just found equal to the database."""
        return int(self.meta("generation") or 0)

    def kept_answer(self, key: str) -> bytes | None:
        rows = self.con.execute(
            "SELECT data FROM answers WHERE key = ? AND generation = ?", [key, self.generation]
        ).fetchall()
        return bytes(rows[0][0]) if rows else None

    def keep_answer(self, key: str, data: bytes) -> None:
        """Keep `data` as the answer `key` of this generation (the newest KEPT_ANSWERS)."""
        con, generation = self.con, self.generation
        _run(con, "DELETE FROM answers WHERE generation <> ? OR key = ?", [generation, key])
        _run(con, "INSERT INTO answers VALUES (?, ?, ?)", [key, generation, data])
        _run(
            con,
            "DELETE FROM answers WHERE key NOT IN"
            " (SELECT key FROM answers ORDER BY rowid DESC LIMIT ?)",
            [KEPT_ANSWERS],
        )

    # ------------------------------------------------------------------------- the refresh

    def refresh(
        self,
        source: PostgresSource,
        since: datetime,
        as_of: datetime,
        specs: Sequence[Spec],
        exclude_pattern: str,
    ) -> dict[str, int]:
        """Make the copy of `specs`' rows in (since, as_of] and of the users equal to the
        database's (see the module): rows copied per table. A check the database refuses (a
        view without xmin, a server without pg_current_snapshot, a statement timeout, a lost
        connection) or a damaged copy: MirrorUnavailable, and the query files run instead.

        A table this process found equal to the database for the window, in the database's
        snapshot of now, is not checked again while the copy stays as it was left (see
        `_unchecked`): a dashboard asks the copy three or four times in one run."""
        import duckdb
        import psycopg

        from usertrack.core.errors import first_line

        try:
            with one_at_a_time(self.path):
                every = self._unchecked(source, since, as_of, specs, exclude_pattern)
                if not every:
                    return {}
                try:
                    return self._refresh(source, since, as_of, specs, exclude_pattern, every)
                except StartOver:
                    self._start_over()
                    every = [*specs, *WHOLE]
                    return self._refresh(source, since, as_of, specs, exclude_pattern, every)
        except duckdb.InterruptException:
            raise KeyboardInterrupt from None  # Ctrl-C inside DuckDB: the command stops
        except (psycopg.Error, duckdb.Error) as e:
            if mirror_file.damage_seen(e):
                self.damaged = True  # replaced once closed
            raise MirrorUnavailable(first_line(e)) from None

    def _refresh(
        self,
        source: PostgresSource,
        since: datetime,
        as_of: datetime,
        specs: Sequence[Spec],
        exclude_pattern: str,
        every: Sequence[Spec],
    ) -> dict[str, int]:
        """Make the copy of `every` (of `specs` and the users) equal to the database's, the
        timed tables' rows in (since, as_of]: each table checked (and its changed days copied
        again) on a connection of its own, side by side. Returns the rows copied per table."""
        ref_text = self.meta("ref")
        ref = int(ref_text) if ref_text is not None else None
        # Another pattern: the users' verdicts are copied again whatever the figures say.
        new_pattern = self.meta("exclude_pattern") != exclude_pattern
        fetched: dict[str, Any] = {}
        positions: list[tuple[int, str]] = []  # each check's transaction id and system
        snapshots: dict[str, str] = {}  # each table's check's snapshot (`mirror_checks.SNAPSHOT`)
        errors: list[BaseException] = []
        # The checks' own token, cancelled with the command's: a Ctrl-C on this thread cancels
        # the other checks' statements on the server, and is raised without waiting for them.
        token = CancelToken().cancelled_with(current_token())

        def check(spec: Spec) -> None:
            redo = new_pattern and spec is WASP_USERS
            with cancel_scope(token):
                *found, position, snapshot = self._check(
                    source, spec, since, as_of, ref, exclude_pattern, redo
                )
            fetched[spec.name] = found
            positions.append(position)
            snapshots[spec.name] = snapshot

        def on_thread(spec: Spec) -> None:
            try:
                check(spec)
            except BaseException as e:  # raised on the command's thread below
                errors.append(e)

        first, rest = every[0], every[1:]
        threads = [threading.Thread(target=on_thread, args=(s,), daemon=True) for s in rest]
        try:
            for t in threads:
                t.start()
            check(first)
            for t in threads:
                t.join()
        except BaseException:
            token.cancel()
            raise
        if errors:
            raise errors[0]
        xid, system = max(positions)
        kept_xid, kept_system = self.meta("xid"), self.meta("system")
        if kept_system is not None and (kept_system != system or int(kept_xid or 0) > xid):
            raise StartOver
        # The rows and the generation change together or not at all: rows written under the
        # old generation would let an answer kept for it be served for rows it never saw.
        was = self._state()
        self.con.begin()
        try:
            copied = self._write(fetched, ref, every, since, as_of, exclude_pattern)
            self.set_meta("xid", str(xid))
            self.set_meta("system", system)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        window = (naive_utc(since), naive_utc(as_of))
        checks.note_checked(self.path, was, self._state(), snapshots, *window)
        return copied

    def _write(
        self,
        fetched: dict[str, Any],
        ref: int | None,
        every: Sequence[Spec],
        since: datetime,
        as_of: datetime,
        exclude_pattern: str,
    ) -> dict[str, int]:
        """The checked rows of `every` written into the copy (inside the caller's
        transaction), the generation moved on when any changed: rows copied per table."""
        copied: dict[str, int] = {}
        for spec in every:
            new_ref, days, table = fetched[spec.name]
            if new_ref is not None and ref is None:
                self.set_meta("ref", str(new_ref))
                ref = new_ref
            if table is None:
                continue
            self.con.register("usertrack_copied", table)
            try:
                if spec.ts:
                    # the rows of `days` (a first copy's range reads a first or last day
                    # besides them, which has no row in the window)
                    chosen = "day IN (SELECT unnest($days))"
                    listed = {"days": sorted(days)}
                    _run(self.con, f"DELETE FROM {spec.name} WHERE {chosen}", listed)
                    (row,) = self.con.execute(
                        f"INSERT INTO {spec.name} SELECT * FROM usertrack_copied WHERE {chosen}",
                        listed,
                    ).fetchall()
                else:
                    _run(self.con, f"DELETE FROM {spec.name}")
                    (row,) = self.con.execute(
                        f"INSERT INTO {spec.name} SELECT * FROM usertrack_copied"
                    ).fetchall()
                copied[spec.name] = int(row[0])
            finally:
                self.con.unregister("usertrack_copied")
        self.set_meta("exclude_pattern", exclude_pattern)
        # Days long before this window go: the copy of a live database does not grow a day
        # every day (a longer window copies them again). A window that started earlier, asked
        # at an as_of within WIDE_ASK_DAYS of this one, keeps its days.
        for spec in every:
            if not spec.ts:
                continue
            first = self._widest(spec, since.date(), as_of.date())
            pruned = self.con.execute(
                f"DELETE FROM {spec.name} WHERE day < ?",
                [min(since.date() - timedelta(days=KEPT_DAYS_BEFORE), first)],
            ).fetchall()
            if pruned and pruned[0][0]:
                copied[spec.name] = copied.get(spec.name, 0)
        if copied:
            self.set_meta("generation", str(self.generation + 1))
        return copied

    def _widest(self, spec: Spec, since: date, as_of: date) -> date:
        """The first day of the earliest window of `spec` asked at an as_of within
        WIDE_ASK_DAYS of `as_of` (this one's when none is), kept in the copy's meta."""
        key = f"widest:{spec.name}"
        try:
            first_text, at_text = (self.meta(key) or "").split("/")
            first, at = date.fromisoformat(first_text), date.fromisoformat(at_text)
        except ValueError:
            first, at = since, as_of
        if since <= first or abs((as_of - at).days) > WIDE_ASK_DAYS:
            first, at = since, as_of
            self.set_meta(key, f"{first.isoformat()}/{at.isoformat()}")
        return first

    def _check(
        self,
        source: PostgresSource,
        spec: Spec,
        since: datetime,
        as_of: datetime,
        ref: int | None,
        exclude_pattern: str,
        redo: bool = False,
    ) -> tuple[int | None, set[date], Any, tuple[int, str], str]:
        """On a connection of its own, in one REPEATABLE READ snapshot: the database's figures
        for `spec`, the days (or whole table) that differ from the copy's, those rows (an Arrow
        table, None when nothing differs), the snapshot's 64-bit transaction id and the
        server's system identifier, and the snapshot (`mirror_checks.SNAPSHOT`)."""
        import psycopg

        from usertrack.engines.postgres.source import bindable

        new_ref: int | None = None
        with source.session() as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            try:
                with conn.transaction(), psycopg.ClientCursor(conn) as cur:
                    cur.execute(
                        "SELECT set_config('statement_timeout', %s, true),"
                        " set_config('TimeZone', 'UTC', true),"
                        " set_config('max_parallel_workers_per_gather', '0', true)",
                        [str(source.statement_timeout_ms)],
                    )
                    cur.execute(
                        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8,"
                        " (SELECT system_identifier FROM pg_control_system())::text,"
                        f" {checks.SNAPSHOT}"
                    )
                    row = cur.fetchone()
                    assert row is not None
                    position = (int(row[0]), str(row[1]))
                    snapshot = str(row[2])
                    if ref is None:
                        new_ref = max(3, position[0] % 4294967296)
                    use_ref = ref if ref is not None else new_ref
                    assert use_ref is not None
                    cur.execute("SELECT age(%s::text::xid)", [str(use_ref)])
                    row = cur.fetchone()
                    assert row is not None
                    age = int(row[0])
                    values = {
                        "since": bindable(since),
                        "as_of": bindable(as_of),
                        "exclude_pattern": exclude_pattern,
                    }
                    if spec.ts:
                        changed = self._changed_days(cur, spec, values, use_ref, age, since, as_of)
                        if changed is None:  # none of the window's rows copied yet
                            rows, days = _copy_window(cur, spec, since, as_of, values)
                            if not days:
                                return new_ref, days, None, position, snapshot
                            return new_ref, days, rows, position, snapshot
                        if not changed:
                            return new_ref, changed, None, position, snapshot
                        rows = _copy_days(cur, spec, changed, values)
                        return new_ref, changed, rows, position, snapshot
                    cur.execute(f"SELECT {_PG_FIGURES} FROM {spec.table} AS t")
                    row = cur.fetchone()
                    assert row is not None
                    if not redo and _figures(row) == self._whole(spec, use_ref, age):
                        return new_ref, set(), None, position, snapshot
                    return new_ref, set(), _copy(cur, spec, "true", values), position, snapshot
            finally:
                if not conn.closed:
                    conn.isolation_level = None

    def _state(self) -> tuple[str | None, ...]:
        """What changes whenever the copy's rows or its users' verdicts may have: which copy,
        its generation, the transaction id and server of its last check, the pattern."""
        keys = ("made", "generation", "xid", "system", "exclude_pattern", "ref")  # 4: pattern
        with self._lock:
            rows = dict(self.con.execute("SELECT key, value FROM meta").fetchall())
        return tuple(rows.get(k) for k in keys)

    def _unchecked(
        self,
        source: PostgresSource,
        since: datetime,
        as_of: datetime,
        specs: Sequence[Spec],
        exclude_pattern: str,
    ) -> list[Spec]:
        """The tables of `specs` and the users to check (usertrack.engines.postgres.mirror_checks):
        those this process has not found equal to the database in its snapshot of now."""
        every = [*specs, *WHOLE]
        state = self._state()
        if state[4] != exclude_pattern:
            return every
        tables = [(s.name, bool(s.ts)) for s in every]
        window = (naive_utc(since), naive_utc(as_of))
        names = checks.unchecked(self.path, state, source, tables, *window)
        return [s for s in every if s.name in names]

    _lock = threading.Lock()  # the DuckDB connection, asked from the check threads

    def _whole(self, spec: Spec, ref: int, age: int) -> Figures:
        with self._lock:
            cur = self.con.cursor()
            try:
                (row,) = cur.execute(
                    f"SELECT {_FIGURES} FROM (SELECT {_AGE} AS age FROM {spec.name})",
                    {"ref": ref, "age": age},
                ).fetchall()
            finally:
                cur.close()
        return _figures(row)

    def _changed_days(
        self,
        cur: psycopg.ClientCursor[Any],
        spec: Spec,
        values: dict[str, Any],
        ref: int,
        age: int,
        since: datetime,
        as_of: datetime,
    ) -> set[date] | None:
        """The days of the window whose figures differ between the database and the copy;
        None when the copy holds none of the window's rows (a first copy): every day of the
        window is then copied, without asking the database's figures (a pass over every row
        of the window, twice when they differ), which only a later check needs."""
        # The window's ends as the copy's times are (naive UTC): an aware one would have
        # DuckDB compare every row as a TIMESTAMPTZ, in its own time zone (the machine's), at
        # 100,000 users 0.25 s of CPU for every tool call up to as_of.
        window = {"since": naive_utc(since), "as_of": naive_utc(as_of)}
        with self._lock:
            kept = self.con.cursor()
            try:
                rows = kept.execute(
                    f"SELECT day, {_FIGURES} FROM (SELECT day, {_AGE} AS age FROM {spec.name}"
                    " WHERE ts > $since AND ts <= $as_of) GROUP BY day",
                    {**window, "ref": ref, "age": age},
                ).fetchall()
            finally:
                kept.close()
        ours = {r[0]: _figures(r[1:]) for r in rows}
        if not ours:
            return None
        # The window's three figures first (no grouping: a third cheaper); the days only when
        # they differ.
        ts = f"t.{spec.ts}"
        since_at, as_of_at = _bounds(cur, spec)
        where = f" FROM {spec.table} AS t WHERE {ts} > {since_at} AND {ts} <= {as_of_at}"
        cur.execute(f"SELECT {_PG_FIGURES}{where}", values)
        row = cur.fetchone()
        assert row is not None
        mine = tuple(sum(f[i] for f in ours.values()) for i in range(3))
        if _figures(row) == mine:
            return set()
        cur.execute(f"SELECT {ts}::timestamp::date, {_PG_FIGURES}{where} GROUP BY 1", values)
        theirs = {r[0]: _figures(r[1:]) for r in cur.fetchall()}
        return {d for d in theirs.keys() | ours.keys() if theirs.get(d) != ours.get(d)}


def _bounds(cur: psycopg.ClientCursor[Any], spec: Spec) -> tuple[str, str]:
    """The window's two ends as the check compares them with `spec`'s time column: for a
    column without a time zone, the bound moments as UTC times worked out once (the session's
    zone is UTC, so the rows compared are the same); otherwise as bound. Compared with a bound
    moment, every row's time is first cast to one with a zone: 0.1 s of PostgreSQL's CPU for
    2.8 million tool calls."""
    cur.execute(
        "SELECT atttypid = 'timestamp'::regtype FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped",
        [spec.table, spec.ts],
    )
    row = cur.fetchone()
    if row is not None and row[0]:
        return "(%(since)s AT TIME ZONE 'UTC')", "(%(as_of)s AT TIME ZONE 'UTC')"
    return "%(since)s", "%(as_of)s"


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> None:
    """A statement run to its end (DuckDB keeps an unread result open on the connection)."""
    con.execute(sql, params).fetchall()


def _copy_days(
    cur: psycopg.ClientCursor[Any], spec: Spec, days: set[date], values: dict[str, Any]
) -> Any:
    """The rows of `days` (whole UTC days), consecutive days read as one range."""
    ts = f"t.{spec.ts}"
    ranges: list[tuple[date, date]] = []
    for d in sorted(days):
        if ranges and ranges[-1][1] == d:
            ranges[-1] = (ranges[-1][0], d + timedelta(days=1))
        else:
            ranges.append((d, d + timedelta(days=1)))
    where = []
    for i, (lo, hi) in enumerate(ranges):
        values[f"lo{i}"], values[f"hi{i}"] = lo, hi
        where.append(f"({ts}::timestamp >= %(lo{i})s AND {ts}::timestamp < %(hi{i})s)")
    return _copy(cur, spec, " OR ".join(where), values)


def _copy_window(
    cur: psycopg.ClientCursor[Any],
    spec: Spec,
    since: datetime,
    as_of: datetime,
    values: dict[str, Any],
) -> tuple[Any, set[date]]:
    """The rows of the UTC days from `since`'s to `as_of`'s (whole days, as `_copy_days`
    reads them), in one range, and the days among them with a row in (since, as_of]: those
    the copy keeps (`_write`), as a check copying day by day would."""
    import pyarrow as pa
    import pyarrow.compute as pc

    start, end = naive_utc(since), naive_utc(as_of)
    values["lo0"], values["hi0"] = start.date(), end.date() + timedelta(days=1)
    ts = f"t.{spec.ts}"
    table = _copy(cur, spec, f"{ts}::timestamp >= %(lo0)s AND {ts}::timestamp < %(hi0)s", values)
    moment = pa.timestamp("us")
    stamps = table.column("ts")
    inside = pc.and_(
        pc.greater(stamps, pa.scalar(start, moment)),
        pc.less_equal(stamps, pa.scalar(end, moment)),
    )
    days = pc.unique(pc.filter(table.column("day"), inside))  # the rows' kept when written
    return table, set(days.to_pylist())


def _copy(cur: psycopg.ClientCursor[Any], spec: Spec, where: str, values: dict[str, Any]) -> Any:
    """The rows of `spec` where `where` holds, as an Arrow table in the copy's column order
    and types (MirrorUnavailable when a column does not read as one)."""
    import pyarrow as pa

    from usertrack.engines.postgres.pg_copy import NotCopyable, copy_table

    cols = [f"{expr} AS {name}" for name, expr, _ in spec.columns]
    if spec.ts:
        ts = f"t.{spec.ts}"
        cols.append(f"{ts}::timestamp AS ts")  # its day is taken from it here
    cols.append("t.xmin::text::int8 AS xmin")
    sql = f"SELECT {', '.join(cols)} FROM {spec.table} AS t WHERE {where}"
    try:
        table = copy_table(cur, sql.encode(), values)
    except NotCopyable:
        raise MirrorUnavailable(f"{spec.table}: a column the copy cannot keep") from None
    types = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "BOOLEAN": pa.bool_()}
    types["DOUBLE"] = pa.float64()
    types["TIMESTAMP"] = pa.timestamp("us")
    fields = [(n, types[t]) for n, _, t in spec.columns]
    if spec.ts:
        fields += [("ts", pa.timestamp("us")), ("day", pa.date32())]
    fields.append(("xmin", pa.int64()))
    try:
        if spec.ts:  # the UTC day of each row's time, as PostgreSQL's `ts::date` gives it
            ts_at = table.schema.get_field_index("ts")
            day = table.column(ts_at).cast(pa.timestamp("us")).cast(pa.date32())
            table = table.add_column(ts_at + 1, "day", day)
        return table.cast(pa.schema(fields))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        raise MirrorUnavailable(f"{spec.table}: a column the copy cannot keep") from None


def open_checked(path: Path, source: PostgresSource, since: datetime, as_of: datetime,
                 specs: Sequence[Spec], exclude_pattern: str) -> AppMirror | None:  # fmt: skip
    """The copy at `path` checked for (since, as_of]; None: the query files answer instead."""
    import duckdb

    try:
        mirror = AppMirror(path)
    except MirrorUnavailable:
        return None
    try:
        mirror.refresh(source, since, as_of, specs, exclude_pattern)
        return mirror
    except (MirrorUnavailable, duckdb.Error) as e:
        mirror.close()
        if isinstance(e, duckdb.InterruptException):
            raise KeyboardInterrupt from None
        return None
    except BaseException:
        mirror.close()
        raise
