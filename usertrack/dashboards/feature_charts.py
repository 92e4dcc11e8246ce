"""The features chart: a heatmap of adoption, the features grouped by their category.

As the user-activity specification's feature usage heatmap draws it: one line of cells per
category (the tracking plan's, usertrack.analytics.features.run.planned_features), each
feature a cell coloured by its adoption band, with the category's name beside its line and a
legend of the bands. The bands are the specification's: over 75%, over 50%, over 25%, over 10%,
and the rest. Categories come in the order the answer first names them (by uses), the features
of one by adoption, the highest first; a category of more than PER_LINE features goes on over
more lines, each named. Features without a category (every event with --event) are one group.
"""

from __future__ import annotations

from typing import Any

from usertrack.dashboards.vega import Chart, num
from usertrack.dashboards.vega import field as _field
from usertrack.dashboards.vega import top as _top

# (lowest adoption above which a feature is in the band, its name, its colour), highest first.
BANDS = (
    (75.0, "over 75%", "#16a34a"),
    (50.0, "50-75%", "#22c55e"),
    (25.0, "25-50%", "#eab308"),
    (10.0, "10-25%", "#f97316"),
    (None, "10% or less", "#ef4444"),
)
NO_CATEGORY = "(no category)"
PER_LINE = 8  # cells on one line of a category; more go on over the next
CELL_WIDTH = 112
CELL_HEIGHT = 40


def band(adoption: Any) -> str:
    """The adoption band of a percent (none: the lowest)."""
    value = adoption if isinstance(adoption, int | float) else 0.0
    for above, name, _colour in BANDS:
        if above is None or value > above:
            return name
    return BANDS[-1][1]


def features_heatmap(d: dict[str, Any]) -> Chart | None:
    """The features of an answer as a heatmap by category, and its alt text; None when none."""
    key = d.get("by", "feature")
    features = [f for f in d.get("features") or [] if isinstance(f, dict)]
    if not features:
        return None
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in features:
        groups.setdefault(str(f.get("category") or NO_CATEGORY), []).append(f)
    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    told: list[str] = []
    for category, members in groups.items():
        members = sorted(members, key=lambda f: -_value(f.get("adoption")))
        for start in range(0, len(members), PER_LINE):
            line = category if start == 0 else f"{category} ({start // PER_LINE + 1})"
            lines.append(line)
            for place, f in enumerate(members[start : start + PER_LINE]):
                name = str(f.get(key, f.get("feature")) or "(none)")
                adoption = f.get("adoption")
                rows.append({
                    "category": line, "place": place, "name": name, "adoption": adoption,
                    "shown": "-" if adoption is None else f"{num(adoption)}%",
                    "band": band(adoption), "persons": f.get("persons"), "uses": f.get("uses"),
                })  # fmt: skip
        told.append(
            f"{category}: "
            + ", ".join(
                f"{f.get(key, f.get('feature')) or '(none)'} {num(f.get('adoption'))}"
                for f in members
            )
        )
    whom = "all persons seen" if d.get("all_persons") is not None else "active persons"
    title = f"Adoption by {'category' if key == 'feature' else key}, % of {whom}"
    colour = _field(
        "band:N",
        legend={"orient": "bottom", "title": "Adoption"},
        scale={"domain": [b[1] for b in BANDS], "range": [b[2] for b in BANDS]},
    )
    x = _field("place:O", axis=None)
    y = _field("category:N", axis={"labelLimit": 160, "title": None}, sort=lines)
    tooltip = [_field("name:N"), _field("category:N"), _field("shown:N", title="adoption"),
               _field("persons:Q"), _field("uses:Q")]  # fmt: skip
    cell = {"mark": {"type": "rect", "cornerRadius": 3, "stroke": "white", "strokeWidth": 2},
            "encoding": {"color": colour, "tooltip": tooltip, "x": x, "y": y}}  # fmt: skip
    label = {"fill": "white", "fontSize": 10, "limit": CELL_WIDTH - 8}
    named = {"mark": {"type": "text", **dict(sorted({"dy": -7, **label}.items()))},
             "encoding": {"text": _field("name:N"), "x": x, "y": y}}  # fmt: skip
    bold = {"dy": 7, "fontWeight": "bold", **label}
    rate = {"mark": {"type": "text", **dict(sorted(bold.items()))},
            "encoding": {"text": _field("shown:N"), "x": x, "y": y}}  # fmt: skip
    # altair's order: the layers, then the rest by name
    spec = _top({
        "layer": [cell, named, rate], "data": {"values": rows},
        "height": {"step": CELL_HEIGHT}, "title": title, "width": {"step": CELL_WIDTH},
    })  # fmt: skip
    return spec, f"{title}: " + "; ".join(told) + "."


def adoption_bars(spec: dict[str, Any]) -> dict[str, Any]:
    """The heatmap as a bar per feature of its adoption, in the heatmap's order: the form
    mermaid's xychart draws (`report --charts mermaid`), which has no heatmap."""
    rows = [{"name": r["name"], "adoption": r["adoption"]} for r in spec["data"]["values"]]
    return {
        "data": {"values": rows}, "mark": {"type": "bar"}, "title": spec["title"],
        "encoding": {"x": _field("name:N"), "y": _field("adoption:Q")},
    }  # fmt: skip


def _value(adoption: Any) -> float:
    return float(adoption) if isinstance(adoption, int | float) else 0.0
