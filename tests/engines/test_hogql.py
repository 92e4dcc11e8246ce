"""HogQL -> DuckDB translation, run for real on a small hand-made event store (no mocks)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.edge_events import write_raw_events
from tests.posthog_server import posthog_query
from usertrack.core.errors import HogQLTranslationError, QueryError
from usertrack.engines.hogql import translate
from usertrack.engines.local.source import LocalPostHogSource, wire_value

DATA = Path(__file__).parents[1] / "data"
ROOT = Path(__file__).parents[2]

# "Now" for the event set: the analyst workflow's queries use now(), so events sit at whole-second
# offsets before the real current time, far from every window edge (1, 7, 30 days).
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
SEC = timedelta(seconds=1)

PERSONS = {
    "alice": ("p-alice", "d-alice", {"email": "Alice@Acme.com", "name": "Alice"}),
    "bob": ("p-bob", "d-bob", {"email": "bob@beta.io"}),
    "carol": ("p-carol", "d-carol", {"email": "carol@datagen.dev"}),
    "anon": ("p-anon", "d-anon", {}),
}


def pv(path: str, ref: str, country: str, **extra: Any) -> dict[str, Any]:
    return {
        "$pathname": path,
        "$referring_domain": ref,
        "$geoip_country_code": country,
        "$current_url": f"https://app.example.com{path}",
        **extra,
    }


def mcp(template: str | None, ref: str, **extra: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"$referring_domain": ref, "$pathname": "/mcp", "has_oauth": True}
    if template:
        props.update(template_name=template, template_id=f"t-{template}")
    return {**props, **extra}


PV, MCP = "$pageview", "mcp_connect_clicked"
S1, S2 = {"$session_id": "s1"}, {"$session_id": "s2"}


def exc(path: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"$pathname": path, "$exception_message": message, **extra}


# (name, who, age before NOW, event, properties)
EVENTS: list[tuple[str, str, timedelta, str, dict[str, Any]]] = [
    ("A1", "alice", DAY, PV, pv("/home", "google.com", "US", **S1)),
    ("A2", "alice", DAY - 65 * SEC, MCP, mcp("gmail", "google.com", **S1)),
    ("A3", "alice", DAY - 125 * SEC, PV, pv("/pricing", "google.com", "US", **S1)),
    ("A4", "alice", 2 * DAY, "$rageclick", {"$pathname": "/pricing"}),
    ("A5", "alice", 3 * DAY, "mcp_connect_clicked", mcp("slack", "google.com")),
    ("A6", "alice", 4 * DAY, "mcp_connect_clicked", mcp(None, "google.com")),
    ("A7", "alice", 8 * DAY, "$pageview", pv("/home", "$direct", "US")),
    ("A8", "alice", 9 * DAY, "$exception", exc("/home", "ReferenceError: x")),
    ("A9", "alice", 10 * DAY, "mcp_connect_clicked", mcp("linear", "google.com")),
    ("A10", "alice", 20 * DAY, "mcp_connect_clicked", mcp("gmail", "google.com")),
    ("A11", "alice", 35 * DAY, "$pageview", pv("/home", "google.com", "US")),
    ("A12", "alice", 40 * DAY, "mcp_connect_clicked", mcp("notion", "google.com")),
    ("B1", "bob", DAY + 2 * HOUR, PV, pv("/home", "twitter.com", "GB", **S2)),
    ("B2", "bob", DAY + HOUR, "$exception", exc("/docs", "TypeError: y", **S2)),
    ("B3", "bob", 2 * DAY, "mcp_connect_clicked", mcp("gmail", "twitter.com")),
    ("B4", "bob", 6 * DAY, "$pageview", pv("/docs", "twitter.com", "GB")),
    ("C1", "carol", DAY + 3 * HOUR, "mcp_connect_clicked", mcp("gmail", "google.com")),
    ("C2", "carol", 2 * DAY, "$pageview", pv("/home", "google.com", "US")),
    ("C3", "carol", DAY + 4 * HOUR, "$rageclick", {"$pathname": "/home"}),
    ("D1", "anon", 3 * DAY, "$pageview", pv("/pricing", "google.com", "DE")),
    ("D2", "anon", 5 * DAY, "mcp_connect_clicked", mcp("gmail", "google.com")),
]  # fmt: skip

TS = {name: NOW - age for name, _, age, _, _ in EVENTS}


def build_store(path: Path, events: list[tuple[str, str, timedelta, str, dict[str, Any]]]) -> int:
    rows = []
    for name, who, age, event, props in events:
        person_id, distinct_id, person_props = PERSONS[who]
        rows.append(
            (
                f"uuid-{name}",
                event,
                distinct_id,
                person_id,
                NOW - age,
                json.dumps(props),
                json.dumps(person_props),
            )
        )

    return write_raw_events(path, rows)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "events.duckdb"
    assert build_store(path, EVENTS) == len(EVENTS)
    return path


@pytest.fixture(scope="module")
def source(store: Path) -> Any:
    src = LocalPostHogSource(store, "test events")
    yield src
    src.close()


def run(source: LocalPostHogSource, sql: str, **params: Any) -> list[dict[str, Any]]:
    return source.run(posthog_query(sql), params).as_dicts()


def analyst_queries() -> dict[str, str]:
    text = (DATA / "analyst_hogql.sql").read_text()
    out = {}
    for block in re.split(r"(?m)^-- ---$", text):
        lines = [ln for ln in block.strip().splitlines() if ln.strip()]
        first_sql = next(n for n, ln in enumerate(lines) if not ln.startswith("--"))
        name = lines[first_sql - 1][3:]
        out[name.strip()] = "\n".join(ln for ln in lines if not ln.startswith("--"))
    return out


ANALYST = analyst_queries()


# ------------------------------------------------------------------------------------------
# The analyst workflow, every query, with numbers worked out by hand from EVENTS


def test_analyst_has_all_queries() -> None:
    assert sorted(ANALYST) == sorted(
        [
            "event_overview",
            "mcp_connect_clicks",
            "traffic_sources",
            "traffic_by_country",
            "ux_issues",
            "page_breakdown",
            "user_journey",
            "user_mcp_servers",
        ]
    )


def test_analyst_event_overview(source: LocalPostHogSource) -> None:
    # Last 7 days, people with an email not at datagen.dev (anon has no email: NULL NOT LIKE
    # drops it, as in ClickHouse). Alice: A1 A3 pageviews, A2 A5 A6 clicks, A4 rageclick;
    # Bob: B1 B4 pageviews, B3 click, B2 exception.
    rows = run(source, ANALYST["event_overview"])
    assert {r["event"]: r["count"] for r in rows} == {
        "$pageview": 4,
        "mcp_connect_clicked": 4,
        "$rageclick": 1,
        "$exception": 1,
    }
    assert [r["count"] for r in rows] == [4, 4, 1, 1]


def test_analyst_mcp_connect_clicks(source: LocalPostHogSource) -> None:
    result = source.run(posthog_query(ANALYST["mcp_connect_clicks"]), {})
    assert result.columns == [
        "email",
        "click_count",
        "mcp_servers",
        "referrer",
        "first_click",
        "last_click",
    ]
    rows = result.as_dicts()
    assert [r["email"] for r in rows] == ["Alice@Acme.com", "bob@beta.io"]
    alice, bob = rows
    # A2 A5 A6 A9 A10 (A12 is 40 days old); A6 has no template_name: groupArray skips NULLs.
    assert alice["click_count"] == 5
    assert sorted(alice["mcp_servers"]) == ["gmail", "gmail", "linear", "slack"]
    assert alice["referrer"] == "google.com"
    assert alice["first_click"] == TS["A10"]
    assert alice["last_click"] == TS["A2"]
    assert bob == {
        "email": "bob@beta.io",
        "click_count": 1,
        "mcp_servers": ["gmail"],
        "referrer": "twitter.com",
        "first_click": TS["B3"],
        "last_click": TS["B3"],
    }


def test_analyst_traffic_sources(source: LocalPostHogSource) -> None:
    # Pageviews in 30 days: A1 A3 C2 D1 from google.com (3 people), B1 B4 twitter, A7 $direct.
    rows = run(source, ANALYST["traffic_sources"])
    assert [(r["referrer"], r["visits"], r["unique_visitors"]) for r in rows] == [
        ("google.com", 4, 3),
        ("twitter.com", 2, 1),
        ("$direct", 1, 1),
    ]


def test_analyst_traffic_by_country(source: LocalPostHogSource) -> None:
    rows = run(source, ANALYST["traffic_by_country"])
    assert [(r["country"], r["visits"], r["unique_visitors"]) for r in rows] == [
        ("US", 4, 2),
        ("GB", 2, 1),
        ("DE", 1, 1),
    ]


def test_analyst_ux_issues(source: LocalPostHogSource) -> None:
    # 7 days: B2 (25 h ago) then A4 (2 days); A8 is 9 days old, C3 is internal.
    rows = run(source, ANALYST["ux_issues"])
    assert rows == [
        {"email": "bob@beta.io", "event": "$exception", "page": "/docs", "timestamp": TS["B2"]},
        {
            "email": "Alice@Acme.com",
            "event": "$rageclick",
            "page": "/pricing",
            "timestamp": TS["A4"],
        },
    ]


def test_analyst_page_breakdown(source: LocalPostHogSource) -> None:
    rows = run(source, ANALYST["page_breakdown"])
    assert [(r["page"], r["views"], r["unique_visitors"]) for r in rows] == [
        ("/home", 4, 3),
        ("/pricing", 2, 2),
        ("/docs", 1, 1),
    ]


def test_analyst_user_journey(source: LocalPostHogSource) -> None:
    rows = run(source, ANALYST["user_journey"], email="Alice@Acme.com")
    order = ["A3", "A2", "A1", "A4", "A5", "A6", "A7", "A8", "A9", "A10"]
    assert [r["timestamp"] for r in rows] == [TS[n] for n in order]
    assert [r["page"] for r in rows[:3]] == ["/pricing", "/mcp", "/home"]
    # the email is matched as written: PostHog does not lower-case it either
    assert run(source, ANALYST["user_journey"], email="alice@acme.com") == []


def test_analyst_user_mcp_servers(source: LocalPostHogSource) -> None:
    result = source.run(posthog_query(ANALYST["user_mcp_servers"]), {"email": "Alice@Acme.com"})
    rows = [tuple(r) for r in result.rows]
    assert rows[0] == ("gmail", "t-gmail", 2, TS["A10"])
    assert sorted(rows[1:], key=str) == sorted(
        [
            ("linear", "t-linear", 1, TS["A9"]),
            ("notion", "t-notion", 1, TS["A12"]),
            ("slack", "t-slack", 1, TS["A5"]),
            (None, None, 1, TS["A6"]),
        ],
        key=str,
    )


# ------------------------------------------------------------------------------------------
# Windows, placeholders and values


def test_as_of_windows(source: LocalPostHogSource) -> None:
    sql = """
        SELECT countIf(timestamp > toDateTime({as_of}) - INTERVAL 7 DAY) AS in_7d,
               countIf(timestamp > toDateTime({as_of}) - INTERVAL 30 DAY) AS in_30d
        FROM events
        WHERE timestamp <= toDateTime({as_of})
    """
    as_of = NOW - DAY - 12 * HOUR
    # (as_of - 7d, as_of]: A4 A5 A6 A7 B3 B4 C2 D1 D2 = 9; 30 days adds A8 A9 A10 = 12.
    (row,) = run(source, sql, as_of=as_of)
    assert row == {"in_7d": 9, "in_30d": 12}
    # an aware datetime is converted to UTC first, as the live client sends it
    aware = as_of.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=-5)))
    assert run(source, sql, as_of=aware) == [row]
    # the comparison with a bare placeholder string also works (ClickHouse parses the string)
    (row2,) = run(source, "SELECT count() AS n FROM events WHERE timestamp <= {as_of}", as_of=as_of)
    assert row2["n"] == sum(1 for t in TS.values() if t <= as_of)
    # text minus an interval reads the text as a date and time (ClickHouse 23.10+ does too)
    sql = "SELECT count() AS n FROM events WHERE timestamp > {as_of} - INTERVAL 7 DAY"
    (row3,) = run(source, sql + " AND timestamp <= {as_of}", as_of=as_of)
    assert row3 == {"n": 9}
    (row4,) = run(source, "SELECT addDays({d}, 1) AS v", d=date(2024, 2, 28))
    assert row4 == {"v": datetime(2024, 2, 29)}


def test_wire_values() -> None:
    assert wire_value(datetime(2024, 3, 1, 12, 30, 5, 999)) == "2024-03-01 12:30:05"
    aware = datetime(2024, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert wire_value(aware) == "2024-03-01 10:00:00"
    assert wire_value(date(2024, 3, 1)) == "2024-03-01"
    assert wire_value([date(2024, 3, 1), 3]) == ["2024-03-01", 3]


def test_placeholder_is_bound_not_spliced(source: LocalPostHogSource) -> None:
    tr = translate("SELECT count() FROM events WHERE person.properties.email = {email}")
    assert tr.params == ["email"]
    assert "$email" in tr.sql
    for evil in ["x' OR '1'='1", "Alice@Acme.com' --", "'; DROP TABLE events; --"]:
        rows = run(
            source,
            "SELECT count() AS n FROM events WHERE person.properties.email = {email}",
            email=evil,
        )
        assert rows == [{"n": 0}]
        assert (
            evil
            not in translate("SELECT 1 FROM events WHERE person.properties.email = {email}").sql
        )
    # the store is intact and the value really was compared as data
    assert run(source, "SELECT count() AS n FROM events")[0]["n"] == len(EVENTS)
    rows = run(
        source,
        "SELECT count() AS n FROM events WHERE person.properties.email = {email}",
        email="Alice@Acme.com",
    )
    assert rows == [{"n": 12}]


def test_missing_parameter_value(source: LocalPostHogSource) -> None:
    with pytest.raises(QueryError, match=r"posthog/adhoc .*'email'"):
        source.run(posthog_query("SELECT 1 FROM events WHERE distinct_id = {email}"), {})


def test_duckdb_error_names_query(source: LocalPostHogSource) -> None:
    with pytest.raises(QueryError) as err:
        source.run(posthog_query("SELECT no_such_column FROM events", name="broken"), {})
    message = str(err.value)
    assert message.startswith("posthog/broken (queries/posthog/broken.sql): DuckDB:")
    assert "\n" not in message


# ------------------------------------------------------------------------------------------
# ClickHouse semantics


def scalar(source: LocalPostHogSource, expr: str) -> Any:
    return source.run(posthog_query(f"SELECT {expr} AS v"), {}).rows[0][0]


def test_to_start_of_week_is_sunday_by_default(source: LocalPostHogSource) -> None:
    # 2024-01-10 is a Wednesday, 2024-01-07 a Sunday.
    assert scalar(source, "toStartOfWeek(toDate('2024-01-10'))") == date(2024, 1, 7)
    assert scalar(source, "toStartOfWeek(toDate('2024-01-07'))") == date(2024, 1, 7)
    assert scalar(source, "toStartOfWeek(toDate('2024-01-06'))") == date(2023, 12, 31)
    assert scalar(source, "toStartOfWeek(toDateTime('2024-01-10 23:00:00'), 1)") == date(2024, 1, 8)
    assert scalar(source, "toStartOfWeek(toDate('2024-01-07'), 1)") == date(2024, 1, 1)
    assert scalar(source, "toMonday(toDate('2024-01-07'))") == date(2024, 1, 1)
    assert scalar(source, "toDayOfWeek(toDate('2024-01-07'))") == 7


def test_date_diff_counts_boundaries(source: LocalPostHogSource) -> None:
    t = "toDateTime"
    cases = {
        f"dateDiff('day', {t}('2024-01-01 23:59:00'), {t}('2024-01-02 00:01:00'))": 1,
        f"dateDiff('day', {t}('2024-01-02 00:01:00'), {t}('2024-01-01 23:59:00'))": -1,
        f"dateDiff('day', {t}('2024-01-01 00:00:00'), {t}('2024-01-01 23:59:59'))": 0,
        f"dateDiff('hour', {t}('2024-01-01 10:59:59'), {t}('2024-01-01 11:00:00'))": 1,
        f"dateDiff('minute', {t}('2024-01-01 10:00:59'), {t}('2024-01-01 10:01:00'))": 1,
        "dateDiff('month', toDate('2024-01-31'), toDate('2024-02-01'))": 1,
        "dateDiff('year', toDate('2023-12-31'), toDate('2024-01-01'))": 1,
        # weeks start on Monday for dateDiff: Sunday -> Monday crosses one boundary
        "dateDiff('week', toDate('2024-01-07'), toDate('2024-01-08'))": 1,
        "dateDiff('week', toDate('2024-01-08'), toDate('2024-01-14'))": 0,
        "dateDiff('week', toDate('2024-01-01'), toDate('2024-01-29'))": 4,
        f"date_diff('second', {t}('2024-01-01 00:00:00'), {t}('2024-01-01 00:02:05'))": 125,
    }
    for expr, expected in cases.items():
        assert scalar(source, expr) == expected, expr


def test_date_functions(source: LocalPostHogSource) -> None:
    assert scalar(source, "toYYYYMM(toDate('2024-03-15'))") == 202403
    assert scalar(source, "toStartOfMonth(toDateTime('2024-03-15 10:00:00'))") == date(2024, 3, 1)
    assert scalar(source, "toStartOfDay(toDateTime('2024-03-15 10:20:00'))") == datetime(
        2024, 3, 15
    )
    assert scalar(source, "toStartOfHour(toDateTime('2024-03-15 10:20:00', 'UTC'))") == datetime(
        2024, 3, 15, 10
    )
    assert scalar(source, "toDateTime('2024-03-15T10:20:00+02:00')") == datetime(2024, 3, 15, 8, 20)
    assert scalar(source, "dateAdd('day', 2, toDate('2024-03-15'))") == datetime(2024, 3, 17)
    assert scalar(source, "dateSub('hour', 1, toDateTime('2024-03-15 00:30:00'))") == datetime(
        2024, 3, 14, 23, 30
    )
    assert scalar(source, "toDate('2024-03-15') - INTERVAL 1 MONTH") == datetime(2024, 2, 15)
    assert scalar(source, "toString(toDateTime('2024-03-15 10:20:00'))") == "2024-03-15 10:20:00"
    assert scalar(source, "today() = toDate(now())") == 1
    assert scalar(source, "dateDiff('second', now(), now())") == 0


def test_aggregates_and_conditionals(source: LocalPostHogSource) -> None:
    sql = """
        SELECT person.properties.email AS email,
               uniq(properties.$pathname) AS pages,
               uniqExact(event) AS kinds,
               countIf(event = '$pageview') AS pageviews,
               sumIf(1, event = 'nope') AS zero_sum,
               uniqIf(properties.template_name, event = 'mcp_connect_clicked') AS templates,
               minIf(timestamp, event = 'mcp_connect_clicked') AS first_mcp,
               maxIf(timestamp, event = '$pageview') AS last_pv,
               argMax(properties.$pathname, timestamp) AS last_page,
               argMin(event, timestamp) AS first_event,
               groupUniqArray(properties.template_name) AS uniq_templates,
               groupArrayIf(properties.$pathname, event = '$pageview') AS pv_pages,
               anyLast(properties.template_name) IS NOT NULL AS has_last,
               if(count() > 10, 'many', 'few') AS size,
               multiIf(count() > 10, 'many', count() > 3, 'some', 'few') AS size3
        FROM events
        WHERE person.properties.email == 'Alice@Acme.com'
        GROUP BY email
    """
    (row,) = run(source, sql)
    assert row["pages"] == 3  # /home /pricing /mcp
    assert row["kinds"] == 4
    assert row["pageviews"] == 4
    assert row["zero_sum"] == 0
    assert row["templates"] == 4  # gmail slack linear notion
    assert row["first_mcp"] == TS["A12"]
    assert row["last_pv"] == TS["A3"]
    assert row["last_page"] == "/pricing"
    assert row["first_event"] == "mcp_connect_clicked"
    assert sorted(row["uniq_templates"]) == ["gmail", "linear", "notion", "slack"]
    assert sorted(row["pv_pages"]) == ["/home", "/home", "/home", "/pricing"]
    assert row["has_last"] == 1
    assert row["size"] == "many"
    assert row["size3"] == "many"


def test_property_forms(source: LocalPostHogSource) -> None:
    forms = [
        "properties.template_name",
        "properties['template_name']",
        'properties."template_name"',
        "e.properties.template_name",
        "JSONExtractString(e.properties, 'template_name')",
    ]
    for form in forms:
        sql = f"SELECT {form} AS t FROM events AS e WHERE e.uuid = 'uuid-A2'"
        assert run(source, sql) == [{"t": "gmail"}], form
    # a non-hot property, a boolean, and a person property read from JSON
    assert run(source, "SELECT properties.has_oauth AS v FROM events WHERE uuid = 'uuid-A2'") == [
        {"v": "true"}
    ]
    assert run(
        source,
        "SELECT person.properties.name AS v, person.id AS p FROM events e WHERE uuid = 'uuid-A2'",
    ) == [{"v": "Alice", "p": "p-alice"}]
    assert run(
        source, "SELECT properties.$current_url AS v FROM events WHERE uuid = 'uuid-A1'"
    ) == [{"v": "https://app.example.com/home"}]


def test_json_extract_string_reads_the_materialized_columns(tmp_path: Path) -> None:
    """JSONExtractString(properties, KEY) of a key the store materializes reads its column, a
    literal key directly and a bound one ({by}: trends' and the funnel's breakdowns) by its
    value, with the text the JSON gives: on the edge-case events (escapes, numbers, nulls,
    missing keys, hostile text), for every materialized key and one that is not."""
    from tests import edge_events
    from usertrack.engines.local.eventstore import HOT_PROPERTIES

    bound = translate("SELECT JSONExtractString(properties, {by}) AS v FROM events").sql
    literal = translate("SELECT JSONExtractString(e.properties, '$browser') AS v FROM events e")
    assert "prop_browser" in bound and "WHEN '$pathname' THEN prop_pathname" in bound
    assert "json_extract_string(properties" in bound  # a key not materialized: the JSON
    assert "e.prop_browser" in literal.sql and "json" not in literal.sql
    # not the events' own column: the JSON as ever
    cast = "SELECT JSONExtractString(toString(properties), {by}) AS v FROM events"
    assert "prop_" not in translate(cast).sql

    store = edge_events.write(tmp_path / "events.duckdb")
    src = LocalPostHogSource(store, "edge events")
    try:
        for key in [*HOT_PROPERTIES, "field", "missing key"]:
            sql = (
                "SELECT uuid, JSONExtractString(properties, {key}) AS hot,"
                " JSONExtractString(toString(properties), {key}) AS json FROM events ORDER BY uuid"
            )
            rows = src.run(posthog_query(sql), {"key": key}).as_dicts()
            assert rows and all(r["hot"] == r["json"] for r in rows), key
            if key in ("$pathname", "$session_id", "template_id", "field"):
                assert any(r["hot"] for r in rows), key  # the fixture has values there
    finally:
        src.close()


def test_strings_arrays_and_numbers(source: LocalPostHogSource) -> None:
    assert scalar(source, "lower('AbC') || upper('x') || toString(length('abc'))") == "abcX3"
    assert scalar(source, "concat('a', 'b', 'c')") == "abc"
    assert scalar(source, "coalesce(NULL, 'x')") == "x"
    assert scalar(source, "ifNull(NULL, 2)") == 2
    assert scalar(source, "nullIf('a', 'a')") is None
    assert scalar(source, "splitByChar(',', 'a,b,c')") == ["a", "b", "c"]
    assert scalar(source, "has(splitByChar(',', 'a,b'), 'b')") == 1
    assert scalar(source, "arrayMap(x -> x * 2, [1, 2])") == [2, 4]
    assert scalar(source, "arrayFilter((x) -> x > 1, [1, 2, 3])") == [2, 3]
    assert scalar(source, "match('gmail-oauth', '^gm.*auth$')") == 1
    assert scalar(source, "'ab_c' LIKE 'ab\\_c'") == 1
    assert scalar(source, "'abxc' LIKE 'ab\\_c'") == 0
    assert scalar(source, "'It\\'s' = 'It''s'") == 1
    assert scalar(source, "ilike('GMAIL', 'gm%')") == 1
    assert scalar(source, "round(2.5)") == 2.0  # ClickHouse rounds floats half to even
    assert scalar(source, "round(3.14159, 2)") == 3.14
    assert scalar(source, "floor(2.7)") == 2
    assert scalar(source, "toInt('42')") == 42
    assert scalar(source, "toInt(3.7)") == 3  # truncates like ClickHouse
    assert scalar(source, "toFloat('1.5')") == 1.5
    assert scalar(source, "empty('') AND notEmpty('x') AND empty([])") == 1
    assert scalar(source, "intDiv(7, 2)") == 3
    assert scalar(source, "CAST('5' AS Int64) + toInt64('1')") == 6
    assert scalar(source, "'7'::Int64") == 7


def test_count_forms(source: LocalPostHogSource) -> None:
    (row,) = run(
        source,
        "SELECT count() AS a, count(*) AS b, count(DISTINCT person_id) AS c,"
        " count(properties.template_name) AS d FROM events",
    )
    # template_name is set on A2 A5 A9 A10 A12 B3 C1 D2
    assert row == {"a": len(EVENTS), "b": len(EVENTS), "c": 4, "d": 8}


def test_persons_and_sessions_tables(source: LocalPostHogSource) -> None:
    rows = run(
        source,
        "SELECT id, properties.email AS email, created_at FROM persons ORDER BY id",
    )
    assert rows == [
        {"id": "p-alice", "email": "Alice@Acme.com", "created_at": TS["A12"]},
        {"id": "p-anon", "email": None, "created_at": TS["D2"]},
        {"id": "p-bob", "email": "bob@beta.io", "created_at": TS["B4"]},
        {"id": "p-carol", "email": "carol@datagen.dev", "created_at": TS["C2"]},
    ]
    rows = run(
        source,
        "SELECT session_id, distinct_id, $start_timestamp AS start, $session_duration AS secs,"
        " $pageview_count AS pvs, $entry_pathname AS entry, $end_pathname AS exit"
        " FROM sessions ORDER BY session_id",
    )
    assert rows == [
        {"session_id": "s1", "distinct_id": "d-alice", "start": TS["A1"], "secs": 125,
         "pvs": 2, "entry": "/home", "exit": "/pricing"},
        {"session_id": "s2", "distinct_id": "d-bob", "start": TS["B1"], "secs": 3600,
         "pvs": 1, "entry": "/home", "exit": "/docs"},
    ]  # fmt: skip
    # a join of events and sessions, with $session_id on events
    rows = run(
        source,
        "SELECT e.event AS event, s.$session_duration AS d FROM events e"
        " JOIN sessions s ON e.$session_id = s.session_id WHERE e.uuid = 'uuid-A2'",
    )
    assert rows == [{"event": "mcp_connect_clicked", "d": 125}]


def test_subqueries_ctes_unions_and_windows(source: LocalPostHogSource) -> None:
    sql = """
        WITH clicks AS (
            SELECT person_id, count() AS n FROM events
            WHERE event = 'mcp_connect_clicked' GROUP BY person_id
        )
        SELECT p.properties.email AS email, c.n AS n
        FROM clicks c JOIN persons p ON p.id = c.person_id
        WHERE c.n >= (SELECT count() FROM events WHERE event = '$exception') - 1
        ORDER BY n DESC, email
        LIMIT 2
    """
    assert run(source, sql) == [
        {"email": "Alice@Acme.com", "n": 6},
        {"email": "bob@beta.io", "n": 1},
    ]
    sql = """
        SELECT event, row_number() OVER (ORDER BY timestamp) AS rn FROM events
        WHERE uuid IN ('uuid-A1', 'uuid-A2')
        UNION ALL
        SELECT 'persons', count() FROM persons
        ORDER BY rn
    """
    assert [tuple(r.values()) for r in run(source, sql)] == [
        ("$pageview", 1),
        ("mcp_connect_clicked", 2),
        ("persons", 4),
    ]
    assert run(source, "SELECT arrayJoin([1, 2]) AS x ORDER BY x") == [{"x": 1}, {"x": 2}]
    assert run(source, "SELECT 1 AS x LIMIT 1, 5") == []


# ------------------------------------------------------------------------------------------
# Errors


def test_untranslatable_constructs() -> None:
    with pytest.raises(
        HogQLTranslationError,
        match=r"HogQL function 'retention' is not supported by the local engine",
    ):
        translate("SELECT retention(event = 'a', event = 'b') FROM events")
    with pytest.raises(
        HogQLTranslationError, match=r"HogQL function 'someNewFunc' is not supported"
    ):
        translate("SELECT someNewFunc(event) FROM events")
    with pytest.raises(HogQLTranslationError, match=r"HogQL table 'cohorts' is not supported"):
        translate("SELECT count() FROM cohorts")
    with pytest.raises(HogQLTranslationError, match=r"'windowFunnel' is not supported"):
        translate("SELECT windowFunnel(3600)(timestamp, event = 'a', event = 'b') FROM events")
    with pytest.raises(HogQLTranslationError, match=r"timezone 'Europe/Paris'"):
        translate("SELECT toDateTime(timestamp, 'Europe/Paris') FROM events")
    with pytest.raises(HogQLTranslationError, match=r"session.\$session_duration"):
        translate("SELECT session.$session_duration FROM events")


def test_json_extract_types_the_local_engine_does_not_read_are_refused() -> None:
    """JSONExtract reads String, Nullable(String) and named Tuples of them; any other type, or a
    type that is not a literal, is an error naming it (never a wrong value)."""
    for kind in ("Int64", "Tuple(a Int64)", "Tuple(String, String)", "Array(String)"):
        with pytest.raises(HogQLTranslationError, match=re.escape(f"type '{kind}' is not")):
            translate(f"SELECT JSONExtract(properties, '{kind}') FROM events")
    with pytest.raises(HogQLTranslationError, match="its type as a string literal"):
        translate("SELECT JSONExtract(properties, event) FROM events")
    with pytest.raises(HogQLTranslationError, match="literal element name or index"):
        translate("SELECT tupleElement(tuple(1, 2), event) FROM events")


def test_translation_error_names_the_query(source: LocalPostHogSource) -> None:
    with pytest.raises(HogQLTranslationError) as err:
        source.run(posthog_query("SELECT retention() FROM events", name="ret"), {})
    assert str(err.value).startswith("posthog/ret (queries/posthog/ret.sql): HogQL function")


def test_tokens_in_strings_and_comments_are_left_alone() -> None:
    tr = translate(
        "SELECT 'properties.$pathname {x} count()' AS s -- {y} retention()\n"
        "/* now() {z} */ FROM events WHERE event = '{w}'"
    )
    assert tr.params == []
    assert "'properties.$pathname {x} count()'" in tr.sql
    assert "'{w}'" in tr.sql
    assert "retention" not in tr.sql


def test_a_double_slash_starts_a_comment_as_in_posthogs_lexer() -> None:
    """PostHog's lexer reads `//` as `--`: a comment to the end of the line
    (posthog/hogql/grammar/HogQLLexer.common.g4 SINGLE_LINE_COMMENT, commit 848f2092); so the
    local engine and the query files' placeholders read it so too, outside strings."""
    from usertrack.queries.library import placeholders

    sql = "SELECT count() AS n // {y} retention()\nFROM events WHERE event != 'a // {z}'"
    tr = translate(sql)
    assert tr.params == [] and "retention" not in tr.sql and "'a // {z}'" in tr.sql
    assert placeholders(sql, "hogql") == []
    assert placeholders("SELECT 1 // {x}\n, {w}", "hogql") == [("w", 2)]


def test_filters_placeholder_and_column_names(source: LocalPostHogSource) -> None:
    tr = translate("SELECT count() FROM events WHERE {filters}")
    assert tr.params == [] and "TRUE" in tr.sql
    result = source.run(
        posthog_query(
            "SELECT event, count(), properties.$pathname, e.properties.has_oauth, count() AS n"
            " FROM events e WHERE uuid = 'uuid-A2' GROUP BY ALL"
        ),
        {},
    )
    # named as HogQL names them, not after the store's internal columns
    assert result.columns == ["event", "count()", "$pathname", "has_oauth", "n"]
    assert result.rows == [("mcp_connect_clicked", 1, "/mcp", "true", 1)]


def test_every_shipped_posthog_query_translates_and_runs(source: LocalPostHogSource) -> None:
    from usertrack.queries.library import load_queries, resolve_params

    # The shipped queries exist: a missing folder or an empty one is a failure, never a skip.
    library = load_queries(ROOT / "queries")
    queries = [x for x in library.in_folder("posthog") if x.sql.strip()]
    assert len(queries) >= 5, [x.id for x in queries]
    for query in queries:
        tr = translate(query.sql)
        assert set(tr.params) <= query.param_names, query.id
        # Deep-dive queries take the user's email (no default): one of this store's people.
        # The tracking-plan queries take lists of planned names (bound as array values).
        given = {"email": "alice@acme.com", "events": ["$pageview"],
                 "event_keys": [["$pathname"]], "event_enum_keys": [["$pathname"]],
                 "keys": ["email"]}  # fmt: skip
        # The analytics facts queries (funnel, retention) take a range, steps and events.
        given |= {"since": NOW - timedelta(days=30), "until": NOW, "steps": ["$pageview"],
                  "by": "$pathname", "by2": "", "by3": "", "period": "week",
                  "start_event": "$pageview",
                  "return_event": "", "path_from": "", "path_to": "", "start_property": "",
                  "start_value": "", "return_property": "", "return_value": "",
                  "week_start": "monday"}  # fmt: skip
        given |= {"split": NOW - timedelta(days=15)}  # features: the two periods' boundary
        given |= {"seen_since": NOW - timedelta(days=30)}  # features' per-person rows
        given |= {"feature": "$pageview"}  # features --persons: one feature (or event)
        given |= {"event": "$pageview", "values": ["/"], "property": "$screen_width"}  # trends
        given |= {"signals": ["$pageview"], "prefixes": [["/"]]}  # churn, paths' prefixes
        # retention's and activity's live summaries: the mode, the first day and week counted
        given |= {"mode": "first-time", "first_day": NOW - timedelta(days=30),
                  "first_week": NOW - timedelta(days=56)}  # fmt: skip
        # retention's options: a return is one return event, each period on its own
        given |= {"min_occurrences": 1, "cumulative": 0}
        # churn's engagement facts: the backtest's moment and its window's start
        given |= {"then": NOW - timedelta(days=14), "then_since": NOW - timedelta(days=44)}
        result = source.run(query, resolve_params(query, given, now_value=NOW))
        if query.per_user:
            assert "email" in result.columns, query.id


def test_normalized_email_and_uniq_nulls(source: LocalPostHogSource) -> None:
    sql = """
        SELECT lowerUTF8(trim(person.properties.email, ' \\t\\r\\n')) AS email,
               uniq(properties.template_name) AS t,
               uniq(properties.no_such_property) AS none
        FROM events WHERE notEmpty(person.properties.email) GROUP BY email ORDER BY email
    """
    assert "person_email_norm" in translate(sql).sql  # the materialized column
    assert run(source, sql) == [
        {"email": "alice@acme.com", "t": 4, "none": 0},
        {"email": "bob@beta.io", "t": 1, "none": 0},
        {"email": "carol@datagen.dev", "t": 1, "none": 0},
    ]


def test_normalized_email_or_empty_reads_the_column(source: LocalPostHogSource) -> None:
    """`coalesce(person.properties.email, '')` inside the normalisation (the exclusion of the
    tracking-plan and analytics queries) reads the materialized column too, with '' for events
    without an email: the same answers as normalising every event's email."""
    mapped = """
        SELECT lowerUTF8(trim(coalesce(person.properties.email, ''), ' \t\r\n')) AS email,
               count() AS n
        FROM events GROUP BY email ORDER BY email
    """
    # concat(..., '') is not recognised: this one lower-cases and trims every event's email.
    per_event = mapped.replace("coalesce(person.properties.email, '')",
                               "concat(coalesce(person.properties.email, ''), '')")  # fmt: skip
    assert "coalesce(person_email_norm, '')" in translate(mapped).sql
    assert "person_email_norm" not in translate(per_event).sql
    rows = run(source, mapped)
    assert rows == run(source, per_event)
    emails = [r["email"] for r in rows]
    assert "" in emails and "alice@acme.com" in emails  # anon has none; Alice@Acme.com lowered


def test_normalized_email_of_coalesce_is_the_stored_key_or_empty(
    source: LocalPostHogSource,
) -> None:
    """The exclusion filters' spelling, coalesce(email, '') first, reads the stored key too:
    the person without an email gets '' (kept by NOT match), never NULL (which would drop them)."""
    sql = """
        SELECT person_id,
               lowerUTF8(trim(coalesce(person.properties.email, ''), ' \\t\\r\\n')) AS k,
               NOT match(lowerUTF8(trim(coalesce(person.properties.email, ''), ' \\t\\r\\n')),
                         {pattern}) AS kept
        FROM events GROUP BY person_id, k, kept ORDER BY person_id
    """
    assert "coalesce(person_email_norm, '')" in translate(sql).sql
    assert run(source, sql, pattern=r"@datagen\.dev$") == [
        {"person_id": "p-alice", "k": "alice@acme.com", "kept": True},  # Alice@Acme.com lowered
        {"person_id": "p-anon", "k": "", "kept": True},
        {"person_id": "p-bob", "k": "bob@beta.io", "kept": True},
        {"person_id": "p-carol", "k": "carol@datagen.dev", "kept": False},
    ]


_EMAIL_KEY = "lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \\t\\r\\n'))"
_LISTED = "(SELECT arrayJoin(arrayConcat([''], {emails})))"


def test_a_list_led_by_empty_tests_the_email_column_itself(source: LocalPostHogSource) -> None:
    """The email key tested against a list that starts with '' (activity.sql kept to a cell's
    emails) is tested on the store's column, an event without an email kept (its key '' is in
    the list): the same persons as a list the translator leaves the key's coalesce in front of."""
    sql = "SELECT DISTINCT person_id FROM events WHERE {c} ORDER BY person_id"
    listed = f"{_EMAIL_KEY} IN {_LISTED}"
    # ['', ''] leads with '' too, but is not the shape recognised: the test on coalesce(e, '')
    spelled = listed.replace("[''], ", "['', ''], ")
    tr = translate(sql.replace("{c}", listed)).sql
    assert "(person_email_norm IN (SELECT unnest(list_concat([''], $emails))" in tr
    assert "OR person_email_norm IS NULL)" in tr and "coalesce(person_email_norm" not in tr
    assert "coalesce(person_email_norm, '') IN" in translate(sql.replace("{c}", spelled)).sql
    for emails in ([], ["bob@beta.io"], ["alice@acme.com", "bob@beta.io"]):
        for form in ("{t}", "NOT {t}", "person_id = 'p-carol' OR {t}"):
            ours = run(source, sql.replace("{c}", form.format(t=listed)), emails=emails)
            theirs = run(source, sql.replace("{c}", form.format(t=spelled)), emails=emails)
            assert ours == theirs, (emails, form)
    kept = run(source, sql.replace("{c}", listed), emails=["bob@beta.io"])
    assert [r["person_id"] for r in kept] == ["p-anon", "p-bob"]


@pytest.mark.parametrize(
    "condition",
    [
        f"{_EMAIL_KEY} IN {_LISTED} = true",  # an operand of = rather than a whole test
        f"'' || {_EMAIL_KEY} IN {_LISTED}",
        f"1 = 1 AND {_EMAIL_KEY} NOT IN {_LISTED}",
        f"{_EMAIL_KEY} IN (SELECT arrayJoin(arrayConcat(['x'], {{emails}})))",
        f"{_EMAIL_KEY} IN (SELECT arrayJoin({{emails}}))",
        f"lowerUTF8(trim(person.properties.email, ' \\t\\r\\n')) IN {_LISTED}",
    ],
)
def test_other_tests_of_the_email_key_keep_their_spelling(condition: str) -> None:
    """Only the key as a whole test against a list led by '' is written on the bare column."""
    tr = translate(f"SELECT count() FROM events WHERE {condition}").sql
    assert "IS NULL" not in tr


def test_city_hash64_is_a_stable_64_bit_hash(source: LocalPostHogSource) -> None:
    """cityHash64 (the partitions of per-user pulls) becomes DuckDB's 64-bit hash: not
    ClickHouse's values, but the same value for the same text every time, different for another
    (tests/engines/test_posthog_http.py checks the spread over 1,000 emails)."""
    assert translate("SELECT cityHash64('a@b.io') AS h").sql == "SELECT hash('a@b.io') AS h"
    sql = "SELECT cityHash64('a@b.io') AS a, cityHash64('a@b.io') AS b, cityHash64('c@d.io') AS c"
    (row,) = run(source, sql)
    assert row["a"] == row["b"] != row["c"]
    assert 0 <= row["a"] < 2**64
