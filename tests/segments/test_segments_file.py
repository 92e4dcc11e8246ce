"""segments.yaml: a bad file names the segment, exits 2 and prints nothing on stdout."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.cli_runner import run
from usertrack.core.errors import EXIT_USAGE, SegmentsFileError
from usertrack.segments.rules import check_rules, classify, load_segments

REPO = Path(__file__).resolve().parents[2]


def profile_con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE profile AS SELECT * FROM (VALUES"
        " ('a@x.io', 10, 20.0, 100, TIMESTAMP '2026-01-01'),"
        " ('b@x.io', 2, 100.0, 30, TIMESTAMP '2026-11-01'),"
        " ('c@x.io', NULL, NULL, NULL, NULL))"
        " AS t(email, run_count, run_success_rate, credits, created_at)"
    )
    return con


def seg_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "segments.yaml"
    path.write_text(body)
    return path


def test_shipped_file_has_the_analyst_workflows_five_segments_in_order() -> None:
    spec = load_segments(REPO / "segments.yaml")
    assert [s.id for s in spec.segments] == [
        "failing",
        "frustrated",
        "high_intent",
        "at_risk",
        "power_user",
    ]
    assert [s.action for s in spec.segments] == [
        "Support",
        "Fix UX",
        "Outreach",
        "Re-engage",
        "Nurture",
    ]
    assert spec.exclude == ("datagen.dev",)


ONE = "segments:\n  - id: busy\n    name: Busy\n    action: Nurture\n    rule: {rule}\n"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("segments: [\n", "not valid YAML"),
        ("segmnts: []\n", "did you mean 'segments'"),
        (
            ONE.format(rule="run_count > 5") + ONE.format(rule="1=1").split("\n", 1)[1],
            "duplicate id 'busy'",
        ),
        ("segments:\n  - id: busy\n    name: Busy\n    action: Nurture\n", "'rule' is required"),
        (
            "segments:\n  - id: busy\n    name: B\n    action: A\n    rule: x > 1\n"
            "    colour: red\n",
            "unknown key 'colour'",
        ),
    ],
)
def test_bad_shape_names_file_and_segment(tmp_path: Path, body: str, fragment: str) -> None:
    path = seg_file(tmp_path, body)
    with pytest.raises(SegmentsFileError) as err:
        load_segments(path)
    assert str(err.value).startswith(str(path)), err.value
    assert fragment in str(err.value)
    assert err.value.exit_code == EXIT_USAGE == 2


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ("run_cnt > 5", "unknown column 'run_cnt' in rule (did you mean 'run_count'?) (available:"),
        ("run_count", "INTEGER expression, not a boolean"),
        ("run_count > 1) OR (credits", "not a single SQL boolean expression"),
        ("run_count > 1; DROP TABLE profile", "not a single SQL boolean expression"),
        ("run_count >", "not a single SQL boolean expression"),
    ],
)
def test_bad_rules_name_the_segment(tmp_path: Path, rule: str, fragment: str) -> None:
    spec = load_segments(seg_file(tmp_path, ONE.format(rule=f'"{rule}"')))
    with pytest.raises(SegmentsFileError) as err:
        check_rules(spec, profile_con(), __import__("datetime").datetime(2026, 11, 16))
    message = str(err.value)
    assert "segment 'busy'" in message and fragment in message, message
    if "unknown column" in message:
        assert "run_success_rate" in message and "as_of" in message  # lists what is available


def test_classify_primary_is_first_match_and_null_never_matches(tmp_path: Path) -> None:
    from datetime import datetime

    body = (
        "segments:\n"
        "  - {id: rare, name: Rare, action: A, rule: run_success_rate < 50}\n"
        "  - {id: busy, name: Busy, action: B, rule: run_count > 1 OR credits < 50,"
        " order: run_count DESC}\n"
        "  - {id: old, name: Old, action: C, rule: created_at < as_of - INTERVAL 30 DAY}\n"
    )
    spec = load_segments(seg_file(tmp_path, body))
    result = classify(spec, profile_con(), datetime(2026, 11, 16))
    by_email = {u["email"]: u for u in result.users}
    assert by_email["a@x.io"]["segments"] == ["rare", "busy", "old"]
    assert by_email["a@x.io"]["primary"] == "rare"
    assert by_email["b@x.io"]["segments"] == ["busy"]
    assert by_email["c@x.io"]["segments"] == [] and by_email["c@x.io"]["primary"] is None
    assert [u["email"] for u in result.members("busy")] == ["a@x.io", "b@x.io"]
    assert result.counts == {"rare": 1, "busy": 2, "old": 1}


def test_an_order_is_parsed_before_it_runs(tmp_path: Path) -> None:
    body = ONE.format(rule="run_count > 1") + "    order: (SELECT max(credits) FROM profile) DESC\n"
    spec = load_segments(seg_file(tmp_path, body))
    with pytest.raises(SegmentsFileError) as err:
        check_rules(spec, profile_con(), __import__("datetime").datetime(2026, 11, 16))
    assert str(err.value).startswith(f"{spec.path}:2: segment 'busy': order may not use a subquery")


def test_rule_columns_come_from_the_parse_tree(tmp_path: Path) -> None:
    from usertrack.segments.rules import rule_columns, why_columns

    # `credits` here is a lambda's parameter and a string, not the profile column
    rule = (
        "len(list_filter([email], lambda credits: credits LIKE 'credits%')) > 0 AND run_count > 1"
    )
    spec = load_segments(seg_file(tmp_path, ONE.format(rule=f'"{rule}"')))
    columns = ["email", "run_count", "credits"]
    assert rule_columns(spec.segments[0], columns) == ["run_count"]
    assert why_columns(spec.segments[0], columns) == ["run_count"]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("", "segment 'busy': rule fails on the data: Conversion Error"),
        ("    order: CAST(email AS INTEGER)\n", "segment 'busy': order fails on the data"),
    ],
)
def test_a_rule_or_order_that_fails_on_a_value_names_its_segment(
    tmp_path: Path, extra: str, fragment: str
) -> None:
    """Binding succeeds (a cast is valid SQL) but a value makes it fail: the rules file's
    mistake (exit 2, file:line and segment), never an internal error."""
    from datetime import datetime

    rule = "CAST(email AS INTEGER) > 0" if not extra else "run_count > 1"
    body = (
        "segments:\n"
        "  - {id: rare, name: Rare, action: A, rule: run_success_rate < 50}\n"
        + ONE.format(rule=f'"{rule}"').split("segments:\n", 1)[1]
        + extra
    )
    spec = load_segments(seg_file(tmp_path, body))
    with pytest.raises(SegmentsFileError) as err:
        classify(spec, profile_con(), datetime(2026, 11, 16))
    assert str(err.value).startswith(f"{spec.path}:3: {fragment}"), err.value
    assert err.value.exit_code == EXIT_USAGE


class _Counting:
    """A DuckDB connection that counts the statements run on it."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con, self.statements = con, 0

    def execute(self, *args: object) -> duckdb.DuckDBPyConnection:
        self.statements += 1
        return self.con.execute(*args)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self.con, name)


def test_rules_are_checked_once_per_version_and_profile_shape(tmp_path: Path) -> None:
    """The checks read the rules and the profile's columns, never its rows or the moment: a
    process that classifies again (the MCP server) binds them once; other rules, or a profile
    with other columns, are checked afresh."""
    from datetime import datetime

    spec = load_segments(seg_file(tmp_path, ONE.format(rule="run_count > 1")))
    first, again = _Counting(profile_con()), _Counting(profile_con())
    check_rules(spec, first, datetime(2026, 11, 16))  # type: ignore[arg-type]
    check_rules(spec, again, datetime(2026, 10, 1))  # type: ignore[arg-type]
    assert first.statements > 2 and again.statements == 1  # the profile's columns only
    other = load_segments(seg_file(tmp_path, ONE.format(rule="run_cnt > 1")))
    with pytest.raises(SegmentsFileError, match="unknown column 'run_cnt'"):
        check_rules(other, profile_con(), datetime(2026, 11, 16))
    narrower = duckdb.connect()
    narrower.execute("CREATE TABLE profile AS SELECT 'a@x.io' AS email, 'x' AS run_count")
    with pytest.raises(SegmentsFileError, match="rule is not valid: Binder Error"):
        check_rules(spec, narrower, datetime(2026, 11, 16))


def test_a_large_segment_is_ordered_as_far_as_asked(tmp_path: Path) -> None:
    """`classify` orders each segment's first ORDERED_AHEAD members (what a table shows) and
    counts every member; the rest of the order is made when something asks for it, and is the
    full sort's, ties broken by email as always."""
    from datetime import datetime

    from usertrack.segments.rules import ORDERED_AHEAD

    n = ORDERED_AHEAD * 3 + 7
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE profile AS SELECT printf('u%05d@x.io', (i * 7919) % $n) AS email,"
        " (i % 13)::INTEGER AS run_count FROM range($n) r(i)",
        {"n": n},
    )
    body = (
        "segments:\n"
        "  - {id: busy, name: Busy, action: A, rule: run_count > 2, order: run_count DESC}\n"
        "  - {id: few, name: Few, action: A, rule: run_count = 12}\n"
    )
    spec = load_segments(seg_file(tmp_path, body))
    result = classify(spec, con, datetime(2026, 11, 16))
    expected = [
        email
        for (email,) in con.execute(
            "SELECT email FROM profile WHERE run_count > 2 ORDER BY run_count DESC, email"
        ).fetchall()
    ]
    few = sorted(
        e for (e,) in con.execute("SELECT email FROM profile WHERE run_count = 12").fetchall()
    )
    assert result.counts == {"busy": len(expected), "few": len(few)}
    assert len(expected) > ORDERED_AHEAD >= len(few)
    assert len(result._order["busy"]) == ORDERED_AHEAD  # not every member yet
    shown = result.members_of(["busy", "few"], 5)
    assert [u["email"] for u in shown["busy"]] == expected[:5]
    assert [u["email"] for u in shown["few"]] == few[:5]
    assert [u["email"] for u in result.members("busy")] == expected
    assert [u["email"] for u in result.members("busy", ORDERED_AHEAD + 1)] == expected[
        : ORDERED_AHEAD + 1
    ]
    assert [u["email"] for u in result.members("few")] == few


def test_segment_option_naming_no_segment_of_the_rules_is_refused() -> None:
    """`--segment` (`usertrack segments`, a dashboard's segments panel) names a segment of the
    rules: another id is a SegmentsFileError naming the file, the closest id and every one."""
    spec = load_segments(REPO / "segments.yaml")
    spec.check_segment("at_risk")
    with pytest.raises(SegmentsFileError) as err:
        spec.check_segment("at_rsk")
    message = str(err.value)
    assert message.startswith(f"--segment 'at_rsk': no such segment in {spec.path}")
    assert "'at_risk'" in message
    assert message.endswith(f"(known: {', '.join(s.id for s in spec.segments)})")
    assert err.value.exit_code == EXIT_USAGE


def test_segments_command_refuses_an_unknown_segment(demo_home: Path) -> None:
    result = run(["segments", "--segment", "nope"], home=demo_home)
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--segment 'nope': no such segment in" in result.output
    assert "known: failing, frustrated" in result.output
