"""CPU seconds PostHog's parser (hogql-parser, the C++ parser PostHog runs on every query it is
sent) takes on each shipped PostHog query file as usertrack sends it: the text printed from the
file's parse tree, without --where.

    uv run python bench/parse_cost.py            # the 15 costliest files and the total
    uv run python bench/parse_cost.py --all      # every file

PostHog parses every request's text anew, so this is CPU a live command costs PostHog (and the
tests' stand-in) before ClickHouse starts. Each figure is the best of 3 parses in one process:
the parser is no faster on a text it has parsed before.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def costs() -> list[tuple[float, int, str]]:
    """(best CPU seconds of 3 parses, characters, query id) of each shipped PostHog file's
    printed text, costliest first."""
    from usertrack.analytics.where import spliced
    from usertrack.engines.hogql.parser import install_errors_module
    from usertrack.engines.hogql.printer import sent_text
    from usertrack.engines.posthog.values import strip_sql
    from usertrack.queries.library import load_queries

    install_errors_module()
    import hogql_parser

    library = load_queries(REPO / "queries")
    rows: list[tuple[float, int, str]] = []
    for query in sorted(library.queries.values(), key=lambda q: q.id):
        if query.folder != "posthog" or not query.sql.strip():
            continue
        text = sent_text(strip_sql(spliced(query.sql, ())))  # as sent without --where
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            hogql_parser.parse_select_json(text)
            best = min(best, time.process_time() - start)
        rows.append((best, len(text), query.id))
    return sorted(rows, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="every file, not the 15 costliest")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = costs()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print("| query file | characters sent | parser CPU |")
    print("|---|---|---|")
    for seconds, size, query_id in rows if args.all else rows[:15]:
        print(f"| {query_id} | {size:,} | {seconds:.3f} s |")
    total = sum(r[0] for r in rows)
    print(f"| all {len(rows)} files | {sum(r[1] for r in rows):,} | {total:.2f} s |")
    print(f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
