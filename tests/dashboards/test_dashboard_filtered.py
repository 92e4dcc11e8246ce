"""A dashboard whose event panel filters its queries (`where`, `who`, `segment`, `by_segment`):
the other panels' queries, the alerts panel's among them, are not filtered with it, and no
filtered answer is kept as an unfiltered one's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli_runner import run
from usertrack.segments.history import history_path

REPO = Path(__file__).resolve().parents[2]

ALERTS_ALONE = """\
title: Alerts alone
period: week
panels:
  - analysis: alerts
    title: Alerts
"""

BESIDE_A_FILTER = """\
title: Alerts beside a filtered panel
period: week
panels:
  - analysis: trends
    title: Chrome page views
    events: [$pageview]
    where: ["properties.$browser = 'Chrome'"]
  - analysis: funnel
    title: Chrome activation
    where: ["properties.$browser = 'Chrome'"]
  - analysis: alerts
    title: Alerts
"""


def test_a_filtered_panel_leaves_the_alerts_panels_figures_alone(
    fixed_demo_home: Path, tmp_path: Path
) -> None:
    """The DAU trigger always fires (below a million), its detail the day's DAU and the days
    before: the same beside a panel of Chrome's events only as alone, kept answers or not."""
    history_path(fixed_demo_home).unlink(missing_ok=True)
    shipped = (REPO / "alerts.yaml").read_text(encoding="utf-8")
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        shipped.replace("    outside: {history: 14, k: 3}", "    below: 1000000", 1),
        encoding="utf-8",
    )
    assert rules.read_text(encoding="utf-8") != shipped

    def dau_details(text: str, *, forget: bool = True) -> list[str]:
        if forget:  # nothing kept beside the store: every figure counted
            shutil.rmtree(fixed_demo_home / "cache" / "store", ignore_errors=True)
        board = tmp_path / "board.yaml"
        board.write_text(text, encoding="utf-8")
        result = run(
            ["-q", "report", str(board), "-f", "json", "--out", "-", "--as-of", "2026-11-16"],
            fixed_demo_home,
            USERTRACK_ALERTS=str(rules),
        )
        assert result.exit_code == 0, result.stderr
        [data] = [
            p["data"] for p in json.loads(result.stdout)["panels"] if p["analysis"] == "alerts"
        ]
        return [a["detail"] for a in data["alerts"] if a["trigger"] == "dau_drop"]

    alone = dau_details(ALERTS_ALONE)
    assert len(alone) == 1 and "below 1,000,000" in alone[0]
    assert dau_details(BESIDE_A_FILTER) == alone
    # computed beside the filter first, then alone from what was kept: still everyone's
    assert dau_details(BESIDE_A_FILTER) == alone
    assert dau_details(ALERTS_ALONE, forget=False) == alone
