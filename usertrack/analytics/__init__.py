"""Product analytics over PostHog events: funnels, retention and the analyses built on them.

Each analysis is a HogQL "facts" query file (compact per-person rows, run on whichever PostHog
source the workspace has: the demo, an events export or the live HTTP API) plus logic that runs
in a sandboxed DuckDB connection over those facts. `usertrack.analytics.common` holds the parts
they share: periods, windows, date ranges, loading facts, and the output document.
"""

from usertrack.analytics.common import (
    PERIODS,
    DateRange,
    date_range,
    facts_connection,
    load_facts,
    next_period,
    parse_period,
    parse_window,
    period_start,
)

__all__ = [
    "PERIODS",
    "DateRange",
    "date_range",
    "facts_connection",
    "load_facts",
    "next_period",
    "parse_period",
    "parse_window",
    "period_start",
]
