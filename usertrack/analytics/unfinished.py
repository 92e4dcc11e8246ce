"""Periods an answer shows that have not ended by its as_of: the current week of activity's
lifecycle, a trend's last week or month. Their counts are partial, not a drop, so every place
that shows one marks it: a table with MARK after the period and a footnote (`footnote`), the
JSON with `"complete": false` on the period, a chart drawn lighter with a note."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from usertrack.analytics.common import next_period
from usertrack.core import style
from usertrack.core.clock import naive_utc

if TYPE_CHECKING:
    from usertrack.analytics.common import DateRange

MARK = "*"


def ended(start: date | datetime, period: str, as_of: datetime) -> bool:
    """Whether the period (`day`, `week`, `month`, `hour`) starting at `start` has ended by
    `as_of`: its end, the next period's start, is at or before it."""
    moment = naive_utc(as_of)
    if period == "hour" and isinstance(start, datetime):
        return naive_utc(start) + timedelta(hours=1) <= moment
    day = naive_utc(start).date() if isinstance(start, datetime) else start
    return datetime.combine(next_period(day, period), datetime.min.time()) <= moment


def footnote(period: str, as_of: datetime) -> str:
    """The table's footnote for a period marked with MARK."""
    return (
        f"{MARK} this {period} has not ended by the as-of ({naive_utc(as_of):%Y-%m-%d %H:%M} UTC):"
        " its counts are partial, not a drop."
    )


def whole(start: date | datetime, period: str, span: DateRange) -> bool:
    """Whether the period starting at `start` lies whole in the range: it begins at or after
    the range's start and has ended by its end."""
    begins = naive_utc(start) if isinstance(start, datetime) else start
    first = naive_utc(span.start)
    after = begins >= first if isinstance(begins, datetime) else begins >= first.date()
    return after and ended(start, period, span.end)


def cut(start: date | datetime, period: str, span: DateRange) -> dict[str, bool]:
    """A period's JSON mark: `{"complete": False}` for one the range cuts, else nothing."""
    return {} if whole(start, period, span) else {"complete": False}


def cut_footnote(period: str, span: DateRange) -> str:
    """The footnote of a table whose first or last period the range cuts."""
    return (
        f"{MARK} a {period} the range ({style.span(span.start, span.end)}) holds only in part:"
        " its counts are partial, not a drop."
    )
