"""Several query files in one PostHog query request (usertrack/engines/posthog/bundle.py),
on the tests' PostHog (PostHog's own parser and printing, ClickHouse in process, real HTTP):
each file answered as if it had been sent alone, in one request submitted async; a file the
bundle cannot hold left to be sent alone; a refused bundle leaves every file to be sent alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.posthog_server import DEFAULT_KEY, FakePostHog, posthog_query, serve
from usertrack.engines.posthog import PostHogHTTPSource
from usertrack.engines.posthog.bundle import (
    checked,
    numbered,
    part,
    renamed,
    select_columns,
    text,
)
from usertrack.queries.library import load_queries

AS_OF = datetime(2026, 11, 12)
PATTERN = r"@datagen\.dev$"


@pytest.fixture(scope="module")
def fake(demo_home: Path) -> Iterator[FakePostHog]:
    from usertrack.demo.generator import ensure_demo

    with serve(ensure_demo(demo_home).events_path, project_id=4242) as server:
        yield server


def posts(fake: FakePostHog) -> list[dict[str, object]]:
    return [r for r in fake.requests if r["method"] == "POST" and r["path"].endswith("/query/")]


def test_each_file_answers_as_alone_in_one_async_request(fake: FakePostHog) -> None:
    library = load_queries(Path(__file__).resolve().parents[2] / "queries")
    common = {"as_of": AS_OF, "exclude_pattern": PATTERN}
    everyone = {**common, "segment_only": 0, "segment_emails": []}  # the per-user files' own
    jobs = [
        (library.get("posthog/activity"), everyone),  # per person, every event
        (library.get("posthog/ux_issues"), everyone),
        (library.get("posthog/daily_active"), {**common, "days": 35}),  # ordered
        (library.get("posthog/referrers"), {**common, "days": 7}),  # ordered by a count
        (library.get("posthog/weekly_visitors"), {**common, "days": 7}),  # one row
        # a value that looks like a placeholder, quotes and a backslash: a value all the same
        (posthog_query("SELECT {text} AS said, count() AS n FROM events WHERE event = {text}"),
         {"text": "{as_of}') OR 1=1 --\\"}),
        (posthog_query("SELECT * FROM events LIMIT 1", "star"), {}),  # columns not in its text
    ]  # fmt: skip
    api = PostHogHTTPSource(DEFAULT_KEY, "4242", fake.url)
    try:
        before = len(posts(fake))
        bundled = api.run_bundle(jobs)
        sent = posts(fake)[before:]
        assert len(sent) == 1
        assert sent[0]["body"]["refresh"] == "async"  # type: ignore[index]
        assert bundled[-1] is None  # `SELECT *`: sent alone
        for (query, params), got in zip(jobs[:-1], bundled[:-1], strict=True):
            alone = api.run(query, params)
            assert got is not None, query.id
            assert got.columns == alone.columns, query.id
            if "ORDER BY" in query.sql:
                assert got.rows == alone.rows, query.id
            else:
                assert sorted(map(repr, got.rows)) == sorted(map(repr, alone.rows)), query.id
            assert got.rows or query.name == "adhoc", query.id
        ordered = bundled[3]
        assert ordered is not None and len(ordered.rows) > 2
        assert [r[1] for r in ordered.rows] == sorted((r[1] for r in ordered.rows), reverse=True)
    finally:
        api.close()


def test_a_refused_bundle_leaves_every_file_to_be_sent_alone(fake: FakePostHog) -> None:
    library = load_queries(Path(__file__).resolve().parents[2] / "queries")
    everyone = {"as_of": AS_OF, "exclude_pattern": PATTERN, "segment_only": 0, "segment_emails": []}
    jobs = [(library.get(f"posthog/{name}"), everyone) for name in ("ux_issues", "mcp_clicks")]
    api = PostHogHTTPSource(DEFAULT_KEY, "4242", fake.url)
    fake.refuse_packed = True
    try:
        assert api.run_bundle(jobs) == [None, None]
    finally:
        fake.refuse_packed = False
        api.close()


def test_reading_a_file_for_a_bundle() -> None:
    assert select_columns("SELECT a, count() AS n, t.b AS `b c` FROM t GROUP BY a") == [
        "a",
        "n",
        "b c",
    ]
    assert select_columns("SELECT count() FROM t") is None  # an unnamed column
    assert select_columns("SELECT a FROM t UNION ALL SELECT b FROM u") is None
    assert select_columns("WITH x AS (SELECT 1 AS a) SELECT a FROM x") == ["a"]
    text = "SELECT a, sum(b) AS s FROM t GROUP BY a ORDER BY s DESC, a LIMIT 10"
    assert numbered(text) == (
        "SELECT a, sum(b) AS s,\n    row_number() OVER (ORDER BY s DESC, a) AS usertrack_n\n"
        "FROM t GROUP BY a ORDER BY s DESC, a LIMIT 10"
    )
    assert numbered("SELECT DISTINCT a FROM t ORDER BY a") is None
    assert numbered("SELECT a FROM (SELECT a FROM t ORDER BY a)") is None  # not at top level
    sql, values = renamed("SELECT {x}, '{x}' FROM t WHERE y = {y}", {"x": 1, "y": "{x}"}, "p0_")
    assert sql == "SELECT {p0_x}, '{x}' FROM t WHERE y = {p0_y}"
    assert values == {"p0_x": 1, "p0_y": "{x}"}


def test_days_before_as_of_stay_the_files_own(fake: FakePostHog) -> None:
    """Two files with the same placeholder names and different values: each keeps its own."""
    library = load_queries(Path(__file__).resolve().parents[2] / "queries")
    query = library.get("posthog/weekly_visitors")
    jobs = [
        (query, {"as_of": AS_OF, "exclude_pattern": PATTERN, "days": 7}),
        (query, {"as_of": AS_OF - timedelta(days=7), "exclude_pattern": PATTERN, "days": 7}),
        (query, {"as_of": AS_OF, "exclude_pattern": PATTERN, "days": 30}),
    ]
    api = PostHogHTTPSource(DEFAULT_KEY, "4242", fake.url)
    try:
        bundled = api.run_bundle(jobs)
        alone = [api.run(q, p).rows for q, p in jobs]
        assert [b.rows if b else None for b in bundled] == alone
        assert len({repr(rows) for rows in alone}) == 3  # three different answers
    finally:
        api.close()


def test_the_queries_left_to_the_run_are_the_analyses_own() -> None:
    """The rehearsal leaves out what the analyses ask only about an empty answer: the names
    it holds are the ones they ask by."""
    from usertrack.analytics import names
    from usertrack.analytics.paths import run as paths
    from usertrack.dashboards.prefetch import ABOUT_EMPTY

    assert set(ABOUT_EMPTY) == {names.EVENT_NAMES, paths.QUERY}


def test_a_bundle_is_read_by_posthogs_parser_before_it_is_sent() -> None:
    parts = [part(i, f"SELECT event AS e{i}, count() AS n FROM events GROUP BY e{i}", {})
             for i in range(3)]  # fmt: skip
    assert all(parts)
    built = text([p for p in parts if p], 50_000)
    assert checked(built, 3)
    assert not checked(built, 2)  # a branch more than files: a text that reached past its own
    assert not checked(built.replace("UNION ALL", "UNION DISTINCT", 1), 3)
    assert not checked(built + " )", 3)
