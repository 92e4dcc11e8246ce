"""Product analytics over PostHog events: funnels, retention and the analyses built on them.

Each analysis is a HogQL "facts" query file (compact per-person rows, run on whichever PostHog
source the workspace has: the demo, an events export or the live HTTP API) plus logic that runs
in a sandboxed DuckDB connection over those facts. Each analysis is a package (funnel,
retention, activity, features, trends, sessions, paths, churn, actors): `run` works it out,
`render` writes it as JSON, csv and Markdown, `view` draws it in the terminal. The modules here
hold what they share: `common` (periods, windows, date ranges, loading facts, the output
document), `answers`, `where`, `by_segment`, `by_account`, `kept_people`, `names`, ...
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
