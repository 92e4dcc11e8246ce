"""Seconds and peak memory of a command together with the demo PostgreSQL it drives.

    uv run python bench/tree_memory.py --home /tmp/h -- usertrack demo --users 100000 --reset

`demo` loads its PostgreSQL through a server that is not its child (pg_ctl starts it as a daemon),
so the command's own maximum resident set (`/usr/bin/time -v`, getrusage) misses the backend doing
the COPY and the index builds. Every 50 ms this samples every process of the tree: the command,
its descendants, and the postmaster named in `<home>/demo/pg/postmaster.pid` with all of its
backends. It reports:

- `own`: the command's maximum resident set from the kernel (exact, whatever the sampling misses);
- `tree_pss`: the highest sum of proportional set sizes (PSS) over the tree in one sample. PSS
  shares each page among the processes mapping it, so PostgreSQL's shared buffers, mapped by
  every backend, count once: the memory the tree really holds;
- `tree_rss`: the highest sum of resident sets in one sample (shared pages counted once per
  process: an upper bound, pessimistic for PostgreSQL);
- `bound`: `own` plus the highest PSS of the PostgreSQL processes in any sample, an upper bound of
  the tree's peak that a sample cannot miss on the Python side.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class TreeMemory:
    seconds: float
    returncode: int
    own_mib: float  # the command's maximum resident set (kernel high-water mark)
    tree_pss_mib: float  # highest sum of PSS over the tree in one sample
    tree_rss_mib: float  # highest sum of RSS over the tree in one sample
    postgres_pss_mib: float  # highest sum of PSS of the PostgreSQL processes in one sample

    @property
    def bound_mib(self) -> float:
        return self.own_mib + self.postgres_pss_mib

    def summary(self) -> str:
        return (
            f"{self.seconds:.1f} s; peak: tree PSS {self.tree_pss_mib:.0f} MiB, tree RSS"
            f" {self.tree_rss_mib:.0f} MiB, own max RSS {self.own_mib:.0f} MiB, own + PostgreSQL"
            f" {self.bound_mib:.0f} MiB"
        )


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _tree(roots: list[int], kids: dict[int, list[int]]) -> set[int]:
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(kids.get(pid, ()))
    return seen


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; (0, 0) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    rss = pss = 0
    for line in text.splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def _postmaster(home: Path) -> int | None:
    try:
        return int((home / "demo" / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def measure_tree(
    cmd: list[str], env: dict[str, str], home: Path, interval: float = 0.05
) -> TreeMemory:
    """Run cmd (output discarded) and sample the memory of it and of its demo PostgreSQL."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tree_pss = tree_rss = pg_pss = 0
    while proc.poll() is None:
        kids = _children()
        mine = _tree([proc.pid], kids)
        master = _postmaster(home)
        postgres = _tree([master], kids) - mine if master is not None else set()
        sums = [_memory_kib(pid) for pid in mine]
        pg = [_memory_kib(pid) for pid in postgres]
        tree_rss = max(tree_rss, sum(r for r, _ in sums + pg))
        tree_pss = max(tree_pss, sum(p for _, p in sums + pg))
        pg_pss = max(pg_pss, sum(p for _, p in pg))
        time.sleep(interval)
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.stderr.write(err.decode()[-2000:])
    own = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return TreeMemory(
        seconds, proc.returncode, own / 1024, tree_pss / 1024, tree_rss / 1024, pg_pss / 1024
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="the USERTRACK_HOME of cmd")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- the command to run")
    args = parser.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    env = {**os.environ, "USERTRACK_HOME": str(args.home)}
    result = measure_tree(cmd, env, args.home)
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({**asdict(result), "bound_mib": result.bound_mib, "load": load}))
    else:
        print(result.summary(), f"(load average {load:.1f})")
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
