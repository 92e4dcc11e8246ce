"""`trends --formula`: PostHog's formula over the series A, B, C ... in the order given.

PostHog evaluates a formula point by point (posthog/hogql_queries/utils/formula_ast.py,
`FormulaAST.call`: each point's values as the letters a, b, c ..., the text lower-cased) and
a division by zero gives 0 (`_evaluate`: `except ZeroDivisionError: return 0`). Its runner
(posthog/hogql_queries/insights/trends/trends_query_runner.py, `apply_formula`) answers the
formula's series alone, labelled "Formula (TEXT)", one per breakdown value with --by (a value
a series lacks counts 0 there: its "filler") and one per period with --compare.

PostHog reads the text with Python's own parser; usertrack reads it with the small parser
below, never eval: numbers, the series letters, `+ - * / %` (as Python's, which PostHog
uses), unary minus and plus, and parentheses. PostHog's `**` is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import ascii_uppercase
from typing import Any

from usertrack.analytics.trends.maths import OTHER, Series
from usertrack.core.errors import UsageError

MAX_FORMULA = 200  # characters: a formula is a line, not a program

# A parsed formula: a number, a series' index, ("neg", node) or (op, left, right).
Node = float | int | tuple


@dataclass(frozen=True)
class Formula:
    text: str
    tree: Node

    @property
    def label(self) -> str:
        """PostHog's label of the formula's series (`apply_formula_to_results_group`)."""
        return f"Formula ({self.text})"

    def evaluate(self, columns: list[list[float]]) -> list[float]:
        """The formula at each point of the series `columns` (all of one length)."""
        return [_tidy(_value(self.tree, point)) for point in zip(*columns, strict=True)]


def _tidy(number: float) -> float:
    return int(number) if float(number).is_integer() else round(number, 4)


def _value(node: Node, point: tuple[float, ...]) -> float:
    if isinstance(node, int | float):
        return node
    if node[0] == "series":
        return point[node[1]]
    if node[0] == "neg":
        return -_value(node[1], point)
    op, left, right = node
    a, b = _value(left, point), _value(right, point)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if not b:
        return 0  # PostHog's: a division (or a remainder) by zero is 0
    return a / b if op == "/" else a % b


class _Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/'|'%') unary)*;
    unary := ('-'|'+') unary | atom; atom := NUMBER | LETTER | '(' expr ')'."""

    def __init__(self, text: str, series: int) -> None:
        self.text, self.series, self.at = text, series, 0

    def fail(self, what: str, at: int | None = None) -> UsageError:
        place = (self.at if at is None else at) + 1
        letters = ", ".join(ascii_uppercase[: self.series])
        return UsageError(
            f"--formula {self.text!r}: {what} at position {place}"
            f" (the series are {letters}, in the order the events are given)"
        )

    def peek(self) -> str:
        while self.at < len(self.text) and self.text[self.at] in " \t":
            self.at += 1
        return self.text[self.at] if self.at < len(self.text) else ""

    def parse(self) -> Node:
        if not self.text.strip():
            raise UsageError("--formula is empty: e.g. 'A/B' over the first two events")
        if len(self.text) > MAX_FORMULA:
            raise UsageError(f"--formula is longer than {MAX_FORMULA} characters")
        tree = self.expr()
        if self.peek():
            raise self.fail(f"unexpected {self.peek()!r}")
        return tree

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.text[self.at]
            self.at += 1
            node = (op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.text[self.at]
            self.at += 1
            node = (op, node, self.unary())
        return node

    def unary(self) -> Node:
        char = self.peek()
        if char in ("-", "+"):
            self.at += 1
            inner = self.unary()
            return ("neg", inner) if char == "-" else inner
        return self.atom()

    def atom(self) -> Node:
        char = self.peek()
        if char == "(":
            self.at += 1
            node = self.expr()
            if self.peek() != ")":
                raise self.fail("a missing ')'")
            self.at += 1
            return node
        if char.isdigit() or char == ".":
            return self.number()
        if char.isalpha() and char.isascii():
            start = self.at
            while self.at < len(self.text) and self.text[self.at].isalnum():
                self.at += 1
            name = self.text[start : self.at]
            index = ascii_uppercase.find(name.upper()) if len(name) == 1 else -1
            if index < 0 or index >= self.series:
                raise self.fail(f"no series {name!r}", start)
            return ("series", index)
        raise self.fail("an operand expected" if not char else f"unexpected {char!r}")

    def number(self) -> Node:
        start = self.at
        while self.at < len(self.text) and (
            self.text[self.at].isdigit() or self.text[self.at] == "."
        ):
            self.at += 1
        try:
            value = float(self.text[start : self.at])
        except ValueError:
            raise self.fail("a malformed number", start) from None
        return int(value) if value.is_integer() else value


def parse_formula(text: str, series: int) -> Formula:
    """`text` over `series` series (A is the first): exit 2 naming the place of a bad letter
    or a syntax error."""
    return Formula(text.strip(), _Parser(text.strip(), series).parse())


def formula_series(
    formula: Formula, columns: list[dict[str | None, list[float]]], width: int, by: bool
) -> list[Series]:
    """PostHog's `apply_formula`: the formula over the events' series (`columns`: each event's
    data per breakdown value), point by point; with a breakdown, once per breakdown value any
    series has (a series without it counts 0 there, PostHog's "filler"), the values with
    neither none nor other first, then by the sum of the points, the points and the value,
    from the largest (its sort of the computed results, where a value the first series lacks
    ranks by 0: the filler's aggregated_value)."""
    values = list(dict.fromkeys(v for c in columns for v in c))
    out, ranks = [], {}
    for value in values:
        data = formula.evaluate([c.get(value, [0] * width) for c in columns])
        out.append(Series(formula.label, value, data, formula=formula.text))
        ranks[value] = sum(data) if value in columns[0] else 0
    if by:

        def rank(s: Series) -> tuple[Any, ...]:
            place = -2 if s.breakdown == OTHER else -1 if s.breakdown == "" else 0
            return (place, ranks[s.breakdown], sum(s.data), s.data, repr(s.breakdown))

        out.sort(key=rank, reverse=True)
    return out
