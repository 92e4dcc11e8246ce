"""A group of persons kept by the rows of a person-keyed facts query (`--by-segment`).

Below the workspace and the analytics, which both name it: the workspace holds the group a
command runs for (usertrack.analytics.by_segment sets it), the analytics keep its rows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from usertrack.engines.base import Result


class GroupNumbers:
    """Every row's group, worked out once per Arrow table for all the groups of one
    --by-segment run: the groups are numbered, each known person id has its group's number,
    and a table's `person_id` column is looked up once (a hash lookup of every row), not once
    per group; a group then keeps the rows of its number (a comparison of small integers)."""

    def __init__(self, persons: dict[str, int]) -> None:
        import pyarrow as pa

        self._init(
            pa.array(list(persons), pa.string()), pa.array(list(persons.values()), pa.int32())
        )

    @classmethod
    def of_arrays(cls, ids: Any, numbers: Any) -> GroupNumbers:
        """From two Arrow arrays of the same length: person ids (text, each once, none null)
        and their group numbers (int32)."""
        made = cls.__new__(cls)
        made._init(ids, numbers)
        return made

    def _init(self, ids: Any, numbers: Any) -> None:
        self.ids = ids
        self.numbers = numbers
        self._lock = threading.Lock()
        self._seen: dict[int, tuple[Any, Any]] = {}  # id(table) -> (table, numbers)
        self._lookup: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def ids_of(self, number: int | None = None) -> list[str]:
        """The ids numbered `number` (None: every id), sorted."""
        from pyarrow._compute import call_function  # not pyarrow.compute's import (40 ms)

        ids = self.ids
        if number is not None:
            ids = call_function("filter", [ids, call_function("equal", [self.numbers, number])])
        return sorted(set(ids.to_pylist()))

    def lookup(self) -> dict[str, int]:
        """id -> number, as a dict (for rows that are Python tuples), made once."""
        with self._lock:
            if self._lookup is None:
                self._lookup = dict(
                    zip(self.ids.to_pylist(), self.numbers.to_pylist(), strict=True)
                )
            return self._lookup

    def of(self, table: Any) -> Any:
        """The group number of each row of `table` (null: no known person, or none)."""
        with self._lock:
            seen = self._seen.get(id(table))
            if seen is not None and seen[0] is table:
                return seen[1]
        import pyarrow as pa
        import pyarrow.compute as pc

        column = table["person_id"]
        if not pa.types.is_string(column.type):
            column = column.cast(pa.string())
        numbers = pc.take(self.numbers, pc.index_in(column, value_set=self.ids))
        with self._lock:
            self._seen[id(table)] = (table, numbers)  # the table held: its id is not reused
        return numbers


@dataclass(frozen=True)
class PersonRows:
    """A group of persons kept by the rows of a person-keyed facts query, after it ran over
    everyone (usertrack.analytics.by_segment): the same rows a HogQL filter of the group's
    persons in the query's `{filters}` slot would give, `has(ids, toString(person_id))`, or
    `NOT has(...)` with `negate`. A row without a person is in no group (has() of NULL is NULL,
    and so is its NOT), unless `everyone`: every row (the whole answer, or "no account" when no
    person has an account: the slot's `true`).

    With `numbers` (and the group's `number` in it), the rows are kept by the numbers their
    persons have, `ids` unused: the group's persons are those of that number (negated: every
    person numbered); an Arrow table's `person_id` column is looked up once for all groups."""

    ids: frozenset[str] = frozenset()
    negate: bool = False
    everyone: bool = False
    numbers: GroupNumbers | None = field(default=None, compare=False)
    number: int = -1

    def kept(self, result: Result) -> Result:
        """`result` with only this group's rows (its `person_id` column)."""
        if self.everyone:
            return result
        from dataclasses import replace

        if result.arrow is not None:
            return replace(result, arrow=result.arrow.filter(self.mask(result.arrow)))
        at = result.columns.index("person_id")
        negate = self.negate
        if self.numbers is not None:
            lookup, number = self.numbers.lookup(), self.number
            rows = [
                row
                for row in result.rows
                if row[at] is not None
                and ((str(row[at]) not in lookup) if negate else lookup.get(str(row[at])) == number)
            ]
            return replace(result, rows=rows)
        ids = self.ids
        rows = [
            row for row in result.rows if row[at] is not None and (str(row[at]) in ids) != negate
        ]
        return replace(result, rows=rows)

    def mask(self, table: Any) -> Any:
        """Which rows of the Arrow table `table` (its `person_id` column) are this group's: a
        boolean array, never null."""
        import pyarrow as pa
        import pyarrow.compute as pc

        column = table["person_id"]
        if self.everyone:
            return pa.array([True] * table.num_rows, pa.bool_())
        if self.numbers is not None:
            numbers = self.numbers.of(table)
            if self.negate:
                return pc.and_(pc.is_null(numbers), pc.is_valid(column))
            return pc.fill_null(pc.equal(numbers, self.number), False)
        if not pa.types.is_string(column.type):
            column = column.cast(pa.string())
        inside = pc.is_in(column, value_set=pa.array(sorted(self.ids), pa.string()))
        return pc.fill_null(
            pc.and_(pc.invert(inside) if self.negate else inside, pc.is_valid(column)), False
        )
