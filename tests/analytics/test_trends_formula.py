"""`trends --formula` and EVENT@MATH: the formula's parser and evaluation (PostHog's FormulaAST
cases), and the command's refusals of a bad formula, a bad own math and what does not go with
a formula. The formula's numbers on both engines are in tests/posthog_cases/
test_trends_runner_cases.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analytics_helpers import assert_usage_error, record, run_json, write_export
from usertrack.analytics.trends.formula import parse_formula
from usertrack.analytics.trends.maths import Math, own_math
from usertrack.core.errors import UsageError

DATA = [[1, 2, 3, 4], [1, 2, 3, 4]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A+1", [2, 3, 4, 5]),  # test_addition
        ("A-1", [0, 1, 2, 3]),  # test_subtraction
        ("A*2", [2, 4, 6, 8]),  # test_multiplication
        ("A/2", [0.5, 1, 1.5, 2]),  # test_division
        ("A/0", [0, 0, 0, 0]),  # test_division_zero
        ("A%2", [1, 0, 1, 0]),  # test_modulo
        ("1", [1, 1, 1, 1]),  # test_constants
        ("A+B", [2, 4, 6, 8]),  # test_named_values
        ("a+b", [2, 4, 6, 8]),  # test_named_values_lower_case
        ("-A", [-1, -2, -3, -4]),  # test_unary_minus
        ("+A", [1, 2, 3, 4]),  # test_unary_plus
    ],
)
def test_posthog_formula_ast_cases(text: str, expected: list[float]) -> None:
    """posthog/hogql_queries/utils/test/test_formula_ast.py, TestFormulaAST (PostHog commit
    1e47b98a2ae1f6d09f4a474c437d466d280ac682): FormulaAST([[1, 2, 3, 4], [1, 2, 3, 4]])."""
    assert parse_formula(text, 2).evaluate(DATA) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(A + B) * 2 - 1", [3, 7, 11, 15]),
        ("A - B - 1", [-1, -1, -1, -1]),  # left to right
        ("12 / A / 2", [6, 3, 2, 1.5]),
        ("A * 100 / (B - 1)", [0, 200, 150, 133.3333]),  # B - 1 = 0 at the first point
        ("2.5 * A", [2.5, 5, 7.5, 10]),
    ],
)
def test_precedence_and_parentheses(text: str, expected: list[float]) -> None:
    assert parse_formula(text, 2).evaluate(DATA) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("A/C", "no series 'C' at position 3"),
        ("A+AB", "no series 'AB' at position 3"),
        ("(A+B", "a missing ')' at position 5"),
        ("A+", "an operand expected at position 3"),
        ("A**2", "unexpected '*' at position 3"),
        ("AVG(A)", "no series 'AVG' at position 1"),
        ("A;import os", "unexpected ';' at position 2"),
        ("1.2.3", "a malformed number at position 1"),
        ("__import__('os')", "unexpected '_' at position 1"),
    ],
)
def test_a_bad_formula_names_the_place(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as error:
        parse_formula(text, 2)
    assert str(error.value).startswith(f"--formula {text!r}: ")
    assert fragment in str(error.value)


def test_own_math() -> None:
    assert own_math("pageview@dau") == ("pageview", Math("dau"))
    assert own_math("buy@sum:price") == ("buy", Math("sum", "price"))
    # an @ before no known math belongs to the name
    assert own_math("mail@example.com") == ("mail@example.com", None)
    assert own_math("@dau") == ("@dau", None)
    with pytest.raises(UsageError, match="EVENT 'buy@sum'"):
        own_math("buy@sum")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datetime import UTC, datetime

    at = datetime(2026, 6, 1, 10, tzinfo=UTC)
    rows = [record(1, "a", at, "d1", "p1", "p1@x.io"), record(2, "b", at, "d1", "p1", "p1@x.io")]
    return write_export(tmp_path_factory.mktemp("formula") / "events.jsonl", rows)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["a", "b", "--formula", "A/C"], "--formula 'A/C': no series 'C' at position 3"),
        (["a", "b", "--formula", "A+"], "--formula 'A+': an operand expected at position 3"),
        (["a", "b", "--formula", " "], "--formula is empty"),
        (["a", "a"], "an EVENT is given twice"),
        (["a@sum", "b"], "EVENT 'a@sum': 'sum' needs a property"),
        (["a", "b", "--formula", "A+B", "--persons", "2026-06-01"], "--persons and --formula"),
        (["a", "a@dau", "--persons", "2026-06-01"], "--persons and an EVENT@MATH"),
    ],
)
def test_refusals(export: Path, args: list[str], fragment: str) -> None:
    env = {"USERTRACK_EVENTS": str(export), "USERTRACK_CACHE_TTL": "0"}
    assert_usage_error(["trends", *args, "--as-of", "2026-06-02"], fragment, **env)


def test_same_event_two_maths(export: Path) -> None:
    """One event twice, with two maths, is two series side by side."""
    env = {"USERTRACK_EVENTS": str(export), "USERTRACK_CACHE_TTL": "0"}
    doc = run_json("trends", ["a", "a@dau", "--days", "1"], as_of="2026-06-02", **env)
    assert [(s["event"], s.get("math"), s["total" if "total" in s else "average"])
            for s in doc["series"]] == [("a", None, 1), ("a", "dau", 1)]  # fmt: skip
    assert doc["maths"] == ["total", "dau"]
