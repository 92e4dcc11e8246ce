"""Measure usertrack's speed and memory on the demo workspace; print a Markdown table.

    uv run python bench/bench.py            # the default demo (2,000 users) and --help
    uv run python bench/bench.py --large    # also 100,000 users (~5 million events)

Every measurement runs the real console script in a fresh process with its own USERTRACK_HOME
under a temporary folder, so nothing of yours is touched. Peak memory is the maximum resident set
of the usertrack process (the embedded PostgreSQL server is a separate process, reported apart).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "usertrack"

MEASURE = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
elapsed = time.perf_counter() - t
rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if proc.returncode:
    sys.stderr.write(proc.stderr.decode()[-2000:])
print(f"{elapsed} {rss_kib} {proc.returncode}")
"""

# In every demo (the story of an email whose case differs between the sources).
DEEP_DIVE_EMAIL = "jane.doe@acme.io"

BARE_TYPER = """
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "world") -> None:
    \"\"\"Say hello.\"\"\"
    print(name)
app()
"""


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak MiB of one run of `cmd` (a fresh process)."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd], env=env, capture_output=True, text=True, check=True
    )
    elapsed, rss, code = out.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return float(elapsed), int(rss) / 1024


def median_of(n: int, cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    runs = [measure(cmd, env) for _ in range(n)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def concurrency(home: Path) -> tuple[float, float, float]:
    """Wall time of the per-user queries with both sources at once, and of each source alone."""
    from usertrack.clock import now_utc
    from usertrack.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.profiles import exclude_pattern, run_per_user_queries
    from usertrack.workspace import open_workspace

    settings = load_settings({**environment(home), "USERTRACK_HOME": str(home)})
    ws = open_workspace(
        settings,
        queries_dir=resolve_queries_dir(None),
        segments_path=resolve_segments_file(None),
    )
    with ws:
        as_of = ws.default_as_of() if ws.demo else now_utc()
        params = {"as_of": as_of, "exclude_pattern": exclude_pattern(ws.rules.exclude)}

        def timed(kinds: list[str]) -> float:
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                run_per_user_queries(
                    ws.library, {k: ws.sources[k] for k in kinds}, as_of=as_of, params=params
                )
                best = min(best, time.perf_counter() - t)
            return best

        return timed(["posthog", "neon"]), timed(["posthog"]), timed(["neon"])


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTHOG_", "DATABASE_URL"))}
    env.pop("USERTRACK_EVENTS", None)
    env["USERTRACK_HOME"] = str(home)
    # An empty user config file: measure the demo, never the sources of your own config.
    empty = home.parent / "empty-config.toml"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_text("")
    env["USERTRACK_CONFIG"] = str(empty)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also measure 100,000 users")
    parser.add_argument("--users", type=int, default=100_000, help="size of the large demo")
    parser.add_argument("--repeat", type=int, default=5, help="runs per warm measurement")
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str]] = []
    work = Path(tempfile.mkdtemp(prefix="usertrack-bench-"))
    os.chdir(REPO)
    try:
        # --help against a bare Typer app's --help.
        bare = work / "bare.py"
        bare.write_text(BARE_TYPER)
        env = environment(work / "help-home")
        bare_s, _ = median_of(11, [sys.executable, str(bare), "--help"], env)
        help_s, _ = median_of(11, [str(BIN), "--help"], env)
        rows.append(
            (
                "`usertrack --help`",
                f"{help_s:.3f} s",
                "-",
                f"{help_s / bare_s:.2f}x bare Typer ({bare_s:.3f} s); target ≤ 1.5x",
            )
        )

        # Demo generation + first segments, from nothing.
        home = work / "default"
        env = environment(home)
        first_s, first_mb = measure([str(BIN), "segments", "--format", "json"], env)
        rows.append(
            (
                "demo generation + first `segments` (2,000 users)",
                f"{first_s:.2f} s",
                f"{first_mb:.0f} MiB",
                "target < 20 s",
            )
        )
        warm_s, warm_mb = median_of(args.repeat, [str(BIN), "segments", "--format", "json"], env)
        rows.append(
            (
                "warm `segments` (2,000 users)",
                f"{warm_s:.2f} s",
                f"{warm_mb:.0f} MiB",
                f"median of {args.repeat}; target < 2 s",
            )
        )
        table_s, _ = median_of(args.repeat, [str(BIN), "segments"], env)
        rows.append(
            ("warm `segments` as a table", f"{table_s:.2f} s", "-", f"median of {args.repeat}")
        )
        reports = work / "reports"
        reports.mkdir()
        report_s, report_mb = median_of(
            args.repeat, [str(BIN), "report", "weekly", "--out", str(reports)], env
        )
        rows.append(
            (
                "warm `report weekly` (2,000 users)",
                f"{report_s:.2f} s",
                f"{report_mb:.0f} MiB",
                f"median of {args.repeat}; two classifications + 9 queries; target < 5 s",
            )
        )
        changes_s, _ = median_of(
            args.repeat, [str(BIN), "segments", "--changes", "--format", "json"], env
        )
        rows.append(
            (
                "warm `segments --changes`",
                f"{changes_s:.2f} s",
                "-",
                f"median of {args.repeat}; baseline computed (no snapshot a week back)",
            )
        )
        both, posthog_s, neon_s = concurrency(home)
        rows.append(
            (
                "per-user queries, both sources at once",
                f"{both:.2f} s",
                "-",
                f"PostHog alone {posthog_s:.2f} s, Postgres alone {neon_s:.2f} s,"
                f" sum {posthog_s + neon_s:.2f} s (best of 3)",
            )
        )
        # One user's deep dive: per-user queries filtered by the email, not the whole profile.
        user_cmd = [str(BIN), "user", DEEP_DIVE_EMAIL, "--format", "json"]
        user_s, user_mb = median_of(args.repeat, user_cmd, env)
        rows.append(
            (
                "warm `user EMAIL --format json` (2,000 users)",
                f"{user_s:.2f} s",
                f"{user_mb:.0f} MiB",
                f"median of {args.repeat}; 11 queries for one email; target < 1 s",
            )
        )
        failures_s, failures_mb = median_of(
            args.repeat, [str(BIN), "failures", "--format", "json"], env
        )
        rows.append(
            (
                "warm `failures --format json` (2,000 users)",
                f"{failures_s:.2f} s",
                f"{failures_mb:.0f} MiB",
                f"median of {args.repeat}; 30 days of failures categorized in DuckDB",
            )
        )
        plan_cmd = [str(BIN), "tracking-plan", "--format", "json"]
        plan_s, plan_mb = median_of(args.repeat, plan_cmd, env)
        rows.append(
            (
                "warm `tracking-plan --format json` (2,000 users)",
                f"{plan_s:.2f} s",
                f"{plan_mb:.0f} MiB",
                f"median of {args.repeat}; the shipped plan, 60 days of events, PostHog only",
            )
        )
        funnel_cmd = [str(BIN), "funnel", "--format", "json"]
        retention_cmd = [str(BIN), "retention", "--format", "json"]
        activity_cmd = [str(BIN), "activity", "--format", "json"]
        features_cmd = [str(BIN), "features", "--format", "json"]
        for label, cmd, note in (
            ("funnel", funnel_cmd, "the 5-step activation funnel, 30 days"),
            ("retention", retention_cmd, "8 weekly first-time cohorts, any event"),
            ("activity", activity_cmd, "30 days, 8 lifecycle weeks, heatmap"),
            ("features", features_cmd, "30 days against the 30 before"),
        ):
            took, mb = median_of(args.repeat, cmd, env)
            rows.append(
                (
                    f"warm `{label} --format json` (2,000 users)",
                    f"{took:.2f} s",
                    f"{mb:.0f} MiB",
                    f"median of {args.repeat}; {note}; target < 1 s",
                )
            )

        if args.large:
            home = work / "large"
            env = environment(home)
            gen_s, gen_mb = measure([str(BIN), "demo", "--users", str(args.users)], env)
            manifest = json.loads((home / "demo" / "manifest.json").read_text())
            events = manifest.get("rows", {}).get("events", "?")
            rows.append(
                (
                    f"`demo --users {args.users:,}` ({events:,} events)"
                    if isinstance(events, int)
                    else f"`demo --users {args.users:,}`",
                    f"{gen_s:.1f} s",
                    f"{gen_mb:.0f} MiB",
                    "generation",
                )
            )
            big_first, big_first_mb = measure([str(BIN), "segments"], env)
            big_s, big_mb = median_of(3, [str(BIN), "segments"], env)
            rows.append(
                (
                    f"`segments` at {args.users:,} users",
                    f"{big_s:.2f} s",
                    f"{max(big_mb, big_first_mb):.0f} MiB",
                    f"median of 3 (first: {big_first:.2f} s); target < 10 s, < 2 GB",
                )
            )
            big_both, big_posthog, big_neon = concurrency(home)
            rows.append(
                (
                    f"per-user queries at {args.users:,} users, both sources at once",
                    f"{big_both:.2f} s",
                    "-",
                    f"PostHog alone {big_posthog:.2f} s, Postgres alone {big_neon:.2f} s,"
                    f" sum {big_posthog + big_neon:.2f} s (best of 3; 2 cores shared)",
                )
            )
            big_json_s, big_json_mb = median_of(3, [str(BIN), "segments", "-f", "json"], env)
            rows.append(
                (
                    f"`segments --format json` at {args.users:,} users",
                    f"{big_json_s:.2f} s",
                    f"{big_json_mb:.0f} MiB",
                    "median of 3; every user written out",
                )
            )
            big_user_s, big_user_mb = median_of(3, user_cmd, env)
            rows.append(
                (
                    f"`user EMAIL` at {args.users:,} users",
                    f"{big_user_s:.2f} s",
                    f"{big_user_mb:.0f} MiB",
                    "median of 3",
                )
            )
            big_plan_s, big_plan_mb = median_of(3, plan_cmd, env)
            rows.append(
                (
                    f"`tracking-plan` at {args.users:,} users",
                    f"{big_plan_s:.2f} s",
                    f"{big_plan_mb:.0f} MiB",
                    "median of 3; target < 3 s warm",
                )
            )
            big_fail_s, big_fail_mb = median_of(3, [str(BIN), "failures", "--format", "json"], env)
            rows.append(
                (
                    f"`failures` at {args.users:,} users",
                    f"{big_fail_s:.2f} s",
                    f"{big_fail_mb:.0f} MiB",
                    "median of 3",
                )
            )
            for label, cmd in (
                ("funnel", funnel_cmd),
                ("retention", retention_cmd),
                ("activity", activity_cmd),
                ("features", features_cmd),
            ):
                took, mb = median_of(3, cmd, env)
                rows.append(
                    (
                        f"`{label}` at {args.users:,} users",
                        f"{took:.2f} s",
                        f"{mb:.0f} MiB",
                        "median of 3; target < 1 s warm",
                    )
                )
    finally:
        subprocess.run(["pkill", "-f", str(work)], check=False)
        shutil.rmtree(work, ignore_errors=True)

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print()
    print("| measurement | time | peak memory | note |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
