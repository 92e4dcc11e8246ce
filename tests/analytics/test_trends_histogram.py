"""`trends --by PROP --histogram-bins N`: a numeric property's buckets as series (PostHog's
breakdown_histogram_bin_count), on the events of tests/analytics/test_trends.py, worked out by hand.

In the range (06-01 to 06-03) the `$pageview`s' load_ms are 100, 300, 50 (06-01), 40, 60
(06-02), 200 and 10 (06-03, p5 at 00:00), and three events have no number ("12", a text, and
two without load_ms): min 10, max 300. Two bins are [10, 155) and [155, 300.01).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.analytics.test_trends import ARGS, AS_OF, PV, RECORDS
from tests.analytics_helpers import assert_usage_error, live_posthog, run_json, write_export
from usertrack.analytics.trends.histogram import buckets, clickhouse_float

cli_json = partial(run_json, "trends", as_of=AS_OF)
BINS = ["--by", "load_ms", "--histogram-bins", "2"]
LOW, HIGH = f"{PV} / [10,155]", f"{PV} / [155,300.01]"


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


def data(doc: dict[str, Any]) -> dict[str, list[Any]]:
    """Each series' points by its breakdown, '' (no number) as (none), in the answer's order."""
    return {f"{PV} / {s['breakdown'] or '(none)'}": s["data"] for s in doc["series"]}


def test_buckets_and_the_events_without_a_number_on_both_engines(
    export: Path, tmp_path: Path
) -> None:
    cases = [
        [PV, *BINS, *ARGS],
        [PV, "-m", "dau", *BINS, *ARGS],
        [PV, "-m", "max_count_per_actor", *BINS, *ARGS],
        [PV, "-m", "sum:load_ms", *BINS, *ARGS],
    ]
    local = [cli_json(args, USERTRACK_EVENTS=str(export)) for args in cases]
    with live_posthog(export, tmp_path) as (_, env):
        live = [cli_json(args, **env) for args in cases]
    assert live == local
    total, dau, per_actor, summed = (data(doc) for doc in local)
    # bucket order, then the events without a number ("12" is a text: no number)
    assert total == {LOW: [2, 2, 1], HIGH: [1, 0, 1], f"{PV} / (none)": [0, 2, 1]}
    assert dau == {LOW: [2, 1, 1], HIGH: [1, 0, 1], f"{PV} / (none)": [0, 2, 1]}
    assert per_actor[LOW] == [1, 2, 1]  # 06-02: p3's 40 and 60
    assert summed[LOW] == [150, 100, 10] and summed[HIGH] == [300, 0, 200]
    assert local[0]["histogram_bins"] == 2 and local[0]["breakdown_property"] == "load_ms"
    assert all(s["other"] is False for s in local[0]["series"])


def test_a_property_without_numbers_is_one_none_series(export: Path) -> None:
    doc = cli_json([PV, "--by", "$browser", "--histogram-bins", "3", *ARGS],
                   USERTRACK_EVENTS=str(export))  # fmt: skip
    assert data(doc) == {f"{PV} / (none)": [3, 4, 3]}


def test_the_chart_draws_the_buckets_in_bucket_order(export: Path) -> None:
    from usertrack.dashboards.time_charts import trends_chart

    doc = cli_json([PV, *BINS, *ARGS], USERTRACK_EVENTS=str(export))
    drawn = trends_chart(doc)
    assert drawn is not None
    order = [LOW, HIGH, f"{PV} / (none)"]
    assert drawn[0]["encoding"]["color"]["sort"] == order  # Vega's own: (none) first
    assert sorted(order) != order


def test_the_buckets_as_posthog_writes_them() -> None:
    # trends_query_builder.py's ends, ClickHouse's toString of each
    assert buckets(10, 40, 4).labels == ("[10,17.5]", "[17.5,25]", "[25,32.5]", "[32.5,40.01]")
    assert buckets(7, 7, 2).labels == ("[7,7]", "[7,7.01]")  # one value: the last bucket
    assert buckets(0, 1, 10).edges[3] == 0.30000000000000004
    texts = [clickhouse_float(x) for x in (1e21, 1.5e-7, 0.00001, 1e20, -2.5, 40.01)]
    assert texts == ["1e21", "1.5e-7", "0.00001", "100000000000000000000", "-2.5", "40.01"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--by", "load_ms", "--histogram-bins", "0"], "--histogram-bins 0 must be from 1 to 100"),
        (["--by", "load_ms", "--histogram-bins", "101"], "--histogram-bins 101 must be from 1"),
        (["--histogram-bins", "4"], "--histogram-bins needs --by PROPERTY"),
        ([*BINS, "--compare"], "--histogram-bins and --compare do not go together"),
        ([*BINS, "--by-segment"], "--histogram-bins counts every person at once"),
    ],
)
def test_bad_input_exits_2_with_one_line(export: Path, args: list[str], fragment: str) -> None:
    assert_usage_error(["trends", PV, *args, "--as-of", AS_OF], fragment,
                       USERTRACK_EVENTS=str(export))  # fmt: skip


def test_a_dashboard_panel_takes_the_option(demo_home: Path, tmp_path: Path) -> None:
    import json

    from tests.cli_runner import run

    spec = tmp_path / "mine.yaml"
    spec.write_text(
        "title: Time spent\nperiod:\n  days: 7\npanels:\n  - analysis: trends\n"
        "    title: Time spent\n    events: [feature_used]\n    by: duration\n"
        "    histogram_bins: 3\n"
    )
    result = run(["report", str(spec), "-f", "json", "--out", "-"], home=demo_home)
    assert result.exit_code == 0, result.stderr
    (panel,) = json.loads(result.stdout)["panels"]
    assert panel["data"]["histogram_bins"] == 3
    labels = [s["breakdown"] for s in panel["data"]["series"]]
    assert 1 <= len(labels) <= 4 and all(b.startswith("[") for b in labels if b)


def test_the_mcp_tool_takes_the_option(demo_home: Path) -> None:
    import json

    from tests.mcp.test_mcp import raw_text, unwrapped, with_client

    async def body(client: Any) -> Any:
        return await client.call_tool(
            "trends", {"events": ["feature_used"], "by": "duration", "histogram_bins": 3}
        )

    result = with_client(demo_home, body)
    assert not result.is_error, raw_text(result)
    doc = json.loads(unwrapped(raw_text(result)[0]))
    assert doc["histogram_bins"] == 3
    labels = [s["breakdown"] for s in doc["series"]]
    assert 1 <= len(labels) <= 4 and all(b.startswith("[") for b in labels if b)
