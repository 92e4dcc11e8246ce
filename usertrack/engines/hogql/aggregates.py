"""ClickHouse aggregates in DuckDB: builder(call, distinct, parametric args) -> Agg, by name."""

from __future__ import annotations

from collections.abc import Callable

from usertrack.engines.hogql.calls import Agg, Call
from usertrack.engines.hogql.tokens import Tok, significant


def _agg_count(c: Call, distinct: bool, params: list[str]) -> Agg:
    sig0 = significant(c.raw[0]) if c.raw else []
    if not c.args or (len(sig0) == 1 and isinstance(sig0[0], Tok) and sig0[0].text == "*"):
        return Agg("count(*)", [])
    if len(c.args) > 1:
        inner = "(" + ", ".join(c.args) + ")"
        return Agg(f"count({'DISTINCT ' if distinct else ''}{inner})", [])
    return Agg(f"count({'DISTINCT ' if distinct else ''}{c.args[0]})", [])


def _agg_uniq_exact(c: Call, distinct: bool, params: list[str]) -> Agg:
    c.need(1, 16)
    inner = c.args[0] if len(c.args) == 1 else "(" + ", ".join(c.args) + ")"
    return Agg(f"count(DISTINCT {inner})", [f"({a}) IS NOT NULL" for a in c.args])


def _agg_uniq(c: Call, distinct: bool, params: list[str]) -> Agg:
    # ClickHouse's uniq counts distinct hashes (approximately, past 65536 values). Distinct 64-bit
    # hashes are exact but for collisions (~n^2/2^65) and twice as fast as distinct strings here.
    c.need(1, 16)
    return Agg(f"count(DISTINCT hash({', '.join(c.args)}))", [f"({a}) IS NOT NULL" for a in c.args])


def _simple_agg(fn: str, *, zero: str | None = None) -> Callable[[Call, bool, list[str]], Agg]:
    def build(c: Call, distinct: bool, params: list[str]) -> Agg:
        c.need(1)
        agg = Agg(f"{fn}({'DISTINCT ' if distinct else ''}{c.args[0]})", [])
        if zero is not None and c.conditional:
            agg.wrap = lambda text: f"coalesce({text}, {zero})"
        return agg

    return build


def _agg_group_array(c: Call, distinct: bool, params: list[str]) -> Agg:
    c.need(1)
    x = c.args[0]
    expr = f"list({'DISTINCT ' if distinct else ''}{x})"
    size = params[0] if params else None

    def wrap(text: str) -> str:
        text = f"coalesce({text}, [])"
        return f"list_slice({text}, 1, {size})" if size else text

    return Agg(expr, [f"({x}) IS NOT NULL"], wrap)


def _agg_group_uniq_array(c: Call, distinct: bool, params: list[str]) -> Agg:
    return _agg_group_array(c, True, params)


def _agg_any(c: Call, distinct: bool, params: list[str]) -> Agg:
    c.need(1)
    return Agg(f"any_value({c.args[0]})", [])


def _agg_any_last(c: Call, distinct: bool, params: list[str]) -> Agg:
    c.need(1)
    return Agg(f"last({c.args[0]})", [f"({c.args[0]}) IS NOT NULL"])


def _agg_arg(fn: str) -> Callable[[Call, bool, list[str]], Agg]:
    def build(c: Call, distinct: bool, params: list[str]) -> Agg:
        a, b = c.need(2)
        return Agg(f"{fn}({a}, {b})", [])

    return build


def _agg_quantile(fn: str, default: str | None = None) -> Callable[[Call, bool, list[str]], Agg]:
    def build(c: Call, distinct: bool, params: list[str]) -> Agg:
        c.need(1)
        level = params[0] if params else default
        if level is None:
            raise c.err(f"{c.name} needs a level: {c.name}(0.9)(x)")
        return Agg(f"{fn}({c.args[0]}, {level})", [])

    return build


def _agg_median_high(c: Call, distinct: bool, params: list[str]) -> Agg:
    """ClickHouse's medianExactHigh: DuckDB's quantile_disc takes the lower middle value, so the
    upper is the lower of the values negated, negated back."""
    c.need(1)
    return Agg(f"-quantile_disc(-({c.args[0]}), 0.5)", [])


AGGREGATES: dict[str, Callable[[Call, bool, list[str]], Agg]] = {
    "count": _agg_count,
    "uniq": _agg_uniq,
    "uniqexact": _agg_uniq_exact,
    "uniqcombined": _agg_uniq,
    "uniqcombined64": _agg_uniq,
    "uniqhll12": _agg_uniq,
    "uniqtheta": _agg_uniq,
    "sum": _simple_agg("sum", zero="0"),
    "avg": _simple_agg("avg"),
    "min": _simple_agg("min"),
    "max": _simple_agg("max"),
    "median": _agg_quantile("quantile_cont", "0.5"),
    "medianexact": _agg_quantile("quantile_disc", "0.5"),
    # the lower and the upper of the two middle values (one value for an odd count)
    "medianexactlow": _agg_quantile("quantile_disc", "0.5"),
    "medianexacthigh": _agg_median_high,
    "quantile": _agg_quantile("quantile_cont"),
    "quantileexact": _agg_quantile("quantile_disc"),
    # ClickHouse's exact quantile with linear interpolation between the two nearest values
    # (Excel's PERCENTILE.INC), which is DuckDB's quantile_cont.
    "quantileexactinclusive": _agg_quantile("quantile_cont"),
    "stddevpop": _simple_agg("stddev_pop"),
    "stddevsamp": _simple_agg("stddev_samp"),
    "varpop": _simple_agg("var_pop"),
    "varsamp": _simple_agg("var_samp"),
    "grouparray": _agg_group_array,
    "groupuniqarray": _agg_group_uniq_array,
    "any": _agg_any,
    "anylast": _agg_any_last,
    "argmax": _agg_arg("arg_max"),
    "argmin": _agg_arg("arg_min"),
}
