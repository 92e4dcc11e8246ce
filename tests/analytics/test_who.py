"""`--who EXPR` on every analysis, on the hand-made workspace of tests/analytics/test_by_segment.py
(whose every person's profile is known), locally and over the live HTTP path.

There b@x.io (pb) is the one account with subscription_status 'trialing' (credits 80, so in
the rules' `trial` segment and no other); a@x.io (pa) has credits 10, the only one under 50.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.analytics import test_by_segment as handmade
from tests.analytics.test_by_segment import AS_OF, FUNNEL, PAGEVIEWS, RANGE, funnel, trends
from tests.analytics_helpers import assert_usage_error, live_posthog, run_json
from tests.engine_compare import strip_live_only

db, env = handmade.db, handmade.env  # its fixtures: the accounts, the rules, the events

TRIAL = "subscription_status = 'trialing'"

# Each analysis with the arguments it is run with; pb alone is the trial user.
SEGMENTED = {
    "funnel": ["signup", "$pageview", *RANGE],
    "retention": ["--start", "$pageview", "--period", "day", "--periods", "4"],
    "activity": ["--days", "7"],
    "trends": ["$pageview", *RANGE],
    "paths": [*RANGE],
}
# The analyses without --segment, against --where keeping pb's events (pb has no anonymous
# events: every one of theirs has the distinct_id pb).
UNSEGMENTED = {
    "features": ["--days", "7", "--event"],
    "sessions": [*RANGE],
}


def _without(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in keys}


def test_who_keeps_only_the_people_the_expression_selects(env: dict[str, str]) -> None:
    """Worked by hand: the trial user's pageviews per day and funnel, and credits < 50's."""
    doc = run_json("trends", [*SEGMENTED["trends"], "--who", TRIAL], as_of=AS_OF, **env)
    assert trends(doc) == PAGEVIEWS["trial"] == [0, 0, 1]
    assert doc["who"] == TRIAL and "segment" not in doc
    doc = run_json("funnel", [*SEGMENTED["funnel"], "--who", "credits < 50"], as_of=AS_OF, **env)
    assert funnel(doc) == FUNNEL["spender"] == [1, 1]
    # a PostHog column of the profile too, with an app one: pa and pb have pageviews, pc one
    both = "pageviews >= 1 AND credits < 100"
    doc = run_json("trends", [*SEGMENTED["trends"], "--who", both], as_of=AS_OF, **env)
    assert trends(doc) == [2, 1, 1]


def test_who_after_segments_says_nothing_of_their_snapshot(env: dict[str, str]) -> None:
    """--who classifies by its one expression: the snapshot `segments` saved of the same moment
    under the segment rules is neither used nor reported as saved under other rules."""
    from tests.analytics_helpers import run_ok

    run_ok("segments", [], as_of=AS_OF, **env)
    result = run_ok(
        "funnel", [*SEGMENTED["funnel"], "--who", TRIAL, "-f", "json"], as_of=AS_OF, **env
    )
    assert "snapshot" not in result.stderr, result.stderr
    assert json.loads(result.stdout)["who"] == TRIAL


@pytest.mark.parametrize("command", sorted(SEGMENTED))
def test_who_is_the_segment_of_the_same_people(command: str, env: dict[str, str]) -> None:
    """--who selecting exactly the `trial` segment's people gives its --segment answer."""
    args = SEGMENTED[command]
    who = run_json(command, [*args, "--who", TRIAL], as_of=AS_OF, **env)
    segment = run_json(command, [*args, "--segment", "trial"], as_of=AS_OF, **env)
    assert _without(who, "who") == _without(segment, "segment")
    everyone = run_json(command, args, as_of=AS_OF, **env)
    assert _without(who, "who") != everyone


@pytest.mark.parametrize("command", sorted(UNSEGMENTED))
def test_who_on_features_and_sessions(command: str, env: dict[str, str]) -> None:
    args = UNSEGMENTED[command]
    who = run_json(command, [*args, "--who", TRIAL], as_of=AS_OF, **env)
    where = run_json(command, [*args, "--where", "distinct_id = 'pb'"], as_of=AS_OF, **env)
    assert _without(who, "who") == _without(where, "where", "where_persons")
    assert _without(who, "who") != run_json(command, args, as_of=AS_OF, **env)


def test_who_the_same_over_the_live_http_path(env: dict[str, str], tmp_path: Path) -> None:
    """Live as locally; per-person facts come over everyone (no list of persons sent), and the
    analyses that need a list send one of at most MAX_LISTED ids, else are refused."""
    from usertrack.analytics import by_segment

    runs = {**SEGMENTED, **UNSEGMENTED}
    local = {c: run_json(c, [*a, "--who", TRIAL], as_of=AS_OF, **env) for c, a in runs.items()}
    export = Path(env["USERTRACK_EVENTS"])
    with live_posthog(export, tmp_path) as (fake, live_env):
        live_env = {**live_env, "DATABASE_URL": env["DATABASE_URL"],
                    "USERTRACK_SEGMENTS": env["USERTRACK_SEGMENTS"]}  # fmt: skip
        live = {}
        for command, args in runs.items():
            fake.requests.clear()
            live[command] = run_json(command, [*args, "--who", TRIAL], as_of=AS_OF, **live_env)
            posts = [r["body"] for r in fake.requests if r["method"] == "POST" and r["body"]]
            listed = [b for b in posts if "usertrack_segment_persons" in json.dumps(b)]
            if command in ("funnel", "retention", "activity"):
                assert not listed, command
            for body in listed:
                assert body["query"]["values"]["usertrack_segment_persons"] == ["pb"], command
        by_segment.MAX_LISTED, kept = 0, by_segment.MAX_LISTED
        try:
            assert_usage_error(
                ["sessions", *UNSEGMENTED["sessions"], "--who", TRIAL, "--as-of", AS_OF],
                "at most 0",
                **live_env,
            )
        finally:
            by_segment.MAX_LISTED = kept
    assert strip_live_only(live) == strip_live_only(local)


def test_bad_who(env: dict[str, str]) -> None:
    base = ["trends", "$pageview", *RANGE, "--as-of", AS_OF]
    assert_usage_error([*base, "--who", "credit < 50"], "--who: unknown column 'credit'", **env)
    assert_usage_error([*base, "--who", "credit < 50"], "did you mean 'credits'", **env)
    assert_usage_error([*base, "--who", "1; SELECT 2"], "--who is not", **env)
    assert_usage_error([*base, "--who", " "], "--who needs an expression", **env)
    assert_usage_error([*base, "--who", TRIAL, "--segment", "trial"], "do not go together", **env)


# --persons on the same workspace: the people of a cell with their app profile, worked by hand.


def test_persons_of_a_cell_with_their_profiles(env: dict[str, str]) -> None:
    # step 1 of signup -> $pageview: pa, pb, pd signed up; pd has no account (no profile row
    # from the app, but PostHog's columns), listed by email
    doc = run_json("funnel", [*SEGMENTED["funnel"], "--persons", "1"], as_of=AS_OF, **env)
    assert [(p["person_id"], p["email"]) for p in doc["persons"]] == [
        ("pa", "a@x.io"), ("pb", "b@x.io"), ("pd", "d@x.io")]  # fmt: skip
    assert [p["credits"] for p in doc["persons"]] == [10, 80, None]
    assert doc["count"] == 3 and "subscription_status" in doc["columns"]
    # no one dropped at step 2: a cell of the answer, empty
    doc = run_json("funnel", [*SEGMENTED["funnel"], "--persons", "2:dropped"], as_of=AS_OF, **env)
    assert doc["persons"] == []
    # --who keeps the cell to its people: pb alone, trialing
    args = [*SEGMENTED["funnel"], "--persons", "1", "--who", TRIAL]
    doc = run_json("funnel", args, as_of=AS_OF, **env)
    assert [(p["email"], p["subscription_status"]) for p in doc["persons"]] == [
        ("b@x.io", "trialing")]  # fmt: skip
    assert doc["who"] == TRIAL


def test_a_cells_people_are_kept_for_the_same_cell_asked_again(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the local events store the people of a cell are kept under the store's stamp: the
    same cell asked again reads them (the funnel is not worked out again) and lists the same
    people; another cell, or a cell kept to --who's people, is worked out."""
    from usertrack.analytics.funnel import run as funnels
    from usertrack.engines.local import storecache

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # the store made just now counts as settled
    worked: list[int] = []
    load = funnels.load_progress
    monkeypatch.setattr(funnels, "load_progress", lambda *a, **k: worked.append(1) or load(*a, **k))
    args = [*SEGMENTED["funnel"], "--persons", "1"]
    first = run_json("funnel", args, as_of=AS_OF, **env)
    assert len(worked) == 1 and first["count"] == 3
    assert run_json("funnel", args, as_of=AS_OF, **env) == first
    assert len(worked) == 1
    run_json("funnel", [*SEGMENTED["funnel"], "--persons", "2"], as_of=AS_OF, **env)
    assert len(worked) == 2
    for _ in range(2):
        doc = run_json("funnel", [*args, "--who", TRIAL], as_of=AS_OF, **env)
        assert [p["email"] for p in doc["persons"]] == ["b@x.io"]
    assert len(worked) == 4


def test_a_cells_people_and_emails_are_kept_until_the_store_changes(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cell's people are kept with their emails (only theirs read from the store, once): the
    same cell asked again reads neither the funnel nor anyone's email; once the store is
    imported again (another export), both are read anew and the new emails listed."""
    import os

    from tests.analytics_helpers import write_export
    from usertrack.analytics.funnel import run as funnels
    from usertrack.engines.local import storecache
    from usertrack.engines.local.person_emails import SEGMENT_EMAILS_OF
    from usertrack.engines.local.rollups import SEGMENT_PERSONS_OF, SEGMENT_PERSONS_ROLLED
    from usertrack.engines.local.source import LocalPostHogSource

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # the store made just now counts as settled
    worked: list[str] = []
    load = funnels.load_progress
    monkeypatch.setattr(
        funnels, "load_progress", lambda *a, **k: worked.append("f") or load(*a, **k)
    )
    answer = LocalPostHogSource._answer

    def counted(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        read = {SEGMENT_PERSONS_OF: "store's emails", SEGMENT_EMAILS_OF: "emails",
                SEGMENT_PERSONS_ROLLED: "everyone's"}.get(sql)  # fmt: skip
        worked.extend([read] if read else [])
        return answer(self, sql, *args, **kwargs)

    monkeypatch.setattr(LocalPostHogSource, "_answer", counted)
    args = [*SEGMENTED["funnel"], "--persons", "1"]
    first = run_json("funnel", args, as_of=AS_OF, **env)
    listed = [("pa", "a@x.io"), ("pb", "b@x.io"), ("pd", "d@x.io")]
    assert [(p["person_id"], p["email"]) for p in first["persons"]] == listed
    assert worked == ["f", "emails"]
    assert run_json("funnel", args, as_of=AS_OF, **env) == first
    assert worked == ["f", "emails"]
    folder = storecache.folder_of(Path(os.environ["USERTRACK_HOME"]))
    assert [json.loads(p.read_text())["persons"] for p in folder.glob("*.json")] == [
        [list(pair) for pair in listed]
    ]
    # pd's events now carry e@x.io, an email no account has
    changed = [
        {**r, "person_properties": {"email": "e@x.io"}} if r["person_id"] == "pd" else r
        for r in handmade.RECORDS
    ]
    write_export(Path(env["USERTRACK_EVENTS"]), changed)
    again = run_json("funnel", args, as_of=AS_OF, **env)
    assert worked == ["f", "emails", "f", "emails"]
    assert [(p["person_id"], p["email"], p["credits"]) for p in again["persons"]] == [
        ("pa", "a@x.io", 10), ("pb", "b@x.io", 80), ("pd", "e@x.io", None)]  # fmt: skip
    # everyone's emails kept by a --by-segment run: another cell's listing picks its rows
    run_json("trends", ["$pageview", *RANGE, "--by-segment", "--no-save"], as_of=AS_OF, **env)
    assert worked == ["f", "emails", "f", "emails", "everyone's"]
    other = run_json("funnel", [*SEGMENTED["funnel"], "--persons", "2"], as_of=AS_OF, **env)
    assert worked == ["f", "emails", "f", "emails", "everyone's", "f"]
    assert [(p["person_id"], p["email"]) for p in other["persons"]] == [
        ("pa", "a@x.io"), ("pb", "b@x.io"), ("pd", "e@x.io")]  # fmt: skip


def test_a_groups_funnel_facts_are_everyones_kept_until_the_store_changes(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--who's funnel keeps its people's rows of everyone's funnel facts, which it keeps under
    the store's stamp: another --who reads them back (not the events), with its own people's
    answer; a store imported again (pb's pageview gone) is read anew."""
    from tests.analytics_helpers import write_export
    from usertrack.engines.local import storecache
    from usertrack.engines.local.source import LocalPostHogSource

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # the store made just now counts as settled
    kept: list[list[str]] = []
    keep = LocalPostHogSource.keep

    def counted(self: Any, name: str, table: Any) -> None:
        kept.extend(
            [table.column_names] if "breakdown" in getattr(table, "column_names", []) else []
        )
        keep(self, name, table)

    monkeypatch.setattr(LocalPostHogSource, "keep", counted)
    doc = run_json("funnel", [*SEGMENTED["funnel"], "--who", TRIAL], as_of=AS_OF, **env)
    assert funnel(doc) == FUNNEL["trial"] == [1, 1] and len(kept) == 1
    doc = run_json("funnel", [*SEGMENTED["funnel"], "--who", "credits < 50"], as_of=AS_OF, **env)
    assert funnel(doc) == FUNNEL["spender"] and len(kept) == 1  # everyone's, read back
    changed = [
        r for r in handmade.RECORDS if not (r["person_id"] == "pb" and r["event"] == "$pageview")
    ]
    write_export(Path(env["USERTRACK_EVENTS"]), changed)
    doc = run_json("funnel", [*SEGMENTED["funnel"], "--who", TRIAL], as_of=AS_OF, **env)
    assert funnel(doc) == [1, 0] and len(kept) == 2


def test_persons_profile_is_the_whole_profiles_rows(env: dict[str, str], tmp_path: Path) -> None:
    """The cell's profile is built from per-user queries kept to its people's emails: the
    whole profile's rows of them. A profile.sql reading other rows (a rank over everyone)
    builds the whole profile instead, so each person's rank is still among everyone."""
    import shutil

    from usertrack.queries.library import load_queries
    from usertrack.segments.some import exact, some_users_query

    repo = Path(__file__).resolve().parents[2]
    shipped = load_queries(repo / "queries")
    assert exact(shipped)
    kept = some_users_query(shipped.get("neon/accounts"), "array")
    assert "usertrack_emails" in kept.sql and "usertrack_emails" in [p.name for p in kept.params]
    queries = tmp_path / "queries"
    shutil.copytree(repo / "queries", queries)
    profile = queries / "join" / "profile.sql"
    ranked = "rank() OVER (ORDER BY credits DESC NULLS LAST) AS credits_rank,\n    in_posthog,"
    profile.write_text(profile.read_text().replace("in_posthog,", ranked, 1))
    assert not exact(load_queries(queries))
    args = [*SEGMENTED["funnel"], "--persons", "1"]
    doc = run_json("funnel", args, as_of=AS_OF, USERTRACK_QUERIES=str(queries), **env)
    # credits: c 100, b 80, a 10, d none (no account): ranks 1 to 4 among everyone
    assert [(p["email"], p["credits"], p["credits_rank"]) for p in doc["persons"]] == [
        ("a@x.io", 10, 3), ("b@x.io", 80, 2), ("d@x.io", None, 4)]  # fmt: skip
    shipped_doc = run_json("funnel", args, as_of=AS_OF, **env)
    assert [{k: v for k, v in p.items() if k != "credits_rank"} for p in doc["persons"]] == (
        shipped_doc["persons"]
    )


# first $pageview per day: pa 06-01 (back 06-02), pc and pd 06-02, pb and px 06-03
RETENTION_CELLS = {
    "2026-06-01:day1": ["pa"],
    "2026-06-02": ["pc", "pd"],
    "2026-06-03": ["pb", "px"],
}


@pytest.mark.parametrize("cell", sorted(RETENTION_CELLS))
def test_persons_of_a_retention_cell(cell: str, env: dict[str, str]) -> None:
    args = [*SEGMENTED["retention"], "--persons", cell]
    doc = run_json("retention", args, as_of=AS_OF, **env)
    assert sorted(p["person_id"] for p in doc["persons"]) == RETENTION_CELLS[cell]
    # the count is the retention's own figure for that cell
    whole = run_json("retention", SEGMENTED["retention"], as_of=AS_OF, **env)
    day, _, later = cell.partition(":")
    cohort = next(c for c in whole["cohorts"] if c["start"] == day)
    assert doc["count"] == cohort["retained"][int(later[3:]) if later else 0]


def test_persons_of_trends_and_activity(env: dict[str, str]) -> None:
    # $pageviews of 06-02: pa 10:00, pc 09:00, pd 08:30
    doc = run_json("trends", [*SEGMENTED["trends"], "--persons", "2026-06-02"], as_of=AS_OF, **env)
    assert sorted(p["person_id"] for p in doc["persons"]) == ["pa", "pc", "pd"]
    # everyone's first event is in the week of 06-01: all new, as the lifecycle counts them
    doc = run_json("activity", ["--days", "7", "--persons", "new"], as_of=AS_OF, **env)
    whole = run_json("activity", ["--days", "7"], as_of=AS_OF, **env)
    assert doc["count"] == whole["lifecycle"][-1]["new"] == 5
    assert doc["cell"] == "2026-06-01:new"


def test_persons_the_same_live(env: dict[str, str], tmp_path: Path) -> None:
    runs = {
        "funnel": [*SEGMENTED["funnel"], "--persons", "1"],
        "retention": [*SEGMENTED["retention"], "--persons", "2026-06-01:day1", "--who", TRIAL],
        "trends": [*SEGMENTED["trends"], "--persons", "2026-06-02"],
        "activity": ["--days", "7", "--persons", "new", "--who", "credits < 100"],
    }
    local = {c: run_json(c, a, as_of=AS_OF, **env) for c, a in runs.items()}
    export = Path(env["USERTRACK_EVENTS"])
    with live_posthog(export, tmp_path) as (_fake, live_env):
        live_env = {**live_env, "DATABASE_URL": env["DATABASE_URL"],
                    "USERTRACK_SEGMENTS": env["USERTRACK_SEGMENTS"]}  # fmt: skip
        live = {c: run_json(c, a, as_of=AS_OF, **live_env) for c, a in runs.items()}
    assert strip_live_only(live) == strip_live_only(local)
    assert local["retention"]["persons"] == []  # pa is no trial user


def test_a_cell_outside_the_answer_names_those_that_are(env: dict[str, str]) -> None:
    base = ["retention", *SEGMENTED["retention"], "--as-of", AS_OF]
    assert_usage_error([*base, "--persons", "2026-06-09"], "2026-06-01[:day1-3]", **env)
    assert_usage_error([*base, "--persons", "2026-06-04:day1"], "no cell of this retention", **env)
    funnel_args = ["funnel", *SEGMENTED["funnel"], "--as-of", AS_OF]
    assert_usage_error([*funnel_args, "--persons", "1:dropped"], "cells: 1, 2, 2:dropped", **env)
    assert_usage_error([*funnel_args, "--persons", "1", "--by-segment"], "do not go", **env)
    assert_usage_error(["activity", "--persons", "gone", "--as-of", AS_OF], "new, returning", **env)


def test_who_builds_only_the_profile_columns_it_names() -> None:
    """profile.sql kept to the columns an expression names, the joined columns they read, and
    the sources whose every query they need (a column reading in_neon needs every app query)."""
    from datetime import UTC, datetime

    import duckdb

    from usertrack.queries.library import load_queries
    from usertrack.segments.narrow import holds_for_unknown, narrowed

    profile = load_queries(Path(__file__).resolve().parents[2] / "queries").get("join/profile")
    trial = narrowed(profile.sql, ["subscription_status"])
    assert trial is not None and trial.sql == "SELECT email, subscription_status FROM joined"
    assert trial.reads == {"subscription_status"} and not trial.whole_sources
    rate = narrowed(profile.sql, ["run_success_rate"])
    assert rate is not None and rate.reads == {"runs_completed", "run_count"}
    runs = narrowed(profile.sql, ["run_count"])
    assert runs is not None and runs.whole_sources == {"neon"}
    # a person no kept query knows: NULL columns, the flags false; the whole profile is built
    # only when the expression holds for them
    con = duckdb.connect()
    when = datetime(2026, 6, 10, tzinfo=UTC)
    assert not holds_for_unknown(con, trial, TRIAL, when, {})
    assert holds_for_unknown(con, trial, "subscription_status IS NULL", when, {})
    assert holds_for_unknown(con, runs, "run_count IS NULL", when, {})
    assert not holds_for_unknown(con, runs, "run_count < 5", when, {})


KEPT = {
    "--who": "usertrack: --who kept 1 person, those of 1 of the profile's 3 users",
    "--segment": "usertrack: --segment trial kept 1 person of its 1 user,"
    " of 3 persons with an app account",
}


@pytest.mark.parametrize("option", [["--who", TRIAL], ["--segment", "trial"]])
def test_who_and_segment_say_how_many_persons_they_kept(
    option: list[str], env: dict[str, str]
) -> None:
    """One stderr line: the persons kept (pb's alone), of how many."""
    from tests.analytics_helpers import run_ok

    result = run_ok("funnel", [*SEGMENTED["funnel"], *option, "-f", "json"], as_of=AS_OF, **env)
    said = [line for line in result.stderr.splitlines() if " kept " in line]
    assert said == [KEPT[option[0]]], result.stderr
