"""The range a trend counts, as PostHog's trends insight bounds it
(posthog/hogql_queries/utils/query_date_range.py, `QueryDateRange`).

A range's start or end given as a DATE (or left to --days and the moment) is PostHog's date range
without `explicitDate`; one given as a DATETIME, or by --days before a --until DATETIME
(`DateRange.exact_start` / `exact_end`), is used as given, as PostHog uses an explicit date.

- The start counted (`date_from`, then `date_from_with_adjusted_start_of_interval` where
  `use_start_of_interval()` holds): 00:00 of the start's day (`relative_date_parse(...,
  always_truncate=True)`: a --days range, PostHog's relative `-Nd`, too), then the start of its
  month for a month interval (hour, day and week: that day; a week's never its Monday).
- The end: where the range ends, never past the moment (usertrack's --as-of: nothing after it
  exists).
"""

from __future__ import annotations

from datetime import datetime

from usertrack.analytics.common import DateRange


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


def counted(span: DateRange, interval: str) -> DateRange:
    """The range a trend of `interval` counts: from the start PostHog counts from (its
    interval's start unless given as a DATETIME) to the range's end."""
    start = _rounded(_date_from(span), span, interval)
    return DateRange(start, span.end, exact_start=span.exact_start, exact_end=span.exact_end)
