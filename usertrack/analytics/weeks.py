"""Which day a week starts on (`--week-start`, retention's weekly cohorts and the lifecycle's
weeks): Monday, ISO weeks, usertrack's default, or Sunday.

PostHog takes it from the project's `week_start_day` (posthog/models/team/team.py: null, 0
Sunday or 1 Monday): `date_to_start_of_interval` and `align_with_interval` in
posthog/hogql_queries/utils/query_date_range.py start a week on Sunday unless it is Monday, and
`get_start_of_interval_hogql` truncates with `toStartOfWeek(timestamp, mode)` of
`WeekStartDay(week_start_day or 0)`: a project that never set it has Sunday weeks.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from usertrack.analytics.common import period_start
from usertrack.core.clock import naive_utc
from usertrack.core.errors import UsageError, one_of

MONDAY, SUNDAY = "monday", "sunday"
WEEK_STARTS = (MONDAY, SUNDAY)


def parse_week_start(text: str, option: str = "--week-start") -> str:
    """`monday` or `sunday` (case-insensitive)."""
    return one_of(text, WEEK_STARTS, option)


def start_of(moment: datetime | date, period: str, week_start: str = MONDAY) -> date:
    """The first UTC day of the period holding `moment` (common.period_start), a week's from
    its Sunday when `week_start` is sunday; an hour's first instant, a datetime (PostHog's
    toStartOfHour)."""
    if period == "hour":
        return instant(moment).replace(minute=0, second=0, microsecond=0)
    if period != "week" or week_start == MONDAY:
        return period_start(moment, period)
    day = period_start(moment, "day")
    return day - timedelta(days=(day.weekday() + 1) % 7)


def trunc_sql(expr: str, period: str, week_start: str = MONDAY) -> str:
    """DuckDB: the first day of the period (day, week, month) holding the date or timestamp
    `expr`, as a DATE; a Sunday week's is the Monday week's of the day after, less a day; an
    hour's first instant, as a TIMESTAMP."""
    if period == "hour":
        return f"date_trunc('hour', CAST({expr} AS TIMESTAMP))"
    if period not in ("day", "week", "month"):
        raise UsageError(f"period {period!r} is not one of day, week, month, hour")
    if period == "week" and week_start == SUNDAY:
        return f"CAST(date_trunc('week', CAST({expr} AS DATE) + 1) AS DATE) - 1"
    return f"CAST(date_trunc('{period}', {expr}) AS DATE)"


def instant(moment: datetime | date) -> datetime:
    """A period's start as a naive UTC datetime: a day's at 00:00, an hour's as it is."""
    if isinstance(moment, datetime):
        return naive_utc(moment)
    return datetime.combine(moment, datetime.min.time())


def starting(weeks: list[date]) -> str:
    """The day the weeks of a list (each a week's first day) start on."""
    return SUNDAY if weeks and weeks[0].weekday() == 6 else MONDAY
