"""Every analytics command and `segments`, live (PostHog on real ClickHouse) beside local.

    uv run python bench/live_analytics.py --home DIR --users 200000   # the 10.7 M-event demo
    uv run python bench/live_analytics.py --home DIR --users 2000 --timezone America/Los_Angeles
    uv run python bench/live_analytics.py --home DIR --only retention --only activity
    uv run python bench/live_analytics.py --home DIR --python NODEV/.venv/bin/python

`--python`: the interpreter usertrack runs under, as a user's install has it (a clone of this
repository after `uv sync --no-dev`: no chdb, so no pandas for pyarrow to import, about 0.3 s of
every command); the code run is this checkout's (the command runs from it). Bytecode is cached
as after a normal install (PYTHONDONTWRITEBYTECODE is dropped for usertrack's runs).

The demo of `--users` people is generated in DIR (a USERTRACK_HOME) unless it is there already.
The tests' PostHog stand-in (tests/posthog_server.py) serves its events over real HTTP on
127.0.0.1: HogQL printed as PostHog prints it and run by ClickHouse in process (chdb), with
PostHog's row caps (100 rows without a LIMIT, 50,000 with one). Each command runs as a user runs
it (`usertrack CMD --format json --as-of ...` in a subprocess), once on the local engine and once
live (POSTHOG_HOST at the stand-in, DATABASE_URL at the demo's PostgreSQL), and the JSON of the
two is checked to be the same. For the live run: the query requests sent, the rows and bytes
PostHog answered, the rows those stand for once unpacked (a facts query answers a row per person
with arrays: the per-event rows it sent before), and the wall time; ClickHouse's own time is in
the live figure, the network's is not. The ClickHouse load (once, before the commands) is timed
apart. Where a live run's time goes: "ClickHouse s" is its queries' own time in ClickHouse;
"stand-in s" the stand-in's Python around them (PostHog's own parser and the printing, reading
ClickHouse's JSON, writing the answer's), which PostHog's servers do too but on their own
machines, in wall seconds, and "stand-in CPU s" the same in CPU seconds of its threads: the
requests of a command that go out at once are parsed side by side while another one's query
runs, so their wall seconds count waits for a core that ClickHouse's threads hold, and may
be several times the CPU; "usertrack CPU s" the usertrack process's CPU time (user and
system), "usertrack peak MB" its peak resident memory. All three share this machine's cores:
the live figure is not their sum. "live requests" is how many queries the command sent to
PostHog (docs/connecting.md).
The stand-in runs with Python's cyclic garbage collector off, as usertrack does
(usertrack.cli.program): its answers are millions of lists of plain values, which hold no cycle,
and with the collector on, going over them again and again took about five times the reading
and writing of the JSON itself (three answers of 65 MB: 6.7 s of CPU against 1.3 s). PostHog
does that work on its own machines, not on the user's. The stand-in writes its answers as
PostHog does, with orjson (posthog/renderers.py, REST_FRAMEWORK's DEFAULT_RENDERER_CLASSES in
posthog/settings/web.py; tests/posthog_json.py), about a seventh of json's time on these answers.

`funnel --by-segment` runs twice: first as a user's first command of the day (every user
classified live, as of the run's moment, and saved as that moment's snapshot), then after
`segments` has saved that moment's classification to the history (read instead). Between them
`retention --by-segment` and `activity --by-segment` read the snapshot the first one saved. The
first is that cold only on a home whose history holds no live snapshot of the moment (a fresh
home, or its `live:` snapshots deleted).

`report weekly` (the weekly dashboard, `--no-save`) reports the last complete week (the week
of the moment 7 days before the others'), live on an empty cache: in a home of its own, as a
user's first report of the week; its JSON is compared as every command's is. Live, it runs at
the default memory bound; its local side, which needs more at 200,000 users, with
`USERTRACK_DUCKDB_MEMORY=6GB`. `report weekly -f html` is the page a user opens, live only.
An async query's ClickHouse and stand-in seconds are its work in the background, counted
with the poll that finds it complete.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.engine_compare import strip_live_only  # noqa: E402
from tests.posthog_server import live_env, serve  # noqa: E402

COMMANDS = [
    ["funnel"],
    ["funnel", "--by-segment"],  # the persons' segments: a row per person, a bound list each run
    # the next analyses of that moment: the classification the run before saved is read
    ["retention", "--by-segment"],
    ["activity", "--by-segment"],
    ["paths", "--by-segment"],  # a group past MAX_LISTED ids: every person's sequences
    # a group past MAX_LISTED ids: every person's counts per point (trends_person_points.sql)
    ["trends", "$pageview", "--by-segment"],
    ["trends", "search_performed", "-m", "p90:result_count", "--by", "source", "--by-segment"],
    ["funnel", "--correlation"],
    ["retention"],
    ["activity"],
    ["paths"],
    ["sessions"],
    ["features"],
    ["segments"],
    # again, now that `segments` has saved the classification of that moment: the snapshot is
    # read instead of classifying every user live (a user's `segments` then `--by-segment`)
    ["funnel", "--by-segment", "--after-segments"],
    # the weekly dashboard: every panel of the week in one process (its queries counted together)
    ["report", "weekly"],
    # the same as a user opens it: the HTML page, charts drawn (live only)
    ["report", "weekly", "-f", "html"],
]
# The peak memory (MB, resident) of the last run of usertrack (_run; nan without GNU time)
PEAK_MB = [0.0]
GNU_TIME = "/usr/bin/time"
# Arguments of a row that name it in the table but are not usertrack's
ROW_ONLY = ("--after-segments",)
SOURCE_VARS = ("DATABASE_URL", "POSTHOG_HOST", "POSTHOG_PROJECT_ID", "POSTHOG_PERSONAL_API_KEY")


def _run(
    args: list[str],
    home: Path,
    env: dict[str, str],
    python: str = sys.executable,
    failed: list[str] | None = None,
) -> tuple[float, float, str]:
    """`usertrack -q ARGS` in a subprocess of `python`: its wall time, its CPU seconds (user
    and system: usertrack's own work) and its stdout. As after a normal install, its bytecode
    is cached (PYTHONDONTWRITEBYTECODE dropped: else every run compiles its imports again). A
    failed run stops the bench, unless `failed` is given: its exit code goes there."""
    full = {k: v for k, v in os.environ.items() if k not in SOURCE_VARS}
    full.pop("PYTHONDONTWRITEBYTECODE", None)
    full.update(USERTRACK_HOME=str(home), **env)
    # Through GNU time when there is one: it reports its own child's peak memory. (This
    # process holds the stand-in's ClickHouse, gigabytes: a child forked from it would count
    # them in its own peak until it execs.)
    peak = None
    if Path(GNU_TIME).exists():
        fd, name = tempfile.mkstemp(suffix=".rss")
        os.close(fd)
        peak = Path(name)
    timed = [GNU_TIME, "-f", "%M", "-o", str(peak)] if peak else []
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*timed, python, "-m", "usertrack", "-q", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
        cwd=REPO,
    )
    # Read on threads, then reaped with wait4: this run's own CPU time.
    with ThreadPoolExecutor(2) as pool:
        reading = [pool.submit(pipe.read) for pipe in (proc.stdout, proc.stderr) if pipe]
        _pid, status, usage = os.wait4(proc.pid, 0)
        stdout, stderr = (r.result() for r in reading)
    proc.returncode = os.waitstatus_to_exitcode(status)
    took = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    PEAK_MB[0] = float("nan")
    if peak is not None:
        lines = peak.read_text().split()
        peak.unlink()
        PEAK_MB[0] = int(lines[-1]) / 1024 if lines and lines[-1].isdigit() else float("nan")
    if proc.returncode != 0 and failed is not None:
        failed.append(f"exit {proc.returncode}")
    elif proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: exit {proc.returncode}: {stderr.strip()}")
    return took, cpu, stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="USERTRACK_HOME of the demo")
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--timezone", default="UTC", help="the PostHog project's timezone")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="COMMAND",
        help="run only this row (as the table names it, e.g. 'funnel --by-segment'); repeatable",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter usertrack runs under, as a user's install: a clone's"
        " .venv/bin/python after `uv sync --no-dev` (the code run is this checkout's);"
        " default: this one (the stand-in needs the development dependencies)",
    )
    args = parser.parse_args()
    chosen = [c for c in COMMANDS if not args.only or " ".join(c) in args.only]
    if not chosen:
        known = ", ".join(repr(" ".join(c)) for c in COMMANDS)
        raise SystemExit(f"--only: none of {args.only} is a row of this bench ({known})")

    from usertrack.demo.generator import ensure_demo, start_demo_postgres

    home: Path = args.home
    home.mkdir(parents=True, exist_ok=True)
    demo = ensure_demo(home, users=args.users)
    uri = start_demo_postgres(demo)
    as_of = json.loads(_run(["segments", "-f", "json", "-n", "1"], home, {}, args.python)[2])[
        "as_of"
    ]
    events = _events(demo.events_path)
    print(f"demo: {args.users:,} users, {events:,} events, as of {as_of}", file=sys.stderr)

    import gc

    gc.disable()  # the stand-in's, as usertrack's own (see the module's docstring)
    started = time.perf_counter()
    with serve(demo.events_path, project_id=4242, timezone=args.timezone) as fake:
        print(f"ClickHouse load: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        rows_out = [
            "| command | local s | live s | live requests | rows answered | rows unpacked"
            " | bytes answered | ClickHouse s | stand-in s | stand-in CPU s | usertrack CPU s"
            " | usertrack peak MB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for command in chosen:
            argv = [a for a in command if a not in ROW_ONLY]
            moment = str(as_of)
            if command[0] == "report":  # the last complete week (the week of as_of is not over)
                moment = datetime.fromisoformat(moment.replace("Z", "+00:00")) - timedelta(days=7)
                moment = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            html = "html" in command  # the page, live only: its JSON is the row before's
            argv = [a for a in argv if a not in ("-f", "html")]
            argv += ["--format", "html" if html else "json", "--as-of", moment]
            if command[0] == "report":  # the answer on stdout; this home's history left as it is
                argv += ["--out", "-", "--no-save"]
            # the weekly dashboard's panels run side by side, each with its own DuckDB: at
            # 200,000 users its local side needs more than the default limit (docs/performance.md);
            # the live side runs at the default
            limits = {"USERTRACK_DUCKDB_MEMORY": "6GB"} if command[0] == "report" else {}
            local_s, local_out = float("nan"), ""
            if not html:
                local_s, _, local_out = _run(argv, home, limits, args.python)
            before = len(fake.requests)
            # --refresh: what PostHog answers now, never the home's cache of an earlier run.
            failed: list[str] = []
            live_home, live_argv = home, [*argv, "--refresh"]
            if command[0] == "report":  # no --refresh: an empty cache, a home of its own
                live_home, live_argv = Path(tempfile.mkdtemp(prefix="usertrack-report-")), argv
            live_s, live_cpu, live_out = _run(
                live_argv, live_home, live_env(fake, uri), args.python, failed
            )
            if live_home is not home:
                shutil.rmtree(live_home, ignore_errors=True)
            records = fake.requests[before:]
            sent = [r for r in records if r["path"].endswith("/query/")]
            clickhouse, standin, standin_cpu = _server_seconds(records)
            # an async query's rows come in the poll that finds it complete
            rows = sum(int(r.get("rows", 0)) for r in records)
            unpacked = sum(int(r.get("elements", 0)) for r in records)
            size = sum(int(r.get("bytes", 0)) for r in records)
            same = (
                failed
                or html
                or strip_live_only(json.loads(local_out)) == strip_live_only(json.loads(live_out))
            )
            name = " ".join(command) + ("" if same else " (JSON DIFFERS)")
            live_text = f"{live_s:.2f}" + (f" (failed, {failed[0]})" if failed else "")
            local_text = "-" if html else f"{local_s:.2f}"
            rows_out.append(
                f"| {name} | {local_text} | {live_text} | {len(sent)} | {rows:,}"
                f" | {unpacked:,} | {size:,} | {clickhouse:.2f} | {standin:.2f} | {standin_cpu:.2f}"
                f" | {live_cpu:.2f}"
                f" | {PEAK_MB[0]:,.0f} |"
            )
            print(rows_out[-1], file=sys.stderr)
            # which queries, PostHog's answer to each (200, or a status that was retried) and
            # each one's own ClickHouse seconds
            said = [
                f"{(r.get('body') or {}).get('name', '?')} ({r.get('status', '?')},"
                f" {r.get('timings', {}).get('clickhouse', 0.0):.2f} s)"
                for r in sent
            ]
            print(f"  sent: {', '.join(said)}", file=sys.stderr)
    print("\n".join(rows_out))


def _server_seconds(records: list[dict[str, Any]]) -> tuple[float, float, float]:
    """ClickHouse's own time over a command's requests, and the stand-in's Python around it
    (PostHog's parser and the printing, reading ClickHouse's JSON, writing the answer's; not
    the wait for the one chdb session, which is another query's ClickHouse time), in wall and
    in CPU seconds. An async query's are those of its work in the background, handed to the
    poll that finds it complete, and that poll's writing of the answer (its CPU: its wall time
    is mostly the wait for the query)."""
    clickhouse = standin = standin_cpu = 0.0
    for r in records:
        t = r.get("timings") or {}
        ch, wait = t.get("clickhouse", 0.0), t.get("wait", 0.0)
        clickhouse += ch
        if "async_took" in t:
            standin += t["async_took"] - ch - wait + float(r.get("cpu", 0.0))
            standin_cpu += t["async_cpu"] + float(r.get("cpu", 0.0))
        elif r["path"].endswith("/query/"):
            standin += float(r.get("took", 0.0)) - ch - wait
            standin_cpu += float(r.get("cpu", 0.0))
    return clickhouse, standin, standin_cpu


def _events(store: Path) -> int:
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


if __name__ == "__main__":
    main()
