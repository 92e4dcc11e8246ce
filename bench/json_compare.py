"""Compare every command's JSON answer between two revisions of usertrack, byte for byte.

    uv run python bench/json_compare.py --before ed656e8 --after main            # 2,000 users
    uv run python bench/json_compare.py --before ed656e8 --after main --users 100000
    uv run python bench/json_compare.py --before main --after main               # run-to-run noise

Each revision is checked out in a throwaway worktree (`git worktree add --detach`) with a virtual
environment of its own (`uv sync --no-dev`), and builds its own demo of --users users at the same
--anchor (the demo is deterministic for a size and an anchor) in a home of its own, with an empty
user config and no PostHog or database variables (bench/bench.py's `environment`). Every command
of COMMANDS then runs in both with `-f json --as-of <anchor>`, from an empty folder (so the shipped
rules and queries of each revision answer, never a ./segments.yaml), and their stdout is compared
byte for byte after `normalise`. A table says, per command, same or DIFFERS, the exit codes and the
sizes; for a difference, the first JSON path where the two differ and both values.

--env NAME=VALUE sets a variable for both (USERTRACK_APP_MIRROR=0: the app's queries as files on
its database); --rounds 2 runs the list again in the same homes (answered from what was kept);
--only TEXT runs the commands that contain TEXT. It exits 1 when any answer differs. Everything
made is removed at the end (worktrees, environments, homes, demo servers), unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# bench/bench.py, a script beside this one: its checkout and its environment of a home.
from bench import REPO, environment

# `{email}`: a user of the first non-empty segment of `segments -f json` (the before revision's);
# `{cohort}`: the Monday two weeks before the anchor's week; `{day}`: the day before the anchor;
# `{segment}`: SEGMENT.
SEGMENT = "at_risk"
WHO = "subscription_status = 'trialing'"
WHERE = "properties.$browser = 'Chrome'"

# Every command that answers JSON, with the options that take another path through the code.
# (`report weekly -f json` writes the report to stdout with -o -.) Not here: `insight` (PostHog's
# saved insights: live only), `doctor` and `cache` (no JSON), `demo`, `mcp`, `sync` and
# `tracking-plan init` (they write or serve; no answer), `alerts --notify` (sends), `query --list`.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("segments",),
    ("segments", "--segment", "{segment}"),
    ("user", "{email}"),
    ("funnel",),
    ("funnel", "--by", "$browser"),
    ("funnel", "--by-segment"),
    ("funnel", "--by-account"),
    ("funnel", "--trend", "week"),
    ("funnel", "--time-to-convert"),
    ("funnel", "--correlation"),
    ("funnel", "--compare"),
    ("funnel", "--order", "strict"),
    ("funnel", "--order", "any"),
    ("funnel", "--exclude", "plan_upgraded"),
    ("funnel", "--persons", "2:dropped"),
    ("funnel", "--who", WHO, "--dropped", "workspace_created", "--paths"),
    ("funnel", "--who", WHO),
    ("funnel", "--where", WHERE),
    ("funnel", "--segment", "{segment}"),
    ("retention",),
    ("retention", "--compare"),
    ("retention", "--by", "$browser"),
    ("retention", "--by-segment"),
    ("retention", "--by-account"),
    ("retention", "--period", "day", "--periods", "30"),
    ("retention", "--persons", "{cohort}:week1"),
    ("retention", "--who", WHO),
    ("retention", "--where", WHERE),
    ("retention", "--segment", "{segment}"),
    ("activity",),
    ("activity", "--by-account"),
    ("activity", "--by-segment"),
    ("activity", "--compare"),
    ("activity", "--persons", "dormant"),
    ("activity", "--where", WHERE),
    ("trends", "$pageview"),
    ("trends", "$pageview", "-m", "dau"),
    ("trends", "$pageview", "-m", "weekly_active"),
    ("trends", "$pageview", "--by", "$browser"),
    ("trends", "$pageview", "-i", "week"),
    ("trends", "$pageview", "--compare"),
    ("trends", "$pageview", "--by-segment"),
    ("trends", "$pageview", "--persons", "{day}"),
    ("trends", "search_performed", "-m", "p90:result_count", "--by", "source"),
    ("paths",),
    ("paths", "--from", "/pricing"),
    ("paths", "--from", "/pricing", "--persons", "/pricing:/signup"),
    ("paths", "--by-segment"),
    ("paths", "--where", WHERE),
    ("features",),
    ("features", "--compare"),
    ("features", "--who", WHO),
    ("sessions",),
    ("sessions", "--where", WHERE),
    ("churn",),
    ("churn", "--no-backtest", "--who", WHO),
    ("tools",),
    ("tools", "--tool", "run_python"),
    ("tools", "--segment", "{segment}"),
    ("accounts",),
    ("failures",),
    ("alerts",),
    ("tracking-plan",),
    ("report", "weekly", "-o", "-"),
    ("query", "posthog/daily_active"),
    ("query", "posthog/activity"),
    ("query", "posthog/weekly_visitors"),
    ("query", "neon/weekly_metrics"),
    ("query", "neon/failure_trend"),
)


# What legitimately differs from run to run or from home to home, normalised in both answers before
# they are compared (found by comparing a revision with itself: --before main --after main).
# Texts replaced: each revision has its own home and its own worktree, and an answer may name a
# shipped rules file it read by its path in the worktree (`failures`' "rules_path"; `user`,
# `alerts`, `tracking-plan` and `report weekly` name one too).
PLACEHOLDERS = ("<HOME>", "<CHECKOUT>")
# JSON keys whose values are dropped wherever they occur, each with the reason. None so far: at a
# fixed --as-of no answer carries a timing or a moment of its run (checked at ed656e8 and after).
VOLATILE_KEYS: dict[str, str] = {}


# The variables the summary names when they are set (--env).
ENV_SHOWN = ("USERTRACK_APP_MIRROR", "USERTRACK_DB_CONNECTIONS")


@dataclass
class Revision:
    name: str
    checkout: Path
    home: Path
    env: dict[str, str]

    @property
    def usertrack(self) -> str:
        return str(self.checkout / ".venv" / "bin" / "usertrack")


@dataclass
class Answer:
    code: int
    stdout: bytes
    stderr: str
    seconds: float


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kwargs)


GENERATE = """
import sys
from datetime import date
from pathlib import Path
from usertrack.demo.generator import ensure_demo
ensure_demo(Path(sys.argv[1]), users=int(sys.argv[2]), anchor=date.fromisoformat(sys.argv[3]))
"""


def prepare(
    label: str, rev: str, work: Path, users: int, anchor: date, extra: dict[str, str]
) -> Revision:
    """A worktree of `rev`, its environment and its demo home (`extra`: more variables)."""
    checkout = work / f"{label}-checkout"
    run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(checkout), rev])
    run(["uv", "sync", "--no-dev", "--quiet"], cwd=checkout, env=_uv_env())
    home = work / f"{label}-home"
    env = {**environment(home), **extra}
    start = time.perf_counter()
    python = str(checkout / ".venv" / "bin" / "python")
    # From the checkout: `python -c` puts its folder first on sys.path, and from any other
    # checkout (this one's) it would import that checkout's usertrack.
    imported = run([python, "-c", "import usertrack; print(usertrack.__file__)"], cwd=checkout)
    if not Path(imported.stdout.strip()).is_relative_to(checkout):
        raise SystemExit(f"{label}: the environment imports {imported.stdout.strip()}")
    run([python, "-c", GENERATE, str(home), str(users), anchor.isoformat()], env=env, cwd=checkout)
    took = time.perf_counter() - start
    print(f"{label}: {rev} at {checkout.name}, demo of {users:,} users in {took:.0f} s", flush=True)
    return Revision(rev, checkout, home, env)


def _uv_env() -> dict[str, str]:
    """uv's environment: the checkout's own .venv, never the one this script runs in."""
    skip = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    return {k: v for k, v in os.environ.items() if k not in skip}


def ask(revision: Revision, args: list[str], cwd: Path, as_of: date, timeout: float) -> Answer:
    cmd = [revision.usertrack, "-q", *args, "-f", "json", "--as-of", as_of.isoformat()]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, cwd=cwd, env=revision.env, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return Answer(-1, b"", f"timed out after {timeout:.0f} s", time.perf_counter() - start)
    stderr = done.stderr.decode(errors="replace").strip()
    return Answer(done.returncode, done.stdout, stderr, time.perf_counter() - start)


def normalise(text: bytes, revision: Revision) -> bytes:
    """The answer with its home and checkout named by placeholders, VOLATILE_KEYS dropped."""
    out = text.decode(errors="replace")
    for path, placeholder in zip((revision.home, revision.checkout), PLACEHOLDERS, strict=True):
        out = out.replace(str(path), placeholder)
    if VOLATILE_KEYS:
        try:
            data = json.loads(out)
        except ValueError:
            return out.encode()
        return json.dumps(_drop_keys(data), ensure_ascii=False, indent=2).encode()
    return out.encode()


def _drop_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_keys(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_drop_keys(v) for v in value]
    return value


def first_difference(before: bytes, after: bytes) -> str:
    """Where two answers first differ: a JSON path and both values, else a byte offset."""
    try:
        a, b = json.loads(before), json.loads(after)
    except ValueError:
        at = next(
            (i for i, (x, y) in enumerate(zip(before, after, strict=False)) if x != y),
            min(len(before), len(after)),
        )
        line = before[:at].count(b"\n") + 1
        return f"byte {at} (line {line}): {before[at : at + 60]!r} / {after[at : at + 60]!r}"
    found = next(_differences(a, b, "$"), None)
    if found is None:
        return "same JSON, other bytes (key order, spacing or number spelling)"
    return found


def _differences(a: Any, b: Any, path: str) -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            missing = [k for k in a if k not in b]
            added = [k for k in b if k not in a]
            if missing or added:
                yield f"{path}: keys only before {missing[:5]}, only after {added[:5]}"
                return
            yield f"{path}: key order {list(a)[:8]} / {list(b)[:8]}"
            return
        for key in a:
            yield from _differences(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from _differences(x, y, f"{path}[{i}]")
        if len(a) != len(b):
            yield f"{path}: {len(a)} items / {len(b)}"
    elif a != b or type(a) is not type(b):
        yield f"{path}: {_short(a)} / {_short(b)}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def fill(args: tuple[str, ...], values: dict[str, str]) -> list[str]:
    return [arg.format(**values) if "{" in arg and "}" in arg else arg for arg in args]


def pick_email(segments_json: bytes) -> str:
    """A user of the first segment that has one, from `segments -f json`."""
    found = re.search(rb'"email":\s*"([^"]+@[^"]+)"', segments_json)
    if found is None:
        raise SystemExit("no email in segments -f json: cannot run `user EMAIL`")
    return found.group(1).decode()


def compare(
    before: Revision,
    after: Revision,
    as_of: date,
    timeout: float,
    only: list[str] | None,
    rounds: int = 1,
) -> int:
    """Run COMMANDS in both, `rounds` times over (a later round reads what the first kept:
    the answer caches); print the table; return how many differ."""
    cwd = Path(tempfile.mkdtemp(prefix="usertrack-json-compare-cwd-"))
    monday = as_of - timedelta(days=as_of.weekday())
    values = {
        "segment": SEGMENT,
        "cohort": (monday - timedelta(days=14)).isoformat(),
        "day": (as_of - timedelta(days=1)).isoformat(),
    }
    differ = 0
    rows: list[tuple[str, str, str, str, str]] = []
    details: list[str] = []
    for round_, args in ((r, a) for r in range(1, rounds + 1) for a in COMMANDS):
        if "{email}" in args and "email" not in values:
            first = ask(before, ["segments"], cwd, as_of, timeout)
            values["email"] = pick_email(first.stdout)
        cmd = fill(args, values)
        label = " ".join(cmd) + (f" (round {round_})" if round_ > 1 else "")
        if only and not any(text in label for text in only):
            continue
        a = ask(before, cmd, cwd, as_of, timeout)
        b = ask(after, cmd, cwd, as_of, timeout)
        left, right = normalise(a.stdout, before), normalise(b.stdout, after)
        same = a.code == b.code and left == right
        verdict = "same" if same else "DIFFERS"
        if a.code or b.code:
            verdict += f" (exit {a.code}/{b.code})"
        sizes = f"{len(a.stdout):,} / {len(b.stdout):,}"
        times = f"{a.seconds:.1f} / {b.seconds:.1f}"
        rows.append((label, verdict, sizes, times, ""))
        print(f"  {verdict:8} {label}", flush=True)
        if not same:
            differ += 1
            where = first_difference(left, right) if left != right else "exit codes only"
            details.append(f"- `{label}`: {where}")
            for rev, answer in (("before", a), ("after", b)):
                if answer.code:
                    details.append(f"  - {rev} stderr: {answer.stderr[-300:]}")
    shutil.rmtree(cwd, ignore_errors=True)
    print()
    print(f"before: {before.name}  after: {after.name}  --as-of {as_of.isoformat()}", end="")
    print("".join(f"  {k}={v}" for k, v in before.env.items() if k in ENV_SHOWN))
    print()
    print("| command (-f json --as-of) | answer | bytes before / after | seconds before / after |")
    print("|---|---|---|---|")
    for label, verdict, sizes, times, _ in rows:
        print(f"| `{label}` | {verdict} | {sizes} | {times} |")
    if details:
        print()
        print("first difference of each (JSON path: before / after):")
        print("\n".join(details))
    print()
    print(f"{len(rows) - differ} of {len(rows)} the same, {differ} differ")
    return differ


def cleanup(work: Path, revisions: list[Revision]) -> None:
    for revision in revisions:
        subprocess.run(
            [revision.usertrack, "demo", "stop"], env=revision.env, capture_output=True, check=False
        )
    for checkout in work.glob("*-checkout"):
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(checkout)],
            capture_output=True,
            check=False,
        )
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="ed656e8", help="git revision (default ed656e8)")
    parser.add_argument("--after", default="HEAD", help="git revision (default HEAD)")
    parser.add_argument("--users", type=int, default=2000, help="demo size (default 2000)")
    parser.add_argument(
        "--anchor",
        type=date.fromisoformat,
        default=date(2026, 11, 22),
        help="the demo's anchor, and the --as-of of every command (default 2026-11-22)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the list this many times over in the same homes: a later round answers"
        " from what the first kept (default 1)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per command")
    parser.add_argument("--only", action="append", help="only commands containing this text")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable for every command of both, e.g. USERTRACK_APP_MIRROR=0 (the app's"
        " queries as files on its database, never from the local copy)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the worktrees and homes")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    work = Path(tempfile.mkdtemp(prefix="usertrack-json-compare-"))
    revisions: list[Revision] = []
    try:
        for label, rev in (("before", args.before), ("after", args.after)):
            revisions.append(prepare(label, rev, work, args.users, args.anchor, extra))
        pair = (revisions[0], revisions[1])
        differ = compare(*pair, args.anchor, args.timeout, args.only, args.rounds)
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            cleanup(work, revisions)
    raise SystemExit(1 if differ else 0)


if __name__ == "__main__":
    main()
