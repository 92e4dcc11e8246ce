"""Query files checked against the user's PostHog without running them.

PostHog validates HogQL the way its SQL editor does, through the query kind `HogQLMetadata`
(posthog/hogql/metadata.py): it parses the text, resolves every name and prints the query for
ClickHouse, and answers PostHog's own errors ("Unsupported function call ...", "Cannot access
property ... when a column alias shadows a table field", ...). It takes no `values`, so every
HogQL file of the library, shipped or the user's own, is sent as a run would build it: its
`{filters}` slot `true`, its parameters' defaults printed in as constants (`now` is the moment of
the check, a parameter without a default the empty string; usertrack.engines.hogql.bound). A
file PostHog would refuse is so named before a command needs it. Used by `usertrack doctor` and
`usertrack query --check`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from usertrack.core.clock import now_utc


@dataclass(frozen=True)
class Refusal:
    """A query file PostHog refuses: its id, its path and PostHog's message."""

    query_id: str
    path: str
    message: str

    def line(self) -> str:
        return f"{self.path}: {self.message}"


def checked_files(library: Any, query_id: str | None = None) -> list[Any]:
    """The HogQL files to check: one by id, or every file of the library's posthog/ folder (a
    saved insight without HogQL has nothing to check)."""
    if query_id is not None:
        from usertrack.core.errors import NotFoundError, UsageError
        from usertrack.queries.library import did_you_mean_query

        if query_id not in library.queries:
            names = [q for q, v in library.queries.items() if v.folder == "posthog"]
            raise NotFoundError(
                f"no query named {query_id!r} in {library.root}"
                f"{did_you_mean_query(query_id, names)}",
                hint="`usertrack query --list` shows the queries",
                data={},  # the library's names: the files of the person who runs usertrack
            )
        query = library.get(query_id)
        if query.folder != "posthog":
            raise UsageError(f"--check checks HogQL files; {query_id} is not one (posthog/...)")
        return [query] if query.sql.strip() else []
    return [q for q in library.in_folder("posthog") if q.sql.strip()]


def default_params(query: Any, as_of: Any) -> dict[str, Any]:
    """A file's parameters as its header gives them: `now` the check's moment, `exclude_pattern`
    the segments file's default, a parameter without a default ''."""
    from usertrack.queries.library import coerce_default
    from usertrack.segments.profiles import exclude_pattern

    values: dict[str, Any] = {}
    for p in query.params:
        if p.name == "exclude_pattern":
            values[p.name] = exclude_pattern([])
        elif p.default is None:
            values[p.name] = ""
        elif p.default == "now":
            values[p.name] = as_of
        else:
            values[p.name] = coerce_default(p.default)
    return values


def check_query_files(
    source: Any,
    queries: Iterable[Any],
    *,
    progress: Callable[[str], None] | None = None,
) -> list[Refusal]:
    """Each file PostHog refuses, with PostHog's first message; [] when it accepts them all."""
    from concurrent.futures import ThreadPoolExecutor

    from usertrack.engines.hogql.bound import parsed
    from usertrack.engines.posthog.values import strip_sql

    queries = list(queries)

    def read(query: Any) -> None:
        with contextlib.suppress(Exception):  # check_hogql tells what is wrong, in order
            parsed(strip_sql(query.filled(None).sql))

    # Each text is read by PostHog's own parser and printed before it is sent (up to seconds a
    # file; the parser lets other threads run meanwhile): read them side by side first.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(read, queries))
    as_of = now_utc()
    refusals = []
    for query in queries:
        if progress is not None:
            progress(f"checking {query.id} with PostHog")
        messages = source.check_hogql(query, default_params(query, as_of))
        if messages:
            refusals.append(Refusal(query.id, str(query.path), messages[0]))
    return refusals
