"""A run's scope is given to it (Workspace.scoped), never set on the workspace: --by-segment's
whole answer and each group's run on views of their own, and the workspace itself stays
unscoped while they run."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.analytics.test_by_segment import ACCOUNTS, GROUPS, RECORDS, SEGMENTS
from tests.analytics_helpers import write_export
from usertrack.scope import NO_SCOPE, Scope
from usertrack.workspace import Workspace

AS_OF = datetime(2026, 6, 4, 12, tzinfo=UTC)
# the lasting parts of a workspace: nothing of one run
LASTING = {"settings", "library", "rules", "sources", "demo", "notice", "warn", "_life", "_said"}


@pytest.fixture()
def ws(make_database: Callable[[str], str], tmp_path: Path) -> Iterator[Workspace]:
    from tests.handmade import SCHEMA
    from usertrack.core.config import load_settings, resolve_queries_dir
    from usertrack.workspace import open_workspace

    rules = tmp_path / "segments.yaml"
    rules.write_text(SEGMENTS)
    export = write_export(tmp_path / "events.jsonl", RECORDS)
    settings = load_settings(
        {
            "USERTRACK_HOME": str(tmp_path / "home"),
            "USERTRACK_EVENTS": str(export),
            "USERTRACK_CONFIG": "",
            "DATABASE_URL": make_database(SCHEMA + ACCOUNTS),
            "USERTRACK_CACHE_TTL": "0",
        }
    )
    with open_workspace(
        settings, queries_dir=resolve_queries_dir(None), segments_path=rules
    ) as opened:
        yield opened


def test_the_workspace_holds_no_per_run_mode() -> None:
    assert {f.name for f in dataclasses.fields(Workspace)} == LASTING


def test_a_view_binds_its_own_where_and_the_workspace_none(ws: Workspace) -> None:
    """Two views of one workspace at once, each its own --where; the workspace, none."""
    views = [ws.scoped(Scope(where=(f"properties.$current_url = '/{n}'",))) for n in (1, 2)]
    texts = [v.bind("posthog/active_persons", AS_OF, since=AS_OF)[0].sql for v in views]
    plain = ws.bind("posthog/active_persons", AS_OF, since=AS_OF)[0].sql
    assert "'/1'" in texts[0] and "'/2'" not in texts[0]
    assert "'/2'" in texts[1] and "'/1'" not in texts[1]
    assert "'/1'" not in plain and "'/2'" not in plain
    with pytest.raises(dataclasses.FrozenInstanceError):
        views[0].scope.where = ()  # type: ignore[misc]
    assert views[0].sources is ws.sources and views[0].library is ws.library


def test_by_segment_runs_each_group_on_a_view_of_its_own(ws: Workspace) -> None:
    """The whole answer's view keeps everyone's rows of the facts fetched once; each group's
    view binds its persons and shares that cache; the workspace is never scoped meanwhile."""
    from usertrack.analytics import by_segment

    seen: list[tuple[Scope, str, Scope]] = []

    def analyse(view: Workspace) -> int:
        query, _ = view.bind("posthog/active_persons", AS_OF, since=AS_OF)
        seen.append((view.scope, query.sql, ws.scope))
        return len(seen)

    result = by_segment.run(ws, AS_OF, analyse, by_segment=True)
    assert isinstance(result, by_segment.Segmented)
    assert [group for group, _ in result.parts] == GROUPS
    whole, *groups = seen
    assert all(outer is NO_SCOPE for _, _, outer in seen)
    assert ws.scope is NO_SCOPE
    facts = whole[0].facts
    assert facts is not None and facts.rows.everyone and facts.parts
    assert whole[0].persons is None
    for (scope, sql, _), group in zip(groups, GROUPS, strict=True):
        assert scope.persons is not None, group
        assert scope.facts is not None and scope.facts.cache is facts.cache
        assert not scope.facts.rows.everyone
        assert scope.persons.expression in sql


def test_a_dashboards_rehearsal_is_quiet_and_shares_apart(ws: Workspace) -> None:
    """A quiet view says nothing and counts no warning as said; what it shares is its own."""
    said: list[str] = []
    loud = dataclasses.replace(ws, notice=said.append, warn=said.append)
    shared: dict[Any, Any] = {}
    dashboard = loud.scoped(Scope(shared=shared))
    quiet = dashboard.scoped(dashboard.scope.but(shared={}), quiet=True)
    assert quiet.notice is None
    assert quiet.warn is not None
    quiet.warn("nothing")
    assert said == []
    assert quiet.scope.shared is not shared and dashboard.scope.shared is shared
