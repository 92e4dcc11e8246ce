"""What the ported PostHog insight cases share: their events, one store per module, both engines.

Each module of this package ports cases of one PostHog test file: the events of each case
(persons, distinct_ids, timestamps, properties), its date range and frozen time, and the numbers
PostHog's test asserts. Every case of a module is written into one events export, so the module
imports one store and starts one PostHog-compatible server (tests/posthog_server.py: real HTTP on
127.0.0.1, PostHog's HogQL printing on real ClickHouse). A case's persons and event names carry
its own prefix (`f01.user signed up`), so no case sees another's events; where a command reads
every event (paths), a case gets a store of its own.

The `engine` fixture runs each case twice: on the local DuckDB store and over the live HTTP path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import run_json
from tests.posthog_server import live_env, serve


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A moment in UTC."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@dataclass(frozen=True)
class Ev:
    """One event of a PostHog test: its person (the person's first distinct_id in the test),
    the distinct_id it was sent with (default: the person's), name, time, properties, the
    person's email (default: one made of the person's id) and other person properties."""

    person: str
    event: str
    when: datetime
    props: dict[str, Any] = field(default_factory=dict)
    distinct_id: str | None = None
    email: str | None = None
    person_props: dict[str, Any] | None = None


def sequence(start: datetime, *events: tuple[Any, ...]) -> list[Ev]:
    """Events a PostHog test creates without a timestamp (at the frozen or real "now", one
    after the other): each a second after the one before, in the order the test creates them.
    Each tuple is (person, event) or (person, event, props) or (person, event, props,
    distinct_id)."""
    out = []
    for n, spec in enumerate(events):
        person, event, *rest = spec
        props = rest[0] if rest else {}
        distinct = rest[1] if len(rest) > 1 else None
        out.append(Ev(person, event, start + timedelta(seconds=n), props, distinct))
    return out


class Cases:
    """The cases of one module: each case's events under its own prefix."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.keys: set[str] = set()

    def add(self, key: str, events: Sequence[Ev], *, prefix_events: bool = True) -> Names:
        if key in self.keys:
            raise ValueError(f"case key {key!r} is used twice: its events would mix")
        self.keys.add(key)
        names = Names(key, prefix_events)
        for e in events:
            person = f"{key}-{e.person}"
            self.records.append(
                {
                    "uuid": f"00000000-0000-0000-0000-{len(self.records) + 1:012d}",
                    "event": names(e.event),
                    "distinct_id": f"{key}-{e.distinct_id or e.person}",
                    "person_id": person,
                    "timestamp": e.when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "properties": e.props,
                    "person_properties": {
                        "email": e.email or f"{person}@posthog-cases.io",
                        **(e.person_props or {}),
                    },
                }
            )
        return names

    def write(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(r) + "\n" for r in self.records))
        return path


@dataclass(frozen=True)
class Names:
    """A case's event names as written in the store: `names("paid")` is `f01.paid`."""

    key: str
    prefix_events: bool = True

    def __call__(self, event: str) -> str:
        return f"{self.key}.{event}" if self.prefix_events else event

    def __getitem__(self, events: str) -> list[str]:
        """Several names at once, separated by `|`: `names["a|b"]`."""
        return [self(e) for e in events.split("|")]


Engine = Callable[..., dict[str, Any]]


def engines(cases: Cases, name: str) -> Callable[..., Any]:
    """A module-scoped fixture, parametrized by engine, that writes the module's cases into one
    store and answers `engine(command, args, as_of)` with the command's JSON: on the local
    engine, or live over HTTP (the store served by the tests' PostHog, the cache off)."""

    @pytest.fixture(scope="module", params=["local", "live"])
    def engine(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Engine]:
        from usertrack.engines.local.eventstore import import_events

        folder = tmp_path_factory.mktemp(f"{name}-{request.param}")
        export = cases.write(folder / "events.jsonl")
        home = folder / "home"
        home.mkdir()
        if request.param == "local":

            def local(command: str, args: list[str], *, as_of: str) -> dict[str, Any]:
                return run_json(command, args, as_of=as_of, USERTRACK_HOME=str(home),
                                USERTRACK_EVENTS=str(export), USERTRACK_CACHE_TTL="0")  # fmt: skip

            yield local
            return
        store = folder / "served.duckdb"
        import_events(export, store)
        with serve(store, project_id=4242) as fake:
            env = live_env(fake, USERTRACK_CACHE_TTL="0", USERTRACK_HOME=str(home))

            def live(command: str, args: list[str], *, as_of: str) -> dict[str, Any]:
                return run_json(command, args, as_of=as_of, **env)

            yield live

    return engine


def persons(doc: dict[str, Any]) -> list[int]:
    """A funnel's persons per step."""
    return [int(s["persons"]) for s in doc["steps"]]
