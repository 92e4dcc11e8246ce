"""Sessions as PostHog's sessions table defines them (docs/metrics.md, "Sessions").

On the local engine, the facts query (queries/posthog/session_facts.sql) returns one row per
`$session_id` and one row per event without one. DuckDB groups those lone events per person by a
30-minute gap, then works out the counts, durations, length buckets, bounce rate, entry/exit pages
and breakdowns. Live, PostHog works all that out itself (queries/posthog/session_summary.sql) and
answers the figures, a few dozen rows, rather than a row per session (`from_summary`), but for
a group of persons whose list it would not take (by_segment.summary_fits): that group's rows of
everyone's facts are counted as the local engine counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from usertrack.analytics.common import DateRange, open_facts, seconds_or_none
from usertrack.core.style import percent
from usertrack.engines.local.summaries import counts_asked

if TYPE_CHECKING:
    import duckdb

    from usertrack.workspace import Workspace

QUERY = "posthog/session_facts"
SUMMARY_QUERY = "posthog/session_summary"
# Events without a $session_id: a gap this long (or longer) starts a new session, as the
# JS SDK starts one after 30 idle minutes.
GAP_SECONDS = 30 * 60
# A bounce: exactly one pageview, no autocapture, and fewer whole seconds than this between the
# first and last event (second boundaries crossed, PostHog's `$session_duration`): `$is_bounce`
# of posthog/hogql/database/schema/sessions_v2.py.
BOUNCE_SECONDS = 10
# The user-activity specification's session length buckets: (label, from seconds inclusive,
# to seconds exclusive).
BUCKETS = (
    ("0-30s", 0, 30),
    ("30s-2m", 30, 120),
    ("2m-5m", 120, 300),
    ("5m-15m", 300, 900),
    ("15m-30m", 900, 1800),
    ("30m+", 1800, None),
)
# JSON key -> the session column it breaks down by.
BREAKDOWNS = (("device_type", "device_type"), ("browser", "browser"), ("country", "country"))
DEFAULT_TOP = 10


class Listed(NamedTuple):
    """One value of a list (a page, a device, a country): its sessions, their distinct persons,
    the bounce rate of its sessions with a pageview (percent, None without one) and their mean
    duration in seconds."""

    value: str | None
    sessions: int
    users: int
    bounce_rate: float | None
    mean_seconds: float | None


@dataclass
class Sessions:
    as_of: datetime
    range: DateRange
    sessions: int
    users: int  # distinct persons with a session (a session's person: its first event's)
    mean_seconds: float | None
    median_seconds: float | None
    bounce_rate: float | None  # percent of the sessions with a pageview; None when none has one
    buckets: list[tuple[str, int]]
    entry_pages: list[Listed]
    exit_pages: list[Listed]
    by: dict[str, list[Listed]]

    @property
    def sessions_per_user(self) -> float | None:
        return round(self.sessions / self.users, 2) if self.users else None

    def document(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "from": self.range.start,
            "to": self.range.end,
            "sessions": self.sessions,
            "users": self.users,
            "sessions_per_user": self.sessions_per_user,
            "mean_seconds": self.mean_seconds,
            "median_seconds": self.median_seconds,
            "bounce_rate": self.bounce_rate,
            "buckets": [{"bucket": b, "sessions": n} for b, n in self.buckets],
            "entry_pages": [
                {"page": r.value, "sessions": r.sessions, "users": r.users,
                 "bounce_rate": r.bounce_rate}
                for r in self.entry_pages
            ],
            "exit_pages": [
                {"page": r.value, "sessions": r.sessions, "users": r.users,
                 "seconds_before_exit": r.mean_seconds}
                for r in self.exit_pages
            ],
            "by": {
                key: [{"value": r.value, "sessions": r.sessions, "users": r.users}
                      for r in values]
                for key, values in self.by.items()
            },
        }  # fmt: skip


# The columns of the facts (queries/posthog/session_facts.sql) and their DuckDB types.
SCHEMA = {
    "session_key": "VARCHAR",
    "session_id": "VARCHAR",
    "person_id": "VARCHAR",
    "first_at": "TIMESTAMP",
    "last_at": "TIMESTAMP",
    "pageviews": "BIGINT",
    "autocaptures": "BIGINT",
    "entry_page": "VARCHAR",
    "exit_page": "VARCHAR",
    "device_type": "VARCHAR",
    "browser": "VARCHAR",
    "country": "VARCHAR",
}


# Each session's person as a number (NULL without one): distinct numbers count faster than
# distinct texts (the lists' distinct counts take a third less CPU at 100,000 users). The totals
# count both; where they differ (two persons of one number) the lists count the texts.
_PERSON_KEY = "hash(person_id)"

# One row per session (`session_rows`: the store has a `sessions` table of its own, which the
# facts may sit beside), with what the figures read of it: its length in seconds, whether it
# bounced (NULL without a pageview), its person (as text and as a number, `_PERSON_KEY`), its
# entry/exit page, device, browser and country. A view:
# the two statements of `summarize` read the facts through it, nothing is copied. Rows of lone
# events (session_id '') are one event each: per person, a new session starts at the first one
# and wherever the gap since the previous one is >= 30 min. '' and NULL are the same "none"
# (ClickHouse's argMinIf of no row is '', DuckDB's is NULL).
SESSIONS_SQL = f"""
CREATE TEMP VIEW session_rows AS
WITH lone AS (
    SELECT *, sum(CASE WHEN prev IS NULL OR epoch(first_at) - epoch(prev) >= {GAP_SECONDS}
                       THEN 1 ELSE 0 END)
                  OVER (PARTITION BY person_id ORDER BY first_at, session_key
                        ROWS UNBOUNDED PRECEDING) AS k
    FROM (SELECT *, lag(last_at) OVER (PARTITION BY person_id ORDER BY first_at, session_key)
                    AS prev
          FROM facts WHERE coalesce(session_id, '') = '')
),
merged AS (
    SELECT nullif(person_id, '') AS person_id, first_at, last_at, pageviews, autocaptures,
           nullif(entry_page, '') AS entry_page, nullif(exit_page, '') AS exit_page,
           nullif(device_type, '') AS device_type, nullif(browser, '') AS browser,
           nullif(country, '') AS country
    FROM facts WHERE coalesce(session_id, '') <> ''
    UNION ALL
    SELECT nullif(person_id, ''), min(first_at), max(last_at), sum(pageviews), sum(autocaptures),
           arg_min(nullif(entry_page, ''), first_at) FILTER (WHERE nullif(entry_page, '') <> ''),
           arg_max(nullif(exit_page, ''), last_at) FILTER (WHERE nullif(exit_page, '') <> ''),
           arg_min(nullif(device_type, ''), first_at),
           arg_min(nullif(browser, ''), first_at),
           arg_min(nullif(country, ''), first_at)
    FROM lone GROUP BY person_id, k
)
SELECT epoch(last_at) - epoch(first_at) AS seconds,
       CASE WHEN pageviews = 0 THEN NULL
            ELSE pageviews = 1 AND autocaptures = 0
                 AND date_diff('second', first_at, last_at) < {BOUNCE_SECONDS} END AS bounce,
       person_id, CASE WHEN person_id IS NOT NULL THEN {{person_key}} END AS person,
       entry_page, exit_page, device_type, browser, country
FROM merged
"""


def _bucket_sql() -> str:
    whens = []
    for i, (_, low, high) in enumerate(BUCKETS):
        cond = f"seconds >= {low}" + (f" AND seconds < {high}" if high is not None else "")
        whens.append(f"WHEN {cond} THEN {i}")
    return f"CASE {' '.join(whens)} END"


# The totals and the sessions per length bucket in one pass: a bucket shows its sessions alone,
# so its persons are not counted (a distinct count per bucket would be a quarter of the lists'
# CPU at 100,000 users).
_TOTALS_SQL = f"""
SELECT count(*), count(DISTINCT person_id), avg(seconds), quantile_cont(seconds, 0.5),
       count(*) FILTER (WHERE bounce), count(bounce),
       {", ".join(f"count(*) FILTER (WHERE bucket = {i})" for i in range(len(BUCKETS)))},
       count(DISTINCT person)
FROM (SELECT {_bucket_sql()} AS bucket, seconds, bounce, person_id, person FROM session_rows)
"""

# The lists in one pass over the sessions (a grouping set each): the first $top values of each
# list by sessions, most first, ties by value (none last); the entry and exit pages without none.
# `grouping()` tells the sets apart: bit 1 for each of its columns the row is not grouped by (4
# of the 5).
_LISTS = ("entry_page", "exit_page", "device_type", "browser", "country")
_KINDS = " ".join(
    f"WHEN {(1 << len(_LISTS)) - 1 - (1 << (len(_LISTS) - 1 - i))} THEN '{c}'"
    for i, c in enumerate(_LISTS)
)
_LISTS_SQL = f"""
SELECT kind, value, n, users, bounces, with_pageview, total FROM (
    SELECT kind, value, n, users, bounces, with_pageview, total,
           row_number() OVER (PARTITION BY kind ORDER BY n DESC, value NULLS LAST) AS place
    FROM (
        SELECT CASE grouping({", ".join(_LISTS)})
                   {_KINDS}
               END AS kind,
               coalesce({", ".join(_LISTS)}) AS value,
               count(*) AS n, count(DISTINCT {{person}}) AS users,
               count(*) FILTER (WHERE bounce) AS bounces, count(bounce) AS with_pageview,
               sum(seconds) AS total
        FROM session_rows
        GROUP BY GROUPING SETS ({", ".join(f"({c})" for c in _LISTS)})
    ) AS g
    WHERE NOT (kind IN ('entry_page', 'exit_page') AND value IS NULL)
) AS ranked
WHERE place <= $top
ORDER BY kind, place
"""


def session_rows(con: duckdb.DuckDBPyConnection) -> None:
    """The view `session_rows` (SESSIONS_SQL) over the `facts` table of `con`."""
    con.execute(SESSIONS_SQL.replace("{person_key}", _PERSON_KEY))


def summarize(con: duckdb.DuckDBPyConnection, top: int = DEFAULT_TOP) -> dict[str, Any]:
    """The figures of the sessions (SESSIONS_SQL over the `facts` table) as Sessions' fields."""
    session_rows(con)
    row = con.execute(_TOTALS_SQL).fetchone()
    assert row is not None
    total, users, mean, median, bounces, with_pageview, *buckets, numbers = row
    person = "person" if numbers == users else "person_id"
    lists: dict[str, list[Listed]] = {kind: [] for kind in _LISTS}
    for kind, value, n, people, bounced, viewed, seconds in con.execute(
        _LISTS_SQL.replace("{person}", person), {"top": int(top)}
    ).fetchall():
        n = int(n)
        lists[kind].append(
            Listed(value, n, int(people), percent(int(bounced), int(viewed)),
                   seconds_or_none(float(seconds) / n) if n else None)
        )  # fmt: skip
    return {
        "sessions": int(total),
        "users": int(users),
        "mean_seconds": seconds_or_none(mean),
        "median_seconds": seconds_or_none(median),
        "bounce_rate": percent(bounces, with_pageview),
        "buckets": [(label, int(n)) for (label, _, _), n in zip(BUCKETS, buckets, strict=True)],
        "entry_pages": lists["entry_page"],
        "exit_pages": lists["exit_page"],
        "by": {key: lists[column] for key, column in BREAKDOWNS},
    }


# session_summary.sql's kinds of rows (its column k).
_ALL, _BUCKET, _ENTRY, _EXIT = 0, 1, 2, 3
_BY_KIND = {4: "device_type", 5: "browser", 6: "country"}


def from_summary(columns: list[str], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Sessions' fields from the rows of session_summary.sql: what `summarize` works out from
    the facts, worked out by the query (durations in microseconds, '' for none)."""
    index = {c: i for i, c in enumerate(columns)}
    by_kind: dict[int, list[Listed]] = {}
    total = users = bounces = with_pageview = 0
    total_us: Any = 0
    median_us: Any = 0
    for row in rows:
        kind, value, n = int(row[index["k"]]), row[index["value"]], int(row[index["sessions"]])
        bounced, viewed = int(row[index["bounces"]]), int(row[index["with_pageview"]])
        if kind == _ALL:
            total, total_us, median_us = n, row[index["total_us"]], row[index["median_us"]]
            users, bounces, with_pageview = int(row[index["users"]]), bounced, viewed
        else:
            mean = seconds_or_none(int(row[index["total_us"]]) / n / 1e6) if n else None
            listed = Listed(value, n, int(row[index["users"]]), percent(bounced, viewed), mean)
            by_kind.setdefault(kind, []).append(listed)
    buckets = {int(r.value): r.sessions for r in by_kind.get(_BUCKET, []) if r.value is not None}
    named = {
        key: [r._replace(value=r.value or None) for r in by_kind.get(kind, [])]
        for kind, key in _BY_KIND.items()
    }
    return {
        "sessions": total,
        "users": users,
        "mean_seconds": seconds_or_none(int(total_us) / total / 1e6) if total else None,
        "median_seconds": seconds_or_none(float(median_us) / 1e6) if total else None,
        "bounce_rate": percent(bounces, with_pageview),
        "buckets": [(label, buckets.get(i, 0)) for i, (label, _, _) in enumerate(BUCKETS)],
        "entry_pages": by_kind.get(_ENTRY, []),
        "exit_pages": by_kind.get(_EXIT, []),
        "by": {key: named[key] for key, _ in BREAKDOWNS},
    }


def sessions(
    ws: Workspace,
    as_of: datetime,
    span: DateRange,
    *,
    top: int = DEFAULT_TOP,
    progress: Any = None,
) -> Sessions:
    """Sessions of the events in `span` (nothing after `as_of`); lists keep the `top` values."""
    if progress:
        progress("fetching sessions")
    from usertrack.analytics.by_segment import summary_fits

    source = ws.sources[ws.library.get(QUERY).folder]
    # PostHog answers the figures; a --by-segment group's, or a --segment's too long to send
    # as a list, come from everyone's sessions fetched once, the group's persons' kept
    if counts_asked(source, ws.library.get(SUMMARY_QUERY)) and summary_fits(ws, short_list=True):
        result = ws.run_query(SUMMARY_QUERY, as_of, since=span.start, until=span.end, top=int(top))
        found = from_summary(list(result.columns), [tuple(r) for r in result.rows])
        return Sessions(as_of=as_of, range=span, **found)
    with open_facts(ws, QUERY, as_of, SCHEMA, since=span.start, until=span.end) as con:
        if progress:
            progress("working out sessions")
        return Sessions(as_of=as_of, range=span, **summarize(con, top))
