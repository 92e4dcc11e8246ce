"""The pieces every chart's Vega-Lite specification is built of, as altair's `to_dict` writes
them (usertrack.dashboards.charts): encoding channels, views, the top-level wrapper, the caps on
what one chart draws, and the title and alt text's note of what a chart left out."""

from __future__ import annotations

from typing import Any


def num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# What altair's `to_dict` puts around every top-level chart (Vega-Lite's version of altair 6.x).
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"
_VIEW = (("continuousWidth", 300), ("continuousHeight", 300))
_TYPES = {"N": "nominal", "Q": "quantitative", "O": "ordinal", "T": "temporal"}


def field(shorthand: str, **more: Any) -> dict[str, Any]:
    """An encoding channel of `field:T` (T one of N, Q, O, T), with `more` of its properties."""
    name, _, kind = shorthand.rpartition(":")
    return dict(sorted({**more, "field": name, "type": _TYPES[kind]}.items()))  # altair's order


def tips(*shorthands: str) -> list[dict[str, Any]]:
    return [field(s) for s in shorthands]


def layer(values: list[dict[str, Any]], mark: dict[str, Any], **encoding: Any) -> dict[str, Any]:
    """One view: its rows, its mark (`{"type": ..., ...}`) and its encoding channels."""
    return {"data": {"values": values}, "mark": mark, "encoding": dict(sorted(encoding.items()))}


def top(spec: dict[str, Any]) -> dict[str, Any]:
    """A top-level specification: the view's default size and the schema, as altair writes them."""
    return {"config": {"view": dict(_VIEW)}, **spec, "$schema": SCHEMA}


def alt_pairs(kind: str, rows: list[dict[str, Any]], x: str, y: str) -> str:
    return f"{kind}: " + "; ".join(f"{r[x]} {num(r[y])}" for r in rows) + "."


Chart = tuple[dict[str, Any], str]  # (Vega-Lite spec, alt text)

# What one chart draws at most: past MAX_SERIES lines the colours repeat and the legend is cut,
# and past MAX_MARKS marks (points, bars, cells) a chart is slow to draw (V8 in vl-convert, or
# the reader's browser) and no clearer. A chart cut says so in its subtitle and its alt text;
# the answer's JSON and CSV stay whole.
MAX_SERIES = 20
MAX_MARKS = 10_000


def titled(title: str, notes: list[str], untold: list[str] | None = None) -> Any:
    """A chart's title, with a subtitle saying what was left out (`notes`: of the values drawn;
    `untold`: parts of the answer the chart has no mark for) if anything was."""
    if not notes and not untold:
        return title
    lines = [f"Drawn: {'; '.join(notes)}."] if notes else []
    lines += [f"Not drawn: {', '.join(untold)}."] if untold else []
    return {"text": title, "subtitle": [*lines, WHOLE]}


WHOLE = "-f json has every value."


def noted(notes: list[str], untold: list[str] | None = None) -> str:
    """The alt text's note of the same."""
    drawn = f" Drawn: {'; '.join(notes)}." if notes else ""
    return drawn + (f" Not drawn: {', '.join(untold)}." if untold else "")


def dates() -> dict[str, Any]:
    """A time axis's dates written one way ("Nov 22"), not Vega's mix of weekdays and months."""
    return {"format": "%b %d"}
