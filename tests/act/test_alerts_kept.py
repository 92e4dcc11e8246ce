"""A metric trigger's figures from the events, kept beside the store (usertrack/act/alerts_kept.py):
read back while the store is unchanged, counted again once it changes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

AS_OF = datetime(2026, 11, 16, tzinfo=UTC)


@pytest.fixture()
def workspace(tmp_path: Path, fixed_demo_home: Path) -> Iterator[Any]:
    """The fixed demo's events in a home of this test's own (its kept answers start empty)."""
    import shutil

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


def test_kept_figures_are_read_back_until_the_store_changes(
    workspace: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.act import metric_alerts
    from usertrack.act.metric_alerts import MetricRule, series
    from usertrack.analytics.funnel.run import DEFAULT_STEPS

    time.sleep(2.1)  # a store written less than 2 s ago keeps no answer (storecache.SETTLE_NS)
    rules = [
        MetricRule("trend", "1d", "outside", history=14, k=3, event="$pageview", math="dau"),
        MetricRule(
            "funnel_conversion",
            "7d",
            "outside",
            history=6,
            k=3,
            steps=tuple(DEFAULT_STEPS),
            within=timedelta(days=7),
        ),
    ]
    counted = [series(workspace, rule, AS_OF) for rule in rules]
    assert any(v for v in counted[0][1])  # people were active: a figure to keep
    assert any(v is not None for v in counted[1][1])

    def count_again(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("counted again")

    monkeypatch.setattr(metric_alerts, "_events_series", count_again)
    assert [series(workspace, rule, AS_OF) for rule in rules] == counted
    # a later moment of the same day and week counts the same windows: read back too
    assert [series(workspace, rule, AS_OF + timedelta(hours=6)) for rule in rules] == counted
    # a kept file damaged: counted again, not read as figures
    for kept in (workspace.settings.home / "cache" / "store").glob("*.json"):
        kept.write_text('{"figures": ["1"], "notes": []}')
    with pytest.raises(AssertionError, match="counted again"):
        series(workspace, rules[0], AS_OF)
    # another moment is another answer
    with pytest.raises(AssertionError, match="counted again"):
        series(workspace, rules[0], AS_OF - timedelta(days=1))
    # the store written since: counted again
    store = Path(workspace.sources["posthog"].store_path)
    later = store.stat().st_mtime_ns + 1_000_000_000
    os.utime(store, ns=(later, later))
    with pytest.raises(AssertionError, match="counted again"):
        series(workspace, rules[0], AS_OF)


def test_a_store_replaced_under_an_open_workspace_keeps_nothing_of_the_old(
    workspace: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store renamed into place while a process has the old one open: that process counts on
    the one it has open, and keeps nothing under the new one's stamp, so that the next process
    counts the new store's figures."""
    import shutil

    import duckdb

    from usertrack.act.metric_alerts import MetricRule, series
    from usertrack.core.config import resolve_queries_dir, resolve_segments_file
    from usertrack.engines.local import storecache
    from usertrack.workspace import open_workspace

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # the new store's answers are kept at once
    rule = MetricRule("trend", "1d", "outside", history=14, k=3, event="$pageview", math="dau")
    before = series(workspace, rule, AS_OF)
    store = Path(workspace.sources["posthog"].store_path)
    new = tmp_path / "new.duckdb"
    shutil.copy(store, new)
    con = duckdb.connect(str(new))
    tables = con.execute(
        "SELECT DISTINCT table_name FROM duckdb_columns() WHERE schema_name = 'main'"
        " AND column_name = 'person_id' AND table_name IN (SELECT table_name FROM duckdb_tables())"
    ).fetchall()
    for (table,) in tables:  # half the persons gone: other figures
        con.execute(f'DELETE FROM "{table}" WHERE hash(person_id) % 2 = 0')
    con.close()
    os.replace(new, store)
    assert series(workspace, rule, AS_OF) == before  # the open store's figures
    # a workspace opened meanwhile reads the same open database (DuckDB's, one per file name)
    with open_workspace(
        workspace.settings,
        queries_dir=resolve_queries_dir(None),
        segments_path=resolve_segments_file(None),
        database=False,
    ) as meanwhile:
        assert series(meanwhile, rule, AS_OF) == before
    workspace.sources["posthog"].close()
    with open_workspace(
        workspace.settings,
        queries_dir=resolve_queries_dir(None),
        segments_path=resolve_segments_file(None),
        database=False,
    ) as fresh:
        after = series(fresh, rule, AS_OF)
    assert after != before
    shutil.rmtree(workspace.settings.home / "cache")
    with open_workspace(
        workspace.settings,
        queries_dir=resolve_queries_dir(None),
        segments_path=resolve_segments_file(None),
        database=False,
    ) as fresh:
        assert series(fresh, rule, AS_OF) == after
