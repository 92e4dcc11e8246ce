"""The charts of an answer in groups (usertrack.dashboards.charts draws the plain answers): a
funnel's previous period (`--compare`), its breakdown values (`--by`) or segments
(`--by-segment`) as bars side by side, a colour each and a legend; retention's average curve
beside the previous range's and each segment's, or one curve per breakdown value (`--by`). At
most MAX_GROUPS groups are drawn, the largest by their first step (a funnel) or their cohorts'
size (retention), and the title says how many of how many; what a chart cannot show it names in
its title, and the alt text says the same."""

from __future__ import annotations

from typing import Any

from usertrack.analytics.proportions import THIN_SAMPLE, rate_text
from usertrack.dashboards.vega import Chart, field, layer, noted, num, tips, titled, top

# The most groups one chart draws: past it the bars of a step are too thin to read and the
# colours hard to tell apart. The title says "top 8 of 23 values"; -f json has them all.
MAX_GROUPS = 8

THIS_PERIOD = "this period"
PREVIOUS_PERIOD = "previous period"


def funnel_groups(d: dict[str, Any]) -> tuple[str, list[tuple[str, list[dict[str, Any]]]]] | None:
    """What a funnel answer is split by (its legend's title) and each group's steps, in the
    answer's order: the breakdown's values, the segments, or this period and the previous;
    None for a funnel of one group."""
    if d.get("breakdown"):
        prop = d.get("breakdown_property") or "breakdown"
        named = " / ".join(prop) if isinstance(prop, list) else str(prop)  # several --by
        return named, [(breakdown_label(b), b.get("steps") or []) for b in d["breakdown"]]
    if d.get("by_segment"):
        return "segment", [(str(p.get("segment")), p.get("steps") or []) for p in d["by_segment"]]
    previous = d.get("previous")
    if isinstance(previous, dict) and previous.get("steps"):
        return "period", [(THIS_PERIOD, d.get("steps") or []), (PREVIOUS_PERIOD, previous["steps"])]
    return None


def largest(groups: list[tuple[str, Any]], size: Any) -> tuple[list[tuple[str, Any]], str]:
    """The MAX_GROUPS largest groups by `size` (in their own order), and the note of the cut
    ('top 8 of 23 values'), '' when every group is drawn."""
    if len(groups) <= MAX_GROUPS:
        return groups, ""
    ranked = sorted(range(len(groups)), key=lambda i: -size(groups[i][1]))[:MAX_GROUPS]
    return [groups[i] for i in sorted(ranked)], f"top {MAX_GROUPS} of {len(groups):,} values"


def _entered(steps: list[dict[str, Any]]) -> float:
    first = steps[0] if steps else {}
    value = first.get("persons", first.get("accounts", 0))
    return float(value) if isinstance(value, int | float) else 0.0


def breakdown_label(entry: dict[str, Any]) -> str:
    """A funnel breakdown's value as shown: its parts (several --by) joined by ' / ', an empty
    one as (none), the values past --breakdown-limit as Other."""
    if entry.get("other"):
        return "Other"
    value = entry.get("value")
    parts = value if isinstance(value, list) else [value]
    return " / ".join(str(p) if p else "(none)" for p in parts)


def funnel_chart(d: dict[str, Any], unit: str, untold: list[str]) -> Chart | None:
    """Conversion from the first step per step, a bar for each group side by side (groups of
    different sizes compare by their rates): `unit` counted, `untold` what the chart leaves out."""
    found = funnel_groups(d)
    if found is None:
        return None
    by, groups = found
    if by != "period" and isinstance(d.get("previous"), dict):
        untold = [*untold, "the previous period (--compare)"]
    drawn, cut = largest(groups, _entered)
    rows = [
        {
            "step": f"{i}. {s.get('name') or s.get('event')}",
            by: name,
            unit: s.get(unit),
            "conversion_from_start": s.get("conversion_from_start"),
        }
        | _thin_step(i, s, unit)
        for name, steps in drawn
        for i, s in enumerate(steps, 1)
    ]
    if not rows:
        return None
    names = [name for name, _steps in drawn]
    thin = [r for r in rows if "low" in r]
    split = "this period and the previous" if by == "period" else f"by {by}"
    title = f"Conversion from the first step, % ({split}{f'; {cut}' if cut else ''})"
    said = [field("sample:N", title="of the group, 95% interval")] if thin else []
    group = field(f"{by}:N", sort=names)
    step = field("step:N", sort=None, title=None, axis={"labelLimit": 260})
    bars = layer(
        rows, {"type": "bar"},
        color=field(f"{by}:N", sort=names, scale={"domain": names}, title=by),
        tooltip=[*tips("step:N", f"{by}:N", f"{unit}:Q", "conversion_from_start:Q"), *said],
        x=field("conversion_from_start:Q", stack=None, title="conversion from start, %",
                scale={"domain": [0, 100]}),
        y=step, yOffset=group,
    )  # fmt: skip
    heading = titled(title, [], untold)
    if thin:  # each thin rate's 95% interval, a whisker across its bar
        whiskers = layer(
            thin, {"type": "rule", "color": "black", "strokeWidth": 2},
            tooltip=[*tips("step:N", f"{by}:N"), *said],
            x=field("low:Q"), x2={"field": "high"}, y=dict(step), yOffset=dict(group),
        )  # fmt: skip
        bars = {"layer": [{"mark": bars.pop("mark"), "encoding": bars.pop("encoding")},
                          whiskers], **bars}  # fmt: skip
        note = f"Fewer than {THIN_SAMPLE} {unit} in a group: its 95% interval drawn."
        lines = heading["subtitle"] if isinstance(heading, dict) else []
        heading = {"text": title, "subtitle": [note, *lines]}
    spec = top({**bars, "title": heading, "width": 460})
    text = "; ".join(
        f"{name}: "
        + ", ".join(
            f"{r['step']} {r['sample']}" if "sample" in r
            else f"{r['step']} {num(r['conversion_from_start'])}% ({num(r[unit])} {unit})"
            for r in rows
            if r[by] == name
        )
        for name in names
    )  # fmt: skip
    note = (
        f" Fewer than {THIN_SAMPLE} {unit} in a group: its sample and 95% interval said."
        if thin
        else ""
    )
    return spec, f"{title}: {text}.{note}" + noted([], untold)


def _thin_step(i: int, s: dict[str, Any], unit: str) -> dict[str, Any]:
    """A step's conversion from the start over a group of fewer than THIN_SAMPLE (`sample`, the
    funnel's `_thin`): its interval (`low`, `high`) and the rate as the tables say it, `85.7%
    (18 of 21; 65.4-95.0%)`; nothing for the first step (its whole group) or a larger one."""
    sample, low, high = s.get("sample"), s.get("conversion_low"), s.get("conversion_high")
    if i == 1 or not isinstance(sample, int) or sample >= THIN_SAMPLE or low is None:
        return {}
    persons = s.get(unit)
    said = rate_text(s.get("conversion_from_start"), persons if isinstance(persons, int) else None,
                     sample)  # fmt: skip
    return {"low": low, "high": high, "sample": said}


def curve_groups(d: dict[str, Any]) -> tuple[str, list[tuple[str, list[dict[str, Any]]]]] | None:
    """A retention answer's average curves in groups: each breakdown value's (--by), everyone's
    and each segment's, or this range's and the previous range's; None for one curve."""
    if d.get("breakdown"):
        named = str(d.get("by") or "breakdown")
        return named, [(str(b.get("value")), b.get("average") or []) for b in d["breakdown"]]
    if d.get("by_segment"):
        parts = [(str(p.get("segment")), p.get("average") or []) for p in d["by_segment"]]
        return "segment", [("everyone", d.get("average") or []), *parts]
    compare = d.get("compare")
    if isinstance(compare, dict) and compare.get("previous_average"):
        return "range", [
            ("these cohorts", d.get("average") or []),
            ("the previous cohorts", compare["previous_average"]),
        ]
    return None


def curves(d: dict[str, Any]) -> tuple[list[dict[str, Any]], str, str, list[str]]:
    """The rows of the average curves (a `group` each), the legend's title, the cut's note and
    the groups drawn, in order; one group named "" when the answer has one curve."""
    found = curve_groups(d)
    by, groups = found if found is not None else ("", [("", d.get("average") or [])])
    drawn, cut = largest(groups, lambda points: points[0].get("size") or 0 if points else 0)
    rows = [
        {"group": name, "period": p["period"], "retained_pct": p["percent"]}
        for name, points in drawn
        for p in points
        if p.get("percent") is not None  # periods not yet ended left out, as PostHog's mean
    ]
    return rows, by, cut, [name for name, _points in drawn]
