"""`--where EXPR` on every analysis: the events it keeps, on the local engine and over the live
HTTP path alike, shown in the header and the JSON, and refused when it could reach outside the
query (the refusals themselves: tests/test_trends.py, which shares the check).

The events: tests/test_trends.py's hand-made export (p1 to p5, pageviews with a `$browser`, one
signup). As of 2026-06-04 12:00 with --days 7.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import assert_usage_error, live_posthog, run_json, write_export
from tests.cli_runner import run
from tests.test_trends import AS_OF, RECORDS

NOTHING = "event = 'no such event'"
CHROME = "properties.$browser = 'Chrome'"
COMMANDS = ["funnel", "retention", "activity", "sessions", "paths", "features"]
ARGS: dict[str, list[str]] = {
    "funnel": ["$pageview", "signup", "--days", "7"],
    "retention": ["--start", "$pageview", "--period", "day", "--periods", "4"],
    "activity": ["--days", "7"],
    "sessions": ["--days", "7"],
    "paths": ["--days", "7"],
    "features": ["--days", "7", "--event"],
}


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


def counted(command: str, doc: dict[str, Any]) -> int:
    """How many the answer counts, in the command's own terms."""
    if command == "funnel":
        return int(doc["steps"][0]["persons"])
    if command == "retention":
        return sum(int(c["size"]) for c in doc["cohorts"])
    if command == "activity":
        return sum(int(d["dau"]) for d in doc["daily"])
    if command == "sessions":
        return int(doc["sessions"])
    if command == "paths":
        return int(doc["total_sequences"])
    return sum(int(f["uses"]) for f in doc["features"])


@pytest.mark.parametrize("command", COMMANDS)
def test_where_keeps_only_the_events_it_holds_for(command: str, export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    everything = run_json(command, ARGS[command], as_of=AS_OF, **env)
    nothing = run_json(command, [*ARGS[command], "--where", NOTHING], as_of=AS_OF, **env)
    chrome = run_json(command, [*ARGS[command], "--where", CHROME], as_of=AS_OF, **env)
    assert counted(command, everything) > counted(command, chrome) > 0
    assert counted(command, nothing) == 0
    assert "where" not in everything and nothing["where"] == [NOTHING]
    md = run([command, *ARGS[command], "--where", CHROME, "--as-of", AS_OF, "-f", "md"], **env)
    assert md.exit_code == 0 and "Where: properties.$browser = 'Chrome'" in md.stdout
    table = run([command, *ARGS[command], "--where", CHROME, "--as-of", AS_OF], **env)
    assert table.exit_code == 0 and table.stdout.startswith("Where: properties.$browser")


def test_where_the_same_over_the_live_http_path(export: Path, tmp_path: Path) -> None:
    local = {
        c: run_json(c, [*ARGS[c], "--where", CHROME], as_of=AS_OF, USERTRACK_EVENTS=str(export))
        for c in COMMANDS
    }
    with live_posthog(export, tmp_path) as (fake, env):
        live = {c: run_json(c, [*ARGS[c], "--where", CHROME], as_of=AS_OF, **env) for c in COMMANDS}
        plain = {c: run_json(c, ARGS[c], as_of=AS_OF, **env) for c in COMMANDS}
        sent = fake.query_texts()
    assert live == local
    assert all(plain[c] != live[c] for c in ("activity", "funnel"))
    # PostHog's HogQLQuery evaluates every placeholder against the query's values: `{filters}`
    # is never sent, usertrack fills it (true, or the --where expressions).
    assert sent and not [t for t in sent if "{filters}" in t]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_where_that_breaks_out_is_refused_by_every_analysis(command: str, export: Path) -> None:
    argv = [command, *ARGS[command], "--where", "1) OR (1", "--as-of", AS_OF]
    assert_usage_error(argv, "closes a bracket it did not open", USERTRACK_EVENTS=str(export))
