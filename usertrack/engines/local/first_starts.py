"""First-time retention's first starts (queries/posthog/retention_first_starts.sql) worked out
once per moment on the local engine, for every cohort span asked.

The file gives each person's first start event ever, up to as_of, for the persons whose first
one is from `since` on: a grouping of every start event of the store (5.35 M events read at
100,000 users), whatever `since`. The weekly dashboard asks it twice, for the weekly cohorts'
span and the daily ones', with the same moment, event and exclusion pattern. So, for the file as
shipped (`SHORTCUT`, usertrack.engines.shortcut: no `--where`, no `--who` or `--segment`, which
run it for everyone and keep the group's rows), every person's first start up to as_of is
worked out once
(`_EVERYONE`) and each span's rows are those of it from `since` on: the same rows. The latest
answer alone is kept, with the connection that read it: an events store opened anew (changed)
is read anew. Only where pyarrow is loaded already (a dashboard's run), as the answer is kept as
Arrow. On PostHog the file runs as written.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from usertrack.engines.shortcut import Shortcut

if TYPE_CHECKING:
    import duckdb

_AS_OF = "CAST(CAST($as_of AS TIMESTAMPTZ) AS TIMESTAMP)"
_EVERYONE = f"""
SELECT
    person_id,
    min(timestamp) AS first_start
FROM events
WHERE ($start_event = '' OR event IS NOT DISTINCT FROM $start_event)
  AND timestamp <= {_AS_OF}
  AND NOT regexp_matches(coalesce(person_email_norm, ''), $exclude_pattern)
  AND true
GROUP BY person_id
"""
# retention_first_starts.sql's rows from `since` on, of _EVERYONE's (FirstStarts.into).
SHORTCUT = Shortcut(
    "posthog/retention_first_starts",
    "abeb135e385d73c8542493a140fd0b706e06412a4806bbb3c2d93ce4cf7b3963",
    "first_starts",
    _EVERYONE,
    # every start event counts: none narrowed to a property's value (EVENT:PROPERTY=VALUE)
    when=lambda values: not values.get("start_property"),
)
_FROM_SINCE = (
    'CREATE TEMP TABLE "{table}" AS SELECT person_id, first_start FROM "{kept}"'
    " WHERE first_start >= CAST(CAST($since AS TIMESTAMPTZ) AS TIMESTAMP)"
)


class FirstStarts:
    """A local source's latest answer of `_EVERYONE`, by its values, with the connection it
    read: one only, as a source kept open (the MCP server's) asks at every new moment."""

    def __init__(self) -> None:
        self._kept: dict[tuple[Any, ...], tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def into(
        self,
        con: duckdb.DuckDBPyConnection,
        cur: duckdb.DuckDBPyConnection,
        values: Mapping[str, Any],
        table: str,
    ) -> None:
        """The file's rows with `values` as the temporary table `table` of `cur` (a cursor of
        `con`, the source's connection): every person's first start, worked out once, from
        `since` on."""
        key = tuple(repr(values[name]) for name in ("as_of", "start_event", "exclude_pattern"))
        with self._lock:  # a second panel asking meanwhile waits for the first one's answer
            found = self._kept.get(key)
            if found is None or found[0] is not con:
                everyone = {k: values[k] for k in ("as_of", "start_event", "exclude_pattern")}
                found = (con, cur.sql(_EVERYONE, params=everyone).to_arrow_table())
                self._kept = {key: found}
        kept = f"_everyones_{table}"
        cur.register(kept, found[1])
        try:
            cur.execute(_FROM_SINCE.format(table=table, kept=kept), {"since": values["since"]})
        finally:
            cur.unregister(kept)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
