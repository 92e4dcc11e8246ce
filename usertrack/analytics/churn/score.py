"""The engagement score (docs/metrics.md, "Churn and engagement"): its parts, its SQL over
churn_persons.sql's rows, the churn signals it takes off (churn_signals.sql), and each user's
score as of a moment, which `churn` lists and `segments` averages per segment: one definition.
`segments` reads engagement_facts.sql instead of churn_persons.sql: the same columns of the same
name, kept to the persons the score reads, without the backtest's.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from usertrack.analytics.common import FactsTable, open_facts_tables
from usertrack.core.clock import naive_utc

WINDOW_DAYS = 30  # the score's window: recency's horizon, the days frequency and breadth count
FULL_DAYS = 12  # active days in the window that give frequency its full 25 points
FULL_BREADTH = 5  # distinct product events in the window that give breadth its full 25 points
# Events that say a user is leaving (the product-growth guide's "Retention / Churn signals"): one
# in the window before a moment takes SIGNAL_POINTS off the user's score as of it (not below 0),
# now and in churn's backtest alike.
CHURN_SIGNALS = ("cancellation_started", "account_deleted")
SIGNAL_POINTS = 50.0
PART = 25.0  # each part's points
PERSONS = {"person_id": "VARCHAR", "email": "VARCHAR", "first_seen": "TIMESTAMP",
           "last_seen": "TIMESTAMP", "active_days": "BIGINT", "breadth": "BIGINT",
           "last_seen_then": "TIMESTAMP", "active_days_then": "BIGINT",
           "breadth_then": "BIGINT"}  # fmt: skip
SIGNALS = {"person_id": "VARCHAR", "signals": "BIGINT", "signals_then": "BIGINT"}
# engagement_facts.sql: churn_persons' columns that score_sql reads as of as_of
ENGAGEMENT = {name: PERSONS[name] for name in ("person_id", "email", "last_seen", "active_days",
                                               "breadth")}  # fmt: skip


def facts_tables(since: datetime, then: datetime, then_since: datetime) -> list[FactsTable]:
    """churn_persons.sql (the table `persons`) and churn_signals.sql (`signals`), their window
    from `since` to as_of, and from `then_since` to `then` for the _then columns."""
    moments = {"since": since, "then": then, "then_since": then_since}
    return [
        FactsTable("posthog/churn_persons", "persons", PERSONS, moments,
                   "fetching each person's engagement"),
        FactsTable("posthog/churn_signals", "signals", SIGNALS,
                   {"signals": list(CHURN_SIGNALS), **moments},
                   "fetching each person's churn signals"),
    ]  # fmt: skip


def engagement_score(
    days_since: float,
    active_days: int,
    breadth: int,
    success: float | None,
    *,
    window: int = WINDOW_DAYS,
) -> float:
    """The score of docs/metrics.md: recency, frequency, breadth and run success, 25 points
    each; `success` None (no app database) scores the three event parts out of 100."""
    recency = PART * max(0.0, 1.0 - days_since / window)
    frequency = PART * min(1.0, active_days / FULL_DAYS)
    wide = PART * min(1.0, breadth / FULL_BREADTH)
    if success is None:
        return round((recency + frequency + wide) * 100.0 / (3 * PART), 1)
    return round(recency + frequency + wide + PART * success, 1)


def score_sql(runs: str | None, moment: datetime, window: int, suffix: str = "") -> str:
    """SELECT of each identified person of churn_persons' rows active in the window before
    `moment` (the columns of `suffix`: '' as of as_of, '_then' as of the backtest's moment),
    with their score: the SQL of `engagement_score`."""
    m = f"TIMESTAMP '{naive_utc(moment):%Y-%m-%d %H:%M:%S}'"
    days = f"(epoch({m}) - epoch(CAST(p.last_seen{suffix} AS TIMESTAMP))) / 86400.0"
    parts = [
        f"{PART} * greatest(0.0, 1.0 - {days} / {window})",
        f"{PART} * least(1.0, p.active_days{suffix} / {float(FULL_DAYS)})",
        f"{PART} * least(1.0, p.breadth{suffix} / {float(FULL_BREADTH)})",
    ]
    if runs is None:
        score = f"round(({' + '.join(parts)}) * 100.0 / {3 * PART}, 1)"
        join = ""
    else:
        parts.append(
            f"{PART} * coalesce(r.runs_completed / nullif(CAST(r.run_count AS DOUBLE), 0), 0)"
        )
        score = f"round({' + '.join(parts)}, 1)"
        join = f"LEFT JOIN {runs} r ON r.email = p.email AND p.email <> ''"
    return f"""
        SELECT p.person_id, p.email, {days} AS days_since, p.active_days{suffix} AS active_days,
               p.breadth{suffix} AS breadth, {score} AS score
        FROM persons p {join}
        WHERE p.active_days{suffix} > 0 AND p.email <> ''
    """


def apply_signals(con: Any, table: str, column: str) -> None:
    """`table`'s column `signal`: whether the person did a churn signal (CHURN_SIGNALS) in the
    window before its moment (churn_signals.sql's `column`: `signals` as of as_of, `signals_then`
    as of the backtest's); such a person's score loses SIGNAL_POINTS (not below 0). The live
    score and the backtest's apply it alike, so the backtest tests the score users see."""
    con.execute(f"ALTER TABLE {table} ADD COLUMN signal BOOLEAN DEFAULT false")
    con.execute(
        f"""UPDATE {table} SET signal = true,
                   score = round(greatest(0.0, score - {SIGNAL_POINTS}), 1)
            WHERE person_id IN (SELECT person_id FROM signals WHERE {column} > 0)"""
    )


def score_facts(
    ws: Any, as_of: datetime, *, window: int = WINDOW_DAYS, progress: Any = None
) -> AbstractContextManager[Any]:
    """The score's facts as of `as_of` (open_facts_tables: the tables `persons`, of
    engagement_facts.sql, and `signals` on one connection), which `user_scores_sql` scores:
    churn_persons' rows that score_sql reads, without the backtest's columns. Every `segments`
    (and the dashboards' segments panels) reads them as of its moment: on the local engine they
    are kept beside the store, a row per person, and read back while it is unchanged."""
    since = as_of - timedelta(days=window)
    persons = FactsTable("posthog/engagement_facts", "persons", ENGAGEMENT, {"since": since},
                         "fetching each person's engagement", keep=True)  # fmt: skip
    # churn_signals' _then column goes unread: its window is made empty
    signals = replace(facts_tables(since, since, since)[1], keep=True)
    return open_facts_tables(ws, as_of, [persons, signals], progress)


def user_scores_sql(as_of: datetime, runs: str | None, *, window: int = WINDOW_DAYS) -> str:
    """The SELECT, on a connection of score_facts', of each identified person with an event in
    the window before as_of: their `email` and `score`, scored as `churn` scores them now (the
    same facts and SQL: score_sql, and apply_signals' points off in the same statement).
    `runs`: a table or view of that connection holding the app's runs per email (`email`,
    `run_count`, `runs_completed`: runs.sql's), None without an app database (the three
    event parts, scaled to 100)."""
    signalled = "p.person_id IN (SELECT person_id FROM signals WHERE signals > 0)"
    return f"""
        SELECT p.email, CASE WHEN {signalled}
                             THEN round(greatest(0.0, p.score - {SIGNAL_POINTS}), 1)
                             ELSE p.score END AS score
        FROM ({score_sql(runs, as_of, window)}) AS p"""
