"""Churn, lifetime, the engagement score and its backtest on a hand-made events export.

Every expected figure is worked out here from the events below (docs/metrics.md, "Churn and
engagement"). As of Monday 2026-06-01 00:00 UTC: the shown weeks are those of May 18 and May 25
(both ended), the week of May 11 is the one the first compares with. No app database: the score
is out of its three event parts (recency, frequency, breadth), scaled to 100.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import assert_usage_error, live_posthog, record, run_json, write_export
from tests.cli_runner import run

AS_OF = "2026-06-01"
ARGS = ["--periods", "2", "--horizon", "14"]

EVENTS = [
    # a: every week from May 11's; three product events; last May 31 12:00 (0.5 days ago)
    ("a", "ping", "2026-05-12T12:00:00"),
    ("a", "ping", "2026-05-19T12:00:00"),
    ("a", "open", "2026-05-26T12:00:00"),
    ("a", "ping", "2026-05-26T12:30:00"),
    ("a", "save", "2026-05-31T12:00:00"),
    # b: weeks of May 11 and 18, then gone (churned in May 25's week); $pageview is no breadth
    ("b", "ping", "2026-05-13T12:00:00"),
    ("b", "$pageview", "2026-05-20T12:00:00"),
    # c: first seen May 5, away in May 11's week, back May 19 (resurrected), then gone
    ("c", "ping", "2026-05-05T12:00:00"),
    ("c", "ping", "2026-05-19T12:00:00"),
    # d: new in May 25's week
    ("d", "ping", "2026-05-27T12:00:00"),
    # e: May 14 only: churned in May 18's week
    ("e", "ping", "2026-05-14T12:00:00"),
    # f and g left before the window (no event from May 2): lifetimes 10 and 0 days
    ("f", "ping", "2026-04-01T00:00:00"),
    ("f", "ping", "2026-04-11T00:00:00"),
    ("g", "ping", "2026-04-20T12:00:00"),
    # an anonymous visitor counts in the weeks, never in the score
    ("anon", "ping", "2026-05-26T08:00:00"),
    # after as_of: does not exist yet
    ("e", "ping", "2026-06-01T00:00:01"),
]
RECORDS = [
    record(n, event, datetime.fromisoformat(when).replace(tzinfo=UTC), pid, pid,
           "" if pid == "anon" else f"{pid}@example.com")
    for n, (pid, event, when) in enumerate(EVENTS, 1)
]  # fmt: skip


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


def churn_json(export: Path, args: list[str] = ARGS) -> dict[str, Any]:
    return run_json("churn", args, as_of=AS_OF, USERTRACK_EVENTS=str(export))


def test_periods_churn_rate_and_lifetime(export: Path) -> None:
    doc = churn_json(export)
    # May 11's week: a, b, e. May 18's: a, b (retained), c (resurrected: first seen May 5);
    # e churned: 1 of the 3 active before. May 25's: a (retained), d and anon (new); b and c
    # churned: 2 of 3.
    assert doc["periods"] == [
        {"start": "2026-05-18", "active": 3, "new": 0, "retained": 2, "resurrected": 1,
         "churned": 1, "churn_rate": 33.3},
        {"start": "2026-05-25", "active": 3, "new": 2, "retained": 1, "resurrected": 0,
         "churned": 2, "churn_rate": 66.7},
    ]  # fmt: skip
    assert doc["churn_rate"] == 50.0  # (1 + 2) of (3 + 3)
    # left: f (April 1 to 11: 10 days) and g (one event: 0 days)
    assert doc["lifetime"] == {"left": 2, "average_days": 5.0, "median_days": 5.0}
    assert doc["app_database"] is False


def test_engagement_scores_by_hand(export: Path) -> None:
    doc = churn_json(export)
    # (recency + frequency + breadth) * 100 / 75, as of June 1 00:00, window May 2 - June 1:
    # a: 25 * (1 - 0.5/30) + 25 * 4/12 + 25 * 3/5 = 47.917 -> 63.9
    # b: 25 * (1 - 11.5/30) + 25 * 2/12 + 25 * 1/5 = 24.583 -> 32.8
    # c: 25 * (1 - 12.5/30) + 25 * 2/12 + 5 = 23.750 -> 31.7 (May 5 is in the window)
    # d: 25 * (1 - 4.5/30) + 25 * 1/12 + 5 = 28.333 -> 37.8
    # e: 25 * (1 - 17.5/30) + 25 * 1/12 + 5 = 17.500 -> 23.3
    engagement = doc["engagement"]
    assert engagement["scored"] == 5
    assert engagement["average"] == 37.9  # (63.9 + 32.8 + 31.7 + 37.8 + 23.3) / 5
    assert engagement["median"] == 32.8
    assert engagement["distribution"] == [
        {"band": "0-19", "persons": 0}, {"band": "20-39", "persons": 4},
        {"band": "40-59", "persons": 0}, {"band": "60-79", "persons": 1},
        {"band": "80-100", "persons": 0},
    ]  # fmt: skip
    # as of May 18 (14 days before), window April 18 - May 18, one active day and one product
    # event each: a 5.5 days -> 36.7, b 4.5 -> 37.8, c 12.5 -> 28.9, e 3.5 -> 38.9, g 27.5 ->
    # 12.2; average 30.9, so +7.0 since
    assert (engagement["previous_average"], engagement["change"]) == (30.9, 7.0)
    risk = doc["at_risk"]
    assert (risk["below_score"], risk["persons"]) == (30.0, 1)
    assert risk["users"] == [
        {"person_id": "e", "email": "e@example.com", "score": 23.3, "days_since_active": 17.5,
         "active_days": 1, "breadth": 1, "score_change": -15.6, "churn_probability": 25.0,
         "churn_signal": False}
    ]  # fmt: skip


def test_backtest_precision_and_recall(export: Path) -> None:
    backtest = churn_json(export)["backtest"]
    # scored as of May 18: a, b, c, e, g. Dormant since (no event after May 18 00:00): e, g;
    # base rate 2 of 5. High risk (under 30): c (28.9) and g (12.2); g went dormant: precision
    # 1 of 2, recall 1 of 2, lift 50 / 40.
    assert backtest["moment"] == "2026-05-18T00:00:00Z"
    assert (backtest["scored"], backtest["went_dormant"], backtest["base_rate"]) == (5, 2, 40.0)
    assert (backtest["high_risk"], backtest["high_risk_went_dormant"]) == (2, 1)
    assert (backtest["precision"], backtest["recall"], backtest["lift"]) == (50.0, 50.0, 1.25)
    assert backtest["bands"][:2] == [
        {"band": "0-19", "persons": 1, "went_dormant": 1, "rate": 100.0},
        {"band": "20-39", "persons": 4, "went_dormant": 1, "rate": 25.0},
    ]
    none = churn_json(export, [*ARGS, "--no-backtest"])
    assert none["backtest"] is None and none["engagement"]["previous_average"] is None


def test_characteristics_of_the_at_risk(export: Path) -> None:
    traits = churn_json(export)["characteristics"]
    # at risk: e (ping); the others a (ping, open, save), b (ping, $pageview), c, d (ping)
    assert [(t["name"], t["at_risk"], t["others"], t["difference"]) for t in traits] == [
        ("$pageview", 0.0, 25.0, -25.0), ("open", 0.0, 25.0, -25.0),
        ("save", 0.0, 25.0, -25.0), ("ping", 100.0, 100.0, 0.0),
    ]  # fmt: skip


def test_score_is_monotone_in_each_part() -> None:
    from usertrack.analytics.churn.score import engagement_score

    days = [0, 0.5, 3, 10, 29.9, 30, 45]
    actives = [0, 1, 5, 12, 20]
    breadths = [0, 1, 3, 5, 9]
    successes = [None, 0.0, 0.5, 1.0]
    for d, a, b, s in itertools.product(days, actives, breadths, successes):
        score = engagement_score(d, a, b, s)
        assert 0 <= score <= 100
        later = engagement_score(d + 1, a, b, s)
        assert later <= score  # less recent: never higher
        assert engagement_score(d, a + 1, b, s) >= score
        assert engagement_score(d, a, b + 1, s) >= score
        if s is not None:
            assert engagement_score(d, a, b, min(1.0, s + 0.25)) >= score
    assert engagement_score(0, 12, 5, 1.0) == 100.0
    assert engagement_score(0, 12, 5, None) == 100.0
    assert engagement_score(30, 0, 0, 0.0) == 0.0


def test_every_format_and_the_live_path(export: Path, tmp_path: Path) -> None:
    local = churn_json(export)
    with live_posthog(export, tmp_path) as (_, env):
        live = run_json("churn", ARGS, as_of=AS_OF, **env)
    assert live == local
    env = {"USERTRACK_EVENTS": str(export)}
    table = run(["churn", *ARGS, "--as-of", AS_OF], **env)
    assert table.exit_code == 0, table.stderr
    shown = " ".join(table.stdout.split())
    assert "Churn rate: 50.0%" in shown and "precision 50.0%, recall 50.0%" in shown
    # 1 of the 2 high-risk went dormant, 1 of the 3 others: the pooled z-test's p is 0.709
    assert "no more often than the others beyond noise (p = 0.709)" in shown
    md = run(["churn", *ARGS, "--as-of", AS_OF, "-f", "md"], **env)
    assert "| 2026-05-25 | 3 | 2 | 1 | 0 | 2 | 66.7% |" in md.stdout
    assert "| e@example.com | 23.3 | -15.6 | 17.5 | 25.0% |" in md.stdout
    csv = run(["churn", *ARGS, "--as-of", AS_OF, "-f", "csv"], **env).stdout.replace("\r", "")
    assert "backtest,2026-05-18,precision,50.0" in csv
    assert "period,2026-05-18,churned,1" in csv


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--periods", "1"], "--periods 1 must be from 2 to 104"),
        (["--window", "0d"], "--window '0d' must be longer than zero"),
        (["--window", "30"], "--window '30' has no unit: 30d is 30 days"),
        (["--window", "36h"], "--window '36h' must be whole days"),
        (["--horizon", "0"], "--horizon 0"),
        (["--period", "year"], "--period 'year' is not one of day, week, month"),
    ],
)
def test_bad_input_exits_2_with_one_line(export: Path, args: list[str], fragment: str) -> None:
    assert_usage_error(["churn", *args, "--as-of", AS_OF], fragment, USERTRACK_EVENTS=str(export))


def test_the_window_help_offers_only_values_churn_takes(export: Path) -> None:
    """The score counts whole days: `--help` offers no hour or minute it would then refuse."""
    import re

    from usertrack.analytics.churn.run import window_days

    help_text = " ".join(run(["churn", "--help"]).stdout.split())
    offered = re.search(r"A DURATION: (.*?)\. \[default", help_text)
    assert offered is not None, help_text
    values = re.findall(r"\b\d+(?:mo|[dwhm])\b", offered.group(1))
    assert values and "1h" not in values
    assert all(window_days(value) >= 1 for value in values)


def test_limit_is_n_as_in_the_other_commands_and_top_its_hidden_old_name(export: Path) -> None:
    everyone = churn_json(export)
    assert len(everyone["at_risk"]["users"]) == 1
    for flag in ("-n", "--limit", "--top"):
        assert churn_json(export, [*ARGS, flag, "0"])["at_risk"]["users"] == []
    help_text = run(["churn", "--help"]).stdout
    assert "--limit" in help_text and "--top" not in help_text
    assert_usage_error(
        ["churn", "-n", "1001", "--as-of", AS_OF], "--limit 1001", USERTRACK_EVENTS=str(export)
    )


APP_ROWS = """
INSERT INTO wasp_user VALUES (1, 'a@x.io', 10, 'active', NULL, '2026-05-01');
INSERT INTO wasp_user VALUES (2, E' A@X.io\\t', 90, NULL, NULL, '2026-05-02');
INSERT INTO wasp_user VALUES (3, E' \\r\\n', 100, 'trialing', NULL, '2026-05-03');
INSERT INTO wasp_user VALUES (4, NULL, 100, NULL, NULL, '2026-05-03');
INSERT INTO wasp_user VALUES (5, 'z@datagen.dev', 100, NULL, NULL, '2026-05-03');
INSERT INTO wasp_user VALUES (6, 'Late@x.io', 100, 'active', NULL, '2026-07-01');
INSERT INTO wasp_user VALUES (7, 'b@x.io', NULL, 'canceled', NULL, '2026-05-04');
INSERT INTO fastapi_user VALUES (11, 1), (12, 2), (13, 3), (14, 4), (15, 5), (16, 6), (17, 7),
    (18, 1);
INSERT INTO fastapi_run VALUES
    (1, 11, 'completed', '2026-05-02', NULL), (2, 11, 'failed', '2026-05-20', NULL),
    (3, 12, 'completed', '2026-05-03', NULL), (4, 18, 'completed', '2026-05-25', NULL),
    (5, 13, 'failed', '2026-05-04', NULL), (6, 14, 'completed', '2026-05-04', NULL),
    (7, 15, 'completed', '2026-05-04', NULL), (8, 16, 'completed', '2026-05-28', NULL),
    (9, 17, 'completed', '2026-05-29', NULL), (10, 17, 'completed', '2026-06-02', NULL),
    (11, 11, 'completed', '2026-06-03', NULL);
"""


def test_the_shipped_app_files_are_asked_in_one_statement_with_the_same_rows(
    make_database: Any,
) -> None:
    """churn.APP_FACTS gives the rows churn reads of queries/neon/runs.sql (as of as_of and as
    of the backtest's moment) and queries/neon/accounts.sql as shipped: emails that differ in
    case or blanks, a blank and a NULL email, an excluded one, an account made after as_of,
    runs after either moment, a user whose runs all come after the backtest's moment."""
    import json

    import psycopg

    from tests.handmade import SCHEMA
    from usertrack.analytics.churn.app import ACCOUNTS, APP_FACTS, RUNS
    from usertrack.queries.library import parse_query, resolve_params

    repo = Path(__file__).resolve().parents[2]
    url = make_database(SCHEMA + APP_ROWS)
    neon = repo / "queries" / "neon"
    files = {n: parse_query(neon / f"{n}.sql", "neon") for n in ("runs", "accounts")}

    def rows(name: str, at: str, types: dict[str, str]) -> list[tuple[Any, ...]]:
        query = files[name]
        values = resolve_params(query, {"as_of": at, "exclude_pattern": pattern}, now_value=at)
        found = con.execute(query.sql, values)  # type: ignore[call-overload]
        at_column = {d.name: i for i, d in enumerate(found.description)}
        return sorted(tuple(r[at_column[c]] for c in types) for r in found.fetchall())

    def parsed(text: str | None, types: dict[str, str]) -> list[tuple[Any, ...]]:
        columns = json.loads(text or "{}")
        return sorted(zip(*(columns.get(c) or [] for c in types), strict=True))

    pattern = r"@datagen\.dev$"
    asked = {}
    with psycopg.connect(url) as con:
        for as_of, then in (("2026-06-01", "2026-05-10"), ("2026-05-26", "2026-05-21")):
            values = {"as_of": as_of, "then": then, "exclude_pattern": pattern}
            row = con.execute(APP_FACTS, {**values, "backtest": True}).fetchone()  # type: ignore[call-overload]
            assert row is not None
            now, before = parsed(row[0], RUNS), parsed(row[1], RUNS)
            accounts = parsed(row[2], ACCOUNTS)
            assert now == rows("runs", as_of, RUNS)
            assert before == rows("runs", then, RUNS)
            listed = rows("accounts", as_of, ACCOUNTS)
            assert accounts == [(e, None if c is None else float(c), s) for e, c, s in listed]
            unasked = con.execute(APP_FACTS, {**values, "backtest": False}).fetchone()  # type: ignore[call-overload]
            assert unasked is not None and parsed(unasked[1], RUNS) == []
            asked[as_of] = now, before, accounts
    # by hand, as of June 1 (the backtest's moment May 10): a@x.io's three users summed, runs
    # after either moment left out; a blank email's runs kept (never joined), a NULL or an
    # excluded one's not; an account made after as_of has its runs but is no account yet
    now, before, accounts = asked["2026-06-01"]
    assert now == [("", 1, 0), ("a@x.io", 4, 3), ("b@x.io", 1, 1), ("late@x.io", 1, 1)]
    assert before == [("", 1, 0), ("a@x.io", 2, 2)]
    assert accounts == [("a@x.io", 10.0, "active"), ("b@x.io", None, "canceled")]


def test_the_copy_of_the_app_tables_gives_the_statements_rows(
    make_database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """churn_app.from_copy gives APP_FACTS' three tables from the local copy of the app's
    tables (usertrack/engines/postgres/app_mirror.py) on APP_ROWS' cases, after rows are inserted,
    updated and deleted (each answer kept by the copy is read back only while nothing changed); an
    email of two users with different subscription statuses (ordered by the database's collation) is
    left to APP_FACTS."""
    import json
    from types import SimpleNamespace

    import duckdb
    import psycopg

    from tests.handmade import SCHEMA
    from usertrack.analytics.churn.app import ACCOUNTS, APP_FACTS, RUNS, from_copy
    from usertrack.core.shipped import shipped_path
    from usertrack.engines.postgres.source import PostgresSource
    from usertrack.queries.library import load_queries

    url = make_database(SCHEMA + APP_ROWS)
    source = PostgresSource(url)
    library = load_queries(shipped_path("queries"))
    ws = SimpleNamespace(
        settings=SimpleNamespace(home=tmp_path, db_connections=None),
        sources={"neon": source},
        library=library,
    )
    pattern = r"@datagen\.dev$"

    def parsed(text: str | None, types: dict[str, str]) -> list[tuple[Any, ...]]:
        columns = json.loads(text or "{}")
        return sorted(zip(*(columns.get(c) or [] for c in types), strict=True))

    def both(con: Any, as_of: datetime, then: datetime, backtest: bool) -> None:
        values = {"as_of": as_of, "then": then, "exclude_pattern": pattern, "backtest": backtest}
        now, before, accounts = con.execute(APP_FACTS, values).fetchone()
        copied = from_copy(ws, source, values)
        assert copied is not None
        assert parsed(copied["runs_now"][1], RUNS) == parsed(now, RUNS)
        assert parsed(copied["accounts"][1], ACCOUNTS) == parsed(accounts, ACCOUNTS)
        assert ("runs_then" in copied) == backtest
        if backtest:
            assert parsed(copied["runs_then"][1], RUNS) == parsed(before, RUNS)
            assert parsed(before, RUNS)  # a backtest with runs: not two empty answers

    moments = [(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 5, 10, tzinfo=UTC))]
    moments.append((datetime(2026, 5, 26, tzinfo=UTC), datetime(2026, 5, 21, tzinfo=UTC)))
    changes = [
        "INSERT INTO fastapi_run VALUES (12, 17, 'completed', '2026-05-05', NULL)",
        "UPDATE fastapi_run SET run_state = 'completed' WHERE id = 2",
        "DELETE FROM fastapi_run WHERE id = 3",
        "UPDATE wasp_user SET credits = 5, subscription_status = 'past_due' WHERE id = 7",
        "UPDATE wasp_user SET email = 'b@datagen.dev' WHERE id = 7",
    ]
    try:
        with psycopg.connect(url, autocommit=True) as con:
            for change in ["", *changes]:
                if change:
                    con.execute(change.encode())
                for as_of, then in moments:
                    both(con, as_of, then, True)
                    both(con, as_of, then, False)
                    both(con, as_of, then, True)  # asked again: the copy's kept answer
            (copy,) = (tmp_path / "cache" / "app-mirror").glob("*.duckdb")
            with duckdb.connect(str(copy), read_only=True) as kept:
                # every run up to the later as_of (June 1): two of the eleven come after
                assert kept.execute("SELECT count(*) FROM runs").fetchone() == (9,)
                # the answers kept are this generation's: the last change's four
                answers = kept.execute("SELECT key FROM answers WHERE key LIKE 'churn %'")
                assert len(answers.fetchall()) == 4
            # another version's statements (an upgrade, the copy unchanged): not the kept answer
            from usertrack.analytics.churn import app as churn_app

            counted = "count(*) FILTER (WHERE run_state = 'completed') AS completed"
            assert counted in churn_app._COPY_RUNS
            monkeypatch.setattr(
                churn_app, "_COPY_RUNS", churn_app._COPY_RUNS.replace(counted, "0 AS completed")
            )
            values = {"as_of": moments[0][0], "then": moments[0][1], "exclude_pattern": pattern}
            upgraded = from_copy(ws, source, {**values, "backtest": False})
            assert upgraded is not None
            completed = [r[2] for r in parsed(upgraded["runs_now"][1], RUNS)]
            assert completed and set(completed) == {0}
            monkeypatch.undo()
            # a@x.io's two users, one active, one trialing: max() by the database's collation
            con.execute("UPDATE wasp_user SET subscription_status = 'trialing' WHERE id = 2")
            values = {"as_of": moments[0][0], "then": moments[0][1], "exclude_pattern": pattern}
            assert from_copy(ws, source, {**values, "backtest": False}) is None
    finally:
        source.close()


def test_a_cancellation_started_raises_churn_risk(tmp_path: Path) -> None:
    """Two users alike in days and events, one of whose events is cancellation_started: the
    churn signal takes 50 points off that user's score, so they are at risk and the other is
    not; the live path (churn_events.sql's rows) agrees with the local one (the store's bits)."""
    events = [
        ("stay", "ping", "2026-05-30T12:00:00"),
        ("stay", "open", "2026-05-31T12:00:00"),
        ("quit", "ping", "2026-05-30T12:00:00"),
        ("quit", "cancellation_started", "2026-05-31T12:00:00"),
    ]
    records = [
        record(n, event, datetime.fromisoformat(when).replace(tzinfo=UTC), pid, pid,
               f"{pid}@example.com")
        for n, (pid, event, when) in enumerate(events, 1)
    ]  # fmt: skip
    export = write_export(tmp_path / "events.jsonl", records)
    local = churn_json(export)
    with live_posthog(export, tmp_path) as (_, env):
        live = run_json("churn", ARGS, as_of=AS_OF, **env)
    assert live == local
    # both: 25 * (1 - 0.5/30) + 25 * 2/12 + 25 * 2/5 = 38.75 -> 51.7; quit's signal: 1.7
    assert local["engagement"]["average"] == round((51.7 + 1.7) / 2, 1)
    users = local["at_risk"]["users"]
    assert [(u["email"], u["score"], u["churn_signal"]) for u in users] == [
        ("quit@example.com", 1.7, True)
    ]


def test_the_backtest_applies_the_churn_signal_as_the_score_now_does(tmp_path: Path) -> None:
    """The backtest scores as of its moment (as_of - 14 days: May 18) as the score now is made:
    a churn signal in the window before that moment takes 50 points off. stay and quit are alike
    up to May 18 but for quit's cancellation_started; quit then leaves, stay does not. Without
    the signal both score 50.6 then and the backtest finds no high-risk user; with it quit
    scores 0.6, is the one high-risk user and went dormant: precision and recall 100. The live
    path (churn_signals.sql on ClickHouse) agrees."""
    events = [
        ("stay", "ping", "2026-05-15T12:00:00"),
        ("stay", "open", "2026-05-16T12:00:00"),
        ("stay", "ping", "2026-05-30T12:00:00"),
        ("quit", "ping", "2026-05-15T12:00:00"),
        ("quit", "cancellation_started", "2026-05-16T12:00:00"),
    ]
    records = [
        record(n, event, datetime.fromisoformat(when).replace(tzinfo=UTC), pid, pid,
               f"{pid}@example.com")
        for n, (pid, event, when) in enumerate(events, 1)
    ]  # fmt: skip
    export = write_export(tmp_path / "events.jsonl", records)
    local = churn_json(export)
    with live_posthog(export, tmp_path) as (_, env):
        live = run_json("churn", ARGS, as_of=AS_OF, **env)
    assert live == local
    backtest = local["backtest"]
    # then: 25 * (1 - 1.5/30) + 25 * 2/12 + 25 * 2/5 = 37.92 -> 50.6 out of 100; quit: 0.6
    assert local["engagement"]["previous_average"] == round((50.6 + 0.6) / 2, 1)
    assert (backtest["scored"], backtest["went_dormant"]) == (2, 1)
    assert (backtest["high_risk"], backtest["high_risk_went_dormant"]) == (1, 1)
    assert (backtest["precision"], backtest["recall"]) == (100.0, 100.0)
    assert [(b["band"], b["persons"]) for b in backtest["bands"] if b["persons"]] == [
        ("0-19", 1),
        ("40-59", 1),
    ]


def test_the_demo_backtest_scores_its_leavers_with_their_churn_signal(
    fixed_demo_home: Path,
) -> None:
    """On the fixed demo (as of its anchor, the backtest's moment 28 days before) some users
    did cancellation_started in the 30 days before the backtest's moment; scored with the
    signal, as the score now is, the backtest finds more of the users who went dormant: 41
    high-risk users of whom 25 went dormant, where the score without the signal had 31 and 18,
    and everyone's average then is 48.9, not 53.4."""
    import duckdb

    then = datetime(2026, 10, 19)
    con = duckdb.connect(str(fixed_demo_home / "demo" / "events.duckdb"), read_only=True)
    try:
        found = con.execute(
            """SELECT count(DISTINCT person_id) FROM events
               WHERE event IN ('cancellation_started', 'account_deleted')
                 AND timestamp >= $since AND timestamp <= $then
                 AND person_email_norm IS NOT NULL
                 AND NOT regexp_matches(person_email_norm, '@datagen\\.dev$')""",
            {"since": then - timedelta(days=30), "then": then},
        ).fetchone()
    finally:
        con.close()
    assert found is not None and found[0] > 0
    doc = run_json("churn", [], as_of="2026-11-16", USERTRACK_HOME=str(fixed_demo_home))
    backtest = doc["backtest"]
    assert backtest["moment"].startswith("2026-10-19")
    assert (backtest["high_risk"], backtest["high_risk_went_dormant"]) == (41, 25)
    assert doc["engagement"]["previous_average"] == 48.9


def test_a_new_demo_has_its_runs_copied_for_the_first_churn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`usertrack demo` makes the local copy of the app's runs as the first `churn` would: that
    churn's check of the copy finds every run there, copies none, and reads the answer kept.
    And its tool calls as a dashboard's classification checks them: every one there."""
    from usertrack.analytics.churn.app import EARLIEST
    from usertrack.core.config import load_settings
    from usertrack.core.shipped import shipped_path
    from usertrack.engines.postgres import app_mirror
    from usertrack.segments import profile_copy
    from usertrack.workspace import open_workspace

    monkeypatch.setenv("USERTRACK_HOME", str(tmp_path / "home"))
    result = run(["demo", "--users", "50"])
    assert result.exit_code == 0, result.stderr
    settings = load_settings()
    ws = open_workspace(
        settings, queries_dir=shipped_path("queries"), segments_path=shipped_path("segments.yaml")
    )
    with ws:
        as_of = ws.default_as_of()
        pattern = str(ws.bind("neon/runs", as_of)[1]["exclude_pattern"])
        source = ws.sources["neon"]
        path = app_mirror.mirror_path(settings.home, source.identity)
        assert path.is_file()
        with app_mirror.AppMirror(path) as mirror:
            copied = mirror.refresh(source, EARLIEST, as_of, (app_mirror.RUNS,), pattern)
            assert not any(copied.values()), copied
            kept = "SELECT count(*) FROM answers WHERE generation = ?"
            assert mirror.con.execute(kept, [mirror.generation]).fetchone()[0] == 1
            specs = (app_mirror.TOOL_CALLS, app_mirror.RUNS)
            copied = mirror.refresh(source, profile_copy.SINCE, as_of, specs, pattern)
            assert not any(copied.values()), copied
            (calls,) = mirror.con.execute("SELECT count(*) FROM tool_calls").fetchone()
        with source.session() as conn:
            made = conn.execute("SELECT count(*) FROM fastapi_tool_executions").fetchone()
        assert made is not None and calls == made[0] > 0


def test_a_demo_made_beside_a_database_of_yours_copies_nothing_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With DATABASE_URL set, the commands read that database, not the demo's: `usertrack demo`
    neither copies the demo's runs for them nor opens that database (here an address where no
    server listens)."""
    home = tmp_path / "home"
    monkeypatch.setenv("USERTRACK_HOME", str(home))
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = run(["demo", "--users", "50"])
    assert result.exit_code == 0, result.stderr
    assert (home / "demo" / "manifest.json").is_file()
    assert not (home / "cache" / "app-mirror").exists()


def test_the_app_facts_through_the_answer_cache_come_as_arrow_with_the_same_answer(
    make_database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the answer cache (DATABASE_URL: not the database asked directly), churn takes
    the runs and accounts as the Arrow tables the database's COPY gives, scanned by DuckDB,
    with the answer of their rows bound as lists (a source that gives no Arrow), its
    characteristics read off the app's rows; and again from the cache's entries."""
    from tests.handmade import SCHEMA
    from usertrack.analytics.churn import run as churn_run
    from usertrack.engines.postgres.source import PostgresSource

    emails = {"a": "a@x.io", "b": "b@x.io", "d": "Late@x.io"}
    records = [
        record(n, event, datetime.fromisoformat(when).replace(tzinfo=UTC), pid, pid,
               emails.get(pid, "" if pid == "anon" else f"{pid}@example.com"))
        for n, (pid, event, when) in enumerate(EVENTS, 1)
    ]  # fmt: skip
    export = write_export(tmp_path / "app-events.jsonl", records)
    url = make_database(SCHEMA + APP_ROWS)
    kinds: list[str] = []  # how each app table reached DuckDB
    with_app = churn_run._with_app

    def watched(con: Any, app: Any, *args: Any) -> Any:
        kinds.extend(type(columns).__name__ for _, columns in (app or {}).values())
        return with_app(con, app, *args)

    monkeypatch.setattr(churn_run, "_with_app", watched)
    env = {"USERTRACK_EVENTS": str(export), "DATABASE_URL": url, "USERTRACK_APP_MIRROR": "0"}
    home = str(tmp_path / "home")
    with monkeypatch.context() as rows_only:
        rows_only.setattr(PostgresSource, "arrow_results", False)
        listed = run_json("churn", ARGS, as_of=AS_OF, USERTRACK_CACHE_TTL="0", **env)
    assert kinds == ["dict", "dict", "dict"]
    arrow = run_json("churn", ARGS, as_of=AS_OF, USERTRACK_HOME=home, **env)
    assert kinds[3:] == ["Table", "Table", "Table"]
    assert arrow == listed
    assert run_json("churn", ARGS, as_of=AS_OF, USERTRACK_HOME=home, **env) == listed
    assert kinds[6:] == ["Table", "Table", "Table"]
    assert "run_count" in json.dumps(listed["characteristics"])


def test_an_app_table_as_arrow_has_the_digest_of_its_lists() -> None:
    """A kept churn answer names the app facts it was counted from by a digest: an Arrow
    table of them (from the answer cache) has the digest of the same columns as lists."""
    import pyarrow as pa

    from usertrack.analytics.churn.app import RUNS
    from usertrack.analytics.churn.kept import app_digest

    class Done:
        def __init__(self, value: Any) -> None:
            self.value = value

        def result(self) -> Any:
            return self.value

    lists = {"email": ["a@x.io", "", None], "run_count": [4, 1, None], "runs_completed": [3, 0, 2]}
    table = pa.table(lists)
    assert app_digest({"runs_now": Done((RUNS, table))}) == app_digest(
        {"runs_now": Done((RUNS, lists))}
    )
    other = pa.table({**lists, "run_count": [4, 2, None]})
    assert app_digest({"runs_now": Done((RUNS, other))}) != app_digest(
        {"runs_now": Done((RUNS, lists))}
    )
