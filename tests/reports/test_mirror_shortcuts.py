"""The app-mirror shortcuts (usertrack/reports/mirror_shortcuts.py), driven by their registry:
each statement over the local copy of the app's tables is taken for its shipped file and gives
that file's answer on the demo's PostgreSQL, its digest is the shipped file's, and an edited
copy of the file in a library of one's own is not answered from the copy: it runs as written,
and its answer follows the edit."""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from usertrack.core.shipped import shipped_path
from usertrack.queries.library import text_digest
from usertrack.reports import mirror_shortcuts
from usertrack.scope import Scope

AS_OF = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)  # the fixed demo's anchor, mid-morning


@contextmanager
def _workspace(database: str, home: Path, queries: Path | None = None) -> Iterator[Any]:
    """A workspace on the app's `database` (its events one $pageview), its caches in `home`,
    its query library `queries` (the shipped one by default), no answer cache."""
    from tests.analytics_helpers import record, write_export
    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    home.mkdir(parents=True, exist_ok=True)
    events = write_export(
        home / "events.jsonl",
        [record(1, "$pageview", datetime(2026, 11, 16, 8, tzinfo=UTC), "pa", "pa", "a@x.io", {})],
    )
    settings = load_settings(
        {
            "USERTRACK_HOME": str(home),
            "USERTRACK_EVENTS": str(events),
            "USERTRACK_CONFIG": "",
            "DATABASE_URL": database,
            "USERTRACK_CACHE_TTL": "0",
        }
    )
    with open_workspace(
        settings,
        queries_dir=resolve_queries_dir(queries),
        segments_path=resolve_segments_file(None),
    ) as ws:
        yield ws


@pytest.fixture(scope="module")
def database(fixed_demo_home: Path) -> str:
    """The URI of the fixed demo's PostgreSQL, as the role that may only read it."""
    from usertrack.demo.database import demo_reader_uri
    from usertrack.demo.layout import existing_demo

    demo = existing_demo(fixed_demo_home)
    assert demo is not None
    return demo_reader_uri(demo)


@pytest.fixture(scope="module")
def shipped_ws(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with _workspace(database, tmp_path_factory.mktemp("mirror-shortcuts")) as ws:
        yield ws


def _plain(value: Any) -> Any:
    """A value as both sides are compared: moments naive UTC, a whole number an int and
    another a float (the database's numeric and the copy's double stand for one figure)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, Decimal | float) and math.isfinite(value) and value == int(value):
        return int(value)  # a whole figure: as a bigint, a numeric or a double alike
    if isinstance(value, Decimal):
        return float(value)
    return value


def _rows(rows: Any) -> list[tuple[Any, ...]]:
    return [tuple(_plain(v) for v in row) for row in rows]


def _result_rows(result: Any) -> list[tuple[Any, ...]]:
    """A Result's rows (from Arrow columns where it holds them)."""
    if getattr(result, "arrow", None) is not None:
        columns = [c.to_pylist() for c in result.arrow.columns]
        return _rows(zip(*columns, strict=True))
    return _rows(result.rows)


# ------------------------------------------------------------------- how each one is asked


def _key_metrics(ws: Any, query_id: str) -> Any:
    from usertrack.reports.weekly_copy import key_metrics

    dashboard = ws.scoped(Scope(shared={}))  # the key metrics answer from the copy there alone
    found = key_metrics(dashboard, {"neon_metrics": (query_id, AS_OF, {"days": 7})})
    return found.get("neon_metrics")


def _accounts_bound(ws: Any, query_id: str) -> tuple[Any, dict[str, Any], Any]:
    """account_health.sql bound as `usertrack accounts` binds it, the configured key quoted
    in, and the key."""
    from usertrack.segments.account_key import AccountKey, with_account_key

    key = AccountKey.configured()
    query, values = ws.bind(query_id, AS_OF, days=30)
    source = ws.sources["neon"]
    conn = getattr(source, "inner", source).connect()  # the database under the answer cache
    return with_account_key(query, key, conn), values, key


def _accounts(ws: Any, query_id: str) -> Any:
    from usertrack.reports.accounts_copy import from_copy

    query, values, key = _accounts_bound(ws, query_id)
    return from_copy(ws, query, values, key.names())


def _accounts_file(ws: Any, query_id: str) -> Any:
    query, values, _ = _accounts_bound(ws, query_id)
    return ws.sources["neon"].run(query, values)


def _failures(ws: Any, query_id: str) -> Any:
    """The failure report's two files, asked of the copy together (as `failures` asks them)."""
    from usertrack.reports.failure_copy import FILES, from_copy

    found = from_copy(ws, [(name, *ws.bind(name, AS_OF, days=7)) for name in FILES])
    return None if found is None else found[query_id]


def _failing_runs(ws: Any, query_id: str) -> Any:
    from usertrack.reports.failing_runs_copy import from_copy

    return from_copy(ws, *ws.bind(query_id, AS_OF, days=7, limit=10))


def _classification(ws: Any, query_id: str, **params: Any) -> Any:
    """The file as a dashboard's classification asks it, from the copy (else None)."""
    from usertrack.segments.profile_copy import copy_answers

    query, values = ws.bind(query_id, AS_OF, **params)
    dashboard = ws.scoped(Scope(shared={}))  # the classification answers from the copy there
    with copy_answers(dashboard, dashboard.sources) as sources:
        found = sources["neon"].run(query, values)
    return found if found.meta == {"from": "app mirror"} else None


def _as_result(rows: list[dict[str, Any]] | None) -> Any:
    """An alerts pass's rows from the copy as a Result, None as None."""
    from usertrack.engines.base import Result

    if rows is None:
        return None
    columns = list(rows[0]) if rows else []
    return Result(columns, [tuple(r.values()) for r in rows], meta={"from": "app mirror"})


def _run_windows(ws: Any, query_id: str) -> Any:
    from usertrack.act.alerts_runs import RunsCopy

    copy = RunsCopy(ws, [(AS_OF - timedelta(days=7 * 8), AS_OF)])
    try:
        return _as_result(copy.run_windows(AS_OF, 7, 8))
    finally:
        copy.close()


def _failure_days(ws: Any, query_id: str) -> Any:
    from usertrack.act.alerts_runs import RunsCopy

    copy = RunsCopy(ws, [(AS_OF - timedelta(days=15), AS_OF)])
    try:
        return _as_result(copy.failure_days(AS_OF, 14))
    finally:
        copy.close()


def _plan_emails(ws: Any) -> list[str]:
    """Some of the demo's accounts' emails, and one of nobody."""
    rows = ws.run_query("neon/accounts", AS_OF).as_dicts()
    return [*sorted(str(r["email"]) for r in rows)[:40], "nobody@x.io"]


def _plans(ws: Any, query_id: str) -> Any:
    """The plans an alerts pass reads, from the copy: (email, subscription_status) rows."""
    from usertrack.act.alerts_runs import RunsCopy

    copy = RunsCopy(ws, [(AS_OF - timedelta(days=8), AS_OF)], plans=True)
    try:
        found = copy.plans(AS_OF, _plan_emails(ws))
    finally:
        copy.close()
    rows = (
        None
        if found is None
        else [{"email": e, "subscription_status": s} for e, s in found.items()]
    )
    return _as_result(rows)


def _plans_file(ws: Any, query_id: str) -> Any:
    """The file's (email, subscription_status) rows for the same emails, as Plans asks it."""
    from usertrack.engines.base import Result

    found = ws.run_query(query_id, AS_OF, segment_only=True, segment_emails=_plan_emails(ws))
    rows = [(r["email"], r["subscription_status"]) for r in found.as_dicts()]
    return Result(["email", "subscription_status"], rows)


# Each tools file's section, as `usertrack tools` (the errors: of one tool) and the weekly
# report (the failing tools) ask it.
_SECTION = {
    "neon/tool_overview": "overview",
    "neon/tool_types": "tool_types",
    "neon/tool_usage": "top_tools",
    "neon/tool_providers": "providers",
    "neon/agent_executions": "agents",
    "neon/code_executions": "code_executions",
    "neon/custom_tools": "custom_tools",
    "neon/tool_trend": "trend",
    "neon/tool_errors": "errors",
    "neon/failing_tools": "failing_tools",
}


def _tool_params(ws: Any, query_id: str) -> dict[str, Any]:
    """The values `tools` binds the file with over a week: the errors of the tool that fails
    most, every tool elsewhere."""
    params: dict[str, Any] = {"days": 7}
    names = ws.library.get(query_id).param_names
    if "tool" in names:
        params["tool"] = "*"
        if query_id == "neon/tool_errors":
            top = ws.run_query("neon/failing_tools", AS_OF, days=7, limit=1)
            params["tool"] = top.rows[0][0]
    if "limit" in names:
        params["limit"] = 25
    return params


def _sections(ws: Any, query_id: str) -> Any:
    from usertrack.reports.tool_sections import from_copy

    params = _tool_params(ws, query_id)
    job = (_SECTION[query_id], *ws.bind(query_id, AS_OF, **params))
    found = from_copy(
        ws, [job], since=AS_OF - timedelta(days=7), as_of=AS_OF,
        tool=params["tool"] if query_id == "neon/tool_errors" else None, limit=25,
        segment_emails=None, progress=None,
    )  # fmt: skip
    return None if found is None else found[job[0]]


def _sections_file(ws: Any, query_id: str) -> Any:
    return ws.run_query(query_id, AS_OF, **_tool_params(ws, query_id))


_NOT_SUCCESSES = ("(WHERE t.status = 'success') AS successes", "(WHERE true) AS successes")


def _churn(ws: Any, query_id: str) -> Any:
    """The file's columns churn reads, from the copy (usertrack.analytics.churn.app): the runs
    now, or the accounts."""
    import json

    from usertrack.analytics.churn.app import from_copy
    from usertrack.engines.base import Result

    source = ws.sources["neon"]
    _, values = ws.bind("neon/runs", AS_OF)
    bound = {"as_of": values["as_of"], "then": values["as_of"], "backtest": False}
    bound["exclude_pattern"] = values["exclude_pattern"]
    found = from_copy(ws, getattr(source, "inner", source), bound)
    if found is None:
        return None
    types, text = found["runs_now" if query_id == "neon/runs" else "accounts"]
    arrays = json.loads(text)
    rows = list(zip(*(arrays[c] for c in types), strict=True))
    return Result(list(types), rows, meta={"from": "app mirror"})


def _churn_file(ws: Any, query_id: str) -> Any:
    """The file's answer, the columns churn reads."""
    from usertrack.analytics.churn.app import ACCOUNTS, RUNS
    from usertrack.engines.base import Result

    columns = list(RUNS if query_id == "neon/runs" else ACCOUNTS)
    found = ws.run_query(query_id, AS_OF).as_dicts()
    return Result(columns, [tuple(r[c] for c in columns) for r in found])


@dataclasses.dataclass(frozen=True)
class Case:
    """How a shortcut is asked on the demo (`ask`: its answer, None where it is not taken;
    `file`: the file's on the database, asked as the command asks it) and an edit of the file
    that changes its answer (old text -> new, the first occurrence)."""

    ask: Callable[[Any, str], Any]
    file: Callable[[Any, str], Any]
    edit: tuple[str, str]
    sort: bool = False  # rows in no particular order: compared sorted


def _run_file(**params: Any) -> Callable[[Any, str], Any]:
    def run(ws: Any, query_id: str) -> Any:
        return ws.run_query(query_id, AS_OF, **params)

    return run


CASES: dict[tuple[str, str], Case] = {
    ("neon/weekly_metrics", "key_metrics"): Case(
        _key_metrics, _run_file(days=7), ("r.run_state = 'completed'", "r.run_state = 'failed'")
    ),
    ("neon/account_health", "accounts"): Case(
        _accounts, _accounts_file, ("4 * failed_runs >= runs", "2 * failed_runs >= runs")
    ),
    ("neon/failures", "failures"): Case(
        _failures,
        _run_file(days=7),
        ("WHERE t.status = 'failed'", "WHERE t.status = 'success'"),
        sort=True,
    ),
    ("neon/failure_trend", "failures"): Case(
        _failures,
        _run_file(days=7),
        ("(WHERE status = 'failed') AS tool_failures", "(WHERE true) AS tool_failures"),
    ),
    ("neon/failing_runs", "failing_runs"): Case(
        _failing_runs,
        _run_file(days=7, limit=10),
        ("WHERE r.run_state = 'failed'", "WHERE r.run_state = 'completed'"),
    ),
    ("neon/runs", "classification"): Case(
        _classification,
        _run_file(),
        ("(WHERE r.run_state = 'completed')", "(WHERE r.run_state = 'failed')"),
        sort=True,
    ),
    ("neon/tool_calls", "classification"): Case(
        _classification,
        _run_file(),
        ("(WHERE t.tool_type = 'mcp')", "(WHERE t.tool_type <> 'mcp')"),
        sort=True,
    ),
    ("neon/run_windows", "alerts"): Case(
        _run_windows,
        _run_file(days=7, windows=8),
        ("(WHERE r.run_state = 'completed')", "(WHERE r.run_state = 'failed')"),
    ),
    ("neon/run_failure_days", "alerts"): Case(
        _failure_days,
        _run_file(days=14),
        ("(WHERE r.run_state = 'failed')", "(WHERE r.run_state = 'completed')"),
    ),
    ("neon/accounts", "alerts plans"): Case(
        _plans,
        _plans_file,
        ("max(a.subscription_status) AS", "max(upper(a.subscription_status)) AS"),
        sort=True,
    ),
    ("neon/runs", "churn"): Case(
        _churn,
        _churn_file,
        ("(WHERE r.run_state = 'completed')", "(WHERE r.run_state = 'failed')"),
        sort=True,
    ),
    ("neon/accounts", "churn"): Case(
        _churn,
        _churn_file,
        ("max(a.subscription_status) AS", "max(upper(a.subscription_status)) AS"),
        sort=True,
    ),
    **{
        (query_id, "sections"): Case(_sections, _sections_file, edit)
        for query_id, edit in {
            "neon/tool_overview": _NOT_SUCCESSES,
            "neon/tool_types": _NOT_SUCCESSES,
            "neon/tool_usage": _NOT_SUCCESSES,
            "neon/tool_providers": _NOT_SUCCESSES,
            "neon/tool_trend": _NOT_SUCCESSES,
            "neon/agent_executions": ("count(*) AS runs,", "count(*) + 1 AS runs,"),
            "neon/code_executions": (
                "(WHERE c.status = 'success') AS successes",
                "(WHERE true) AS successes",
            ),
            "neon/custom_tools": ("count(*) AS deployments,", "count(*) + 1 AS deployments,"),
            "neon/tool_errors": ("count(*) AS occurrences,", "count(*) + 1 AS occurrences,"),
            "neon/failing_tools": (
                "AS tool_provider, count(*) AS calls",
                "AS tool_provider, count(*) + 1 AS calls",
            ),
        }.items()
    },
}


def _cases() -> list[tuple[str, str]]:
    return sorted((cut.query_id, cut.entry) for cut in mirror_shortcuts.SHORTCUTS)


def test_every_shortcut_has_a_case_and_only_those() -> None:
    assert sorted(CASES) == _cases()


@pytest.mark.parametrize("query_id", sorted(mirror_shortcuts.MIRROR))
def test_a_shortcuts_digest_is_its_shipped_files(query_id: str) -> None:
    path = shipped_path("queries") / f"{query_id}.sql"
    digest = text_digest(path.read_text(encoding="utf-8"))
    for cut in mirror_shortcuts.MIRROR[query_id]:
        assert digest == cut.digest, (
            f"{path} is not the text its app-mirror statement ({cut.entry}) was checked"
            f" against: check it still gives the file's answer (this file's tests), then"
            f" declare digest {digest!r}"
        )


@pytest.mark.parametrize(("query_id", "entry"), _cases())
def test_a_shortcut_gives_its_files_answer(shipped_ws: Any, query_id: str, entry: str) -> None:
    case = CASES[(query_id, entry)]
    mine = case.ask(shipped_ws, query_id)
    assert mine is not None, f"{query_id}: the copy's statement ({entry}) is not taken"
    assert mine.meta == {"from": "app mirror"}
    want = case.file(shipped_ws, query_id)
    assert want.rows, f"{query_id}: the demo gives no rows to compare"
    assert list(mine.columns) == list(want.columns)
    got, expected = _result_rows(mine), _result_rows(want)
    if case.sort:
        got, expected = sorted(got, key=repr), sorted(expected, key=repr)
    assert got == expected


@pytest.mark.parametrize(("query_id", "entry"), _cases())
def test_an_edited_file_runs_as_written(
    shipped_ws: Any, database: str, tmp_path: Path, query_id: str, entry: str
) -> None:
    """A copy of the shipped library with this file edited: the copy does not answer it, the
    file runs on the database as written, and its answer is not the shipped file's."""
    case = CASES[(query_id, entry)]
    mine = tmp_path / "queries"
    shutil.copytree(shipped_path("queries"), mine)
    path = mine / f"{query_id}.sql"
    text = path.read_text(encoding="utf-8")
    old, new = case.edit
    assert old in text, f"{query_id}: the case's edit no longer fits the file"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with _workspace(database, tmp_path / "home", mine) as ws:
        assert case.ask(ws, query_id) is None, f"{query_id}: an edited file answered by the copy"
        edited = _result_rows(case.file(ws, query_id))
    shipped = _result_rows(case.file(shipped_ws, query_id))
    assert edited != shipped, f"{query_id}: the edit changes nothing"
    # the same text unedited, in a library of one's own, is the shipped file
    path.write_text(text, encoding="utf-8")
    with _workspace(database, tmp_path / "home", mine) as ws:
        assert case.ask(ws, query_id) is not None


def test_a_classification_of_a_few_persons_is_the_files(shipped_ws: Any) -> None:
    """The classification's statements answer for every user alone (their gate's `when`):
    `--persons`' few are asked of the files."""
    for query_id in ("neon/runs", "neon/tool_calls"):
        few = {"segment_only": True, "segment_emails": ["a@x.io"]}
        assert _classification(shipped_ws, query_id, **few) is None
        assert _classification(shipped_ws, query_id) is not None


def test_query_list_names_the_files_the_copy_answers(tmp_path: Path) -> None:
    """`usertrack query --list` names the commands that answer each file from the copy, and
    says the shortcut is off for a file of one's own library that differs from the shipped."""
    from tests.cli_runner import query_listing as listing

    shipped = listing(shipped_path("queries"))
    marked = {q for q, lines in shipped.items() if any("app mirror shortcut:" in x for x in lines)}
    assert marked == set(mirror_shortcuts.MIRROR)
    mine = tmp_path / "queries"
    shutil.copytree(shipped_path("queries"), mine)
    query_id = sorted(mirror_shortcuts.MIRROR)[0]
    edited = mine / f"{query_id}.sql"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    lines = listing(mine)[query_id]
    assert (
        "app mirror shortcut: off, the file differs from the one shipped: it runs as written"
        in lines
    )
    for query_id in mirror_shortcuts.MIRROR:
        (line,) = (x for x in shipped[query_id] if x.startswith("app mirror shortcut:"))
        for used in mirror_shortcuts.used_by(query_id):
            assert used in line
