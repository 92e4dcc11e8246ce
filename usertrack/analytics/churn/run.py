"""Churn, lifetime, the engagement score and a churn risk checked against history
(docs/metrics.md, "Churn and engagement").

Facts: queries/posthog/churn_periods.sql (per person, the periods they were active in),
churn_persons.sql (per person as of as_of, and as of the backtest's moment: first and last
event, active days, events and breadth in the window before), churn_signals.sql (per person, the
churn signals in the window before either moment) and churn_events.sql (per person and event
name in the window), each a facts table counted in DuckDB (the local engine in place, any
other source's rows loaded), as retention's are. The app's runs (queries/neon/runs.sql) and
accounts (queries/neon/accounts.sql) come from its database when one is open (the demo's, or
DATABASE_URL's; usertrack.analytics.churn.app): without one the score is out of its three event
parts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from usertrack.analytics.churn.answer import (
    BANDS,
    HIGH_RISK_BELOW,
    Backtest,
    Characteristic,
    Churn,
    Lifetime,
    Period,
    band_labels,
    band_of,
)
from usertrack.analytics.churn.score import (
    WINDOW_DAYS,
    apply_signals,
    facts_tables,
    score_sql,
)
from usertrack.analytics.common import (
    FactsTable,
    next_period,
    open_facts_tables,
    period_start,
)
from usertrack.core.clock import naive_utc
from usertrack.core.errors import UsageError
from usertrack.core.style import percent

HORIZON_DAYS = 28  # the backtest scores as of this many days before as_of
MAX_PERIODS = 104
MAX_DAYS = 3660


def window_days(text: str) -> int:
    """`--window` (a DURATION, as every command's) as the whole days the score counts."""
    from usertrack.analytics.common import parse_window

    window = parse_window(text)
    if window % timedelta(days=1):
        raise UsageError(f"--window {text!r} must be whole days (the score counts days): 30d, 4w")
    return window.days


def check(periods: int, window: int, horizon: int, top: int) -> None:
    if not 2 <= periods <= MAX_PERIODS:
        raise UsageError(f"--periods {periods} must be from 2 to {MAX_PERIODS}")
    if not 1 <= window <= MAX_DAYS:
        raise UsageError(f"--window {window} must be from 1 to {MAX_DAYS} days")
    if not 1 <= horizon <= MAX_DAYS:
        raise UsageError(f"--horizon {horizon} must be from 1 to {MAX_DAYS} days")
    if not 0 <= top <= 1000:
        raise UsageError(f"--limit {top} must be from 0 to 1000")


def churn(
    ws: Any,
    as_of: datetime,
    *,
    period: str = "week",
    periods: int = 8,
    window: int = WINDOW_DAYS,
    horizon: int = HORIZON_DAYS,
    top: int = 10,
    backtest: bool = True,
    progress: Any = None,
    cell: str | None = None,
) -> Churn:
    """`cell` (cell_of's): also that cell's persons, `Churn.cell_persons`."""
    check(periods, window, horizon, top)
    last = period_start(as_of - timedelta(microseconds=1), period)
    if datetime.combine(next_period(last, period), datetime.min.time()) > naive_utc(as_of):
        last = next_period(last, period, -1)  # the period holding as_of is partial: left out
    starts = [next_period(last, period, -k) for k in range(periods, -1, -1)]  # and the one before
    then = as_of - timedelta(days=horizon)
    since_now = as_of - timedelta(days=window)
    since_then = then - timedelta(days=window)
    facts = [
        FactsTable(
            "posthog/churn_periods",
            "active",
            {"person_id": "VARCHAR", "period_start": "DATE"},
            {"since": datetime.combine(starts[0], datetime.min.time()), "period": period},
            "fetching activity per period",
        ),
        # without the backtest the _then columns go unread: their window is made empty
        *facts_tables(since_now, then if backtest else since_now,
                      since_then if backtest else since_now),
    ]  # fmt: skip
    # the app's database answers on a thread of its own while the events' store is opened and
    # its facts are counted
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=3) as pool:
        from usertrack.analytics.churn.app import app_facts

        asked = app_facts(ws, as_of, then if backtest else None, progress, pool)
        kept = None
        if cell is None:  # the answer as counted before from the same store and app facts
            from usertrack.analytics.churn.kept import kept_churn

            options = {"period": period, "periods": periods, "window": window,
                       "horizon": horizon, "top": top, "backtest": backtest}  # fmt: skip
            kept = kept_churn(ws, as_of, options)
            found = kept.answer(as_of, horizon, asked) if kept is not None else None
            if found is not None:
                return found
        bits = _event_bits_values(ws, as_of, since_now)
        if bits is None:  # else the store's tables answer for the file (_event_bits)
            facts.append(
                FactsTable(
                    "posthog/churn_events",
                    "person_events",
                    {"person_id": "VARCHAR", "event": "VARCHAR", "events": "BIGINT"},
                    {"since": since_now},
                    "fetching each person's events",
                )
            )
        with open_facts_tables(ws, as_of, facts, progress) as con:
            if bits is not None:
                _event_bits(con, bits)
            app = {name: job.result() for name, job in asked.items()} if asked else None
            result = _with_app(con, app, as_of, period, starts, window, then, backtest, horizon,
                               top)  # fmt: skip
            if cell is not None:
                result.cell_persons = _cell_persons(con, as_of, window, cell)
        if kept is not None:
            kept.keep(result, asked)
        return result


# `--persons CELL`: the cells of churn, each the persons its figure counts (cell_of)
AT_RISK, LEFT = "at-risk", "left"


def cells() -> list[str]:
    return [AT_RISK, *band_labels(), LEFT]


def cell_of(text: str) -> str | None:
    """The cell `text` names (at-risk, a band as the distribution writes it, left), else None."""
    cleaned = text.strip().lower().replace(" ", "").replace("_", "-")
    return cleaned if cleaned in cells() else None


def _cell_persons(con: Any, as_of: datetime, window: int, cell: str) -> set[str]:
    """The person ids of `cell`, as _counted counts its figure: the at-risk persons (score
    under HIGH_RISK_BELOW), those of a band of the distribution, or those who left."""
    if cell == LEFT:
        since = naive_utc(as_of - timedelta(days=window))
        sql = "SELECT person_id FROM persons WHERE last_seen < $since AND email <> ''"
        rows = con.execute(sql, {"since": since}).fetchall()
    elif cell == AT_RISK:
        sql = f"SELECT person_id FROM scored_now WHERE score < {HIGH_RISK_BELOW}"
        rows = con.execute(sql).fetchall()
    else:
        low, high = next((lo, hi) for lo, hi in BANDS if band_of(lo) == cell)
        top = "" if high >= BANDS[-1][1] else f" AND score < {high}"
        rows = con.execute(f"SELECT person_id FROM scored_now WHERE score >= {low}{top}").fetchall()
    return {str(r[0]) for r in rows if r[0] is not None}


def _event_bits_values(ws: Any, as_of: datetime, since: datetime) -> dict[str, Any] | None:
    """The values churn_events.sql is bound with, as the local engine binds them, where the
    events store's tables answer for it (the file as shipped, no --where, no group of persons,
    a store with the tables); else None, and the file runs."""
    source = ws.sources.get("posthog")
    if ws.scope.person_rows is not None or ws.scope.person_filter is not None:
        return None
    if source is None or not source.has_facts:
        return None
    from usertrack.engines.local import churn_rollups, shortcuts
    from usertrack.engines.local.source import wire_value

    if not source.has_tables(churn_rollups.TABLES):
        return None
    query, values = ws.bind("posthog/churn_events", as_of, since=since)
    if shortcuts.find(query, "facts", values) is None:
        return None
    return {k: wire_value(v) for k, v in values.items()}


def _event_bits(con: Any, values: dict[str, Any]) -> None:
    """The temporary tables person_event_names (event, code) and person_event_bits (person_id,
    word, bits): churn_events.sql's pairs of person and event name from the store's tables
    (usertrack.engines.local.churn_rollups.EVENT_BITS_SQL), which _characteristics counts."""
    from usertrack.engines.local.churn_rollups import EVENT_BITS_SQL, EVENT_NAMES_SQL

    con.execute(f"CREATE TEMP TABLE person_event_names AS {EVENT_NAMES_SQL}")
    sql = EVENT_BITS_SQL.format(names="person_event_names")
    used = {k: v for k, v in values.items() if f"${k}" in sql}
    con.execute(f"CREATE TEMP TABLE person_event_bits AS {sql}", used)


def _with_app(
    con: Any,
    app: dict[str, Any] | None,
    as_of: datetime,
    period: str,
    starts: list[Any],
    window: int,
    then: datetime,
    backtest: bool,
    horizon: int,
    top: int,
) -> Churn:
    """_counted over the facts tables of `con`, with the app's tables made there: each from
    one JSON text of its columns (churn_app.app_facts), parsed in DuckDB, or from its columns
    bound as lists; not made Arrow, which would import pyarrow and, where it is installed,
    pandas for them, unless a source answered them as an Arrow table already (scanned so)."""
    runs_now = runs_then = None
    for name, (types, columns) in (app or {}).items():
        if isinstance(columns, str):
            # parsed once, every column's array taken out in one json_extract (each `->` would
            # parse the whole text), each then made a typed list: a quarter of the CPU of one
            # json_transform into a struct of lists (0.12 s for the accounts at 100,000 users)
            paths = ", ".join(f"'$.{c}'" for c in types)
            select = ", ".join(
                f"""unnest(json_transform(j[{i}], '["{t}"]')) AS {c}"""
                for i, (c, t) in enumerate(types.items(), 1)
            )
            con.execute(
                f"CREATE TEMP TABLE {name} AS SELECT {select}"
                f" FROM (SELECT json_extract($columns, [{paths}]) AS j)",
                {"columns": columns},
            )
        elif isinstance(columns, dict):
            select = ", ".join(f"CAST(unnest(${c}) AS {t}) AS {c}" for c, t in types.items())
            con.execute(f"CREATE TEMP TABLE {name} AS SELECT {select}", columns)
        else:  # an Arrow table of those columns (a source's answer as it came): scanned as is
            select = ", ".join(f'CAST("{c}" AS {t}) AS {c}' for c, t in types.items())
            con.register("_app_in", columns)
            try:
                con.execute(f"CREATE TEMP TABLE {name} AS SELECT {select} FROM _app_in")
            finally:
                con.unregister("_app_in")
        runs_now, runs_then = "runs_now", "runs_then"
    try:
        result = _counted(con, as_of, period, starts, window, then if backtest else None,
                          horizon, top, runs_now, runs_then)  # fmt: skip
    finally:
        for name in app or {}:
            con.execute(f"DROP TABLE IF EXISTS {name}")
    result.app_database = app is not None
    return result


def _period_counts(con: Any, period: str) -> dict[int, tuple[int, int, int]]:
    """Each period's index -> its active, retained (active the period before too) and new
    persons, from the facts tables `active` and `persons` and the table `periods`."""
    # each person's periods as the bits of one mask (bit i: active in period i; at most 105
    # periods), then every period's counts from the masks: one grouping by person, where a row
    # per person and period joined to the period before costs twice the CPU
    one = "CAST(1 AS UHUGEINT)"
    bit = f"& {one} = {one}"
    rows = con.execute(
        f"""
        WITH masks AS (
            SELECT a.person_id, bit_or({one} << CAST(p.idx AS UHUGEINT)) AS mask
            FROM active a JOIN periods p ON p.start = a.period_start
            GROUP BY a.person_id),
        firsts AS (
            SELECT m.mask, m.mask & (m.mask << {one}) AS kept,
                   CAST(date_trunc('{period}', n.first_seen) AS DATE) AS first_period
            FROM masks m LEFT JOIN persons n ON n.person_id = m.person_id)
        SELECT s.idx, count(*) FILTER (WHERE (f.mask >> CAST(s.idx AS UHUGEINT)) {bit}),
               count(*) FILTER (WHERE (f.kept >> CAST(s.idx AS UHUGEINT)) {bit}),
               count(*) FILTER (WHERE (f.mask >> CAST(s.idx AS UHUGEINT)) {bit}
                                AND f.first_period = s.start)
        FROM firsts f CROSS JOIN periods s
        GROUP BY s.idx
        """
    ).fetchall()
    return {int(i): (int(a), int(r), int(n)) for i, a, r, n in rows}


def _counted(
    con: Any,
    as_of: datetime,
    period: str,
    starts: list[Any],
    window: int,
    then: datetime | None,
    horizon: int,
    top: int,
    runs_now: str | None,
    runs_then: str | None,
) -> Churn:
    con.execute(
        "CREATE TEMP TABLE periods AS SELECT unnest($starts) AS start,"
        " generate_subscripts($starts, 1) - 1 AS idx",
        {"starts": starts},
    )
    by = _period_counts(con, period)
    shown = []
    for i, start in enumerate(starts):
        if i == 0:
            continue  # the period before the first shown: its churn compares with it
        active, retained, new = by.get(i, (0, 0, 0))
        before = by.get(i - 1, (0, 0, 0))[0]
        shown.append(Period(start, active, new, retained, active - retained - new,
                            before - retained))  # fmt: skip

    # lifetime of those who left: no event in the window up to as_of
    since = naive_utc(as_of - timedelta(days=window))
    left = con.execute(
        """SELECT count(*),
                  round(avg(epoch(last_seen - first_seen)) / 86400.0, 1),
                  round(median(epoch(last_seen - first_seen)) / 86400.0, 1)
           FROM persons WHERE last_seen < $since AND email <> ''""",
        {"since": since},
    ).fetchone()
    lifetime = Lifetime(int(left[0]), _float(left[1]), _float(left[2]))

    scored_now = score_sql(runs_now, as_of, window)
    con.execute(f"CREATE TEMP TABLE scored_now AS {scored_now}")
    apply_signals(con, "scored_now", "signals")
    if then is not None:
        scored_then = score_sql(runs_then, then, window, "_then")
        con.execute(f"CREATE TEMP TABLE scored_then AS {scored_then}")
        apply_signals(con, "scored_then", "signals_then")
    else:  # no backtest: no one scored then
        con.execute("CREATE TEMP TABLE scored_then AS SELECT * FROM scored_now WHERE false")
    summary = con.execute(
        """SELECT count(*), round(avg(score), 1), round(median(score), 1) FROM scored_now"""
    ).fetchone()
    previous = con.execute("SELECT round(avg(score), 1) FROM scored_then").fetchone()
    edges = [high for _, high in BANDS[:-1]]
    band_sql = (
        "CASE "
        + " ".join(f"WHEN score < {high} THEN {i}" for i, high in enumerate(edges))
        + f" ELSE {len(edges)} END"
    )
    counts = dict(
        con.execute(f"SELECT {band_sql} AS b, count(*) FROM scored_now GROUP BY b").fetchall()
    )
    labels = band_labels()
    distribution = [(label, int(counts.get(i, 0))) for i, label in enumerate(labels)]

    # the backtest: everyone scored as of `then`; dormant = no event after it up to as_of
    backtest = None
    if then is not None:
        tested = con.execute(
            f"""SELECT {band_sql} AS b, count(*),
                       count(*) FILTER (WHERE n.last_seen IS NULL OR n.last_seen <= $m),
                       count(*) FILTER (WHERE score < {HIGH_RISK_BELOW}),
                       count(*) FILTER (WHERE score < {HIGH_RISK_BELOW}
                                        AND (n.last_seen IS NULL OR n.last_seen <= $m))
                FROM scored_then t LEFT JOIN persons n ON n.person_id = t.person_id
                GROUP BY b""",
            {"m": naive_utc(then)},
        ).fetchall()
        per_band = {int(b): (int(n), int(d)) for b, n, d, _, _ in tested}
        backtest = Backtest(
            moment=then,
            horizon_days=horizon,
            scored=sum(int(r[1]) for r in tested),
            dormant=sum(int(r[2]) for r in tested),
            high_risk=sum(int(r[3]) for r in tested),
            high_risk_dormant=sum(int(r[4]) for r in tested),
            bands=[(label, *per_band.get(i, (0, 0))) for i, label in enumerate(labels)],
        )

    at_risk_count = int(
        con.execute(f"SELECT count(*) FROM scored_now WHERE score < {HIGH_RISK_BELOW}").fetchone()[
            0
        ]
    )
    listed = con.execute(
        f"""SELECT s.person_id, s.email, s.score, round(s.days_since, 1), s.active_days,
                   s.breadth, t.score, {band_sql.replace("score", "s.score")}, s.signal
            FROM scored_now s LEFT JOIN scored_then t ON t.person_id = s.person_id
            WHERE s.score < {HIGH_RISK_BELOW}
            ORDER BY s.score, s.days_since DESC, s.person_id
            LIMIT {int(top)}"""
    ).fetchall()
    users = [
        {
            "person_id": pid,
            "email": email or None,
            "score": float(score),
            "days_since_active": float(days),
            "active_days": int(active),
            "breadth": int(breadth),
            "score_change": None if before is None else round(float(score) - float(before), 1),
            "churn_probability": backtest.band_rate(labels[int(b)]) if backtest else None,
            "churn_signal": bool(signal),
        }
        for pid, email, score, days, active, breadth, before, b, signal in listed
    ]
    result = Churn(
        as_of=as_of,
        period=period,
        window_days=window,
        app_database=runs_now is not None,
        periods=shown,
        lifetime=lifetime,
        scored=int(summary[0]),
        average_score=_float(summary[1]),
        median_score=_float(summary[2]),
        previous_average_score=_float(previous[0]),
        distribution=distribution,
        backtest=backtest,
        at_risk=users,
        at_risk_count=at_risk_count,
    )
    result.characteristics = _characteristics(con, runs_now is not None)
    return result


def _has_bits(con: Any) -> bool:
    """Whether the window's pairs of person and event name are the store's bits (_event_bits)
    rather than churn_events.sql's rows (person_events)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'person_event_bits' AND temporary"
    ).fetchone()
    return bool(found and found[0])


def _characteristics(con: Any, app: bool, top_events: int = 8) -> list[Characteristic]:
    """What sets the at-risk persons (score under HIGH_RISK_BELOW) apart from the other scored
    persons: the event names whose share of persons differs most (the window's events), then
    the app's facts (subscription status shares, credits, runs and run success averages)."""
    g = f"(s.score < {HIGH_RISK_BELOW})"
    sizes = dict(con.execute(f"SELECT {g}, count(*) FROM scored_now s GROUP BY ALL").fetchall())
    risky, others = int(sizes.get(True, 0)), int(sizes.get(False, 0))
    if not risky or not others:
        return []
    # person_events holds a row per person and event name (churn_events.sql groups by both),
    # so each joined row is one person of that event: counted, not a distinct count; the same
    # pairs from the store's tables are each person's bits (_event_bits), a name's bit set once
    if _has_bits(con):
        rows = _bit_counts(con, g)
    else:
        rows = con.execute(
            f"""WITH s AS (SELECT person_id, {g} AS risky FROM scored_now s)
                SELECT e.event, count(*) FILTER (WHERE s.risky),
                       count(*) FILTER (WHERE NOT s.risky)
                FROM person_events e JOIN s ON s.person_id = e.person_id
                GROUP BY e.event"""
        ).fetchall()
    events = [
        Characteristic("event", str(name), percent(int(a), risky), percent(int(b), others), "%")
        for name, a, b in rows
    ]
    events.sort(key=lambda c: (-abs(c.difference or 0), c.name))
    found = events[:top_events]
    if not app:
        return found
    statuses = con.execute(
        f"""SELECT coalesce(a.subscription_status, '(none)'),
                   count(*) FILTER (WHERE {g}),
                   count(*) FILTER (WHERE NOT {g})
            FROM scored_now s LEFT JOIN accounts a ON a.email = s.email AND s.email <> ''
            GROUP BY ALL ORDER BY 1"""
    ).fetchall()
    for status, a, b in statuses:
        found.append(
            Characteristic(
                "app", f"subscription_status = {status}", percent(int(a), risky),
                percent(int(b), others), "%",
            )
        )  # fmt: skip
    averages = con.execute(
        f"""SELECT {g} AS g,
                   round(avg(a.credits), 1),
                   round(avg(coalesce(r.run_count, 0)), 1),
                   round(avg(100.0 * r.runs_completed / nullif(r.run_count, 0)), 1)
            FROM scored_now s
            LEFT JOIN accounts a ON a.email = s.email AND s.email <> ''
            LEFT JOIN runs_now r ON r.email = s.email AND s.email <> ''
            GROUP BY g"""
    ).fetchall()
    by = {bool(g): rest for g, *rest in averages}
    for i, name in enumerate(("credits", "run_count", "run_success_rate")):
        found.append(
            Characteristic(
                "app", name, _float(by.get(True, [None] * 3)[i]),
                _float(by.get(False, [None] * 3)[i]), "average",
            )
        )  # fmt: skip
    return found


def _bit_counts(con: Any, risky: str) -> list[tuple[Any, int, int]]:
    """Each event name's scored persons, at risk (`risky`, over scored_now `s`) and not, from
    their bits (_event_bits): each name's bit summed over the persons of its word, one column
    per name, in one pass; the names no scored person did are left out, as a join leaves them."""
    names = con.execute("SELECT event, code FROM person_event_names ORDER BY code").fetchall()
    rows: list[tuple[Any, int, int]] = []
    for word in sorted({code // 64 for _, code in names}):
        listed = [(event, code % 64) for event, code in names if code // 64 == word]
        one = "CAST(1 AS UBIGINT)"
        sums = ", ".join(
            f"sum(CAST((b.bits >> CAST({bit} AS UBIGINT)) & {one} AS BIGINT))"
            f" FILTER (WHERE {risky})"
            f", sum(CAST((b.bits >> CAST({bit} AS UBIGINT)) & {one} AS BIGINT))"
            f" FILTER (WHERE NOT {risky})"
            for _, bit in listed
        )
        found = con.execute(
            f"""SELECT {sums} FROM person_event_bits b
                JOIN scored_now s ON s.person_id = b.person_id
                WHERE b.word = $word""",
            {"word": word},
        ).fetchone()
        for i, (event, _) in enumerate(listed):
            at_risk, rest = int(found[2 * i] or 0), int(found[2 * i + 1] or 0)
            if at_risk or rest:
                rows.append((event, at_risk, rest))
    return rows


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
