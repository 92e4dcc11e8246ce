"""tracking-plan.yaml, and the audit: is the data the segments stand on actually being sent?

A PostHog tracking plan is a tiered event taxonomy, the properties each event must
carry, the person properties to enrich, naming conventions and a coverage figure ("about 60 % of
critical flows today, 95 % as the target"). `usertrack tracking-plan` measures such a plan
against the events of the last N days:

- coverage: the share of planned events seen, overall and per tier;
- per planned event: volume, people, first and last seen, the trend against the previous period
  of the same length, and per property its fill rate, type mismatches and values outside the
  allowed set;
- missing (never seen in either period) and stopped (seen in the previous period, not this one);
- unplanned events by volume, each with its closest planned name (a likely typo or rename), and
  those that break the naming convention;
- person properties: fill rate among identified persons;
- identification: events from identified persons (the person has an email: the definition
  usertrack joins on), persons with several distinct_ids, events from internal accounts.

Everything is read with the query files `posthog/plan_*` (one row per event, per event x
property, per property: never per event row), on live PostHog, an events export or the demo alike.
Planned names and keys are bound as array values; the comparison with the plan is done here.
"""

from __future__ import annotations

from usertrack.audit.audit_files import CSV_COLUMNS, audit_csv, audit_json, audit_markdown
from usertrack.audit.audit_run import (
    BLANK,
    Audit,
    event_periods,
    fmt_count,
    fmt_pct,
    fmt_time,
    fmt_trend,
    problems,
    property_figures,
    run_audit,
)
from usertrack.audit.plan_draft import draft_plan, write_new
from usertrack.audit.plan_file import (
    EventSpec,
    PropertySpec,
    TrackingPlan,
    TrackingPlanError,
    closest_planned,
    load_tracking_plan,
    normalise_name,
)

__all__ = [
    "BLANK",
    "CSV_COLUMNS",
    "Audit",
    "EventSpec",
    "PropertySpec",
    "TrackingPlan",
    "TrackingPlanError",
    "audit_csv",
    "audit_json",
    "audit_markdown",
    "closest_planned",
    "draft_plan",
    "event_periods",
    "fmt_count",
    "fmt_pct",
    "fmt_time",
    "fmt_trend",
    "load_tracking_plan",
    "normalise_name",
    "problems",
    "property_figures",
    "run_audit",
    "write_new",
]
