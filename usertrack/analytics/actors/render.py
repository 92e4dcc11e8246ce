"""The people of a `--persons` cell (usertrack.analytics.actors.run) as JSON, csv and Markdown
(the terminal's table: usertrack.analytics.actors.view, which only the CLI imports)."""

from __future__ import annotations

from typing import Any

from usertrack.analytics.actors.run import SHOWN, Actors


def shown_columns(found: Actors) -> list[str]:
    """The profile columns a table or Markdown shows: the usual few that the profile has."""
    return [c for c in SHOWN if c in found.columns]


def shown_headers(columns: list[str]) -> list[str]:
    """The shown columns' headers: each with its source and window (`usertrack user EMAIL`'s)."""
    from usertrack.segments.profile_labels import profile_label

    return [profile_label(c) for c in columns]


def shown_cell(person: dict[str, Any], column: str) -> str:
    """One shown profile value for a person to read: a rate with its '%' (style.human)."""
    from usertrack.core import style

    return style.human(person.get(column), column)


def actors_title(found: Actors) -> str:
    from usertrack.core import style

    return f"{style.count(len(found.persons))} people: {found.command} {found.about}"


def actors_json(found: Actors) -> str:
    from usertrack.analytics.common import json_document

    names = ["person_id", "email", *found.columns]
    unread = found.profiles is None and found.pending is None
    if unread or not found.persons or len(set(names)) != len(names):
        return json_document(found.document())
    from operator import itemgetter

    from usertrack.rendering.export import json_text_with_columns

    columns = [list(map(itemgetter(n), found.persons)) for n in ("person_id", "email")]
    doc = found.document(persons=False)
    if found.profiles is None and len(found.persons) >= 2:
        # written by DuckDB where the profiles are (ProfileRows.json_tails)
        tails = found.pending.json_tails(found.persons)
        if tails is not None:
            return json_text_with_columns(doc, "persons", names[:2], columns, tails)
    columns += map(list, zip(*found.profile_rows() or (), strict=True))
    return json_text_with_columns(doc, "persons", names, columns)


def actors_csv(found: Actors) -> str:
    from usertrack.analytics.common import csv_rows

    header = ["person_id", "email", *found.columns]
    return csv_rows(header, [[p.get(c) for c in header] for p in found.people()])


def actors_markdown(found: Actors) -> str:
    from usertrack.analytics.common import md_section
    from usertrack.core import style
    from usertrack.rendering.export import md_table

    shown = shown_columns(found)
    lines = [style.md_text(f"{actors_title(found)}, as of {style.moment(found.as_of)}.")]
    lines += [style.md_text(note) for note in found.notes]
    rows = [
        [p["email"], p["person_id"], *(shown_cell(p, c) for c in shown)] for p in found.people()
    ]
    table = md_table(["Email", "Person", *shown_headers(shown)], rows)
    return md_section(f"People of {found.command} {found.cell}", lines, [table])
