"""entered_segment's classifications: a dry pass classifies only what its answer needs, and
answers as a pass that classifies everyone at both moments."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture()
def workspace(fixed_demo_home: Path) -> Iterator[Any]:
    """The fixed demo (300 users, anchor 2026-11-16) opened as a command opens it, with an
    empty history; each classification of everyone is counted in `ws.everyone`."""
    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.segments.history import history_path
    from usertrack.workspace import Workspace, open_workspace

    def clean() -> None:
        history_path(fixed_demo_home).unlink(missing_ok=True)
        (fixed_demo_home / "alerts-segments.json").unlink(missing_ok=True)

    clean()
    settings = load_settings({"USERTRACK_HOME": str(fixed_demo_home), "USERTRACK_CONFIG": ""})
    ws = open_workspace(
        settings, queries_dir=resolve_queries_dir(None), segments_path=resolve_segments_file(None)
    )
    everyone: list[datetime] = []
    classify = Workspace.classify

    def counted(self: Workspace, as_of: datetime, *args: Any, **kwargs: Any) -> Any:
        everyone.append(as_of)
        return classify(self, as_of, *args, **kwargs)

    ws.everyone = everyone  # type: ignore[attr-defined]
    mp = pytest.MonkeyPatch()
    mp.setattr(Workspace, "classify", counted)
    try:
        with ws:
            yield ws
    finally:
        mp.undo()
        clean()


def _entered(run: Any) -> list[tuple[str, str]]:
    return [(a["email"], a["detail"]) for a in run.alerts if a["trigger"] == "entered_segment"]


def _saved(home: Path) -> set[str]:
    from usertrack.segments.history import history_path

    with sqlite3.connect(history_path(home)) as con:
        return {row[0] for row in con.execute("SELECT as_of FROM snapshots")}


def test_a_dry_pass_classifies_a_day_earlier_only_the_people_in_the_segments(
    workspace: Any,
) -> None:
    from usertrack.act.alerts import find_alerts, load_alert_rules, record_segments
    from usertrack.act.alerts_segments import SomePeople
    from usertrack.core.config import resolve_alerts_file

    ws = workspace
    rules = load_alert_rules(resolve_alerts_file(None))
    as_of = ws.default_as_of()
    kept = find_alerts(ws, rules, as_of, keeps=True)  # everyone, at both moments
    assert sorted(ws.everyone) == [kept.baseline["as_of"], as_of]  # (side by side: any order)
    assert len(_entered(kept)) >= 3
    ws.everyone.clear()
    dry = find_alerts(ws, rules, as_of, keeps=False)
    assert ws.everyone == [as_of]  # the day earlier: the people in the segments now only
    assert isinstance(dry.baseline["snapshot"], SomePeople)
    assert dry.alerts == kept.alerts and dry.baseline["from"] == kept.baseline["from"] == "data"
    assert set(dry.classified) == {as_of}  # some people's segments are never a snapshot
    # The history's snapshot of the moment stands for classifying everyone at it.
    record_segments(ws, dry)
    assert _saved(ws.settings.home) == {"2026-11-16T00:00:00Z"}
    (ws.settings.home / "alerts-segments.json").unlink()  # the history alone
    ws.everyone.clear()
    again = find_alerts(ws, rules, as_of, keeps=False)
    assert ws.everyone == []
    assert again.alerts == kept.alerts
    # A pass that keeps its segments after it: the file of what it compared, nothing classified.
    ws.everyone.clear()
    record_segments(ws, again)
    assert (ws.settings.home / "alerts-segments.json").exists()
    assert _saved(ws.settings.home) == {"2026-11-16T00:00:00Z"}


class _Nobody:
    """A classification in which nobody is in a segment: a snapshot unlike the data's."""

    def __init__(self, as_of: datetime) -> None:
        self.as_of = as_of
        self.users: list[dict[str, Any]] = []


def test_a_pass_at_a_chosen_moment_ignores_the_saved_snapshot_of_it(workspace: Any) -> None:
    from usertrack.act.alerts import find_alerts, load_alert_rules
    from usertrack.core.config import resolve_alerts_file
    from usertrack.segments.history import open_history

    ws = workspace
    rules = load_alert_rules(resolve_alerts_file(None))
    as_of = ws.default_as_of()
    first = find_alerts(ws, rules, as_of, reproducible=True, keeps=False)
    assert len(_entered(first)) >= 3
    # A snapshot of that very moment that disagrees with the data (saved before late events).
    with open_history(ws) as history:
        assert history.save(_Nobody(as_of)) is not None
    assert _saved(ws.settings.home) == {"2026-11-16T00:00:00Z"}
    ws.everyone.clear()
    again = find_alerts(ws, rules, as_of, reproducible=True, keeps=False)
    assert as_of in ws.everyone  # classified from the data, not taken from the history
    assert again.alerts == first.alerts
