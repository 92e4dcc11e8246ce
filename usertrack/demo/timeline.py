"""The demo's clock: int64 microseconds since the Unix epoch (UTC) until they leave numpy, and the
incident's day and hours.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

INCIDENT_DAYS_BEFORE_ANCHOR = 9
INCIDENT_HOURS = (10, 22)  # UTC hours of the incident window on the incident day

# Time units: timestamps are int64 microseconds since the Unix epoch (UTC) until they leave numpy.
SEC = 1_000_000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR


def day_start_us(anchor: date) -> int:
    return int(datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC).timestamp()) * SEC


def as_timestamps(us: np.ndarray) -> np.ndarray:
    """Microseconds as datetime64[us]: a view of the same memory, not a copy."""
    import numpy as np

    return us.astype(np.int64, copy=False).view("datetime64[us]")
