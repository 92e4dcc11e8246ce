"""Time `usertrack mcp` tool calls through a real MCP client (the SDK's stdio client); print a
Markdown table.

    uv run python bench/mcp_calls.py               # the default demo (2,000 users), a fresh home
    uv run python bench/mcp_calls.py --home DIR    # a demo you already have

The server runs in its own process, as an assistant starts it. Each row is a tool call's wall
time at the client (request sent to answer read): the first call (the server opens its sources,
cold), then warm calls (the sources open) with arguments not asked before, then the same calls
again (answered from memory while no file they read changes). On Linux, each call's CPU time in
the server's process (all its threads: user + system, from /proc) is given beside: what a call
costs the machine, steadier than wall time on a shared one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _server_cpu() -> float | None:
    """CPU seconds (user + system) of this process's descendants so far: the server's and its
    worker processes' (Linux)."""

    def children(pid: str) -> list[str]:
        return [
            child
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]

    try:
        total = 0.0
        pending = children("self")
        while pending:
            pid = pending.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
                pending.extend(children(pid))
            except OSError:  # a process that ended since it was listed
                continue
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


CPU: dict[str, list[float]] = {}


async def _timed(client: Any, name: str, arguments: dict[str, Any]) -> tuple[float, Any]:
    before = _server_cpu()
    start = time.perf_counter()
    result = await client.call_tool(name, arguments)
    elapsed = time.perf_counter() - start
    after = _server_cpu()
    if result.is_error:
        raise SystemExit(f"{name} {arguments}: {result.content[0].text}")
    if before is not None and after is not None:
        CPU.setdefault(name, []).append(after - before)
    return elapsed, result


async def measure(home: Path, rounds: int) -> list[tuple[str, str]]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "usertrack", "mcp"],
        env={"USERTRACK_HOME": str(home)},
        cwd=str(REPO),
    )
    rows: list[tuple[str, str]] = []
    async with Client(server) as client:
        start = time.perf_counter()
        await client.list_tools()
        rows.append(
            ("tools/list (server started, nothing opened)", _s(time.perf_counter() - start))
        )
        cold, answer = await _timed(client, "segments", {"max_items": 0})
        rows.append(
            ("first call: `segments` (opens the sources; a fresh home: builds the demo)", _s(cold))
        )
        document = json.loads(answer.content[0].text)["untrusted_data"]  # the command's JSON
        emails = [u["email"] for u in document["users"]]
        end = date.fromisoformat(document["as_of"][:10])
        step = max(1, len(emails) // (rounds + 1))
        picked = emails[step::step][:rounds]
        warm: dict[str, list[float]] = {"segments": [], "user": [], "failures": []}
        again: dict[str, list[float]] = {"segments": [], "user": [], "failures": []}
        calls: list[tuple[str, dict[str, Any]]] = []
        for i, email in enumerate(picked):
            calls.append(("segments", {"as_of": str(end - timedelta(days=i + 1))}))
            calls.append(("user", {"email": email}))
            calls.append(("failures", {"days": 20 + i}))
        CPU.clear()
        for name, arguments in calls:
            warm[name].append((await _timed(client, name, arguments))[0])
        fresh = {name: CPU.get(name, []) for name in warm}
        for name, arguments in calls:
            again[name].append((await _timed(client, name, arguments))[0])
    for name in warm:
        rows.append((f"warm `{name}`, new arguments ({len(warm[name])} calls)", _range(warm[name])))
    for name, spent in fresh.items():
        if spent:
            rows.append(
                (
                    f"server CPU of a warm `{name}`, new arguments",
                    f"median {_s(statistics.median(spent))}",
                )
            )
    for name in again:
        rows.append(
            (f"warm `{name}`, asked before ({len(again[name])} calls)", _range(again[name]))
        )
    return rows


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s"


def _range(values: list[float]) -> str:
    return f"{min(values):.3f}\u2013{max(values):.3f} s (median {statistics.median(values):.3f} s)"


def main() -> None:
    import anyio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a USERTRACK_HOME with a demo (default: new)")
    parser.add_argument("--rounds", type=int, default=5, help="warm calls per tool")
    args = parser.parse_args()
    for name in ("DATABASE_URL", "POSTHOG_PROJECT_ID", "POSTHOG_PERSONAL_API_KEY"):
        os.environ.pop(name, None)  # the demo, whatever the shell has
    with tempfile.TemporaryDirectory(prefix="usertrack-mcp-bench-") as scratch:
        home = args.home or Path(scratch)
        rows = anyio.run(measure, home, args.rounds)
        if args.home is None:
            from usertrack.demo.server import stop_server

            stop_server(home / "demo" / "pg")
    load = os.getloadavg()[0]
    print(f"| `usertrack mcp` on the default demo (load {load:.1f}) | time at the client |")
    print("|---|---|")
    for what, figure in rows:
        print(f"| {what} | {figure} |")


if __name__ == "__main__":
    main()
