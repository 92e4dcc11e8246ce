"""Active users, stickiness, lifecycle and the hour-of-week heatmap, as PostHog counts them
(docs/metrics.md, "Active users", "Stickiness", "Lifecycle").

On the local engine, facts queries: queries/posthog/activity_days.sql (per person and UTC day,
the events), activity_created.sql (each active person's creation, for "new") and
activity_hours.sql (events by weekday and hour); everything else is worked out in DuckDB over
those rows. Live, PostHog counts the daily series, the lifecycle, the active days, the
heatmap and each day's sessions and events itself, in one query over the events
(queries/posthog/activity_summary.sql), and answers a row per day, week and weekday-hour
rather than one per person (`from_summary`, `hours_and_volume`); an edited copy of the file
that answers no heatmap or volume rows has them from activity_hours.sql and
activity_volume.sql, as the local engine has. In a live
--by-segment or --segment run, whose groups' counts would bind their persons as a list (past a
few thousand persons more than ClickHouse parses in a query), the facts come instead, a row per
person, once over everyone, and each group counts its persons' rows of them: activity_days.sql,
activity_created.sql and, for the heatmap, activity_person_hours.sql.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from usertrack.analytics.activity import masks as masking
from usertrack.analytics.activity.masks import Day, LifecyclePeriod
from usertrack.analytics.common import (
    FactsTable,
    next_period,
    open_facts_tables,
    period_start,
)
from usertrack.analytics.unfinished import ended
from usertrack.analytics.weeks import MONDAY, start_of, starting, trunc_sql
from usertrack.core.errors import UsageError, one_of
from usertrack.engines.local.summaries import counts_asked

MAX_PERIODS = 400
SUMMARY_QUERY = "posthog/activity_summary"
PERSON_HOURS = "posthog/activity_person_hours"
# activity_hours.sql's rows from activity_person_hours.sql's: the events of each weekday-hour,
# and the persons with any (a row without a person counts its events, as uniqExact skips NULL)
PERSON_HOURS_HEAT = """
    SELECT cell // 24 + 1 AS weekday, cell % 24 AS hour, sum(events) AS events,
           count(DISTINCT person_id) AS persons
    FROM person_cells GROUP BY cell ORDER BY cell"""
# The same counting accounts (--by-account): each person's cells with their account
# (by_account.as_accounts' `_person_account`), persons of no account left out; an account is
# in a cell when any member is.
ACCOUNT_HOURS_HEAT = """
    SELECT cell // 24 + 1 AS weekday, cell % 24 AS hour, sum(events) AS events,
           count(DISTINCT m.account) AS persons
    FROM person_cells f JOIN _person_account m ON m.person_id = f.person_id
    GROUP BY cell ORDER BY cell"""
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class Activity:
    as_of: datetime
    days: list[Day]  # oldest first; the last is as_of's day
    lifecycle: list[LifecyclePeriod]
    active_days: list[tuple[int, int]]  # (n, persons active on exactly n of the intervals)
    hours: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    # (weekday 1 = Monday, hour) -> (events, persons)
    previous: Activity | None = None  # --compare: the same days count before
    by_account: bool = False  # --by-account: accounts counted, not persons
    notes: tuple[str, ...] = ()  # for stderr
    stickiness_interval: str = "day"  # --stickiness-interval: active_days counts these

    @property
    def unit(self) -> str:
        """What the figures count, for headers: "Accounts" (--by-account) or "Persons"."""
        return "Accounts" if self.by_account else "Persons"

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

    def span(self) -> dict[str, datetime]:
        """The range of the daily series as every analysis shows one: from 00:00 of its first
        day up to as_of (at 00:00, the day after the last)."""
        start = datetime.combine(self.days[0].date, datetime.min.time()) if self.days else None
        return {"from": start or self.as_of, "to": self.as_of}

    def days_complete(self) -> list[bool]:
        """Each day of the series whole by as_of: False for a last day a mid-day as_of cuts
        (its counts partial, not a drop)."""
        return [ended(x.date, "day", self.as_of) for x in self.days]

    @property
    def stickiness(self) -> float | None:
        """DAU / MAU of as_of's day, percent to one decimal."""
        d = self.today
        return round(100.0 * d.dau / d.mau, 1) if d.mau else None

    def document(self) -> dict[str, Any]:
        d = self.today
        return {
            "as_of": self.as_of,
            **self.span(),
            "dau": d.dau,
            "wau": d.wau,
            "mau": d.mau,
            "stickiness": self.stickiness,
            "daily": [
                {
                    "date": x.date,
                    "dau": x.dau,
                    "wau": x.wau,
                    "mau": x.mau,
                    "sessions": x.sessions,
                    "events": x.events,
                }
                | ({} if whole else {"complete": False})
                for x, whole in zip(self.days, self.days_complete(), strict=True)
            ],
            "lifecycle": [
                {
                    "period_start": p.start,
                    "new": p.new,
                    "returning": p.returning,
                    "resurrecting": p.resurrecting,
                    "dormant": p.dormant,
                }
                | ({} if ended(p.start, "week", self.as_of) else {"complete": False})
                for p in self.lifecycle
            ],
            "active_days": [{"days": n, self.unit.lower(): k} for n, k in self.active_days],
            "hours": [
                {"weekday": wd, "hour": h, "events": e, self.unit.lower(): p}
                for (wd, h), (e, p) in sorted(self.hours.items())
            ],
            **self._compared(),
            **({"counted": "accounts"} if self.by_account else {}),
            **(
                {"stickiness_interval": self.stickiness_interval}
                if self.stickiness_interval != "day"
                else {}
            ),
            # --week-start sunday: the lifecycle's weeks start on Sunday (Monday otherwise)
            **(
                {"week_start": "sunday"}
                if starting([p.start for p in self.lifecycle]) == "sunday"
                else {}
            ),
        }

    def _compared(self) -> dict[str, Any]:
        if self.previous is None:
            return {}
        p = self.previous
        return {
            "average_dau": self.average_dau,
            "previous": {
                "as_of": p.as_of,
                **p.span(),
                "dau": p.today.dau,
                "wau": p.today.wau,
                "mau": p.today.mau,
                "stickiness": p.stickiness,
                "average_dau": p.average_dau,
                "daily": [{"date": x.date, "dau": x.dau, "wau": x.wau, "mau": x.mau}
                          | ({} if whole else {"complete": False})
                          for x, whole in zip(p.days, p.days_complete(), strict=True)],
            },
            "change": self.changes(),
        }  # fmt: skip


def check_periods(periods: int) -> None:
    if not 1 <= periods <= MAX_PERIODS:
        raise UsageError(f"--periods {periods} must be from 1 to {MAX_PERIODS}")


def lifecycle_weeks(as_of: datetime, periods: int, week_start: str = MONDAY) -> list[date]:
    """The weeks of the lifecycle (from Monday, ISO, or from Sunday: `week_start`), oldest
    first: the `periods` weeks ending with as_of's (as_of at 00:00 UTC ends the day before).
    Each has a row of the lifecycle, whatever the data."""
    this_week = start_of(as_of - timedelta(microseconds=1), "week", week_start)
    return [next_period(this_week, "week", -k) for k in range(periods - 1, -1, -1)]


def activity(
    ws: Any,
    as_of: datetime,
    *,
    days: int = 30,
    periods: int = 8,
    compare: bool = False,
    progress: Any = None,
    by_account: bool = False,
    series_only: bool = False,
    week_start: str = MONDAY,
    stickiness_interval: str = "day",
) -> Activity:
    """The daily series over the `days` UTC days ending with as_of's, the weekly lifecycle
    over the `periods` ISO weeks ending with as_of's, and the heatmap over the same days.
    `series_only`: the daily series alone where the events are counted here (`_counted`), no
    lifecycle, active days or heatmap: all a --compare shows of the previous period."""
    check_periods(periods)
    # An as_of at 00:00 UTC (what `--as-of DATE` gives) ends the day before: that day is the
    # last one with data, not the new day's first instant.
    last_moment = as_of - timedelta(microseconds=1)
    last_day = period_start(last_moment, "day")
    first_day = last_day - timedelta(days=days - 1)
    weeks = lifecycle_weeks(as_of, periods, week_start)
    # MAU of the first day looks back 29 days; the first week's lifecycle looks at the week before.
    since_day = min(first_day - timedelta(days=29), weeks[0] - timedelta(days=7))
    since = datetime.combine(since_day, datetime.min.time())
    previous = None
    if compare:
        # The previous period: the same number of days just before, as of `days` days earlier,
        # worked out on a thread meanwhile (it depends on nothing of this one's).
        from usertrack.analytics.by_segment import Background

        before = as_of - timedelta(days=days)
        previous = Background(
            lambda: activity(
                ws,
                before,
                days=days,
                periods=periods,
                by_account=by_account,
                series_only=True,
                week_start=week_start,
            ),
            "usertrack-previous",
        )
    source = ws.sources[ws.library.get("posthog/activity_days").folder]
    from usertrack.analytics.activity.volume import daily_volume

    # PostHog counts the figures, the heatmap and the daily volume in one query, but not a
    # --by-segment or --segment group's (summary_fits)
    from usertrack.analytics.by_segment import summary_fits

    summarized = (
        not by_account and counts_asked(source, ws.library.get(SUMMARY_QUERY)) and summary_fits(ws)
    )
    volume_ahead = None
    if not summarized and source.is_live and source.max_concurrent != 1:
        # live, its request goes out beside the counts' (it depends on nothing of theirs)
        from usertrack.analytics.by_segment import Background

        volume_ahead = Background(
            lambda: daily_volume(ws, as_of, first_day, days), "usertrack-volume"
        )
    try:
        notes: tuple[str, ...] = ()
        if summarized:
            series, lifecycle, active_days, hours, volume = _summarized(
                ws, as_of, since, first_day, last_day, weeks, progress
            )
        else:
            series, lifecycle, active_days, hours, notes = _counted(
                ws, as_of, since, first_day, last_day, weeks, progress, by_account, series_only
            )
            if volume_ahead is not None:
                volume = volume_ahead.result()
            else:
                volume = daily_volume(ws, as_of, first_day, len(series), progress)
    except BaseException:
        for meanwhile in (previous, volume_ahead):  # done with the sources before the
            if meanwhile is not None:  # workspace closes them
                meanwhile.settle()
        raise
    if stickiness_interval != "day" and not series_only:
        active_days = interval_stickiness(
            ws, as_of, first_day, last_day, stickiness_interval, week_start, progress
        )
    for day in series:  # beside each day's active users, its sessions and events
        day.sessions, day.events = (None, None) if volume is None else volume.get(day.date, (0, 0))
    result = Activity(
        as_of=as_of, days=series, lifecycle=lifecycle, active_days=active_days, hours=hours
    )
    result.by_account, result.notes = by_account, notes
    result.stickiness_interval = stickiness_interval
    if previous is not None:
        if progress:
            progress("the previous period")
        result.previous = previous.result()
    return result


def _summarized(
    ws: Any,
    as_of: datetime,
    since: datetime,
    first_day: date,
    last_day: date,
    weeks: list[date],
    progress: Any,
) -> tuple[
    list[Day],
    list[LifecyclePeriod],
    list[tuple[int, int]],
    dict[Any, Any],
    dict[date, tuple[int, int]] | None,
]:
    """The figures as PostHog counts them (activity_summary.sql), with the heatmap's rows and
    each day's sessions and events (None in a group's run: volume.py) from the same query,
    or from activity_hours.sql and activity_volume.sql where the file answers none (an edited
    copy of an older activity_summary.sql)."""
    from usertrack.analytics.activity import volume as daily

    if progress:
        progress("fetching active users")
    days = (last_day - first_day).days + 1
    midnight = datetime.combine(first_day, datetime.min.time())
    result = ws.run_query(
        SUMMARY_QUERY,
        as_of,
        since=since,
        first_day=midnight,
        days=days,
        first_week=datetime.combine(weeks[0], datetime.min.time()),
        periods=len(weeks),
        week_start=starting(weeks),
    )
    columns, rows = list(result.columns), [tuple(r) for r in result.rows]
    series, lifecycle, active_days = from_summary(columns, rows, first_day, days, weeks)
    hours, volume = hours_and_volume(columns, rows, first_day, days)
    # An active day has events, so rows of both kinds: a file that answers an active day and
    # none of them counts neither; without one there is nothing for them to count (nor asked
    # in a dashboard's rehearsal, whose answers are empty: usertrack.dashboards.prefetch)
    active = any(day.dau for day in series)
    if active and not hours:
        if progress:
            progress("fetching events by hour")
        heat = ws.run_query("posthog/activity_hours", as_of, since=midnight)
        hours = {(int(wd), int(h)): (int(e), int(p)) for wd, h, e, p in heat.rows}
    if not daily.counted(ws):
        return series, lifecycle, active_days, hours, None
    if active and not volume:
        volume = daily.daily_volume(ws, as_of, first_day, days, progress) or {}
    return series, lifecycle, active_days, hours, volume


# activity_summary.sql's kinds of rows (its column kind).
_DAY, _WEEK, _ACTIVE_DAYS, _HOUR, _VOLUME = 0, 1, 2, 3, 4


def hours_and_volume(
    columns: list[str], rows: list[tuple[Any, ...]], first_day: date, days: int
) -> tuple[dict[tuple[int, int], tuple[int, int]], dict[date, tuple[int, int]]]:
    """The heatmap and each day's volume from the rows of activity_summary.sql: of kind 3,
    each weekday-hour's (`i`: (weekday - 1) * 24 + hour) events and persons, as
    activity_hours.sql answers them (by (weekday, hour)); of kind 4, each day's (`i` days from
    `first_day`) sessions and events, as activity_volume.sql's (by day). Both empty from a file
    that answers no such rows."""
    at = {c: i for i, c in enumerate(columns)}
    hours: dict[tuple[int, int], tuple[int, int]] = {}
    volume: dict[date, tuple[int, int]] = {}
    for row in rows:
        kind, i = int(row[at["kind"]]), int(row[at["i"]])
        if kind == _HOUR:
            hours[(i // 24 + 1, i % 24)] = (int(row[at["a"]]), int(row[at["b"]]))
        elif kind == _VOLUME and 0 <= i < days:
            volume[first_day + timedelta(days=i)] = (int(row[at["b"]]), int(row[at["a"]]))
    return hours, volume


def from_summary(
    columns: list[str], rows: list[tuple[Any, ...]], first_day: date, days: int, weeks: list[date]
) -> tuple[list[Day], list[LifecyclePeriod], list[tuple[int, int]]]:
    """The daily series, the lifecycle and the active days from the rows of
    activity_summary.sql: what the facts path works out, counted by the query."""
    at = {c: i for i, c in enumerate(columns)}
    by: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    for row in rows:
        key = (int(row[at["kind"]]), int(row[at["i"]]))
        by[key] = (int(row[at["a"]]), int(row[at["b"]]), int(row[at["c"]]), int(row[at["d"]]))
    none = (0, 0, 0, 0)
    series = [
        Day(date=first_day + timedelta(days=i), dau=dau, wau=wau, mau=mau)
        for i in range(days)
        for dau, wau, mau, _ in [by.get((_DAY, i), none)]
    ]
    lifecycle = [
        LifecyclePeriod(start=week, new=n, returning=r, resurrecting=s, dormant=-d)
        for i, week in enumerate(weeks)
        for n, r, s, d in [by.get((_WEEK, i), none)]
    ]
    active_days = [(n, by.get((_ACTIVE_DAYS, n), none)[0]) for n in range(1, days + 1)]
    return series, lifecycle, active_days


def _counted(
    ws: Any,
    as_of: datetime,
    since: datetime,
    first_day: date,
    last_day: date,
    weeks: list[date],
    progress: Any,
    by_account: bool = False,
    series_only: bool = False,
) -> tuple[list[Day], list[LifecyclePeriod], list[tuple[int, int]], dict[Any, Any], Any]:
    """The figures worked out in DuckDB from the facts queries (the local engine, and a live
    --by-segment or --segment run: the heatmap then from each person's own cells), and notes
    for stderr. With `by_account`, accounts' (usertrack.analytics.by_account.as_accounts): an
    account is created with its first member, so every person's creation is fetched.
    `series_only` (but for accounts and a group's run): the daily series alone."""
    local = ws.sources[ws.library.get("posthog/activity_days").folder].has_facts
    by_person = None if local and not by_account else PERSON_HOURS
    created_since = date(1970, 1, 1) if by_account else weeks[0]
    facts = [
        FactsTable(
            "posthog/activity_days", "active",
            {"person_id": "VARCHAR", "day": "DATE", "events": "BIGINT"},
            {"since": since}, "fetching active days per person",
        ),
        FactsTable(
            "posthog/activity_created", "created",
            {"person_id": "VARCHAR", "created_at": "TIMESTAMP"},
            {"since": datetime.combine(created_since, datetime.min.time())},
            "fetching when people were created",
        ),
        FactsTable(
            "posthog/activity_hours", "hours",
            {"weekday": "BIGINT", "hour": "BIGINT", "events": "BIGINT", "persons": "BIGINT"},
            {"since": datetime.combine(first_day, datetime.min.time())},
            "fetching events by hour",
        )
        if by_person is None else
        FactsTable(
            by_person, "person_cells",
            {"person_id": "VARCHAR", "cell": "BIGINT", "events": "BIGINT"},
            {"since": datetime.combine(first_day, datetime.min.time())},
            "fetching events by hour per person",
        ),
    ]  # fmt: skip
    if series_only and not by_account and ws.scope.person_rows is None:
        return _series_alone(ws, as_of, facts[0], first_day, last_day, weeks, progress)
    key = None if by_account else masking.masks_key(ws, as_of, facts[0], first_day, last_day, weeks)
    notes: tuple[str, ...] = ()
    whole = ws.scope.facts_cache.get(key) if key is not None else None
    part = None
    if whole is not None and key is not None:  # a group's run: its part of every group's
        part = masking.group_part(ws, key, whole, as_of, first_day, last_day, weeks)
    if part is not None or whole is not None:  # its persons' rows of everyone's masks and
        facts = facts[2:]  # creation times (the lifecycle reads no one else's), no active days
    # The whole answer's facts are read in place: the groups read its masks, not its rows.
    from usertrack.analytics.by_account import as_accounts, members_meanwhile

    with (
        members_meanwhile(ws, as_of, progress, by_account) as members,  # while events count
        open_facts_tables(ws, as_of, facts, progress, whole_in_place=whole is None) as con,
    ):
        if members is not None:
            notes = as_accounts(con, ws, as_of, progress, {"active": "day, sum(events) AS events",
                                "created": "min(created_at) AS created_at"}, members)  # fmt: skip
        if whole is not None and part is None:
            masking.kept_masks(con, ws, whole)
            masking.kept_created(con, ws, as_of, weeks)
        fits = whole is not None or masking.masks_table(con, first_day, last_day, weeks)
        if fits and whole is None and key is not None:
            types = [(r[0], r[1]) for r in con.execute("DESCRIBE masks").fetchall()]
            ws.scope.facts_cache[key] = (con.sql("SELECT * FROM masks").to_arrow_table(), types)
        if part is not None:
            series, lifecycle, active_days = part
        elif fits:
            series, lifecycle, active_days = masking.part_of(
                masking.WHOLE,
                masking.series_of_masks(con, first_day, last_day),
                masking.lifecycle_of_masks(con, weeks),
                masking.active_days_of_masks(con, first_day, last_day),
                first_day, last_day, weeks,
            )  # fmt: skip
        else:
            series = _series(con, first_day, last_day)
            lifecycle = _lifecycle(con, weeks)
            active_days = _active_days(con, first_day, last_day)
        heat = "SELECT * FROM hours" if by_person is None else PERSON_HOURS_HEAT
        if by_account:
            heat = ACCOUNT_HOURS_HEAT
        hours = {
            (int(wd), int(h)): (int(e), int(p)) for wd, h, e, p in con.execute(heat).fetchall()
        }
    return series, lifecycle, active_days, hours, notes


def _series_alone(
    ws: Any,
    as_of: datetime,
    active: FactsTable,
    first_day: date,
    last_day: date,
    weeks: list[date],
    progress: Any,
) -> tuple[list[Day], list[LifecyclePeriod], list[tuple[int, int]], dict[Any, Any], Any]:
    """`_counted`'s daily series alone, from the active days as it counts them: neither the
    creation times nor the heatmap's facts are read, no lifecycle or active days worked out."""
    with open_facts_tables(ws, as_of, [active], progress, whole_in_place=True) as con:
        if masking.masks_table(con, first_day, last_day, weeks):
            series = masking.series_of_masks(con, first_day, last_day)
            days = masking.part_of(masking.WHOLE, series, {}, {}, first_day, last_day, weeks)[0]
        else:
            days = _series(con, first_day, last_day)
    return days, [], [], {}, ()


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
    week_start = starting(weeks)
    counts = con.execute(
        f"""
        WITH w AS (
            SELECT DISTINCT person_id, {trunc_sql("day", "week", week_start)} AS week FROM active
        ),
        status AS (
            SELECT w.week,
                   CASE WHEN {trunc_sql("c.created_at", "week", week_start)} = w.week THEN 'new'
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


def _active_days(
    con: Any, first: date, last: date, interval: str = "day", week_start: str = MONDAY
) -> list[tuple[int, int]]:
    """PostHog's stickiness: for n = 1 ... the intervals the days first ... last touch (days; a
    week from `week_start`'s day, a calendar month), the persons of the table `active` active
    in exactly n of them (a person is active in an interval on any of its days in the range)."""
    bucket = trunc_sql("day", interval, week_start) if interval != "day" else "day"
    rows = con.execute(
        f"""
        SELECT n, count(*) FROM (
            SELECT person_id, count(DISTINCT {bucket}) AS n FROM active
            WHERE day BETWEEN $first AND $last GROUP BY person_id)
        GROUP BY n
        """,
        {"first": first, "last": last},
    ).fetchall()
    by = {int(n): int(k) for n, k in rows}
    at, total = start_of(first, interval, week_start), 0
    while at <= last:
        at, total = next_period(at, interval), total + 1
    return [(n, by.get(n, 0)) for n in range(1, total + 1)]


STICKINESS_INTERVALS = ("day", "week", "month")


def check_stickiness_interval(text: str, by_account: bool = False) -> str:
    """--stickiness-interval: day, week or month; a week or month counts one person's days, so
    not an account's (--by-account)."""
    value = one_of(text, STICKINESS_INTERVALS, "--stickiness-interval")
    if by_account and value != "day":
        raise UsageError(f"--stickiness-interval {value} and --by-account do not go together")
    return value


def interval_stickiness(
    ws: Any,
    as_of: datetime,
    first: date,
    last: date,
    interval: str,
    week_start: str,
    progress: Any = None,
) -> list[tuple[int, int]]:
    """PostHog's stickiness by week or month (`StickinessQuery.interval`,
    stickiness_query_runner.py): `_active_days` of activity_days.sql's days."""
    since = datetime.combine(first, datetime.min.time())
    active = FactsTable(
        "posthog/activity_days", "active",
        {"person_id": "VARCHAR", "day": "DATE", "events": "BIGINT"},
        {"since": since}, "fetching active days per person",
    )  # fmt: skip
    with open_facts_tables(ws, as_of, [active], progress) as con:
        return _active_days(con, first, last, interval, week_start)
