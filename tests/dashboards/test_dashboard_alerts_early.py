"""A dashboard's alerts panel: its work on the events alone (the activity query, the metric
triggers' figures from the events) starts with the panels, not once the classification of the
period's end is done; the pass then takes it, with the same alerts as when it works it out."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

AS_OF = datetime(2026, 11, 16, tzinfo=UTC)
NO_SEGMENTS = frozenset({"segment"})  # (the events alone: no app database here)


@pytest.fixture()
def workspace(tmp_path: Path, fixed_demo_home: Path) -> Iterator[Any]:
    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    home = tmp_path / "home"
    shutil.copytree(fixed_demo_home / "demo", home / "demo", ignore=shutil.ignore_patterns("pg"))
    settings = load_settings({"USERTRACK_HOME": str(home), "USERTRACK_CONFIG": ""})
    with open_workspace(
        settings,
        queries_dir=resolve_queries_dir(None),
        segments_path=resolve_segments_file(None),
        database=False,
    ) as ws:
        yield ws


def _document(found: Any) -> Any:
    from usertrack.act.alerts import alerts_document
    from usertrack.rendering.export import jsonable

    return jsonable(alerts_document(found))


def test_the_events_work_started_early_gives_the_same_alerts(workspace: Any) -> None:
    from usertrack.act.alerts import events_ahead, find_alerts, load_alert_rules
    from usertrack.core.config import resolve_alerts_file

    rules = load_alert_rules(resolve_alerts_file(None))
    alone = find_alerts(workspace, rules, AS_OF, skip_kinds=NO_SEGMENTS, reproducible=True)
    ahead = events_ahead(workspace, rules, AS_OF)
    metrics = {("metric", t.id) for t in rules.triggers if t.kind == "metric"}
    started = set(ahead._work)
    # the events' work is under way before the pass begins; the database's metrics are not
    assert ("activity",) in started and ("metric", "activation_drop") in started
    assert ("metric", "dau_drop") in started and ("metric", "run_success_low") not in started
    assert started - {("activity",)} < metrics
    early = find_alerts(
        workspace, rules, AS_OF, skip_kinds=NO_SEGMENTS, reproducible=True, ahead=ahead
    )
    assert not ahead._work  # every answer taken by the pass
    assert _document(early) == _document(alone)


def test_the_panels_early_work_stops_when_no_pass_takes_it(workspace: Any) -> None:
    from usertrack.core.clock import parse_as_of
    from usertrack.dashboards.compute import AlertsPanel, Period

    period = Period("2026-W46", "2026-11-09T00:00:00Z", "2026-11-16T00:00:00Z", 7)
    panel = AlertsPanel({"alerts_file": None}, period)
    panel.early(workspace, parse_as_of(period.end))
    ahead = panel.ahead
    assert ahead is not None and ahead._work
    panel.settle()  # a panel before it failed: the dashboard stops, its work with it
    assert panel.ahead is None and not ahead._work and ahead._token.cancelled
