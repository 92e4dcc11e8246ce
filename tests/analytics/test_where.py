"""`--where EXPR` on every analysis: the events it keeps, on the local engine and over the live
HTTP path alike, shown in the header and the JSON, and refused when it could reach outside the
query (the refusals themselves: tests/analytics/test_trends.py, which shares the check).

The events: tests/analytics/test_trends.py's hand-made export (p1 to p5, pageviews with a
`$browser`, one signup). As of 2026-06-04 12:00 with --days 7.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.analytics.test_trends import AS_OF, RECORDS
from tests.analytics_helpers import assert_usage_error, live_posthog, run_json, write_export
from tests.cli_runner import run

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
    assert_usage_error(argv, "is not one HogQL expression", USERTRACK_EVENTS=str(export))


# Texts that read as one thing to a second tokenizer and as another to PostHog's parser: a
# `//` or `--` comment, `/* */`, a backquoted name, escapes in strings and names.
BREAKOUTS = [
    "1 // '\n) ) UNION ALL SELECT email, 1, 1 FROM persons // '",
    "1 -- '\n) UNION ALL SELECT email FROM persons",
    "1 /* ) UNION ALL SELECT email FROM persons */ = 1",
    "event = 'a\\' ) UNION ALL SELECT email FROM persons -- '",
    "event = 'a'' ) UNION ALL SELECT email FROM persons -- '",
    "properties.`a` ) UNION ALL SELECT email FROM persons -- ` = 1",
    "`elements_chain` = 'x'",
    "properties.`x\\` = 1) OR (1` = 1",
    "event = 'x\\x27) OR (1'",
]


@pytest.mark.parametrize("text", BREAKOUTS)
def test_what_is_sent_is_printed_from_the_checked_tree(text: str) -> None:
    """Each text is refused or becomes one expression: the query it is put in, parsed by
    PostHog's own parser, is still one SELECT over events (no UNION, no subquery, no other
    table), and its WHERE names no field the filter may not read."""
    from tests.hogql_printer import parse_select
    from usertrack.analytics.where import check_where, spliced
    from usertrack.core.errors import UsageError

    try:
        sent = check_where(text)
    except UsageError as e:
        assert str(e).startswith("--where ") and "\n" not in str(e)
        return
    query = spliced("SELECT count() FROM events WHERE {filters}", [sent])
    tree = parse_select(query)
    assert tree["node"] == "SelectQuery"
    assert tree["select_from"]["table"]["chain"] == ["events"]
    nodes, fields = _walk(tree["where"])
    assert not nodes & {"SelectQuery", "SelectSetQuery", "JoinExpr", "Placeholder"}, nodes
    assert all(f[0] in ("event", "timestamp", "properties", "person") for f in fields), fields


def _walk(node: Any) -> tuple[set[str], list[list[str]]]:
    """The node kinds of a parsed tree and the chains of its fields."""
    kinds: set[str] = set()
    fields: list[list[str]] = []
    if isinstance(node, list):
        for item in node:
            k, f = _walk(item)
            kinds |= k
            fields += f
    elif isinstance(node, dict):
        if "node" in node:
            kinds.add(node["node"])
            if node["node"] == "Field":
                fields.append(node["chain"])
        for value in node.values():
            k, f = _walk(value)
            kinds |= k
            fields += f
    return kinds, fields


@pytest.mark.parametrize(
    ("where", "fragment"),
    [
        ("é = 1", "Unexpected character U+00E9"),
        ("² = 1", "Unexpected character U+00B2"),
        ("(" * 990 + "1" + ")" * 990, "nests brackets 990 deep"),
        ("not " * 100 + "1", "NOTs"),
        ("length(range(1000000000)) > 0", "calls 'range'"),
        ("length(repeat('a', 1000000000)) > 0", "calls 'repeat'"),
        ("`elements_chain` = 'x'", "names 'elements_chain'"),
        ("1" + "+1" * 990, "nests"),
        ("-" * 1990 + "1 = 1", "is not one HogQL expression"),
        ("length(arrayResize([1], 1000000)) > 0", "calls 'arrayResize'"),
        ("count() > 1", "calls 'count', which reads many rows"),
        ("countIf(event = 'x') > 0", "calls 'countIf', which reads many rows"),
        ("sumArray([1]) > 0", "calls 'sumArray', which reads many rows"),
        ("row_number() > 1", "calls 'row_number', which reads many rows"),
    ],
)
def test_a_bad_where_is_one_line_and_exit_2(export: Path, where: str, fragment: str) -> None:
    argv = ["activity", "--days", "7", "--where", where, "--as-of", AS_OF]
    assert_usage_error(argv, fragment, USERTRACK_EVENTS=str(export))


def test_the_review_s_breakout_is_refused_live(export: Path, tmp_path: Path) -> None:
    """The text that made `paths` return the persons table through PostHog: refused before
    anything is sent, and what PostHog was sent never held it."""
    attack = "1 // '\n) ) UNION ALL SELECT email, 1, 1 FROM persons // '"
    with live_posthog(export, tmp_path) as (fake, env):
        result = run(["paths", *ARGS["paths"], "--where", attack, "--as-of", AS_OF], **env)
        sent = fake.query_texts()
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "@" not in result.stdout
    assert not [t for t in sent if "UNION ALL SELECT email" in t]


def test_the_parser_loads_without_the_posthog_sdk() -> None:
    """PostHog's parser imports `posthog.hogql.errors`; a --where is parsed (and a bad one
    refused) without that import loading the posthog SDK, which stays importable."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from usertrack.engines.hogql.parser import ParseError, parse_expr\n"
        "assert parse_expr(\"properties.$browser = 'Chrome'\")['node'] == 'CompareOperation'\n"
        "try:\n    parse_expr('a = = b')\nexcept ParseError as e:\n    print('refused:', e)\n"
        "print(sorted(m for m in ('posthog', 'posthog.client', 'httpx') if m in sys.modules))\n"
        "import posthog\nprint(hasattr(posthog, 'capture'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    refused, loaded, sdk = out.stdout.splitlines()
    assert refused.startswith("refused: extraneous input '='")
    assert loaded == "[]"
    assert sdk == "True"


def test_the_sdk_is_not_handed_the_parser_s_stand_in() -> None:
    """While the parser's first load has its stand-in `posthog` in sys.modules, another
    thread's import of the SDK (sync's) waits, then gets the real SDK."""
    import subprocess
    import sys

    code = (
        "import sys, threading, time, types\n"
        "from usertrack.engines.hogql import parser\n"
        "got = []\n"
        "with parser._STAND_IN:\n"
        "    sys.modules['posthog'] = types.ModuleType('posthog')\n"
        "    t = threading.Thread(target=lambda: got.append(parser.sdk_module('posthog')))\n"
        "    t.start(); time.sleep(0.3)\n"
        "    print(t.is_alive())\n"
        "    del sys.modules['posthog']\n"
        "t.join(30)\n"
        "print(hasattr(got[0], 'Posthog'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
