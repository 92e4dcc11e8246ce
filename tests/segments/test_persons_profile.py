"""The app's per-user queries kept to a list of emails (`segment_only`, `segment_emails`): what
`--persons` binds so the database reads only the cell's people. Each kept answer must be the
whole answer's rows of those emails, matched as the profile's join matches them
(usertrack.core.emails: trimmed of space, tab, CR and LF, lower-cased), on both ways a query's rows
are read (a stream with bound parameters, COPY with the values rendered), on both of the
queries' ways to keep a list (up to 40,000 emails through the index, past that over the whole
table)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.handmade import SCHEMA

REPO = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 6, 10)

# id, email as the app stores it: carol's two accounts are one person ("carol@beta.com"),
# written with capitals, a space, a tab; bob and dan are outside the cell.
ACCOUNTS = [
    (1, " Carol@Beta.com"),
    (2, "CAROL@beta.com\t"),
    (3, "bob@acme.io"),
    (4, "Dan@Gamma.dev "),
    (5, "erin@datagen.dev"),
]
# runs (state per run) and tool calls (status per call) of each account
RUNS = {1: ["completed", "failed"], 2: ["completed"], 3: ["failed"] * 3, 4: ["completed"] * 4,
        5: ["failed"]}  # fmt: skip
CALLS = {1: ["success"], 2: ["failed", "failed"], 3: ["success"] * 5, 4: ["failed"], 5: ["failed"]}
CELL = ["carol@beta.com", "nobody@x.io"]  # the cell's emails, as PostHog's persons give them
EXPECTED = {
    "neon/accounts": ["carol@beta.com"],
    "neon/runs": [("carol@beta.com", 3, 2, 1)],  # runs, completed, failed
    "neon/tool_calls": [("carol@beta.com", 3, 2, 3)],  # calls, failures, MCP calls
}


@pytest.fixture(scope="module")
def db(make_database: Callable[[str], str]) -> str:
    uri = make_database(SCHEMA)
    with psycopg.connect(uri, autocommit=True) as conn:
        for wid, email in ACCOUNTS:
            conn.execute(
                "INSERT INTO wasp_user VALUES (%s, %s, 50, NULL, NULL, '2026-05-01')", (wid, email)
            )
            conn.execute("INSERT INTO fastapi_user VALUES (%s, %s)", (wid + 100, wid))
            for n, state in enumerate(RUNS[wid]):
                conn.execute(
                    "INSERT INTO fastapi_run VALUES (%s, %s, %s, '2026-06-01', NULL)",
                    (wid * 100 + n, wid + 100, state),
                )
            for n, status in enumerate(CALLS[wid]):
                conn.execute(
                    "INSERT INTO fastapi_tool_executions (id, user_id, tool_type, status,"
                    " created_at) VALUES (%s, %s, 'mcp', %s, '2026-06-02')",
                    (wid * 100 + n, str(wid + 100), status),
                )
    return uri


def _rows(db: str, query_id: str, values: dict[str, Any], copied: bool) -> list[tuple[Any, ...]]:
    from usertrack.engines.postgres.source import PostgresSource
    from usertrack.queries.library import load_queries, resolve_params

    query = load_queries(REPO / "queries").get(query_id)
    source = PostgresSource(db)
    try:
        bound = resolve_params(query, {"as_of": AS_OF, **values}, now_value=AS_OF)
        result = source.run(query, bound, arrow_over=0 if copied else None)
    finally:
        source.close()
    if result.arrow is not None:
        return sorted(zip(*(result.arrow[c].to_pylist() for c in result.columns), strict=True))
    return sorted(tuple(r) for r in result.rows)


def _shown(query_id: str, rows: list[tuple[Any, ...]]) -> list[Any]:
    """The columns EXPECTED names: the email, and the counts of runs and calls."""
    if query_id == "neon/accounts":
        return [r[0] for r in rows]
    return [r[:4] for r in rows]


@pytest.mark.parametrize("copied", [False, True], ids=["stream", "copy"])
@pytest.mark.parametrize("query_id", sorted(EXPECTED))
def test_a_kept_query_answers_the_cells_people_only(db: str, query_id: str, copied: bool) -> None:
    whole = _rows(db, query_id, {}, copied)
    # everyone but the internal account, carol's two accounts as one person
    assert [r[0] for r in whole] == ["bob@acme.io", "carol@beta.com", "dan@gamma.dev"]
    kept = _rows(db, query_id, {"segment_only": True, "segment_emails": CELL}, copied)
    assert _shown(query_id, kept) == EXPECTED[query_id]
    assert kept == [r for r in whole if r[0] in CELL]
    # past 40,000 emails the queries read the whole table once: the same answer
    many = CELL + [f"someone{n}@x.io" for n in range(40_001)]
    assert _rows(db, query_id, {"segment_only": True, "segment_emails": many}, copied) == kept
    # an empty cell: no one
    assert _rows(db, query_id, {"segment_only": True, "segment_emails": []}, copied) == []


@pytest.mark.parametrize(
    ("emails", "in_one_piece"),
    [
        (CELL, True),
        (["a@x.io", "it's@x.io", "nulls@x.io"], True),
        (["a@x.io", "null"], False),
        (["a@x.io", "with space@x.io"], False),
        (["a@x.io", 'quote"@x.io', "back\\slash@x.io", "brace{@x.io", "comma,@x.io"], False),
        (["a@x.io", ""], False),
        (["a@x.io", "caf\u00e9@x.io"], False),
        (["a@x.io", "tab\t@x.io"], False),
        ([], False),
    ],
)
def test_copy_renders_a_list_of_emails_as_psycopg_does(
    db: str, emails: list[str], in_one_piece: bool
) -> None:
    """COPY's statement holds a list of texts rendered in one piece where none needs quoting
    (pg_copy.array_text): the very text psycopg's list dumper renders, and the same rows."""
    from usertrack.engines.postgres.pg_copy import array_text

    assert (type(array_text(emails)) is str) == in_one_piece
    sql = b"SELECT x FROM unnest(%(e)s::text[]) AS x"
    with psycopg.connect(db) as conn:
        cur = psycopg.ClientCursor(conn)
        rendered = cur.mogrify(sql, {"e": array_text(emails)})
        assert rendered == cur.mogrify(sql, {"e": emails})
        assert sorted(r[0] for r in cur.execute(rendered).fetchall()) == sorted(emails)


def test_the_cells_profile_is_built_from_the_kept_queries(db: str, tmp_path: Path) -> None:
    """build_some binds the list to the queries that keep themselves (no wrapping query) and
    the profile holds the same rows as the whole profile's, for carol alone."""
    from tests.analytics_helpers import record, write_export
    from usertrack.engines.local.eventstore import import_events
    from usertrack.engines.local.source import LocalPostHogSource
    from usertrack.engines.postgres.source import PostgresSource
    from usertrack.queries.library import load_queries
    from usertrack.segments import some
    from usertrack.segments.profiles import build_profiles

    library = load_queries(REPO / "queries")
    kept = [q.id for q in library.in_folder("neon", per_user=True) if some.keeps_itself(q)]
    assert sorted(kept) == sorted(EXPECTED)
    events = library.in_folder("posthog", per_user=True)
    assert [q.id for q in events if some.keeps_itself(q)] == [q.id for q in events]
    when = datetime(2026, 6, 3, 9, tzinfo=UTC)
    events = [
        record(n, "$pageview", when, p, p, e, {"$pathname": "/"})
        for n, (p, e) in enumerate([("pc", "Carol@Beta.com "), ("pb", "bob@acme.io")], 1)
    ]
    store = tmp_path / "events.duckdb"
    import_events(write_export(tmp_path / "events.jsonl", events), store)
    sources = {"neon": PostgresSource(db), "posthog": LocalPostHogSource(store, description="x")}
    try:
        part = some.build_some(library, sources, as_of=AS_OF, exclude_domains=["datagen.dev"],
                               emails=CELL)  # fmt: skip
        whole = build_profiles(library, sources, as_of=AS_OF, exclude_domains=["datagen.dev"])
        try:
            mine = part.con.execute("SELECT * FROM profile ORDER BY email").fetchall()
            theirs = whole.con.execute(
                "SELECT * FROM profile WHERE email = 'carol@beta.com'"
            ).fetchall()
        finally:
            part.close()
            whole.close()
    finally:
        for source in sources.values():
            source.close()
    assert [r[0] for r in mine] == ["carol@beta.com"]
    assert mine == theirs


def test_a_cells_events_answers_are_kept_for_the_same_cell_asked_again(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a local events store that keeps answers, the cell's per-user answers of the events
    are kept under the store's stamp: the same cell asked again reads them (no query of the
    events) and gets the same profile; another cell is asked of the events."""
    import pyarrow  # noqa: F401  (imported by every --persons run before its profile)

    from tests.analytics_helpers import record, write_export
    from usertrack.engines.local import storecache
    from usertrack.engines.local.eventstore import import_events
    from usertrack.engines.local.source import LocalPostHogSource
    from usertrack.engines.postgres.source import PostgresSource
    from usertrack.queries.library import load_queries
    from usertrack.segments import some

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # the store made just now counts as settled
    library = load_queries(REPO / "queries")
    when = datetime(2026, 6, 3, 9, tzinfo=UTC)
    events = [
        record(n, "$pageview", when, p, p, e, {"$pathname": "/"})
        for n, (p, e) in enumerate([("pc", "Carol@Beta.com "), ("pb", "bob@acme.io")], 1)
    ]
    store = tmp_path / "events.duckdb"
    import_events(write_export(tmp_path / "events.jsonl", events), store)
    kept_in = storecache.folder_of(tmp_path)
    local = LocalPostHogSource(store, description="x", kept_in=kept_in)
    sources = {"neon": PostgresSource(db), "posthog": local}
    asked: list[str] = []
    run = local.run
    monkeypatch.setattr(local, "run", lambda q, *a, **k: asked.append(q.id) or run(q, *a, **k))
    profiles, kept = [], []
    try:
        for cell in (CELL, CELL, ["bob@acme.io"]):
            asked.clear()
            part = some.build_some(library, sources, as_of=AS_OF,
                                   exclude_domains=["datagen.dev"], emails=cell)  # fmt: skip
            try:
                profiles.append(part.con.execute("SELECT * FROM profile ORDER BY email").fetchall())
            finally:
                part.close()
            kept.append(sorted(asked))
    finally:
        for source in sources.values():
            source.close()
    events_queries = sorted(q.id for q in library.in_folder("posthog", per_user=True))
    assert kept == [events_queries, [], events_queries]
    assert list(kept_in.glob("*.arrow"))
    assert profiles[1] == profiles[0]
    assert [r[0] for r in profiles[0]] == ["carol@beta.com"]
    assert [r[0] for r in profiles[2]] == ["bob@acme.io"]


def test_a_build_that_reads_arrow_reads_the_kept_answers_before_pyarrow_is_imported() -> None:
    """A cell asked again reaches the events store's kept answers while another thread may
    still be importing pyarrow (usertrack.analytics.actors.profiles.ProfilesAhead: the database's
    queries go first). run_kept reads kept answers only where pyarrow is imported, so a build
    that reads Arrow imports it first; one that does not leaves it out (a fresh interpreter)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from usertrack.segments.some import kept_answers_of
        from usertrack.engines.local.source import LocalPostHogSource

        class Store(LocalPostHogSource):
            def run_kept(self, query, params, *, arrow_over):
                return "pyarrow" in sys.modules

        store = Store(Path("unused.duckdb"))
        assert "pyarrow" not in sys.modules
        print(kept_answers_of(store, False).run(None, {}, arrow_over=10),
              kept_answers_of(store, True).run(None, {}, arrow_over=10))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_persons_json_by_columns_is_the_indented_dump_of_the_same_objects() -> None:
    """`--persons`' JSON writer (each profile column at once, every person's pieces joined
    once) writes what json_text writes for the same objects: escapes, UTF-8, NULLs, NaN, mixed
    numbers, timestamps, lists of MCP servers, a '%' or braces in a key, one person, two and
    none."""
    from usertrack.rendering.export import json_text, json_text_with_columns

    names = ["person_id", "email", "100%", "n", "{x}", "when", "servers", "ok"]
    rows = [
        (
            'a"\\\n\t\u00e9',
            "a@x.io",
            None,
            1,
            1.5,
            datetime(2026, 6, 1),
            ["github", "s\u00e9"],
            True,
        ),
        ("b", "", "%s", -(2**40), float("nan"), None, [], False),
        ("c", "c@x.io", "", 0, 2, datetime(2026, 6, 2, tzinfo=UTC), None, None),
    ]
    doc = {"as_of": AS_OF, "count": 3, "columns": names}
    for shown in (rows, rows[:2], rows[:1], []):
        want = json_text({**doc, "persons": [dict(zip(names, r, strict=True)) for r in shown]})
        columns = [list(c) for c in zip(*shown, strict=True)] if shown else []
        assert json_text_with_columns(doc, "persons", names, columns) == want


def test_the_shipped_profile_is_row_by_row() -> None:
    """segments.some.exact takes the shipped profile.sql as computing each row from its own
    row of `joined` without parsing it: what parsing it finds."""
    from usertrack.queries.library import load_queries
    from usertrack.segments.kept import row_by_row
    from usertrack.segments.some import exact

    library = load_queries(REPO / "queries")
    assert row_by_row(library.get("join/profile").sql, "joined")
    assert exact(library)
