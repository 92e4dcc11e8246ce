"""`usertrack accounts` on a hand-made database whose every figure is worked out below.

As of 2026-06-10 00:00, window 7 days: (2026-06-03 00:00, 2026-06-10 00:00]. The account key is
configured (team_member.team, its user column member_id), not the defaults.

- acme: ann (credits 10, active, last active 06-09: active), bob (100, no plan, last active 06-01,
  no run: not active), cy (50, trialing, last active 06-01 but a run on 06-05: active), and
  z@datagen.dev (internal: never counted). 3 members, 2 active; plan active (best of active,
  trialing); credits 160. Runs in the window: ann 06-09 completed, 06-08 completed, 06-07 failed,
  cy 06-05 completed; ann's failed run at exactly 06-03 00:00 is out (the window's open end).
  4 runs, 1 failed: 25.0 %, at least a quarter -> at risk (2 of 3 members active is enough).
- beta: dee (80, canceled, last active 06-09, a completed run 06-09: active), eve (100, past_due,
  last active 05-20: not active). 2 members, 1 active (half: enough), plan past_due (beats
  canceled), 1 run, none failed: healthy; credits 180.
- gamma: fay (100, no plan, last active 05-01): dormant, no plan, no run, failure rate null;
  hal joined it after as_of (created 06-20): not counted. Credits 100.
- gus has no team row: in no account.

Summary: 3 accounts, 2 active, 6 members, 3 active members; 1 healthy, 1 at risk, 1 dormant.
Order: most active members first: acme, beta, gamma.

`funnel a b c --by-account` (events of 2026-06-08): ann a, b (10:00, 10:05); bob a, b, c (11:00,
11:10, 11:20); dee a (12:00); eve a, b (13:00, 13:30); a stranger of no account a, b. Persons: 5,
4, 1. Accounts: acme reaches c through bob (its times are bob's: 600 s to b), beta reaches b
through eve (1,800 s to b), gamma never enters: 2, 2, 1 accounts; conversion 100.0 then 50.0; the
average and median time to b (600 + 1,800) / 2 = 1,200 s. The stranger is left out, and said so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.analytics_helpers import record, write_export
from tests.cli_runner import run
from tests.handmade import SCHEMA
from usertrack.core.errors import EXIT_USAGE

AS_OF = "2026-06-10"

ROWS = """
CREATE TABLE team_member (member_id int, team text);
INSERT INTO wasp_user VALUES (1, 'ann@x.io', 10, 'active', '2026-06-09', '2026-05-01');
INSERT INTO wasp_user VALUES (2, 'bob@x.io', 100, NULL, '2026-06-01', '2026-05-01');
INSERT INTO wasp_user VALUES (3, 'cy@x.io', 50, 'trialing', '2026-06-01', '2026-05-01');
INSERT INTO wasp_user VALUES (4, 'dee@x.io', 80, 'canceled', '2026-06-09', '2026-05-01');
INSERT INTO wasp_user VALUES (5, 'eve@x.io', 100, 'past_due', '2026-05-20', '2026-05-01');
INSERT INTO wasp_user VALUES (6, 'fay@x.io', 100, NULL, '2026-05-01', '2026-04-01');
INSERT INTO wasp_user VALUES (7, 'z@datagen.dev', 0, 'active', '2026-06-09', '2026-04-01');
INSERT INTO wasp_user VALUES (8, 'gus@x.io', 100, 'active', '2026-06-09', '2026-04-01');
INSERT INTO wasp_user VALUES (9, 'hal@x.io', 100, 'active', '2026-06-21', '2026-06-20');
INSERT INTO team_member VALUES (1, 'acme'), (2, 'acme'), (3, 'acme'), (7, 'acme'),
 (4, 'beta'), (5, 'beta'), (6, 'gamma'), (9, 'gamma');
INSERT INTO fastapi_user VALUES (101, 1), (103, 3), (104, 4), (107, 7), (108, 8);
INSERT INTO fastapi_run VALUES
 (1, 101, 'completed', '2026-06-09 10:00', NULL),
 (2, 101, 'completed', '2026-06-08 10:00', NULL),
 (3, 101, 'failed', '2026-06-07 10:00', 'boom'),
 (4, 101, 'failed', '2026-06-03 00:00', 'boom'),
 (5, 103, 'completed', '2026-06-05 10:00', NULL),
 (6, 104, 'completed', '2026-06-09 10:00', NULL),
 (7, 107, 'failed', '2026-06-09 10:00', 'boom'),
 (8, 108, 'failed', '2026-06-09 10:00', 'boom')
"""


@pytest.fixture(scope="module")
def env(make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    uri = make_database(SCHEMA)
    with psycopg.connect(uri, autocommit=True) as conn:
        for statement in ROWS.split(";\n"):
            if statement.strip():
                conn.execute(statement.encode())
    folder = tmp_path_factory.mktemp("accounts")
    steps = [
        ("ann@x.io", [("a", 10, 0), ("b", 10, 5)]),
        ("Bob@x.io ", [("a", 11, 0), ("b", 11, 10), ("c", 11, 20)]),
        ("dee@x.io", [("a", 12, 0)]),
        ("eve@x.io", [("a", 13, 0), ("b", 13, 30)]),
        ("stranger@y.io", [("a", 14, 0), ("b", 14, 1)]),
    ]
    records = [record(1, "$pageview", datetime(2026, 6, 8, 9, tzinfo=UTC), "pa", "pa", "ann@x.io")]
    for email, events in steps:
        for event, hour, minute in events:
            when = datetime(2026, 6, 8, hour, minute, tzinfo=UTC)
            records.append(record(len(records) + 1, event, when, email, email, email))
    export = write_export(folder / "events.jsonl", records)
    variables = {
        "USERTRACK_EVENTS": str(export),
        "DATABASE_URL": uri,
        "USERTRACK_ACCOUNT_TABLE": "team_member",
        "USERTRACK_ACCOUNT_COLUMN": "team",
        "USERTRACK_ACCOUNT_USER_COLUMN": "member_id",
    }
    # The events store is imported here, once, so that no test's stderr holds the import's line
    # whichever test runs first.
    built = run(["accounts", "--as-of", AS_OF, "-f", "json"], folder / "home", **variables)
    assert built.exit_code == 0 and "imported" in built.stderr, built.stderr
    return folder, variables


def accounts(env: Any, *args: str, fmt: str = "json", **variables: str) -> Any:
    folder, base = env
    result = run(
        ["accounts", "--as-of", AS_OF, "--days", "7", "-f", fmt, *args],
        folder / "home",
        **{**base, **variables},
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout) if fmt == "json" else result.stdout


def test_accounts_health_and_summary_are_the_worked_out_ones(env: Any) -> None:
    doc = accounts(env)
    assert doc["account_key"] == {
        "table": "team_member",
        "column": "team",
        "user_column": "member_id",
        "group_type": "organization",
    }
    assert doc["summary"] == {
        "accounts": 3, "active_accounts": 2, "members": 6, "active_members": 3,
        "healthy": 1, "at_risk": 1, "dormant": 1,
    }  # fmt: skip
    assert doc["accounts"] == [
        {"account": "acme", "name": None, "members": 3, "active_members": 2, "plan": "active",
         "seats": None, "runs": 4, "failed_runs": 1, "failure_rate": 25.0, "credits": 160,
         "health": "at risk", "segment": None},
        {"account": "beta", "name": None, "members": 2, "active_members": 1, "plan": "past_due",
         "seats": None, "runs": 1, "failed_runs": 0, "failure_rate": 0.0, "credits": 180,
         "health": "healthy", "segment": None},
        {"account": "gamma", "name": None, "members": 1, "active_members": 0, "plan": None,
         "seats": None, "runs": 0, "failed_runs": 0, "failure_rate": None, "credits": 100,
         "health": "dormant", "segment": None},
    ]  # fmt: skip


def test_accounts_every_format(env: Any) -> None:
    csv_text = accounts(env, fmt="csv")
    assert csv_text.splitlines()[0].startswith("account,name,members,active_members,plan,seats")
    assert len(csv_text.strip().splitlines()) == 4
    md = accounts(env, "-n", "2", fmt="md")
    # active in the app, not by events (`activity --by-account` counts those)
    assert "2 of 3 accounts active in the app" in md and "acme" in md and "gamma" not in md
    table = accounts(env, fmt="table")
    assert "1 healthy, 1 at risk, 1 dormant" in " ".join(table.split())


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("USERTRACK_ACCOUNT_COLUMN", "teem", "columns: member_id, team"),
        ("USERTRACK_ACCOUNT_TABLE", "team_members", "team_member"),
    ],
)
def test_an_unknown_account_key_names_what_exists(
    env: Any, variable: str, value: str, named: str
) -> None:
    folder, base = env
    result = run(
        ["accounts", "--as-of", AS_OF, "-f", "json"], folder / "home", **{**base, variable: value}
    )
    assert result.exit_code == EXIT_USAGE
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and value in lines[0] and named in lines[0] and variable in lines[0]


def test_funnel_by_account_counts_an_account_when_any_member_converts(env: Any) -> None:
    folder, variables = env
    base = ["funnel", "a", "b", "c", "--as-of", AS_OF, "-f", "json"]
    people = run(base, folder / "home", **variables)
    assert [s["persons"] for s in json.loads(people.stdout)["steps"]] == [5, 4, 1]
    result = run([*base, "--by-account"], folder / "home", **variables)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["counted"] == "accounts"
    steps = doc["steps"]
    assert [s["accounts"] for s in steps] == [2, 2, 1]
    assert not any("persons" in s for s in steps)
    assert [s["conversion_from_previous"] for s in steps] == [100.0, 100.0, 50.0]
    assert steps[1]["average_seconds_to_convert"] == 1200
    assert steps[1]["median_seconds_to_convert"] == 1200
    assert "1 person who entered the funnel in no account, left out" in result.stderr
    md = run([*base[:-1], "md", "--by-account"], folder / "home", **variables).stdout
    assert "conversion window 14d, accounts counted" in md
    # --trend counts accounts too: acme (bob converts) and beta entered on 06-08, not the stranger
    trend = run([*base, "--by-account", "--since", "2026-06-08", "--until", "2026-06-09",
                 "--trend", "day"], folder / "home", **variables)  # fmt: skip
    points = json.loads(trend.stdout)["trend"]["points"]
    assert [(p["start"], p["entered"], p["converted"]) for p in points] == [
        ("2026-06-08", 2, 1), ("2026-06-09", 0, 0)]  # fmt: skip


def test_funnel_by_account_names_accounts_in_every_format(env: Any) -> None:
    """Each step's count is headed Accounts, not Persons: the terminal's and Markdown's tables
    (the time to convert's too), the csv column and the JSON keys (steps and bins), the chart's
    title in the HTML page and the SVG; without --by-account, Persons as before."""
    folder, variables = env
    base = ["funnel", "a", "b", "c", "--as-of", AS_OF, "--by-account"]

    def answer(fmt: str, *more: str) -> str:
        result = run([*base, *more, "-f", fmt], folder / "home", **variables)
        assert result.exit_code == 0, result.stderr
        return result.stdout

    table = answer("table", "--time-to-convert")
    assert "Accounts" in table and "Persons" not in table
    md = answer("md", "--time-to-convert")
    assert "| \\# | Step | Accounts | From previous" in md
    assert "| From | To | Accounts | Share |" in md and "Persons" not in md
    header = answer("csv").splitlines()[0].split(",")
    assert header[:3] == ["step", "event", "accounts"] and "persons" not in header
    doc = json.loads(answer("json", "--time-to-convert"))
    assert [s["accounts"] for s in doc["steps"]] == [2, 2, 1]
    assert sum(b["accounts"] for b in doc["time_to_convert"]["bins"]) == 1
    assert "persons" not in json.dumps(doc)
    for fmt in ("html", "svg"):
        drawn = answer(fmt)
        assert "Accounts per step" in drawn and "Persons per step" not in drawn
    people = run([*base[:-1], "-f", "md"], folder / "home", **variables).stdout
    assert "| Persons |" in people and "Accounts" not in people


def test_funnel_by_account_refuses_what_it_does_not_go_with(env: Any) -> None:
    folder, variables = env
    result = run(
        ["funnel", "a", "b", "--by-account", "--by-segment", "--as-of", AS_OF],
        folder / "home",
        **variables,
    )
    assert result.exit_code == EXIT_USAGE
    assert "--by-account and --by-segment do not go together" in result.stderr


# `activity --by-account` and `retention --by-account` on the events below (all of June 2026,
# UTC; the same database): ann a 06-05 10:00, x 06-07; bob a 06-06, x 06-08; dee a 06-06; eve a
# 06-07, x 06-09; a stranger of no account a 06-06, x 06-07.
# - activity as of 06-10, 7 days: acme (ann, bob) is active on 05, 06, 07, 08; beta (dee, eve)
#   on 06, 07, 09. DAU of 06-09: 1 (beta); WAU 2; on 06-06: 2 (both; 3 persons). Active days:
#   acme 4, beta 3. Each account is created with its first member (06-05 and 06-06, the week of
#   06-01): new in that week, 2 accounts. The hours: 06-05 is a Friday: at 10:00 1 account, 1
#   event. The stranger: 1 person in no account, left out.
# - retention by day, first-time, start a, --since 06-05 --until 06-09: acme's first start is
#   ann's (06-05), beta's dee's (06-06); bob's and eve's starts are returns of their accounts.
#   acme: cohort 06-05, back on days 1 (bob), 2 (ann), 3 (bob); beta: cohort 06-06, back on
#   days 1 (eve) and 3 (eve). Persons: 4 cohorts (ann, bob + dee + stranger, eve).
KEPT_EVENTS = [
    ("ann@x.io", "a", 5), ("ann@x.io", "x", 7), ("bob@x.io", "a", 6), ("bob@x.io", "x", 8),
    ("dee@x.io", "a", 6), ("eve@x.io", "a", 7), ("eve@x.io", "x", 9),
    ("stranger@y.io", "a", 6), ("stranger@y.io", "x", 7),
]  # fmt: skip


@pytest.fixture(scope="module")
def kept(env: Any) -> Any:
    folder, variables = env
    records = [
        record(n + 1, event, datetime(2026, 6, day, 10, tzinfo=UTC), email, email, email)
        for n, (email, event, day) in enumerate(KEPT_EVENTS)
    ]
    export = write_export(folder / "kept.jsonl", records)
    return folder, {**variables, "USERTRACK_EVENTS": str(export)}


def test_activity_by_account_counts_an_account_active_when_any_member_is(kept: Any) -> None:
    folder, variables = kept
    base = ["activity", "--as-of", AS_OF, "--days", "7", "--periods", "2", "-f", "json"]
    result = run([*base, "--by-account"], folder / "home", **variables)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["counted"] == "accounts"
    daily = {d["date"]: d["dau"] for d in doc["daily"]}
    assert daily == {"2026-06-03": 0, "2026-06-04": 0, "2026-06-05": 1, "2026-06-06": 2,
                     "2026-06-07": 2, "2026-06-08": 1, "2026-06-09": 1}  # fmt: skip
    assert (doc["dau"], doc["wau"], doc["mau"]) == (1, 2, 2)
    assert [(d["days"], d["accounts"]) for d in doc["active_days"] if d["accounts"]] == [
        (3, 1),
        (4, 1),
    ]
    weeks = {w["period_start"]: w for w in doc["lifecycle"]}
    assert weeks["2026-06-01"]["new"] == 2 and weeks["2026-06-08"]["returning"] == 2
    friday = [h for h in doc["hours"] if h["weekday"] == 5 and h["hour"] == 10]
    assert friday == [{"weekday": 5, "hour": 10, "events": 1, "accounts": 1}]
    assert "persons" not in json.dumps(doc)  # every count of accounts is named so
    assert "1 person in no account, left out" in result.stderr
    people = json.loads(run(base, folder / "home", **variables).stdout)
    assert {d["date"]: d["dau"] for d in people["daily"]}["2026-06-06"] == 3
    md = run([*base[:-1], "md", "--by-account"], folder / "home", **variables).stdout
    assert "accounts counted" in md
    assert "| Days | Accounts |" in md and 'y-axis "Accounts"' in md and "Persons" not in md
    table = run([*base[:-2], "--by-account"], folder / "home", **variables).stdout
    assert "Accounts" in table and "Persons" not in table


def test_retention_by_account_an_account_returns_when_any_member_does(kept: Any) -> None:
    folder, variables = kept
    base = ["retention", "--as-of", AS_OF, "--period", "day", "--start", "a",
            "--since", "2026-06-05", "--until", "2026-06-09", "-f", "json"]  # fmt: skip
    result = run([*base, "--by-account"], folder / "home", **variables)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["counted"] == "accounts"
    cohorts = {c["start"]: c for c in doc["cohorts"]}
    assert {k: c["size"] for k, c in cohorts.items()} == {
        "2026-06-05": 1, "2026-06-06": 1, "2026-06-07": 0, "2026-06-08": 0, "2026-06-09": 0,
    }  # fmt: skip
    assert cohorts["2026-06-05"]["retained"] == [1, 1, 1, 1, 0]
    assert cohorts["2026-06-06"]["retained"] == [1, 1, 0, 1]
    assert "persons" not in json.dumps(doc)  # each period's count is under `accounts`
    # the cohorts of 06-05 and 06-06 both back a day later: 2 of 2 at periods 0 and 1
    assert [p["accounts"] for p in doc["average"][:2]] == [2, 2]
    people = json.loads(run(base, folder / "home", **variables).stdout)
    assert [c["size"] for c in people["cohorts"]] == [1, 3, 1, 0, 0]
    assert people["average"][0]["persons"] == 5  # period 0: the whole cohorts, 1 + 3 + 1
    md = run([*base[:-1], "md", "--by-account"], folder / "home", **variables).stdout
    assert "accounts counted" in md
    csv = run([*base[:-1], "csv", "--by-account"], folder / "home", **variables).stdout
    assert csv.splitlines()[0] == "range,cohort,size,period,accounts,percent"


@pytest.mark.parametrize(
    ("command", "other"),
    [(["activity"], ["--segment", "no account"]), (["retention"], ["--by", "$browser"])],
)
def test_by_account_refuses_what_it_does_not_go_with(
    env: Any, command: list[str], other: list[str]
) -> None:
    folder, variables = env
    result = run([*command, "--by-account", *other, "--as-of", AS_OF], folder / "home", **variables)
    assert result.exit_code == EXIT_USAGE
    assert f"--by-account and {other[0]} do not go together" in result.stderr


def test_the_demo_accounts_are_its_posthog_groups(demo_home: Path) -> None:
    """The demo's organizations are PostHog groups of the type `organization`: each account's
    name and seats are its group's (the store's groups table read here directly), seats at least
    its members, and every event of a person carries one key in `$group_0`: their account's."""
    import duckdb

    from usertrack.demo.generator import ensure_demo

    result = run(["accounts", "-f", "json"], demo_home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["account_key"]["group_type"] == "organization"
    con = duckdb.connect(str(ensure_demo(demo_home).events_path), read_only=True)
    try:
        groups = {
            key: json.loads(props)
            for key, props in con.execute(
                "SELECT key, properties FROM groups WHERE index = 0"
            ).fetchall()
        }
        assert con.execute("SELECT * FROM group_type_mapping").fetchall() == [("organization", 0)]
        keys = con.execute(
            'SELECT person_id, count(DISTINCT "$group_0"), any_value("$group_0") FROM events'
            " WHERE person_email_norm <> '' GROUP BY person_id"
        ).fetchall()
    finally:
        con.close()
    assert doc["accounts"] and all(
        a["name"] == groups[a["account"]]["name"] for a in doc["accounts"]
    )
    assert all(a["seats"] == groups[a["account"]]["seats"] >= a["members"] for a in doc["accounts"])
    # one key per person: their account's, '' for the visitors of no account (PostHog-only)
    assert all(n == 1 and (key == "" or key in groups) for _, n, key in keys)
    assert {key for _, _, key in keys} - {""}


@pytest.mark.parametrize("command", [["accounts"], ["funnel", "--by-account"]])
def test_an_unknown_group_type_names_those_the_project_has(
    demo_home: Path, command: list[str]
) -> None:
    result = run([*command, "-f", "json"], demo_home, USERTRACK_ACCOUNT_GROUP_TYPE="company")
    assert result.exit_code == EXIT_USAGE
    assert result.stdout == ""
    # the demo's own notice aside, one line
    lines = [line for line in result.stderr.splitlines() if "no data source" not in line]
    assert len(lines) == 1
    assert "'company'" in lines[0] and "group types: organization" in lines[0]


# Account segments in a rules file, over the accounts above (no PostHog groups: seats is NULL):
# acme is at risk -> `risky`; beta healthy with 2 members, `full` needs seats (NULL: no match)
# -> none; gamma dormant -> `asleep` (its plan NULL: `risky`'s rule is false first).
ACCOUNT_RULES = """
segments:
  - {id: everyone, name: Everyone, action: Nothing, rule: 'true'}
account_segments:
  - {id: risky, name: Risky, action: Call, rule: "health = 'at risk' OR plan IS NULL AND runs > 0"}
  - {id: full, name: Full, action: Upsell, rule: active_members >= seats}
  - {id: asleep, name: Asleep, action: Wake, rule: "health = 'dormant'"}
"""


def test_account_segments_from_the_rules_file(env: Any, tmp_path: Path) -> None:
    rules = tmp_path / "segments.yaml"
    rules.write_text(ACCOUNT_RULES)
    doc = accounts(env, "--segments", str(rules))
    assert {a["account"]: a["segment"] for a in doc["accounts"]} == {
        "acme": "risky",
        "beta": None,
        "gamma": "asleep",
    }
    assert [(s["id"], s["action"], s["accounts"]) for s in doc["account_segments"]] == [
        ("risky", "Call", 1),
        ("full", "Upsell", 0),
        ("asleep", "Wake", 1),
    ]
    md = accounts(env, "--segments", str(rules), fmt="md")
    assert "Risky \\(Call\\): 1; Full \\(Upsell\\): 0; Asleep \\(Wake\\): 1; in none: 1." in md
    assert accounts(env, "--segments", str(rules), fmt="csv").splitlines()[0].endswith(",segment")


def test_an_account_segment_with_an_unknown_column_names_those_there_are(
    env: Any, tmp_path: Path
) -> None:
    folder, base = env
    rules = tmp_path / "segments.yaml"
    rules.write_text(ACCOUNT_RULES.replace("active_members >= seats", "active_members >= seat"))
    result = run(
        ["accounts", "--as-of", AS_OF, "--segments", str(rules), "-f", "json"],
        folder / "home",
        **base,
    )
    assert result.exit_code == EXIT_USAGE
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert f"{rules}:6: account segment 'full'" in lines[0]
    assert "unknown column 'seat'" in lines[0] and "seats" in lines[0]


def test_records_json_is_the_indented_dump_of_the_same_records() -> None:
    """The accounts' JSON writer (one template per record) writes what json.dumps(indent=2)
    writes for the same document: escapes, UTF-8, NULLs, NaN and infinities, mixed numbers,
    timestamps, a '%' in a key, no row."""
    from usertrack.rendering.export import json_text, json_text_with_records

    columns = ["account", "100%", "n", "x", "when", "ok"]
    rows = [
        ('a"\\\n\t\u00e9\u2028<>', None, 1, 1.5, datetime(2026, 6, 1, tzinfo=UTC), True),
        ("b", "%s", -(2**40), float("nan"), None, False),
        ("c", "", 0, 2, datetime(2026, 6, 2), None),
        ("d", "\x00\x1f", None, float("inf"), None, True),
    ]
    doc = {"as_of": datetime(2026, 6, 10, tzinfo=UTC), "summary": {"n": 4}}
    for shown in (rows, rows[:1], []):
        want = json_text({**doc, "accounts": [dict(zip(columns, r, strict=True)) for r in shown]})
        assert json_text_with_records(doc, "accounts", columns, shown) == want


def test_account_segments_type_the_columns_as_arrow_would(tmp_path: Path) -> None:
    """Rules over integers, numbers with a fraction, texts, booleans and a column of NULLs alone
    bind as they did through Arrow: a sum past 32 bits stays exact, a NULL column matches no
    rule, and a column of another type (a timestamp) still goes through Arrow."""
    from usertrack.segments.account_rules import account_segment_of
    from usertrack.segments.rules import load_segments

    rules = tmp_path / "segments.yaml"
    rules.write_text(
        "segments:\n  - {id: everyone, name: Everyone, action: Nothing, rule: 'true'}\n"
        "account_segments:\n"
        "  - {id: big, name: Big, action: Call, rule: credits + credits > 4000000000}\n"
        "  - {id: seats, name: Seats, action: Sell, rule: active_members >= seats}\n"
        "  - {id: rate, name: Rate, action: Look, rule: rate > 0.5 AND paying}\n"
    )
    spec = load_segments(rules)
    columns = ["account", "credits", "active_members", "seats", "rate", "paying"]
    rows = [
        ("a", 2_100_000_000, 3, None, 0.9, True),
        ("b", 1, 3, None, 1, True),
        ("c", 1, 3, None, 0.2, False),
    ]
    assert account_segment_of(spec, columns, rows) == ["big", "rate", None]
    rules.write_text(
        rules.read_text().replace("rule: 'true'}", "rule: 'true'}", 1)
        + "  - {id: new, name: New, action: Greet, rule: since > DATE '2026-05-01'}\n"
    )
    spec = load_segments(rules)
    when = [(*r, datetime(2026, 6, 1)) for r in rows]
    assert account_segment_of(spec, [*columns, "since"], when) == ["big", "rate", "new"]


def test_account_segments_bind_only_the_columns_their_rules_read(tmp_path: Path) -> None:
    """A column no rule reads is never bound (a value no engine takes, here a Python object,
    changes nothing); a rule naming a column that is not there (in another case, or unknown)
    is checked against every column, as before."""
    from usertrack.core.errors import SegmentsFileError
    from usertrack.segments.account_rules import account_segment_of, rules_connection
    from usertrack.segments.rules import load_segments

    rules = tmp_path / "segments.yaml"
    head = "segments:\n  - {id: everyone, name: Everyone, action: Nothing, rule: 'true'}\n"
    rules.write_text(
        head + "account_segments:\n"
        "  - {id: asleep, name: Asleep, action: Wake, rule: \"health = 'dormant'\"}\n"
        "  - {id: big, name: Big, action: Call, rule: members >= 10}\n"
    )
    spec = load_segments(rules)
    columns = ["account", "members", "note", "health"]
    rows = [("a", 12, object(), "dormant"), ("b", 12, object(), "healthy"), ("c", 2, None, "")]
    assert account_segment_of(spec, columns, rows) == ["asleep", "big", None]
    con = rules_connection(spec)  # opened ahead, closed by the evaluation
    assert account_segment_of(spec, columns, rows, con) == ["asleep", "big", None]
    rules.write_text(rules.read_text().replace("members >= 10", "Members >= 10"))
    plain = [(a, n, "", h) for a, n, _, h in rows]
    assert account_segment_of(load_segments(rules), columns, plain) == ["asleep", "big", None]
    rules.write_text(rules.read_text().replace("Members >= 10", "member >= 10"))
    with pytest.raises(SegmentsFileError, match=r"unknown column 'member'.*members"):
        account_segment_of(load_segments(rules), columns, plain)


def test_an_account_segment_reading_no_column_holds_for_every_account(tmp_path: Path) -> None:
    """A rule that names no column (`true`) is evaluated over every row, as a rule naming one:
    every account is in it, and none when there is no account."""
    from usertrack.segments.account_rules import account_segment_of
    from usertrack.segments.rules import load_segments

    rules = tmp_path / "segments.yaml"
    rules.write_text(
        "segments:\n  - {id: everyone, name: Everyone, action: Nothing, rule: 'true'}\n"
        "account_segments:\n  - {id: all, name: All, action: Look, rule: 'true'}\n"
    )
    spec = load_segments(rules)
    columns = ["account", "members"]
    assert account_segment_of(spec, columns, [("a", 1), ("b", 2)]) == ["all", "all"]
    assert account_segment_of(spec, columns, []) == []


def test_the_shipped_account_segments_hold_over_no_account() -> None:
    """No account (an --as-of before the first, an app without any): the shipped rules, which
    compare numbers and texts, are checked over columns of no type and match nothing; a rule
    naming a column that is not there is still refused."""
    from usertrack.core.errors import SegmentsFileError
    from usertrack.core.shipped import shipped_path
    from usertrack.segments.account_rules import account_segment_of
    from usertrack.segments.rules import load_segments

    spec = load_segments(shipped_path("segments.yaml"))
    assert spec.account_segments
    columns = ["account", "name", "members", "active_members", "plan", "seats", "runs",
               "failed_runs", "failure_rate", "credits", "health"]  # fmt: skip
    assert account_segment_of(spec, columns, []) == []
    with pytest.raises(SegmentsFileError, match="unknown column 'seats'"):
        account_segment_of(spec, [c if c != "seats" else "seat" for c in columns], [])


def test_the_members_table_reads_every_member_as_written() -> None:
    """--by-account's members come as two JSON arrays (email, account at the same place): the
    table holds each pair as written (quotes, backslashes, tabs, newlines, non-ASCII, a
    comma), in order; no member (json_agg's NULL) is an empty table."""
    import duckdb

    from usertrack.analytics.by_account import accounts_table
    from usertrack.engines.base import Result

    pairs = [
        ('a"b@x.io', "1"),
        ("c\\d@x.io", "tab\there"),
        ("\u00e9l\u00e8ve@\u00e9cole.fr", "line\nbreak"),
        ("e,f@x.io", "[1, 2]"),
        ("g@x.io", "1"),
    ]
    con = duckdb.connect()
    emails = json.dumps([p[0] for p in pairs], ensure_ascii=False)
    accounts = json.dumps([p[1] for p in pairs], ensure_ascii=False)
    accounts_table(con, Result(columns=["emails", "accounts"], rows=[(emails, accounts)]))
    assert con.execute("SELECT email, account FROM _accounts_in ORDER BY rowid").fetchall() == pairs
    accounts_table(con, Result(columns=["emails", "accounts"], rows=[(None, None)]))
    assert con.execute("SELECT count(*) FROM _accounts_in").fetchall() == [(0,)]


def test_query_of_a_file_naming_the_account_key_runs_with_the_configured_key(env: Any) -> None:
    """`usertrack query neon/account_members`: the file's `{account_table}` and columns are the
    configured key, checked and quoted in as `accounts` does, in every format; an unknown key
    is one line naming what exists."""
    folder, base = env
    args = ["query", "neon/account_members", "--as-of", AS_OF]
    result = run([*args, "-f", "json"], folder / "home", **base)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["columns"] == ["email", "account"]
    members = dict(doc["rows"])
    assert members == {
        "ann@x.io": "acme", "bob@x.io": "acme", "cy@x.io": "acme",
        "dee@x.io": "beta", "eve@x.io": "beta", "fay@x.io": "gamma",
    }  # fmt: skip
    table = run(args, folder / "home", **base)
    assert table.exit_code == 0 and "fay@x.io" in table.stdout, table.stderr
    bad = run([*args, "-f", "csv"], folder / "home", **{**base, "USERTRACK_ACCOUNT_COLUMN": "teem"})
    assert bad.exit_code == EXIT_USAGE and bad.stdout == ""
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "teem" in lines[0] and "columns: member_id, team" in lines[0]


def test_the_shipped_expansion_segment_keeps_only_accounts_on_an_active_plan(
    demo_home: Path,
) -> None:
    """The shipped rules on the demo: a team using every seat on a canceled (or lapsed, unpaid,
    trial or no) plan is no upsell; the demo has such teams, and none is Expansion-ready."""
    from tests.conftest import REPO

    rules = REPO / "segments.yaml"
    result = run(["accounts", "--segments", str(rules), "-f", "json"], demo_home)
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["accounts"]
    full = [
        a
        for a in rows
        if a["health"] == "healthy" and a["members"] >= 3 and a["active_members"] >= a["seats"]
    ]
    assert {a["plan"] for a in full} - {"active"}, "the demo has no such team to leave out"
    # a healthy account is neither dormant nor failing: the segments before it never hold
    expansion = {a["account"] for a in rows if a["segment"] == "expansion"}
    assert expansion == {a["account"] for a in full if a["plan"] == "active"} != set()


PERSON_RULES = """\
segments:
  - id: low
    name: Low credits
    action: Top up
    rule: credits < 60
  - id: mid
    name: Mid credits
    action: Nudge
    rule: credits < 90
"""


def test_segment_keeps_the_accounts_with_a_member_in_it(env: Any, tmp_path: Path) -> None:
    """low: ann (10) and cy (50), both of acme; mid: dee (80), of beta; no segment: bob, eve,
    fay, gus (100 each): acme, beta and gamma (gus has no account). An account's figures are
    all its members', whichever of them are in the segment."""
    rules = tmp_path / "segments.yaml"
    rules.write_text(PERSON_RULES)
    whole = {a["account"]: a for a in accounts(env, "--segments", str(rules))["accounts"]}
    kept = {"low": ["acme"], "mid": ["beta"], "no segment": ["acme", "beta", "gamma"]}
    for segment, names in kept.items():
        doc = accounts(env, "--segments", str(rules), "--segment", segment)
        assert doc["segment"] == segment
        assert [a["account"] for a in doc["accounts"]] == names
        assert doc["accounts"] == [whole[name] for name in names]
        assert doc["summary"]["accounts"] == len(names)
        assert doc["summary"]["members"] == sum(whole[n]["members"] for n in names)
    folder, base = env
    args = ["accounts", "--as-of", AS_OF, "--segments", str(rules), "--segment", "low"]
    said = run(args, folder / "home", **base)
    assert said.exit_code == 0, said.stderr
    assert (
        "--segment low kept 1 of 3 accounts, those with a member among its 2 users" in said.stderr
    )
    for fmt in ("csv", "md"):
        out = run([*args, "-f", fmt], folder / "home", **base)
        assert out.exit_code == 0 and "gamma" not in out.stdout and "acme" in out.stdout, out.stderr
    chart = run([*args, "-f", "html"], folder / "home", **base)
    assert chart.exit_code == 0 and chart.stdout.startswith("<!doctype html"), chart.stderr
    table = " ".join(run(args, folder / "home", **base).stdout.split())
    assert "last 30 days, with a member in the segment low" in table
    bad = run([*args[:-1], "lwo"], folder / "home", **base)
    assert bad.exit_code == EXIT_USAGE and "did you mean 'low'" in bad.stderr
    assert len([x for x in bad.stderr.splitlines() if x.startswith("usertrack: error:")]) == 1
