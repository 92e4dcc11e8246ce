"""The Postgres source on the embedded server: read-only, timeouts, cold starts, bad passwords."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest

from tests.conftest import wait_for_password_auth
from usertrack.core.errors import (
    EXIT_LIMIT,
    EXIT_QUERY,
    LimitError,
    QueryError,
    SourceConnectionError,
)
from usertrack.engines.postgres.source import PostgresSource
from usertrack.queries.library import parse_query


def neon_query(tmp_path: Path, sql: str, params: str = "") -> object:
    folder = tmp_path / "neon"
    folder.mkdir(exist_ok=True)
    path = folder / "q.sql"
    path.write_text(f"-- name: q\n-- description: test\n-- returns: table\n{params}{sql}\n")
    return parse_query(path, "neon")


@pytest.fixture
def db(make_database: Callable[[str], str]) -> str:
    return make_database("CREATE TABLE t (id int, email text); INSERT INTO t VALUES (1, 'a@x.io');")


def test_a_write_from_a_query_file_fails_and_changes_nothing(db: str, tmp_path: Path) -> None:
    source = PostgresSource(db)
    for sql in ("DELETE FROM t", "INSERT INTO t VALUES (2, 'b@x.io') RETURNING id",
                "DROP TABLE t", "UPDATE t SET email = 'x' RETURNING id"):  # fmt: skip
        with pytest.raises(QueryError, match="tried to write; usertrack opens every transaction"):
            source.run(neon_query(tmp_path, sql), {})  # type: ignore[arg-type]
    source.close()
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT id, email FROM t").fetchall() == [(1, "a@x.io")]


def test_values_are_bound_never_spliced(db: str, tmp_path: Path) -> None:
    query = neon_query(tmp_path, "SELECT email FROM t WHERE email = %(email)s", "-- param email:\n")
    source = PostgresSource(db)
    evil = "a@x.io' OR '1'='1"
    assert source.run(query, {"email": evil}).rows == []  # type: ignore[arg-type]
    assert source.run(query, {"email": "a@x.io"}).rows == [("a@x.io",)]  # type: ignore[arg-type]
    source.close()


def test_empty_result_keeps_its_columns(db: str, tmp_path: Path) -> None:
    source = PostgresSource(db)
    result = source.run(neon_query(tmp_path, "SELECT id, email FROM t WHERE false"), {})  # type: ignore[arg-type]
    assert result.columns == ["id", "email"] and result.rows == []
    source.close()


def test_queries_from_two_threads_run_side_by_side_on_two_connections(
    db: str, tmp_path: Path
) -> None:
    source = PostgresSource(db)
    pid = neon_query(tmp_path, "SELECT pg_backend_pid() AS pid")
    # Sequential queries share the source's one connection.
    first = source.run(pid, {}).rows  # type: ignore[arg-type]
    assert source.run(pid, {}).rows == first  # type: ignore[arg-type]

    (tmp_path / "slow").mkdir()
    slow = neon_query(tmp_path / "slow", "SELECT pg_backend_pid() AS pid, pg_sleep(2) IS NULL")
    watch = neon_query(
        tmp_path,
        "SELECT pg_backend_pid() AS pid, (SELECT count(*) FROM pg_stat_activity"
        " WHERE state = 'active' AND query LIKE '%%pg_sleep(2)%%'"
        " AND pid <> pg_backend_pid()) AS sleeping",
    )
    results: dict[str, object] = {}
    slow_thread = threading.Thread(target=lambda: results.update(slow=source.run(slow, {})))  # type: ignore[arg-type]
    slow_thread.start()
    with psycopg.connect(db, autocommit=True) as probe:
        for _ in range(200):  # until the slow query runs
            if probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%pg_sleep(2)%%'"
                " AND state = 'active' AND pid <> pg_backend_pid()"
            ).fetchone() == (1,):
                break
            time.sleep(0.02)
    ((watch_pid, sleeping),) = source.run(watch, {}).rows  # type: ignore[arg-type]
    slow_thread.join()
    ((slow_pid, _),) = results["slow"].rows  # type: ignore[attr-defined]
    # The second query ran while the first still slept, on a connection of its own.
    assert sleeping == 1 and watch_pid != slow_pid and slow_pid == first[0][0]
    source.close()


def test_a_query_files_settings_hold_for_its_own_transaction_only(db: str, tmp_path: Path) -> None:
    show = (
        "SELECT current_setting('max_parallel_workers_per_gather') AS w,"
        " current_setting('work_mem') AS m"
    )
    asks = "-- setting max_parallel_workers_per_gather: 0\n-- setting work_mem: 64MB\n"
    source = PostgresSource(db)
    plain = source.run(neon_query(tmp_path, show), {}).rows  # type: ignore[arg-type]
    assert source.run(neon_query(tmp_path, show, asks), {}).rows == [("0", "64MB")]  # type: ignore[arg-type]
    assert plain != [("0", "64MB")]
    assert source.run(neon_query(tmp_path, show), {}).rows == plain  # type: ignore[arg-type]
    source.close()


# A slow query of nothing but arithmetic (no pg_sleep): 400 million rows counted.
SLOW = (
    "SELECT count(*) AS {alias} FROM generate_series(1, 20000) AS a"
    " CROSS JOIN generate_series(1, 20000) AS b"
)


def test_a_query_stopped_at_the_statement_timeout_is_stopped_at_a_bound(
    db: str, tmp_path: Path
) -> None:
    """The timeout usertrack sets in the query's transaction (set_config('statement_timeout',
    ..., true)) stops it: SQLSTATE 57014, said as a bound (exit 11) in one line naming the
    query and the bound."""
    source = PostgresSource(db, statement_timeout_ms=100)
    started = time.monotonic()
    with pytest.raises(LimitError) as caught:
        source.run(neon_query(tmp_path, SLOW.format(alias="n")), {})  # type: ignore[arg-type]
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_LIMIT == 11
    assert message == (
        f"query neon/q ({tmp_path / 'neon' / 'q.sql'}): stopped after 0.1 s, the statement"
        " timeout of one PostgreSQL query"
    )
    assert "\n" not in message
    # The connection is still usable afterwards.
    assert source.run(neon_query(tmp_path, "SELECT 1 AS one"), {}).rows == [(1,)]  # type: ignore[arg-type]
    source.close()


def test_a_query_canceled_on_the_server_before_its_timeout_is_a_failed_query(
    db: str, tmp_path: Path
) -> None:
    """Someone's pg_cancel_backend (the same SQLSTATE 57014) long before the timeout is no
    bound: the query failed (exit 7)."""
    source = PostgresSource(db, statement_timeout_ms=60_000)

    def cancel() -> None:
        with psycopg.connect(db, autocommit=True) as conn:
            for _ in range(400):
                hit = conn.execute(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
                    " WHERE query LIKE '%%AS cancel_me%%' AND state = 'active'"
                    " AND pid <> pg_backend_pid()"
                ).fetchall()
                if any(ok for (ok,) in hit):
                    return
                time.sleep(0.05)

    canceller = threading.Thread(target=cancel)
    canceller.start()
    started = time.monotonic()
    try:
        with pytest.raises(QueryError) as caught:
            source.run(neon_query(tmp_path, SLOW.format(alias="cancel_me")), {})  # type: ignore[arg-type]
    finally:
        canceller.join()
        source.close()
    assert time.monotonic() - started < 30
    assert not isinstance(caught.value, LimitError) and caught.value.exit_code == EXIT_QUERY
    assert str(caught.value).endswith("was canceled on the database server")


def _socket_path(uri: str) -> str:
    host = parse_qs(urlparse(uri).query)["host"][0]
    return f"{host}/.s.PGSQL.5432"


class WakingProxy:
    """A TCP port on 127.0.0.1 in front of the embedded server's unix socket that, for its first
    `wakes_after` seconds, accepts each connection and drops it at once: what a Neon endpoint's
    proxy does while the compute wakes (libpq: "server closed the connection unexpectedly").
    Then it forwards: the database is awake."""

    def __init__(self, unix_path: str, wakes_after: float) -> None:
        self.unix_path = unix_path
        self.awake_at = time.monotonic() + wakes_after
        self.dropped = 0
        self.stopped = threading.Event()
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        self.server = server
        self.port = server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if time.monotonic() < self.awake_at:
                self.dropped += 1
                client.close()
                continue
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.unix_path)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.stopped.set()
        self.server.close()


@pytest.fixture
def waking_proxy(db: str) -> Iterator[tuple[WakingProxy, str]]:
    proxy = WakingProxy(_socket_path(db), wakes_after=1.0)
    dbname = urlparse(db).path.lstrip("/")
    yield proxy, f"postgresql://postgres@127.0.0.1:{proxy.port}/{dbname}?sslmode=disable"
    proxy.close()


def test_cold_start_is_retried_until_the_database_answers(
    waking_proxy: tuple[WakingProxy, str], tmp_path: Path
) -> None:
    proxy, dsn = waking_proxy
    messages: list[str] = []
    source = PostgresSource(dsn, connect_attempts=6, backoff_s=0.3, progress=messages.append)
    result = source.run(neon_query(tmp_path, "SELECT email FROM t"), {})  # type: ignore[arg-type]
    assert result.rows == [("a@x.io",)]
    assert proxy.dropped >= 1
    assert messages and all(m.startswith("waking the database") for m in messages)
    source.close()


def test_cold_start_gives_up_after_the_bound(waking_proxy: tuple[WakingProxy, str]) -> None:
    _, dsn = waking_proxy
    source = PostgresSource(dsn, connect_attempts=2, backoff_s=0.05)
    with pytest.raises(SourceConnectionError, match=r"after 2 attempts.*closed the connection"):
        source.connect()


def _closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens: a connection is refused
    return port


def test_a_refused_port_fails_fast_instead_of_waiting_for_a_wake_up() -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{_closed_port()}/db?sslmode=disable"
    messages: list[str] = []
    # The default attempts and backoff: a refused port used to be retried for about 16 s.
    source = PostgresSource(dsn, progress=messages.append)
    started = time.monotonic()
    with pytest.raises(SourceConnectionError, match="Connection refused") as err:
        source.connect()
    assert time.monotonic() - started < 2
    assert "attempts" not in str(err.value) and messages == []


def test_unknown_host_fails_fast() -> None:
    source = PostgresSource("postgresql://postgres@no-such-host.invalid/db?connect_timeout=2")
    started = time.monotonic()
    with pytest.raises(SourceConnectionError, match=r"resolve host|translate host"):
        source.connect()
    assert time.monotonic() - started < 2


@pytest.fixture
def password_role(pg_server: str) -> Iterator[str]:
    """A role that must give a password (scram) on the otherwise trust-only embedded server."""
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS pwuser")
        conn.execute("CREATE ROLE pwuser LOGIN PASSWORD 'right-password-123'")
        hba = conn.execute("SHOW hba_file").fetchone()[0]  # type: ignore[index]
        original = Path(hba).read_text()
        Path(hba).write_text("local all pwuser scram-sha-256\n" + original)
        conn.execute("SELECT pg_reload_conf()")
    dsn = pg_server.replace("postgresql://postgres:@", "postgresql://pwuser:{pw}@")
    wait_for_password_auth(dsn.format(pw="not-the-password"))
    try:
        yield dsn
    finally:
        Path(hba).write_text(original)
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")


def test_wrong_password_is_clear_and_never_shown(password_role: str) -> None:
    from usertrack.core.config import load_settings

    dsn = password_role.format(pw="wrong-password-456")
    load_settings({"DATABASE_URL": dsn})  # registers the password as a secret
    source = PostgresSource(dsn, connect_attempts=3, backoff_s=0.05)
    started = time.monotonic()
    with pytest.raises(SourceConnectionError) as err:
        source.connect()
    assert time.monotonic() - started < 2  # authentication failures are not retried
    text = str(err.value) + repr(err.value) + str(err.value.hint)
    assert "password authentication failed" in text
    assert "wrong-password-456" not in text and "wrong-password-456" not in repr(source)
    good = PostgresSource(password_role.format(pw="right-password-123"))
    good.connect()
    good.close()


def test_the_demos_own_url_is_not_read_by_libpq_before_its_first_query(
    fixed_demo_home: Path,
) -> None:
    """The demo's URL is usertrack's own: opening the workspace of a running demo does not
    import psycopg to check it (a dashboard's event panels start without waiting for that
    import); the first query connects, and a URL a person wrote is checked as ever
    (test_secrets)."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from usertrack.core.config import load_settings, resolve_queries_dir\n"
        "from usertrack.core.config import resolve_segments_file\n"
        "from usertrack.workspace import open_workspace\n"
        "with open_workspace(load_settings(), queries_dir=resolve_queries_dir(None),\n"
        "                    segments_path=resolve_segments_file(None)) as ws:\n"
        "    print('psycopg' in sys.modules)\n"
        "    conn = ws.sources['neon'].connect()\n"
        "    print('psycopg' in sys.modules, conn.execute('SELECT 41 + 1').fetchone())\n"
    )
    env = {**os.environ, "USERTRACK_HOME": str(fixed_demo_home), "USERTRACK_CONFIG": ""}
    for _ in range(2):  # the first may start the demo's server, which connects to it
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["False", "True (42,)"]
