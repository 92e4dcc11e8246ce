"""The as-of moment every query looks from: parsing `--as-of` and formatting it for each source."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from usertrack.core.errors import UsageError


def now_utc() -> datetime:
    """Now, in UTC, to the second (queries and snapshots compare to the second)."""
    return datetime.now(UTC).replace(microsecond=0)


def parse_as_of(text: str | None) -> datetime:
    """`--as-of`: a date (00:00 UTC of that day) or a datetime (UTC unless it names an offset)."""
    if text is None or text.strip().lower() in ("", "now"):
        return now_utc()
    raw = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            return datetime.combine(date.fromisoformat(raw), datetime.min.time(), tzinfo=UTC)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--as-of {text!r} is not a date (2026-11-16) or a datetime (2026-11-16T12:00:00)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


def hogql_timestamp(moment: datetime) -> str:
    """How a datetime travels as a HogQL value: 'YYYY-MM-DD HH:MM:SS' in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def naive_utc(moment: datetime) -> datetime:
    """`moment` as naive UTC, the way DuckDB TIMESTAMP columns and the app mirror hold it: an
    aware moment is converted to UTC; a naive one is UTC already and comes back as it is (never
    read as the machine's local time, which would shift it by the machine's offset)."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)
