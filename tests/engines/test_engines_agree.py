"""Differential tests: every shipped HogQL file, and every command's JSON, the same on both engines.

The live path is PostHog: HogQL printed by PostHog's rules and run by ClickHouse (the tests'
stand-in, tests/posthog_server.py with tests/clickhouse_engine.py). The local engine is
usertrack's DuckDB translation (usertrack/engines/hogql.py). An answer that differs between the two
is a bug. The data: the demo (600 users) and an events store of edge cases (tests/edge_events.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from tests import edge_events
from tests.cli_runner import run
from tests.engine_compare import PACKED, VARIANTS, facts_params, ordered, rows_of, strip_live_only
from tests.handmade import AS_OF
from tests.posthog_server import DEFAULT_KEY, FakePostHog, live_env, serve
from usertrack.engines.local.source import LocalPostHogSource
from usertrack.engines.posthog import PostHogHTTPSource
from usertrack.queries.library import Query, load_queries

REPO = Path(__file__).resolve().parents[2]
PROJECT = 4242
TIMEZONES = ["UTC", "America/Los_Angeles"]

PLAN_LISTS: dict[str, Any] = {
    "events": ["$pageview", "run_started", "settings_saved"],
    "event_keys": [["$pathname"], ["template_name", "template_id"], ["field"]],
    "event_enum_keys": [[], ["template_name"], []],
    "keys": ["email", "name"],
}


@pytest.fixture(scope="module")
def edge_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return edge_events.write(tmp_path_factory.mktemp("edge") / "events.duckdb")


def _params(query: Query, email: str, as_of: datetime) -> dict[str, Any]:
    return facts_params(query, as_of, email=email, plan=PLAN_LISTS)


def _compare_every_query(store: Path, email: str, as_of: datetime, timezone: str) -> int:
    library = load_queries(REPO / "queries")
    local = LocalPostHogSource(store)
    compared = 0
    with serve(store, project_id=PROJECT, timezone=timezone) as fake:
        remote = PostHogHTTPSource(DEFAULT_KEY, PROJECT, host=fake.url, backoff_base=0.01)
        try:
            for query in library.in_folder("posthog"):
                for more in [{}, *VARIANTS.get(query.id, [])]:
                    params = {**_params(query, email, as_of), **more}
                    want = local.run(query, params)
                    got = remote.run(query, params)
                    assert got.columns == want.columns, (query.id, more)
                    in_order, packed = ordered(query), query.id in PACKED
                    got_rows, want_rows = (
                        rows_of(got.rows, in_order, packed),
                        rows_of(want.rows, in_order, packed),
                    )
                    assert got_rows == want_rows, (query.id, more)
                compared += 1
        finally:
            remote.close()
            local.close()
    return compared


@pytest.mark.parametrize("timezone", TIMEZONES)
@pytest.mark.parametrize("email", ["tab@edge.io", "nulls@edge.io"])
def test_every_query_file_the_same_on_clickhouse_and_locally_edge_cases(
    edge_store: Path, timezone: str, email: str
) -> None:
    n = _compare_every_query(edge_store, email, AS_OF.replace(tzinfo=None), timezone)
    assert n >= 20


def test_every_query_file_the_same_on_clickhouse_and_locally_demo(demo_home: Path) -> None:
    from usertrack.demo.generator import ensure_demo

    demo = ensure_demo(demo_home)
    as_of = datetime.fromisoformat(_demo_as_of(demo_home))
    n = _compare_every_query(demo.events_path, "jane.doe@acme.io", as_of, "UTC")
    assert n >= 20


# ----------------------------------------------------------------------------- commands

COMMANDS = [
    ["segments"],
    ["tracking-plan"],
    ["retention"],
    ["retention", "--period", "day"],
    ["activity"],
    ["user", "jane.doe@acme.io"],
    ["paths"],
    ["funnel"],
    ["sessions"],
    ["features"],
    ["funnel", "--where", "properties.$browser = 'Chrome'"],
    ["funnel", "--correlation-properties", "$geoip_country_code,$initial_referring_domain"],
    [
        "sessions",
        "--where",
        "person.properties.email LIKE '%a%'",
        "--where",
        "event != '$autocapture'",
    ],
    ["trends", "$pageview", "feature_used", "--by", "$browser", "--top", "2"],
    ["trends", "$pageview", "-m", "weekly_active", "--interval", "week"],
    ["trends", "$pageview", "-m", "dau", "--interval", "week", "--week-start", "sunday"],
    ["trends", "$pageview", "-m", "dau", "--compare", "--days", "14"],
    ["trends", "feature_used", "-m", "dau", "--cumulative", "--by", "feature"],
    ["trends", "$pageview", "-m", "monthly_active", "--interval", "month", "--days", "90"],
    ["trends", "search_performed", "-m", "p90:result_count", "--by", "source", "-i", "week"],
    ["trends", "search_performed", "-m", "avg:query_length", "--interval", "hour", "--days", "3"],
    ["funnel", "--by-segment"],
    ["funnel", "--by-account"],  # the persons' funnel, then one row per account
    ["trends", "$pageview", "--by", "$browser", "--by-segment"],  # locally: one grouped query
    ["paths", "--by-segment"],  # locally: the path table split by person
    ["activity", "--by-segment", "--days", "7"],  # locally: the heatmap for every group at once
    ["activity", "--segment", "no account", "--days", "7"],
    ["paths", "--segment", "power_user"],
    # live, per-person facts once over everyone, each group counting its persons' rows
    ["retention", "--by-segment", "--mode", "recurring"],
    ["funnel", "--segment", "failing"],
    # retention, sessions and paths in the project's timezone too: every period, both modes,
    # --from/--to (PostHog's resolver and function table, tests/engines/test_hogql_conformance.py)
    ["retention", "--period", "month", "--periods", "3"],
    ["retention", "--period", "day", "--mode", "recurring", "--periods", "10"],
    ["retention", "--by-segment"],
    ["retention", "--period", "day", "--periods", "14", "--compare"],
    ["churn"],
    ["retention", "--by", "$browser", "--top", "3", "--mode", "recurring"],
    ["churn", "--period", "day", "--periods", "14", "--who", "credits < 90"],
    ["sessions", "--days", "7", "--top", "3"],
    ["paths", "--from", "/dashboard", "--to", "/settings", "--steps", "3", "--top", "4"],
    ["paths", "--to", "/settings", "--by-segment"],
    # the cuts of sessions (each group from everyone's sessions), features and churn
    ["sessions", "--days", "7", "--by-segment"],
    ["features", "--segment", "power_user", "--days", "7"],
    ["churn", "--by-segment", "--no-backtest"],
    ["sessions", "--days", "7", "--persons", "5m-15m"],
]


def _demo_as_of(home: Path) -> str:
    result = run(["segments", "-f", "json", "-n", "1"], home)
    assert result.exit_code == 0, result.stderr
    return str(json.loads(result.stdout)["as_of"])


# Each command's local answer, by its arguments: the local engine reads no project timezone,
# so the tests run for each of TIMEZONES compare their live answers with one local run.
_LOCAL_ANSWERS: dict[tuple[str, ...], Result] = {}


def local_answer(args: list[str], home: Path) -> Result:
    """`usertrack ARGS` in `home` on the local engine, run once in this module."""
    key = (str(home), *args)
    if key not in _LOCAL_ANSWERS:
        _LOCAL_ANSWERS[key] = run(args, home)
    return _LOCAL_ANSWERS[key]


@pytest.fixture(scope="module")
def demo_live(demo_home: Path) -> Iterator[tuple[Path, str, str]]:
    from usertrack.demo.generator import ensure_demo, start_demo_postgres

    demo = ensure_demo(demo_home)
    yield demo_home, start_demo_postgres(demo), _demo_as_of(demo_home)


# trends of --by-segment groups too long for a list (by_segment.MAX_LISTED, lowered to 0 ids):
# live, every person's counts per value and point once (trends_person_points.sql), each group
# summing its persons' rows; every math that reads them, --by ranking included.
TRENDS_BY_PERSON = [
    ["trends", "$pageview", "feature_used", "--by-segment"],
    ["trends", "search_performed", "-m", "median:result_count", "--by", "source", "--by-segment"],
    ["trends", "search_performed", "-m", "p90:query_length", "-i", "week", "--segment", "at_risk"],
    ["trends", "search_performed", "-m", "avg:query_length", "--by-segment", "--compare"],
    ["trends", "search_performed", "-m", "sum:result_count", "--by", "source", "--top", "2",
     "--segment", "power_user", "--cumulative"],
    ["trends", "search_performed", "-m", "max:result_count", "-i", "hour", "--days", "3",
     "--segment", "failing"],
    ["trends", "search_performed", "-m", "min:result_count", "-i", "month", "--days", "90",
     "--by-segment"],
    ["trends", "feature_used", "-m", "dau", "--by", "feature", "--top", "3", "--by-segment"],
    ["trends", "search_performed", "-m", "p90_count_per_actor", "--by", "source",
     "--by-segment"],
    ["trends", "feature_used", "-m", "avg_count_per_actor", "-i", "week", "--by-segment"],
]  # fmt: skip


def test_trends_of_groups_too_long_for_a_list_the_same_live_and_locally(
    demo_live: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.analytics import by_segment

    home, uri, as_of = demo_live
    from usertrack.demo.generator import ensure_demo

    demo = ensure_demo(home)
    monkeypatch.setattr(by_segment, "MAX_LISTED", 0)
    with serve(demo.events_path, project_id=PROJECT) as fake:
        env = live_env(fake, uri)
        for command in TRENDS_BY_PERSON:
            args = [*command, "--format", "json", "--as-of", as_of, "--no-save"]
            local = run(args, home)
            fake.requests.clear()
            live = run(args, home, **env)
            assert local.exit_code == 0, (command, local.stderr)
            assert live.exit_code == 0, (command, live.stderr)
            doc = json.loads(live.stdout)
            assert strip_live_only(doc) == strip_live_only(json.loads(local.stdout)), command
            parts = doc.get("by_segment", [doc])  # a group's answer, not only everyone's
            assert any(any(s["data"]) for p in parts for s in p["series"]), command
            sent = json.dumps(fake.query_texts())
            assert "usertrack_segment_persons" not in sent, command
            if "dau" not in command:
                assert "trends_person_points" in json.dumps(fake.requests), command
        # locally too a --by-segment run reading properties sums every person's rows; each
        # group's answer is its --segment answer, counted by trends_counts with the group's
        # filter (a bound list, short enough for the local engine: MAX_LISTED is for PostHog)
        # (trends_actor_counts for the count-per-actor maths)
        for command in (TRENDS_BY_PERSON[1], TRENDS_BY_PERSON[-2]):
            args = [*command, "-f", "json", "--as-of", as_of, "--no-save"]
            doc = json.loads(run(args, home).stdout)
            alone = [c for c in command if c != "--by-segment"]
            for part in doc["by_segment"]:
                args = [*alone, "--segment", part["segment"], "-f", "json", "--as-of", as_of]
                one = json.loads(run([*args, "--no-save"], home).stdout)
                assert part["series"] == one["series"], (command, part["segment"])


@pytest.mark.parametrize("timezone", TIMEZONES)
def test_every_command_gives_the_same_json_live_and_locally(
    demo_live: tuple[Path, str, str], timezone: str, tmp_path: Path
) -> None:
    home, uri, as_of = demo_live
    from usertrack.demo.generator import ensure_demo

    demo = ensure_demo(home)
    # the activity and metric triggers (a trend's dau, a funnel's conversion): entering a
    # segment is against the history the runs before saved (the local run's, for the live
    # one), the failure spike is PostgreSQL's alone
    import yaml

    shipped = yaml.safe_load((REPO / "alerts.yaml").read_text())
    shipped["triggers"] = [t for t in shipped["triggers"] if t["kind"] in ("activity", "metric")]
    # metric triggers that always fire, so their figures are compared: a trend's dau per day
    # and the activation funnel's conversion per week
    always = {"kind": "metric", "above": -1}
    shipped["triggers"] += [
        {**always, "id": "m_dau", "name": "dau", "metric": "trend", "event": "$pageview",
         "math": "dau", "window": "1d"},
        {**always, "id": "m_funnel", "name": "funnel", "metric": "funnel_conversion",
         "window": "7d"},
    ]  # fmt: skip
    rules = tmp_path / "alerts.yaml"
    rules.write_text(yaml.safe_dump(shipped))
    fake: FakePostHog
    with serve(demo.events_path, project_id=PROJECT, timezone=timezone) as fake:
        env = live_env(fake, uri)
        for command in [*COMMANDS, ["alerts", "--alerts", str(rules)]]:
            args = [*command, "--format", "json", "--as-of", as_of]
            local = local_answer(args, home)
            live = run(args, home, **env)
            assert local.exit_code == 0, (command, local.stderr)
            assert live.exit_code == 0, (command, live.stderr)
            assert strip_live_only(json.loads(live.stdout)) == strip_live_only(
                json.loads(local.stdout)
            ), command
        fired = {a["trigger"] for a in json.loads(local.stdout)["alerts"]}
        assert {"m_dau", "m_funnel"} <= fired  # the metric figures were compared
        assert fake.query_texts(), "the live runs went through the PostHog stand-in"


# --by-account: the persons' facts made the accounts' (an account is active, starts and returns
# when any member does), on both engines from the facts queries
BY_ACCOUNT = [
    ["activity", "--by-account", "--days", "14", "--compare"],
    ["retention", "--by-account"],
    ["retention", "--by-account", "--period", "day", "--mode", "recurring", "--periods", "10"],
    ["accounts"],  # the groups of PostHog's group type (groups_types/, then HogQL's groups)
]


@pytest.mark.parametrize("timezone", TIMEZONES)
def test_by_account_the_same_live_and_locally(
    demo_live: tuple[Path, str, str], timezone: str
) -> None:
    home, uri, as_of = demo_live
    from usertrack.demo.generator import ensure_demo

    demo = ensure_demo(home)
    with serve(demo.events_path, project_id=PROJECT, timezone=timezone) as fake:
        env = live_env(fake, uri)
        for command in BY_ACCOUNT:
            args = [*command, "--format", "json", "--as-of", as_of]
            local = local_answer(args, home)
            live = run(args, home, **env)
            assert local.exit_code == 0, (command, local.stderr)
            assert live.exit_code == 0, (command, live.stderr)
            doc = json.loads(live.stdout)
            assert command == ["accounts"] or doc["counted"] == "accounts", command
            assert strip_live_only(doc) == strip_live_only(json.loads(local.stdout)), command
            if command[0] == "activity":  # visitors who never signed up have no email
                assert "in no account, left out" in live.stderr, command


# ----------------------------------------------------------------------------- expressions


def _hogql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


JSON_TEXTS = [
    '{"k": 1.0}', '{"k": 1e3}', '{"k": -0.0}', '{"k": 53}', '{"k": 7.5}', '{"k": 1.5e-7}',
    '{"k": 18446744073709551616}', '{"k": true}', '{"k": null}', '{"k": ""}',
    '{"k": "a\\tb\\u00e9\\"c\\\\"}', '{"k": [1, "x"]}', '{"k": {"a": 1}}', '{"j": 1}',
    '{"$x": "y"}', "", "not json", "[1]", '"k"',
]  # fmt: skip

EXPRESSIONS = [
    # ClickHouse refuses spaces around a number and digit separators; DuckDB's cast reads them
    "SELECT x, toFloatOrNull(x) AS f FROM (SELECT arrayJoin([' 5', '5 ', '5', '1_000', '',"
    " '-2.5', '1e3', 'abc']) AS x) ORDER BY x",
    # two-valued comparisons: NULL != 'x' is true, NULL = 'x' false, NULL = NULL true
    "SELECT event, properties.$pathname != '/settings' AS other, properties.$pathname = '/settings'"
    " AS same, properties.nope = properties.nope2 AS both_null FROM events ORDER BY event, other",
    # emails decoded and normalized the same
    "SELECT DISTINCT lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \\t\\r\\n'))"
    " AS email FROM events ORDER BY email",
    # JSONExtract(json, [key,] 'Nullable(String)' / 'String' / a named Tuple of them): strings
    # decoded, numbers as ClickHouse writes them (1.0 is 1, 1e3 1000), a missing key, null and a
    # text that is not JSON NULL or '', an array's tuple elements by position; the events' own
    # properties (null $pathname, the numbers 53 and 7.5, a numeric string) read the same way
    "SELECT d, JSONExtract(d, 'k', 'Nullable(String)') AS v, JSONExtract(d, 'k', 'String') AS s,"
    " tupleElement(t, 'k') AS tk, tupleElement(t, '$x') AS tx, tupleElement(t, 2) AS t2"
    " FROM (SELECT d, JSONExtract(d, 'Tuple(k Nullable(String), `$x` String)') AS t FROM"
    " (SELECT arrayJoin([" + ", ".join(_hogql_string(d) for d in JSON_TEXTS) + "]) AS d))"
    " ORDER BY d",
    "SELECT event, tupleElement(p, '$pathname') AS path, tupleElement(p, 'template_id') AS tid,"
    " tupleElement(p, 'count') AS n, tupleElement(p, 'nope') AS nope, who FROM (SELECT event,"
    " JSONExtract(person.properties, 'email', 'String') AS who, JSONExtract(properties,"
    " 'Tuple(`$pathname` Nullable(String), template_id Nullable(String), count String,"
    " nope String)') AS p FROM events) ORDER BY event, path, tid, who",
]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_expressions_the_same_on_both_engines(edge_store: Path, text: str) -> None:
    query = Query(
        name="expr",
        folder="posthog",
        path=Path("expr.sql"),
        sql=text,
        description="",
        returns="table",
    )
    local = LocalPostHogSource(edge_store)
    with serve(edge_store, project_id=PROJECT) as fake:
        remote = PostHogHTTPSource(DEFAULT_KEY, PROJECT, host=fake.url, backoff_base=0.01)
        try:
            want, got = local.run(query, {}), remote.run(query, {})
        finally:
            remote.close()
            local.close()
    assert rows_of(got.rows, True) == rows_of(want.rows, True)
    assert want.rows


@pytest.mark.parametrize(
    "query_id",
    [
        "posthog/activity_days",
        "posthog/retention_activity",
        "posthog/funnel_events",
        "posthog/correlation_events",
        "posthog/path_events",
    ],
)
def test_the_local_engine_reads_packed_facts_unpacked_with_the_same_rows(
    edge_store: Path, query_id: str
) -> None:
    """On the local engine an analysis runs a packed facts file in its per-event form
    (LocalPostHogSource.facts_query): the rows must be the ones the arrays unnest into."""
    query = load_queries(REPO / "queries").get(query_id)
    params = _params(query, "tab@edge.io", AS_OF.replace(tzinfo=None))
    local = LocalPostHogSource(edge_store)
    try:
        flat_query = local.facts_query(query)
        assert flat_query.sql != query.sql, f"{query_id} is no longer of the packed shape"
        packed = local.run(query, params)
        flat = local.run(flat_query, params)
    finally:
        local.close()
    assert flat.columns == packed.columns
    assert rows_of(flat.rows, False) == rows_of(packed.rows, False, packed=True)
    assert flat.rows


def test_session_summary_reads_escaped_properties_decoded_on_both_engines(tmp_path: Path) -> None:
    """session_summary.sql reads an event's five properties in one JSONExtract: a browser, device,
    country or page written with JSON escapes is the decoded text on ClickHouse as locally (and in
    the local `sessions` command's session table), not PostHog's raw `properties.X` text."""
    props = (
        '{"$session_id": "s-esc", "$current_url": "https://x.io/a", "$pathname": "/a\\\\b",'
        ' "$browser": "Fire\\"fox\\t", "$device_type": "T\\u00e9l\\u00e9phone",'
        ' "$geoip_country_code": "U\\\\S"}'
    )
    person = '{"email": "esc@edge.io"}'
    p = "00000000-0000-4000-8000-000000000009"
    base = AS_OF.replace(tzinfo=None)
    store = tmp_path / "events.duckdb"
    edge_events.write_raw_events(
        store,
        [
            ("00000000-0000-4000-8000-0000000000a1", "$pageview", "esc", p, base, props, person),
            ("00000000-0000-4000-8000-0000000000a2", "x", "esc", p, base, props, person),
        ],
    )
    query = load_queries(REPO / "queries").get("posthog/session_summary")
    params = _params(query, "esc@edge.io", base)
    local = LocalPostHogSource(store)
    with serve(store, project_id=PROJECT) as fake:
        remote = PostHogHTTPSource(DEFAULT_KEY, PROJECT, host=fake.url, backoff_base=0.01)
        try:
            want, got = local.run(query, params), remote.run(query, params)
        finally:
            remote.close()
            local.close()
    assert rows_of(got.rows, True) == rows_of(want.rows, True)
    values = {(row[0], row[1]) for row in got.rows}
    assert {(2, "/a\\b"), (4, "T\u00e9l\u00e9phone"), (5, 'Fire"fox\t'), (6, "U\\S")} <= values
