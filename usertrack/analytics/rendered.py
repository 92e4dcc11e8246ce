"""Rendering an analysis's result: JSON documents, csv rows, Markdown sections and sparklines
(a duration for humans is `usertrack.core.style.duration`). Every analysis module renders
through these, so each format reads the same everywhere (`usertrack.analytics.common`
re-exports them)."""

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


def demoted(markdown: str) -> str:
    """A Markdown document without its title, every heading one level down."""
    _title, _, rest = markdown.partition("\n")
    lines = []
    fenced = False
    for line in rest.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        lines.append("#" + line if line.startswith("#") and not fenced else line)
    return "\n".join(lines)


def seconds_or_none(value: float | None) -> float | None:
    """A duration for JSON: seconds to one decimal, None when there is none."""
    return None if value is None else round(float(value), 1)


_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """One block character per value, scaled from 0 to the largest (all ▁ when all are 0)."""
    top = max(values, default=0)
    if top <= 0:
        return _SPARKS[0] * len(values)
    last = len(_SPARKS) - 1
    return "".join(_SPARKS[round(last * max(v, 0) / top)] for v in values)
