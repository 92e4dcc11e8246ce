"""failures.yaml and `usertrack failures`: hand-made errors, bad files, the demo's incident."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from usertrack.checks.sandbox import connect
from usertrack.core.config import resolve_failures_file
from usertrack.core.errors import EXIT_USAGE
from usertrack.demo.generator import INCIDENT_DAYS_BEFORE_ANCHOR
from usertrack.reports.failures import (
    FailureRules,
    RulesFileError,
    categorize_rows,
    cause_summary,
    failing_tools,
    load_failure_rules,
    standout_days,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "failures.yaml"
WORKFLOW_CATEGORIES = {
    "Infrastructure": "Platform",
    "Platform bug": "Platform",
    "Missing feature": "Platform",
    "User code": "User",
    "Third-party": "Mixed",
}


@pytest.fixture(scope="module")
def rules() -> FailureRules:
    return load_failure_rules(SHIPPED)


def tool(error_type: str | None, message: str | None, **extra: Any) -> dict[str, Any]:
    return {"level": "tool", "error_type": error_type, "error_message": message, **extra}


def workflow(log: str | None, **extra: Any) -> dict[str, Any]:
    first = log.splitlines()[0] if log else None
    return {"level": "workflow", "error_message": first, "run_error_log": log, **extra}


def one(rules: FailureRules, row: dict[str, Any]) -> tuple[str, str, str]:
    (out,) = categorize_rows(rules, [row])
    return out["cause"], out["category"], out["owner"]


# --------------------------------------------------------------------------------------------
# Rules on hand-made errors


def test_shipped_file_has_the_analyst_workflows_categories_and_owners(rules: FailureRules) -> None:
    for category, owner in WORKFLOW_CATEGORIES.items():
        assert rules.categories[category] == owner
    assert {r.category for r in rules.rules} >= set(WORKFLOW_CATEGORIES)
    assert all(":" in r.name for r in rules.rules)  # "Category: something specific"


@pytest.mark.parametrize(
    ("row", "cause", "category", "owner"),
    [
        (
            tool("SandboxOOM", "Modal sandbox exited rc=137 (OOM)"),
            "Infrastructure: out of memory (rc=137)", "Infrastructure", "Platform",
        ),
        (
            workflow("Workflow run 7 failed at step 2 of 3: API timeout after 60s\n"
                     "Traceback (most recent call last):\n  httpx.ReadTimeout: timed out"),
            "Infrastructure: API timeout", "Infrastructure", "Platform",
        ),
        (
            tool("SandboxRateLimit", "Sandbox rate limit exceeded: too many concurrent sandboxes"),
            "Infrastructure: sandbox rate limit", "Infrastructure", "Platform",
        ),
        (
            tool("ConfigurationError", "Missing environment variable MODAL_TOKEN in sandbox"),
            "Platform bug: missing env var in sandbox", "Platform bug", "Platform",
        ),
        (
            tool("RateLimitError", "LinkedIn API rate limited (429 Too Many Requests);"
                 " request not retried"),
            "Missing feature: rate limit without retry", "Missing feature", "Platform",
        ),
        (
            tool("ValidationError", "Invalid parameters: 'max_results' must be an integer"),
            "User code: invalid parameters", "User code", "User",
        ),
        (
            tool("KeyError", "KeyError: 'email'", tool_type="custom"),
            "User code: KeyError in custom code", "User code", "User",
        ),
        (
            tool("ExternalAPIError", "HubSpot API returned 502 Bad Gateway"),
            "Third-party: HubSpot API error", "Third-party", "Mixed",
        ),
        (
            tool("AuthenticationError", "LinkedIn API returned 401 Unauthorized: token expired"),
            "Third-party: LinkedIn authentication (401)", "Third-party", "Mixed",
        ),
        (  # case-insensitive patterns
            tool(None, "MODAL SANDBOX EXITED RC=137"),
            "Infrastructure: out of memory (rc=137)", "Infrastructure", "Platform",
        ),
    ],
)  # fmt: skip
def test_each_category(
    rules: FailureRules, row: dict[str, Any], cause: str, category: str, owner: str
) -> None:
    assert one(rules, row) == (cause, category, owner)


def test_credits_error_is_a_platform_bug_only_when_credits_are_left(rules: FailureRules) -> None:
    message = "Insufficient credits: required 5, available 0"
    has_credits = tool("InsufficientCreditsError", message, credits=42)
    no_credits = tool("InsufficientCreditsError", message, credits=0)
    unknown = tool("InsufficientCreditsError", message, credits=None)
    assert one(rules, has_credits) == (
        "Platform bug: false credit check", "Platform bug", "Platform",
    )  # fmt: skip
    assert one(rules, no_credits) == ("User: out of credits", "User account", "User")
    assert one(rules, unknown)[0] == "User: out of credits"
    as_run = workflow("Workflow run 9 failed at step 1 of 2: Insufficient credits", credits=7)
    assert one(rules, as_run)[0] == "Platform bug: false credit check"


def test_example_message_and_top_cause_are_the_commonest_ties_to_the_first() -> None:
    con = connect()
    con.execute(
        "CREATE TABLE categorized (level TEXT, cause TEXT, category TEXT, owner TEXT,"
        " email TEXT, occurred_at TIMESTAMP, tool_name TEXT, tool_provider TEXT,"
        " duration_ms DOUBLE, error_message TEXT)"
    )
    rows = [
        # cause A: "b" twice, "a" once, a NULL message three times -> "b"
        ("A", "t1", "b"), ("A", "t1", "b"), ("A", "t1", "a"),
        ("A", "t1", None), ("A", "t1", None), ("A", "t1", None),
        # cause B: "z", "y", "x", "w", "v" once each (a tie) -> "v"; tool t1: A 6 times, B 3
        ("B", "t1", "z"), ("B", "t1", "y"), ("B", "t1", "x"),
        # tool t2: causes C and B twice each (a tie) -> "B"
        ("C", "t2", "m"), ("C", "t2", "m"), ("B", "t2", "w"), ("B", "t2", "v"),
    ]  # fmt: skip
    for n, (cause, tool_name, message) in enumerate(rows):
        con.execute(
            "INSERT INTO categorized VALUES ('tool', ?, 'Cat', 'Owner', ?,"
            " TIMESTAMP '2026-11-01' + to_minutes(?), ?, 'p', 10, ?)",
            [cause, f"u{n % 3}@x.io", n, tool_name, message],
        )
    for _ in range(3):  # the same answer every time, whatever thread sees a value first
        examples = {r["cause"]: r["example"] for r in cause_summary(con, "tool")}
        assert examples == {"A": "b", "B": "v", "C": "m"}
        tops = {r["tool_name"]: r["top_cause"] for r in failing_tools(con)}
        assert tops == {"t1": "A", "t2": "B"}


def test_unmatched_failures_name_their_error_type(rules: FailureRules) -> None:
    rows = [
        tool("ValueError", "could not convert string to float: 'n/a'"),
        workflow(
            "Workflow run 3 failed\nTraceback (most recent call last):\n"
            '  File "x.py", line 1\nZeroDivisionError: division by zero'
        ),
        workflow("Workflow run 4 failed at step 2: the moon was in the wrong phase"),
        workflow(None),
    ]
    causes = [(r["cause"], r["category"], r["owner"]) for r in categorize_rows(rules, rows)]
    assert causes[0] == ("Uncategorized: ValueError", "Uncategorized", "Unknown")
    assert causes[1][0] == "Uncategorized: ZeroDivisionError"
    assert causes[2][0].startswith("Uncategorized: Workflow run 4 failed")
    assert causes[3][0] == "Uncategorized: no error recorded"
    assert not any("other" in c[0].lower() for c in causes)


def test_first_matching_rule_wins_and_owner_can_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "failures.yaml"
    path.write_text(
        "categories:\n  Infrastructure: Platform\n  Third-party: Mixed\n"
        "rules:\n"
        "  - name: 'Third-party: Modal'\n    category: Third-party\n    owner: Vendor\n"
        "    match: modal\n"
        "  - name: 'Infrastructure: OOM'\n    category: Infrastructure\n    match: rc=137\n"
        "  - name: 'Infrastructure: slow HubSpot'\n    category: Infrastructure\n"
        "    match: [timeout]\n    when: tool_provider = 'hubspot' AND duration_ms > 1000\n"
    )
    spec = load_failure_rules(path)
    assert one(spec, tool(None, "Modal sandbox exited rc=137")) == (
        "Third-party: Modal", "Third-party", "Vendor",
    )  # fmt: skip
    assert one(spec, tool(None, "exited rc=137"))[0] == "Infrastructure: OOM"
    slow = tool("TimeoutError", "timeout", tool_provider="hubspot", duration_ms=5000)
    fast = tool("TimeoutError", "timeout", tool_provider="hubspot", duration_ms=10)
    assert one(spec, slow)[0] == "Infrastructure: slow HubSpot"
    assert one(spec, fast)[0] == "Uncategorized: TimeoutError"


# --------------------------------------------------------------------------------------------
# Bad files


GOOD_RULE = "  - name: 'Infrastructure: OOM'\n    category: Infrastructure\n    match: rc=137\n"
HEAD = "categories:\n  Infrastructure: Platform\nrules:\n"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (HEAD + "  - name: x\n    category: a: b\n    match: y\n", [":5:", "not valid YAML"]),
        (HEAD + GOOD_RULE + "  - name: 'Infrastructure: timeout'\n    category: Infrastructure\n"
         "    mtach: timeout\n", [":7:", "rule 'Infrastructure: timeout'", "unknown key 'mtach'",
                                  "did you mean 'match'"]),
        (HEAD + "  - name: 'Infrastructure: bad'\n    category: Infrastructure\n"
         "    match: ['ok', '(unclosed']\n", [":4:", "rule 'Infrastructure: bad'",
                                             "bad regular expression '(unclosed'"]),
        (HEAD + "  - name: 'Infra: x'\n    category: Infrastructur\n    match: x\n",
         [":4:", "unknown category 'Infrastructur'", "did you mean 'Infrastructure'"]),
        (HEAD + "  - name: 'Infra: x'\n    category: Infrastructure\n    match: x\n"
         "    when: credit > 0\n", [":4:", "unknown column 'credit'", "did you mean 'credits'"]),
        (HEAD + "  - name: 'Infra: x'\n    category: Infrastructure\n    match: x\n"
         "    when: credits + 1\n", [":4:", "not a boolean"]),
        (HEAD + "  - name: 'Infra: x'\n    category: Infrastructure\n    match: x\n"
         "    when: credits > 0) OR (true\n", [":4:", "not a single SQL boolean expression"]),
        (HEAD + "  - name: 'Infra: x'\n    category: Infrastructure\n    match: x\n"
         "    when: credits > (SELECT 0)\n",
         [":4:", "rule 'Infra: x': 'when' may not use a subquery"]),
        (HEAD + "  - name: 'Infra: x'\n    category: Infrastructure\n    match: x\n"
         "    when: credits > 0 -- and more\n", [":4:", "'when' is not a single SQL boolean"
                                                   " expression: it holds an SQL comment"]),
        (HEAD + "  - name: 'Infra: x'\n    category: Infrastructure\n", [":4:", "'match'"]),
        (HEAD + GOOD_RULE + GOOD_RULE, [":7:", "duplicate name", "line 4"]),
        ("categories:\n  Infrastructure: Platform\nrulez: []\n",
         [":1:", "unknown key 'rulez'", "did you mean 'rules'"]),
    ],
)  # fmt: skip
def test_bad_rules_file_names_line_and_rule(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    path = tmp_path / "failures.yaml"
    path.write_text(text)
    with pytest.raises(RulesFileError) as info:
        load_failure_rules(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, message
    assert info.value.exit_code == EXIT_USAGE


def test_failures_file_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag, env_file = tmp_path / "flag.yaml", tmp_path / "env.yaml"
    env = {"USERTRACK_FAILURES": str(env_file)}
    assert resolve_failures_file(flag, env) == flag
    assert resolve_failures_file(None, env) == env_file
    monkeypatch.chdir(tmp_path)
    assert resolve_failures_file(None, {}).resolve() == SHIPPED.resolve()
    (tmp_path / "failures.yaml").write_text("x")
    assert resolve_failures_file(None, {}) == tmp_path / "failures.yaml"


def test_standout_rule_needs_more_failures_and_a_higher_rate() -> None:
    def day(i: int, runs: int, failed: int) -> dict[str, Any]:
        return {"day": date(2026, 11, i), "runs": runs, "runs_failed": failed,
                "tool_calls": 0, "tool_failures": 0}  # fmt: skip

    trend = [day(i, 100, 10) for i in range(1, 8)]
    trend.append(day(8, 300, 30))  # busier, same rate: not an incident
    trend.append(day(9, 100, 60))  # the incident
    standout_days(trend)
    assert [d["day"].day for d in trend if d["stands_out"]] == [9]
    assert "60 vs a median of 10 over the 9 days shown (" in trend[-1]["why"]
    standout_days(trend[-1:], baseline=trend[:-1])  # the failure-spike alert's way
    assert "60 vs a median of 10 over the 8 days before (" in trend[-1]["why"]


# --------------------------------------------------------------------------------------------
# The command on the demo


@pytest.fixture(scope="module")
def report(demo_home: Path) -> dict[str, Any]:
    result = run(["failures", "--format", "json"], demo_home)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_failures_finds_the_incident_day(report: dict[str, Any]) -> None:
    as_of = datetime.fromisoformat(report["as_of"].replace("Z", "+00:00"))
    incident = (as_of - timedelta(days=INCIDENT_DAYS_BEFORE_ANCHOR)).date().isoformat()
    assert [d["day"] for d in report["standout_days"]] == [incident]
    (day,) = report["standout_days"]
    assert "workflow failures" in day["why"] and "tool failures" in day["why"]
    assert len(report["trend"]) == 30 and report["days"] == 30
    assert report["since"] < report["trend"][0]["day"] + "T23:59:59Z"


def test_failures_keeps_levels_apart_and_categorizes_every_demo_error(
    report: dict[str, Any],
) -> None:
    totals = report["totals"]
    assert sum(c["failures"] for c in report["workflow_causes"]) == totals["runs_failed"] > 0
    assert sum(c["failures"] for c in report["tool_causes"]) == totals["tool_failures"] > 0
    assert all(c["tools"] == [] for c in report["workflow_causes"])
    assert all(c["tools"] for c in report["tool_causes"])
    categories = {c["category"]: c for c in report["categories"]}
    assert set(categories) == set(WORKFLOW_CATEGORIES)  # nothing uncategorized on the demo
    for name, owner in WORKFLOW_CATEGORIES.items():
        assert categories[name]["owner"] == owner
    assert sum(c["workflow_failures"] for c in categories.values()) == totals["runs_failed"]
    assert sum(c["tool_failures"] for c in categories.values()) == totals["tool_failures"]
    # The analyst workflow: infrastructure fails whole runs while their tool calls succeed.
    infra = categories["Infrastructure"]
    assert infra["workflow_failures"] > infra["tool_failures"]
    top = report["failing_tools"][0]
    assert {"tool_name", "tool_provider", "failures", "affected_users", "avg_ms",
            "first_failure", "last_failure", "top_cause"} <= set(top)  # fmt: skip
    failures = [t["failures"] for t in report["failing_tools"]]
    assert failures == sorted(failures, reverse=True)


def test_failures_other_formats(demo_home: Path, tmp_path: Path) -> None:
    table = run(["failures", "--days", "14"], demo_home)
    assert table.exit_code == 0, table.stderr
    assert "stands out" in table.stdout and "Workflow level" in table.stdout
    md = run(["failures", "--format", "md"], demo_home)
    assert md.exit_code == 0 and "## Workflow level" in md.stdout and "## Tool level" in md.stdout
    # `failures` averages the failed calls, `tools` every call: the header says which
    assert "| Avg ms of failed calls |" in md.stdout and "| Avg ms |" not in md.stdout
    out = tmp_path / "failures.csv"
    written = run(["failures", "--out", str(out)], demo_home)
    assert written.exit_code == 0 and written.stdout == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["level"] for r in rows} == {"workflow", "tool"}


def test_failures_with_a_bad_rules_file_exits_2(demo_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "failures.yaml"
    bad.write_text(HEAD + "  - name: 'Infra: x'\n    category: Infrastructure\n    match: '('\n")
    result = run(["failures", "--failures", str(bad)], demo_home)
    assert result.exit_code == EXIT_USAGE
    assert result.stdout == ""
    assert f"{bad}:4: rule 'Infra: x': bad regular expression" in result.stderr


def _holds_connection(value: Any) -> bool:
    import duckdb

    if isinstance(value, duckdb.DuckDBPyConnection):
        return True
    if isinstance(value, list | tuple | set):
        return any(_holds_connection(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_connection(v) for v in value.values())
    return False


def test_checking_rules_keeps_no_duckdb_connection_at_module_level() -> None:
    """Each check opens its own connection and closes it: no module keeps one open."""
    from usertrack.reports import deepdive, failures
    from usertrack.segments import profiles
    from usertrack.segments import rules as segments

    deepdive._read_rules(SHIPPED)  # the deep dive's side thread
    load_failure_rules(SHIPPED)
    held = [
        f"{module.__name__}.{name}"
        for module in (deepdive, failures, profiles, segments)
        for name, value in vars(module).items()
        if _holds_connection(value)
    ]
    assert held == []


def test_a_when_that_fails_on_a_value_names_its_rule(demo_home: Path, tmp_path: Path) -> None:
    """A `when` that binds (a cast is valid SQL) but fails on a message: exit 2, file:line and
    rule, nothing on stdout; not an internal error."""
    bad = tmp_path / "failures.yaml"
    bad.write_text(
        HEAD + "  - name: 'Infra: x'\n    category: Infrastructure\n    match: '.'\n"
        "    when: CAST(error_message AS INTEGER) > 0\n"
    )
    result = run(["failures", "--failures", str(bad)], demo_home)
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert result.stdout == ""
    assert f"{bad}:4: rule 'Infra: x' fails on the data: Conversion Error" in result.stderr


def test_rules_are_checked_once_per_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that loads failures.yaml for every command (the MCP server) checks each version
    of its rules once in DuckDB; an edit is checked, and a broken one reported, at once."""
    from usertrack.reports import failures

    checked: list[int] = []
    real = failures._check_expressions
    monkeypatch.setattr(
        failures, "_check_expressions", lambda spec: (checked.append(1), real(spec))[1]
    )
    path = tmp_path / "failures.yaml"
    path.write_text(HEAD + "  - name: 'Infra: x'\n    category: Infrastructure\n    match: x\n")
    assert load_failure_rules(path) == load_failure_rules(path)
    assert len(checked) == 1
    path.write_text(HEAD + "  - name: 'Infra: x'\n    category: Infrastructure\n    match: '('\n")
    with pytest.raises(RulesFileError, match=r":4: rule 'Infra: x': bad regular expression"):
        load_failure_rules(path)
    assert len(checked) == 2


# --------------------------------------------------------------------------------------------
# Each distinct text matched once, its verdict kept for the next call


def _count_new_texts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many texts each categorize call matched against the patterns (not known before)."""
    from usertrack.reports import failures

    counts: list[int] = []
    real = failures._remember

    def spy(con: Any, version: Any, new: list[Any], start: int) -> None:
        counts.append(len(new))
        real(con, version, new, start)

    monkeypatch.setattr(failures, "_remember", spy)
    return counts


def test_texts_are_matched_once_and_remembered_and_when_is_per_row(
    rules: FailureRules, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The patterns read only a failure's texts: each distinct text is matched once, and its
    verdict kept for the next call while the rules stay the same. A `when` reads the whole row:
    the same text with and without credits left has two causes, remembered or not."""
    counts = _count_new_texts(monkeypatch)
    credits = tool("InsufficientCreditsError", "Insufficient credits for this run")
    timeout = tool("TimeoutError", "Request timed out after 30s")
    rows = [{**credits, "credits": 5}, {**credits, "credits": 0}, timeout, timeout, timeout]
    platform, user = "Platform bug: false credit check", "User: out of credits"
    api = "Infrastructure: API timeout"

    assert [r["cause"] for r in categorize_rows(rules, rows)] == [platform, user, api, api, api]
    assert counts == [2]  # five rows, two texts

    oom = tool("SandboxOOM", "Modal sandbox exited rc=137")
    again = [{**credits, "credits": 0}, timeout, oom, {**credits, "credits": 7}]
    oom_cause = "Infrastructure: out of memory (rc=137)"
    assert [r["cause"] for r in categorize_rows(rules, again)] == [user, api, oom_cause, platform]
    assert counts == [2, 1]  # only the new text

    # Another version of the rules: every text matched afresh, and the new rules' answer.
    path = tmp_path / "failures.yaml"
    path.write_text(
        SHIPPED.read_text().replace("'TimeoutError', ", "").replace("\\btimed out\\b", "xyz")
    )
    other = load_failure_rules(path)
    assert other.rules != rules.rules
    assert categorize_rows(other, again)[1]["cause"] == "Uncategorized: TimeoutError"
    assert counts == [2, 1, 3]
    assert [r["cause"] for r in categorize_rows(rules, again)] == [user, api, oom_cause, platform]
    assert counts == [2, 1, 3, 3]


def test_arrow_rows_numbered_by_duckdb_categorize_as_numbered_in_python(
    rules: FailureRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dashboard's failure report (remember=False): its Arrow rows' texts are numbered by
    DuckDB and no verdict is kept, with every row's cause, category and owner, in order, as
    when they are numbered in Python and remembered (texts repeated, missing, per-row `when`)."""
    import pyarrow as pa

    from usertrack.engines.base import Result
    from usertrack.reports import failures

    counts = _count_new_texts(monkeypatch)
    credits = tool("InsufficientCreditsError", "Insufficient credits for this run")
    timeout = tool("TimeoutError", "Request timed out after 30s")
    log = workflow("Traceback (most recent call last)\nValueError: bad input")
    rows = [{**credits, "credits": 5}, {**credits, "credits": 0}, timeout, tool(None, None),
            timeout, log, tool(None, None), log, {**credits, "credits": 9}]  # fmt: skip
    arrow = pa.Table.from_pylist([{**r, "email": f"u{i % 4}@x.io"} for i, r in enumerate(rows)])

    def categorized(
        remember: bool, ordered: bool = True, columns: tuple[str, ...] | None = None
    ) -> list[Any]:
        con = connect()
        try:
            given = Result(columns=list(arrow.column_names), rows=[], arrow=arrow)
            counted = failures.categorize(
                rules, con, given, remember=remember, ordered=ordered, columns=columns
            )
            assert counted == len(rows)
            found = con.execute("SELECT * FROM categorized")
            return [[d[0] for d in found.description], *found.fetchall()]
        finally:
            con.close()

    failures._known.clear()
    here = categorized(remember=False)
    assert counts == [] and not failures._known  # nothing matched for a later call
    # in any order (a report that only aggregates them): the same rows, each the same cause
    unordered = categorized(remember=False, ordered=False)
    assert unordered[0] == here[0] and sorted(map(repr, unordered)) == sorted(map(repr, here))
    # the columns asked for alone, beside the verdict's three: the same values
    narrow = categorized(remember=False, columns=("level", "credits"))
    assert narrow[0] == ["level", "credits", "cause", "category", "owner"]
    picked = [here[0].index(c) for c in narrow[0]]
    assert narrow[1:] == [tuple(r[i] for i in picked) for r in here[1:]]
    assert here == categorized(remember=True)
    assert counts == [4]  # four distinct texts, numbered in Python and remembered
    cause = here[0].index("cause")
    assert [r[cause] for r in here[1:3]] == [
        "Platform bug: false credit check",
        "User: out of credits",
    ]


def test_a_window_after_another_answers_as_a_fresh_process(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MCP server's warm calls: a second window overlapping the first matches only the
    texts the first did not have, and answers byte for byte as without any kept verdict."""
    from usertrack.reports import failures

    counts = _count_new_texts(monkeypatch)
    first = run(["failures", "--days", "20", "--format", "json"], demo_home)
    assert first.exit_code == 0, first.stderr
    warm = run(["failures", "--days", "21", "--format", "json"], demo_home)
    assert warm.exit_code == 0, warm.stderr
    failures._known.clear()
    fresh = run(["failures", "--days", "21", "--format", "json"], demo_home)
    assert fresh.exit_code == 0, fresh.stderr
    assert warm.stdout == fresh.stdout
    assert counts[0] > 100, counts  # the demo's 20 days: hundreds of distinct texts
    assert 0 < counts[1] < counts[0] / 5  # one more day's texts only
    assert counts[2] > counts[0]  # nothing kept: every text of 21 days


def test_a_few_rows_mixing_naive_and_aware_datetimes_still_load() -> None:
    """Once numpy is imported (the MCP server after `segments`), a few rows go to DuckDB as
    numpy arrays, which refuse a column mixing naive and zone-aware datetimes: they go again as
    bound lists, as they always did, with the same values."""
    import numpy  # noqa: F401  (in the process, as in the server)

    from usertrack.reports.failures import load_failures

    aware = datetime(2026, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=5)))
    rows = [tool("X", "x", occurred_at=aware), tool("Y", "y", occurred_at=datetime(2026, 1, 2))]
    con = connect()
    try:
        assert load_failures(con, rows) == 2
        found = con.execute("SELECT occurred_at FROM failure").fetchall()
    finally:
        con.close()
    assert found == [(datetime(2025, 12, 31, 22, 0),), (datetime(2026, 1, 2),)]


def test_failure_rows_as_arrow_load_the_same_table_as_arrays_and_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With pyarrow in the process (the MCP server), failure rows go to DuckDB as Arrow
    columns: the table is the one numpy arrays and bound lists give (values and types), and
    a column Arrow cannot type (naive and zone-aware times mixed) goes the old way."""
    import duckdb
    import numpy  # noqa: F401
    import pyarrow  # noqa: F401

    from usertrack.reports import failure_rows

    zone = timezone(timedelta(hours=-3))
    rows = [
        tool("Timeout", "read timed out", occurred_at=datetime(2026, 1, 1, 23, 30, tzinfo=zone)),
        workflow("Traceback\nValueError: bad", occurred_at=datetime(2026, 1, 2, tzinfo=UTC)),
        tool(None, None, occurred_at=None, duration_ms=None, credits=None),
        tool("E", "é ✓ text", occurred_at=datetime(2026, 1, 3, tzinfo=UTC), credits=2**40),
    ]
    real_arrow, real_arrays = failure_rows._insert_arrow, failure_rows._insert_arrays
    used: list[str] = []

    def refuse(*args: Any, **kw: Any) -> None:
        raise duckdb.ConversionException("refused")

    def table(arrow: bool, arrays: bool) -> list[Any]:
        def spy_arrow(*args: Any, **kw: Any) -> None:
            used.append("arrow")
            real_arrow(*args, **kw)

        monkeypatch.setattr(failure_rows, "_insert_arrow", spy_arrow if arrow else refuse)
        monkeypatch.setattr(failure_rows, "_insert_arrays", real_arrays if arrays else refuse)
        con = connect()
        try:
            assert failure_rows.load_failures(con, rows) == len(rows)
            found = con.execute("SELECT * FROM failure")
            kinds = [str(d[1]) for d in found.description]
            return [kinds, *(tuple(map(repr, r)) for r in found.fetchall())]
        finally:
            con.close()

    as_arrow = table(arrow=True, arrays=True)
    assert used == ["arrow"]
    assert as_arrow == table(arrow=False, arrays=True) == table(arrow=False, arrays=False)
    assert "datetime.datetime(2026, 1, 2, 2, 30)" in as_arrow[1]  # 23:30 at -3 is 02:30 UTC

    used.clear()
    mixed = [rows[0], tool("Y", "y", occurred_at=datetime(2026, 1, 2))]
    monkeypatch.setattr(failure_rows, "_insert_arrow", real_arrow)
    con = connect()
    try:
        assert failure_rows.load_failures(con, mixed) == 2
        got = con.execute("SELECT occurred_at FROM failure").fetchall()
    finally:
        con.close()
    assert got == [(datetime(2026, 1, 2, 2, 30),), (datetime(2026, 1, 2),)]
