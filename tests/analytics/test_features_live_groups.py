"""`features --segment` and `--by-segment` live with a group of more persons than a query can
list: ClickHouse parses a query of at most max_query_size bytes (the tests' PostHog sets the
default, 262,144, as tests/clickhouse_engine.py says), and 7,000 person ids (UUIDs, as
PostHog's) printed into it are more. Each group's figures come from everyone's per-person
rows, fetched once (queries/posthog/feature_person_facts.sql), and equal the local engine's.

The app has 7,000 accounts with credits 10 (`spender`) and one with 80 (`trial`); as of
2026-06-04 12:00 with `--days 3` the current period is (06-01 12:00, 06-04 12:00] and the
previous one (05-29 12:00, 06-01 12:00]. Every spender has a pageview in the current period;
every third used `export` in the previous period, every second in the current one (every
fourth with a duration); every fifth used `editor` now; anonymous persons used `export` and
`search`, and a feature_used without a feature.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import live_posthog, record, run_json, write_export
from tests.engine_compare import strip_live_only
from tests.segmented import AS_OF, SEGMENTS

SPENDERS = 7_000
ACCOUNTS = f"""
INSERT INTO wasp_user
SELECT i, 'u' || i || '@x.io', 10, 'active', NULL, '2026-05-01'
FROM generate_series(1, {SPENDERS}) AS i;
INSERT INTO wasp_user VALUES ({SPENDERS + 1}, 'b@x.io', 80, 'trialing', NULL, '2026-05-02');
"""
NOW = datetime(2026, 6, 2, 9, tzinfo=UTC)  # in the current period
BEFORE = datetime(2026, 5, 30, 9, tzinfo=UTC)  # in the previous one
LONG_AGO = datetime(2026, 4, 1, 9, tzinfo=UTC)  # before both: --all-users' last use


def _uuid(n: int) -> str:
    """A person id as PostHog's are: a UUID, printed into a query as 39 bytes."""
    return f"0190f2a3-0000-7000-8000-{n:012d}"


def _records() -> list[dict[str, Any]]:
    events: list[tuple[str, datetime, str, str, dict[str, Any]]] = []
    for i in range(1, SPENDERS + 1):
        pid, email, when = _uuid(i), f"u{i}@x.io", NOW + timedelta(seconds=i)
        events.append(("$pageview", when, pid, email, {"$pathname": "/home"}))
        if i % 3 == 0:
            events.append(("feature_used", BEFORE + timedelta(seconds=i), pid, email,
                           {"feature": "export"}))  # fmt: skip
        if i % 2 == 0:
            props: dict[str, Any] = {"feature": "export"}
            if i % 4 == 0:
                props["duration"] = i % 7 + 0.5
            events.append(("feature_used", when, pid, email, props))
        if i % 5 == 0:
            events.append(("feature_used", when, pid, email, {"feature": "editor"}))
    events += [
        ("feature_used", NOW, "pb", "b@x.io", {"feature": "export", "duration": 3}),
        ("feature_used", BEFORE, "pb", "b@x.io", {"feature": "editor"}),
        ("feature_used", LONG_AGO, "pb", "b@x.io", {"feature": "onboarding"}),
        ("feature_used", NOW, "px", "", {"feature": "export"}),
        ("feature_used", NOW, "py", "", {}),
        ("search_performed", BEFORE, "py", "", {}),
        ("$pageview", NOW, "pz", "z@datagen.dev", {}),
    ]
    return [record(n, e, when, pid, pid, email, props)
            for n, (e, when, pid, email, props) in enumerate(events, 1)]  # fmt: skip


@pytest.fixture()
def env(tmp_path: Path, make_database: Callable[[str], str]) -> dict[str, str]:
    from tests.handmade import SCHEMA

    rules = tmp_path / "segments.yaml"
    rules.write_text(SEGMENTS)
    export = write_export(tmp_path / "events.jsonl", _records())
    return {"USERTRACK_EVENTS": str(export), "DATABASE_URL": make_database(SCHEMA + ACCOUNTS),
            "USERTRACK_SEGMENTS": str(rules)}  # fmt: skip


ASKS = [
    ["--days", "3", "--segment", "spender", "--compare"],
    ["--days", "3", "--segment", "spender", "--all-users"],
    ["--days", "3", "--segment", "spender", "--event"],
    ["--days", "3", "--by-segment", "--compare", "--all-users"],
    ["--days", "3", "--segment", "no account", "--all-users"],
    ["--days", "3", "--segment", "trial", "--all-users"],
]


def test_a_group_too_long_for_a_query_answers_live_as_locally(
    env: dict[str, str], tmp_path: Path
) -> None:
    local = [run_json("features", args, as_of=AS_OF, **env) for args in ASKS]
    spenders = local[0]
    figures = {f["feature"]: f for f in spenders["features"]}
    assert spenders["active_persons"] == SPENDERS
    assert figures["export"]["persons"] == SPENDERS // 2
    assert figures["export"]["previous_persons"] == SPENDERS // 3
    assert figures["export"]["retention"] == 50.0  # every sixth of every third
    assert figures["editor"]["uses"] == SPENDERS // 5
    live: list[dict[str, Any]] = []
    counts: list[int] = []
    with live_posthog(Path(env["USERTRACK_EVENTS"]), tmp_path) as (fake, live_env):
        live_env = {**live_env, "DATABASE_URL": env["DATABASE_URL"],
                    "USERTRACK_SEGMENTS": env["USERTRACK_SEGMENTS"]}  # fmt: skip
        for args in ASKS:
            fake.requests.clear()
            live.append(run_json("features", args, as_of=AS_OF, **live_env))
            posts = [r["body"] for r in fake.requests if r["method"] == "POST" and r["body"]]
            names = [b["name"] for b in posts]
            counts.append(sum(n.startswith("usertrack posthog/feature") for n in names))
            if "spender" in args or "--by-segment" in args:
                assert "usertrack posthog/feature_person_facts" in names, names
                listed = [b for b in posts if "usertrack_segment_persons" in json.dumps(b)]
                assert not listed, [b["name"] for b in listed]
    assert strip_live_only(live) == strip_live_only(local)
    # one query of everyone's rows for the groups, whatever their number: --by-segment sends
    # the whole answer's three feature queries (--all-users: the last uses) and it; a long
    # --segment it alone
    assert counts[3] == 4 and counts[:3] == [1, 1, 1], counts
    # a short group sends its list in the aggregated queries, as before
    assert counts[5] == 3, counts
