"""A profile of only the columns an expression names (`--who`): the per-user queries those columns
read, joined, and `queries/join/profile.sql`'s SELECT kept to those columns.

The whole profile runs every per-user query (the app's database and PostHog) and classifies
everyone; an expression over one or two columns needs one or two of them. Which profile columns
read which joined columns comes from DuckDB's parse of profile.sql (one plain SELECT over
`joined`; anything else builds the whole profile). Which query returns a joined column comes
from each query's columns, asked with `LIMIT 0` (no rows: the database plans and stops) of
the app's database and the events store; live PostHog, whose every query counts against the
project's hourly limit, is not asked: its queries all run when the others do not return every
column read. A column that reads `in_posthog` or `in_neon` needs every query of that source,
which make them.

The answer is the whole profile's, person for person: a person the kept queries do not know is
one whose kept columns would all be NULL there (the flags false), and the narrowed profile is
used only when the expression is not true on such a person (checked on that one row);
otherwise the whole profile is built.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.core.clock import naive_utc
from usertrack.engines.base import Source
from usertrack.queries.library import Query, QueryLibrary, resolve_params

if TYPE_CHECKING:
    import duckdb

    from usertrack.segments.profiles import Progress

FLAGS = {"in_posthog": "posthog", "in_neon": "neon"}


@dataclass(frozen=True)
class Narrowed:
    """profile.sql kept to some columns: its text, the joined columns they read, and the
    sources whose every query they need (they read in_<source>)."""

    sql: str
    reads: frozenset[str]
    whole_sources: frozenset[str]


def profile_items(sql: str) -> list[tuple[str, dict[str, Any]]] | None:
    """profile.sql's select list as (column, parse node); None when it is not one plain SELECT
    over `joined` (a CTE, a GROUP BY, a join, `*`, a column without a name)."""
    from usertrack.checks.sql_checks import parse_tree

    return _items(parse_tree(sql))


def _items(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]] | None:
    """profile_items of profile.sql's parse tree `doc`."""
    statements = doc.get("statements") or []
    if doc.get("error") or len(statements) != 1:
        return None
    node = statements[0].get("node") or {}
    table = node.get("from_table") or {}
    plain = (
        node.get("type") == "SELECT_NODE"
        and not (node.get("cte_map") or {}).get("map")
        and not node.get("modifiers")
        and not (node.get("groups") or {}).get("group_expressions")
        and node.get("having") is None
        and node.get("qualify") is None
        and table.get("type") == "BASE_TABLE"
        and str(table.get("table_name", "")).lower() == "joined"
    )
    if not plain:
        return None
    items = []
    for item in node.get("select_list") or []:
        name = item.get("alias") or (
            item["column_names"][-1] if item.get("class") == "COLUMN_REF" else ""
        )
        if not name or item.get("class") == "STAR":
            return None
        items.append((str(name), item))
    return items


def narrowed(profile_sql: str, wanted: Collection[str]) -> Narrowed | None:
    """profile.sql kept to `email` and the `wanted` columns; None when it cannot be (see
    profile_items) or names none of them."""
    from usertrack.checks.sandbox import scratch
    from usertrack.checks.sql_checks import node_columns, parse_tree

    doc = parse_tree(profile_sql)
    items = _items(doc)
    if items is None:
        return None
    kept = [(n, item) for n, item in items if n == "email" or n in wanted]
    if not any(n != "email" for n, _ in kept) or "email" not in {n for n, _ in kept}:
        return None
    reads: set[str] = set()
    for _, item in kept:
        reads.update(node_columns(item))
    doc["statements"][0]["node"]["select_list"] = [item for _, item in kept]
    con = scratch()  # no database of its own: opening one costs more than the rest
    try:
        rows = con.execute("SELECT json_deserialize_sql($doc)", {"doc": json.dumps(doc)}).fetchall()
    finally:
        con.close()
    row = rows[0] if rows else None
    if not row or not row[0]:
        return None
    whole = frozenset(FLAGS[c] for c in reads if c in FLAGS)
    return Narrowed(
        sql=row[0], reads=frozenset(reads - set(FLAGS) - {"email"}), whole_sources=whole
    )


def columns_of(source: Source, query: Query, values: Mapping[str, Any]) -> list[str] | None:
    """The columns `query` returns, asked with LIMIT 0; None when the source cannot say."""
    from usertrack.core.errors import UsertrackError

    body = query.sql.rstrip().rstrip(";")
    probe = dataclasses.replace(query, sql=f"SELECT * FROM (\n{body}\n) AS usertrack_probe LIMIT 0")
    try:
        return list(source.run(probe, values).columns)
    except UsertrackError:
        return None


def kept_columns(query: Query, columns: list[str], reads: Collection[str]) -> Query:
    """`query` (a PostgreSQL one) answering only email and the `columns` of it that are read:
    the database writes, and usertrack parses, no value of the others (`subscription_status`
    alone of accounts.sql at 100,000 users: 0.04 s less of the server's CPU, its times not
    written out as text). Any other query as it is."""
    if query.dialect != "postgres":
        return query
    kept = [c for c in columns if c == "email" or c in reads]
    if len(kept) == len(columns) or "email" not in kept or len(set(columns)) != len(columns):
        return query
    names = ", ".join('usertrack_cols."' + c.replace('"', '""') + '"' for c in kept)
    body = query.sql.rstrip().rstrip(";")
    return dataclasses.replace(
        query,
        sql=f"SELECT {names} FROM (\n{body}\n) AS usertrack_cols",
        sql_line=query.sql_line - 1,  # the body moved one line down: errors keep the file's line
    )


def _asks_cheaply(source: Source) -> bool:
    """Whether a LIMIT 0 question costs the source next to nothing: a database usertrack opens
    itself (PostgreSQL, the events store). Live PostHog counts every query against the
    project's hourly limit, so it is not asked."""
    from usertrack.engines.local.source import LocalPostHogSource
    from usertrack.engines.postgres.source import PostgresSource

    return isinstance(source, PostgresSource | LocalPostHogSource)


def needed_jobs(
    library: QueryLibrary,
    sources: Mapping[str, Source],
    narrow: Narrowed,
    as_of: datetime,
    params: Mapping[str, Any],
) -> dict[str, list[tuple[str, Query, Mapping[str, Any]]]] | None:
    """Per source, the per-user queries the narrowed profile reads (as profiles.run_by_source
    takes them); None when a query's columns cannot be told (the whole profile then). A
    source that is not asked (_asks_cheaply) runs all its queries when the others do not
    return every column read, else none."""
    jobs: dict[str, list[tuple[str, Query, Mapping[str, Any]]]] = {}
    covered: set[str] = set()
    unasked = []
    for kind, source in sources.items():
        jobs[kind] = []
        queries = library.in_folder(kind, per_user=True)
        if kind not in narrow.whole_sources and not _asks_cheaply(source):
            unasked.append(kind)
            continue
        for query in queries:
            values = resolve_params(query, params, now_value=as_of)
            if kind in narrow.whole_sources:
                jobs[kind].append((query.id, query, values))
                continue
            columns = columns_of(source, query, values)
            if columns is None:
                return None
            if narrow.reads & set(columns):
                covered.update(columns)
                jobs[kind].append((query.id, kept_columns(query, columns, narrow.reads), values))
    for kind in unasked:
        if narrow.reads - covered:
            jobs[kind] = [
                (q.id, q, resolve_params(q, params, now_value=as_of))
                for q in library.in_folder(kind, per_user=True)
            ]
    return jobs


def holds_for_unknown(
    con: duckdb.DuckDBPyConnection,
    narrow: Narrowed,
    expression: str,
    as_of: datetime,
    profile_values: Mapping[str, Any],
) -> bool:
    """Whether `expression` holds (or cannot be told) for a person none of the kept queries
    knows: every joined column the narrowed profile reads NULL, the flags false."""
    import duckdb

    nulls = ", ".join(f'NULL AS "{c}"' for c in sorted(narrow.reads))
    flags = "false AS in_posthog, false AS in_neon"
    row = f"SELECT NULL AS email, {nulls + ', ' if nulls else ''}{flags}"
    stamp = naive_utc(as_of).isoformat(sep=" ")
    try:
        found = con.execute(
            f"WITH joined AS ({row}), profile AS ({narrow.sql})"
            f" SELECT ({expression}) FROM (SELECT *, TIMESTAMP '{stamp}' AS as_of FROM profile)",
            _used(narrow.sql, profile_values),
        ).fetchall()
    except duckdb.Error:
        return True
    return bool(found and found[0][0] is True)  # NULL: not a member, as in the classification


def build_narrowed(
    library: QueryLibrary,
    sources: Mapping[str, Source],
    *,
    as_of: datetime,
    exclude_domains: Collection[str],
    wanted: Collection[str],
    expression: str,
    progress: Progress | None = None,
    bundle: Collection[str] = (),
) -> Any | None:
    """A ProfileRun whose `profile` holds email and the `wanted` columns, from only the
    per-user queries they read; None when the whole profile is needed (see the module).
    `bundle`: as profiles.run_by_source takes it."""
    import duckdb

    from usertrack.checks.sandbox import connect_while, release, scratch
    from usertrack.checks.sql_checks import check_query
    from usertrack.segments import profiles

    profile_query = library.get("join/profile")
    # the file passes the same checks as when it is run whole
    check_query(profile_query.sql, profiles.JOIN_TABLES, first_line=profile_query.sql_line)
    narrow = narrowed(profile_query.sql, wanted)
    if narrow is None:
        return None
    excluded = profiles.exclude_pattern(exclude_domains)
    params = {"as_of": as_of, "exclude_pattern": excluded}
    values = resolve_params(profile_query, {"as_of": naive_utc(as_of)}, now_value=naive_utc(as_of))
    checking = scratch()  # the expression asked of literals alone: no profile connection yet
    try:
        if holds_for_unknown(checking, narrow, expression, as_of, values):
            return None
    finally:
        checking.close()
    jobs = needed_jobs(library, sources, narrow, as_of, params)
    if jobs is None:
        return None
    # The profile's connection is opened while the sources answer.
    con, results = connect_while(
        lambda: profiles.run_by_source(sources, jobs, progress, bundle=bundle),
        settings=profiles.PROFILE_SETTINGS,
        reuse=True,
    )
    try:
        profiles.load_and_join(con, library, results, excluded=excluded)
        try:
            con.execute(
                f"CREATE OR REPLACE TABLE profile AS {narrow.sql}", _used(narrow.sql, values)
            )
        except duckdb.Error:  # a column no query returns: the whole build says which
            release(con)
            return None
        return profiles.profile_run(con, profile_query, as_of, results)
    except BaseException:
        release(con)
        raise


def _used(sql: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values whose `$name` the text reads (DuckDB refuses a named value it does not)."""
    import re

    return {k: v for k, v in values.items() if re.search(rf"\${re.escape(k)}\b", sql)}
