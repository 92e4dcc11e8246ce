"""One writer per USERTRACK_HOME: a second holder waits, then fails with exit 10; a killed holder
releases the lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from usertrack.core.errors import EXIT_BUSY, BusyError
from usertrack.core.locks import exclusive

_HOLD = (
    "import sys, time; from pathlib import Path; from usertrack.core.locks import exclusive\n"
    "with exclusive(Path(sys.argv[1]), 'alerts', what='test'):\n"
    "    print('held', flush=True); time.sleep(60)\n"
)


def _holder(home: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(home)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_holder_waits_then_fails_with_busy(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    try:
        started = time.monotonic()
        with (
            pytest.raises(BusyError) as caught,
            exclusive(tmp_path, "alerts", what="alerts run", wait=0.5),
        ):
            pass
        assert time.monotonic() - started >= 0.5
        assert caught.value.exit_code == EXIT_BUSY == 10
        assert "another alerts run is running" in str(caught.value)
        # Another name is another lock.
        with exclusive(tmp_path, "sync", what="sync", wait=0):
            pass
    finally:
        proc.kill()
        proc.wait()


def test_kill_9_releases_the_lock(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    proc.kill()
    proc.wait()
    with exclusive(tmp_path, "alerts", what="alerts run", wait=2):
        assert (tmp_path / "alerts.lock").stat().st_mode & 0o777 == 0o600
