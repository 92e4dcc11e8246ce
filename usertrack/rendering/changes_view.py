"""`segments --changes` as JSON, CSV and Markdown: who entered and left each segment between a
baseline and the current run (usertrack.segments.history's Changes; the terminal table is
usertrack.rendering.terminal's)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from usertrack.core.errors import UsageError
from usertrack.segments.history import Changes, SegmentMovement, moment_key


def changes_document(changes: Changes, segment: str | None = None) -> dict[str, Any]:
    return {
        "as_of": moment_key(changes.current.as_of),
        "since": moment_key(changes.baseline.as_of),
        "baseline": changes.baseline.source,
        "segments": [
            {
                "id": m.segment,
                "name": m.name,
                "action": m.action,
                "before": m.before,
                "after": m.after,
                "change": m.change,
                "entered": list(m.entered),
                "left": list(m.left),
            }
            for m in _selected(changes, segment)
        ],
    }


def _selected(changes: Changes, segment: str | None) -> Iterable[SegmentMovement]:
    return [m for m in changes.segments if segment is None or m.segment == segment]


def changes_json(changes: Changes, segment: str | None = None) -> str:
    from usertrack.rendering.export import json_text

    return json_text(changes_document(changes, segment))


def changes_csv(changes: Changes, segment: str | None = None) -> str:
    """One row per move: segment, change (entered/left), email."""
    from usertrack.rendering.export import csv_text

    return csv_text(
        ["segment", "change", "email"],
        (
            [m.segment, change, email]
            for m in _selected(changes, segment)
            for change, emails in (("entered", m.entered), ("left", m.left))
            for email in emails
        ),
    )


def changes_markdown(changes: Changes, segment: str | None = None, limit: int | None = 10) -> str:
    from usertrack.core import style
    from usertrack.core.style import md_text
    from usertrack.rendering.export import md_table

    moves = list(_selected(changes, segment))
    since, as_of = style.moment(changes.baseline.as_of), style.moment(changes.current.as_of)
    how = "saved snapshot" if changes.baseline.source == "snapshot" else "computed"
    out = [f"# Segment changes from {since} to {as_of}\n"]
    out.append(f"Baseline: {how} as of {since}.\n")
    out.append(
        md_table(
            ["Segment", "Before", "After", "Change", "Entered", "Left"],
            [
                [
                    m.name or m.segment,
                    m.before,
                    m.after,
                    style.signed(m.change),
                    len(m.entered),
                    len(m.left),
                ]
                for m in moves
            ],
        )
    )
    for m in moves:
        action = f" — {md_text(m.action)}" if m.action else ""
        out.append(f"\n## {md_text(m.name or m.segment)}{action}\n")
        for label, emails in (("Entered", m.entered), ("Left", m.left)):
            if not emails:
                out.append(f"{label}: nobody.\n")
                continue
            shown = list(emails) if segment or limit is None else list(emails)[:limit]
            hidden = len(emails) - len(shown)
            more = f" … and {style.count(hidden)} more" if hidden else ""
            listed = style.LIST_SEP.join(md_text(e) for e in shown)
            out.append(f"{label} ({style.count(len(emails))}): {listed}{more}\n")
    return "\n".join(out)


def render_changes(
    changes: Changes, fmt: str, segment: str | None = None, limit: int | None = 10
) -> str:
    if fmt == "json":
        return changes_json(changes, segment)
    if fmt == "csv":
        return changes_csv(changes, segment)
    if fmt == "md":
        return changes_markdown(changes, segment, limit)
    raise UsageError(f"unknown format {fmt!r} for --changes (choose from table, json, csv, md)")
