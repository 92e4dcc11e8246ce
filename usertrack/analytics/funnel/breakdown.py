"""A funnel's breakdown (`--by`), as PostHog's funnel query runner makes it.

Read from PostHog's posthog/hogql_queries/insights/funnels/: `base.py` (`_get_breakdown_expr`:
an event property, a person property, or event metadata such as `distinct_id`, each missing
value '' as `utils.get_breakdown_expr`'s ifNull(..., '')), `funnel_udf.py` (`_prop_vals`: the
values a person is counted under, by attribution; `get_query`: the values ordered by the last
step's count first, those past the breakdown limit merged into 'Other') and the UDF
`funnel-udf/src/steps.rs` (`loop_prop_val`: with all_events a value's funnel reads only that
value's events; with a step's attribution the event that fills that step must have the value).

- first_touch (PostHog's default) and last_touch: the value of the person's earliest (latest)
  in-range step event whose value is not empty (for several breakdowns: not every part empty);
  a person without one is under the empty value.
- all_events: every value among the person's step events, each its own funnel of the events
  with that value; a person can count under several.
- step: every value among the person's events of that step, each a funnel whose event at that
  step has the value; a person who never did that step's event is under none.

Several breakdowns (PostHog's `breakdowns`, at most 3) make a value a tuple: funnel_events.sql
joins the parts with SEPARATOR and they are split here again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import UsageError

if TYPE_CHECKING:
    import duckdb

ATTRIBUTIONS = ("first_touch", "last_touch", "all_events", "step")
# posthog/hogql/constants.py BREAKDOWN_VALUES_LIMIT, the funnels' `get_breakdown_limit` default
DEFAULT_LIMIT = 25
MAX_BREAKDOWNS = 3  # posthog/schema.py BreakdownFilter.breakdowns (max_length 3)
OTHER = "Other"  # funnel_udf.py `get_query`: the values past the limit
SEPARATOR = "\x1f"  # joins a tuple's parts in the facts' `breakdown` column
_PSEUDO = "\x1e"  # joins a person and a value into one person of a value's own funnel
METADATA = frozenset({"distinct_id"})  # PostHog's breakdown_type event_metadata


@dataclass(frozen=True)
class Breakdown:
    """What `--by` (repeatable), `--breakdown-attribution`, `--breakdown-attribution-step` and
    `--breakdown-limit` ask: `parts` each (kind, name), kind "event", "person" or "metadata"."""

    texts: tuple[str, ...]
    parts: tuple[tuple[str, str], ...]
    attribution: str = "first_touch"
    step: int | None = None  # with "step": the step (from 1) whose event carries the value
    limit: int = DEFAULT_LIMIT

    @property
    def label(self) -> str:
        return " / ".join(self.texts)

    def params(self) -> dict[str, Any]:
        """funnel_events.sql's breakdown parameters."""
        out: dict[str, Any] = {"by_sep": SEPARATOR}
        for i, slot in enumerate(("by", "by2", "by3")):
            kind, name = self.parts[i] if i < len(self.parts) else ("event", "")
            out[slot], out[f"{slot}_of"] = name, kind
        return out

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "breakdown_property": self.texts[0] if len(self.texts) == 1 else list(self.texts),
            "breakdown_attribution": self.attribution,
        }
        if self.step is not None:
            doc["breakdown_attribution_step"] = self.step
        doc["breakdown_limit"] = self.limit
        return doc


def no_params() -> dict[str, Any]:
    """funnel_events.sql's breakdown parameters for a funnel without --by."""
    return {"by_sep": SEPARATOR, "by_of": "event", "by2": "", "by2_of": "event", "by3": "",
            "by3_of": "event"}  # fmt: skip


def part_of(text: str) -> tuple[str, str]:
    """One `--by`: `person.properties.X` a person property, `distinct_id` the event's
    distinct_id, `properties.X` or any other name an event property."""
    text = text.strip()
    if not text:
        raise UsageError("--by: an empty property name")
    if text.startswith("person.properties.") and text != "person.properties.":
        return "person", text.removeprefix("person.properties.")
    if text in METADATA:
        return "metadata", text
    if text.startswith("properties.") and text != "properties.":
        return "event", text.removeprefix("properties.")
    return "event", text


def check(
    texts: Sequence[str] | str | None,
    attribution: str | None,
    step: int | None,
    limit: int | None,
    steps: Sequence[str],
    order: str,
) -> Breakdown | None:
    """The breakdown the options ask, each checked (a UsageError, exit 2, names the option)."""
    if isinstance(texts, str):
        texts = [texts]
    given = [t for t in texts or ()]
    if attribution is not None and attribution not in ATTRIBUTIONS:
        raise UsageError(
            f"--breakdown-attribution {attribution!r}: one of {', '.join(ATTRIBUTIONS)}"
        )
    if limit is not None and limit < 1:
        raise UsageError(f"--breakdown-limit {limit}: at least 1")
    if not given:
        for option, asked in (("--breakdown-attribution", attribution),
                              ("--breakdown-attribution-step", step),
                              ("--breakdown-limit", limit)):  # fmt: skip
            if asked is not None:
                raise UsageError(f"{option} needs --by PROPERTY")
        return None
    if len(given) > MAX_BREAKDOWNS:
        raise UsageError(f"--by: at most {MAX_BREAKDOWNS} breakdowns, not {len(given)}")
    chosen = attribution or "first_touch"
    if chosen == "step":
        if step is None:
            raise UsageError("--breakdown-attribution step needs --breakdown-attribution-step N")
        if not 1 <= step <= len(steps):
            raise UsageError(
                f"--breakdown-attribution-step {step}: a step of this funnel, 1-{len(steps)}"
            )
        if order == "any":
            # funnel_udf.py `get_query`: "Only the first step can be used for breakdown
            # attribution in unordered funnels"; which event is which step is not fixed there.
            raise UsageError("--breakdown-attribution step does not go with --order any")
    elif step is not None:
        raise UsageError("--breakdown-attribution-step needs --breakdown-attribution step")
    parts = tuple(part_of(t) for t in given)
    if len(set(parts)) < len(parts):
        raise UsageError("--by: the same breakdown twice")
    return Breakdown(tuple(t.strip() for t in given), parts, chosen,
                     step if chosen == "step" else None,
                     DEFAULT_LIMIT if limit is None else limit)  # fmt: skip


def split(value: str, n: int) -> list[str]:
    """A value's parts (n of them)."""
    parts = value.split(SEPARATOR, n - 1) if n > 1 else [value]
    return parts + [""] * (n - len(parts))


def shown(value: str, n: int, other: bool = False, empty: str = "(none)") -> str:
    """A value for people: its parts joined by ' / ', an empty one as `empty`; 'Other'."""
    if other:
        return OTHER
    return " / ".join(p if p else empty for p in split(value, n))


def documented(value: str, n: int, other: bool = False) -> str | list[str]:
    """A value as JSON gives it: the text for one breakdown, the list of parts for several."""
    if other:
        return OTHER if n == 1 else [OTHER]
    return value if n == 1 else split(value, n)


def attributed(
    con: duckdb.DuckDBPyConnection,
    spec: Breakdown,
    step_event: str | None,
    progress_of: Callable[[duckdb.DuckDBPyConnection], None],
) -> None:
    """`_bd`: progress's rows, each with the `value` it counts under (a person's several rows
    with all_events or a step's attribution, one per value, each from that value's funnel:
    `progress_of` makes `progress` from a connection's `facts`; `step_event`: the event of the
    attribution's step)."""
    n = len(spec.parts)
    empty = SEPARATOR * (n - 1)
    if spec.attribution in ("first_touch", "last_touch"):
        pick = "arg_min" if spec.attribution == "first_touch" else "arg_max"
        con.execute(
            f"""
            CREATE TEMP TABLE _bd AS
            SELECT p.*, coalesce(t.value, $empty) AS value
            FROM progress p
            LEFT JOIN (SELECT person_id, {pick}(breakdown, timestamp) AS value
                       FROM facts WHERE replace(breakdown, $sep, '') <> ''
                       GROUP BY person_id) t
                USING (person_id)
            """,
            {"empty": empty, "sep": SEPARATOR},
        )
        return
    from usertrack.analytics.common import facts_connection
    from usertrack.checks.sandbox import release

    if spec.attribution == "all_events":
        rows = con.sql(
            "SELECT person_id || $mark || breakdown AS person_id, timestamp, event, breakdown,"
            " email FROM facts WHERE person_id IS NOT NULL",
            params={"mark": _PSEUDO},
        ).to_arrow_table()
    else:
        assert step_event is not None
        event = step_event
        rows = con.sql(
            """
            SELECT f.person_id || $mark || v.value AS person_id, f.timestamp, f.event,
                   f.breakdown, f.email
            FROM facts f
            JOIN (SELECT DISTINCT person_id, breakdown AS value FROM facts
                  WHERE event = $event) v USING (person_id)
            WHERE f.event IS DISTINCT FROM $event OR f.breakdown = v.value
            """,
            params={"mark": _PSEUDO, "event": event},
        ).to_arrow_table()
    own = facts_connection()
    try:
        own.register("_rows", rows)
        own.execute("CREATE TABLE facts AS SELECT * FROM _rows")
        own.unregister("_rows")
        progress_of(own)
        split_rows = own.sql(
            "SELECT * EXCLUDE (person_id), split_part(person_id, $mark, 1) AS person_id,"
            " person_id[strpos(person_id, $mark) + 1:] AS value FROM progress",
            params={"mark": _PSEUDO},
        ).to_arrow_table()
    finally:
        release(own)
    con.register("_bd_in", split_rows)
    con.execute("CREATE TEMP TABLE _bd AS SELECT * FROM _bd_in")
    con.unregister("_bd_in")


def ordered_values(con: duckdb.DuckDBPyConnection, n_steps: int, limit: int
                   ) -> tuple[list[str], bool]:  # fmt: skip
    """`_bd`'s values as funnel_udf.py `get_query` orders them (by the last step's count, then
    the one before, ...; then the value, where PostHog leaves ties unordered), the first
    `limit` of them, and whether others are left (PostHog's 'Other')."""
    counts = ", ".join(
        f"count(*) FILTER (WHERE furthest >= {i}) DESC" for i in range(n_steps, 0, -1)
    )
    values = [
        r[0]
        for r in con.execute(
            f"SELECT value FROM _bd GROUP BY value ORDER BY {counts}, value"
        ).fetchall()
    ]
    return values[:limit], len(values) > limit


def broken_down(
    con: duckdb.DuckDBPyConnection,
    spec: Breakdown,
    n_steps: int,
    step_event: str | None,
    progress_of: Callable[[duckdb.DuckDBPyConnection], None],
    steps_of: Callable[[str, list[Any]], Any],
) -> tuple[list[tuple[str, Any]], bool]:
    """Each value and its steps (`steps_of` a condition on `_bd` and its values), the first
    --breakdown-limit of them and then, when more are left, theirs as one (PostHog's Other,
    its value ''), and whether that one is there."""
    attributed(con, spec, step_event, progress_of)
    kept, more = ordered_values(con, n_steps, spec.limit)
    out = [(value, steps_of("value = ?", [value])) for value in kept]
    if more:
        out.append(("", steps_of("value NOT IN (SELECT unnest(?))", [kept])))
    return out, more
