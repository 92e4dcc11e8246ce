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


def counted(n: Any, unit: str) -> str:
    """`1 person`, `2 persons`: a group's count and its unit (a plural) in the alt text."""
    return f"{num(n)} {unit.removesuffix('s') if n == 1 else unit}"


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


def largest(
    groups: list[tuple[str, Any]], size: Any, kind: str = "values"
) -> tuple[list[tuple[str, Any]], str]:
    """The MAX_GROUPS largest groups by `size` (in their own order), and the note of the cut
    ('top 8 of 23 values', `kind` what they are), '' when every group is drawn."""
    if len(groups) <= MAX_GROUPS:
        return groups, ""
    ranked = sorted(range(len(groups)), key=lambda i: -size(groups[i][1]))[:MAX_GROUPS]
    return [groups[i] for i in sorted(ranked)], f"top {MAX_GROUPS} of {len(groups):,} {kind}"


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


def side_by_side(
    rows: list[dict[str, Any]],
    label: str,
    value: str,
    by: str,
    names: list[str],
    *,
    title: str,
    tooltip: list[dict[str, Any]],
    horizontal: bool = True,
    legend: str | None = None,
    order: list[str] | None = None,
) -> dict[str, Any]:
    """Bars of `value` per `label` (in `order`, else the rows'), one for each group (field `by`,
    the drawn `names` in order, `legend` its title) side by side, a colour each and a legend;
    a percent's axis from 0 to 100."""
    amount = field(f"{value}:Q", stack=None, title=title,
                   **({"scale": {"domain": [0, 100]}} if "%" in title else {}))  # fmt: skip
    named = field(f"{label}:N", sort=order, title=None, axis={"labelLimit": 260})
    place = field(f"{by}:N", sort=names)
    return layer(
        rows, {"type": "bar"},
        color=field(f"{by}:N", sort=names, scale={"domain": names}, title=legend or by),
        tooltip=tooltip,
        **({"x": amount, "y": named, "yOffset": place} if horizontal
           else {"x": {**named, "axis": {"labelAngle": 0}}, "xOffset": place, "y": amount}),
    )  # fmt: skip


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
    bars = side_by_side(
        rows, "step", "conversion_from_start", by, names, title="conversion from start, %",
        tooltip=[*tips("step:N", f"{by}:N", f"{unit}:Q", "conversion_from_start:Q"), *said],
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
            else f"{r['step']} {num(r['conversion_from_start'])}% ({counted(r[unit], unit)})"
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


# An answer in groups (--by-segment, --by person.properties.NAME) of sessions, features, churn
# and activity: each group's answer whole under `by_segment` or `by_value`. The groups are
# drawn under the field GROUP (a property's name, `person.properties.plan`, would read as a
# path to Vega-Lite), the legend titled with what they are.
GROUP = "group"


def answer_groups(
    d: dict[str, Any], size: Any
) -> tuple[str, str, list[tuple[str, dict[str, Any]]], list[str]] | None:
    """What an answer is split by (the legend's title), the note of the cut (`largest`, by
    `size` of a group's answer), the groups drawn (name and answer) and their names, in the
    answer's order; None for one group."""
    if d.get("by_segment"):
        parts = [(str(p.get("segment")), p) for p in d["by_segment"] if isinstance(p, dict)]
        by, kind = "segment", "segments"
    elif d.get("by_value"):
        parts = [(breakdown_label(p), p) for p in d["by_value"] if isinstance(p, dict)]
        by, kind = str(d.get("breakdown") or "value"), "values"
    else:
        return None
    drawn, cut = largest(parts, size, kind)
    return by, cut, drawn, [name for name, _part in drawn]


def split_by(by: str, cut: str) -> str:
    """A grouped chart's title's parenthesis: 'by segment; top 8 of 9 segments'."""
    return f"by {by}{f'; {cut}' if cut else ''}"


def _size(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _share(part: float, whole: float) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def sessions_groups(d: dict[str, Any]) -> Chart | None:
    """Sessions by length in groups: each group's share of its sessions per length, a bar for
    each group side by side (groups of different sizes compare by their shares)."""
    found = answer_groups(d, lambda p: _size(p.get("sessions")))
    if found is None:
        return None
    by, cut, drawn, names = found
    rows = []
    for name, part in drawn:
        buckets = [b for b in part.get("buckets") or [] if isinstance(b, dict)]
        total = sum(_size(b.get("sessions")) for b in buckets)
        rows += [{"length": b.get("bucket"), GROUP: name, "sessions": b.get("sessions"),
                  "share": _share(_size(b.get("sessions")), total)} for b in buckets]  # fmt: skip
    if not rows:
        return None
    title = f"Sessions by length, % of each {by}'s sessions ({split_by(by, cut)})"
    bars = side_by_side(
        rows, "length", "share", GROUP, names, title="% of sessions", legend=by,
        tooltip=[field("length:N"), field(f"{GROUP}:N", title=by), field("sessions:Q"),
                 field("share:Q", title="% of sessions")],
        horizontal=False,
    )  # fmt: skip
    spec = top({**bars, "title": title, "width": 460})
    text = "; ".join(
        f"{name}: " + ", ".join(f"{r['length']} {num(r['share'])}% ({num(r['sessions'])})"
                                for r in rows if r[GROUP] == name)
        for name in names
    )  # fmt: skip
    return spec, f"{title}, sessions in brackets: {text}."


FEATURES_DRAWN = 20  # the most features a chart in groups draws: the answer's first


def features_groups(d: dict[str, Any]) -> Chart | None:
    """Features in groups: each feature's adoption in each group (of the group's own active
    persons), a bar for each group side by side, the features in the whole answer's order."""
    found = answer_groups(d, lambda p: _size(p.get("active_persons")))
    if found is None:
        return None
    by, cut, drawn, names = found
    key = str(d.get("by") or "feature")

    def name_of(f: dict[str, Any]) -> str:
        return str(f.get(key, f.get("feature")) or "(none)")

    every = [name_of(f) for f in d.get("features") or [] if isinstance(f, dict)]
    shown = every[:FEATURES_DRAWN]
    rows = [
        {key: name_of(f), GROUP: name, "adoption": f.get("adoption"), "persons": f.get("persons")}
        for name, part in drawn
        for f in part.get("features") or []
        if isinstance(f, dict) and name_of(f) in shown
    ]
    if not rows:
        return None
    notes = [f"the first {len(shown)} of {len(every):,} {key}s"] if len(shown) < len(every) else []
    title = f"Adoption, % of each {by}'s active persons ({split_by(by, cut)})"
    bars = side_by_side(
        rows, key, "adoption", GROUP, names, title="adoption, %", legend=by, order=shown,
        tooltip=[field(f"{key}:N"), field(f"{GROUP}:N", title=by), field("adoption:Q"),
                 field("persons:Q")],
    )  # fmt: skip
    spec = top({**bars, "title": titled(title, notes), "width": 460})
    return spec, f"{title}: {_said(rows, names, key, 'adoption')}." + noted(notes)


def churn_groups(d: dict[str, Any]) -> Chart | None:
    """Churn in groups: each group's engagement score bands (as a share of its scored persons,
    a bar for each group side by side) and its churn rate per period (a line each)."""
    found = answer_groups(d, lambda p: _size((p.get("engagement") or {}).get("scored")))
    if found is None:
        return None
    by, cut, drawn, names = found
    bands, rates = [], []
    for name, part in drawn:
        spread = [b for b in (part.get("engagement") or {}).get("distribution") or []
                  if isinstance(b, dict)]  # fmt: skip
        total = sum(_size(b.get("persons")) for b in spread)
        bands += [{"band": b.get("band"), GROUP: name, "persons": b.get("persons"),
                   "share": _share(_size(b.get("persons")), total)} for b in spread]  # fmt: skip
        rates += [{"period": p.get("start"), GROUP: name, "churn_rate": p.get("churn_rate")}
                  for p in part.get("periods") or []
                  if isinstance(p, dict) and p.get("churn_rate") is not None]  # fmt: skip
    if not any(b["persons"] for b in bands) and not rates:
        return None
    split = split_by(by, cut)
    parts, told = [], []
    if any(b["persons"] for b in bands):
        title = f"Engagement score, % of each {by}'s scored persons per band ({split})"
        view = side_by_side(
            bands, "band", "share", GROUP, names, title="% of scored persons", legend=by,
            tooltip=[field("band:N"), field(f"{GROUP}:N", title=by), field("persons:Q"),
                     field("share:Q", title="% of scored persons")],
            horizontal=False,
        )  # fmt: skip
        parts.append({**view, "height": 180, "title": title, "width": 460})
        told.append(f"{title}: " + _said(bands, names, "band", "share") + ".")
    if rates:
        period = d.get("period") or "period"
        title = f"Churn rate per {period} ({split})"
        line = layer(
            rates, {"type": "line", "point": True},
            color=field(f"{GROUP}:N", sort=names, scale={"domain": names}, title=by),
            tooltip=[field("period:O"), field(f"{GROUP}:N", title=by), field("churn_rate:Q")],
            x=field("period:O", sort=None, title=f"{period} starting"),
            y=field("churn_rate:Q", title="churn rate %", scale={"domain": [0, 100]}),
        )  # fmt: skip
        parts.append({**line, "height": 180, "title": title, "width": 460})
        told.append(f"{title}, %: " + _said(rates, names, "period", "churn_rate") + ".")
    return top(parts[0] if len(parts) == 1 else {"vconcat": parts}), " ".join(told)


def _said(rows: list[dict[str, Any]], names: list[str], x: str, y: str) -> str:
    """Each group's pairs for an alt text: 'a: x1 1, x2 2; b: ...'."""
    return "; ".join(
        f"{name}: " + ", ".join(f"{r[x]} {num(r[y])}" for r in rows if r[GROUP] == name)
        for name in names
    )
