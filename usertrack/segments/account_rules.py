"""Account segments: the `account_segments` of segments.yaml, rules over `usertrack accounts`' rows.

The same rules language as the users' segments (one SQL boolean expression, evaluated by DuckDB),
over one row per account: account, name, members, active_members, plan, seats, runs, failed_runs,
failure_rate, credits, health (docs/metrics.md, "Accounts"). An account's segment is the first
account segment whose rule holds, in file order; a rule that is NULL (a column without a value,
such as seats without PostHog groups) does not match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from usertrack.errors import SegmentsFileError, first_line
from usertrack.sql_checks import UnsafeSQLError, check_expression

if TYPE_CHECKING:
    from usertrack.segments.rules import Segment, SegmentsFile


def account_segment_of(
    spec: SegmentsFile, columns: list[str], rows: list[tuple[Any, ...]]
) -> list[str | None]:
    """Each row's account segment (its id), or None: the first account segment whose rule
    holds. A rule that is not one boolean expression over the columns is a SegmentsFileError
    naming its file, line and id, and the columns there are."""
    import duckdb
    import pyarrow as pa

    from usertrack.sandbox import connect

    segments = spec.account_segments
    if not segments:
        return [None] * len(rows)
    con = connect()
    try:
        table = pa.table({c: pa.array([r[i] for r in rows]) for i, c in enumerate(columns)})
        if not rows:  # no row to type the columns by: every column is text
            table = pa.table({c: pa.array([], pa.string()) for c in columns})
        con.register("_rows", table)
        con.execute("CREATE TEMP TABLE accounts AS SELECT *, row_number() OVER () AS _n FROM _rows")
        for seg in segments:
            _check(seg, con, columns)
        cases = " ".join(f"WHEN ({seg.rule}) THEN {i}" for i, seg in enumerate(segments))
        try:
            found = con.execute(f"SELECT CASE {cases} END FROM accounts ORDER BY _n").fetchall()
        except duckdb.Error as e:
            raise SegmentsFileError(
                f"{spec.path}: account segments cannot be evaluated: {first_line(e)}"
            ) from None
    finally:
        con.close()
    return [None if r[0] is None else segments[int(r[0])].id for r in found]


def _check(seg: Segment, con: Any, columns: list[str]) -> None:
    import duckdb

    from usertrack.segments.rules import binder_message

    available = ", ".join(columns)
    try:
        check_expression(seg.rule, con, what="rule")
    except UnsafeSQLError as e:
        raise SegmentsFileError(f"{seg.label}: {e}") from None
    try:
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
