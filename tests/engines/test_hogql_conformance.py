"""The tests' PostHog held to PostHog's own resolver, function table and printer.

tests/hogql_printer.py prints HogQL the way PostHog does; every live answer in the suite goes
through it, so where it is more lenient than PostHog a query file PostHog refuses passes here.
Each case below is a small HogQL text and what PostHog does with it (accepts it, with the SQL
or the rows it gives, or refuses it, with PostHog's message), naming the file and function of
PostHog/posthog (posthog/hogql/...) it follows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.clickhouse_engine import ClickHouseError, run_sql
from tests.hogql_printer import HogQLError, HogVMError, print_hogql

SINCE = "2026-01-05 00:00:00"


def sql(text: str, **values: Any) -> str:
    """The printed SQL, UTC as usertrack asks (modifiers convertToProjectTimezone: false)."""
    return print_hogql(text, {"since": SINCE, **values}, convert_to_project_timezone=False)


def refused(text: str, **values: Any) -> str:
    with pytest.raises(HogQLError) as e:
        sql(text, **values)
    return str(e.value)


# ----------------------------------------------------------------------------- placeholders


@pytest.mark.parametrize("values", [{}, {"until": SINCE}], ids=["no values", "another value"])
def test_a_placeholder_without_a_value_is_hogvms_error(values: dict[str, Any]) -> None:
    # posthog/hogql_queries/hogql_query_runner.py to_query: parse_select(..., placeholders=
    # values); posthog/hogql/query.py _process_placeholders: replace_placeholders with what is
    # left; placeholders.py ReplacePlaceholders runs the name as HogVM's GET_GLOBAL, which
    # raises HogVMException "Global variable not found" (common/hogvm/python/execute.py), not
    # a HogQL error PostHog's endpoint answers as 400 (posthog/api/query.py create)
    text = "SELECT count() FROM events WHERE timestamp > toDateTime({since})"
    with pytest.raises(HogVMError, match=r"^Global variable not found: since$"):
        print_hogql(text, values, convert_to_project_timezone=False)


# ----------------------------------------------------------------------------- resolution


def test_an_alias_shadows_the_person_table_in_a_chain() -> None:
    # resolver.py visit_field: lookup_table_by_name finds real tables and CTEs only, then
    # resolver_utils.py lookup_field_by_name returns scope.aliases[name] before any table's
    # field; the chain's next part fails in get_child, which visit_field reports so
    message = refused("SELECT person_id AS person FROM events WHERE person.properties.email = 'a'")
    assert message == (
        "Cannot access property 'properties' on 'person'. This can happen when a column alias"
        " shadows a table field. Try renaming the alias."
    )
    # the same through a call (session_summary.sql's old `toString(person_id) AS person`)
    assert "Cannot access property 'properties' on 'person'" in refused(
        "SELECT toString(person_id) AS person FROM events"
        " WHERE JSONExtractString(person.properties, 'email') = ''"
    )


def test_an_alias_of_a_plain_column_refuses_a_child() -> None:
    # ast.py FieldType.get_child: a column that is not JSON has no properties
    assert refused("SELECT event AS person FROM events WHERE person.properties.x = 1") == (
        'Can not access property "properties" on field "event"'
    )


def test_without_the_alias_person_properties_is_the_persons_json() -> None:
    # database/schema/events.py: person.properties on events is persons-on-events' column
    printed = sql("SELECT person_id AS actor FROM events WHERE person.properties.email = 'a'")
    assert "JSONExtractRaw(events.person_properties, 'email')" in printed


def test_the_select_list_is_resolved_before_where_group_by_having_and_order_by() -> None:
    # resolver.py visit_select_query: the select list first, then WHERE, PREWHERE, HAVING,
    # GROUP BY, ORDER BY, each name alias-first (lookup_field_by_name)
    printed = sql(
        "SELECT concat(event, '!') AS event, count() AS n FROM events WHERE event != 'x!'"
        " GROUP BY event HAVING event != '' ORDER BY event"
    )
    # concat is never NULL (resolver.py visit_call), so the alias' comparison is not wrapped
    assert "WHERE notEquals(event, 'x!')" in printed
    assert "GROUP BY event HAVING" in printed and "ORDER BY event ASC" in printed
    assert "events.event" in printed.split(" FROM ")[0]  # inside the alias: the column


def test_a_table_alias_comes_before_a_select_alias() -> None:
    # resolver.py visit_field: lookup_table_by_name before lookup_field_by_name
    printed = sql("SELECT 1 AS e, e.event AS name FROM events AS e")
    assert "e.event AS name" in printed


def test_an_alias_is_visible_after_it_not_before() -> None:
    # resolver.py visit_alias adds the alias once its expression is resolved
    assert sql("SELECT 1 AS n, n + 1 AS m").startswith("SELECT 1 AS n, plus(n, 1) AS m")
    assert refused("SELECT n + 1 AS m, 1 AS n") == "Unable to resolve field: n"


def test_a_lambda_sees_its_arguments_then_the_selects_aliases_then_its_tables() -> None:
    # resolver.py visit_lambda: a scope whose parent is the SELECT's; visit_field looks in the
    # lambda's scope (its arguments), then through scope.parent (aliases, then tables)
    printed = sql(
        "SELECT 'b' AS y, 'c' AS x, arrayMap(x -> concat(x, y, event), ['a']) AS a FROM events"
    )
    assert "arrayMap(x -> concat(x, y, events.event), ['a'])" in printed


def test_a_subquery_does_not_see_the_outer_selects_fields() -> None:
    # resolver.py visit_field: "Only look for fields in the last SELECT scope"
    assert refused(
        "SELECT event, (SELECT count() FROM persons WHERE persons.id = person_id) AS n FROM events"
    ) == ("Unable to resolve field: person_id")


# ----------------------------------------------------------------------------- functions


@pytest.mark.parametrize(
    "name",
    ["quantileExactInclusive", "quantileExact", "quantileExactLow", "quantileTDigest"],
)
def test_the_quantile_exact_family_is_not_hogql(name: str) -> None:
    # functions/aggregations.py HOGQL_AGGREGATIONS: quantileExact* and quantileTiming* are
    # commented out
    assert refused(f"SELECT {name}(0.5)(1) AS q FROM events") == (
        f"Unsupported function call '{name}(...)'"
    )


def test_median_exact_low_and_high_give_quantile_exact_inclusives_median() -> None:
    # functions/aggregations.py: medianExactLow and medianExactHigh are HogQL aggregations; their
    # mean is ClickHouse's quantileExactInclusive(0.5) (session_summary.sql's median)
    printed = sql("SELECT (medianExactLow(x) + medianExactHigh(x)) / 2 AS m FROM (SELECT 1 AS x)")
    assert "divide(plus(medianExactLow(x), medianExactHigh(x)), 2)" in printed
    for values in ([1, 2, 10, 20], [1, 2, 10], [7]):
        arr = ", ".join(str(v) for v in values)
        rows = run_sql(
            f"SELECT (medianExactLow(x) + medianExactHigh(x)) / 2, quantileExactInclusive(0.5)(x)"
            f" FROM (SELECT arrayJoin([{arr}]) AS x)"
        )
        assert rows[0][0] == rows[0][1]


def test_parameters_of_an_aggregation() -> None:
    # functions/aggregations.py: quantile takes one parameter, printed before the arguments
    assert "quantile(0.9)(events.timestamp)" in sql("SELECT quantile(0.9)(timestamp) FROM events")


def test_bit_width_casts_are_accurate_cast_or_null() -> None:
    # functions/clickhouse/conversions.py TYPE_CONVERSION_FUNCTIONS: toInt64 and the other
    # bit-width casts are accurateCastOrNull(x, 'Type') (suffix_args): NULL where it does not fit
    assert sql("SELECT toInt64(1) AS a").startswith("SELECT accurateCastOrNull(1, 'Int64') AS a")
    printed = sql("SELECT toInt8(300) AS a, toUInt64(-1) AS b, toInt64('x') AS c")
    assert run_sql(printed.split(" LIMIT ")[0]) == [[None, None, None]]


def test_argument_counts_with_postHogs_messages() -> None:
    # functions/core.py validate_function_args
    assert refused("SELECT dateDiff('day', timestamp) FROM events") == (
        "Function 'dateDiff' expects 3 arguments, found 2"
    )
    assert refused("SELECT toDateTime() FROM events") == (
        "Function 'toDateTime' expects at least 1 argument, found 0"
    )


def test_case_rules() -> None:
    # functions/mapping.py _find_function: the name as written, else its lowercase form when the
    # function says case_sensitive=False (count, if, coalesce, ...), nothing else
    assert sql("SELECT COUNT() AS n, IF(1, 2, 3) AS i FROM events").startswith(
        "SELECT count() AS n, if(1, 2, 3) AS i"
    )
    assert (
        refused("SELECT ARRAYMAP(x -> x, [1]) AS a") == "Unsupported function call 'ARRAYMAP(...)'"
    )


def test_to_date_overloads_by_the_first_arguments_type() -> None:
    # conversions.py DATE_CONVERSION_FUNCTIONS: toDate is toDateOrNull with the overload toDate
    # for a DateTime or Date (printer/base.py visit_call picks it by the first argument's type)
    assert "toDate(events.timestamp)" in sql("SELECT toDate(timestamp) AS d FROM events")
    assert "toDateOrNull('2026-01-05 00:00:00')" in sql("SELECT toDate({since}) AS d")
    # an aggregate's type is unknown to the resolver (visit_call: no signatures): toDateOrNull
    assert "toDateOrNull(min(events.timestamp))" in sql("SELECT toDate(min(timestamp)) FROM events")


def test_to_date_time_with_a_timezone_matches_no_signature_and_to_date_of_it_fails() -> None:
    # conversions.py: toDateTime's signatures are (String), (String, Integer), (String, Integer,
    # String); (String, String) matches none, so its type is unknown (resolver.py visit_call) and
    # toDate of it prints toDateOrNull, which ClickHouse refuses for a DateTime64
    printed = sql("SELECT toDate(toDateTime({since}, 'UTC')) AS d")
    assert "toDateOrNull(parseDateTime64BestEffortOrNull('2026-01-05 00:00:00', 6, 'UTC'))" in (
        printed
    )
    with pytest.raises(ClickHouseError, match="toDateOrNull"):
        run_sql(printed.split(" LIMIT ")[0])


def test_to_date_time_of_a_string_is_a_date_time() -> None:
    # printer/base.py visit_call: a lone constant 'YYYY-MM-DD HH:MM:SS' is toDateTime(x, tz), the
    # timezone the project's unless convertToProjectTimezone is false (_get_timezone)
    printed = sql("SELECT toDate(toDateTime({since})) AS d")
    assert "toDate(toDateTime('2026-01-05 00:00:00', 'UTC'))" in printed
    assert run_sql(printed.split(" LIMIT ")[0]) == [["2026-01-05"]]
    # a DateTime argument: the overload toDateTime
    assert "toDateTime(events.timestamp, 'UTC')" in sql("SELECT toDateTime(timestamp) FROM events")
    # any other string: parsed, precision 6 before the timezone
    assert "parseDateTime64BestEffortOrNull(events.event, 6, 'UTC')" in sql(
        "SELECT toDateTime(event) FROM events"
    )


# ----------------------------------------------------------------------------- printing


def test_lag_and_lead_are_lag_in_frame_and_lead_in_frame() -> None:
    # printer/base.py _transform_window_function: toNullable of the value, and with an ORDER BY
    # but no frame the whole partition (_create_default_window_frame)
    printed = sql(
        "SELECT lag(event) OVER (PARTITION BY person_id ORDER BY timestamp) AS p,"
        " lead(event, 2) OVER (ORDER BY timestamp ROWS BETWEEN UNBOUNDED PRECEDING"
        " AND CURRENT ROW) AS q FROM events"
    )
    assert (
        "lagInFrame(toNullable(events.event)) OVER (PARTITION BY events.person_id"
        " ORDER BY events.timestamp ASC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
    ) in printed
    assert "leadInFrame(toNullable(events.event), 2) OVER (ORDER BY events.timestamp ASC ROWS" in (
        printed
    )


def test_comparisons_are_wrapped_by_their_operands_nullability() -> None:
    # printer/clickhouse.py visit_compare_operation: a Nullable operand is wrapped in ifNull so
    # the answer is two-valued; two non-Nullable columns are not
    printed = sql(
        "SELECT properties.a = 'x' AS p, properties.a != 'x' AS q, event = 'x' AS r FROM events"
    )
    assert "ifNull(equals(replaceRegexpAll(" in printed and "'x'), 0) AS p" in printed
    assert "'x'), 1) AS q" in printed
    assert "equals(events.event, 'x') AS r" in printed


def test_convert_to_project_timezone() -> None:
    # printer/clickhouse.py: a DateTime column is read in the project's timezone, and now() gets
    # it, unless the modifiers say convertToProjectTimezone: false (_get_timezone)
    text = "SELECT timestamp, now() AS t FROM events"
    local = print_hogql(text, {}, timezone="America/Los_Angeles")
    assert "toTimeZone(events.timestamp, 'America/Los_Angeles')" in local
    assert "now64(6, 'America/Los_Angeles')" in local
    utc = print_hogql(text, {}, timezone="America/Los_Angeles", convert_to_project_timezone=False)
    assert "SELECT events.timestamp, now64(6, 'UTC')" in utc


def test_placeholders_are_escaped_constants() -> None:
    # placeholders.py replace_placeholders, escape_sql.py escape_clickhouse_string
    printed = sql("SELECT {p} AS p, {q} AS q", p="a'b\\c\n", q=["x", 1])
    assert "SELECT 'a\\'b\\\\c\\n' AS p, ['x', 1] AS q" in printed


def test_property_typing() -> None:
    # transforms/property_types.py: a Numeric property is Float64, a Boolean one Bool
    printed = print_hogql(
        "SELECT properties.n AS n, properties.b AS b FROM events",
        {},
        property_types={"event:n": "Numeric", "event:b": "Boolean"},
    )
    assert "accurateCastOrNull(replaceRegexpAll(" in printed and "'Float64') AS n" in printed
    assert "transform(toString(" in printed and "'Bool') AS b" in printed


# ----------------------------------------------------------------------------- parsing


def _counting_parses(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Any]:
    """hogql-parser's parse_select_json made to note each text it parses, in the list returned
    beside the parser's own function."""
    from usertrack.engines.hogql.parser import install_errors_module

    install_errors_module()  # what hogql-parser imports (posthog.hogql.errors)
    import hogql_parser

    real = hogql_parser.parse_select_json
    parsed: list[str] = []

    def counting(text: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(hogql_parser, "parse_select_json", counting)
    return parsed, real


def test_a_text_is_parsed_once_a_process_and_each_caller_gets_its_own_tree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostHog's parser takes seconds for a long query, and the tests send the same texts
    again and again (other values, other cases): the stand-in parses a text once. A caller
    that changes its tree (placeholders put in) leaves the next one's as parsed; a text the
    parser refuses is refused every time."""
    import uuid

    from tests import hogql_printer

    parsed, _ = _counting_parses(monkeypatch)
    mark = uuid.uuid4().hex  # a text no other test of this process parsed
    text = f"SELECT event, '{mark}' FROM events WHERE timestamp >= {{since}}"
    first = hogql_printer.parse_select(text)
    first["select"].clear()
    second = hogql_printer.parse_select(text)
    assert parsed == [text]
    assert len(second["select"]) == 2
    assert sql(text) == sql(text)
    bad = f"SELECT '{mark}' FROM WHERE"
    assert refused(bad) == refused(bad) != ""
    assert parsed == [text, bad]


def test_a_text_one_worker_parsed_the_others_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The session's workers keep their parses in one folder (tests/conftest.py names it):
    a text parsed in one process is read there by the next, not parsed again, and reads as
    the parser's own tree; a text the parser refuses is kept as refused."""
    import uuid

    from tests import hogql_printer

    parsed, real = _counting_parses(monkeypatch)
    monkeypatch.setenv(hogql_printer.SHARED_PARSES, str(tmp_path))
    mark = uuid.uuid4().hex
    text = f"SELECT event, '{mark}' FROM events WHERE timestamp >= {{since}}"
    bad = f"SELECT '{mark}' FROM WHERE"
    first, first_refusal = hogql_printer.parse_select(text), refused(bad)
    assert parsed == [text, bad]
    assert len(list(tmp_path.iterdir())) == 4  # each text's parse and its lock
    hogql_printer._parsed.cache_clear()  # as another process would start
    assert hogql_printer.parse_select(text) == first == json.loads(real(text))
    assert refused(bad) == first_refusal != ""
    assert parsed == [text, bad]
