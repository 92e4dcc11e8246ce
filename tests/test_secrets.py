"""Secrets never leak, whatever DATABASE_URL or POSTHOG_HOST look like.

Each malformed URL runs through the real CLI in a subprocess (as a user would, and again with
USERTRACK_DEBUG=1), against a closed port on 127.0.0.1 and the PostHog-compatible server; no part
of the password may reach stdout, stderr or any file under USERTRACK_HOME. A working database
whose password needs percent-encoding then runs a whole `segments --save` (cache and history
written) with the same check.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from tests.conftest import wait_for_password_auth
from tests.posthog_server import DEFAULT_KEY, FakePostHog, serve
from usertrack.core.config import load_settings
from usertrack.core.dsn import malformed_dsn
from usertrack.core.errors import (
    EXIT_CONFIG,
    EXIT_CONNECTION,
    ConfigError,
    redact,
    register_secret,
    register_url_secrets,
)
from usertrack.engines.postgres.source import PostgresSource

REPO = Path(__file__).resolve().parent.parent
PROJECT = 4242
# Pieces of the test passwords, each long enough that `redact` is asked to hide it on its own.
A, B, C = "pAss1X", "sEcr3tY", "zQ9wLm"
CLOSED = "127.0.0.1:1"  # nothing listens on port 1: a connection is refused at once


@pytest.fixture(scope="module")
def fake(handmade_store: Path) -> Iterator[FakePostHog]:
    with serve(handmade_store, project_id=PROJECT) as server:
        yield server


def cli(args: list[str], home: Path, env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """`python -m usertrack ARGS` in a subprocess; returns (exit code, stdout + stderr)."""
    config = home / "config.toml"
    home.mkdir(parents=True, exist_ok=True)
    if not config.exists():
        config.write_text("")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POSTHOG_", "USERTRACK_"))}
    base.pop("DATABASE_URL", None)
    full = {**base, "USERTRACK_HOME": str(home), "USERTRACK_CONFIG": str(config), **env}
    proc = subprocess.run(
        [sys.executable, "-m", "usertrack", *args],
        cwd=REPO,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr


def leaks(pieces: list[str], output: str, home: Path) -> list[str]:
    """Every piece of the secret found in the output or in a file under `home`."""
    found = [f"output: {p}" for p in pieces if p in output]
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {p}" for p in pieces if p.encode() in data]
    return found


# (id, DATABASE_URL, pieces of the password that must never show, the expected exit code)
DATABASE_URLS = [
    ("at-in-password", f"postgresql://role:{A}@{B}@{CLOSED}/db", [f"{A}@{B}", A, B], EXIT_CONFIG),
    ("space", f"postgresql://role:{A} {B}@{CLOSED}/db", [f"{A} {B}", A, B], EXIT_CONFIG),
    ("colon-slash", f"postgresql://role:{A}:{B}/{C}@{CLOSED}/db", [A, B, C], EXIT_CONFIG),
    ("hash", f"postgresql://role:{A}#{B}@{CLOSED}/db", [A, B], EXIT_CONNECTION),
    (
        "percent-encoded",
        f"postgresql://role:{A}%40{B}%20{C}@{CLOSED}/db",
        [f"{A}%40{B}", f"{A}@{B}", A, B, C],
        EXIT_CONNECTION,
    ),
    ("empty-password", f"postgresql://role:@{CLOSED}/db", [], EXIT_CONNECTION),
    ("no-user", f"postgresql://:{A}{B}@{CLOSED}/db", [A + B], EXIT_CONNECTION),
    ("ipv6", f"postgresql://role:{A}{B}@[::1]:1/db", [A + B], EXIT_CONNECTION),
    ("ipv6-at", f"postgresql://role:{A}@{B}@[::1]:1/db", [A, B], EXIT_CONFIG),
    (
        "query-password",
        f"postgresql://role@{CLOSED}/db?password={A}{B}&sslmode=disable",
        [A + B],
        EXIT_CONNECTION,
    ),
]


@pytest.mark.parametrize(
    ("case", "pieces", "code"),
    [(case[0], *case[2:]) for case in DATABASE_URLS],
    ids=[case[0] for case in DATABASE_URLS],
)
def test_database_url_secret_never_shows(
    case: str, pieces: list[str], code: int, table: dict[tuple[str, str, bool], Run]
) -> None:
    for debug in (False, True):
        exit_code, output, home = table["db", case, debug]
        # Under USERTRACK_DEBUG the CLI shows a traceback and its exit code is the CLI's
        # business (it re-raises today); the plain run's code is checked, and no leak in either.
        assert exit_code == (exit_code if debug else code) != 0, output
        assert not leaks(pieces, output, home), output
        assert "DATABASE_URL is malformed" in output or "cannot connect to" in output, output
        assert "Traceback" in output or len(output.strip().splitlines()) <= 3, output
        assert DEFAULT_KEY not in output


# (id, POSTHOG_HOST, pieces that must never show)
POSTHOG_HOSTS = [
    ("at-in-password", f"https://usr:{A}@{B}@eu.posthog.com", [f"{A}@{B}", A, B]),
    ("space", f"https://usr:{A} {B}@eu.posthog.com", [A, B]),
    ("colon-slash", f"https://usr:{A}:{B}/{C}@eu.posthog.com", [A, B, C]),
    ("percent-encoded", f"https://usr:{A}%40{B}@eu.posthog.com", [f"{A}%40{B}", A, B]),
    ("empty-password", "https://usr:@eu.posthog.com", []),
    ("no-user", f"https://:{A}{B}@eu.posthog.com", [A + B]),
    ("token-only", f"https://{A}{B}@eu.posthog.com", [A + B]),
    ("ipv6", f"http://usr:{A}{B}@[::1]:8000", [A + B]),
    ("query-password", f"https://eu.posthog.com/?password={A}{B}", [A + B]),
    ("scheme-less", f"usr:{A}{B}@eu.posthog.com", [A + B]),
]


@pytest.mark.parametrize(
    ("case", "pieces"),
    [(case[0], case[2]) for case in POSTHOG_HOSTS],
    ids=[case[0] for case in POSTHOG_HOSTS],
)
def test_posthog_host_secret_never_shows(
    case: str, pieces: list[str], table: dict[tuple[str, str, bool], Run]
) -> None:
    for debug in (False, True):
        exit_code, output, home = table["host", case, debug]
        assert exit_code == (exit_code if debug else EXIT_CONFIG) != 0, output
        assert "POSTHOG_HOST" in output, output
        assert not leaks(pieces, output, home), output


Run = tuple[int, str, Path]


@pytest.fixture(scope="module")
def table(fake: FakePostHog, tmp_path_factory: pytest.TempPathFactory) -> dict[Any, Run]:
    """Every case of both tables, plain and under USERTRACK_DEBUG=1: one process each, each with
    its own USERTRACK_HOME, run a few at a time (they mostly wait on Python's start-up)."""
    live = {"POSTHOG_PROJECT_ID": str(PROJECT), "POSTHOG_PERSONAL_API_KEY": DEFAULT_KEY}
    jobs: list[tuple[tuple[str, str, bool], list[str], dict[str, str]]] = []
    for debug in (False, True):
        flag = {"USERTRACK_DEBUG": "1"} if debug else {}
        for name, url, *_ in DATABASE_URLS:
            env = {**live, **flag, "DATABASE_URL": url, "POSTHOG_HOST": fake.url}
            jobs.append((("db", name, debug), ["segments", "--refresh"], env))
        for name, host, _ in POSTHOG_HOSTS:
            env = {**live, **flag, "DATABASE_URL": f"postgresql://role@{CLOSED}/db"}
            jobs.append((("host", name, debug), ["segments"], {**env, "POSTHOG_HOST": host}))
    root = tmp_path_factory.mktemp("table")

    def one(job: tuple[tuple[str, str, bool], list[str], dict[str, str]]) -> Run:
        key, args, env = job
        home = root / "-".join(str(k) for k in key)
        return (*cli(args, home, env), home)

    with ThreadPoolExecutor(4) as pool:
        return dict(zip([job[0] for job in jobs], pool.map(one, jobs), strict=True))


@pytest.fixture
def odd_password_db(pg_server: str, handmade_db: str) -> Iterator[tuple[str, str]]:
    """The handmade database reached as a role whose password needs percent-encoding."""
    password = f"{A}@{B} /:{C}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS oddpw")
        conn.execute(f"CREATE ROLE oddpw LOGIN PASSWORD '{password}'")
        conn.execute("GRANT pg_read_all_data TO oddpw")
        hba = conn.execute("SHOW hba_file").fetchone()[0]  # type: ignore[index]
        original = Path(hba).read_text()
        Path(hba).write_text("local all oddpw scram-sha-256\n" + original)
        conn.execute("SELECT pg_reload_conf()")
    encoded = quote(password, safe="")
    url = handmade_db.replace("postgresql://postgres:@", f"postgresql://oddpw:{encoded}@")
    wait_for_password_auth(handmade_db.replace("postgresql://postgres:@", "postgresql://oddpw:x@"))
    try:
        yield url, password
    finally:
        Path(hba).write_text(original)
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")


def test_a_working_odd_password_never_reaches_cache_history_or_output(
    odd_password_db: tuple[str, str], fake: FakePostHog, tmp_path: Path
) -> None:
    url, password = odd_password_db
    env = {
        "DATABASE_URL": url,
        "POSTHOG_HOST": fake.url,
        "POSTHOG_PROJECT_ID": str(PROJECT),
        "POSTHOG_PERSONAL_API_KEY": DEFAULT_KEY,
        "USERTRACK_DEBUG": "1",
    }
    home = tmp_path / "home"
    code, output = cli(["segments", "--save", "--as-of", "2026-11-16", "-f", "json"], home, env)
    assert code == 0, output
    assert "bob@acme.io" in output  # it really ran, on the real data
    files = [p for p in home.rglob("*") if p.is_file() and p.name != "config.toml"]
    assert files  # a cache entry and a history snapshot were written
    pieces = [password, quote(password, safe=""), A, B, C, DEFAULT_KEY]
    assert not leaks(pieces, output, home)
    # The same password, now wrong: the error names the problem, not the password.
    wrong = url.replace(quote(B), quote(B[::-1]))
    env = {**env, "DATABASE_URL": wrong, "USERTRACK_DEBUG": ""}
    code, output = cli(["segments", "--refresh"], home, env)
    assert code == EXIT_CONNECTION and "password authentication failed" in output, output
    assert not leaks([B[::-1], A, C], output, home)


# -------------------------------------------------------------------- the library


def test_redact_cleans_a_whole_traceback() -> None:
    register_secret("xoxb-slack-webhook-secret-T0K3N")
    text = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 3, in <module>\n'
        "    psycopg.connect('postgresql://role:pAss1X@sEcr3tY@127.0.0.1:1/db')\n"
        "psycopg.OperationalError: failed: host=db.example.com password='pAss 1X' user=bob\n"
        "During handling of the above exception, another exception occurred:\n"
        '  headers={"Authorization": "Bearer phx_abcdefABCDEF1234567890"}\n'
        "  {'personal_api_key': 'phx_zzzzzzzzzzzzzzzz', \"token\": \"tok-123456\"}\n"
        "  url=https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX\n"
        "  posted to xoxb-slack-webhook-secret-T0K3N\n"
        "  POSTHOG_HOST usr:hunter2hunter2@eu.posthog.com\n"
        "  Authorization: Basic dXNlcjpodW50ZXIy after a basic check\n"
    )
    out = redact(text)
    for secret in (
        "pAss1X",
        "sEcr3tY",
        "pAss 1X",
        "phx_abcdef",
        "phx_zzzz",
        "tok-123456",
        "XXXXXXXXXXXX",
        "xoxb-slack",
        "hunter2",
        "dXNlcjpodW50ZXIy",
    ):
        assert secret not in out, (secret, out)
    assert out.count("\n") == text.count("\n")  # still the same lines, for a reader
    assert "127.0.0.1:1/db" in out and "user=bob" in out and "eu.posthog.com" in out
    assert "a basic check" in out  # ordinary words stay


def test_register_url_secrets_takes_the_password_up_to_the_last_at() -> None:
    register_url_secrets("postgresql://role:Zx9Zx9@Qw8Qw8 Er7Er7/Ty6Ty6@127.0.0.1:1/db")
    # What libpq would say of that URL: a piece of the password taken for a host.
    text = "failed to resolve host 'Qw8Qw8 Er7Er7' for Zx9Zx9@Qw8Qw8 Er7Er7/Ty6Ty6"
    out = redact(text)
    assert not any(p in out for p in ("Zx9Zx9", "Qw8Qw8", "Er7Er7", "Ty6Ty6")), out


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://role:{A}@{B}@{CLOSED}/db",
        f"postgresql://role:{A} {B}@{CLOSED}/db",
        f"postgresql://role:{A}/{B}@{CLOSED}/db",
        f"postgresql://role:{A}:{B}/{C}@[::1]:1/db",
    ],
)
def test_a_malformed_database_url_is_a_config_error_that_quotes_nothing(url: str) -> None:
    assert malformed_dsn(url)
    with pytest.raises(ConfigError) as err:
        PostgresSource(url)
    text = str(err.value) + str(err.value.hint)
    assert "DATABASE_URL is malformed" in text and A not in text and B not in text
    with pytest.raises(ConfigError, match="DATABASE_URL is malformed"):
        load_settings({"DATABASE_URL": url})


def test_well_formed_database_urls_are_not_called_malformed() -> None:
    for url in (
        f"postgresql://role:{A}%40{B}@{CLOSED}/db?sslmode=require",
        "postgresql://role@host/db?options=-c%20a%3Db",
        "postgresql://role:pw@host/db?application_name=a@b",
        "postgresql:///db?host=/tmp",
        "host=localhost dbname=db user=role password=x",
        f"postgresql://role:{A}@[::1]:5432,[::2]:5433/db",
    ):
        assert malformed_dsn(url) is None, url


def test_plain_http_posthog_host_is_refused_unless_insecure(tmp_path: Path) -> None:
    env = {"POSTHOG_HOST": "http://posthog.internal.example:8000", "POSTHOG_PROJECT_ID": "1"}
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert "POSTHOG_HOST" in str(err.value) and "--insecure" in str(err.value.hint)
    assert load_settings({**env, "USERTRACK_INSECURE": "1"}).insecure is True
    for local in ("http://localhost:8000", "http://127.0.0.1:8000", "http://[::1]:8000"):
        assert load_settings({"POSTHOG_HOST": local}).insecure is False
    config = tmp_path / "config.toml"
    config.write_text('[posthog]\nhost = "http://posthog.internal.example"\ninsecure = true\n')
    assert load_settings({"USERTRACK_CONFIG": str(config)}).insecure is True
    config.write_text('[posthog]\nhost = "http://posthog.internal.example"\n')
    with pytest.raises(ConfigError, match=r"config\.toml:2 \[posthog\] host is plain http://"):
        load_settings({"USERTRACK_CONFIG": str(config)})


def test_plain_http_refusal_through_the_cli(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"postgresql://role@{CLOSED}/db",
        "POSTHOG_HOST": "http://usr:hunter2hunter2@posthog.internal.example",
        "POSTHOG_PROJECT_ID": "1",
        "POSTHOG_PERSONAL_API_KEY": DEFAULT_KEY,
    }
    code, output = cli(["segments"], tmp_path, env)
    assert code == EXIT_CONFIG and "hunter2" not in output and "POSTHOG_HOST" in output
    code, output = cli(["segments"], tmp_path, {**env, "POSTHOG_HOST": "http://ph.example"})
    assert code == EXIT_CONFIG and "plain http://ph.example" in output and "--insecure" in output


def test_settings_repr_holds_no_secret() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": f"postgresql://role:{A}{B}@db.example.com/db",
            "POSTHOG_HOST": "https://eu.posthog.com",
            "POSTHOG_PROJECT_ID": "1",
            "POSTHOG_PERSONAL_API_KEY": DEFAULT_KEY,
        }
    )
    assert settings.database_url and A + B in settings.database_url
    assert A + B not in repr(settings) and DEFAULT_KEY not in repr(settings)
