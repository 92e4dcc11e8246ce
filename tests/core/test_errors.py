"""Secrets never reach a message."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from usertrack.core.errors import (
    EXIT_INTERNAL,
    EXIT_NOT_FOUND,
    NotFoundError,
    SourceConnectionError,
    redact,
    register_secret,
)


def test_redact_urls_keys_and_registered_secrets() -> None:
    assert (
        redact("postgresql://bob:s3cret@ep-x.neon.tech/db")
        == "postgresql://bob:***@ep-x.neon.tech/db"
    )
    assert "hunter2" not in redact("password=hunter2 host=x")
    assert "abc.def" not in redact("Authorization: Bearer abc.def")
    assert "phx_" + "A" * 20 not in redact("key phx_" + "A" * 20)
    register_secret("very-secret-value")
    err = SourceConnectionError("failed with very-secret-value inside", hint="very-secret-value")
    assert "very-secret-value" not in str(err) and "very-secret-value" not in (err.hint or "")


def test_debug_traceback_of_an_internal_error_is_redacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """USERTRACK_DEBUG=1 prints the traceback through redact (an unexpected exception's message
    is not one of ours, so nothing redacted it before), and exits 1 for a bug."""
    import typer

    from usertrack.cli import handle_errors

    monkeypatch.setenv("USERTRACK_DEBUG", "1")
    with pytest.raises(typer.Exit) as info, handle_errors():
        raise RuntimeError("lost postgresql://bob:s3cret-tb@db.example/app")
    assert info.value.exit_code == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError" in err
    assert "s3cret-tb" not in err and "postgresql://bob:***@db.example/app" in err


def test_debug_keeps_the_exit_code_of_our_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    from usertrack.cli import handle_errors

    monkeypatch.setenv("USERTRACK_DEBUG", "1")
    with pytest.raises(typer.Exit) as info, handle_errors():
        raise NotFoundError("no user 'x@y.z'")
    assert info.value.exit_code == EXIT_NOT_FOUND
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().endswith("usertrack: error: no user 'x@y.z'")


def test_duckdb_out_of_memory_anywhere_is_one_line_naming_the_limit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """DuckDB out of memory in a query outside sandbox.time_limit (which names its query) is
    the limit's one line and EXIT_LIMIT, not an internal error."""
    import duckdb
    import typer

    from usertrack.cli import handle_errors
    from usertrack.core.errors import EXIT_LIMIT

    monkeypatch.delenv("USERTRACK_DEBUG", raising=False)
    monkeypatch.setenv("USERTRACK_DUCKDB_MEMORY", "300MB")
    with pytest.raises(typer.Exit) as info, handle_errors():
        con = duckdb.connect()
        con.execute("SET memory_limit = '20MB'")
        con.execute("SELECT list(range) FROM range(100000000)").fetchall()
    assert info.value.exit_code == EXIT_LIMIT
    assert capsys.readouterr().err == (
        "usertrack: error: DuckDB stopped at the memory limit of 300MB"
        " (USERTRACK_DUCKDB_MEMORY, or [limits] duckdb_memory in the config file)\n"
    )


def test_no_thread_under_the_memory_bound_is_the_bound_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Python unable to start a thread in a process under the memory bound (its stack is
    memory the bound counts: the weekly dashboard's panels side by side at 200,000 users) is
    the bound's one line and EXIT_LIMIT; outside the bound it stays an internal error."""
    import typer

    from usertrack.cli import handle_errors
    from usertrack.core import bounds
    from usertrack.core.errors import EXIT_LIMIT

    monkeypatch.delenv("USERTRACK_DEBUG", raising=False)
    monkeypatch.setenv("USERTRACK_DUCKDB_MEMORY", "300MB")
    with pytest.raises(typer.Exit) as info, handle_errors():
        monkeypatch.setattr(bounds, "armed", lambda: True)  # after handle_errors' own bound
        raise RuntimeError("can't start new thread")
    assert info.value.exit_code == EXIT_LIMIT
    assert capsys.readouterr().err == (
        "usertrack: error: stopped at the memory bound: DuckDB's 300MB"
        " (USERTRACK_DUCKDB_MEMORY) and 2 GiB for the rest\n"
    )
    monkeypatch.setattr(bounds, "armed", lambda: False)
    with pytest.raises(typer.Exit) as info, handle_errors():
        raise RuntimeError("can't start new thread")
    assert info.value.exit_code == EXIT_INTERNAL


def test_redact_is_linear_on_a_mebibyte() -> None:
    """Shapes that made the old patterns backtrack over a whole line (a long email, a URL's
    `user:` without its `@`, an unclosed quoted key, a chain of `(a:b`): each 1 MiB in < 1 s,
    and a password after them still found."""
    import time

    n = 1 << 20
    shapes = [
        "a" * n + "@example.com",
        "a://b:" * (n // 6),
        "(a:b" * (n // 4),
        "password='" * (n // 10),
        "'token':'" * (n // 9),
        "@" * n,
        "x1" * (n // 2) + "://",
    ]
    for text in shapes:
        started = time.perf_counter()
        redact(text)
        assert time.perf_counter() - started < 1.0, text[:20]
    tail = "a" * n + " postgresql://bob:s3cret-pw@db.example.com/x"
    assert "s3cret-pw" not in redact(tail)


def test_what_psycopg_logs_as_ignored_is_not_printed(make_database: Callable[[str], str]) -> None:
    """psycopg logs a rollback that fails while a Ctrl-C cancels its query ("error ignored in
    rollback ...") as a WARNING, which Python prints on stderr when no handler is set: once
    usertrack has opened the database, the interrupt's one line is all that is said."""
    import subprocess
    import sys

    script = (
        "import logging, sys\n"
        "from usertrack.engines.postgres.source import PostgresSource\n"
        "source = PostgresSource(sys.argv[1])\n"
        "source.connect()\n"
        "logging.getLogger('psycopg').warning('error ignored in rollback')\n"
        "source.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, make_database("")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ["user", "{big}"],
        ["funnel", "--window", "{big}"],
        ["funnel", "--as-of", "{big}"],
        ["activity", "--who", "{big}"],
        ["retention", "--start", "{big}"],
        ["paths", "--from", "{big}"],
        ["features", "{big}", "{big}"],
        ["query", "{big}"],
    ],
)
def test_a_huge_input_is_named_in_a_message_not_echoed_whole(
    demo_home: object, args: list[str]
) -> None:
    """A 100 KB argument: the error (or warning) quotes at most 200 characters of it and says
    how long it was, on one line each."""
    from pathlib import Path

    from tests.cli_runner import run

    big = "x" * 100_000
    result = run([a.replace("{big}", big) for a in args], Path(str(demo_home)))
    lines = [line for line in result.stderr.splitlines() if "x" * 190 in line]
    assert lines, result.stderr[:500]
    for line in lines:
        assert "x" * 200 not in line and "(100,00" in line, line[:400]
        assert "characters) (100" not in line and len(line) < 1000  # cut once


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("segments.yaml", ["segments", "--segments", "{file}"]),
        ("alerts.yaml", ["alerts", "--alerts", "{file}"]),
        ("weekly.md.j2", ["report", "weekly", "--template", "{file}"]),
        ("steps.yaml", ["funnel", "--steps-file", "{file}"]),
        ("posthog/mine.sql", ["query", "--queries", "{folder}", "mine"]),
    ],
)
def test_a_file_that_is_not_utf8_gets_one_message_naming_its_line_and_column(
    demo_home: object, tmp_path: object, name: str, args: list[str]
) -> None:
    """Every file usertrack reads says the same of bytes that are not UTF-8: file:line, the
    byte and its column."""
    from pathlib import Path

    from tests.cli_runner import run

    folder = Path(str(tmp_path)) / "files"
    path = folder / name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"-- one line\nab\xffc\n")
    argv = [a.replace("{file}", str(path)).replace("{folder}", str(folder)) for a in args]
    result = run(argv, Path(str(demo_home)))
    assert result.exit_code != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("usertrack: error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].endswith(f"{path}:2: not UTF-8 text: byte 0xff in column 3"), errors[0]
