"""Active users, stickiness, lifecycle and the hour-of-week heatmap, as PostHog counts them
(docs/metrics.md, "Active users", "Stickiness", "Lifecycle").

Facts queries: queries/posthog/activity_days.sql (per person and UTC day, the events),
activity_created.sql (each active person's creation, for "new") and activity_hours.sql (events
by weekday and hour). Everything else is worked out in DuckDB over those rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from usertrack.analytics.common import (
    FactsTable,
    next_period,
    open_facts_tables,
    period_start,
)
from usertrack.errors import UsageError

MAX_PERIODS = 400
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class Day:
    date: date
    dau: int
    wau: int  # persons active on D-6 ... D
    mau: int  # persons active on D-29 ... D


@dataclass
class LifecyclePeriod:
    start: date
    new: int
    returning: int
    resurrecting: int
    dormant: int  # negative, as PostHog reports it


@dataclass
class Activity:
    as_of: datetime
    days: list[Day]  # oldest first; the last is as_of's day
    lifecycle: list[LifecyclePeriod]
    active_days: list[tuple[int, int]]  # (n, persons active on exactly n of the days)
    hours: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    # (weekday 1 = Monday, hour) -> (events, persons)
    previous: Activity | None = None  # --compare: the same days count before

    @property
    def average_dau(self) -> float:
        """The mean DAU over the days, one decimal."""
        return round(sum(d.dau for d in self.days) / len(self.days), 1) if self.days else 0.0

    def changes(self) -> dict[str, float | None]:
        """--compare: the percent change of the last day's DAU, WAU, MAU and of the average DAU
        from the previous period's (None from 0)."""
        from usertrack.analytics.common import change

        if self.previous is None:
            return {}
        now, before = self.today, self.previous.today
        return {
            "dau": change(now.dau, before.dau),
            "wau": change(now.wau, before.wau),
            "mau": change(now.mau, before.mau),
            "average_dau": change(self.average_dau, self.previous.average_dau),
        }

    @property
    def today(self) -> Day:
        return self.days[-1]

    @property
    def stickiness(self) -> float | None:
        """DAU / MAU of as_of's day, percent to one decimal."""
        d = self.today
        return round(100.0 * d.dau / d.mau, 1) if d.mau else None

    def document(self) -> dict[str, Any]:
        d = self.today
        return {
            "as_of": self.as_of,
            "dau": d.dau,
            "wau": d.wau,
            "mau": d.mau,
            "stickiness": self.stickiness,
            "daily": [
                {"date": x.date, "dau": x.dau, "wau": x.wau, "mau": x.mau} for x in self.days
            ],
            "lifecycle": [
                {
                    "period_start": p.start,
                    "new": p.new,
                    "returning": p.returning,
                    "resurrecting": p.resurrecting,
                    "dormant": p.dormant,
                }
                for p in self.lifecycle
            ],
            "active_days": [{"days": n, "persons": k} for n, k in self.active_days],
            "hours": [
                {"weekday": wd, "hour": h, "events": e, "persons": p}
                for (wd, h), (e, p) in sorted(self.hours.items())
            ],
            **self._compared(),
        }

    def _compared(self) -> dict[str, Any]:
        if self.previous is None:
            return {}
        p = self.previous
        return {
            "average_dau": self.average_dau,
            "previous": {
                "as_of": p.as_of,
                "dau": p.today.dau,
                "wau": p.today.wau,
                "mau": p.today.mau,
                "stickiness": p.stickiness,
                "average_dau": p.average_dau,
                "daily": [{"date": x.date, "dau": x.dau, "wau": x.wau, "mau": x.mau}
                          for x in p.days],
            },
            "change": self.changes(),
        }  # fmt: skip


def check_periods(periods: int) -> None:
    if not 1 <= periods <= MAX_PERIODS:
        raise UsageError(f"--periods {periods} must be from 1 to {MAX_PERIODS}")


def activity(
    ws: Any,
    as_of: datetime,
    *,
    days: int = 30,
    periods: int = 8,
    compare: bool = False,
    progress: Any = None,
) -> Activity:
    """The daily series over the `days` UTC days ending with as_of's, the weekly lifecycle
    over the `periods` ISO weeks ending with as_of's, and the heatmap over the same days."""
    check_periods(periods)
    # An as_of at 00:00 UTC (what `--as-of DATE` gives) ends the day before: that day is the
    # last one with data, not the new day's first instant.
    last_moment = as_of - timedelta(microseconds=1)
    last_day = period_start(last_moment, "day")
    first_day = last_day - timedelta(days=days - 1)
    this_week = period_start(last_moment, "week")
    weeks = [next_period(this_week, "week", -k) for k in range(periods - 1, -1, -1)]
    # MAU of the first day looks back 29 days; the first week's lifecycle looks at the week before.
    since_day = min(first_day - timedelta(days=29), weeks[0] - timedelta(days=7))
    since = datetime.combine(since_day, datetime.min.time())
    facts = [
        FactsTable(
            "posthog/activity_days", "active",
            {"person_id": "VARCHAR", "day": "DATE", "events": "BIGINT"},
            {"since": since}, "fetching active days per person",
        ),
        FactsTable(
            "posthog/activity_created", "created",
            {"person_id": "VARCHAR", "created_at": "TIMESTAMP"},
            {"since": datetime.combine(weeks[0], datetime.min.time())},
            "fetching when people were created",
        ),
        FactsTable(
            "posthog/activity_hours", "hours",
            {"weekday": "BIGINT", "hour": "BIGINT", "events": "BIGINT", "persons": "BIGINT"},
            {"since": datetime.combine(first_day, datetime.min.time())},
            "fetching events by hour",
        ),
    ]  # fmt: skip
    with open_facts_tables(ws, as_of, facts, progress) as con:
        series = _series(con, first_day, last_day)
        lifecycle = _lifecycle(con, weeks)
        active_days = _active_days(con, first_day, last_day)
        hours = {
            (int(wd), int(h)): (int(e), int(p))
            for wd, h, e, p in con.execute("SELECT * FROM hours").fetchall()
        }
    result = Activity(
        as_of=as_of, days=series, lifecycle=lifecycle, active_days=active_days, hours=hours
    )
    if compare:
        # The previous period: the same number of days just before, as of `days` days earlier.
        if progress:
            progress("the previous period")
        result.previous = activity(
            ws, as_of - timedelta(days=days), days=days, periods=periods, progress=progress
        )
    return result


def _series(con: Any, first: date, last: date) -> list[Day]:
    # A person counts in WAU for D when active on one of D-6 ... D: each active day `a` covers
    # a ... a+6 up to the person's next active day, so the covered spans never overlap and
    # WAU is a running sum of +1 at `a` and -1 at the span's end (MAU likewise with 30 days,
    # DAU with 1): one pass over the facts, not a join of every day with its 30 days of them.
    rows = con.execute(
        """
        WITH a AS (
            SELECT day, lead(day) OVER (PARTITION BY person_id ORDER BY day) AS next
            FROM active
        ),
        changes(day, dau, wau, mau) AS (
            SELECT day, 1, 1, 1 FROM a
            UNION ALL SELECT day + 1, -1, 0, 0 FROM a
            UNION ALL SELECT least(day + 7, coalesce(next, day + 7)), 0, -1, 0 FROM a
            UNION ALL SELECT least(day + 30, coalesce(next, day + 30)), 0, 0, -1 FROM a
        ),
        -- Changes before the first day all count from it; those after the last never do.
        per_day AS (
            SELECT greatest(day, $first) AS day, sum(dau) AS dau, sum(wau) AS wau,
                   sum(mau) AS mau
            FROM changes WHERE day <= $last GROUP BY 1
        ),
        days AS (
            SELECT CAST(d AS DATE) AS day FROM range($first, $last + 1, INTERVAL 1 DAY) t(d)
        )
        SELECT days.day,
               sum(coalesce(dau, 0)) OVER running,
               sum(coalesce(wau, 0)) OVER running,
               sum(coalesce(mau, 0)) OVER running
        FROM days LEFT JOIN per_day USING (day)
        WINDOW running AS (ORDER BY days.day)
        ORDER BY days.day
        """,
        {"first": first, "last": last},
    ).fetchall()
    return [Day(date=d, dau=int(x), wau=int(w), mau=int(m)) for d, x, w, m in rows]


def _lifecycle(con: Any, weeks: list[date]) -> list[LifecyclePeriod]:
    # Each person's active weeks, the one before the first included, then PostHog's statuses.
    counts = con.execute(
        """
        WITH w AS (
            SELECT DISTINCT person_id, CAST(date_trunc('week', day) AS DATE) AS week FROM active
        ),
        status AS (
            SELECT w.week,
                   CASE WHEN CAST(date_trunc('week', c.created_at) AS DATE) = w.week THEN 'new'
                        WHEN p.person_id IS NOT NULL THEN 'returning'
                        ELSE 'resurrecting' END AS status
            FROM w
            LEFT JOIN w p ON p.person_id = w.person_id AND p.week = w.week - 7
            LEFT JOIN created c ON c.person_id = w.person_id
            UNION ALL
            -- dormant: active the week before, not this week (so once, the week after the last)
            SELECT w.week + 7, 'dormant' FROM w
            LEFT JOIN w n ON n.person_id = w.person_id AND n.week = w.week + 7
            WHERE n.person_id IS NULL
        )
        SELECT week, status, count(*) FROM status WHERE week IN (SELECT unnest($weeks))
        GROUP BY ALL
        """,
        {"weeks": weeks},
    ).fetchall()
    by = {(week, status): int(n) for week, status, n in counts}
    return [
        LifecyclePeriod(
            start=week,
            new=by.get((week, "new"), 0),
            returning=by.get((week, "returning"), 0),
            resurrecting=by.get((week, "resurrecting"), 0),
            dormant=-by.get((week, "dormant"), 0),
        )
        for week in weeks
    ]


def _active_days(con: Any, first: date, last: date) -> list[tuple[int, int]]:
    """PostHog's stickiness: for n = 1 ... the number of days, the persons active on exactly n."""
    rows = con.execute(
        """
        SELECT n, count(*) FROM (
            SELECT person_id, count(DISTINCT day) AS n FROM active
            WHERE day BETWEEN $first AND $last GROUP BY person_id)
        GROUP BY n
        """,
        {"first": first, "last": last},
    ).fetchall()
    by = {int(n): int(k) for n, k in rows}
    total = (last - first).days + 1
    return [(n, by.get(n, 0)) for n in range(1, total + 1)]
