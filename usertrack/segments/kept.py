"""Classifications kept between the commands of one process (the MCP server), for `user`.

`user EMAIL` shows a person's profile and segments: the row `segments` computes for them. Run
alone it computes that row from the person's own rows (every per-user query restricted to the
email, joined, classified: most of a warm call). A process that answers many commands keeps the
classification of everyone it made (`Workspace.classify`), and `user` reads the person's row
there instead, keeping only the queries that are the person's own (timeline, tools, failures).

Kept only within `keeping()` (entered by `workspace.keep_open`), only on the demo (whose data
is fixed until `demo --reset`, the rule the server's kept answers follow), and only when the
row of one person cannot depend on anyone else's: `queries/join/profile.sql` a plain
`SELECT ... FROM joined [WHERE ...]` and every rule one expression over its own row (no
window, aggregate or subquery; `sandbox.row_by_row`), and no per-user query a saved insight
(which `user` cannot restrict to one email). A classification is found again only with the
same settings, moment, rules, per-user queries and profile query (by their text), and the same
demo data (the size and time of its manifest and event store): an edit to any of them is a new
key. The newest few are kept (`MAX_KEPT`, at most `MAX_KEPT_USERS` users in all); their DuckDB
connections stay open (`sandbox.hold`) until they are let go.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from usertrack.core.filecache import stamp

if TYPE_CHECKING:
    from usertrack.segments.rules import Classification

# `ws` below is a usertrack.workspace.Workspace (which imports this module: not named here).
Workspace = Any

MAX_KEPT = 4
MAX_KEPT_USERS = 200_000  # the newest is kept whatever its size

_kept: OrderedDict[tuple[Any, ...], Classification] | None = None
_lock = threading.Lock()


@contextmanager
def keeping() -> Iterator[None]:
    """Within: `Workspace.classify` keeps what it classifies and `user` reads it (see above).
    Everything kept is let go on leaving."""
    global _kept
    with _lock:
        _kept = OrderedDict()
    try:
        yield
    finally:
        with _lock:
            kept, _kept = _kept, None
        for classification in (kept or {}).values():
            _let_go(classification)


def _let_go(classification: Classification) -> None:
    from usertrack.checks.sandbox import let_go

    if classification.con is not None:
        let_go(classification.con)


def key(ws: Workspace, as_of: datetime) -> tuple[Any, ...] | None:
    """What a classification of `ws` at `as_of` is kept under; None when it is not kept."""
    from usertrack.checks.sql_checks import check_query
    from usertrack.segments.profiles import JOIN_TABLES

    if _kept is None or ws.demo is None:
        return None
    per_user = [q for kind in sorted(ws.sources) for q in ws.library.in_folder(kind, per_user=True)]
    if any(q.insight is not None for q in per_user):
        return None
    profile = ws.library.get("join/profile")
    try:
        body = check_query(profile.sql, JOIN_TABLES, first_line=profile.sql_line)
    except Exception:
        return None  # the classification reports it
    if not row_by_row(body, JOIN_TABLES[0]):
        return None
    if not all(row_by_row(seg.rule) for seg in ws.rules.segments):
        return None
    queries = tuple(
        (q.id, q.folder, str(q.path), q.sql, repr(q.params)) for q in (*per_user, profile)
    )
    data = (stamp(ws.demo.root / "manifest.json"), stamp(ws.demo.events_path))
    return (ws.settings, tuple(sorted(ws.sources)), as_of, ws.rules, queries, data)


def keep(ws: Workspace, as_of: datetime, classification: Classification) -> None:
    """Keep `classification` (just made by `ws.classify(as_of)`) for `user`, when keeping."""
    from usertrack.checks.sandbox import hold

    found = key(ws, as_of)
    if found is None or classification.con is None:
        return
    # A copy of its own: the command's closes (its connection then held, not released).
    copy = dataclasses.replace(classification)
    hold(copy.con)  # type: ignore[arg-type]
    dropped = []
    with _lock:
        if _kept is None:
            dropped.append(copy)
        else:
            if found in _kept:
                dropped.append(_kept.pop(found))
            _kept[found] = copy
            while len(_kept) > MAX_KEPT or (
                len(_kept) > 1 and sum(c.user_count for c in _kept.values()) > MAX_KEPT_USERS
            ):
                dropped.append(_kept.popitem(last=False)[1])
    for old in dropped:
        _let_go(old)


def kept(ws: Workspace, as_of: datetime) -> Classification | None:
    """The classification of `ws` at `as_of` kept by an earlier command, or None."""
    found = key(ws, as_of)
    if found is None:
        return None
    with _lock:
        if _kept is None or found not in _kept:
            return None
        _kept.move_to_end(found)
        return _kept[found]


def user_rows(classification: Classification, email: str) -> list[dict[str, Any]]:
    """The rows of `email` (normalized) in a kept classification, as `Classification.users`
    gives them."""
    from usertrack.segments.rules import EMAIL_ORDER

    rows = classification._fetch(f"WHERE email = $email ORDER BY {EMAIL_ORDER}", {"email": email})
    return [dict(zip(classification.names, row, strict=True)) for row in rows]


# --- whether a query or an expression reads only its own row ---------------------------------


@lru_cache(maxsize=1)
def _aggregate_names() -> frozenset[str]:
    """DuckDB's aggregate functions (count, sum, list, ...): in a select list, each makes one
    row of many."""
    from usertrack.checks.sandbox import scratch

    con = scratch()
    try:
        rows = con.execute(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions()"
            " WHERE function_type = 'aggregate'"
        ).fetchall()
    finally:
        con.close()
    return frozenset(name for (name,) in rows)


def _only_own_row(tree: Any) -> bool:
    """No window, no aggregate and no subquery anywhere in a parsed expression."""
    if isinstance(tree, list):
        return all(_only_own_row(item) for item in tree)
    if not isinstance(tree, dict):
        return True
    cls = tree.get("class")
    if cls in ("WINDOW", "SUBQUERY") or tree.get("type") in ("SELECT_NODE", "SET_OPERATION_NODE"):
        return False
    if cls == "FUNCTION" and str(tree.get("function_name", "")).lower() in _aggregate_names():
        return False
    return all(_only_own_row(v) for v in tree.values() if isinstance(v, dict | list))


@lru_cache(maxsize=256)
def row_by_row(sql: str, table: str | None = None) -> bool:
    """Whether each row `sql` gives is computed from one row of `table` alone, so that running
    it over one person's rows gives that person's row of running it over everyone's: `sql` is
    `SELECT <expressions> FROM table [WHERE <expression>]` (table given) or one expression
    (`table` None), with no window, aggregate, subquery, GROUP BY, DISTINCT, LIMIT, join or
    WITH. False when in doubt (or when `sql` does not parse)."""
    try:
        from usertrack.checks.sql_checks import parse_tree

        doc = parse_tree(sql if table else f"SELECT {sql}")
    except Exception:
        return False
    statements = doc.get("statements") or []
    if doc.get("error") or len(statements) != 1:
        return False
    node = statements[0].get("node") or {}
    if node.get("type") != "SELECT_NODE":
        return False
    if node.get("group_expressions") or node.get("group_sets"):
        return False
    if any(node.get(k) is not None for k in ("having", "qualify", "sample")):
        return False
    if (node.get("cte_map") or {}).get("map"):
        return False
    if any(m.get("type") != "ORDER_MODIFIER" for m in node.get("modifiers") or []):
        return False
    source = node.get("from_table") or {}
    if table is None:
        if source.get("type") != "EMPTY":
            return False
    elif source.get("type") != "BASE_TABLE" or (
        str(source.get("table_name", "")).lower() != table.lower()
        or source.get("schema_name")
        or source.get("catalog_name")
        or source.get("sample") is not None
    ):
        return False
    return _only_own_row(node.get("select_list")) and _only_own_row(node.get("where_clause"))
