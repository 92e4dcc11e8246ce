"""`--by-segment` and `--segment ID` on a hand-made workspace whose every
person's segment is known, locally and over the live HTTP path (the tests' PostHog server is
ClickHouse), and on the demo.

The app's database has three accounts; the rules (SEGMENTS) are `spender` (credits < 50) before
`trial` (credits < 100). As of 2026-06-04 12:00, over 2026-06-01 to 2026-06-03:
- pa, a@x.io: credits 10 -> spender (primary; trial too). A signup 06-01 10:00 and pageviews
  06-01 09:00 (anonymous: no email on that event), 06-01 11:00 and 06-02 10:00.
- pb, b@x.io: credits 80 -> trial. A signup 06-01 12:00, a pageview 06-03 10:00.
- pc, c@x.io: credits 100, an account in no segment -> "no segment". A pageview 06-02 09:00.
- pd, d@x.io: PostHog only (no account) -> "no account". A signup 06-02 08:00, a pageview
  06-02 08:30.
- px: anonymous, no email -> "no account". A pageview 06-03 11:00.
- z@datagen.dev: internal, never counted.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.analytics_helpers import assert_usage_error, live_posthog, record, run_json, write_export
from tests.cli_runner import REPO, run
from tests.engine_compare import strip_live_only
from tests.segmented import AS_OF, GROUPS, RANGE, SEGMENTS, accounts_database, segmented_env

ACCOUNTS = """
INSERT INTO wasp_user VALUES (1, 'a@x.io', 10, 'active', NULL, '2026-05-01');
INSERT INTO wasp_user VALUES (2, 'B@x.io ', 80, 'trialing', NULL, '2026-05-02');
INSERT INTO wasp_user VALUES (3, 'c@x.io', 100, NULL, NULL, '2026-05-03');
"""


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


# (event, when, person, email on the event)
EVENTS = [
    ("$pageview", at(1, 9), "pa", ""),
    ("signup", at(1, 10), "pa", "a@x.io"),
    ("$pageview", at(1, 11), "pa", "a@x.io"),
    ("$pageview", at(2, 10), "pa", "a@x.io"),
    ("signup", at(1, 12), "pb", "b@x.io"),
    ("$pageview", at(3, 10), "pb", "b@x.io"),
    ("$pageview", at(2, 9), "pc", "c@x.io"),
    ("signup", at(2, 8), "pd", "d@x.io"),
    ("$pageview", at(2, 8, 30), "pd", "d@x.io"),
    ("$pageview", at(3, 11), "px", ""),
    ("$pageview", at(2, 12), "pz", "z@datagen.dev"),
]
RECORDS = [
    record(n, e, when, f"{pid}-{n}" if not email else pid, pid, email,
           {"$pathname": "/home"} if e == "$pageview" else {})
    for n, (e, when, pid, email) in enumerate(EVENTS, 1)
]  # fmt: skip

# Worked out from the events above: $pageview per day (06-01, 06-02, 06-03) and the funnel
# signup -> $pageview per step.
PAGEVIEWS = {
    "spender": [2, 1, 0],
    "trial": [0, 0, 1],
    "no segment": [0, 1, 0],
    "no account": [0, 1, 1],
}
FUNNEL = {"spender": [1, 1], "trial": [1, 1], "no segment": [0, 0], "no account": [1, 1]}


@pytest.fixture()
def db(make_database: Callable[[str], str]) -> str:
    return accounts_database(make_database, ACCOUNTS)


@pytest.fixture()
def env(tmp_path: Path, db: str) -> dict[str, str]:
    return segmented_env(tmp_path, db, RECORDS)


def trends(doc: dict[str, Any]) -> list[int]:
    return [int(v) for v in doc["series"][0]["data"]]


def funnel(doc: dict[str, Any]) -> list[int]:
    return [int(s["persons"]) for s in doc["steps"]]


def by_group(doc: dict[str, Any], of: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    return {part["segment"]: of(part) for part in doc["by_segment"]}


def test_by_segment_breaks_trends_and_funnel_down_by_each_persons_segment(
    env: dict[str, str],
) -> None:
    doc = run_json("trends", ["$pageview", *RANGE, "--by-segment"], as_of=AS_OF, **env)
    assert trends(doc) == [2, 3, 2]
    assert [part["segment"] for part in doc["by_segment"]] == GROUPS
    assert by_group(doc, trends) == PAGEVIEWS
    # the parts leave out what only repeats the whole answer's settings
    assert "as_of" not in doc["by_segment"][0] and "series" in doc["by_segment"][0]
    steps = run_json("funnel", ["signup", "$pageview", *RANGE, "--by-segment"], as_of=AS_OF, **env)
    assert funnel(steps) == [3, 3]
    assert by_group(steps, funnel) == FUNNEL


@pytest.mark.parametrize("group", GROUPS)
def test_segment_keeps_only_that_segments_people(group: str, env: dict[str, str]) -> None:
    doc = run_json("trends", ["$pageview", *RANGE, "--segment", group], as_of=AS_OF, **env)
    assert trends(doc) == PAGEVIEWS[group]
    assert doc["segment"] == group and "by_segment" not in doc
    steps = run_json("funnel", ["signup", "$pageview", *RANGE, "--segment", group],
                     as_of=AS_OF, **env)  # fmt: skip
    assert funnel(steps) == FUNNEL[group]


def test_segment_and_where_both_hold(env: dict[str, str]) -> None:
    """--where ANDed with the segment: pa's anonymous pageview (distinct_id pa-1, no email on
    it) is the spender's without the --where, and left out by it."""
    args = ["$pageview", *RANGE, "--segment", "spender", "--where", "distinct_id = 'pa'"]
    doc = run_json("trends", args, as_of=AS_OF, **env)
    assert trends(doc) == [1, 1, 0]
    assert doc["segment"] == "spender" and doc["where"] == ["distinct_id = 'pa'"]


def test_segment_accepts_the_no_groups_written_with_underscores(env: dict[str, str]) -> None:
    doc = run_json("trends", ["$pageview", *RANGE, "--segment", "no_account"], as_of=AS_OF, **env)
    assert doc["segment"] == "no account" and trends(doc) == PAGEVIEWS["no account"]


ADDITIVE: dict[str, tuple[list[str], Callable[[dict[str, Any]], int]]] = {
    "retention": (
        ["--start", "$pageview", "--period", "day", "--periods", "4"],
        lambda d: sum(int(c["size"]) for c in d["cohorts"]),
    ),
    "activity": (["--days", "7"], lambda d: sum(int(x["dau"]) for x in d["daily"])),
    "paths": ([*RANGE], lambda d: int(d["total_sequences"])),
}


@pytest.mark.parametrize("command", sorted(ADDITIVE))
def test_by_segment_on_retention_activity_and_paths(command: str, env: dict[str, str]) -> None:
    """Every person is in exactly one group, so what counts persons (a cohort's size, a day's
    DAU) or their sequences adds up over the groups; each group's is its --segment answer."""
    args, counted = ADDITIVE[command]
    doc = run_json(command, [*args, "--by-segment"], as_of=AS_OF, **env)
    parts = by_group(doc, counted)
    assert list(parts) == GROUPS
    assert sum(parts.values()) == counted(doc) > 0
    assert parts["spender"] > 0 and parts["no account"] > 0
    alone = run_json(command, [*args, "--segment", "spender"], as_of=AS_OF, **env)
    assert counted(alone) == parts["spender"]


def test_every_format_shows_the_segments(env: dict[str, str]) -> None:
    args = ["trends", "$pageview", *RANGE, "--as-of", AS_OF]
    csv = run([*args, "--by-segment", "-f", "csv"], **env)
    assert csv.exit_code == 0, csv.stderr
    lines = csv.stdout.splitlines()
    assert lines[0].startswith("segment,")
    assert {line.split(",")[0] for line in lines[1:]} == set(GROUPS)
    md = run([*args, "--by-segment", "-f", "md"], **env)
    assert md.exit_code == 0, md.stderr
    # People read the segments' names (the machine formats keep the ids).
    names = {"spender": "Spenders", "trial": "Trial users"}
    assert "By segment: Spenders, Trial users, no segment, no account" in md.stdout
    assert all(f"\n## Segment: {names.get(g, g)}\n" in md.stdout for g in GROUPS)
    table = run([*args, "--segment", "trial"], **env)
    assert table.exit_code == 0 and table.stdout.startswith("Segment: Trial users")
    one_md = run([*args, "--segment", "trial", "-f", "md"], **env)
    assert one_md.stdout.split("\n")[2] == "Segment: Trial users"
    # --segment's csv is the analysis's own (like --where: no header for it)
    one_csv = run([*args, "--segment", "trial", "-f", "csv"], **env)
    assert one_csv.stdout.splitlines()[0] == run([*args, "-f", "csv"], **env).stdout.splitlines()[0]


def test_a_snapshot_of_the_moment_decides_the_segments(env: dict[str, str], db: str) -> None:
    """The history's snapshot of exactly --as-of is what the segments were then, whatever the
    database says now."""
    saved = run(["segments", "--as-of", AS_OF, "--save"], **env)
    assert saved.exit_code == 0, saved.stderr
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE wasp_user SET credits = 5 WHERE id = 3")  # c would be a spender now
    doc = run_json("trends", ["$pageview", *RANGE, "--by-segment"], as_of=AS_OF, **env)
    assert by_group(doc, trends) == PAGEVIEWS
    later = run_json("trends", ["$pageview", *RANGE, "--by-segment"],
                     as_of="2026-06-04T13:00:00", **env)  # fmt: skip
    assert by_group(later, trends)["spender"] == [2, 2, 0]  # no snapshot then: classified now


@pytest.mark.parametrize("arrow_over", [10_000, 0])
def test_by_segment_the_same_over_the_live_http_path(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arrow_over: int
) -> None:
    """On PostHog (ClickHouse) as on the local engine; the persons travel as a bound list, never
    in the query's text, and no query answers a row per event. PostHog's persons are numbered
    by group row by row, or in Arrow (`arrow_over` 0: as at 200,000 persons), the same."""
    from usertrack.analytics import by_segment, segment_persons

    monkeypatch.setattr(segment_persons, "ARROW_OVER", arrow_over)
    numbered: list[int] = []
    numbering = by_segment.numbered_persons

    def counted(table: Any, *args: Any) -> Any:
        numbered.append(table.num_rows)
        return numbering(table, *args)

    monkeypatch.setattr(by_segment, "numbered_persons", counted)
    local = {
        "trends": run_json("trends", ["$pageview", *RANGE, "--by-segment"], as_of=AS_OF, **env),
        "funnel": run_json("funnel", ["signup", "$pageview", *RANGE, "--by-segment"],
                           as_of=AS_OF, **env),
        "paths": run_json("paths", [*RANGE, "--segment", "spender"], as_of=AS_OF, **env),
    }  # fmt: skip
    export = Path(env["USERTRACK_EVENTS"])
    with live_posthog(export, tmp_path) as (fake, live_env):
        live_env = {**live_env, "DATABASE_URL": env["DATABASE_URL"],
                    "USERTRACK_SEGMENTS": env["USERTRACK_SEGMENTS"]}  # fmt: skip
        numbered.clear()  # the local runs' (the store's persons)
        live = {
            "trends": run_json("trends", ["$pageview", *RANGE, "--by-segment"],
                               as_of=AS_OF, **live_env),
            "funnel": run_json("funnel", ["signup", "$pageview", *RANGE, "--by-segment"],
                               as_of=AS_OF, **live_env),
            "paths": run_json("paths", [*RANGE, "--segment", "spender"], as_of=AS_OF, **live_env),
        }  # fmt: skip
        posts = [r["body"]["query"] for r in fake.requests if r["method"] == "POST" and r["body"]]
    assert strip_live_only(live) == strip_live_only(local)
    bound = [q for q in posts if "usertrack_segment_persons" in q["query"]]
    assert bound and all(q["values"]["usertrack_segment_persons"] for q in bound)
    assert not [q for q in posts if "'pa'" in q["query"] or "'pb'" in q["query"]]
    assert bool(numbered) == (arrow_over == 0)  # PostHog's answer numbered in Arrow


def test_segment_live_sends_funnel_retention_and_activity_no_list(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Live, --segment ID runs as a --by-segment group's run: the per-person facts of funnel,
    retention and activity come once over everyone and the group keeps its persons' rows, so
    PostHog is sent no list of the group's persons (which past a few thousand is more than
    ClickHouse parses in a query); the answers are the local engine's."""
    runs = {
        "funnel": ["signup", "$pageview", *RANGE, "--segment", "spender"],
        "retention": [*FACTS_ONCE["retention"][0], "--segment", "trial"],
        "activity": ["--days", "7", "--segment", "no account"],
    }
    local = {c: run_json(c, a, as_of=AS_OF, **env) for c, a in runs.items()}
    assert funnel(local["funnel"]) == FUNNEL["spender"]
    export = Path(env["USERTRACK_EVENTS"])
    with live_posthog(export, tmp_path) as (fake, live_env):
        live_env = {**live_env, "DATABASE_URL": env["DATABASE_URL"],
                    "USERTRACK_SEGMENTS": env["USERTRACK_SEGMENTS"]}  # fmt: skip
        live = {}
        for command, args in runs.items():
            fake.requests.clear()
            live[command] = run_json(command, args, as_of=AS_OF, **live_env)
            posts = [r["body"] for r in fake.requests if r["method"] == "POST" and r["body"]]
            assert posts and not [b for b in posts if "usertrack_segment_persons" in json.dumps(b)]
    assert strip_live_only(live) == strip_live_only(local)


def test_paths_by_segment_live_come_from_everyones_cut_sequences_in_one_query(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live, paths --by-segment asks PostHog once for every person's sequences, cut as paths
    counts them (path_sequences.sql: a few nodes a sequence, not every event), and each group
    (the whole answer too) counts its persons' rows: no list of persons is sent, whatever a
    group's size, and no query runs per group. --segment counts a group in PostHog with its
    persons bound as a list while that is short (by_segment.MAX_LISTED); past it (here lowered
    to 0 ids), from everyone's cut sequences too. The answers are the local engine's every way,
    --from/--to included."""
    from usertrack.analytics import by_segment

    args = [*RANGE, "--by-segment"]
    cut = [*RANGE, "--from", "/dashboard", "--to", "/settings", "--steps", "3", "--by-segment"]
    local = run_json("paths", args, as_of=AS_OF, **env)
    local_cut = run_json("paths", cut, as_of=AS_OF, **env)
    one = [*RANGE, "--segment", "spender"]
    local_one = run_json("paths", one, as_of=AS_OF, **env)
    export = Path(env["USERTRACK_EVENTS"])
    with live_posthog(export, tmp_path) as (fake, live_env):
        live_env = {**live_env, "DATABASE_URL": env["DATABASE_URL"],
                    "USERTRACK_SEGMENTS": env["USERTRACK_SEGMENTS"]}  # fmt: skip
        by = run_json("paths", args, as_of=AS_OF, **live_env)
        by_posts = [r for r in fake.requests if r["method"] == "POST" and r["body"]]
        fake.requests.clear()
        by_cut = run_json("paths", cut, as_of=AS_OF, **live_env)
        fake.requests.clear()
        short = run_json("paths", one, as_of=AS_OF, **live_env)
        listed = [r for r in fake.requests if r["method"] == "POST" and r["body"]]
        fake.requests.clear()
        monkeypatch.setattr(by_segment, "MAX_LISTED", 0)
        long = run_json("paths", one, as_of=AS_OF, **live_env)
        posts = [r for r in fake.requests if r["method"] == "POST" and r["body"]]
    names = [r["body"]["name"] for r in by_posts]
    assert names.count("usertrack posthog/path_sequences") == 1
    assert "usertrack posthog/path_events" not in names
    assert "usertrack posthog/paths_summary" not in names
    assert not [r for r in by_posts if "usertrack_segment_persons" in json.dumps(r["body"])]
    assert [r for r in listed if "usertrack_segment_persons" in json.dumps(r["body"])]
    assert [r["body"]["name"] for r in posts].count("usertrack posthog/path_sequences") == 1
    assert not [r for r in posts if "usertrack_segment_persons" in json.dumps(r["body"])]
    assert any(p["total_sequences"] for p in by["by_segment"])
    assert strip_live_only(by) == strip_live_only(local)
    assert strip_live_only(by_cut) == strip_live_only(local_cut)
    assert strip_live_only(short) == strip_live_only(local_one) == strip_live_only(long)


def test_cut_sequences_read_nodes_holding_any_character() -> None:
    """path_sequences.sql sends a person's cut sequences as one string (each sequence `>` then its
    nodes, all separated by `|`; `%`, `|` and `>` in a node as %25, %7C and %3E): a node holding
    them, their escapes or characters past ASCII is read whole, and every sequence keeps its own
    nodes."""
    from usertrack.analytics.paths.cut_sequences import CutSequences

    def escape(node: str) -> str:
        return node.replace("%", "%25").replace("|", "%7C").replace(">", "%3E")

    def encode(sequences: list[list[str]]) -> str:
        return "|".join(">" + "|".join(escape(n) for n in q) for q in sequences)

    people = {
        "a": [["/x|1>2", "é😀"], ["/x|1>2"]],
        "b": [],
        "c": [["%7C>", "/y", "é😀", "%", "|"]],
        "d": [[">"], ["%3E%25"]],
    }
    rows = [(p, encode(q), 0, 0) for p, q in people.items()]
    cut = CutSequences.of(rows, ["person_id", "paths", "has_from", "has_to"])
    assert cut.names == sorted({n for q in people.values() for s in q for n in s})
    assert list(cut.per_person) == [2, 0, 1, 2]
    assert list(cut.lengths) == [2, 1, 5, 1, 1]
    read = [cut.names[c] for c in cut.codes]
    assert read == [n for q in people.values() for s in q for n in s]


def test_trends_of_a_group_too_long_for_a_list_come_from_everyones_rows(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live, trends counts a group in PostHog with its persons bound as a list while the list is
    short (by_segment.MAX_LISTED); past it (here lowered to 1 id), every person's counts per
    value and point come once (trends_person_points.sql), and each group sums its persons'
    rows, its --by values ranked from them too: no list is sent, and the answers are the local
    engine's (worked out by hand: PAGEVIEWS)."""
    from usertrack.analytics import by_segment

    runs = {
        "total": ["$pageview", *RANGE, "--by-segment"],
        "by": ["$pageview", "signup", *RANGE, "--by", "$pathname", "--by-segment"],
        "segment": ["$pageview", *RANGE, "--segment", "no account", "--compare"],
    }
    local = {k: run_json("trends", a, as_of=AS_OF, **env) for k, a in runs.items()}
    assert by_group(local["total"], trends) == PAGEVIEWS
    export = Path(env["USERTRACK_EVENTS"])
    with live_posthog(export, tmp_path) as (fake, live_env):
        live_env = {**live_env, "DATABASE_URL": env["DATABASE_URL"],
                    "USERTRACK_SEGMENTS": env["USERTRACK_SEGMENTS"]}  # fmt: skip
        monkeypatch.setattr(by_segment, "MAX_LISTED", 1)
        live = {}
        for name, args in runs.items():
            fake.requests.clear()
            live[name] = run_json("trends", args, as_of=AS_OF, **live_env)
            posts = [r["body"] for r in fake.requests if r["method"] == "POST" and r["body"]]
            names = [b["name"] for b in posts]
            # once over everyone per event and period, however many groups
            periods = 2 if name == "segment" else 1
            assert names.count("usertrack posthog/trends_person_points") == periods * (
                2 if name == "by" else 1
            ), (name, names)
            bound = [b for b in posts if "usertrack_segment_persons" in json.dumps(b)]
            # spender and trial bind their 1 id each (short enough); "no account" never its 4
            assert all(len(b["query"]["values"]["usertrack_segment_persons"]) <= 1 for b in bound)
            if name == "segment":
                assert not bound
    assert strip_live_only(live) == strip_live_only(local)


def test_a_group_too_long_for_a_query_is_said_with_what_works_instead() -> None:
    """PostHog refusing a group's query for its length (ClickHouse's max_query_size: the
    group's persons are printed into it as a list, which at 200,000 users is megabytes) is said
    as what it is: the group, how many ids its list holds, and what works instead; any other
    error passes as it is."""
    from usertrack.analytics.by_segment import PersonSegments, list_too_long
    from usertrack.core.errors import QueryError

    groups = ("spender", "trial", "no segment", "no account")
    when = datetime(2026, 6, 4, 12, tzinfo=UTC)
    ids = {"spender": [f"p{n}" for n in range(7_000)], "trial": ["t1"]}
    mapping = PersonSegments.listed(when, groups, ids, "computed")
    refused = (
        "posthog/trends_counts (queries/posthog/trends_counts.sql): PostHog rejected the query:"
        " Code: 62. DB::Exception: Max query size exceeded (can be increased with the"
        " `max_query_size` setting): Syntax error: failed at position 262137 [query_error]"
    )
    for group, count in (("spender", "7,000"), ("no account", "7,001")):
        with pytest.raises(QueryError) as raised, list_too_long(mapping, group):
            raise QueryError(refused)
        assert str(raised.value).startswith(refused)
        assert f"the persons of {group!r}, {count} ids, are sent in the query as a list" in str(
            raised.value
        )
        assert raised.value.hint and "USERTRACK_EVENTS" in raised.value.hint
    other = QueryError("posthog/trends_counts: PostHog rejected the query: Unknown function")
    with pytest.raises(QueryError) as raised, list_too_long(mapping, "trial"):
        raise other
    assert raised.value is other


def test_bad_input(env: dict[str, str], tmp_path: Path) -> None:
    args = ["trends", "$pageview", "--as-of", AS_OF]
    assert_usage_error([*args, "--segment", "trail"], "did you mean 'trial'", **env)
    assert_usage_error([*args, "--segment", "x", "--by-segment"], "do not go together", **env)
    assert_usage_error(
        ["funnel", "--dropped", "2", "--by-segment", "--as-of", AS_OF], "do not go together", **env
    )
    # without the app's database: one line, the configuration's exit code
    no_db = {k: v for k, v in env.items() if k != "DATABASE_URL"}
    result = run([*args, "--by-segment"], **no_db)
    assert result.exit_code == 4, result.stderr
    errors = [x for x in result.stderr.splitlines() if x.startswith("usertrack: error:")]
    assert len(errors) == 1 and "--by-segment and --segment needs your app's Postgres" in errors[0]
    assert result.stdout == ""
    # without the options the database is not needed
    assert run(args, **no_db).exit_code == 0


def test_on_the_demo_the_groups_add_up(demo_home: Path) -> None:
    """The demo: every person who signed up in the range is in exactly one group."""
    result = run(["funnel", "--by-segment", "-f", "json"], home=demo_home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    parts = by_group(doc, funnel)
    assert list(parts)[-2:] == ["no segment", "no account"] and len(parts) >= 4
    for step in range(len(doc["steps"])):
        assert sum(p[step] for p in parts.values()) == funnel(doc)[step]
    assert sum(1 for p in parts.values() if p[0] > 0) >= 3


# Each command's per-person facts queries (by id) and what picks each out of a live request.
FACTS_ONCE: dict[str, tuple[list[str], dict[str, str]]] = {
    "funnel": (["signup", "$pageview", *RANGE], {"posthog/funnel_events": "groupArray(e.step)"}),
    "retention": (
        ["--start", "$pageview", "--period", "day", "--periods", "4"],
        {
            "posthog/retention_activity": "groupArray(a.started)",
            "posthog/retention_first_starts": "min(timestamp) AS first_start",
        },
    ),
    "activity": (["--days", "7"], {"posthog/activity_days": "groupArray(d.day)"}),
    "paths": ([*RANGE], {"posthog/path_events": "groupArray(e.step) AS node"}),
}


@pytest.mark.parametrize("command", sorted(FACTS_ONCE))
def test_by_segment_runs_the_per_person_facts_once_locally(
    command: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The facts of every group are the whole answer's, fetched once and split by person; and
    no statement on the local engine looks a person up in the bound list (list_contains: a scan
    of the list for every event, minutes for 'no account' at 5 M events)."""
    from usertrack.engines.local.source import LocalPostHogSource

    ran: list[str] = []
    statements: list[str] = []
    bound = LocalPostHogSource._bound
    path_codes = LocalPostHogSource.path_codes
    asking: list[bool] = []

    def counted(self: Any, query: Any, params: Any, where: str) -> Any:
        if not asking:  # (whether the path table answers: not the facts, which it then are)
            ran.append(query.id)
        tr, values = bound(self, query, params, where)
        statements.append(tr.sql)
        return tr, values

    def codes(self: Any, *args: Any, **kwargs: Any) -> Any:
        asking.append(True)
        try:
            return path_codes(self, *args, **kwargs)
        finally:
            asking.pop()

    monkeypatch.setattr(LocalPostHogSource, "_bound", counted)
    monkeypatch.setattr(LocalPostHogSource, "path_codes", codes)
    args, facts = FACTS_ONCE[command]
    doc = run_json(command, [*args, "--by-segment"], as_of=AS_OF, **env)
    assert [part["segment"] for part in doc["by_segment"]] == GROUPS
    assert {q: ran.count(q) for q in facts} == dict.fromkeys(facts, 1)
    assert not [s for s in statements if "list_contains($usertrack_segment_persons" in s]
    # each group's answer is still its --segment answer
    for group in ("spender", "no account"):
        alone = run_json(command, [*args, "--segment", group], as_of=AS_OF, **env)
        part = next(p for p in doc["by_segment"] if p["segment"] == group)
        assert {k: v for k, v in part.items() if k != "segment"}.items() <= alone.items()


def test_by_segment_asks_posthog_for_the_per_person_facts_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Live, funnel, retention and activity --by-segment send each per-person facts query once
    (not once more per group), its answer a row per person, and no query binds a group's
    persons as a list (past a few thousand persons more than ClickHouse parses in a query):
    retention's and activity's summaries, which PostHog counts outside --by-segment, are not
    sent at all, and activity's heatmap comes as each person's cells; no lookup of the range's
    event names for a group that reached no step; all answer as the local engine."""
    commands = {c: FACTS_ONCE[c] for c in ("funnel", "retention", "activity")}
    hours = {"posthog/activity_person_hours": "groupArray(h.cell)"}
    local = {
        c: run_json(c, [*a, "--by-segment"], as_of=AS_OF, **env) for c, (a, _) in commands.items()
    }
    export = Path(env["USERTRACK_EVENTS"])
    with live_posthog(export, tmp_path) as (fake, live_env):
        live_env = {**live_env, "DATABASE_URL": env["DATABASE_URL"],
                    "USERTRACK_SEGMENTS": env["USERTRACK_SEGMENTS"]}  # fmt: skip
        live = {}
        for command, (args, facts) in commands.items():
            fake.requests.clear()
            live[command] = run_json(command, [*args, "--by-segment"], as_of=AS_OF, **live_env)
            posts = [r for r in fake.requests if r["method"] == "POST" and r["body"]]
            names = [r["body"]["name"] for r in posts]
            assert f"usertrack posthog/{command}_summary" not in names
            assert not [r for r in posts if "usertrack_segment_persons" in json.dumps(r["body"])]
            # "no segment" reached no step, but the whole answer's run reached both: their
            # names are events of the range, and no group's run asks PostHog for the names.
            assert "usertrack posthog/event_names" not in names
            sending = {**facts, **(hours if command == "activity" else {})}
            for text in sending.values():
                sent = [r for r in posts if text in r["body"]["query"]["query"]]
                assert len(sent) == 1, (command, text, len(sent))
                persons = {"pa", "pb", "pc", "pd", "px"}
                assert sent[0]["rows"] <= len(persons)
    assert strip_live_only(live) == strip_live_only(local)


def test_a_group_on_the_local_engine_is_a_join_not_a_scan_of_the_list(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An aggregated query (trends) still runs per group with the group's filter in HogQL; on
    the local engine as IN of the list's rows (a hash join), not has() (list_contains, which
    reads the whole list for every event), with the same answer."""
    from usertrack.engines.local.source import LocalPostHogSource

    statements: list[str] = []
    bound = LocalPostHogSource._bound

    def seen(self: Any, query: Any, params: Any, where: str) -> Any:
        tr, values = bound(self, query, params, where)
        statements.append(tr.sql)
        return tr, values

    monkeypatch.setattr(LocalPostHogSource, "_bound", seen)
    doc = run_json("trends", ["$pageview", *RANGE, "--segment", "no account"], as_of=AS_OF, **env)
    assert trends(doc) == PAGEVIEWS["no account"]
    filtered = [s for s in statements if "$usertrack_segment_persons" in s]
    assert filtered and all("IN (SELECT unnest($usertrack_segment_persons)" in s for s in filtered)
    assert not [s for s in filtered if "list_contains($usertrack_segment_persons" in s]


def test_person_rows_keep_what_the_hogql_filter_keeps() -> None:
    """A group's rows of facts fetched over everyone: its persons' (or, negated, everyone
    else's); a row without a person in no group, as has() of NULL is NULL; the same from
    Python rows and from an Arrow table."""
    import pyarrow as pa

    from usertrack.engines.base import Result
    from usertrack.engines.person_rows import PersonRows

    rows = [("a", 1), ("b", 2), (None, 3), ("c", 4), ("a", 5)]
    plain = Result(columns=["person_id", "n"], rows=rows)
    arrow = Result(
        columns=["person_id", "n"],
        rows=[],
        arrow=pa.table({"person_id": [r[0] for r in rows], "n": [r[1] for r in rows]}),
    )

    def ns(keep: PersonRows) -> tuple[list[int], list[int]]:
        return [r[1] for r in keep.kept(plain).rows], keep.kept(arrow).arrow["n"].to_pylist()

    assert ns(PersonRows(frozenset({"a", "c"}))) == ([1, 4, 5], [1, 4, 5])
    assert ns(PersonRows(frozenset({"a", "c"}), negate=True)) == ([2], [2])
    assert ns(PersonRows(frozenset())) == ([], [])
    assert ns(PersonRows(everyone=True)) == ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5])


def test_group_numbers_keep_the_rows_the_ids_keep() -> None:
    """An Arrow table's rows kept by group numbers looked up once (GroupNumbers) are the rows
    the ids keep: a group's persons', "no account" everyone else's but a row without a
    person; the table is looked up once for all the groups."""
    import pyarrow as pa

    from usertrack.engines.base import Result
    from usertrack.engines.person_rows import GroupNumbers, PersonRows

    people = ["a", "b", None, "c", "a", "d", "b"]
    table = pa.table({"person_id": people, "n": list(range(1, len(people) + 1))})
    result = Result(columns=["person_id", "n"], rows=[], arrow=table)
    numbers = GroupNumbers({"a": 0, "c": 0, "b": 1})
    looked: list[Any] = []
    original = numbers.of

    def counted(t: Any) -> Any:
        looked.append(t)
        return original(t)

    numbers.of = counted  # type: ignore[method-assign]
    groups = {
        "first": (PersonRows(frozenset({"a", "c"}), numbers=numbers, number=0), [1, 4, 5]),
        "second": (PersonRows(frozenset({"b"}), numbers=numbers, number=1), [2, 7]),
        "empty": (PersonRows(frozenset(), numbers=numbers, number=2), []),
        "rest": (PersonRows(frozenset("abc"), negate=True, numbers=numbers), [6]),
    }
    for keep, want in groups.values():
        assert keep.kept(result).arrow["n"].to_pylist() == want
        plain = PersonRows(keep.ids, negate=keep.negate)
        assert plain.kept(result).arrow["n"].to_pylist() == want
    assert len(looked) == len(groups) and all(t is table for t in looked)
    assert len(numbers._seen) == 1


def test_funnel_by_segment_works_out_each_persons_progress_once(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person's progress comes from their own events alone: --by-segment works it out once,
    over everyone, and each group keeps its persons' rows of it (the answers those of
    --segment, which works out its own)."""
    from usertrack.analytics.funnel import run as funnels

    calls: list[int] = []
    progress_table = funnels._progress_table

    def counted(con: Any, steps: list[str], window: Any, *more: Any) -> None:
        progress_table(con, steps, window, *more)
        calls.append(len(con.execute("SELECT person_id FROM progress").fetchall()))

    monkeypatch.setattr(funnels, "_progress_table", counted)
    args = ["signup", "$pageview", *RANGE]
    doc = run_json("funnel", [*args, "--by-segment"], as_of=AS_OF, **env)
    assert len(calls) == 1 and calls[0] >= 3  # once, over everyone: pa, pb, pd did step 1
    assert by_group(doc, funnel) == FUNNEL
    calls.clear()
    alone = run_json("funnel", [*args, "--segment", "spender"], as_of=AS_OF, **env)
    assert funnel(alone) == FUNNEL["spender"] and len(calls) == 1
    # with --by, the facts are still split per group for the first touches
    calls.clear()
    by = run_json("funnel", [*args, "--by", "$pathname", "--by-segment"], as_of=AS_OF, **env)
    assert len(calls) == 1 and by_group(by, funnel) == FUNNEL
    # the parts leave out the breakdown's settings, the whole answer's
    assert by["breakdown_attribution"] == "first_touch" and by["breakdown_limit"] == 25
    assert not {"breakdown_attribution", "breakdown_limit"} & set(by["by_segment"][0])
    # --trend: each group works its periods out of its own facts, its --segment answer's
    trend = run_json("funnel", [*args, "--trend", "day", "--by-segment"], as_of=AS_OF, **env)
    spender = run_json("funnel", [*args, "--trend", "day", "--segment", "spender"], as_of=AS_OF,
                       **env)  # fmt: skip
    entered = by_group(trend, lambda part: sum(p["entered"] for p in part["trend"]["points"]))
    assert entered == {k: v[0] for k, v in FUNNEL.items()}
    assert by_group(trend, lambda part: part["trend"])["spender"] == spender["trend"]


def test_paths_by_segment_splits_the_path_tables_rows_by_person(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the local engine `paths --by-segment` reads the store's path table once, with whose
    each row is, and each group keeps its persons' rows (whole sequences): no group works its
    sequences out of the events again, and each group's answer is its --segment answer (which
    does, from its own facts). (The demo: no person of several emails in the range.)"""
    from usertrack.analytics.paths import run as paths_mod
    from usertrack.engines.local.source import LocalPostHogSource

    from_events: list[int] = []
    sequences = paths_mod._sequences

    def counted(facts: Any) -> Any:
        found = sequences(facts)
        from_events.append(len(found[1]))
        return found

    read: list[bool] = []
    path_codes = LocalPostHogSource.path_codes

    def codes(self: Any, query: Any, params: Any, *, persons: bool = False) -> Any:
        read.append(persons)
        return path_codes(self, query, params, persons=persons)

    monkeypatch.setattr(paths_mod, "_sequences", counted)
    monkeypatch.setattr(LocalPostHogSource, "path_codes", codes)

    def paths_json(*args: str) -> dict[str, Any]:
        result = run(["paths", *args, "-f", "json"], home=demo_home)
        assert result.exit_code == 0, result.stderr
        return dict(json.loads(result.stdout))

    doc = paths_json("--by-segment")
    assert read == [True] and from_events == []
    parts = {part["segment"]: part for part in doc["by_segment"]}
    assert list(parts)[-2:] == ["no segment", "no account"]
    assert sum(p["total_sequences"] for p in parts.values()) == doc["total_sequences"] > 0
    for group in (next(iter(parts)), "no account"):
        alone = paths_json("--segment", group)
        assert {k: v for k, v in parts[group].items() if k != "segment"}.items() <= alone.items()
        assert parts[group]["total_sequences"] == alone["total_sequences"] > 0
    assert len(from_events) == 2  # --segment: from its own facts, as before


def _spy_runs(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """The ids of the queries the local engine runs, and of those it answers for every group
    at once ('' where run_grouped declined and the groups ran one by one)."""
    from usertrack.engines.local.source import LocalPostHogSource

    ran: list[str] = []
    grouped: list[str] = []
    run_query = LocalPostHogSource.run
    run_grouped = LocalPostHogSource.run_grouped

    def counted(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        ran.append(query.id)
        return run_query(self, query, *args, **kwargs)

    def counted_grouped(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        found = run_grouped(self, query, *args, **kwargs)
        grouped.append(query.id if found is not None else "")
        return found

    monkeypatch.setattr(LocalPostHogSource, "run", counted)
    monkeypatch.setattr(LocalPostHogSource, "run_grouped", counted_grouped)
    return ran, grouped


@pytest.mark.parametrize(
    "extra",
    [[], ["--where", "properties.$pathname = '/home'"], ["--by", "$pathname", "--math", "max:n"]],
)
def test_trends_by_segment_counts_every_group_in_one_query(
    extra: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the local engine an aggregated query of a --by-segment run (trends' counts) runs once
    for the whole answer and once for every group at once (each event's group a grouping
    column), not once per group; a run that reads the events' properties (a property math,
    --by) reads every person's counts per value and point once instead (trends_person_points),
    and the whole answer and each group sum their persons' rows, ranking included. Each
    group's answer is its --segment answer (which runs trends_counts and trends_breakdown with
    the group's filter)."""
    ran, grouped = _spy_runs(monkeypatch)
    args = ["$pageview", *RANGE, *extra]
    doc = run_json("trends", [*args, "--by-segment"], as_of=AS_OF, **env)
    if "--by" in extra:
        assert ran.count("posthog/trends_person_points") == 1
        assert not {"posthog/trends_counts", "posthog/trends_breakdown"} & {*ran, *grouped}
    else:
        assert ran.count("posthog/trends_counts") == 1
        assert grouped.count("posthog/trends_counts") == 1
    # who is whose person: from the store's per-person tables, not every event
    assert "posthog/segment_persons" not in ran
    assert [part["segment"] for part in doc["by_segment"]] == GROUPS
    if not extra:
        assert by_group(doc, trends) == PAGEVIEWS
    for part in doc["by_segment"]:
        alone = run_json("trends", [*args, "--segment", part["segment"]], as_of=AS_OF, **env)
        assert part["series"] == alone["series"], part["segment"]


GROUPED_SQL = """
SELECT point, count(*) AS n
FROM (SELECT date_trunc('day', timestamp) AS point FROM events
      WHERE event = 'x' AND true)
GROUP BY point
"""


def test_only_a_query_whose_slot_holds_a_condition_on_every_event_is_grouped() -> None:
    """The shape usertrack.engines.local.grouped answers, and what it leaves to the per-group runs:
    a slot that an OR could take out of the conditions, a limit or an order over every group,
    a window, a join, a second subquery, no GROUP BY."""
    from usertrack.engines.local.grouped import grouped_sql

    with_where = GROUPED_SQL.replace("AND true", "AND ((prop_x  =  'a  b'))")
    sql = grouped_sql(with_where, GROUPED_SQL, 7)
    assert sql is not None
    assert sql.startswith("SELECT usertrack_group, point") and "'a  b'" in sql
    assert sql.rstrip().endswith("GROUP BY usertrack_group, point")
    assert "coalesce(usertrack_g.usertrack_group, 7)" in sql
    refused = [
        GROUPED_SQL.replace("event = 'x' AND", "event = 'x' OR"),
        GROUPED_SQL.replace("GROUP BY point", "GROUP BY point ORDER BY point"),
        GROUPED_SQL.replace("GROUP BY point", "GROUP BY point LIMIT 3"),
        GROUPED_SQL.replace("AS point FROM", "AS point, row_number() OVER () AS r FROM"),
        GROUPED_SQL.replace("FROM events", "FROM events JOIN persons USING (person_id)"),
        GROUPED_SQL.replace("GROUP BY point", ""),
        GROUPED_SQL.replace("SELECT date_trunc", "SELECT DISTINCT date_trunc"),
        GROUPED_SQL.replace("event = 'x'", "event IN (SELECT 'x')"),
    ]
    for bare in refused:
        assert grouped_sql(bare, bare, 7) is None, bare
    # the slot's text must be where the file's `true` is
    assert grouped_sql(GROUPED_SQL.replace("event = 'x'", "event = 'y'"), GROUPED_SQL, 7) is None


def test_a_grouped_query_gives_each_group_the_rows_its_filter_gives(tmp_path: Path) -> None:
    """Run on DuckDB: the grouped rows of a group are the rows of the query with the group's
    filter in its slot; a person in no listed group is the rest ("no account"), an event
    without a person in no group."""
    import duckdb
    import pyarrow as pa

    from usertrack.engines.local.grouped import TABLE, grouped_sql

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE events AS SELECT * FROM (VALUES"
        " ('x', 'a', TIMESTAMP '2026-01-01 10:00'), ('x', 'a', TIMESTAMP '2026-01-02 10:00'),"
        " ('x', 'b', TIMESTAMP '2026-01-01 11:00'), ('y', 'b', TIMESTAMP '2026-01-01 12:00'),"
        " ('x', 'c', TIMESTAMP '2026-01-02 09:00'), ('x', NULL, TIMESTAMP '2026-01-02 09:30'))"
        " AS t(event, person_id, timestamp)"
    )
    con.register(TABLE, pa.table({"person_id": ["a", "b"], "usertrack_group": [0, 1]}))
    sql = grouped_sql(GROUPED_SQL, GROUPED_SQL, 2)
    assert sql is not None
    rows = con.execute(sql).fetchall()
    filters = {
        0: "person_id IN ('a')",
        1: "person_id IN ('b')",
        2: "NOT (person_id IN ('a', 'b'))",
    }
    for number, test in filters.items():
        alone = con.execute(GROUPED_SQL.replace("AND true", f"AND ({test})")).fetchall()
        assert sorted(r[1:] for r in rows if r[0] == number) == sorted(alone), number
    assert sum(r[2] for r in rows if r[0] is not None) == 4  # each event of x with a person


def test_activity_by_segment_fetches_a_query_without_the_groups_filter_once(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """activity_created.sql takes no filter (when each person was created): its answer is the
    same in every group's run, fetched once; the heatmap, which takes the group's filter, runs
    for the whole answer in place on the store (as without --by-segment: the groups read none
    of its rows) and once for every group at once (from the store's tables), each group's
    answer its --segment answer; with a --where, once per group, as before."""
    ran, grouped = _spy_runs(monkeypatch)
    args = ["--days", "7"]
    doc = run_json("activity", [*args, "--by-segment"], as_of=AS_OF, **env)
    assert [part["segment"] for part in doc["by_segment"]] == GROUPS
    assert ran.count("posthog/activity_created") == 1
    assert ran.count("posthog/activity_hours") == 0  # the whole answer's: in place
    assert grouped == ["posthog/activity_hours"]
    for part in doc["by_segment"]:
        alone = run_json("activity", [*args, "--segment", part["segment"]], as_of=AS_OF, **env)
        assert part["hours"] == alone["hours"] and part["daily"] == alone["daily"]
    ran.clear()
    where = ["--where", "properties.$pathname = '/home'"]
    run_json("activity", [*args, *where, "--by-segment"], as_of=AS_OF, **env)
    assert ran.count("posthog/activity_hours") == len(GROUPS)


@pytest.mark.parametrize("command", ["activity", "retention", "funnel"])
def test_by_segment_groups_reuse_one_in_memory_database(
    command: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each group's run of an analysis works in the in-memory DuckDB the run before it gave
    back, emptied (sandbox.keep_connections), not a new one per group; the answers as ever."""
    import duckdb

    opened: list[str] = []
    connect = duckdb.connect

    def counted(database: Any = ":memory:", *args: Any, **kwargs: Any) -> Any:
        opened.append(str(database))
        return connect(database, *args, **kwargs)

    args = ["signup", "$pageview", *RANGE] if command == "funnel" else ADDITIVE[command][0]
    want = run_json(command, [*args, "--by-segment"], as_of=AS_OF, **env)
    monkeypatch.setattr(duckdb, "connect", counted)
    doc = run_json(command, [*args, "--by-segment"], as_of=AS_OF, **env)
    assert doc == want
    # the analysis's and its groups' one, and the classification's on the mapping's thread
    # (which the analysis may take over when given back first): not one more per group
    assert opened.count(":memory:") <= 2, opened


@pytest.mark.parametrize("command", ["funnel", "retention", "activity", "trends", "paths"])
def test_local_by_segment_makes_no_list_of_a_groups_persons(
    command: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the local engine every query of a --by-segment run is answered from everyone's rows
    split by group number (the facts, the grouped queries, the path table): no group's list of
    person ids is made for a filter no query reads. --segment binds its group's list, sorted,
    as before."""
    from usertrack.engines.person_rows import GroupNumbers

    made: list[int | None] = []
    ids_of = GroupNumbers.ids_of

    def counted(self: GroupNumbers, number: int | None = None) -> list[str]:
        made.append(number)
        return ids_of(self, number)

    monkeypatch.setattr(GroupNumbers, "ids_of", counted)
    args = {
        "funnel": ["signup", "$pageview", *RANGE],
        "trends": ["$pageview", *RANGE],
    }.get(command) or ADDITIVE[command][0]
    doc = run_json(command, [*args, "--by-segment"], as_of=AS_OF, **env)
    assert [part["segment"] for part in doc["by_segment"]] == GROUPS
    assert made == []
    if command == "trends":
        assert by_group(doc, trends) == PAGEVIEWS
    if command == "funnel":
        assert by_group(doc, funnel) == FUNNEL
    # --segment: the filter's list is the group's persons (pa), then everyone listed (pa-pc)
    from usertrack.analytics import by_segment

    bound: list[Any] = []
    person_filter = by_segment.PersonSegments.person_filter

    def spied(self: Any, group: str, local: bool = False) -> Any:
        text, values = person_filter(self, group, local)
        bound.append(dict(values))
        return text, values

    monkeypatch.setattr(by_segment.PersonSegments, "person_filter", spied)
    for group, ids in (("spender", ["pa"]), ("no account", ["pa", "pb", "pc"])):
        run_json(command, [*args, "--segment", group], as_of=AS_OF, **env)
        assert bound.pop() == {by_segment.PLACEHOLDER: ids}


def test_the_groups_numbered_in_arrow_as_row_by_row() -> None:
    """The persons of the store's per-person tables numbered by group in Arrow (`numbered_persons`)
    as person_segments numbers the rows of the events' query one by one: the primary segment
    of their email, "no segment" for an account's email in no segment, none (not listed: "no
    account") for any other email or none; a row without a person id not listed; a primary
    the rules do not have numbered -1 (in no group), a blank primary as none."""
    import pyarrow as pa

    from usertrack.analytics.by_segment import (
        NO_ACCOUNT,
        NO_SEGMENT,
        PersonSegments,
        numbered_persons,
    )

    groups = ("spender", "trial", NO_SEGMENT, NO_ACCOUNT)
    rows = [
        ("pa", "a@x.io"), ("pb", "b@x.io"), ("pc", "c@x.io"), ("pd", "d@x.io"),
        ("pe", None), ("", "a@x.io"), (None, "b@x.io"), ("pf", "old@x.io"),
        ("pg", "blank@x.io"), ("ph", "A@x.io"),
    ]  # fmt: skip
    primary = {"a@x.io": "spender", "b@x.io": "trial", "old@x.io": "gone", "blank@x.io": ""}
    known = {"a@x.io", "b@x.io", "c@x.io", "old@x.io", "blank@x.io"}
    persons: dict[str, list[str]] = {}
    for person_id, email in rows:  # person_segments' loop over the events' rows
        group = primary.get(email) or (NO_SEGMENT if email in known else None)  # type: ignore[arg-type]
        if group is not None and person_id:
            persons.setdefault(group, []).append(str(person_id))
    want = PersonSegments.listed(AS_OF_DT, groups, persons, "snapshot").numbers
    table = pa.table({"person_id": [r[0] for r in rows], "email": [r[1] for r in rows]})
    got = numbered_persons(table, primary, known, groups)
    pairs = dict(zip(got.ids.to_pylist(), got.numbers.to_pylist(), strict=True))
    assert pairs == dict(zip(want.ids.to_pylist(), want.numbers.to_pylist(), strict=True))
    assert pairs == {"pa": 0, "pb": 1, "pc": 2, "pf": -1, "pg": 2}
    assert got.ids_of(0) == ["pa"] and got.ids_of(None) == ["pa", "pb", "pc", "pf", "pg"]


AS_OF_DT = datetime(2026, 6, 4, 12, tzinfo=UTC)


def test_a_name_lookup_runs_once_for_all_the_groups(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step no one in a group reached makes the funnel look its name up among the range's
    events (a typo?): the same lookup in every group's run (its query takes no filter), run
    once for the whole --by-segment command; each group's note as its --segment run's."""
    from tests.analytics_helpers import run_ok

    ran, _ = _spy_runs(monkeypatch)
    args = ["signup", "$pageview", "signed_up", *RANGE, "-f", "json"]
    whole = run_ok("funnel", [*args, "--by-segment"], as_of=AS_OF, **env)
    assert ran.count("posthog/event_names") == 1
    assert "'signed_up' is no event in the range" in whole.stderr
    alone = run_ok("funnel", [*args, "--segment", "trial"], as_of=AS_OF, **env)
    # its warnings are the group's (the --segment run also says whom it kept)
    notes = [line for line in alone.stderr.splitlines() if " kept " not in line]
    assert notes and all(line in whole.stderr for line in notes)
    assert json.loads(whole.stdout)["by_segment"][1]["steps"] == json.loads(alone.stdout)["steps"]


def test_the_demo_database_opens_on_the_mappings_thread(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the local engine the app's database (the demo's PostgreSQL: its driver's import, the
    server's check) is opened on the thread that finds who is in which group, while the whole
    answer runs, not before it; the answer is the same."""
    import threading

    from usertrack import workspace

    opened: list[str] = []
    add_database = workspace.add_database

    def spied(ws: Any, *args: Any, **kwargs: Any) -> None:
        if "neon" not in ws.sources:
            opened.append(threading.current_thread().name)
        add_database(ws, *args, **kwargs)

    # a moment of its own, saved by no run (--no-save): every run classifies its users
    args = ["trends", "$pageview", "--by-segment", "--as-of", "2026-11-20T03:04:05", "--no-save"]
    want = run([*args, "-f", "json"], home=demo_home)
    monkeypatch.setattr(workspace, "add_database", spied)
    result = run([*args, "-f", "json"], home=demo_home)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == want.stdout
    assert opened == ["usertrack-segments"]


def test_activity_by_segment_works_out_each_persons_masks_once(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person's active-day masks come from their own active days alone: --by-segment works
    them out once, over everyone, and every group's figures come from its persons' rows of
    them, all groups in one pass (no group loads the active days again); each group's answer
    its --segment answer."""
    from usertrack.analytics.activity import masks as masking

    calls: list[int] = []
    masks = masking.masks_table

    def counted(con: Any, *args: Any) -> bool:
        fits = masks(con, *args)
        calls.append(len(con.execute("SELECT * FROM masks").fetchall()))
        return fits

    monkeypatch.setattr(masking, "masks_table", counted)
    from usertrack.analytics import common

    created: list[int] = []
    store_rows = common.store_rows

    def stored(con: Any, result: Any, table: str, *args: Any) -> None:
        store_rows(con, result, table, *args)
        if table == "created":
            created.append(len(result.rows) if result.arrow is None else result.arrow.num_rows)

    monkeypatch.setattr(common, "store_rows", stored)
    args = ["--days", "7"]
    doc = run_json("activity", [*args, "--by-segment"], as_of=AS_OF, **env)
    assert len(calls) == 1 and calls[0] >= 4  # once, over everyone
    # and the groups' figures worked out together, once, from everyone's creation times (the
    # whole answer's are read in place, as without --by-segment)
    assert len(created) == 1 and created[0] >= 4
    for part in doc["by_segment"]:
        calls.clear()
        alone = run_json("activity", [*args, "--segment", part["segment"]], as_of=AS_OF, **env)
        assert len(calls) == 1
        for key in (
            "dau",
            "wau",
            "mau",
            "stickiness",
            "daily",
            "lifecycle",
            "active_days",
            "hours",
        ):
            assert part.get(key, doc.get(key)) == alone.get(key), (part["segment"], key)


@pytest.mark.parametrize("mode", ["first-time", "recurring"])
def test_retention_by_segment_works_out_each_persons_cohorts_once(
    mode: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person's cohorts and returns come from their own rows alone: --by-segment works them
    out once, over everyone, and each group counts its persons' rows of them (no group loads
    the facts again); each group's answer its --segment answer."""
    from usertrack.analytics.retention import run as retentions

    opened: list[int] = []
    open_facts_tables = retentions.open_facts_tables

    def counted(*args: Any, **kwargs: Any) -> Any:
        opened.append(1)
        return open_facts_tables(*args, **kwargs)

    monkeypatch.setattr(retentions, "open_facts_tables", counted)
    args = [*ADDITIVE["retention"][0], "--mode", mode]
    doc = run_json("retention", [*args, "--by-segment"], as_of=AS_OF, **env)
    assert len(opened) == 1
    # the whole answer counted from the rows it keeps for the groups: the plain command's
    assert doc["cohorts"] == run_json("retention", args, as_of=AS_OF, **env)["cohorts"]
    assert [part["segment"] for part in doc["by_segment"]] == GROUPS
    for part in doc["by_segment"]:
        alone = run_json("retention", [*args, "--segment", part["segment"]], as_of=AS_OF, **env)
        assert part["cohorts"] == alone["cohorts"], part["segment"]
    assert sum(int(c["size"]) for p in doc["by_segment"] for c in p["cohorts"]) == sum(
        int(c["size"]) for c in doc["cohorts"]
    )


def test_the_stores_persons_are_kept_until_the_store_changes(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Who the store's persons are (segment_persons from its per-person tables) is read from
    the store once and kept on disk under the store's stamp: the next --by-segment command
    reads the kept file, with the same answer; a store imported again (another export) is
    read again, and its new persons count."""
    import pyarrow as pa

    from usertrack.engines.local import storecache
    from usertrack.engines.local.rollups import SEGMENT_PERSONS_ROLLED
    from usertrack.engines.local.source import LocalPostHogSource

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # the tests' stores are seconds old
    read: list[str] = []
    answer = LocalPostHogSource._answer

    def counted(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        read.extend(["persons"] if sql == SEGMENT_PERSONS_ROLLED else [])
        return answer(self, sql, *args, **kwargs)

    monkeypatch.setattr(LocalPostHogSource, "_answer", counted)
    # --no-save: no snapshot of the moment, so no numbering kept for it (the test after next)
    args = ["$pageview", *RANGE, "--by-segment", "--no-save"]
    first = run_json("trends", args, as_of=AS_OF, **env)
    assert read == ["persons"] and by_group(first, trends) == PAGEVIEWS
    kept = list(storecache.folder_of(Path(os.environ["USERTRACK_HOME"])).glob("*.arrow"))
    assert len(kept) == 1 and stat.S_IMODE(kept[0].stat().st_mode) == 0o600
    assert run_json("trends", args, as_of=AS_OF, **env) == first
    assert read == ["persons"]  # the kept answer: the store not asked again
    other = pa.schema([("x", pa.int8())])  # a kept file of another shape (or damaged):
    with pa.OSFile(str(kept[0]), "wb") as sink, pa.ipc.new_file(sink, other):
        pass  # not used, the store asked again
    assert run_json("trends", args, as_of=AS_OF, **env) == first
    assert read == ["persons", "persons"]
    # px's pageview (06-03 11:00) now carries a@x.io: a spender's, no longer no account's
    changed = [
        {**r, "person_properties": {"email": "a@x.io"}} if r["person_id"] == "px" else r
        for r in RECORDS
    ]
    write_export(Path(env["USERTRACK_EVENTS"]), changed)
    again = run_json("trends", args, as_of=AS_OF, **env)
    assert read == ["persons", "persons", "persons"]
    assert by_group(again, trends) == {
        **PAGEVIEWS, "spender": [2, 1, 1], "no account": [0, 1, 0]
    }  # fmt: skip


def test_the_shipped_accounts_emails_are_asked_for_in_a_leaner_statement_with_the_same_set(
    make_database: Callable[[str], str], env: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """by_segment.ACCOUNT_EMAILS gives the set of emails of queries/neon/accounts.sql as
    shipped (blanks, duplicates after normalizing, excluded and later accounts, a NULL email);
    a --by-segment run asks it, and a --queries folder's edited accounts.sql is asked as it is."""
    from tests.handmade import SCHEMA
    from usertrack.analytics.by_segment import ACCOUNT_EMAILS
    from usertrack.engines.postgres.source import PostgresSource
    from usertrack.queries.library import parse_query, resolve_params

    url = make_database(
        SCHEMA
        + """
INSERT INTO wasp_user VALUES (1, 'a@x.io', 10, 'active', NULL, '2026-05-01');
INSERT INTO wasp_user VALUES (2, E' A@X.io\\t', 90, NULL, NULL, '2026-05-02');
INSERT INTO wasp_user VALUES (3, E' \\r\\n', 100, NULL, NULL, '2026-05-03');
INSERT INTO wasp_user VALUES (4, NULL, 100, NULL, NULL, '2026-05-03');
INSERT INTO wasp_user VALUES (5, 'z@datagen.dev', 100, NULL, NULL, '2026-05-03');
INSERT INTO wasp_user VALUES (6, 'Late@x.io', 100, NULL, NULL, '2026-07-01');
INSERT INTO wasp_user VALUES (7, 'Ünï@x.io ', 100, NULL, NULL, '2026-05-04');
"""
    )
    shipped = REPO / "queries" / "neon" / "accounts.sql"
    query = parse_query(shipped, "neon")
    accounts = query.sql
    values = {"exclude_pattern": r"@datagen\.dev$"}
    with psycopg.connect(url) as con:
        for as_of in ("2026-05-01 00:00:00", "2026-06-04 12:00:00", "2026-07-02 00:00:00"):
            bound = {**values, "as_of": as_of}
            defaults = resolve_params(query, bound, now_value=as_of)  # everyone
            whole = {row[0] for row in con.execute(accounts, defaults)}  # type: ignore[arg-type]
            lean = [row[0] for row in con.execute(ACCOUNT_EMAILS, bound)]  # type: ignore[arg-type]
            assert set(lean) == whole and len(lean) >= len(whole)
    assert {"a@x.io", "late@x.io"} < whole and len(whole) == 3  # and Ünï's
    assert "z@datagen.dev" not in whole and "" not in whole

    asked: list[str] = []
    run_query = PostgresSource.run

    def counted(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(query.sql)
        return run_query(self, query, *args, **kwargs)

    monkeypatch.setattr(PostgresSource, "run", counted)
    args = ["$pageview", *RANGE, "--by-segment"]
    doc = run_json("trends", args, as_of=AS_OF, **env)  # classified now: its accounts serve
    assert by_group(doc, trends) == PAGEVIEWS
    assert ACCOUNT_EMAILS not in asked and not any(
        q.startswith("SELECT email FROM (") for q in asked
    )

    def saved_without_accounts(**more: str) -> None:
        """A snapshot of AS_OF as saved before history version 4 (no accounts)."""
        import sqlite3

        from usertrack.segments.history import history_path

        assert run(["segments", "--as-of", AS_OF, "--save"], **env, **more).exit_code == 0
        con = sqlite3.connect(history_path(Path(os.environ["USERTRACK_HOME"])))
        con.execute("UPDATE snapshots SET accounts = NULL")
        con.commit()
        con.close()
        asked.clear()

    saved_without_accounts()
    assert run_json("trends", args, as_of=AS_OF, **env) == doc
    assert ACCOUNT_EMAILS in asked
    queries = tmp_path / "queries"
    shutil.copytree(REPO / "queries", queries)
    edited = queries / "neon" / "accounts.sql"
    edited.write_text(edited.read_text().replace("AS last_active_at", "AS last_active_at "))
    saved_without_accounts(USERTRACK_QUERIES=str(queries))
    assert run_json("trends", args, as_of=AS_OF, USERTRACK_QUERIES=str(queries), **env) == doc
    assert ACCOUNT_EMAILS not in asked
    assert any(q.startswith("SELECT email FROM (\n") for q in asked)


def test_retention_looks_no_name_up_for_a_group_when_the_whole_answer_counted_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """'no segment' (pc) never signed up: its cohorts are empty, but the whole answer's run
    (first) counted signups, so `signup` is an event of the range and no group's run looks the
    range's event names up; a name no one has is still looked up (once) and said."""
    from tests.analytics_helpers import run_ok

    ran, _ = _spy_runs(monkeypatch)
    args = ["--start", "signup", "--period", "day", "--periods", "4", "-f", "json"]
    whole = run_ok("retention", [*args, "--by-segment"], as_of=AS_OF, **env)
    parts = {p["segment"]: p for p in json.loads(whole.stdout)["by_segment"]}
    assert not any(c["size"] for c in parts["no segment"]["cohorts"])
    assert any(c["size"] for c in json.loads(whole.stdout)["cohorts"])
    assert "posthog/event_names" not in ran and "is no event" not in whole.stderr
    alone = run_ok("retention", [*args, "--segment", "no segment"], as_of=AS_OF, **env)
    assert json.loads(alone.stdout)["cohorts"] == parts["no segment"]["cohorts"]
    ran.clear()
    typo = ["--start", "signed_up", *args[2:]]
    missing = run_ok("retention", [*typo, "--by-segment"], as_of=AS_OF, **env)
    assert ran.count("posthog/event_names") == 1
    assert "'signed_up' is no event in the range" in missing.stderr


def test_a_snapshot_keeps_its_accounts_and_then_needs_no_database(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A saved snapshot keeps the app's accounts in no segment (c@x.io: a and b are in
    segments, d has no account, z is internal): with it, --by-segment on that moment tells "no
    segment" from "no account" without opening the database. A moment without a snapshot
    still classifies its users there."""
    import sqlite3

    from usertrack.segments.history import History, history_path

    saved = run(["segments", "--as-of", AS_OF, "--save"], **env)
    assert saved.exit_code == 0, saved.stderr
    path = history_path(Path(os.environ["USERTRACK_HOME"]))
    con = sqlite3.connect(path)
    (key,) = con.execute("SELECT workspace FROM snapshots").fetchone()
    con.close()
    with History(path, key) as history:
        snapshot = history.load(datetime.fromisoformat(AS_OF).replace(tzinfo=UTC))
    assert snapshot is not None and snapshot.accounts == frozenset({"c@x.io"})
    args = ["$pageview", *RANGE, "--by-segment"]
    want = run_json("trends", args, as_of=AS_OF, **env)
    assert by_group(want, trends) == PAGEVIEWS
    opened = _databases_opened(monkeypatch)
    assert run_json("trends", args, as_of=AS_OF, **env) == want
    assert opened == []
    later = run_json("trends", args, as_of="2026-06-04T13:00:00", **env)
    assert opened == ["database"] and by_group(later, trends)["no segment"] == [0, 1, 0]


def test_a_snapshot_saved_before_it_kept_accounts_asks_the_database(
    env: dict[str, str], db: str
) -> None:
    """A snapshot from before history version 4 has no accounts: the database tells who in no
    segment has an account, as before, with the same groups."""
    import sqlite3

    from usertrack.segments.history import history_path

    assert run(["segments", "--as-of", AS_OF, "--save"], **env).exit_code == 0
    path = history_path(Path(os.environ["USERTRACK_HOME"]))
    con = sqlite3.connect(path)
    con.execute("UPDATE snapshots SET accounts = NULL")
    con.commit()
    con.close()
    doc = run_json("trends", ["$pageview", *RANGE, "--by-segment"], as_of=AS_OF, **env)
    assert by_group(doc, trends) == PAGEVIEWS


def test_the_groups_of_the_stores_persons_are_kept_for_a_snapshot(
    env: dict[str, str], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a snapshot that keeps its accounts, who is in which group depends on the store and
    that snapshot alone: worked out once and kept (the next command numbers no person), and
    worked out again once the snapshot of that moment is saved anew."""
    numbered = _numberings(monkeypatch)
    assert run(["segments", "--as-of", AS_OF, "--save"], **env).exit_code == 0
    args = ["$pageview", *RANGE, "--by-segment"]
    first = run_json("trends", args, as_of=AS_OF, **env)
    assert numbered == [1] and by_group(first, trends) == PAGEVIEWS
    assert run_json("trends", args, as_of=AS_OF, **env) == first
    assert numbered == [1]  # the kept numbering
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE wasp_user SET credits = 5 WHERE id = 3")  # c: a spender now
    assert run(["segments", "--as-of", AS_OF, "--save", "--refresh"], **env).exit_code == 0
    again = run_json("trends", args, as_of=AS_OF, **env)
    assert numbered == [1, 1]
    assert by_group(again, trends) == {
        **PAGEVIEWS, "spender": [2, 2, 0], "no segment": [0, 0, 0]
    }  # fmt: skip


def _numberings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets 1 each time a command numbers the store's persons by group from now on
    (kept numberings allowed from stores seconds old, as the tests' are)."""
    from usertrack.analytics import by_segment
    from usertrack.engines.local import storecache

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)
    numbered: list[int] = []
    numbering = by_segment.numbered_persons

    def counted(*args: Any) -> Any:
        numbered.append(1)
        return numbering(*args)

    monkeypatch.setattr(by_segment, "numbered_persons", counted)
    return numbered


def _databases_opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that gets "database" each time a command opens the app's database from now on."""
    from usertrack import workspace

    opened: list[str] = []
    add_database = workspace.add_database

    def spied(ws: Any, *args: Any, **kwargs: Any) -> None:
        opened.append("database")
        add_database(ws, *args, **kwargs)

    monkeypatch.setattr(workspace, "add_database", spied)
    return opened


def _snapshot_at(moment: str) -> Any:
    """The history's snapshot of exactly `moment` (UTC) under the test's USERTRACK_HOME, or
    None (no history, or none of that moment)."""
    import sqlite3

    from usertrack.segments.history import History, history_path

    path = history_path(Path(os.environ["USERTRACK_HOME"]))
    if not path.exists():
        return None
    con = sqlite3.connect(path)
    keys = con.execute("SELECT DISTINCT workspace FROM snapshots").fetchall()
    con.close()
    when = datetime.fromisoformat(moment).replace(tzinfo=UTC)
    for (key,) in keys:
        with History(path, key) as history:
            found = history.load(when)
        if found is not None:
            return found
    return None


def test_a_run_that_classifies_saves_the_segments_for_the_next_run(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--by-segment (and --segment) on a moment without a snapshot classifies the users and
    saves that classification as the moment's snapshot, as `segments` does by default (here
    USERTRACK_SEGMENTS names the rules: the default file): the next run of that moment reads it,
    opening no database, with the same answer. --no-save saves nothing, and neither does a run
    under another rules file than the default (as `segments`)."""
    numbered = _numberings(monkeypatch)
    args = ["$pageview", *RANGE, "--by-segment"]
    assert _snapshot_at(AS_OF) is None
    first = run_json("trends", args, as_of=AS_OF, **env)
    assert by_group(first, trends) == PAGEVIEWS
    saved = _snapshot_at(AS_OF)
    assert saved is not None
    assert saved.primary == {"a@x.io": "spender", "b@x.io": "trial"}
    assert saved.accounts == frozenset({"c@x.io"})
    opened = _databases_opened(monkeypatch)
    assert run_json("trends", args, as_of=AS_OF, **env) == first
    assert opened == []
    assert numbered == [1]  # the persons' groups kept with the snapshot, by the first run
    # --segment saves too (the day's snapshot is the later moment's now: History.save)
    one = ["$pageview", *RANGE, "--segment", "trial"]
    kept = run_json("trends", one, as_of="2026-06-04T13:00:00", **env)
    assert trends(kept) == PAGEVIEWS["trial"] and opened == ["database"]
    assert _snapshot_at("2026-06-04T13:00:00") is not None
    # --no-save, and another rules file than the default: nothing saved, every run classifies
    later = "2026-06-04T14:00:00"
    unsaved = run_json("trends", [*args, "--no-save"], as_of=later, **env)
    assert by_group(unsaved, trends) == PAGEVIEWS and _snapshot_at(later) is None
    other = tmp_path / "other.yaml"
    other.write_text(SEGMENTS)
    elsewhere = run_json("trends", [*args, "--segments", str(other)], as_of=later, **env)
    assert by_group(elsewhere, trends) == PAGEVIEWS and _snapshot_at(later) is None
    assert opened == ["database"] * 3


def _kept_line(result: Any) -> str:
    assert result.exit_code == 0, result.stderr
    (line,) = [s for s in result.stderr.splitlines() if " kept " in s]
    return str(line)


def test_segment_says_its_users_with_no_posthog_person_on_every_path(
    env: dict[str, str], db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--segment`'s line counts the persons it kept and, since `segments` counts users, the
    segment's users and those with no PostHog person (no event): e@x.io is a spender with
    none. The same line whether the groups were classified now, read from the history's
    snapshot, from the store's kept numbering of it, or numbered from PostHog's rows (row by
    row, or in Arrow as past ARROW_OVER persons)."""
    from usertrack.analytics import by_segment, segment_persons

    read: list[Any] = []  # the kept numberings' groups' users, as read back
    reading = by_segment.kept_users
    monkeypatch.setattr(by_segment, "kept_users", lambda t: read.append(reading(t)) or read[-1])
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("INSERT INTO wasp_user VALUES (4, 'e@x.io', 20, 'active', NULL, '2026-05-04')")
    want = (
        "usertrack: --segment spender kept 1 person of its 2 users (1 with no PostHog person),"
        " of 3 persons with an app account"
    )
    args = ["trends", "$pageview", *RANGE, "--segment", "spender", "--as-of", AS_OF]
    assert _kept_line(run([*args, "--no-save"], **env)) == want  # classified now
    assert _kept_line(run(args, **env)) == want  # classified now and saved, numbering kept
    assert _kept_line(run(args, **env)) == want  # the kept numbering of the saved snapshot
    # (kept when the store keeps answers; what it keeps is read back whole: the test below)
    assert all(r == {"spender": (2, 1), "trial": (1, 1), "no segment": (1, 1)} for r in read)
    listed = json.loads(run(["segments", "--segment", "spender", "--as-of", AS_OF, "-f", "json"],
                            **env).stdout)  # fmt: skip
    assert sorted(u["email"] for u in listed["users"]) == ["a@x.io", "e@x.io"]
    with live_posthog(Path(env["USERTRACK_EVENTS"]), tmp_path) as (_, live_env):
        live_env = {**live_env, "DATABASE_URL": env["DATABASE_URL"],
                    "USERTRACK_SEGMENTS": env["USERTRACK_SEGMENTS"]}  # fmt: skip
        for arrow_over in (10_000, 0):
            monkeypatch.setattr(segment_persons, "ARROW_OVER", arrow_over)
            assert _kept_line(run(args, **live_env)) == want, arrow_over  # PostHog's persons


def test_on_the_demo_segment_says_why_its_count_differs_from_segments(
    demo_copy: Callable[..., Path], tmp_path: Path
) -> None:
    """On the demo as of a fixed moment: the users `segments` lists in `failing`, the persons
    `sessions --segment failing` kept, and the users among them with no PostHog person add up,
    the same line on the first run (classified) and the next (the snapshot's kept numbering)."""
    import re

    home = demo_copy(tmp_path / "home", 300, date(2026, 11, 16))
    as_of = ["--as-of", "2026-11-15T12:00:00"]
    listed = run(["segments", "--segment", "failing", *as_of, "-f", "json"], home=home)
    assert listed.exit_code == 0, listed.stderr
    doc = json.loads(listed.stdout)
    users = len(doc["users"])
    first = _kept_line(run(["sessions", "--segment", "failing", *as_of], home=home))
    again = _kept_line(run(["sessions", "--segment", "failing", *as_of, "-f", "json"], home=home))
    assert first == again
    said = re.fullmatch(
        r"usertrack: --segment failing kept ([\d,]+) persons of its ([\d,]+) users"
        r" \(([\d,]+) with no PostHog person\), of ([\d,]+) persons with an app account",
        first,
    )
    assert said, first
    kept, of, missing, everyone = (int(n.replace(",", "")) for n in said.groups())
    assert of == users and missing > 0 and kept > 0
    assert kept == users - missing  # the demo: one person to a user
    assert everyone > kept


def test_a_kept_numbering_keeps_its_groups_users(tmp_path: Path) -> None:
    """The store's kept numbering of a snapshot holds each group's users beside it, so a run
    that reads it says the same `--segment` line as one that classified; one kept without
    them is a miss (numbered again)."""
    import pyarrow as pa

    from usertrack.analytics.by_segment import kept_users, numbers_table
    from usertrack.engines.local import storecache
    from usertrack.engines.person_rows import GroupNumbers

    numbers = GroupNumbers.of_arrays(pa.array(["pa", "pb"]), pa.array([0, 1], pa.int32()))
    people = {"spender": (2, 1), "trial": (1, 1), "no segment": (0, 0)}
    storecache.save(tmp_path, "numbers", numbers_table(numbers, people))
    table = storecache.load(tmp_path, "numbers")
    assert table is not None and table.column_names == ["person_id", "usertrack_group"]
    assert kept_users(table) == people
    assert table["person_id"].to_pylist() == ["pa", "pb"]
    assert kept_users(pa.table({"person_id": ["pa"], "usertrack_group": [0]})) is None
