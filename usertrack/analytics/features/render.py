"""Feature usage as JSON, csv and Markdown (the terminal's rich rendering is in
usertrack.analytics.features.view, which only the CLI imports)."""

from __future__ import annotations

from typing import Any

from usertrack.analytics.common import change, csv_rows, md_section
from usertrack.analytics.features.run import Features
from usertrack.core import style
from usertrack.rendering.export import md_table

FEATURE_FIELDS = (
    "feature", "uses", "persons", "adoption", "avg_time_spent", "previous_uses", "trend",
    "retention",
)  # fmt: skip


COMPARED_FIELDS = ("previous_persons", "previous_adoption")


def features_csv(f: Features) -> str:
    """A row per feature; by feature, its category last, then a row per unused feature of the
    tracking plan (0 uses, its previous uses)."""
    fields = FEATURE_FIELDS + (COMPARED_FIELDS if f.compared else ())
    fields += ("category",) if f.by == "feature" else ()
    rows = [[getattr(x, k) for k in fields] for x in f.features]
    for name, category, before in f.unused:
        unused = {"feature": name, "uses": 0, "persons": 0, "previous_uses": before,
                  "trend": "down" if before else "flat", "category": category}  # fmt: skip
        rows.append([unused.get(k, "") for k in fields])
    return csv_rows(fields, rows)


def unused_line(f: Features) -> str | None:
    """The tracking plan's features not used in the period, with their category (and with
    --all-users, when each was last used)."""
    if not f.unused:
        return None

    def about(name: str, category: str | None) -> str:
        said = [category] if category else []
        if f.all_persons is not None:
            when = f.last_used.get(name)
            if when is None:
                said.append("never used")
            else:
                said.append(f"last used {when[:10] if isinstance(when, str) else style.day(when)}")
        return name + (f" ({'; '.join(said)})" if said else "")

    named = ", ".join(about(name, category) for name, category, _ in f.unused)
    return f"Not used in the period: {named}"


def compared_cells(x: Any) -> list[Any]:
    """--compare's cells: previous persons, previous adoption, the change of uses."""
    moved = change(x.uses, x.previous_uses)
    return [
        style.count(x.previous_persons),
        style.pct(x.previous_adoption),
        "-" if moved is None else f"{moved:+.1f}%",
    ]


COMPARED_HEADERS = ["Previous persons", "Previous adoption", "Change"]


def features_about(f: Features) -> str:
    what = "event" if f.by == "event" else "feature_used's feature"
    return (
        f"by {what}, {style.span(f.start, f.as_of)} ({f.days} days) against"
        f" the {f.days} days before; trend up or down at ±{f.threshold:g}%;"
        f" {style.count(f.active_persons)} active persons"
        + (
            f"; adoption of all {style.count(f.all_persons)} persons seen"
            if f.all_persons is not None
            else ""
        )
        + (
            f" ({style.count(f.previous_active_persons)} the period before)"
            if f.previous_active_persons is not None
            else ""
        )
    )


def feature_cells(x: Any, by: str = "event") -> list[Any]:
    return [
        x.feature if x.feature else "(none)",
        *([x.category or "-"] if by == "feature" else []),
        style.count(x.uses),
        style.count(x.persons),
        style.pct(x.adoption),
        style.pct(x.retention),
        style.duration(x.avg_time_spent),
        style.count(x.previous_uses),
        x.trend,
    ]


def feature_headers(f: Features) -> list[str]:
    """The human headers; the first names what is counted (a feature, or an event with --event)."""
    category = ["Category"] if f.by == "feature" else []
    return [f.by.capitalize(), *category, "Uses", "Persons", "Adoption", "Retention",
            "Avg time", "Previous uses", "Trend"]  # fmt: skip


def features_markdown(f: Features) -> str:
    lines = [style.md_text(f"Features as of {style.moment(f.as_of)}: {features_about(f)}.")]
    if not f.features:
        lines.append("No feature was used in either period.")
    headers = feature_headers(f) + (COMPARED_HEADERS if f.compared else [])
    rows = [feature_cells(x, f.by) + (compared_cells(x) if f.compared else []) for x in f.features]
    table = md_table(headers, rows)
    unused = unused_line(f)
    if unused:
        lines.append(style.md_text(unused + "."))
    return md_section("Features", lines, [table])
