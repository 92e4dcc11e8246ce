"""ClickHouse's date and time functions with ClickHouse's semantics in DuckDB (Sunday or Monday
weeks, boundaries crossed, UTC only), and its numeric conversions.
"""

from __future__ import annotations

from collections.abc import Callable

from usertrack.engines.hogql.calls import Call
from usertrack.engines.hogql.tokens import UNITS

# ClickHouse refuses text with spaces around the number or digit separators ('1_000'), where
# DuckDB's TRY_CAST reads them: toFloat, toFloatOrNull.
FLOAT_OR_NULL = (
    "(CASE WHEN regexp_matches(CAST({x} AS VARCHAR), '^\\s|\\s$|_') THEN NULL"
    " ELSE TRY_CAST({x} AS DOUBLE) END)"
)


def unary(template: str) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        (x,) = c.need(1)
        return template.format(x=x)

    return handle


def binary_call(template: str) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        a, b = c.need(2)
        return template.format(a=a, b=b)

    return handle


def check_tz(c: Call, n: int) -> None:
    """Accept a timezone argument only when it is UTC: the store holds UTC timestamps."""
    if n < len(c.raw):
        tz = c.literal(n)
        if tz is None or tz.upper() not in ("UTC", "ETC/UTC", "GMT", "Z"):
            raise c.err(
                f"{c.name} with timezone {tz or c.args[n]!r} is not supported by the local engine"
                " (events are stored in UTC; only 'UTC' is accepted)"
            )


def _as_timestamp(c: Call, n: int) -> str:
    x = c.args[n]
    if c.text_value(n):  # text may carry an offset: parse it as an instant, then express it in UTC
        return f"CAST(CAST({x} AS TIMESTAMPTZ) AS TIMESTAMP)"
    return f"CAST({x} AS TIMESTAMP)"


def _as_date(c: Call, n: int) -> str:
    if c.text_value(n):
        return f"CAST({_as_timestamp(c, n)} AS DATE)"
    return f"CAST({c.args[n]} AS DATE)"


def fn_to_datetime(c: Call) -> str:
    c.need(1, 3)
    if c.low == "todatetime64":  # toDateTime64(x, precision[, tz])
        check_tz(c, 2)
    else:
        check_tz(c, 1)
    return _as_timestamp(c, 0)


def fn_to_date(c: Call) -> str:
    c.need(1, 2)
    check_tz(c, 1)
    return _as_date(c, 0)


def fn_to_timezone(c: Call) -> str:
    c.need(2)
    check_tz(c, 1)
    return c.args[0]


def truncate_to(unit: str, as_date: bool = False) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        c.need(1, 2)
        check_tz(c, 1)
        cast = "DATE" if as_date else "TIMESTAMP"
        return f"CAST(date_trunc('{unit}', {_as_timestamp(c, 0)}) AS {cast})"

    return handle


def _monday(d: str) -> str:
    return f"({d} - CAST(isodow({d}) - 1 AS INTEGER))"


def _sunday(d: str) -> str:
    return f"({d} - CAST(dayofweek({d}) AS INTEGER))"


def fn_to_start_of_week(c: Call) -> str:
    c.need(1, 3)
    check_tz(c, 2)
    mode = c.literal(1) if len(c.raw) > 1 else "0"
    if mode is None or not mode.isdigit():
        raise c.err("toStartOfWeek's mode must be a number literal")
    d = _as_date(c, 0)
    # ClickHouse: mode 0 (the default) starts weeks on Sunday; odd modes on Monday.
    return _monday(d) if int(mode) % 2 == 1 else _sunday(d)


def fn_to_monday(c: Call) -> str:
    c.need(1, 2)
    check_tz(c, 1)
    return _monday(_as_date(c, 0))


def fn_to_day_of_week(c: Call) -> str:
    c.need(1, 3)
    mode = c.literal(1) if len(c.raw) > 1 else "0"
    check_tz(c, 2)
    if mode != "0":
        raise c.err("toDayOfWeek is supported with the default mode only (1 = Monday)")
    return f"isodow({_as_timestamp(c, 0)})"


def date_part(fn: str) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        c.need(1, 2)
        check_tz(c, 1)
        return f"{fn}({_as_timestamp(c, 0)})"

    return handle


def fn_yyyymm(c: Call) -> str:
    c.need(1, 2)
    check_tz(c, 1)
    t = _as_timestamp(c, 0)
    return f"CAST(year({t}) * 100 + month({t}) AS BIGINT)"


def fn_yyyymmdd(c: Call) -> str:
    c.need(1, 2)
    check_tz(c, 1)
    t = _as_timestamp(c, 0)
    return f"CAST(year({t}) * 10000 + month({t}) * 100 + day({t}) AS BIGINT)"


def _unit_of(c: Call, n: int) -> str:
    unit = c.literal(n)
    if unit is None or unit.lower() not in UNITS:
        raise c.err(f"{c.name} needs a unit such as 'day', 'hour' or 'week' as argument {n + 1}")
    return UNITS[unit.lower()]


def fn_date_diff(c: Call) -> str:
    c.need(3, 4)
    check_tz(c, 3)
    unit = _unit_of(c, 0)
    a, b = _as_timestamp(c, 1), _as_timestamp(c, 2)
    if unit == "WEEK":
        # ClickHouse counts Monday-start week boundaries (toRelativeWeekNum); DuckDB does not.
        da, db = f"CAST({a} AS DATE)", f"CAST({b} AS DATE)"
        return f"(date_diff('day', {_monday(da)}, {_monday(db)}) // 7)"
    # DuckDB's date_diff counts unit boundaries between the two instants, like ClickHouse.
    return f"date_diff('{unit.lower()}', {a}, {b})"


def _date_arg(c: Call, n: int) -> str:
    """A date argument of date arithmetic: text is read as a date and time (ClickHouse 23.10+)."""
    return _as_timestamp(c, n) if c.text_value(n) else c.args[n]


def fn_date_add(sign: str) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        if len(c.args) == 2:  # dateAdd(date, INTERVAL n unit)
            return f"({_date_arg(c, 0)} {sign} {c.args[1]})"
        c.need(3)
        unit = _unit_of(c, 0)
        return f"({_date_arg(c, 2)} {sign} INTERVAL ({c.args[1]}) {unit})"

    return handle


def fn_add(unit: str, sign: str) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        _d, n = c.need(2)
        return f"({_date_arg(c, 0)} {sign} INTERVAL ({n}) {unit})"

    return handle


def fn_to_interval(unit: str) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        (n,) = c.need(1)
        return f"INTERVAL ({n}) {unit}"

    return handle


def fn_date_trunc(c: Call) -> str:
    c.need(2, 3)
    check_tz(c, 2)
    unit = _unit_of(c, 0)
    return f"CAST(date_trunc('{unit.lower()}', {_as_timestamp(c, 1)}) AS TIMESTAMP)"


def fn_to_start_of_interval(c: Call) -> str:
    c.need(2, 3)
    check_tz(c, 2)
    return f"time_bucket({c.args[1]}, {_as_timestamp(c, 0)})"


def fn_now(c: Call) -> str:
    c.need(0, 1)
    check_tz(c, 0)
    return "CAST(date_trunc('second', now()) AS TIMESTAMP)"


def fn_today(c: Call) -> str:
    c.need(0)
    return "CAST(CAST(now() AS TIMESTAMP) AS DATE)"


def fn_yesterday(c: Call) -> str:
    c.need(0)
    return "(CAST(CAST(now() AS TIMESTAMP) AS DATE) - 1)"
