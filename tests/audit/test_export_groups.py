"""PostHog groups read from an events export, worked out by hand (as of 2026-06-10, 7 days).

The export (its lines out of time order on purpose):

- 06-01 08:00 ann `$pageview` with `$groups` {project: p1}: `project` is the first group type
  named, index 0.
- 06-01 09:00 ann `$groupidentify` organization acme, `$group_set` {name: Acme, plan: free,
  seats: 3}: `organization` is index 1; acme created then.
- 06-02 10:00 ann `$groupidentify` project p1, `$group_set` {name: P1}.
- 06-05 09:00 ann `$groupidentify` organization acme, `$group_set` {name: Acme Inc, seats: 10}:
  the later set wins for name and seats, plan stays free; acme updated then.
- 06-08 12:00 dee `a` with `$groups` {organization: beta}: beta is never identified, so it has
  no group row (no properties), as in PostHog.

The app's accounts (team_member.team): ann in acme, dee in beta. `usertrack accounts`: acme
named "Acme Inc" with 10 seats, beta with neither; the same JSON from the tests' PostHog.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.analytics_helpers import live_posthog, record, write_export
from tests.cli_runner import run
from tests.handmade import SCHEMA
from usertrack.core.errors import EXIT_USAGE

AS_OF = "2026-06-10"

ROWS = """
CREATE TABLE team_member (member_id int, team text);
INSERT INTO wasp_user VALUES (1, 'ann@x.io', 10, 'active', '2026-06-09', '2026-05-01');
INSERT INTO wasp_user VALUES (4, 'dee@x.io', 80, 'canceled', '2026-06-09', '2026-05-01');
INSERT INTO team_member VALUES (1, 'acme'), (4, 'beta')
"""


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 6, day, hour, tzinfo=UTC)


def identify(n: int, when: datetime, group_type: str, key: str, values: dict[str, Any]) -> Any:
    props = {"$group_type": group_type, "$group_key": key, "$group_set": values}
    return record(n, "$groupidentify", when, "ann@x.io", "ann@x.io", "ann@x.io", props)


@pytest.fixture(scope="module")
def env(make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    uri = make_database(SCHEMA)
    with psycopg.connect(uri, autocommit=True) as conn:
        for statement in ROWS.split(";\n"):
            conn.execute(statement.encode())
    folder = tmp_path_factory.mktemp("export-groups")
    ann = ("ann@x.io", "ann@x.io", "ann@x.io")
    dee = ("dee@x.io", "dee@x.io", "dee@x.io")
    records = [
        identify(4, at(5, 9), "organization", "acme", {"name": "Acme Inc", "seats": 10}),
        record(1, "$pageview", at(1, 8), *ann, {"$groups": {"project": "p1"}}),
        record(5, "a", at(8, 12), *dee, {"$groups": {"organization": "beta"}}),
        identify(2, at(1, 9), "organization", "acme", {"name": "Acme", "plan": "free", "seats": 3}),
        identify(3, at(2, 10), "project", "p1", {"name": "P1"}),
    ]
    export = write_export(folder / "events.jsonl", records)
    return folder, {
        "USERTRACK_EVENTS": str(export),
        "DATABASE_URL": uri,
        "USERTRACK_ACCOUNT_TABLE": "team_member",
        "USERTRACK_ACCOUNT_COLUMN": "team",
        "USERTRACK_ACCOUNT_USER_COLUMN": "member_id",
    }


def test_the_store_has_the_exports_group_types_and_latest_group_properties(
    env: Any, tmp_path: Path
) -> None:
    import duckdb

    from usertrack.engines.local.eventstore import import_events

    store = tmp_path / "store.duckdb"
    import_events(Path(env[1]["USERTRACK_EVENTS"]), store)
    con = duckdb.connect(str(store), read_only=True)
    try:
        types = con.execute("SELECT * FROM group_type_mapping ORDER BY 2").fetchall()
        groups = con.execute(
            "SELECT index, key, created_at, updated_at, properties FROM groups ORDER BY 1, 2"
        ).fetchall()
    finally:
        con.close()
    assert types == [("project", 0), ("organization", 1)]
    naive = [(i, k, c.replace(tzinfo=UTC), u.replace(tzinfo=UTC), p) for i, k, c, u, p in groups]
    assert [(i, k, c, u, json.loads(p)) for i, k, c, u, p in naive] == [
        (0, "p1", at(2, 10), at(2, 10), {"name": "P1"}),
        (1, "acme", at(1, 9), at(5, 9), {"name": "Acme Inc", "plan": "free", "seats": 10}),
    ]


def accounts_json(folder: Path, variables: dict[str, str]) -> Any:
    result = run(["accounts", "--as-of", AS_OF, "--days", "7", "-f", "json"], folder, **variables)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_accounts_take_name_and_seats_from_the_exports_groups_on_both_engines(
    env: Any, tmp_path: Path
) -> None:
    folder, variables = env
    local = accounts_json(folder / "home", variables)
    named = {a["account"]: (a["name"], a["seats"]) for a in local["accounts"]}
    assert named == {"acme": ("Acme Inc", 10), "beta": (None, None)}
    assert local["account_key"]["group_type"] == "organization"
    with live_posthog(Path(variables["USERTRACK_EVENTS"]), tmp_path) as (_, live):
        remote = accounts_json(tmp_path / "home", {**variables, **live})
    assert remote["accounts"] == local["accounts"]
    assert remote["summary"] == local["summary"]


def test_an_unknown_group_type_names_the_exports_group_types(env: Any) -> None:
    folder, variables = env
    result = run(
        ["accounts", "--as-of", AS_OF, "-f", "json"],
        folder / "home",
        **variables,
        USERTRACK_ACCOUNT_GROUP_TYPE="company",
    )
    assert result.exit_code == EXIT_USAGE
    assert result.stdout == ""
    lines = [x for x in result.stderr.splitlines() if x.startswith("usertrack: error:")]
    assert len(lines) == 1, result.stderr
    assert "'company'" in lines[0] and "group types: organization, project" in lines[0]
