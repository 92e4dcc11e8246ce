"""Rendering an analysis's result: JSON documents, csv rows, Markdown sections, durations and
sparklines. Every analysis module renders through these, so each format reads the same
everywhere (`usertrack.analytics.common` re-exports them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def json_document(doc: Mapping[str, Any]) -> str:
    """An analysis's JSON document (datetimes as ISO `Z`, indented, UTF-8 kept)."""
    from usertrack.rendering.export import json_text

    return json_text(dict(doc))


def csv_rows(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV with a header line; every cell through `style.csv_cell` (no spreadsheet formulas)."""
    from usertrack.rendering.export import csv_text

    return csv_text(header, rows)


def md_section(title: str, lines: Sequence[str], tables: Sequence[str] = ()) -> str:
    """A Markdown document: `# title`, paragraphs (already escaped), then tables."""
    from usertrack.core.style import md_text

    parts = [f"# {md_text(title)}\n"]
    parts.extend(f"{line}\n" for line in lines)
    parts.extend(tables)
    return "\n".join(parts)


def seconds_or_none(value: float | None) -> float | None:
    """A duration for JSON: seconds to one decimal, None when there is none."""
    return None if value is None else round(float(value), 1)


def duration(seconds: float | None) -> str:
    """A duration for humans: '45s', '12m', '3.5h', '14d'; '-' for none."""
    if seconds is None:
        return "-"
    s = float(seconds)
    # Each unit up to where its rounded figure would read as the next one ('60s', '60m',
    # '24.0h'): 59.6 seconds is '1m'.
    if s < 59.5:
        return f"{s:.0f}s"
    if s < 59.5 * 60:
        return f"{s / 60:.0f}m"
    for unit, size in (("h", 3600), ("d", 86400)):
        value = s / size
        if unit == "d" or value < 23.95:
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    raise AssertionError("unreachable")


_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """One block character per value, scaled from 0 to the largest (all ▁ when all are 0)."""
    top = max(values, default=0)
    if top <= 0:
        return _SPARKS[0] * len(values)
    last = len(_SPARKS) - 1
    return "".join(_SPARKS[round(last * max(v, 0) / top)] for v in values)
