"""A query answer's rows read as they come (usertrack/engines/posthog/answers.py, and a
bundle's rows made Arrow pieces as they are read: bundle.py `Gathered`), against reading the
answer whole: the same values as json.loads for the bodies PostHog writes (orjson for an
answer, Django's json.dumps for an async query's status), and each part of a bundle the
same Arrow table or rows, on the tests' PostHog (ClickHouse in process, real HTTP)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.posthog_json import render, render_status
from tests.posthog_server import DEFAULT_KEY, FakePostHog, posthog_query, serve
from usertrack.engines.postgres.pg_copy import as_rows
from usertrack.engines.posthog import PostHogHTTPSource, answers, bundle, wire_values
from usertrack.queries.library import load_queries

AS_OF = datetime(2026, 11, 12)
PATTERN = r"@datagen\.dev$"


class Listed(list[Any]):
    """A `results` array read as a plain list, and where it was in the body."""

    def add(self, row: Any) -> None:
        self.append(row)

    def close(self, body: bytes, start: int, end: int) -> None:
        self.span = body[start:end]


def plain(found: Any) -> Any:
    """`found` with each Listed made a list: what json.loads gives."""
    if isinstance(found, dict):
        return {k: plain(v) for k, v in found.items()}
    if isinstance(found, list):
        return [plain(v) for v in found]
    return found


ANSWER = {
    "results": [
        [0, 7, [["ана@example.com", "2026-11-02T10:00:00.5Z", [1, 2]], ["x\u2028y", None, []]]],
        [1, 12345678901234567, [[1e16, 1e-7, 0.1, -0.0, True, False, None, '\\"}]']]],
        [2, 3, [{"a": "ü", "b": [{"c": "日本"}]}]],
    ],
    "columns": ["usertrack_part", "usertrack_bucket", "usertrack_rows"],
    "types": [["usertrack_part", "UInt8"], ["usertrack_bucket", "UInt64"]],
    "hasMore": False,
    "timings": [{"k": "results", "t": 0.5}],
}


@pytest.mark.parametrize("window", [16, 17, 23, 61, 1 << 20])
def test_loads_reads_what_json_loads_reads(window: int) -> None:
    status = {"query_status": {"id": "q1", "complete": True, "results": ANSWER}}
    bare = {"query_status": {"complete": True, "results": ANSWER["results"], "columns": []}}
    for body in (render(ANSWER), render_status(status), render_status(bare), b" \n{ } "):
        found = answers.loads(body, Listed, window=window)
        assert plain(found) == json.loads(body)
        rows = found.get("results") or (found.get("query_status") or {}).get("results")
        if isinstance(rows, dict):
            rows = rows["results"]
        if rows is not None:
            assert isinstance(rows, Listed)  # read a row at a time
            assert json.loads(rows.span) == ANSWER["results"]  # and where it is in the body
        assert answers.readable(body)
    for broken in (b'{"results": [[1, 2]', b'{"results": [[1, 2]]} x', b'{"a" 1}', b'{"a": tru}'):
        with pytest.raises(ValueError):
            json.loads(broken)
        with pytest.raises(ValueError):
            answers.loads(broken, Listed, window=window)
    assert not answers.readable(json.dumps(ANSWER).encode("utf-16"))  # json.loads reads it
    assert not answers.readable(b"[1, 2]")


@pytest.fixture(scope="module")
def fake(demo_home: Path) -> Iterator[FakePostHog]:
    from usertrack.demo.generator import ensure_demo

    with serve(ensure_demo(demo_home).events_path, project_id=4242) as server:
        yield server


def jobs() -> list[tuple[Any, dict[str, Any]]]:
    library = load_queries(Path(__file__).resolve().parents[2] / "queries")
    common = {"as_of": AS_OF, "exclude_pattern": PATTERN}
    everyone = {**common, "segment_only": 0, "segment_emails": []}
    return [
        (library.get("posthog/activity"), everyone),  # per person: DateTime, Date, arrays
        (library.get("posthog/daily_active"), {**common, "days": 35}),  # ordered
        (library.get("posthog/referrers"), {**common, "days": 30}),  # ordered, nullable
        # a Date, a DateTime that is null for some people, an array empty for some
        (posthog_query(
            "SELECT person_id, toStartOfWeek(min(timestamp)) AS first_day,"
            " if(count() > 20, max(timestamp), NULL) AS busy_until,"
            " arrayFilter(x -> x LIKE '%/s%', groupUniqArray(toString(properties.$pathname)))"
            " AS pages, count() AS n"
            " FROM events WHERE timestamp < {as_of} GROUP BY person_id",
            "mixed"), {"as_of": AS_OF}),
    ]  # fmt: skip


def body_of(fake: FakePostHog, parts: list[bundle.Part]) -> bytes:
    """The bundle's answer as PostHog's query endpoint writes it (synchronous: orjson)."""
    from usertrack.engines.hogql.printer import print_select

    tree = bundle.checked(bundle.text(parts, 50_000), len(parts))
    assert tree is not None
    text = print_select(tree)  # as run_bundle prints what it sends
    resp = httpx.post(
        f"{fake.url}/api/projects/4242/query/",
        json={
            "query": {
                "kind": "HogQLQuery",
                "query": text,
                "values": bundle.values(parts),
                "modifiers": {"convertToProjectTimezone": False},
            }
        },
        headers={"Authorization": f"Bearer {DEFAULT_KEY}"},
        timeout=120,
    )
    assert resp.status_code == 200, resp.text
    return resp.content


def same(got: list[bundle.Answer], want: list[bundle.Answer]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g is None) == (w is None)
        if g is None or w is None:
            continue
        assert g[:3] == w[:3]
        assert (g[3] is None) == (w[3] is None)
        if g[3] is not None:
            assert g[3].schema == w[3].schema
            assert g[3].equals(w[3])


def test_a_bundle_read_as_it_comes_answers_as_read_whole(fake: FakePostHog) -> None:
    parts = [
        p
        for i, (q, v) in enumerate(jobs())
        if (p := bundle.part(i, q.sql, wire_values(v))) is not None
    ]
    assert len(parts) == 4
    body = body_of(fake, parts)
    whole = json.loads(body)
    rows, types = whole["results"], whole["types"]
    for over in (0, 20, 100_000):
        want = bundle.answers(bundle.split(parts, rows, types), over)
        tables = [a for a in want if a is not None and a[3] is not None]
        if over in (0, 100_000):
            assert len(tables) == (4 if over == 0 else 0)
        for piece_rows in (1, 7, 1000, 8192):
            gathered: list[bundle.Gathered] = []

            def gather(
                over: int = over, piece_rows: int = piece_rows, made: list[Any] = gathered
            ) -> bundle.Gathered:
                made.append(bundle.Gathered(parts, over, piece_rows))
                return made[-1]

            found = answers.loads(body, gather, window=4096)
            assert gathered == [found["results"]]
            assert len(gathered[0]) == len(rows)
            same(gathered[0].answers(found["types"]), want)
            # pieces of one row each: some column is of two types (an empty array's is a list
            # of nulls), so the rows are read again whole; of a thousand, never
            if over < 100_000 and piece_rows in (1, 1000):
                assert gathered[0].whole == (piece_rows == 1)
    mixed = want[3]  # its Date and DateTime columns as dates and datetimes
    assert mixed is not None and mixed[0] == ["person_id", "first_day", "busy_until", "pages", "n"]
    assert {type(r[1]) for r in mixed[2]} == {date}
    assert {type(r[2]) for r in mixed[2]} == {datetime, type(None)}


def test_a_bundle_not_of_its_shape_is_refused_as_before(fake: FakePostHog) -> None:
    parts = [
        p
        for i, (q, v) in enumerate(jobs()[:2])
        if (p := bundle.part(i, q.sql, wire_values(v))) is not None
    ]
    body = json.loads(body_of(fake, parts))
    body["results"][0][0] = 5  # names no part
    text = render(body)
    with pytest.raises(ValueError, match="names no part"):
        bundle.split(parts, body["results"], body["types"])
    found = answers.loads(text, lambda: bundle.Gathered(parts, 0, 3))
    assert found["results"].whole
    with pytest.raises(ValueError, match="names no part"):
        found["results"].answers(found["types"])


@pytest.mark.parametrize("asynchronous", [True, False])
def test_run_bundle_gives_tables_of_the_rows_it_gives_without(
    fake: FakePostHog, asynchronous: bool
) -> None:
    api = PostHogHTTPSource(DEFAULT_KEY, "4242", fake.url)
    try:
        rows = api.run_bundle(jobs(), asynchronous=asynchronous)
        tables = api.run_bundle(jobs(), asynchronous=asynchronous, arrow_over=0)
        for query, got, want in zip(jobs(), tables, rows, strict=True):
            assert got is not None and want is not None
            assert got.arrow is not None and not got.rows, query[0].id
            assert got.columns == want.columns
            assert got.meta["rows"] == len(want.rows) > 0
            have = as_rows(got.arrow)
            if query[0].name in ("daily_active", "referrers"):
                assert have == want.rows  # ordered as the file orders them
            else:
                assert sorted(map(repr, have)) == sorted(map(repr, want.rows))
        assert any(isinstance(v, datetime) and v.tzinfo is None for r in have for v in r)
    finally:
        api.close()
