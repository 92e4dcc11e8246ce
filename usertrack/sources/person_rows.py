"""A group of persons kept by the rows of a person-keyed facts query (`--by-segment`).

Below the workspace and the analytics, which both name it: the workspace holds the group a
command runs for (usertrack.analytics.by_segment sets it), the analytics keep its rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from usertrack.sources.base import Result


@dataclass(frozen=True)
class PersonRows:
    """A group of persons kept by the rows of a person-keyed facts query, after it ran over
    everyone (usertrack.analytics.by_segment): the same rows a HogQL filter of the group's
    persons in the query's `{filters}` slot would give, `has(ids, toString(person_id))`, or
    `NOT has(...)` with `negate`. A row without a person is in no group (has() of NULL is NULL,
    and so is its NOT), unless `everyone`: every row (the whole answer, or "no account" when no
    person has an account: the slot's `true`)."""

    ids: frozenset[str] = frozenset()
    negate: bool = False
    everyone: bool = False

    def kept(self, result: Result) -> Result:
        """`result` with only this group's rows (its `person_id` column)."""
        if self.everyone:
            return result
        from dataclasses import replace

        if result.arrow is not None:
            import pyarrow as pa
            import pyarrow.compute as pc

            column = result.arrow["person_id"]
            if not pa.types.is_string(column.type):
                column = column.cast(pa.string())
            inside = pc.is_in(column, value_set=pa.array(sorted(self.ids), pa.string()))
            mask = pc.and_(pc.invert(inside) if self.negate else inside, pc.is_valid(column))
            return replace(result, arrow=result.arrow.filter(mask))
        at = result.columns.index("person_id")
        ids, negate = self.ids, self.negate
        rows = [
            row for row in result.rows if row[at] is not None and (str(row[at]) in ids) != negate
        ]
        return replace(result, rows=rows)
