"""The range a trend counts and the previous period it compares with, as PostHog's trends insight
bounds them (posthog/hogql_queries/utils/query_date_range.py, `QueryDateRange`; the previous
period: query_previous_period_date_range.py and posthog/utils.py, `get_compare_period_dates`).

A range's start or end given as a DATE (or left to --days and the moment) is PostHog's date range
without `explicitDate`; one given as a DATETIME, or by --days before a --until DATETIME
(`DateRange.exact_start` / `exact_end`), is used as given, as PostHog uses an explicit date.

- The start counted (`date_from`, then `date_from_with_adjusted_start_of_interval` where
  `use_start_of_interval()` holds): 00:00 of the start's day (`relative_date_parse(...,
  always_truncate=True)`: a --days range, PostHog's relative `-Nd`, too), then the start of its
  month for a month interval (hour, day and week: that day; a week's never its Monday).
- The end: the current period ends where the range does, never past the moment (usertrack's
  --as-of: nothing after it exists). Only the previous period's length uses PostHog's
  `date_to`, which runs to the end of the last day (23:59:59.999999) for a day, week or month
  interval, and to the end of the last hour for an hour interval.
- The previous period (`get_compare_period_dates`): from `date_from - (date_to - date_from)`,
  at `date_from`'s time of day, for as long as the current one, ending at `date_to`'s time of
  day (hour: minute); its start is rounded as the current one's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from usertrack.analytics.common import DateRange

_TICK = timedelta(microseconds=1)


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _date_from(span: DateRange) -> datetime:
    """PostHog's `date_from`: a DATETIME as given, else 00:00 of the start's day."""
    return span.start if span.exact_start else _day(span.start)


def _rounded(moment: datetime, span: DateRange, interval: str) -> datetime:
    """`date_from_with_adjusted_start_of_interval`, where `use_start_of_interval()` holds."""
    if span.exact_start:
        return moment
    if interval == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    if interval == "month":
        return _day(moment).replace(day=1)
    return _day(moment)  # day, and week (toStartOfInterval(date_from, toIntervalDay(1)))


def _date_to(span: DateRange, interval: str) -> datetime:
    """PostHog's `date_to` (inclusive): the range's last instant, to the end of its day (hour
    interval: of its hour) unless given as a DATETIME."""
    last = span.last
    if span.exact_end:
        return last
    if interval == "hour":
        return last.replace(minute=59, second=59, microsecond=999999)
    return last.replace(hour=23, minute=59, second=59, microsecond=999999)


def _at(moment: datetime, of: datetime, hour: bool = True) -> datetime:
    """`moment` at `of`'s time of day (`hour` False: at its minute, second and microsecond)."""
    if hour:
        moment = moment.replace(hour=of.hour)
    return moment.replace(minute=of.minute, second=of.second, microsecond=of.microsecond)


def counted(span: DateRange, interval: str) -> DateRange:
    """The range a trend of `interval` counts: from the start PostHog counts from (its
    interval's start unless given as a DATETIME) to the range's end."""
    start = _rounded(_date_from(span), span, interval)
    return DateRange(start, span.end, exact_start=span.exact_start, exact_end=span.exact_end)


def previous(span: DateRange, interval: str) -> DateRange:
    """`--compare`'s period before `span` (the range as given, not `counted`), as PostHog's
    `get_compare_period_dates` places it, its start rounded as the current period's."""
    date_from, date_to = _date_from(span), _date_to(span, interval)
    diff = date_to - date_from
    new_from = _at(date_from - diff, date_from)
    new_to = _at(new_from + diff, date_to, hour=interval != "hour")
    if new_to >= date_from:  # PostHog's would overlap the range (under a day by hour)
        return DateRange(span.start - (span.end - span.start), span.start, span.exact_start, True)
    start = _rounded(new_from, span, interval)
    return DateRange(start, new_to + _TICK, exact_start=span.exact_start, exact_end=True)
