"""usertrack.core.clock: one naive_utc, and a naive moment is UTC whatever the machine's zone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from usertrack.core.clock import naive_utc, parse_as_of
from usertrack.segments.rules import classify, load_segments


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone set five hours west of UTC (UTC-5 all year)."""
    monkeypatch.setenv("TZ", "EST+05")
    time.tzset()
    assert time.timezone == 5 * 3600
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_naive_moment_is_already_utc_and_comes_back_as_it_is(far_from_utc: None) -> None:
    moment = datetime(2026, 11, 16, 0, 0, 7, 123)
    assert naive_utc(moment) == moment and naive_utc(moment).tzinfo is None


def test_an_aware_moment_is_converted_to_utc_and_loses_its_zone(far_from_utc: None) -> None:
    tokyo = timezone(timedelta(hours=9))
    assert naive_utc(datetime(2026, 11, 16, 9, 30, tzinfo=tokyo)) == datetime(2026, 11, 16, 0, 30)
    assert naive_utc(datetime(2026, 11, 16, 9, 30, tzinfo=UTC)) == datetime(2026, 11, 16, 9, 30)
    assert naive_utc(parse_as_of("2026-11-16T12:00:00-05:00")) == datetime(2026, 11, 16, 17)


def test_rules_see_a_naive_as_of_as_utc_on_a_machine_in_another_zone(
    far_from_utc: None, tmp_path: Path
) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text(
        "segments:\n"
        "  - {id: midnight, name: Midnight, action: A,"
        " rule: \"as_of = TIMESTAMP '2026-11-16 00:00:00'\"}\n"
    )
    con = duckdb.connect()
    con.execute("CREATE TABLE profile AS SELECT 'a@x.io' AS email")
    result = classify(load_segments(path), con, datetime(2026, 11, 16))
    assert result.counts == {"midnight": 1}
