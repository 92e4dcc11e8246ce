"""A strict funnel on the local engine reads from the events store only the events that can
change a person's progress (usertrack.analytics.funnel.order.strict_facts): the same answer as
from every event of the range, over random events with other events between and at the same
second as steps, restarts, the window's edge, excluded emails, an exclusion step and --where."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import record, run_json, write_export

AS_OF = "2026-06-10T00:00:00"
STEPS = ["signup", "start", "create", "invite"]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(7)
    names = [*STEPS, "$pageview", "search", "upgrade"]
    records = []
    for p in range(400):
        email = f"u{p}@datagen.dev" if p % 37 == 0 else f"u{p}@x.io"
        when = datetime(2026, 5, 28, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 9000))
        for _ in range(rng.randrange(1, 14)):
            when += timedelta(seconds=rng.choice([0, 0, 30, 600, 3600, 86400]))
            name = "signup" if rng.random() < 0.15 else rng.choice(names)
            props = {"$browser": rng.choice(["Chrome", "Safari"])}
            records.append(record(len(records) + 1, name, when, f"d{p}", f"p{p}", email, props))
    return write_export(tmp_path_factory.mktemp("strict") / "events.jsonl", records)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--window", "1h"],
        ["--exclude", "upgrade"],
        ["--where", "properties.$browser = 'Chrome'"],
    ],
)
def test_a_strict_funnel_from_the_store_is_the_one_from_every_event(
    export: Path, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.analytics.funnel import order as funnel_order

    def funnel() -> dict[str, Any]:
        argv = [*STEPS, "--order", "strict", "--since", "2026-05-29", "--until", "2026-06-08"]
        return run_json("funnel", [*argv, *args], as_of=AS_OF, USERTRACK_EVENTS=str(export))

    reduced = funnel()
    called = []

    def every_event(*a: Any) -> bool:
        called.append(a)
        return False

    monkeypatch.setattr(funnel_order, "strict_facts", every_event)
    from usertrack.analytics.funnel import run as funnels

    monkeypatch.setattr(funnels, "strict_facts", every_event)
    assert funnel() == reduced and called
    assert [s["persons"] for s in reduced["steps"]][1] > 20
