"""Account segments: the `account_segments` of segments.yaml, rules over `usertrack accounts`' rows.

The same rules language as the users' segments (one SQL boolean expression, evaluated by DuckDB),
over one row per account: account, name, members, active_members, plan, seats, runs, failed_runs,
failure_rate, credits, health (docs/metrics.md, "Accounts"). An account's segment is the first
account segment whose rule holds, in file order; a rule that is NULL (a column without a value,
such as seats without PostHog groups) does not match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from usertrack.checks.sandbox import time_limit
from usertrack.checks.sql_checks import UnsafeSQLError, check_expression
from usertrack.core.errors import SegmentsFileError, first_line

if TYPE_CHECKING:
    from collections.abc import Sequence

    from usertrack.segments.rules import Segment, SegmentsFile


def account_segment_of(
    spec: SegmentsFile, columns: list[str], rows: list[tuple[Any, ...]], con: Any = None
) -> list[str | None]:
    """Each row's account segment (its id), or None: the first account segment whose rule
    holds. A rule that is not one boolean expression over the columns is a SegmentsFileError
    naming its file, line and id, and the columns there are. `con`: rules_connection's, opened
    ahead (closed here), else one is opened."""
    cells = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in columns]
    return segments_of_columns(spec, columns, cells, len(rows), con)


def segments_of_columns(
    spec: SegmentsFile, columns: list[str], cells: list[list[Any]], count: int, con: Any = None
) -> list[str | None]:
    """account_segment_of over the rows given a column at a time: `cells` holds each column's
    `count` values, in the rows' order."""
    import duckdb

    from usertrack.checks.sandbox import connect

    segments = spec.account_segments
    if not segments:
        if con is not None:
            con.close()
        return [None] * count
    con = con if con is not None else connect()
    try:
        # a rule reading no column (`true`) still sees every row: the first column kept
        kept = _read_columns(segments, columns, con) or columns[:1]
        _accounts_table(con, kept, [cells[columns.index(c)] for c in kept], count)
        for seg in segments:
            _check(seg, con, columns)
        cases = " ".join(f"WHEN ({seg.rule}) THEN {i}" for i, seg in enumerate(segments))
        try:
            with time_limit(con, f"{spec.path}: the account segments"):
                found = con.execute(f"SELECT CASE {cases} END FROM accounts ORDER BY _n").fetchall()
        except duckdb.Error as e:
            raise SegmentsFileError(
                f"{spec.path}: account segments cannot be evaluated: {first_line(e)}"
            ) from None
    finally:
        con.close()
    return [None if r[0] is None else segments[int(r[0])].id for r in found]


def rules_connection(spec: SegmentsFile) -> Any:
    """The sandboxed connection account_segment_of evaluates the account segments on, opened
    (its DuckDB imported) while the caller waits for the accounts' rows; None without account
    segments."""
    from usertrack.checks.sandbox import connect

    return connect() if spec.account_segments else None


def _read_columns(segments: Sequence[Segment], columns: list[str], con: Any) -> list[str]:
    """The columns the rules read, in the rows' order: the table holds those alone (each
    column's values bound cost as much as a rule's evaluation). All of them where a rule names
    one that is not a column, or is not one plain expression (its check then says so)."""
    from usertrack.checks.sql_checks import expression_columns

    read: set[str] = set()
    parsing = con.cursor()  # its results left unread: the connection's own stay free
    try:
        for seg in segments:
            read.update(expression_columns(seg.rule, parsing))
    except UnsafeSQLError:
        return columns
    finally:
        parsing.close()
    if not read <= set(columns):
        return columns
    return [c for c in columns if c in read]


# The DuckDB type of a column by the Python types of its values (None aside), as Arrow infers
# them: integers int64, numbers with a fraction double, texts, booleans.
_COLUMN_TYPES = {
    frozenset({int}): "BIGINT",
    frozenset({float}): "DOUBLE",
    frozenset({int, float}): "DOUBLE",
    frozenset({str}): "VARCHAR",
    frozenset({bool}): "BOOLEAN",
}


def _accounts_table(con: Any, columns: list[str], cells: list[list[Any]], count: int) -> None:
    """The temporary table `accounts` of `columns`, `cells` holding each one's `count` values
    (the rows in their order, `_n`), each column typed by its values (a column of NULLs alone,
    or of no row, has DuckDB's NULL type: a rule comparing it to a number or a text binds).
    Bound as lists, without Arrow (its import is a fifth of a second); a column of another
    type (a timestamp, a decimal) goes through Arrow."""
    values = dict(zip(columns, cells, strict=True))
    kinds = {c: frozenset(map(type, v)) - {type(None)} for c, v in values.items()}
    if count and any(k and k not in _COLUMN_TYPES for k in kinds.values()):
        import pyarrow as pa

        con.register("_rows", pa.table({c: pa.array(v) for c, v in values.items()}))
        con.execute("CREATE TEMP TABLE accounts AS SELECT *, row_number() OVER () AS _n FROM _rows")
        return
    selected = []
    for i, c in enumerate(columns):
        kind = _COLUMN_TYPES.get(kinds[c], "VARCHAR")
        cast = f"CAST($c{i} AS {kind}[])" if kinds[c] else f"$c{i}"
        selected.append(f'unnest({cast}) AS "{c.replace(chr(34), chr(34) * 2)}"')
    con.execute(
        "CREATE TEMP TABLE accounts AS SELECT *, row_number() OVER () AS _n"
        f" FROM (SELECT {', '.join(selected)})",
        {f"c{i}": values[c] for i, c in enumerate(columns)},
    )


def _check(seg: Segment, con: Any, columns: list[str]) -> None:
    import duckdb

    from usertrack.segments.rules import binder_message

    available = ", ".join(columns)
    try:
        check_expression(seg.rule, con, what="rule")
    except UnsafeSQLError as e:
        raise SegmentsFileError(f"{seg.label}: {e}") from None
    try:
        with time_limit(con, f"{seg.label}: the rule"):  # binding folds its constant parts
            desc = con.execute(f"SELECT (\n{seg.rule}\n) AS m FROM accounts LIMIT 0").description
    except duckdb.BinderException as e:
        raise SegmentsFileError(binder_message(seg.label, "rule", e, columns, available)) from None
    except duckdb.Error as e:
        raise SegmentsFileError(
            f"{seg.label}: rule is not a single SQL boolean expression: {first_line(e)}"
        ) from None
    if len(desc) != 1 or str(desc[0][1]) != "BOOLEAN":
        raise SegmentsFileError(
            f"{seg.label}: rule is not a boolean expression (compare it: active_members >= seats)"
        )


def segment_counts(spec: SegmentsFile, chosen: list[str | None]) -> list[dict[str, Any]]:
    """Each account segment with its action and how many accounts are in it, in file order."""
    return [
        {"id": s.id, "name": s.name, "action": s.action, "accounts": chosen.count(s.id)}
        for s in spec.account_segments
    ]
