"""A newcomer's first hour: output files, early errors, what users expect.

Everything runs on the real demo (embedded PostgreSQL, local PostHog engine) through the CLI
runner, or in a real subprocess where pipes and process exit codes are the point.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import handmade
from tests.cli_runner import run
from usertrack.core.errors import EXIT_CONNECTION, EXIT_NOT_FOUND, EXIT_USAGE
from usertrack.queries.library import convert_param, load_queries, parse_query

REPO = Path(__file__).resolve().parents[2]


def one_error_line(stderr: str) -> str:
    """The stderr of a command that failed before doing anything: exactly one error line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("usertrack: error: ")]
    assert len(errors) == 1, stderr
    assert all(line.startswith("usertrack: ") for line in lines), stderr
    return errors[0]


# --------------------------------------------------------------------------------------------
# Output files


def test_out_file_gets_the_users_umask(demo_home: Path, tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        out = tmp_path / "segments.csv"
        result = run(["segments", "--out", str(out)], demo_home)
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # not mkstemp's 0600


def test_out_through_a_symlink_writes_its_target(demo_home: Path, tmp_path: Path) -> None:
    real = tmp_path / "data" / "segments.json"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    result = run(["segments", "--out", str(link)], demo_home)
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert json.loads(real.read_text())["users"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["segments.json"]


def test_out_dash_is_stdout(demo_home: Path) -> None:
    result = run(["segments", "--out", "-", "-f", "json"], demo_home)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["users"]
    assert not (REPO / "-").exists()


@pytest.mark.parametrize("kind", ["under a file", "a folder", "in /proc"])
def test_an_unwritable_out_fails_first_with_its_reason(
    kind: str, demo_home: Path, tmp_path: Path
) -> None:
    """Root ignores a read-only folder, so the targets are ones nobody can write."""
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    out = {
        "under a file": blocker / "reports" / "segments.json",
        "a folder": tmp_path,
        "in /proc": Path("/proc/usertrack-test/segments.json"),
    }[kind]
    result = run(["segments", "--out", str(out), "-f", "json"], demo_home)
    assert result.exit_code == EXIT_USAGE
    assert one_error_line(result.stderr).startswith(f"usertrack: error: cannot write {out}: ")
    assert "demo" not in result.stderr  # checked before the workspace opened
    assert result.stdout == "" and blocker.read_text() == "x"


def test_out_under_a_file_says_it_is_a_file(demo_home: Path, tmp_path: Path) -> None:
    """`--out x.json/y.csv` with x.json a file said "File exists"."""
    (tmp_path / "x.json").write_text("{}")
    result = run(["segments", "--out", str(tmp_path / "x.json" / "y.csv")], demo_home)
    assert result.exit_code == EXIT_USAGE
    assert f"{tmp_path / 'x.json'} is a file, not a folder" in one_error_line(result.stderr)


def test_a_full_disk_is_cannot_write_and_leaves_nothing(tmp_path: Path) -> None:
    """A file-size limit makes the kernel refuse the write as a full disk would (EFBIG instead
    of ENOSPC), in a child process so that the limit stays there."""
    code = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from usertrack.rendering.export import write_atomic\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        "    write_atomic(Path(sys.argv[1]), 'x' * 100_000)\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, getattr(e, 'exit_code', None), e, sep='|')\n"
    )
    target = tmp_path / "out" / "segments.json"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=60
    )
    _name, exit_code, message = proc.stdout.strip().split("|")
    assert exit_code == str(EXIT_USAGE), proc.stdout + proc.stderr  # an error of ours, exit 2
    assert message.startswith(f"cannot write {target}: ")
    # No temp file, no partial file, and no folder made for a file never written.
    assert not target.parent.exists()


def _immutable(folder: Path) -> bool:
    """Make `folder` unwritable even for root (chattr +i); False where the machine cannot."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    try:
        subprocess.run(["chattr", "+i", str(folder)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


@pytest.mark.parametrize("command", [["segments"], ["doctor"], ["funnel", "a", "b"]])
def test_an_unwritable_home_is_a_configuration_error(command: list[str], tmp_path: Path) -> None:
    """An existing USERTRACK_HOME this user cannot write was an internal error
    (PermissionError, exit 1); it is named, with exit 4, as a missing one is."""
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "config.toml"  # an empty user config: never the developer's own
    config.touch()
    if not _immutable(home):
        pytest.skip("cannot make a folder unwritable here")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "usertrack", "-q", *command],
            env={**os.environ, "USERTRACK_HOME": str(home), "USERTRACK_CONFIG": str(config)},
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
    finally:
        subprocess.run(["chattr", "-i", str(home)], capture_output=True)
        home.chmod(0o755)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith(f"usertrack: error: USERTRACK_HOME {home.resolve()}: cannot ")
    assert proc.stderr.count("\n") == 2 and "usertrack: hint: set USERTRACK_HOME" in proc.stderr
    assert proc.stdout == ""


# --------------------------------------------------------------------------------------------
# Early errors


def test_as_of_after_the_demos_data_is_an_error(demo_home: Path) -> None:
    for command in (["segments"], ["failures"], ["user", "jane.doe@acme.io"]):
        result = run([*command, "--as-of", "2099-01-01"], demo_home)
        assert result.exit_code == EXIT_USAGE, result.stderr
        assert "after the end of the demo's data" in one_error_line(result.stderr)
        assert result.stdout == ""


def test_as_of_in_the_future_warns_on_live_sources(handmade_db: str, tmp_path: Path) -> None:
    events = handmade.write_events_jsonl(tmp_path / "events.jsonl")
    env = {"DATABASE_URL": handmade_db, "USERTRACK_EVENTS": str(events)}
    result = run(["segments", "--as-of", "2099-01-01", "-f", "json"], tmp_path / "home", **env)
    assert result.exit_code == 0, result.stderr
    assert "usertrack: warning: --as-of 2099-01-01" in result.stderr
    assert json.loads(result.stdout)["as_of"] == "2099-01-01T00:00:00Z"
    now = run(["segments", "-f", "json"], tmp_path / "home", **env)
    assert now.exit_code == 0 and "warning" not in now.stderr


@pytest.mark.parametrize("command", [["failures"], ["user", "jane.doe@acme.io"]])
def test_days_beyond_ten_years_is_a_usage_error(command: list[str]) -> None:
    result = run([*command, "--days", "4000"])
    assert result.exit_code == EXIT_USAGE
    line = one_error_line(result.stderr)
    assert "--days" in line and "3660" in line


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["user"], "Missing argument"),
        (["segments", "--bogus"], "No such option: --bogus"),
        (["segments", "--formt", "json"], "No such option: --formt (Possible options: --format)"),
        (["segments", "-f", "csv", "-o", "x.json"], "names a json file, but --format is csv"),
        (["alerts", "--pending", "-f", "csv"], "--format 'csv' is not one of table, json"),
        (["segments", "--limit", "zero"], "--limit"),
        (["report", "weekly", "--out"], "--out"),
        (["nonsense"], "No such command 'nonsense'"),
    ],
)
def test_usage_errors_are_one_line_like_the_rest(args: list[str], fragment: str) -> None:
    result = run(args)
    assert result.exit_code == EXIT_USAGE
    assert fragment in one_error_line(result.stderr)
    assert "Possible options: --out" not in result.stderr  # no far-fetched suggestion
    assert "Usage:" not in result.stderr and "╭" not in result.stderr
    assert result.stdout == ""


BROKEN_PIPE_COMMANDS = [
    ["segments", "-f", "csv"],
    ["segments"],
    ["user", "jane.doe@acme.io"],
    ["query", "--list"],
    ["report", "weekly", "--print-template"],
    ["--help"],
]


@pytest.mark.parametrize("command", BROKEN_PIPE_COMMANDS, ids=" ".join)
def test_a_closed_pipe_exits_0_quietly(command: list[str], demo_home: Path) -> None:
    """`usertrack ... | head -1`, with the reader gone before the first write (so it never
    depends on the pipe's buffer size)."""
    env = {**os.environ, "USERTRACK_HOME": str(demo_home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "usertrack", "-q", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert err == ""


def test_debug_traceback_is_redacted_and_keeps_the_exit_code(tmp_path: Path) -> None:
    events = handmade.write_events_jsonl(tmp_path / "events.jsonl")
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://usr:hunter2-debug@127.0.0.1:1/db?connect_timeout=2",
        "USERTRACK_EVENTS": str(events),
        "USERTRACK_CONNECT_ATTEMPTS": "1",
        "USERTRACK_DEBUG": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "usertrack", "segments"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == EXIT_CONNECTION, proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr
    assert "SourceConnectionError" in proc.stderr
    assert "\nusertrack: error: cannot connect" in proc.stderr  # then the usual line
    assert "hunter2-debug" not in proc.stderr + proc.stdout


# --------------------------------------------------------------------------------------------
# Small things users expect


def test_version_and_h_everywhere() -> None:
    from usertrack import __version__

    version = run(["--version"])
    assert version.exit_code == 0 and version.stdout.strip() == f"usertrack {__version__}"
    for command in ([], ["segments"], ["report"], ["report", "weekly"], ["cache", "clear"]):
        result = run([*command, "-h"])
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith("Usage: ") and "-h, --help" in result.stdout


def test_shell_completion_is_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    help_text = run(["--help"]).stdout
    assert "--install-completion" in help_text and "--show-completion" in help_text
    # Typer finds the shell among the process's ancestors (shellingham): a run detached from
    # any shell (nohup, a service) has none, so the shell is given here.
    import shellingham

    monkeypatch.setattr(shellingham, "detect_shell", lambda *a, **k: ("bash", "/bin/bash"))
    script = run(["--show-completion"])
    assert script.exit_code == 0 and "_usertrack_completion" in script.stdout


def test_quiet_hides_the_demo_notice(demo_home: Path) -> None:
    loud = run(["segments", "-f", "json"], demo_home)
    quiet = run(["--quiet", "segments", "-f", "json"], demo_home)
    assert loud.exit_code == quiet.exit_code == 0
    assert "demo" in loud.stderr and quiet.stderr == ""
    assert quiet.stdout == loud.stdout


def test_insecure_reaches_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("USERTRACK_INSECURE", raising=False)
    assert run(["cache", "clear"]).exit_code == 0
    assert "USERTRACK_INSECURE" not in os.environ
    assert run(["--insecure", "cache", "clear"]).exit_code == 0
    assert os.environ["USERTRACK_INSECURE"] == "1"


def test_query_list_names_every_runnable_query_with_its_parameters() -> None:
    result = run(["query", "--list"])
    assert result.exit_code == 0, result.stderr
    library = load_queries(REPO / "queries")
    text = result.stdout
    for q in library:
        if q.folder == "join":
            assert q.id not in text  # runs inside `segments` only
            continue
        assert f"{q.id}  {q.description}" in text
        block = text.split(f"{q.id}  ", 1)[1].split("\n")[1]
        for p in q.params:
            if p.name in ("as_of", "exclude_pattern"):
                continue
            default = p.default if p.default is not None else "(required)"
            if p.kind:
                default = f"<{p.kind}> (required)"
            assert f"{p.name}={default}" in block, (q.id, block)


def test_join_profile_says_why_it_does_not_run_alone(demo_home: Path) -> None:
    result = run(["query", "join/profile"], demo_home)
    assert result.exit_code == EXIT_USAGE
    assert "inside `usertrack segments`" in one_error_line(result.stderr)


def test_did_you_mean_for_segments_and_queries(demo_home: Path) -> None:
    seg = run(["segments", "--segment", "failng"], demo_home)
    assert seg.exit_code == EXIT_USAGE
    assert "did you mean 'failing'?" in one_error_line(seg.stderr)
    query = run(["query", "neon/run"], demo_home)
    assert query.exit_code == EXIT_NOT_FOUND
    assert "did you mean 'neon/runs'?" in one_error_line(query.stderr)
    # the names are compared without the folder all of them share
    for asked, said in (
        ("posthog/nosuch", None),
        ("posthog/activty_summary", "posthog/activity_summary"),
        ("runs", "neon/runs"),
        ("neon/activity_summary", "posthog/activity_summary"),
    ):
        line = one_error_line(run(["query", asked], demo_home).stderr)
        assert f"no query named {asked!r}" in line
        assert ("did you mean" not in line) if said is None else f"did you mean {said!r}?" in line


def test_limit_is_honoured_with_one_segment(demo_home: Path) -> None:
    doc = json.loads(run(["segments", "--segment", "failing", "-f", "json"], demo_home).stdout)
    total = doc["segments"][0]["count"]
    assert total > 3
    everyone = run(["segments", "--segment", "failing", "-f", "md"], demo_home).stdout
    three = run(["segments", "--segment", "failing", "-n", "3", "-f", "md"], demo_home).stdout

    def emails(md: str) -> list[str]:
        return [line for line in md.splitlines() if line.startswith("| ") and "@" in line]

    assert len(emails(everyone)) == total  # --segment alone: every user, as the README says
    assert emails(three) == emails(everyone)[:3]
    assert f"… and {total - 3} more." in three
    table = run(["segments", "--segment", "failing", "-n", "3"], demo_home)
    assert f"3 of {total}" in table.stdout


def test_user_help_lists_only_the_formats_it_takes() -> None:
    result = run(["user", "--help"])
    assert result.exit_code == 0
    fmt = result.stdout.split("--format", 1)[1].split("--out", 1)[0]
    assert "json" in fmt and "md" in fmt and "csv" not in fmt
    bad = run(["user", "jane.doe@acme.io", "-f", "csv"])
    assert bad.exit_code == EXIT_USAGE and "table, json, md" in one_error_line(bad.stderr)


def test_param_email_is_normalised_like_user(demo_home: Path) -> None:
    def rows(email: str) -> list[list[object]]:
        result = run(
            ["query", "neon/user_timeline", "-p", f"email={email}", "-f", "json"], demo_home
        )
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)["rows"]  # type: ignore[no-any-return]

    failing = run(["segments", "--segment", "failing", "-f", "json"], demo_home)
    email = json.loads(failing.stdout)["users"][0]["email"]  # someone with recent runs
    plain = rows(email)
    assert plain and rows(f"  {email.upper()} ") == plain
    assert rows(f"\t{email}\r\n") == plain
    # Only space, tab, CR and LF are trimmed (usertrack.core.emails), here as in `user`: a form
    # feed is part of what was typed, so nobody has that email.
    assert rows(f"\f{email}") == []
    assert run(["user", f"\f{email}"], demo_home).exit_code == EXIT_NOT_FOUND


def test_an_unknown_query_suggests_only_runnable_ones(demo_home: Path) -> None:
    result = run(["query", "neon/run"], demo_home)
    assert result.exit_code == EXIT_NOT_FOUND
    assert "did you mean 'neon/runs'?" in one_error_line(result.stderr)
    assert "join/profile" not in result.stderr  # listed as known, then refused when run
    assert "usertrack query --list" in result.stderr


def test_a_required_param_left_out_is_a_usage_error(demo_home: Path) -> None:
    result = run(["query", "neon/user_timeline"], demo_home)
    assert result.exit_code == EXIT_USAGE  # not "malformed query file" (exit 6)
    line = one_error_line(result.stderr)
    assert "neon/user_timeline needs -p email=VALUE" in line


def test_param_values_take_the_type_of_their_default(demo_home: Path) -> None:
    result = run(["query", "posthog/daily_active", "-p", "days=abc"], demo_home)
    assert result.exit_code == EXIT_USAGE  # not a database error (exit 7) after the fact
    line = one_error_line(result.stderr)
    assert "days" in line and "integer" in line
    args = ["query", "neon/failing_runs", "-p", "days=14", "-p", "limit=2", "-f", "json"]
    ok = run(args, demo_home)
    assert ok.exit_code == 0, ok.stderr
    assert 0 < len(json.loads(ok.stdout)["rows"]) <= 2


def test_convert_param_follows_the_declared_default(tmp_path: Path) -> None:
    from datetime import UTC, date, datetime

    path = tmp_path / "q.sql"
    query = parse_query(
        path,
        "neon",
        "-- name: q\n-- description: d\n-- returns: table\n-- param n: 7\n-- param r: 0.5\n"
        "-- param b: false\n-- param d: 2026-01-01\n-- param t: now\n-- param s: abc\n"
        "SELECT %(n)s, %(r)s, %(b)s, %(d)s, %(t)s, %(s)s",
    )
    assert convert_param(query, "n", " 14 ") == 14
    assert convert_param(query, "r", "2") == 2.0
    assert convert_param(query, "b", "true") is True
    assert convert_param(query, "d", "2026-11-16") == date(2026, 11, 16)
    assert convert_param(query, "t", "2026-11-16") == datetime(2026, 11, 16, tzinfo=UTC)
    assert convert_param(query, "s", "14") == "14"
    for name, bad in (("n", "1.5"), ("r", "x"), ("b", "maybe"), ("d", "16/11"), ("t", "soon")):
        with pytest.raises(Exception) as info:
            convert_param(query, name, bad)
        assert f"--param {name}=" in str(info.value)
        assert getattr(info.value, "exit_code", None) == EXIT_USAGE


@pytest.mark.parametrize(
    ("query", "param", "said"),
    [
        # PostgreSQL's own "LIMIT must not be negative", exit 7
        ("neon/failing_runs", "limit=-1", "from 0 to 2,147,483,647"),
        # DuckDB's "out of range for the destination type INT32", exit 7
        ("posthog/referrers", "days=99999999999", "from 1 to 3,660"),
        # DuckDB's "Date and time not in timestamp range", exit 7
        ("posthog/referrers", "days=2000000000", "from 1 to 3,660"),
        # silently nothing: a window that ends before it starts
        ("posthog/referrers", "days=-5", "from 1 to 3,660"),
        ("posthog/alert_activity", "lookback_minutes=0", "from 1 to 5,270,400"),
    ],
)
def test_an_integer_param_out_of_its_range_is_refused(
    demo_home: Path, query: str, param: str, said: str
) -> None:
    """A count is never below zero, a span (days, *_minutes, *_seconds) from one unit to ten
    years, as --days: past them the engines answered with their own errors, or nothing."""
    result = run(["query", query, "-p", param, "-f", "csv"], demo_home)
    assert result.exit_code == EXIT_USAGE, result.stderr
    line = one_error_line(result.stderr)
    assert f"--param {param.split('=')[0]}=" in line and said in line, line
    assert result.stdout == ""


def test_the_query_files_day_bound_is_the_options() -> None:
    from usertrack.cli.options import MAX_DAYS
    from usertrack.queries import library as queries

    assert queries.MAX_DAYS == MAX_DAYS


def test_a_required_param_of_a_declared_kind_is_checked_before_it_runs(demo_home: Path) -> None:
    """`-p since=yesterday` reached DuckDB (exit 7, "Conversion Error"), and a list parameter
    took only a JSON list. A header declares the kind of a parameter without a default
    (`-- param since: <moment>`): the value is checked as -p days=abc is, and a list is
    given as names separated by commas, or as a JSON list."""
    bad = run(["query", "posthog/event_names", "-p", "since=yesterday"], demo_home)
    assert bad.exit_code == EXIT_USAGE, bad.stderr
    line = one_error_line(bad.stderr)
    assert "since='yesterday'" in line and "a date or datetime" in line
    keys = ["query", "posthog/property_keys", "-p", "since=2026-01-01", "-f", "json"]
    plain = run([*keys, "-p", "events=$pageview,signup"], demo_home)
    listed = run([*keys, "-p", 'events=["$pageview", "signup"]'], demo_home)
    assert plain.exit_code == 0 and listed.exit_code == 0, plain.stderr + listed.stderr
    assert json.loads(plain.stdout)["rows"] and plain.stdout == listed.stdout
    query = parse_query(
        demo_home / "q.sql",
        "neon",
        "-- name: q\n-- description: d\n-- returns: table\n-- param n: <integer>\nSELECT %(n)s",
    )
    assert query.params[0].default is None and convert_param(query, "n", "3") == 3
    with pytest.raises(Exception, match="is declared <weird>"):
        parse_query(demo_home / "q.sql", "neon", "-- name: q\n-- description: d\n"
                    "-- returns: table\n-- param n: <weird>\nSELECT %(n)s")  # fmt: skip


def test_a_missing_queries_folder_is_a_usage_error_like_a_missing_file(demo_home: Path) -> None:
    missing = run(["segments", "--queries", str(demo_home / "nope")], demo_home)
    assert missing.exit_code == EXIT_USAGE, missing.stderr  # as --segments, --plan, --template
    assert "query folder" in one_error_line(missing.stderr)
    # A folder that holds no query files is the same mistake (it exited 3, "not found").
    (demo_home / "empty").mkdir(exist_ok=True)
    empty = run(["segments", "--queries", str(demo_home / "empty")], demo_home)
    assert empty.exit_code == EXIT_USAGE, empty.stderr
    assert "holds no query files" in one_error_line(empty.stderr)


@pytest.mark.parametrize(
    "extra", [["-o", "list.csv"], ["-f", "json"], ["-p", "days=3"], ["--as-of", "2026-01-01"]]
)
def test_query_list_refuses_what_it_would_ignore(demo_home: Path, extra: list[str]) -> None:
    """`query --list -o FILE` printed the list on stdout and wrote no file, exit 0."""
    result = run(["query", "--list", *extra], demo_home)
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert one_error_line(result.stderr) == "usertrack: error: --list takes only --queries"
    assert result.stdout == ""


def test_every_missing_credential_is_named_at_once(tmp_path: Path) -> None:
    """`POSTHOG_PROJECT_ID=123 usertrack segments` named only DATABASE_URL; the PostHog key
    came up on the next try."""
    result = run(["segments"], tmp_path, POSTHOG_PROJECT_ID="123")
    assert result.exit_code == 4, result.stderr
    line = one_error_line(result.stderr)
    assert "DATABASE_URL" in line and "POSTHOG_PERSONAL_API_KEY" in line


def test_a_wrong_question_is_warned_not_answered_silently(demo_home: Path) -> None:
    """Three answers to a question the user did not mean, given without a word: an average of
    a property no event carries (zeros), an --until past the data (the default range), an
    --as-of before the data starts (0 users)."""
    avg = run(["trends", "$pageview", "-m", "avg:nosuchprop", "-f", "json"], demo_home)
    assert avg.exit_code == 0, avg.stderr
    assert "-m 'nosuchprop' is no property of these events" in avg.stderr
    real = run(["trends", "search_performed", "-m", "avg:query_length", "-f", "json"], demo_home)
    assert real.exit_code == 0 and "is no property" not in real.stderr, real.stderr
    until = run(["funnel", "--until", "2099-01-01", "-f", "json"], demo_home)
    assert until.exit_code == 0, until.stderr
    assert "--until 2099-01-01 is past the data" in until.stderr
    early = run(["segments", "--as-of", "1900-01-01", "-f", "json"], demo_home)
    assert early.exit_code == 0, early.stderr
    assert "--as-of 1900-01-01 00:00 UTC is before the data starts" in early.stderr
    assert "before the data starts" not in run(["segments", "-f", "json"], demo_home).stderr


def _commands() -> list[Any]:
    from typer.main import get_command

    from usertrack.cli import app
    from usertrack.cli.program import uniform_metavars

    group = get_command(app)
    uniform_metavars(group)
    found, todo = [], [group]
    while todo:
        command = todo.pop()
        found.append(command)
        todo.extend(getattr(command, "commands", {}).values())
    return found


# Options that take the same kind of value, and the one name it has in help.
KINDS = {
    "--as-of": "MOMENT", "--since": "MOMENT", "--until": "MOMENT",
    "--window": "DURATION", "--every": "DURATION", "--cooldown": "DURATION",
    "--format": "FORMAT", "--segment": "ID", "--by": "PROP", "--where": "EXPR",
}  # fmt: skip


def test_one_meaning_per_short_option_and_one_style_of_value_names() -> None:
    """`-n` meant --limit, --top or --periods by command, `-s` --segment or --steps, `-p`
    --param or --period; value names were `<int range>`, `{email}` or `ID`, and a moment, a
    format or a duration was TEXT. One style: upper case, saying what the value is, the same
    name for the same kind of value (every moment MOMENT, every duration DURATION)."""
    import re

    from typer._click import Context

    meaning: dict[str, set[str]] = {}
    names: dict[str, set[str]] = {}
    for command in _commands():
        ctx = Context(command)
        for param in command.params:
            opts = getattr(param, "opts", [])
            long = next((o for o in opts if o.startswith("--")), None)
            for short in (o for o in opts if re.fullmatch(r"-\w", o)):
                meaning.setdefault(short, set()).add(str(long))
            if getattr(param, "is_flag", False) or hasattr(param.type, "choices"):
                continue
            if param.param_type_name == "option" and getattr(param, "count", False):
                continue
            shown = param.make_metavar(ctx)
            # Upper case, as EMAIL or PROP[,PROP]: never <int range>, <str> or {email}, and
            # never TEXT, which says nothing of what to give.
            assert re.fullmatch(r"[A-Z0-9_=\[\],.|:-]+", shown), (command.name, shown)
            assert shown != "TEXT", (command.name, param.name)
            kind = KINDS.get(str(long))
            if kind and getattr(param.type, "name", "") == "str":  # a number says its unit
                names.setdefault(kind, set()).add(shown)
    assert {s: m for s, m in meaning.items() if len(m) > 1} == {}
    assert names == {kind: {kind} for kind in set(KINDS.values())}


def test_words_say_what_happened(demo_home: Path) -> None:
    """--every 0s "is not a duration" (it is one: it must be above zero); "1265 user(s)";
    paths --to X --steps 4 said "first 4 steps" and showed the last 4."""
    from usertrack.core.style import counted

    zero = run(["alerts", "--every", "0s", "--watch"], demo_home)
    assert zero.exit_code == EXIT_USAGE
    assert "--every '0s' must be above zero" in one_error_line(zero.stderr)
    bad = run(["alerts", "--every", "soon", "--watch"], demo_home)
    assert "is not a duration" in one_error_line(bad.stderr)
    assert (counted(1265, "user"), counted(1, "user")) == ("1,265 users", "1 user")
    to = run(["paths", "--to", "$pageview", "--steps", "4", "-f", "md"], demo_home)
    assert to.exit_code == 0, to.stderr
    assert "last 4 steps" in to.stdout and "first 4 steps" not in to.stdout


def test_no_message_counts_with_parenthesized_plurals() -> None:
    """`sync posthog` printed "1265 user(s)"; `import` "file(s)" and "row(s)": a count says its
    noun once, singular or plural (usertrack.core.style.counted). Every text in the
    package's code but docstrings is read."""
    import ast
    import re

    found = []
    for path in sorted((REPO / "usertrack").rglob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        found += [
            f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and re.search(r"[a-z]\(s\)", node.value.replace("http(s)", ""))
        ]
    assert found == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["segments", "--limit", "abc"], "'abc' is not a whole number."),
        (["tracking-plan", "--fail-under", "x"], "'x' is not a number."),
        (["alerts", "--passes", "1.5"], "'1.5' is not a whole number."),
    ],
)
def test_a_value_of_the_wrong_type_is_named_in_words(args: list[str], said: str) -> None:
    """Click's own message said "'abc' is not a valid int range": the type's name in code."""
    result = run(args)
    assert result.exit_code == EXIT_USAGE, result.stderr
    line = one_error_line(result.stderr)
    assert line.endswith(said) and "a valid" not in line, line


def test_sync_posthogs_dry_run_counts_as_every_count_is_written(demo_home: Path) -> None:
    """`sync posthog` said "1,265 users to send: 1265 gaining segments" and "... and 1245
    more": every count with its thousands separator, and the one ellipsis of the other lists."""
    import re

    result = run(["sync", "posthog", "-n", "1"], demo_home)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    summary = next(line for line in lines if "to send:" in line)
    assert re.fullmatch(
        r"[\d,]+ users to send: [\d,]+ gaining segments, [\d,]+ changing, [\d,]+ losing every"
        r" segment; [\d,]+ skipped \(PostHog has never seen them\); [\d,]+ skipped as ambiguous"
        r" \(several PostHog persons with the email, not one identified by the app\)",
        summary,
    ), summary
    more = [line for line in lines if "more" in line]
    assert more and all(re.fullmatch(r"  … and [\d,]+ more( ambiguous)?", m) for m in more), more


PERSONS_EXAMPLES = {
    "funnel": ["2", "2:dropped"],
    "retention": ["2026-11-09", "2026-11-09:week2"],
    "activity": ["dormant", "2026-11-16:new"],
    "trends": ["2026-11-20"],
}


@pytest.mark.parametrize("command", ["funnel", "retention", "activity", "trends", "paths"])
def test_persons_help_names_this_commands_cells_as_it_takes_them(
    command: str, demo_home: Path
) -> None:
    """`--persons` help says this analysis's cells, each with an example the command takes,
    not every analysis's forms (retention's `COHORT[:PERIODk]` in the funnel's help)."""
    import re

    helped = " ".join(run([command, "--help"]).stdout.split())
    said = helped[helped.index("--persons CELL") :]
    said = said[: said.index("lists those that are.")]
    assert "PERIODk" not in said and said.count(" STEP") <= (command == "funnel")
    assert ("COHORT" in said) == (command == "retention")
    for example in PERSONS_EXAMPLES.get(command, []):
        assert f"({example}" in said or f" {example})" in said or f"{example};" in said, said
        args = [command, "--persons", example, "-f", "json", "--as-of", "2026-11-27"]
        if command == "trends":
            args.insert(1, "$pageview")
        result = run(args, demo_home)
        assert result.exit_code == 0, result.stderr
        assert example in json.loads(result.stdout)["cell"]
    assert re.search(r"\(\S+\)", said)  # an example of each form
