"""engagement_facts.sql, the engagement score's facts for `segments` (docs/metrics.md, "Each
segment's figures"): churn_persons.sql's columns of the same name, kept to the persons the score
reads (an event in the window, an email), on both engines, from events with emails that change,
persons without one and bounds on a day's edges; and what `segments` reads for the score."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.engines.test_churn_rollups import BOUNDS, edge_rows
from tests.posthog_server import DEFAULT_KEY, serve
from tests.rollup_stores import EXCLUDE, events_store
from usertrack.analytics.churn.score import ENGAGEMENT, score_facts
from usertrack.engines.base import Source
from usertrack.engines.local.source import LocalPostHogSource
from usertrack.engines.posthog import PostHogHTTPSource
from usertrack.queries.library import load_queries

REPO = Path(__file__).resolve().parents[2]
COLUMNS = list(ENGAGEMENT)
PROJECT = 4242


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # persons whose email changes, one without an email, events of no person (churn_rollups')
    return events_store(tmp_path_factory, "engagement_facts", edge_rows())


@pytest.fixture(scope="module")
def engines(store: Path) -> Iterator[dict[str, Source]]:
    local = LocalPostHogSource(store)
    with serve(store, project_id=PROJECT) as fake:
        live = PostHogHTTPSource(DEFAULT_KEY, PROJECT, host=fake.url, backoff_base=0.01)
        try:
            yield {"local": local, "live": live}
        finally:
            live.close()
            local.close()


def _canon(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows comparable across engines: times naive UTC to the microsecond, counts as ints."""
    out = []
    for row in rows:
        out.append(
            tuple(
                v.replace(tzinfo=None)
                if isinstance(v, datetime)
                else int(v)
                if isinstance(v, int)
                else v
                for v in row
            )
        )
    return sorted(out, key=repr)


@pytest.mark.parametrize("engine", ["local", "live"])
@pytest.mark.parametrize("bounds", BOUNDS[:6])
def test_the_rows_are_churn_persons_rows_the_score_reads(
    engines: dict[str, Source], engine: str, bounds: tuple[datetime, ...]
) -> None:
    library = load_queries(REPO / "queries")
    source = engines[engine]
    since, as_of = bounds[0], bounds[1]
    values = {"since": since, "as_of": as_of, "exclude_pattern": EXCLUDE}
    got = source.run(library.get("posthog/engagement_facts").filled(()), values)
    assert list(got.columns) == COLUMNS
    # churn_persons with the backtest's window made empty, as churn without a backtest asks it
    persons = source.run(
        library.get("posthog/churn_persons").filled(()),
        {**values, "then": since, "then_since": since},
    )
    at = {c: i for i, c in enumerate(persons.columns)}
    want = [
        tuple(row[at[c]] for c in COLUMNS)
        for row in persons.rows
        if row[at["active_days"]] > 0 and row[at["email"]] != ""
    ]
    assert want, "bounds that hold scored persons"
    assert _canon(got.rows) == _canon(want)


def test_segments_reads_only_the_scored_persons_facts(fixed_demo_home: Path) -> None:
    """The score's facts `segments` fetches are engagement_facts': the persons it scores, with
    the columns it reads, none of churn's backtest."""
    from usertrack.analytics.churn.score import user_scores_sql
    from usertrack.core.clock import parse_as_of
    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    moment = parse_as_of("2026-11-16")
    settings = load_settings({"USERTRACK_HOME": str(fixed_demo_home), "USERTRACK_CONFIG": ""})
    with (
        open_workspace(
            settings,
            queries_dir=resolve_queries_dir(None),
            segments_path=resolve_segments_file(None),
        ) as ws,
        score_facts(ws, moment) as con,
    ):
        columns = [d[0] for d in con.execute("SELECT * FROM persons LIMIT 0").description]
        held = con.execute("SELECT count(*) FROM persons").fetchall()[0][0]
        scored = len(con.execute(user_scores_sql(moment, None)).fetchall())
    assert columns == COLUMNS
    assert held == scored > 0
