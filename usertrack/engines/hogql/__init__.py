"""Translate HogQL (PostHog's ClickHouse-flavoured SQL) into DuckDB SQL over the event store.

The translator works on a token stream (strings, quoted identifiers, numbers, comments,
placeholders, punctuation) grouped by brackets into a small tree; it never rewrites raw text with
regexes. What it does:

- Field access: `properties.X`, `properties.$X`, `properties['X']`, `properties."X"`,
  `e.properties.X` (table alias), `person.properties.X`, `person.id`, `pdi.person_id`. Hot event
  properties map to the store's materialized columns (`eventstore.HOT_PROPERTIES`),
  others to `json_extract_string(properties, '$."X"')`. Like HogQL, a property reads as a string
  (or NULL).
- `person.properties` is the person snapshot written on each event (PostHog's "persons on events"
  mode), which is what an events export holds.
- Tables: `events`, `persons`, `sessions`, `person_distinct_ids` (tables/views of the store) and
  CTE names. Anything else raises `HogQLTranslationError`.
- `{name}` placeholders become DuckDB named parameters `$name`: values are bound, never spliced.
  `{filters}` (PostHog's UI filter slot) becomes `TRUE`: there are no test-account filters here.
- ClickHouse functions are rewritten with ClickHouse semantics where DuckDB differs (see
  `SUPPORTED_FUNCTIONS`); an unknown function raises `HogQLTranslationError`, never passes through.

ClickHouse semantics worth knowing (checked in ClickHouse's docs and tests):
- `toStartOfWeek(d)` starts weeks on Sunday (mode 0); odd modes start on Monday. `toMonday`,
  `toDayOfWeek` (1 = Monday) and `dateDiff('week', ...)` use Monday weeks.
- `dateDiff(unit, a, b)` counts unit boundaries crossed, not elapsed whole units.
- `groupArray` skips NULLs and returns `[]` for no rows; `sumIf` of no rows is 0; `any` skips NULLs.
- `round` on floats rounds half to even (banker's rounding).
- String literals use backslash escapes (`'it\\'s'`); LIKE patterns use backslash as escape.

Not supported (a clear error): `windowFunnel`, `retention`, the `events.session.*` lazy join,
timezones other than UTC, the ternary `?:`, parametric aggregates other than groupArray(n)/quantile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from usertrack.engines.hogql.functions import SUPPORTED_FUNCTIONS
from usertrack.engines.hogql.tokens import tokenize
from usertrack.engines.hogql.translator import TABLES, Translator

__all__ = ["SUPPORTED_FUNCTIONS", "TABLES", "Translation", "tokenize", "translate"]


@dataclass(frozen=True)
class Translation:
    """DuckDB SQL for one HogQL query, and the placeholder names it binds (first use first)."""

    sql: str
    params: list[str] = field(default_factory=list)


def translate(hogql: str, *, first_line: int = 1) -> Translation:
    """Translate one HogQL query into DuckDB SQL over the local event store.

    Raises `HogQLTranslationError` naming the construct when something cannot be translated,
    with its line and column; `first_line` is the file's line where `hogql` starts, so that the
    line is the file's (a query file's header comes first).
    """
    # Blank lines ahead shift every reported line; the translation is stripped of them.
    tr = Translator("\n" * max(first_line - 1, 0) + hogql)
    sql = tr.run()
    return Translation(sql=sql, params=list(tr.params))
