"""The MCP server's worker processes (usertrack.mcp.workers), each a real process forked as the
server forks them: a query that outlives its interrupt ends its worker with the limit's one
line, a call past the call's time limit has its worker killed, and the next call is answered by
a fresh worker. (Through the SDK's stdio client, with real commands: tests/mcp/test_mcp.py.)"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from usertrack.core.errors import EXIT_LIMIT

TIMEOUT = "0.5"  # USERTRACK_DUCKDB_TIMEOUT, in seconds


def _worker(conn: Any, files: dict[str, str]) -> None:
    """A worker whose command is `sleep SECONDS` inside a DuckDB query's time limit (a query
    that looks at no interrupt), `nap SECONDS` outside it, `pid` (its process id) or `temp`
    (the folder its DuckDB connections spill into)."""
    from usertrack.checks import sandbox
    from usertrack.mcp import workers as mcp_workers

    # A forked worker has the environment of the fork server, which the first pool of this
    # process started (another test's, maybe): the query limit is set here, in the worker.
    os.environ["USERTRACK_DUCKDB_TIMEOUT"] = TIMEOUT

    def run(argv: list[str], quiet: bool) -> mcp_workers.Result:
        if argv[0] == "pid":
            return 0, str(os.getpid()), "", None
        if argv[0] == "temp":
            sandbox.connect().close()
            return 0, sandbox.private_folder(), "", None
        if argv[0] == "nap":
            time.sleep(float(argv[1]))
            return 0, "napped", "", None
        con = sandbox.connect()
        with sandbox.time_limit(con, "probe"):
            time.sleep(float(argv[1]))
        return 0, "slept", "", None

    mcp_workers.serve_calls(conn, lambda: None, run)


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Any:
    from usertrack.mcp.workers import Workers

    monkeypatch.setenv("USERTRACK_DUCKDB_TIMEOUT", TIMEOUT)  # the call's limit, in this process
    pool = Workers(_worker, {})
    yield pool
    pool.close()


def test_a_query_outliving_its_interrupt_ends_its_worker_only(workers: Any) -> None:
    first = workers.run(["pid"], True)
    assert workers.run(["pid"], True) == first  # an idle worker answers the next call
    started = time.monotonic()
    code, out, err, told = workers.run(["sleep", "60"], True)
    assert time.monotonic() - started < 45  # cut well before the 60 s it asked for
    assert (code, out) == (EXIT_LIMIT, "")
    assert err == (
        "usertrack: error: probe: stopped after 0.5 s, the time limit of one DuckDB query"
        " (USERTRACK_DUCKDB_TIMEOUT, or [limits] duckdb_timeout_seconds in the config file)\n"
    )
    assert told is not None and (told.lines + "\n", told.data) == (err, None)  # its own words
    code, pid, _err, _told = workers.run(["pid"], True)
    assert code == 0 and pid != first[1]  # a fresh worker


def test_a_call_past_its_time_limit_has_its_worker_killed(
    workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.mcp import workers as mcp_workers

    monkeypatch.setattr(mcp_workers, "call_seconds", lambda: 1.0)
    started = time.monotonic()
    code, out, err, _told = workers.run(["nap", "60"], True)
    assert time.monotonic() - started < 10
    assert (code, out) == (EXIT_LIMIT, "")
    assert err == (
        "usertrack: error: the call stopped after 1 s, the time limit of one tool call (twice"
        " USERTRACK_DUCKDB_TIMEOUT, and 30 s)\n"
    )
    assert workers.run(["pid"], True)[0] == 0


def test_the_mcp_server_runs_with_the_cyclic_collector_on(tmp_path: Any) -> None:
    """A one-shot command turns Python's cyclic garbage collector off (usertrack.cli.program
    main); `usertrack mcp` runs for hours, so it serves with the collector on."""
    import subprocess
    import sys

    script = (
        "import gc, sys\n"
        "import usertrack.mcp.server as m\n"
        "m.serve = lambda *a, **k: print('collector on' if gc.isenabled() else 'collector off')\n"
        "sys.argv = ['usertrack', 'mcp']\n"
        "from usertrack.launch import main\n"
        "main()\n"
    )
    env = {**os.environ, "USERTRACK_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "collector on"


def test_a_worker_spills_inside_the_servers_folder_and_leaves_nothing(workers: Any) -> None:
    """A worker is killed, so its own exit handlers never run: the server makes and removes
    the folder it spills into, which would otherwise stay in the system's temp folder."""
    from usertrack.checks import sandbox

    code, folder, _err, _told = workers.run(["temp"], True)
    assert code == 0 and os.path.isdir(folder)
    assert os.path.dirname(folder) == sandbox.private_folder()  # this process's, removed at exit
    workers.run(["sleep", "60"], True)  # the worker ends itself
    assert not os.path.exists(folder)
    code, second, _err, _told = workers.run(["temp"], True)  # a fresh worker, a fresh folder
    assert code == 0 and second != folder and os.path.isdir(second)
    workers.close()  # the idle worker killed
    assert not os.path.exists(second)
