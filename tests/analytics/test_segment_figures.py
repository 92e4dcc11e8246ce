"""Each segment's type, average engagement score and average revenue (docs/metrics.md,
"Segments"), and `segments --type`: on the fixed demo, through the CLI, the MCP tool and a
dashboard panel; the score checked against `usertrack churn`'s, the revenue against the users'
credits."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from usertrack.core.errors import EXIT_USAGE, SegmentsFileError
from usertrack.segments.rules import SEGMENT_TYPES, load_segments

REPO = Path(__file__).resolve().parents[2]
AS_OF = "2026-11-16"


def _json(home: Path, *args: str) -> dict[str, Any]:
    result = run([*args, "--as-of", AS_OF, "-f", "json"], home=home)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _segments(home: Path, *args: str) -> dict[str, Any]:
    return _json(home, "segments", "--no-save", *args)


def test_the_shipped_segments_each_have_a_known_type() -> None:
    for name in ("segments.yaml", "segments/engagement.yaml"):
        spec = load_segments(REPO / name)
        assert all(s.type in SEGMENT_TYPES for s in spec.segments), name


def test_an_unknown_type_names_the_file_and_its_line(tmp_path: Path) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text(
        "segments:\n"
        "  - id: a\n    name: A\n    action: Act\n    type: risk\n    rule: credits > 0\n"
        "  - id: b\n    name: B\n    action: Act\n    rule: credits > 0\n    type: riks\n"
    )
    with pytest.raises(SegmentsFileError) as err:
        load_segments(path)
    assert str(err.value).startswith(f"{path}:11: segment 'b': unknown type 'riks'")
    assert "'risk'" in str(err.value) and "(known: lifecycle, engagement, risk, value)" in str(
        err.value
    )
    result = run(["segments", "--segments", str(path)], home=tmp_path / "home")
    assert result.exit_code == EXIT_USAGE and result.stdout == ""
    lines = [x for x in result.stderr.splitlines() if x.startswith("usertrack: error:")]
    assert len(lines) == 1 and f"{path}:11: segment 'b': unknown type 'riks'" in lines[0]


def test_type_keeps_the_segments_of_one_type(fixed_demo_home: Path) -> None:
    """`--type risk`: the shipped file's risk segments, in its order, with their counts as in
    the whole answer (a segment's members are its rule's)."""
    whole = _segments(fixed_demo_home)
    risk = _segments(fixed_demo_home, "--type", "risk")
    assert [s["id"] for s in risk["segments"]] == ["failing", "frustrated", "at_risk"]
    assert all(s["type"] == "risk" for s in risk["segments"])
    counts = {s["id"]: s["count"] for s in whole["segments"]}
    assert {s["id"]: s["count"] for s in risk["segments"]} == {
        k: counts[k] for k in ("failing", "frustrated", "at_risk")
    }
    kept = {"failing", "frustrated", "at_risk"}
    for user in risk["users"]:
        assert set(user["segments"]) <= kept
        assert user["primary"] == (user["segments"][0] if user["segments"] else None)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--type", "riks"], "--type 'riks' is not a segment type"),
        (["--type", "lifecycle"], "--type 'lifecycle': no segment of that type in"),
        (["--type", "risk", "--segment", "failing"], "--type and --segment do not go together"),
        (["--type", "risk", "--changes"], "--type and --changes do not go together"),
        (["--type", "risk", "--overview"], "--type and --overview do not go together"),
        (["--type", "risk", "--save"], "--save does not go with --type"),
    ],
)
def test_bad_type_options_exit_2_with_one_line(
    fixed_demo_home: Path, args: list[str], fragment: str
) -> None:
    result = run(["segments", *args, "--as-of", AS_OF], home=fixed_demo_home)
    assert result.exit_code == EXIT_USAGE and result.stdout == ""
    lines = [x for x in result.stderr.splitlines() if x.startswith("usertrack: error:")]
    assert len(lines) == 1 and fragment in lines[0], result.stderr


def test_the_average_engagement_is_churns_score(fixed_demo_home: Path, tmp_path: Path) -> None:
    """A segment of everyone averages the score over the users `churn` scores, to its
    `engagement.average`; a segment of one user has that user's score as `churn` lists it, and
    their credits spent (100 - credits) as its revenue."""
    listed = _json(fixed_demo_home, "churn", "--limit", "3", "--no-backtest")
    users = listed["at_risk"]["users"]
    assert len(users) == 3
    body = "segments:\n  - {id: everyone, name: Everyone, action: Look, rule: 'true'}\n"
    for n, user in enumerate(users):
        body += (
            f"  - {{id: u{n}, name: U{n}, action: Look, type: risk,"
            f" rule: \"email = '{user['email']}'\"}}\n"
        )
    path = tmp_path / "one_each.yaml"
    path.write_text(body)
    doc = _segments(fixed_demo_home, "--segments", str(path))
    found = {s["id"]: s for s in doc["segments"]}
    assert found["everyone"]["avg_engagement"] == listed["engagement"]["average"]
    assert found["everyone"]["type"] is None
    credits = {u["email"]: u["credits"] for u in doc["users"]}
    for n, user in enumerate(users):
        assert found[f"u{n}"]["count"] == 1
        assert found[f"u{n}"]["avg_engagement"] == user["score"]
        left = credits[user["email"]]  # None: a PostHog person with no account
        assert found[f"u{n}"]["avg_revenue"] == (None if left is None else max(0, 100 - left))
    spent = [max(0, 100 - c) for c in credits.values() if c is not None]
    assert found["everyone"]["avg_revenue"] == round(sum(spent) / len(spent), 1)


def test_every_format_shows_the_figures(fixed_demo_home: Path) -> None:
    doc = _segments(fixed_demo_home)
    first = doc["segments"][0]
    assert first["avg_engagement"] is not None and first["avg_revenue"] is not None
    md = run(["segments", "--no-save", "--as-of", AS_OF, "-f", "md"], home=fixed_demo_home)
    assert md.exit_code == 0, md.stderr
    assert "| Segment | Type | Users | Avg engagement | Avg revenue | Action |" in md.stdout
    assert f"| {first['name']} | {first['type']} | {first['count']} |" in md.stdout
    table = run(["segments", "--no-save", "--as-of", AS_OF], home=fixed_demo_home, COLUMNS="200")
    assert table.exit_code == 0, table.stderr
    assert "Avg engagement" in table.stdout and f"{first['avg_engagement']}" in table.stdout
    overview = _json(fixed_demo_home, "segments", "--overview")
    churned = _json(fixed_demo_home, "churn", "--no-backtest")
    assert overview["avg_engagement"] == churned["engagement"]["average"]
    assert overview["avg_revenue"] is not None
    assert overview["avg_revenue"] == round(100 - overview["avg_credits"], 1)


def test_the_mcp_tool_and_a_dashboard_panel_answer_the_type_and_figures(
    fixed_demo_home: Path, tmp_path: Path
) -> None:
    from tests.mcp.test_mcp import text, with_client

    async def body(client: Any) -> Any:
        listed = await client.list_tools()
        answer = await client.call_tool("segments", {"segment_type": "value", "max_items": 0})
        return listed, answer

    listed, answer = with_client(fixed_demo_home, body)
    schemas = {t.name: t.input_schema["properties"] for t in listed.tools}
    assert "segment_type" in schemas["segments"]
    assert not answer.is_error, text(answer)
    got = json.loads(text(answer)[0])
    cli = _segments(fixed_demo_home, "--type", "value")
    assert got["segments"] == cli["segments"]
    assert [s["id"] for s in got["segments"]] == ["high_intent"]

    spec = tmp_path / "board.yaml"
    spec.write_text(
        "title: board\nperiod: week\npanels:\n"
        "  - analysis: segments\n    title: Risk\n    segment_type: risk\n"
    )
    result = run(["-q", "report", str(spec), "-f", "json", "--out", "-", "--as-of", AS_OF],
                 fixed_demo_home)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    [panel] = json.loads(result.stdout)["panels"]
    risk = _segments(fixed_demo_home, "--type", "risk")
    assert panel["data"]["segments"] == risk["segments"]


def test_the_score_facts_fetched_ahead_give_the_same_figures(fixed_demo_home: Path) -> None:
    """`segments` fetches the score's facts while it classifies (facts_ahead) and hands the runs
    and scores between DuckDB connections as Arrow columns: the figures are those of the facts
    fetched after, as Python values; facts fetched ahead for another moment are not used."""
    import pyarrow  # noqa: F401  (imported: the figures cross as Arrow columns)

    from usertrack.analytics import segment_figures
    from usertrack.core.clock import parse_as_of
    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    moment = parse_as_of(AS_OF)
    settings = load_settings({"USERTRACK_HOME": str(fixed_demo_home), "USERTRACK_CONFIG": ""})
    with open_workspace(
        settings, queries_dir=resolve_queries_dir(None), segments_path=resolve_segments_file(None)
    ) as ws:
        ahead = segment_figures.facts_ahead(ws, moment)
        result = ws.classify(moment)
        runs = result.arrow(["email", "run_count"])
        assert runs.num_rows == result.user_count and runs.column_names == ["email", "run_count"]
        segment_figures.add_figures(ws, result, None, ahead)
        fetched_ahead = result.figures
        assert ahead.done and ahead.result().stack.close() is None
        other = segment_figures.facts_ahead(ws, parse_as_of("2026-11-10"))
        segment_figures.add_figures(ws, result, None, other)
        assert result.figures == fetched_ahead
        facts = segment_figures.open_score_facts(ws, moment)
        with facts.stack:
            as_values = segment_figures._scores(ws, result, facts.con)
            listed = [
                (str(e), float(s)) for e, s in zip(*as_values.to_pydict().values(), strict=True)
            ]
        expressions = {"avg_engagement": "s.score"}
        by_lists = result.segment_means(expressions, listed)
        by_arrow = result.segment_means(expressions, as_values)
        assert by_lists == by_arrow
        assert {k: v["avg_engagement"] for k, v in fetched_ahead.items()} == {
            k: v["avg_engagement"] for k, v in by_lists.items()
        }
        assert any(v["avg_engagement"] is not None for v in by_lists.values())
        result.close()


def test_a_segments_mean_is_summed_exactly_whatever_the_rows_order(fixed_demo_home: Path) -> None:
    """A mean of doubles depends on the order they are summed in (ten 0.4s then ten 0.1s sum to
    4.999..., the other way to 5.0), which threads and the way the rows were loaded (rows or
    Arrow: the MCP server's and the CLI's) change; a mean at a half then rounded either way
    from one run to the next. Twenty members scored so, the 0.4s and 0.1s among them drawn
    thirty ways: 0.25 exactly, rounded to 0.3, every way."""
    from usertrack.core.clock import parse_as_of
    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    settings = load_settings({"USERTRACK_HOME": str(fixed_demo_home), "USERTRACK_CONFIG": ""})
    with open_workspace(
        settings, queries_dir=resolve_queries_dir(None), segments_path=resolve_segments_file(None)
    ) as ws:
        result = ws.classify(parse_as_of(AS_OF))
        try:
            segment = next(s.id for s in result.segments if len(result.in_segment(s.id)) >= 20)
            members = [e for (e,) in result.select(["email"]) if e in result.in_segment(segment)]
            for seed in range(30):  # which ten of twenty get 0.4: the rows' order changes
                order = random.Random(seed).sample(members[:20], 20)
                scores = [(e, 0.4) for e in order[:10]] + [(e, 0.1) for e in order[10:]]
                means = result.segment_means({"score": "s.score"}, scores)
                assert means[segment]["score"] == 0.3, seed
        finally:
            result.close()
