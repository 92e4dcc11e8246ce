"""The one interface every data source implements: run a named query with parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from usertrack.queries import Query


@dataclass(frozen=True)
class Result:
    """Columns and rows of one query's answer. Rows are tuples in column order."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    # Free-form facts about how the rows were obtained (pages fetched, cache hit, ...).
    meta: dict[str, Any] = field(default_factory=dict)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@runtime_checkable
class Source(Protocol):
    """A place queries run.

    `kind` is the folder of queries/ this source runs ("posthog" or "neon"); `dialect` is the
    language of those files ("hogql" or "postgres"). `run` binds `params` as values, never as text,
    and wraps every driver exception in a `usertrack.errors.UsertrackError` naming the query.
    """

    kind: str
    dialect: str
    description: (
        str  # one line for humans, with no secrets: "demo PostgreSQL", "PostHog us.posthog.com"
    )

    def run(self, query: Query, params: Mapping[str, Any]) -> Result: ...

    def close(self) -> None: ...
