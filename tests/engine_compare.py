"""Comparing the rows of two engines: the canonical form the differential tests compare."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from usertrack.queries.library import Query, coerce_default

_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def canon(value: Any) -> Any:
    if isinstance(value, str) and _ISO.fullmatch(value):
        # a datetime inside an array: PostHog's JSON gives it as ISO text (usertrack casts it)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    if isinstance(value, float) and value.is_integer():
        return value  # 53.0 stays a float: a number typed Float64 is a float on PostHog
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [canon(v) for v in value]
    return value


def ordered(query: Query) -> bool:
    """Whether the query's outermost SELECT has an ORDER BY (its row order is then part of it)."""
    body = query.sql.rstrip().rstrip(";")
    tail = body[body.rfind(")") + 1 :] if ")" in body else body
    return "ORDER BY" in tail.upper()


# Facts queries that answer a row per person (or session) with arrays, which usertrack unnests
# (usertrack/analytics/common.py `unnested`): the arrays' order is groupArray's, undefined on
# ClickHouse, so they are compared as the rows they unnest into.
PACKED = {
    "posthog/activity_days",
    "posthog/activity_person_hours",
    "posthog/retention_activity",
    "posthog/churn_periods",
    "posthog/funnel_events",
    "posthog/correlation_events",
    "posthog/path_events",
    "posthog/session_facts",
    "posthog/trends_persons",
    "posthog/trends_person_points",
    "posthog/feature_person_facts",
    "posthog/person_distinct_ids",  # pairs (person_id, distinct_id) per email
}


# A histogram breakdown's buckets (trends/histogram.py) of template_id, 7.5 to 53, in two.
HISTOGRAM = {"edges": [7.5, 30.25, 53.01], "buckets": ["", "[7.5,30.25]", "[30.25,53.01]", ""]}


# More values some files are compared with, each after the defaults (facts_params): the trends
# files on an event with a numeric property (the edge store's run_started: template_id 53 and
# 7.5), and the per-person trends rows split by that value (median, p90).
VARIANTS: dict[str, list[dict[str, Any]]] = {
    # every event by its name, and every person seen since the epoch (--event, --all-users)
    "posthog/feature_person_facts": [{"by": "event", "seen_since": datetime(1970, 1, 1)}],
    # a funnel broken down by three breakdowns: an event's property, the person's and the
    # event's distinct_id (PostHog's breakdown types event, person and event_metadata)
    "posthog/funnel_events": [
        {"by2": "email", "by2_of": "person", "by3": "distinct_id", "by3_of": "metadata"}
    ],
    # unique_session's sessions, and the count-per-actor maths, on an event with sessions
    # and weeks from Sunday (--week-start sunday)
    "posthog/trends_counts": [
        {"event": "run_started"},
        {"event": "$pageview", "sessions": 1},
        {"event": "$pageview", "interval": "week", "week_start": "sunday"},
        {"event": "run_started", "by": "template_id", **HISTOGRAM},
    ],
    "posthog/trends_actor_counts": [
        {"event": "$pageview"},
        {"event": "run_started", "by": "template_name", "values": ["a"], "interval": "week"},
        {"event": "$pageview", "by": "email", "by_of": "person", "values": ["tab@edge.io"]},
        {"event": "run_started", "by": "template_id", **HISTOGRAM},
    ],
    "posthog/trends_persons": [{"event": "run_started", "by": "template_id", **HISTOGRAM}],
    # the ends of a histogram breakdown (--histogram-bins): an event's and a person's property
    "posthog/trends_histogram": [
        {"event": "run_started", "by": "template_id"},
        {"event": "$pageview", "by": "email", "by_of": "person"},
    ],
    # and broken down by the person's email (PostHog's person breakdown)
    "posthog/trends_breakdown": [
        {"event": "run_started", "by": "template_name"},
        {"event": "run_started", "by": "email", "by_of": "person"},
    ],
    # the per-user files kept to a cell's people (`--persons`: usertrack.segments.some)
    **{
        f"posthog/{name}": [
            {"segment_only": True, "segment_emails": ["tab@edge.io", "jane.doe@acme.io", "x@y.z"]},
            {"segment_only": True, "segment_emails": []},
        ]
        for name in ("activity", "mcp_clicks", "ux_issues")
    },
    # churn's signals counted on events the edge store has (it has no cancellation_started)
    "posthog/churn_signals": [{"signals": ["$pageview", "run_started"]}],
    "posthog/trends_person_points": [
        {"event": "run_started"},
        {"event": "run_started", "quantiles": 1},
        {"event": "run_started", "by": "template_name", "quantiles": 1},
        {"event": "run_started", "by": "email", "by_of": "person"},
    ],
}


def unpacked(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for row in rows:
        lists = [i for i, v in enumerate(row) if isinstance(v, list | tuple)]
        lengths = {len(row[i]) for i in lists}
        assert len(lengths) <= 1, f"arrays of different lengths in one row: {row}"
        for n in range(lengths.pop() if lengths else 1):
            out.append(tuple(v[n] if i in lists else v for i, v in enumerate(row)))
    return out


def rows_of(rows: list[tuple[Any, ...]], in_order: bool, packed: bool = False) -> list[str]:
    """The rows as comparable texts: sorted unless `in_order`, unnested when `packed`."""
    if packed:
        rows, in_order = unpacked(rows), False
    out = [json.dumps(canon(list(r)), sort_keys=True, default=str) for r in rows]
    return out if in_order else sorted(out)


# Fields of a command's JSON only the live path has (links into PostHog), that name the source
# (a report's `workspace` and `demo`) or count what was sent to it (a report's `queries`).
LIVE_ONLY = {"posthog_url", "source", "sources", "workspace", "demo", "queries"}


def strip_live_only(doc: Any) -> Any:
    """A command's JSON document without the fields only the live path has."""
    if isinstance(doc, dict):
        return {k: strip_live_only(v) for k, v in doc.items() if k not in LIVE_ONLY}
    if isinstance(doc, list):
        return [strip_live_only(v) for v in doc]
    return doc


def facts_params(
    query: Query, as_of: datetime, *, email: str, plan: Mapping[str, Any]
) -> dict[str, Any]:
    """Values for every parameter of a shipped HogQL file: its header defaults as usertrack binds
    them (`30` is a number: ClickHouse would refuse `2 * '30'`), `as_of`, one person's `email`,
    the last month for the alerts' lookback, the tracking plan's lists (`plan`: events,
    event_keys, event_enum_keys, keys) and the analytics' range, steps (the plan's first two
    events) and period."""
    params: dict[str, Any] = {
        p.name: coerce_default(p.default) if p.default else p.default for p in query.params
    }
    params["as_of"] = as_of
    if "email" in params:
        params["email"] = email
    if "lookback_minutes" in params:
        params["lookback_minutes"] = 30 * 24 * 60
    given = {
        **plan,
        "since": as_of - timedelta(days=60),
        # A range ends before `until`; the queries stop at as_of too (inclusive): an event at
        # as_of itself is in.
        "until": as_of + timedelta(days=1),
        "steps": list(plan["events"][:2]),
        "by": "$pathname",
        "by2": "",
        "by3": "",
        "period": "week",
        "mode": "first-time",
        "first_day": as_of - timedelta(days=30),
        "first_week": as_of - timedelta(days=56),
        "start_event": "$pageview",
        "return_event": "",
        "start_property": "",
        "start_value": "",
        "return_property": "",
        "return_value": "",
        "week_start": "monday",
        "min_occurrences": 1,
        "cumulative": 0,
        "path_from": "",
        "path_to": "",
        "split": as_of - timedelta(days=30),
        "then": as_of - timedelta(days=28),
        "then_since": as_of - timedelta(days=58),
        "seen_since": as_of - timedelta(days=90),
        "event": plan["events"][0],
        "feature": "agent_builder",  # feature_persons: one of the demo's features
        "values": ["/settings"],
        "property": "template_id",
        "signals": ["cancellation_started", "account_deleted"],
        "prefixes": [["/"], ["/", "/pricing"]],  # path_prefixes: prefixes of paths, as arrays
    }
    params.update({k: v for k, v in given.items() if k in params and params[k] is None})
    return params
