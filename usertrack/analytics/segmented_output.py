"""An analysis kept to, or broken down by, groups of persons (usertrack.analytics.by_segment's
Segmented: segments, --who, a person property's values) in each format: JSON, csv, Markdown and
the terminal."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from usertrack.analytics.by_segment import Segmented
from usertrack.analytics.rendered import demoted

if TYPE_CHECKING:
    from rich.console import Console

# Keys of a part's JSON that repeat the whole answer's (left out when equal to it).
_SHARED = {
    "as_of", "from", "to", "window_seconds", "period", "mode", "start_event", "return_event",
    "start_point", "end_point", "interval", "math", "cumulative", "where", "days", "periods",
    "breakdown_property", "by", "top", "events", "steps", "breakdown_attribution",
    "breakdown_attribution_step", "breakdown_limit",
}  # fmt: skip


def _repeated(key: str, value: Any, whole: dict[str, Any]) -> bool:
    """Whether a part's `key` only repeats the whole answer's setting (never a list of rows)."""
    rows = isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, dict) for v in value)
    )
    return key in _SHARED and not rows and whole.get(key) == value


def header(result: Segmented) -> str:
    """'Who: EXPR', 'Segment: NAME' or 'By segment: A, B, ...' (escaped by whoever prints
    it)."""
    if result.who is not None:
        return f"Who: {result.who}"
    if result.segment is not None:
        return f"Segment: {result.name(result.segment)}"
    if result.by is not None:
        return f"By {result.by}: " + ", ".join(result.name(g) for g, _ in result.parts)
    return "By segment: " + ", ".join(result.name(g) for g, _ in result.parts)


def part_title(result: Segmented, group: str) -> str:
    """A part's heading: 'Segment: NAME', or 'person.properties.X = VALUE'."""
    if result.by is not None:
        return f"{result.by} = {result.name(group)}"
    return f"Segment: {result.name(group)}"


def text_of(render: Callable[[Any], str], fmt: str) -> Callable[[Any], str]:
    """`render` (an analysis's json, csv or md text) made to take a Segmented result too."""

    def segmented(result: Any) -> str:
        if not isinstance(result, Segmented):
            return render(result)
        if fmt == "json":
            return _json(result, render)
        if fmt == "csv":
            return _csv(result, render)
        return _markdown(result, render)

    return segmented


def _json(result: Segmented, render: Callable[[Any], str]) -> str:
    from usertrack.rendering.export import json_text

    doc = json.loads(render(result.overall))
    if result.who is not None:
        doc["who"] = result.who
    elif result.segment is not None:
        doc["segment"] = result.segment
    else:
        parts = []
        for group, part in result.parts:
            each = json.loads(render(part))
            kept = {k: v for k, v in each.items() if not _repeated(k, v, doc)}
            parts.append({**_labelled(result, group), **kept})
        if result.by is not None:
            doc["breakdown"] = result.by
        doc["by_value" if result.by is not None else "by_segment"] = parts
    return json_text(doc)


def _labelled(result: Segmented, group: str) -> dict[str, Any]:
    """A part's label in JSON: its segment, or its value of the person property (`other`: the
    persons of every value not shown)."""
    if result.by is None:
        return {"segment": group}
    from usertrack.analytics.by_property import value_of

    value = value_of(group)
    return {"value": value} if value is not None else {"value": None, "other": True}


def _csv(result: Segmented, render: Callable[[Any], str]) -> str:
    """--segment: the analysis's csv as it is; --by-segment: each group's rows after a `segment`
    column (the whole answer's rows are not repeated)."""
    from usertrack.core.style import csv_cell

    if result.segment is not None:
        return render(result.overall)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    wrote_header = False
    for group, part in result.parts:
        rows = list(csv.reader(io.StringIO(render(part), newline="")))
        if not rows:
            continue
        if not wrote_header:
            writer.writerow(["value" if result.by is not None else "segment", *rows[0]])
            wrote_header = True
        label = result.name(group) if result.by is not None else group
        for row in rows[1:]:
            writer.writerow([csv_cell(label), *row])
    return buf.getvalue()


def _markdown(result: Segmented, render: Callable[[Any], str]) -> str:
    from usertrack.core.style import md_text

    title, _, rest = render(result.overall).partition("\n")
    text = f"{title}\n\n{md_text(header(result))}\n{rest}"
    for group, part in result.parts:
        body = demoted(render(part)).strip("\n")
        text = text.rstrip("\n") + f"\n\n## {md_text(part_title(result, group))}\n\n{body}\n"
    return text


def table_of(draw: Callable[[Console, Any], None]) -> Callable[[Console, Any], None]:
    """`draw` (an analysis's terminal view) made to take a Segmented result too: the whole
    answer, then each group's under a 'Segment: NAME' line."""

    def segmented(console: Console, result: Any) -> None:
        if not isinstance(result, Segmented):
            draw(console, result)
            return
        from usertrack.rendering.terminal import plain

        console.print(plain(header(result)))
        draw(console, result.overall)
        for group, part in result.parts:
            console.print()
            console.print(plain(part_title(result, group), style_="bold"))
            draw(console, part)

    return segmented
