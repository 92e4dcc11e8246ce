"""A HogQL text with its parameters printed in as constants (usertrack.engines.hogql.bound), the
text `query --check` and `doctor` have PostHog validate: each value printed as PostHog's printer
prints a constant of HogQL (posthog/hogql/printer/base.py visit_constant, through
posthog/hogql/escape_sql.py escape_hogql_string, SQLValueEscaper with dialect "hogql"), and
the text read back by PostHog's own parser as the tree a run builds from its `values`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from usertrack.engines.hogql.bound import bound_text, hogql_constant
from usertrack.engines.hogql.parser import parse_expr, parse_select
from usertrack.engines.hogql.printer import PrintError, without_positions


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (None, "NULL"),  # visit_nonetype
        (True, "true"),  # visit_bool, dialect hogql
        (False, "false"),
        (42, "42"),  # visit_int
        (-7, "-7"),
        (0.25, "0.25"),  # visit_float: str(value)
        (1e-07, "1e-07"),
        (float("nan"), "NaN"),
        (float("inf"), "Inf"),
        (float("-inf"), "-Inf"),
        ("it's", "'it\\'s'"),  # escape_param_clickhouse: singlequote_escape_chars_map
        ("a\\b\n\t\0", "'a\\\\b\\n\\t\\0'"),
        ("{since}", "'{since}'"),
        (date(2026, 11, 2), "toDate('2026-11-02')"),  # visit_date
        # visit_datetime: in the timezone (UTC), with microseconds, no timezone argument
        (datetime(2026, 11, 2, 9, 30, tzinfo=UTC), "toDateTime('2026-11-02 09:30:00.000000')"),
        (
            datetime(2026, 11, 2, 9, 30, tzinfo=timezone(timedelta(hours=2))),
            "toDateTime('2026-11-02 07:30:00.000000')",
        ),
        (datetime(2026, 11, 2, 9, 30, 1, 5), "toDateTime('2026-11-02 09:30:01.000005')"),
        (UUID(int=1), "toUUID('00000000-0000-0000-0000-000000000001')"),  # visit_uuid
        (["a", 1, None], "['a', 1, NULL]"),  # visit_list
        (("a", 2), "('a', 2)"),  # visit_tuple
    ],
)
def test_a_value_prints_as_posthogs_escaper_prints_it(value: Any, printed: str) -> None:
    assert hogql_constant(value) == printed


def test_a_value_the_escaper_has_no_method_for_is_refused() -> None:
    # SQLValueEscaper.visit raises "SQLValueEscaper has no method visit_dict"
    with pytest.raises(PrintError, match="dict"):
        hogql_constant({"a": 1})


def test_a_string_reads_back_as_the_same_constant() -> None:
    hostile = "x' OR 1=1 -- \\' \n`{name}`"
    tree = without_positions(parse_expr(hogql_constant(hostile)))
    assert tree == {"node": "Constant", "value": hostile}


def test_the_bound_text_is_the_tree_a_run_builds_from_its_values() -> None:
    # posthog/hogql_queries/hogql_query_runner.py to_query: each value an ast.Constant put in
    # where its placeholder was
    text = (
        "SELECT count() AS n FROM events WHERE timestamp > toDateTime({as_of}) - INTERVAL {days}"
        " DAY AND event IN {names} AND properties.plan = {plan}"
    )
    values = {"as_of": "2026-11-02 09:30:00", "days": 7, "names": ["a", "b"], "plan": "it's"}
    bound = bound_text(text, values)
    assert "{" not in bound
    expected = (
        "SELECT count() AS n FROM events WHERE timestamp > toDateTime('2026-11-02 09:30:00')"
        " - INTERVAL 7 DAY AND event IN ['a', 'b'] AND properties.plan = 'it\\'s'"
    )
    assert without_positions(parse_select(bound)) == without_positions(parse_select(expected))


def test_a_placeholder_without_a_value_is_refused() -> None:
    with pytest.raises(PrintError, match=r"the placeholder \{days\} without a value"):
        bound_text("SELECT 1 FROM events WHERE {days} > 1", {"as_of": "x"})
