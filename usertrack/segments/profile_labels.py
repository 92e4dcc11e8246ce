"""The shipped profile columns as a person reads them: each with its source (the app's database
or PostHog) and its window, as docs/query-files.md defines them, so that `usertrack user EMAIL`
never sets PostHog's last event beside the app's last activity under one word, nor heads
all-time counts with a window they do not have. A column of a user's own profile.sql is written
by `style.human_header`."""

from __future__ import annotations

from usertrack.core import style

LABELS = {
    "created_at": "Created at (app)",
    "credits": "Credits (app, now)",
    "subscription_status": "Subscription status (app, now)",
    "last_active_at": "Last active in the app (now)",
    "run_count": "Runs (app, all time)",
    "runs_completed": "Runs completed (app, all time)",
    "runs_failed": "Runs failed (app, all time)",
    "run_success_rate": "Run success rate (app, all time)",
    "tool_calls": "Tool calls (app, all time)",
    "tool_failures": "Tool failures (app, all time)",
    "mcp_connect_clicks": "MCP connect clicks (PostHog, last 30 days)",
    "mcp_servers": "MCP servers clicked (PostHog, last 30 days)",
    "rage_clicks": "Rage clicks (PostHog, last 7 days)",
    "exceptions": "Exceptions (PostHog, last 7 days)",
    "pageviews": "Pageviews (PostHog, all time)",
    "events_total": "Events (PostHog, all time)",
    "days_since_active": "Days since last event in PostHog",
    "last_seen_at": "Last event in PostHog",
    "in_posthog": "In PostHog",
    "in_neon": "In the app database",
}


def profile_label(column: str) -> str:
    """A profile column's label: its source and window for the shipped ones."""
    return LABELS.get(column) or style.human_header(column)
