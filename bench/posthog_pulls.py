"""Per-user pulls from live PostHog at a million persons: packed, OFFSET pages, hash partitions.

    uv run python bench/posthog_pulls.py                    # 1,000,000 persons, 8 s per full scan
    uv run python bench/posthog_pulls.py --persons 200000 --full-scan 2

The PostHog-compatible test server (tests/posthog_server.py) answers over real HTTP on 127.0.0.1
with PostHog's 50,000-row cap, running the HogQL on the local engine (engine="duckdb": the scan cost
is simulated below) over an events store of one
event per person. On top of that, each query is held for a simulated ClickHouse scan cost,
proportional to the people it aggregates: `--full-scan` seconds for all of them (PostHog's
synchronous limit is about 10 s). An OFFSET page, the probe and the count aggregate everyone; a
partition `cityHash64(email) % n = k` aggregates 1/n of them, as ClickHouse pushes a WHERE on a
GROUP BY key below the aggregation. The same per-user query file is pulled three ways by
usertrack's PostHog HTTP source: as it pulls a result of a row per person now (grouped by
email: the whole result packed into one request at once, rows as tuples in arrays, one full
scan), and as it pulls one when PostHog refuses the packed request: as a plain table (a probe,
then OFFSET pages, as every result was pulled before) and as a per-user query (a probe, a count,
then partitions).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.posthog_server import DEFAULT_KEY, serve  # noqa: E402
from usertrack.engines.local.eventstore import write_events  # noqa: E402
from usertrack.engines.posthog import PostHogHTTPSource  # noqa: E402
from usertrack.queries.library import Query  # noqa: E402

PROJECT = 4242
SQL = (
    "SELECT lowerUTF8(trim(person.properties.email, ' \\t\\r\\n')) AS email, count() AS events,"
    " max(timestamp) AS last_seen_at\nFROM events\nGROUP BY email"
)


def build_store(path: Path, persons: int) -> None:
    def load(con: Any) -> str:
        return f"""
            SELECT 'e-' || i AS uuid, '$pageview' AS event, 'd' || i AS distinct_id,
                   'p' || i AS person_id,
                   TIMESTAMP '2026-11-01 00:00:00' + INTERVAL (i % 100000) SECOND AS timestamp,
                   json_object('$session_id', 's' || i) AS properties,
                   json_object('email', 'user' || i || '@example.com') AS person_properties
            FROM range({persons}) AS t(i)
        """

    write_events(path, load)


def pull(url: str, returns: str) -> tuple[int, float, dict[str, Any]]:
    query = Query(
        name="per_user",
        folder="posthog",
        path=Path("/bench/per_user.sql"),
        sql=SQL,
        description="bench",
        returns=returns,
    )
    src = PostHogHTTPSource(DEFAULT_KEY, PROJECT, url, read_timeout=600)
    try:
        started = time.perf_counter()
        result = src.run(query, {})
        return len(result.rows), time.perf_counter() - started, result.meta
    finally:
        src.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument(
        "--full-scan", type=float, default=8.0, help="simulated seconds to aggregate everyone"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="usertrack-pulls-") as tmp:
        store = Path(tmp) / "events.duckdb"
        build_store(store, args.persons)

        simulated = {"seconds": 0.0, "queries": 0}

        def latency(text: str, values: dict[str, Any]) -> float:
            share = 1 / values["usertrack_partitions"] if "usertrack_partitions" in values else 1
            seconds = args.full_scan * share
            simulated["seconds"] += seconds
            simulated["queries"] += 1
            return seconds

        print(f"{args.persons:,} persons; a full scan costs {args.full_scan:g} s (simulated)")
        print()
        print("| pull | queries | wall time | simulated PostHog execution | rows |")
        print("|---|---|---|---|---|")
        ways = (
            ("packed", "per-user", False),
            ("OFFSET pages", "table", True),
            ("hash partitions", "per-user", True),
        )
        for label, returns, refuse_packed in ways:
            with serve(store, project_id=PROJECT, engine="duckdb") as fake:
                fake.latency = latency
                fake.refuse_packed = refuse_packed
                simulated.update(seconds=0.0, queries=0)
                rows, wall, meta = pull(fake.url, returns)
                how = meta["paging"]
                if how == "partitions":
                    how += f", {meta['partitions']} partitions, {meta['splits']} split"
                print(
                    f"| {label} ({how}) | {simulated['queries']} | {wall:.1f} s"
                    f" | {simulated['seconds']:.1f} s | {rows:,} |"
                )
                if rows != args.persons:
                    raise SystemExit(f"{label}: {rows:,} rows for {args.persons:,} persons")


if __name__ == "__main__":
    main()
