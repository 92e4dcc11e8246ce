"""A hash of every table of a demo: its PostgreSQL tables and its events store.

    uv run python bench/demo_hashes.py --users 2000 --anchor 2026-11-22
    uv run python bench/demo_hashes.py --home /tmp/some-home     # an existing demo, as it is

Run it before and after changing usertrack/demo/ (any story): the same seed must give the same rows
(a generator that streams per chunk of users must not change the data). Prints one line
per table, then the manifest's story sizes.

Each table's digest is the row count and the sums, over its rows, of the two 64-bit halves of
md5(row rendered as text): row order and physical layout do not matter, only content, and any
changed row changes it. It needs no sort (a sorted string_agg of 5 million events asks DuckDB for
4 GiB).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _digest(row: tuple[int, int, int]) -> str:
    """The row count and the two sums of md5 halves, as one short hex digest."""
    import hashlib

    count, upper, lower = (int(v) for v in row)
    return f"{hashlib.md5(f'{upper} {lower}'.encode()).hexdigest()} ({count:,} rows)"


def table_hashes(home: Path) -> dict[str, str]:
    import psycopg

    from usertrack.checks.sandbox import connect
    from usertrack.demo.generator import ensure_demo, start_demo_postgres

    ws = ensure_demo(home)
    hashes: dict[str, str] = {}
    with psycopg.connect(start_demo_postgres(ws)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' ORDER BY table_name"
            )
        ]
        for table in tables:
            row = conn.execute(
                "SELECT count(*),"
                " coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0),"
                " coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)"
                f' FROM (SELECT md5(t::text) AS h FROM "{table}" t) rows'
            ).fetchone()
            assert row is not None
            hashes[f"postgres {table}"] = _digest(row)
    con = connect(ws.events_path, read_only=True)
    try:
        # usertrack_meta holds facts about the build (when, a fingerprint), not generated data.
        tables = [r[0] for r in con.execute("SHOW TABLES").fetchall() if r[0] != "usertrack_meta"]
        for table in tables:
            row = con.execute(
                "SELECT count(*),"
                " coalesce(sum(CAST(md5_number_upper(s) AS HUGEINT)), 0),"
                " coalesce(sum(CAST(md5_number_lower(s) AS HUGEINT)), 0)"
                f' FROM (SELECT CAST(t AS VARCHAR) AS s FROM "{table}" t)'
            ).fetchone()
            assert row is not None
            hashes[f"events {table}"] = _digest(row)
    finally:
        con.close()
    return hashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--anchor", type=date.fromisoformat, default=date(2026, 11, 22))
    parser.add_argument("--home", type=Path, help="an existing USERTRACK_HOME with a demo")
    args = parser.parse_args()
    from usertrack.demo.generator import ensure_demo, stop_demo

    home = args.home or Path(tempfile.mkdtemp(prefix="usertrack-hashes-"))
    try:
        if args.home is None:
            ensure_demo(home, users=args.users, anchor=args.anchor)
        for name, digest in table_hashes(home).items():
            print(f"{name}: {digest}")
        manifest = json.loads((home / "demo" / "manifest.json").read_text())
        print(f"stories: {json.dumps(manifest['stories'], sort_keys=True)}")
    finally:
        stop_demo(home)
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
