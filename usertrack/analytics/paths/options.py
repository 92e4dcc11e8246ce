"""paths' options: --steps, --from/--to as PostHog matches a node, and --type, the kinds of
event that are nodes (PostHog's `includeEventTypes`)."""

from __future__ import annotations

from usertrack.core.errors import UsageError

MAX_STEPS = 20  # PostHog's largest
# The kinds of event that are nodes (PostHog's `includeEventTypes`, posthog/schema.py
# `PathType`: $pageview, $screen, custom_event), each a flag of the query files: page (a
# pageview, by pathname), screen (a $screen, by $screen_name), custom (a custom event, by name).
KINDS = {"page": "pageviews", "screen": "screens", "custom": "custom_events"}
DEFAULT_KINDS = ("page", "custom")


def check_options(steps: int, start: str | None, end: str | None) -> tuple[str | None, str | None]:
    """--steps in 2..20; --from/--to an event name or a pathname, not empty, without one
    trailing slash as the pageviews' nodes are (`node_name`)."""
    if not 2 <= steps <= MAX_STEPS:
        raise UsageError(f"--steps {steps} must be from 2 to {MAX_STEPS}")
    for option, value in (("--from", start), ("--to", end)):
        if value is not None and not value.strip():
            raise UsageError(f"{option} is empty: give an event name or a page's pathname")
    return (node_name(start.strip()) if start else None), (node_name(end.strip()) if end else None)


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """--type: page, screen and custom, comma-separated (kept in that order); None: page and
    custom, as every run before --type."""
    if text is None:
        return DEFAULT_KINDS
    given = {t.strip().lower() for t in text.split(",") if t.strip()}
    if not given:
        raise UsageError(f"--type {text!r} names no kind: give page, screen or custom")
    wrong = sorted(given - set(KINDS))
    if wrong:
        raise UsageError(
            f"--type {text!r}: {wrong[0]!r} is not one of page, screen, custom (comma-separated)"
        )
    return tuple(k for k in KINDS if k in given)


def kind_params(kinds: tuple[str, ...]) -> dict[str, int]:
    """The query files' flags of `kinds` (path_events.sql: 1 keeps that kind of event)."""
    return {flag: int(kind in kinds) for kind, flag in KINDS.items()}


def node_name(point: str) -> str:
    """A --from/--to point as PostHog's paths runner matches it: without one trailing slash
    unless it is the only character (paths_query_runner.py `paths_per_person_query`'s
    target_point), as a pageview's node drops one (path_events.sql)."""
    return point[:-1] if len(point) > 1 and point.endswith("/") else point
