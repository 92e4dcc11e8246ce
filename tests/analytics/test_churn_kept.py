"""Churn's answer kept beside the events store (usertrack.analytics.churn.kept): read back while
the store and the app's facts are unchanged, counted again when the app's database changes, and
never kept under `--where`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run

AS_OF = ["--as-of", "2026-11-15T12:00:00"]


def _churn(home: Path, *args: str) -> tuple[str, dict[str, Any]]:
    done = run(["churn", *AS_OF, "-f", "json", *args], home=home)
    assert done.exit_code == 0, done.stderr
    return done.stdout, json.loads(done.stdout)


def _kept_texts(home: Path) -> dict[Path, dict[str, Any]]:
    """The churn answers kept beside the store, by file."""
    found = {}
    for path in sorted((home / "cache" / "store").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and {"app", "answer"} <= set(doc):
            found[path] = doc
    return found


def _mark(home: Path, count: int) -> None:
    """Every kept churn answer's at-risk count made `count`: a figure no count gives."""
    for path, doc in _kept_texts(home).items():
        doc["answer"]["at_risk_count"] = count
        path.write_text(json.dumps(doc), encoding="utf-8")


def test_a_second_churn_reads_the_answer_the_first_kept(
    demo_copy: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first churn counts and keeps its answer; the next one, on the same store and app
    database, reads it (a figure written into the kept text shows) and gives the same JSON
    as the count, byte for byte, with the backtest and without; a change in the app's
    database is counted again; `--where` keeps nothing."""
    from usertrack.demo.database import start_demo_postgres
    from usertrack.demo.generator import ensure_demo
    from usertrack.engines.local import storecache

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # the copied store is a moment old
    home = demo_copy(tmp_path / "home", 300, date(2026, 11, 16))
    counted, doc = _churn(home)
    assert doc["app_database"] and doc["at_risk"]["persons"] > 0
    assert len(_kept_texts(home)) == 1
    again, _ = _churn(home)
    assert again == counted
    plain, _ = _churn(home, "--no-backtest")
    assert _churn(home, "--no-backtest")[0] == plain
    assert len(_kept_texts(home)) == 2

    _mark(home, -7)
    assert _churn(home)[1]["at_risk"]["persons"] == -7  # read, not counted

    _churn(home, "--where", "properties.$browser = 'Chrome'")
    assert len(_kept_texts(home)) == 2

    # another plan for one user: the app's facts differ from those the answer was counted from
    uri = start_demo_postgres(ensure_demo(home))
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            "UPDATE wasp_user SET credits = coalesce(credits, 0) + 1000"
            " WHERE id = (SELECT min(id) FROM wasp_user)"
        )
    recounted, doc = _churn(home)
    assert doc["at_risk"]["persons"] > 0
    assert json.loads(recounted)["periods"] == json.loads(counted)["periods"]


def test_a_new_demos_first_churn_reads_the_answer_the_demo_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`usertrack demo` counts the new demo's first churn and keeps its answer: the first
    `churn` reads it (a figure written into the kept text shows)."""
    from usertrack.engines.local import storecache

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # a 50-user store is a moment old
    home = tmp_path / "home"
    made = run(["demo", "--users", "50"], home=home)
    assert made.exit_code == 0, made.stderr
    assert len(_kept_texts(home)) == 1
    _mark(home, -3)
    done = run(["churn", "-f", "json"], home=home)
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["at_risk"]["persons"] == -3
