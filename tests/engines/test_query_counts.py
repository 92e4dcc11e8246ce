"""How many queries a command sends (`--verbose`, usertrack.engines.query_counts), counted on the
live path: the demo's PostgreSQL through DATABASE_URL and its events served by the tests'
PostHog (tests/posthog_server.py) over real HTTP. The count is checked against the query
requests that server received."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from tests.posthog_server import FakePostHog, serve_demo


@pytest.fixture(scope="module")
def live(demo_home: Path) -> Iterator[tuple[FakePostHog, dict[str, str]]]:
    with serve_demo(demo_home) as served:
        yield served


def query_posts(fake: FakePostHog) -> int:
    return sum(1 for r in fake.requests if r["method"] == "POST" and r["path"].endswith("/query/"))


WEEKLY = ["report", "weekly", "--as-of", "2026-11-12", "-f", "json", "--out", "-", "--no-save"]


def weekly_live(fake: FakePostHog, home: Path, **env: str) -> tuple[Any, int]:
    """The weekly dashboard's JSON run live in `home` (exit 0 asserted), and the PostHog query
    requests it sent."""
    before = query_posts(fake)
    result = run(WEEKLY, home=home, **env)
    assert result.exit_code == 0, result.stderr
    return result, query_posts(fake) - before


def said(stderr: str) -> tuple[int, int]:
    found = re.search(r"usertrack: sent (\d+) PostHog quer\w+, (\d+) database quer\w+", stderr)
    assert found, stderr
    return int(found[1]), int(found[2])


@pytest.fixture(scope="module")
def local_weekly(demo_home: Path) -> dict[str, Any]:
    """The weekly dashboard's JSON on the local engine, over the events `live` serves: what
    each live run of it must answer."""
    local = run(WEEKLY, home=demo_home)
    assert local.exit_code == 0, local.stderr
    doc: dict[str, Any] = json.loads(local.stdout)
    return doc


@dataclass
class WeeklyRun:
    """The weekly dashboard run live on an empty cache, in a home of its own."""

    home: Path
    result: Any
    requests: int  # the PostHog query requests it sent
    sent: list[str]  # the HogQL texts it sent
    parsed: list[str]  # every text PostHog's parser was given in this process meanwhile
    computed: list[tuple[str, str, float, float]]  # each panel's run: title, thread, start, end
    held: int  # the answers fetched ahead that its sources still held at its end
    # the PostHog queries each rehearsal asked (usertrack.dashboards.prefetch.rehearsed): the
    # database-free one's, then the one's whose database queries run for real
    asked: tuple[set[Any], set[Any]]
    database: list[tuple[float, float]]  # the second rehearsal's database queries: start, end
    bundles: list[float]  # when each bundle (an async query request) reached PostHog


def weekly_run(
    live: tuple[FakePostHog, dict[str, str]], home: Path, arrow_over: int | None = None
) -> WeeklyRun:
    """`weekly_live` in `home`, counting the parses; with prefetch.ARROW_OVER `arrow_over`
    when given."""
    import threading
    import time

    from usertrack.dashboards import compute, prefetch

    fake, env = live
    computed: list[tuple[str, str, float, float]] = []
    sources: list[prefetch.Rehearsed] = []
    with pytest.MonkeyPatch.context() as mp:
        if arrow_over is not None:
            mp.setattr(prefetch, "ARROW_OVER", arrow_over)
        parsed = _count_parses(mp)
        prepare, made = compute.prepare, prefetch.Rehearsed.__init__

        def timed(*args: Any) -> Any:
            run, title = prepare(*args), args[1].title

            def timing(*a: Any) -> Any:
                start = time.monotonic()
                try:
                    return run(*a)
                finally:
                    thread = threading.current_thread().name
                    computed.append((title, thread, start, time.monotonic()))

            return timing

        def kept(self: prefetch.Rehearsed, *args: Any, **kwargs: Any) -> None:
            made(self, *args, **kwargs)
            sources.append(self)

        asked: tuple[set[Any], set[Any]] = (set(), set())
        database: list[tuple[float, float]] = []
        ran = prefetch.Rehearsed.run

        def noted(self: prefetch.Rehearsed, query: Any, params: Any, **more: Any) -> Any:
            start = time.monotonic()
            try:
                return ran(self, query, params, **more)
            finally:
                if self.rehearsing and self.live:
                    values = tuple(sorted((k, repr(v)) for k, v in params.items()))
                    asked[0 if self.database_free else 1].add((query.id, values))
                elif self.rehearsing and not self.database_free:
                    database.append((start, time.monotonic()))

        mp.setattr(compute, "prepare", timed)
        mp.setattr(prefetch.Rehearsed, "__init__", kept)
        mp.setattr(prefetch.Rehearsed, "run", noted)
        before = len(fake.query_texts())
        first = len(fake.requests)
        result, requests = weekly_live(fake, home, **env)
        sent = fake.query_texts()[before:]
        held = sum(len(source.fetched) for source in sources)
        bundles = [r["at"] for r in fake.requests[first:] if r["refresh"] == "async"]
    return WeeklyRun(home, result, requests, sent, parsed, computed, held, asked, database, bundles)


@pytest.fixture(scope="module")
def weekly_shipped(
    live: tuple[FakePostHog, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> WeeklyRun:
    """The weekly dashboard live as shipped (what several tests here ask of one such run)."""
    return weekly_run(live, tmp_path_factory.mktemp("weekly") / "home")


@pytest.fixture(scope="module")
def weekly_arrow(
    live: tuple[FakePostHog, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> WeeklyRun:
    """The weekly dashboard live with every bundled answer an Arrow table (ARROW_OVER 0), its
    answers kept in its home's result cache."""
    return weekly_run(live, tmp_path_factory.mktemp("arrow") / "home", arrow_over=0)


@pytest.mark.parametrize(
    "argv",
    [
        ["segments", "--as-of", "2026-11-10"],
        ["funnel", "--days", "20", "--by-segment", "--refresh"],
    ],
)
def test_verbose_counts_every_query_the_server_received(
    live: tuple[FakePostHog, dict[str, str]], tmp_path: Path, argv: list[str]
) -> None:
    fake, env = live
    before = query_posts(fake)
    result = run(["--verbose", *argv, "-f", "json"], home=tmp_path, **env)
    assert result.exit_code == 0, result.stderr
    received = query_posts(fake) - before
    assert received > 0
    answer = json.loads(result.stdout)
    assert answer["queries"]["posthog"] == received
    assert answer["queries"]["database"] > 0  # the segments read the app's database
    assert said(result.stderr) == (received, answer["queries"]["database"])


def test_without_verbose_the_answer_has_no_count(
    live: tuple[FakePostHog, dict[str, str]], tmp_path: Path
) -> None:
    _fake, env = live
    result = run(["sessions", "-f", "json", "--days", "7"], home=tmp_path, **env)
    assert result.exit_code == 0, result.stderr
    assert "queries" not in json.loads(result.stdout)
    assert "usertrack: sent" not in result.stderr


def test_an_answer_from_the_cache_sends_nothing(
    live: tuple[FakePostHog, dict[str, str]], tmp_path: Path
) -> None:
    fake, env = live
    argv = ["--verbose", "trends", "user_signed_up", "--days", "14", "-f", "json"]
    first = run(argv, home=tmp_path, **env)
    assert first.exit_code == 0, first.stderr
    before = query_posts(fake)
    again = run(argv, home=tmp_path, **env)
    assert again.exit_code == 0, again.stderr
    assert query_posts(fake) == before
    assert json.loads(again.stdout)["queries"] == {"posthog": 0, "database": 0}
    assert said(again.stderr) == (0, 0)


THREE = """title: Three live panels
period:
  days: 7
panels:
  - analysis: funnel
    title: Activation
  - analysis: retention
    title: Retention
    periods: 4
  - analysis: segments
    title: Segments
"""
ALONE = [  # the panels' commands, each as a user would type it for the same period
    ["funnel", "--days", "7"],
    ["retention", "--periods", "4"],
    ["segments", "--no-save"],
]


def test_a_dashboard_sends_no_more_than_its_panels_commands(
    live: tuple[FakePostHog, dict[str, str]], tmp_path: Path
) -> None:
    fake, env = live
    board = tmp_path / "three.yaml"
    board.write_text(THREE, encoding="utf-8")
    as_of = "2026-11-12"
    before = query_posts(fake)
    result = run(
        ["report", str(board), "--as-of", as_of, "-f", "json", "--out", "-"],
        home=tmp_path / "board",
        **env,
    )
    assert result.exit_code == 0, result.stderr
    received = query_posts(fake) - before
    sent = json.loads(result.stdout)["queries"]
    assert sent["posthog"] == received > 0
    assert f"the panels sent {received} PostHog quer" in result.stderr
    alone = 0
    for i, argv in enumerate(ALONE):
        before = query_posts(fake)
        one = run([*argv, "--as-of", as_of, "-f", "json"], home=tmp_path / f"alone{i}", **env)
        assert one.exit_code == 0, one.stderr
        alone += query_posts(fake) - before
    assert received <= alone


# PostHog throttles HogQL queries sent with a personal API key at 120 an hour by default
# (PostHog/posthog posthog/rate_limit.py HogQLQueryThrottle, posthog/api/query.py get_throttles):
# a command sends a handful, whatever its groups' sizes. Each run classifies the users afresh
# (--no-save: no snapshot of the moment), the costliest way.
AT_MOST_SIX = [
    ["segments"],
    ["funnel", "--by-segment", "--no-save"],
    ["retention", "--by-segment", "--no-save"],
    ["activity", "--by-segment", "--no-save"],
    ["paths", "--by-segment", "--no-save"],
    ["trends", "$pageview", "--by-segment", "--no-save"],
    ["trends", "search_performed", "-m", "p90:result_count", "--by", "source", "--by-segment",
     "--no-save"],
]  # fmt: skip


@pytest.mark.parametrize("argv", AT_MOST_SIX, ids=" ".join)
def test_a_by_segment_command_sends_at_most_six_queries(
    live: tuple[FakePostHog, dict[str, str]], tmp_path: Path, argv: list[str]
) -> None:
    fake, env = live
    before = query_posts(fake)
    result = run(["--verbose", *argv, "-f", "json", "--refresh"], home=tmp_path, **env)
    assert result.exit_code == 0, result.stderr
    received = query_posts(fake) - before
    assert json.loads(result.stdout)["queries"]["posthog"] == received
    assert 0 < received <= 6, received


def test_the_by_segment_bundle_is_that_classifications_alone(
    live: tuple[FakePostHog, dict[str, str]], tmp_path: Path
) -> None:
    """--by-segment's classification sends its per-user HogQL files as one bundle; the same
    workspace (as the MCP server keeps it) then classifies another moment as `segments` does,
    one query per file: the bundle is asked of that call, not left set on the source."""
    from usertrack.analytics.by_segment import person_segments
    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    fake, env = live
    settings = load_settings({**env, "USERTRACK_HOME": str(tmp_path), "USERTRACK_CONFIG": ""})
    ws = open_workspace(
        settings, queries_dir=resolve_queries_dir(None), segments_path=resolve_segments_file(None)
    )
    files = len(ws.library.in_folder("posthog", per_user=True))
    assert files > 1
    with ws:
        before = query_posts(fake)
        person_segments(ws, datetime(2026, 11, 10, tzinfo=UTC), save=False)
        # the classification's bundle and segment_persons.sql beside it
        assert query_posts(fake) - before == 2
        before = query_posts(fake)
        ws.classify(datetime(2026, 11, 11, tzinfo=UTC))
        assert query_posts(fake) - before == files


def test_the_weekly_dashboard_sends_at_most_six_queries_and_answers_as_locally(
    weekly_shipped: WeeklyRun, local_weekly: dict[str, Any]
) -> None:
    """The weekly dashboard on an empty cache (a home of its own): its panels' queries go as a
    few bundles (usertrack.dashboards.prefetch), and every panel's figures are the local
    engine's on the same events."""
    from tests.engine_compare import strip_live_only

    result, received = weekly_shipped.result, weekly_shipped.requests
    live_doc = json.loads(result.stdout)
    assert live_doc["queries"]["posthog"] == received
    assert 0 < received <= 6, received
    assert f"the panels sent {received} PostHog quer" in result.stderr
    local_doc = local_weekly
    assert local_doc["queries"]["posthog"] == 0
    assert strip_live_only(live_doc) == strip_live_only(local_doc)
    assert len(live_doc["panels"]) == 14


def test_the_weekly_dashboard_sends_its_bundles_while_the_database_works(
    weekly_shipped: WeeklyRun,
) -> None:
    """The PostHog queries are learnt by a first rehearsal with the database answered empty:
    the same ones the rehearsal on the database's real answers asks (no value of them depends
    on a database answer), so every bundle reached PostHog while that rehearsal's database
    queries were still running, not after them, and nothing was left to be sent alone: the
    paths panel's steps before its goal are counted in its paths_summary.sql, no
    path_prefixes.sql after its answer."""
    first, second = weekly_shipped.asked
    assert second and first == second
    # the activity panel's figures, heatmap and daily volume: one file a period (no
    # activity_hours.sql nor activity_volume.sql beside activity_summary.sql)
    files = [query_id for query_id, _values in second]
    assert files.count("posthog/activity_summary") == 2  # the panel's period and the one before
    assert not {"posthog/activity_hours", "posthog/activity_volume"} & set(files)
    assert len(weekly_shipped.bundles) == 3
    ended = max(end for _start, end in weekly_shipped.database)
    assert max(weekly_shipped.bundles) < ended, (weekly_shipped.bundles, ended)
    assert weekly_shipped.requests == len(weekly_shipped.bundles)  # none sent alone


def test_the_weekly_dashboard_sends_the_same_bundles_each_run(
    weekly_shipped: WeeklyRun, weekly_arrow: WeeklyRun
) -> None:
    """The panels' queries go into the bundles in an order of their own, not the order the
    rehearsal's panels (threads) asked them in: two runs send the same texts, which PostHog's
    query cache can answer again and its parser reads once."""
    assert len(weekly_shipped.sent) > 1
    assert sorted(weekly_arrow.sent) == sorted(weekly_shipped.sent)


def test_the_weekly_dashboard_live_computes_its_panels_in_turn_and_lets_answers_go(
    weekly_arrow: WeeklyRun, local_weekly: dict[str, Any]
) -> None:
    """Once the panels' answers are fetched ahead (every one an Arrow table here), the panels
    compute one after another on one thread (two side by side held both their tables at once:
    the live dashboard's peak of memory), and each answer fetched ahead is let go at the last
    of the asks the rehearsal foresaw: none is held at the end. The figures are the local
    engine's."""
    from tests.engine_compare import strip_live_only

    assert weekly_arrow.held == 0
    threads = {thread for _t, thread, _s, _e in weekly_arrow.computed}
    assert len(threads) == 1, threads
    spans = sorted((start, end) for _t, _th, start, end in weekly_arrow.computed)
    assert all(end <= start for (_s, end), (start, _e) in itertools.pairwise(spans))
    assert {title for title, *_ in weekly_arrow.computed} >= {"Engagement score", "Retention"}
    live_doc = json.loads(weekly_arrow.result.stdout)
    assert strip_live_only(live_doc) == strip_live_only(local_weekly)


BY_SEGMENT = """title: Activation by segment
period:
  days: 7
panels:
  - analysis: funnel
    title: Activation by segment
    by_segment: true
"""


def test_a_by_segment_panel_live_answers_as_locally(
    live: tuple[FakePostHog, dict[str, str]], demo_home: Path, tmp_path: Path
) -> None:
    """A dashboard's --by-segment panel (its panels never save: --no-save) classifies the users
    from the answers its rehearsal fetched: its groups are the local engine's."""
    from tests.engine_compare import strip_live_only

    fake, env = live
    board = tmp_path / "by.yaml"
    board.write_text(BY_SEGMENT, encoding="utf-8")
    argv = [str(board), "--as-of", "2026-11-12T00:00:00Z", "-f", "json", "--out", "-"]
    before = query_posts(fake)
    report = run(["report", *argv], home=tmp_path / "home", **env)
    assert report.exit_code == 0, report.stderr
    assert 0 < query_posts(fake) - before <= 3
    local = run(["report", *argv, "--no-save"], home=demo_home)
    assert local.exit_code == 0, local.stderr
    assert strip_live_only(json.loads(report.stdout)) == strip_live_only(json.loads(local.stdout))
    assert len(json.loads(report.stdout)["panels"][0]["data"]["by_segment"]) > 1


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text PostHog's parser (hogql-parser) is given from here on, in this process."""
    from usertrack.engines.hogql import parser, printer

    real = parser.parse_select
    parsed: list[str] = []

    def counting(text: str) -> Any:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(parser, "parse_select", counting)
    printer.sent_text.cache_clear()  # parsed earlier in this process: parse again here
    return parsed


def test_the_weekly_dashboard_live_parses_no_shipped_text(
    live: tuple[FakePostHog, dict[str, str]],
    weekly_shipped: WeeklyRun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On an empty cache, the weekly dashboard's bundles of shipped files are sent as printed
    when the package was made (usertrack.engines.posthog.bundle.printed): PostHog's parser
    reads nothing. A query file changed since is parsed at run time, its bundle with it, and
    the page is the same."""
    import shutil

    from usertrack.engines.hogql import printer

    _fake, env = live
    argv = WEEKLY
    shipped = weekly_shipped.result
    assert weekly_shipped.parsed == []
    assert any("UNION ALL" in t for t in weekly_shipped.sent)
    parsed = _count_parses(monkeypatch)

    queries = tmp_path / "queries"
    shutil.copytree(Path(__file__).resolve().parents[2] / "queries", queries)
    visitors = queries / "posthog" / "weekly_visitors.sql"
    text = visitors.read_text(encoding="utf-8")
    assert "WHERE event IN" in text
    visitors.write_text(text.replace("WHERE event IN", "WHERE 1 = 1 AND event IN"), "utf-8")
    changed = run(argv, home=tmp_path / "changed", USERTRACK_QUERIES=str(queries), **env)
    assert changed.exit_code == 0, changed.stderr
    assert parsed and all("UNION ALL" in t or "1 = 1" in t for t in parsed)
    assert any("1 = 1" in t and "UNION ALL" in t for t in parsed)  # its bundle, at run time
    assert json.loads(changed.stdout)["panels"] == json.loads(shipped.stdout)["panels"]
    printer.sent_text.cache_clear()


def test_the_weekly_dashboards_long_answers_are_cached_as_arrow_tables(
    live: tuple[FakePostHog, dict[str, str]],
    weekly_arrow: WeeklyRun,
    local_weekly: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bundles' answers longer than prefetch.ARROW_OVER rows (here every one) are read into
    Arrow tables and kept in the result cache as such, not pickled a Python value a cell; the
    panels get their rows: the page is the local engine's, and again from the cache."""
    import pickle

    from tests.engine_compare import strip_live_only
    from usertrack.dashboards import prefetch
    from usertrack.engines.base import Result

    monkeypatch.setattr(prefetch, "ARROW_OVER", 0)
    fake, env = live
    argv = WEEKLY
    home, first = weekly_arrow.home, weekly_arrow.result
    kept = [pickle.loads(p.read_bytes()) for p in (home / "cache").glob("*.pickle")]
    tables = [r for r in kept if isinstance(r, Result) and r.arrow is not None]
    assert len(tables) >= 10 and all(r.rows == [] for r in tables)
    assert any(r.arrow.num_rows > 0 for r in tables)
    before = query_posts(fake)
    again = run(argv, home=home, **env)
    assert again.exit_code == 0, again.stderr
    assert query_posts(fake) == before  # every answer from the cache
    assert json.loads(again.stdout)["panels"] == json.loads(first.stdout)["panels"]
    assert strip_live_only(json.loads(first.stdout)) == strip_live_only(local_weekly)


def test_the_weekly_dashboards_arrow_answers_reach_their_panels_without_the_cache(
    live: tuple[FakePostHog, dict[str, str]],
    weekly_arrow: WeeklyRun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A panel that takes Arrow (an analysis's facts) is handed the bundle's Arrow table
    itself: with the result cache off nothing is read back from it, and no query the bundles
    answered is sent again, so the dashboard sends as many requests as with the cache on."""
    from usertrack.dashboards import prefetch

    monkeypatch.setattr(prefetch, "ARROW_OVER", 0)  # every bundled answer an Arrow table
    fake, env = live
    cached, with_cache = weekly_arrow.result, weekly_arrow.requests
    off, without = weekly_live(fake, tmp_path / "off", USERTRACK_CACHE_TTL="0", **env)
    assert without == with_cache
    assert not list((tmp_path / "off").glob("cache/*.pickle"))
    assert json.loads(off.stdout)["panels"] == json.loads(cached.stdout)["panels"]
