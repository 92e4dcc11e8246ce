"""A rate over fewer than 30 persons is stated with its sample and 95% interval, never alone:
retention did (`7.7% (2 of 26; 2.1-24.1%)`), while a funnel's breakdown values, its
--by-segment groups and its --compare period, and the weekly dashboard's metric rates, showed
a bare percentage over a handful of persons."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_runner import run
from usertrack.analytics.proportions import THIN_SAMPLE, rate_text, wilson
from usertrack.reports.weekly import METRICS, metric_display


def _thin(steps: list[dict]) -> bool:
    return 0 < steps[0]["persons"] < THIN_SAMPLE


def test_a_funnel_breakdowns_thin_values_carry_their_sample_and_interval(
    fixed_demo_home: Path,
) -> None:
    args = ["funnel", "--by", "$browser"]
    answer = json.loads(run([*args, "-f", "json"], fixed_demo_home).stdout)
    thin = [e for e in answer["breakdown"] if _thin(e["steps"])]
    thick = [e for e in answer["breakdown"] if not _thin(e["steps"])]
    assert thin and thick, [e["steps"][0]["persons"] for e in answer["breakdown"]]
    entry = thin[0]
    first, second = entry["steps"][0], entry["steps"][1]
    low, high = wilson(second["persons"], first["persons"]) or (0, 0)
    assert second["sample"] == first["persons"]
    assert (second["conversion_low"], second["conversion_high"]) == (round(low, 1), round(high, 1))
    assert all("sample" not in s for s in thick[0]["steps"])  # a value of 30 or more: as it was
    assert all("sample" not in s for s in answer["steps"]) or _thin(answer["steps"])

    said = rate_text(second["conversion_from_start"], second["persons"], first["persons"])
    assert said.endswith("%)") and f"({second['persons']} of {first['persons']}; " in said
    md = run([*args, "-f", "md"], fixed_demo_home).stdout
    assert said.replace("(", "\\(").replace(")", "\\)") in md
    terminal = " ".join(run(args, fixed_demo_home, COLUMNS="250").stdout.split())
    assert said in terminal


def test_a_funnels_segment_groups_and_compared_period_mark_thin_rates(
    fixed_demo_home: Path,
) -> None:
    grouped = json.loads(
        run(["funnel", "--by-segment", "--days", "7", "-f", "json"], fixed_demo_home).stdout
    )
    parts = [p for p in grouped["by_segment"] if _thin(p["steps"])]
    assert parts, [p["steps"][0]["persons"] for p in grouped["by_segment"]]
    assert parts[0]["steps"][1]["sample"] == parts[0]["steps"][0]["persons"]

    args = ["funnel", "--days", "2", "--compare"]
    compared = json.loads(run([*args, "-f", "json"], fixed_demo_home).stdout)
    before = compared["previous"]["steps"]
    assert _thin(before), before[0]["persons"]
    assert before[1]["sample"] == before[0]["persons"]
    said = rate_text(before[1]["conversion_from_start"], before[1]["persons"], before[0]["persons"])
    md = run([*args, "-f", "md"], fixed_demo_home).stdout
    assert said.replace("(", "\\(").replace(")", "\\)") in md


def test_the_weekly_metrics_thin_rates_carry_their_sample() -> None:
    rate = next(m for m in METRICS if m.id == "run_success_rate")
    assert metric_display(rate, 7.6923, (2, 26)) == "7.7% (2 of 26; 2.1-24.1%)"
    assert metric_display(rate, 86.2, (666, 773)) == "86.2%"
    dau = next(m for m in METRICS if m.id == "dau")
    assert metric_display(dau, 12.0, (None, None)) == "12.0"
