"""The profile columns of the people behind a number (`--persons`: usertrack.analytics.actors.run):
each person's row of queries/join/profile.sql, as `segments` builds it as of the analysis's
moment, built for the cell's people only where the profile file allows it
(usertrack.segments.some) and readied while the analysis finds the cell (ProfilesAhead), then
left in the profile's DuckDB until the answer's format reads it (ProfileRows)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from usertrack.analytics.actors.run import Actors
    from usertrack.workspace import Progress, Workspace


class ProfilesAhead:
    """The profile of the cell's people (usertrack.segments.some: each per-user query kept to
    their emails), built when they are known. Once `start()` is called (the cell known to be in
    the answer), a thread of its own readies the app's database (the demo's started, its client
    imported) and reads profile.sql while the analysis finds the cell's people, so the answer
    does not wait for them after. Where the cell's profile is not the whole profile's (an edited
    profile.sql reading other rows), the whole profile is built once they are read. Nothing
    without a database. What reads the queries' answers (pyarrow, DuckDB) is imported after
    that, on a thread of its own: a cell found before the imports are done (one asked again)
    sends its queries to the database first, which works on them meanwhile."""

    def __init__(self, ws: Workspace, as_of: datetime, progress: Progress | None) -> None:
        self.ws, self.as_of, self.progress = ws, as_of, progress
        self.ready: Any = None  # the thread readying the database: whether the cell's is exact
        self.imports: Any = None  # the thread importing what reads the answers, after `ready`
        self.taken = False

    def start(self) -> None:
        from usertrack.analytics.by_segment import Background
        from usertrack.core.errors import ConfigError
        from usertrack.workspace import check_database

        if self.ready is not None:
            return
        try:
            check_database(self.ws, needed_by="--persons")
        except ConfigError:
            return
        library = self.ws.library
        demo = self.ws.demo if "neon" not in self.ws.sources else None

        def ready() -> bool:
            from usertrack.segments.some import exact

            if demo is not None:
                from usertrack.demo.database import demo_reader_uri

                demo_reader_uri(demo)  # add_database's, on this thread: started, made once
            # imported here meanwhile: the database's client (a demo whose reader role is
            # known already is reached without it, and add_database would import it once the
            # cell is found)
            import psycopg  # noqa: F401  (the package first: see usertrack.core.dsn)

            import usertrack.engines.postgres.source  # noqa: F401

            found = exact(library)
            self.imports = Background(_answers_readers, name="usertrack-imports")
            return found

        self.ready = Background(ready, name="usertrack-database")

    def take(self, emails: list[str]) -> Any:
        """The profile run holding the rows of `emails` (the caller closes it)."""
        from usertrack.segments.profiles import build_profiles
        from usertrack.workspace import add_database

        self.start()
        self.taken = True
        exact = self.ready.result()
        add_database(self.ws, self.progress, needed_by="--persons")  # on this thread alone
        if exact:
            return _some_profiles(self.ws, self.as_of, emails, self.progress)
        ws = self.ws
        return build_profiles(ws.library, dict(ws.sources), as_of=self.as_of,
                              exclude_domains=ws.rules.exclude)  # fmt: skip

    def close(self) -> None:
        """Wait for a readying nobody took (the demo's server left whole), and the imports."""
        if self.ready is not None and not self.taken:
            self.ready.settle()
        if self.ready is not None and self.imports is None:
            self.ready.settle()  # it starts the imports, unless it failed first
        if self.imports is not None:
            self.imports.settle()


def _answers_readers() -> None:
    """What reads the profile's answers, imported: the rows of COPY (pyarrow.csv:
    usertrack.engines.postgres.pg_copy), the events store's kept answers (pyarrow) and the profile's
    database (DuckDB)."""
    import duckdb  # noqa: F401
    import pyarrow.csv  # noqa: F401


def _some_profiles(
    ws: Workspace, as_of: datetime, emails: list[str], progress: Progress | None
) -> Any:
    from usertrack.segments.some import build_some

    return build_some(ws.library, ws.sources, as_of=as_of, exclude_domains=ws.rules.exclude,
                      emails=emails, progress=progress)  # fmt: skip


@contextlib.contextmanager
def profiles_ahead(
    ws: Workspace, as_of: datetime, progress: Progress | None
) -> Iterator[ProfilesAhead]:
    """A ProfilesAhead for with_profiles; on a failure (a cell outside the answer) its readying
    is waited for, so that no demo server is left half started."""
    ahead = ProfilesAhead(ws, as_of, progress)
    try:
        yield ahead
    finally:
        ahead.close()


def with_profiles(
    ws: Workspace, as_of: datetime, found: Actors, progress: Progress | None, ahead: Any = None
) -> None:
    """Each person's profile columns from the app's database (as `segments` builds them as of
    `as_of`; `ahead`: a ProfilesAhead building it), in place; without a database,
    only their emails (and a note)."""
    from usertrack.core.errors import ConfigError
    from usertrack.workspace import add_database, check_database

    try:
        check_database(ws, needed_by="--persons")
    except ConfigError:
        found.notes = (*found.notes, "no app database (DATABASE_URL): emails only")
        return
    emails = sorted({p["email"] for p in found.persons if p["email"]})
    if not emails:
        return
    if progress:
        progress("reading their profiles")
    if ahead is not None:
        run = ahead.take(emails)
    else:
        from usertrack.segments.some import exact

        add_database(ws, progress, needed_by="--persons")
        if exact(ws.library):
            run = _some_profiles(ws, as_of, emails, progress)
        else:
            run = ws.profiles(as_of, progress)
    found.pending = ProfileRows(run, emails)
    found.columns = [n for n in run.columns if n != "email"]


class ProfileRows:
    """The profile rows of a cell's people, left in the profile's DuckDB until an answer's
    format reads them: JSON as the text DuckDB writes of each record's profile columns (no
    Python value per cell: most of the answer's time after the queries, at 16,600 people), the
    other formats as rows. The connection goes back (ProfileRun.close) once this is dropped."""

    def __init__(self, run: Any, emails: list[str]) -> None:
        import weakref

        self.con, self.emails, self.names = run.con, emails, list(run.columns)
        # dropped at exit: nothing to give back then (the process's connections go with it)
        weakref.finalize(self, run.close).atexit = False

    def _select(self, columns: str) -> Any:
        """`columns` of the profile's rows: at least the emails', perhaps others (the callers
        read the emails' by their email). A profile of about these people (build_some's, on
        the events store) is read whole: binding the list costs more than the rows it leaves."""
        (count,) = self.con.execute("SELECT count(*) FROM profile").fetchone()
        if count <= 2 * len(self.emails):
            return self.con.execute(f"SELECT {columns} FROM profile")
        # a hash join with the emails' rows (list_contains compares each row with every email)
        return self.con.execute(
            f"SELECT {columns} FROM profile WHERE email IN (SELECT unnest($emails))",
            {"emails": self.emails},
        )

    def rows(self, persons: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """Each person's profile values, in `persons`' order (None for a person without)."""
        at = self.names.index("email")
        rows = {row[at]: row for row in self._select("*").fetchall()}
        rows.pop(None, None)  # a person without an email has no profile
        empty = (None,) * (len(self.names) - 1)
        return [
            empty if row is None else row[:at] + row[at + 1 :]
            for row in map(rows.get, [p["email"] for p in persons])
        ]

    def json_tails(self, persons: list[dict[str, Any]]) -> list[str] | None:
        """Each person's profile columns as the JSON text json_text writes after their email
        (export.record_tails_sql), in `persons`' order; None where a column's type is one only
        Python writes."""
        import json

        from usertrack.rendering.export import json_escapes_fixed, record_tails_sql

        types = dict(self.con.execute("SELECT column_name, column_type FROM (DESCRIBE profile)")
                     .fetchall())  # fmt: skip
        shown = [(n, types[n]) for n in self.names if n != "email"]
        sql = record_tails_sql(shown, 3)
        if sql is None:
            return None
        texts = dict(self._select(f"email, {sql}").fetchall())
        texts.pop(None, None)  # a person without an email has no profile
        # a person without a profile row: every column null
        empty = "".join(f",\n      {json.dumps(n, ensure_ascii=False)}: null" for n, _ in shown)
        found = [texts.get(p["email"], empty) for p in persons]
        return json_escapes_fixed(found)
