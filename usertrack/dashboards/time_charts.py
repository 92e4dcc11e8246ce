"""Charts over time: trends' lines (a line per series, the previous period dashed beside this
one with --compare, each segment's with --by-segment) and a funnel's conversion by period of
entry (--trend), and activity's DAU, WAU and MAU, the previous period's dashed with --compare. A
period the range cuts (a first week begun before it, a last one the as-of
ends early) is shaded behind the lines, and the title and alt text say why: its count is
partial, not a drop."""

from __future__ import annotations

from typing import Any

from usertrack.analytics.activity.render import MEASURE_NAMES
from usertrack.analytics.trends.maths import series_label
from usertrack.dashboards.group_charts import (
    GROUP,
    PREVIOUS_PERIOD,
    THIS_PERIOD,
    answer_groups,
    split_by,
)
from usertrack.dashboards.vega import (
    MAX_MARKS,
    MAX_SERIES,
    Chart,
    alt_pairs,
    dates,
    field,
    layer,
    noted,
    num,
    tips,
    titled,
    top,
)


def trends_chart(d: dict[str, Any]) -> Chart | None:
    """A line per series, at most MAX_SERIES of them (the largest by the answer's own total or
    average) and MAX_MARKS points in all (one point in N of each line past it, the last one
    kept), the cut said in the chart and its alt text. Linear in the answer's numbers."""
    points = d.get("points") or []
    every, before = [], {}
    for name, series, previous in _trend_series(d):
        data = (series.get("data") or [])[: len(points)]
        if data:  # a series with no point has no line
            every.append((name, data, series))
            if previous is not None:  # --compare: the previous period's point i at point i
                before[name] = (previous.get("data") or [])[: len(points)]
    if not every:
        return None
    by = "total" if all("average" not in s for *_, s in every) else "average"
    drawn = every
    if len(every) > MAX_SERIES:
        ranked = sorted(range(len(every)), key=lambda i: -_number(every[i][2].get(by), every[i][1]))
        drawn = [every[i] for i in sorted(ranked[:MAX_SERIES])]
    per_line = max(1, MAX_MARKS // len(drawn))
    step = -(-len(points) // per_line)  # ceil: at most per_line points of each line
    kept = range((len(points) - 1) % step, len(points), step)
    rows = [
        {"series": name, "time": points[i], "value": data[i]}
        | ({"period": THIS_PERIOD} if before else {})
        for name, data, _series in drawn
        for i in kept
        if i < len(data)
    ]
    rows += [
        {"series": name, "time": points[i], "value": before[name][i], "period": PREVIOUS_PERIOD}
        for name, _data, _series in drawn
        for i in kept
        if name in before and i < len(before[name])
    ]
    notes = []
    if len(drawn) < len(every):
        notes.append(f"the {len(drawn)} largest of {len(every):,} series by {by}")
    if step > 1:
        notes.append(f"one {d.get('interval', 'point')} in {step} of each line")
    periods = [THIS_PERIOD, PREVIOUS_PERIOD]
    dashed = {"scale": {"domain": periods}, "sort": periods, "title": "period"}
    # a histogram's buckets in bucket order, as the answer lists them, not as texts sort
    order = {"sort": [name for name, *_ in drawn]} if d.get("histogram_bins") else {}
    line = layer(
        rows, {"type": "line", "point": True},
        color=field("series:N", title=None, **order),
        tooltip=tips("series:N", *(("period:N",) if before else ()), "time:T", "value:Q"),
        x=field("time:T", title=None, **_time_axis(d.get("interval"))),
        y=field("value:Q", title=str(d.get("math_label") or d.get("math") or "value")),
        **({"strokeDash": field("period:N", **dashed)} if before else {}),
    )  # fmt: skip
    by_segment = bool(d.get("by_segment"))
    title = "Trends" + (", by segment" if by_segment else "")
    if before:
        title += ", this period (solid) and the previous (dashed, at the same point)"
    heading = titled(title, notes)
    cut = _cut_periods(d)
    if cut:  # periods the range cuts, shaded behind the lines
        line, note = shaded(line, cut, f"the {d.get('interval', 'period')} of", CUT)
        subtitle = heading["subtitle"] if isinstance(heading, dict) else []
        heading = {"text": title, "subtitle": [note, *subtitle]}
    spec = top({**line, "title": heading, "width": 460})
    totals = [
        {
            "series": name,
            "total": _sum(data)
            if name not in before
            else f"{num(_sum(data))} (previous period {num(_sum(before[name]))})",
        }
        for name, data, _series in drawn
    ]
    head = f"Trends per {d.get('interval', 'point')}" + (" by segment" if by_segment else "")
    head += ", this period and the previous" if before else ""
    text = alt_pairs(f"{head}, totals", totals, "series", "total")
    return spec, text + noted(notes) + (f" {heading['subtitle'][0]}" if cut else "")


# Why a shaded period's count is partial: the range cuts it, or the as-of ends it early.
CUT = "cut by the range: a partial count."
UNENDED = "not ended by the as-of: a partial count, not a drop."


def shaded(
    line: dict[str, Any], cut: list[dict[str, Any]], named: str, why: str
) -> tuple[dict[str, Any], str]:
    """`line` (a view of one mark) with the periods of `cut` (`_cut_periods`' spans) shaded
    behind it, and the note saying which (`named`: "the week of") and why."""
    band = layer(cut, {"type": "rect", "color": "#999", "opacity": 0.18},
                 x=field("start:T"), x2={"field": "end"})  # fmt: skip
    spans = " and ".join(str(c["start"])[:10] for c in cut)
    drawn = {"mark": line.pop("mark"), "encoding": line.pop("encoding")}
    return {"layer": [band, drawn], **line}, f"Shaded: {named} {spans}, {why}"


def _time_axis(interval: Any) -> dict[str, Any]:
    """Dates written one way on a time axis ("Nov 22"), not Vega's mix of weekdays and months."""
    if interval in ("day", "week"):
        return {"axis": dates()}
    return {"axis": {"format": "%b %Y"}} if interval == "month" else {}


def _cut_periods(d: dict[str, Any]) -> list[dict[str, Any]]:
    """The points whose period the range cuts (the answer's `points_complete`), each as a span
    to shade: its period, a last one up to the range's end."""
    complete = d.get("points_complete") or []
    points = d.get("points") or []
    return [
        {"start": points[i], "end": points[i + 1] if i + 1 < len(points) else d.get("to")}
        for i, whole in enumerate(complete[: len(points)])
        if whole is False
    ]


def _sum(data: list[Any]) -> Any:
    return sum(v or 0 for v in data)


def _trend_series(d: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """Each line's name, series and the previous period's series of the same name (--compare),
    or None: a segment's series named for it too (--by-segment draws the segments)."""
    parts = [(f"{p.get('segment')}: ", p.get("series") or []) for p in d.get("by_segment") or []]
    previous = d.get("previous")
    earlier = (previous.get("series") or []) if isinstance(previous, dict) else []
    found = {_label(x): x for x in earlier if isinstance(x, dict)}
    return [
        (f"{prefix}{name}", x, found.get(name) if not prefix else None)
        for prefix, every in (parts or [("", d.get("series") or [])])
        for x in every
        for name in [_label(x)]
    ]


def _label(series: dict[str, Any]) -> str:
    """A series' line name: its event (with its own math, EVENT@MATH) and breakdown value."""
    math = series.get("math")
    if math is not None and series.get("math_property"):
        math = f"{math}:{series['math_property']}"
    return series_label(series["event"], series.get("breakdown"), math)


def _number(value: Any, data: list[Any]) -> float:
    """A series' rank: its answer's number, else the sum of its points."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
        return float(value)
    return float(sum(v for v in data if isinstance(v, int | float) and v == v))


def funnel_trend(d: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """A funnel's --trend as a view: the conversion rate per period of entry, a period the
    range cuts shaded; and its alt text. None without a trend."""
    trend = d.get("trend") if isinstance(d.get("trend"), dict) else None
    points = (trend or {}).get("points") or []
    if not points:
        return None
    every = str((trend or {}).get("interval") or "period")
    rows = [{k: p.get(k) for k in ("start", "entered", "converted", "conversion_rate")}
            for p in points]  # fmt: skip
    line = layer(
        rows, {"type": "line", "point": True},
        tooltip=tips("start:T", "entered:Q", "converted:Q", "conversion_rate:Q"),
        x=field("start:T", title=f"{every} of entry", axis=dates()),
        y=field("conversion_rate:Q", title="conversion, %"),
    )  # fmt: skip
    title: Any = f"Conversion by {every} of entry"
    text = alt_pairs(f"{title}, %", rows, "start", "conversion_rate")
    cut = _cut_periods({
        "points": [p["start"] for p in points],
        "points_complete": [p.get("complete", True) for p in points],
        "to": str(d.get("to") or "")[:10] or None,
    })  # fmt: skip
    if cut:
        line, note = shaded(line, cut, f"the {every} of", CUT)
        title, text = {"text": title, "subtitle": [note]}, f"{text} {note}"
    return {**line, "title": title, "width": 460}, text


# DAU, WAU, MAU in their order of size (not the alphabet's), each named as activity's headline
# and tables name it.
MEASURES = ["dau", "wau", "mau"]
NAMES = [MEASURE_NAMES[m] for m in MEASURES]
LINES_TITLE = f"{', '.join(NAMES)} per day"


def activity_lines(d: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """Activity's DAU, WAU and MAU per day, a line each; with --compare the previous period's
    dashed beside them, its day i drawn at this period's day i (its own date in the tooltip); a
    last day the as-of cuts (`complete` false) shaded. And the alt text of what the lines alone
    say: the previous period, the shaded day. None without daily numbers."""
    days = d.get("daily") or []
    previous = d.get("previous") if isinstance(d.get("previous"), dict) else None
    before = ((previous or {}).get("daily") or [])[: len(days)]
    rows = [
        {"date": r["date"], "measure": MEASURE_NAMES[m], "persons": r[m]}
        | ({"period": THIS_PERIOD, "day": r["date"]} if before else {})
        for r in days
        for m in MEASURES
    ]
    if not rows:
        return None
    rows += [
        {"date": days[i]["date"], "measure": MEASURE_NAMES[m], "persons": r.get(m),
         "period": PREVIOUS_PERIOD, "day": r.get("date")}
        for i, r in enumerate(before)
        for m in MEASURES
    ]  # fmt: skip
    periods = [THIS_PERIOD, PREVIOUS_PERIOD]
    dashed = {"scale": {"domain": periods}, "sort": periods, "title": "period"}
    lines = layer(
        rows, {"type": "line", "point": True},
        color=field("measure:N", sort=NAMES, title=None),
        tooltip=tips(*(("day:N", "period:N") if before else ("date:T",)), "measure:N",
                     "persons:Q"),
        x=field("date:T", title=None, axis=dates()),
        y=field("persons:Q"),
        **({"strokeDash": field("period:N", **dashed)} if before else {}),
    )  # fmt: skip
    title: Any = LINES_TITLE
    text = ""
    if before:
        title += ", this period (solid) and the previous (dashed, day for day)"
        said = ", ".join(f"{MEASURE_NAMES[m]} {num((previous or {}).get(m))}" for m in MEASURES)
        text = f" The previous period ({len(before)} days from {before[0].get('date')}): {said}."
    cut = unended_days(d)
    if cut:  # a day the as-of ends early, shaded behind the lines
        lines, note = shaded(lines, cut, "the day of", UNENDED)
        title, text = {"text": title, "subtitle": [note]}, f"{text} {note}"
    return {**lines, "title": title, "width": 460}, text


def unended_days(d: dict[str, Any]) -> list[dict[str, Any]]:
    """The days of an activity answer the as-of ends early (`complete` false), as spans to
    shade: the last one up to the as-of."""
    days = d.get("daily") or []
    return _cut_periods({
        "points": [r.get("date") for r in days],
        "points_complete": [r.get("complete", True) for r in days],
        "to": d.get("to") or d.get("as_of"),
    })  # fmt: skip


def activity_groups(d: dict[str, Any]) -> Chart | None:
    """Activity in groups (--by-segment, --by PROPERTY): DAU, WAU and MAU per day, a view each,
    one line per group in it; a last day the as-of cuts shaded. The groups' lifecycles have no
    room beside them: the title names them as not drawn."""
    found = answer_groups(d, lambda p: (p.get("daily") or [{}])[-1].get("mau") or 0)
    if found is None:
        return None
    by, cut, drawn, names = found
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in MEASURES}
    for name, part in drawn:
        for r in part.get("daily") or []:
            for m in MEASURES:
                rows[m].append({"date": r.get("date"), GROUP: name, "persons": r.get(m)})
    if not any(rows.values()):
        return None
    unended = unended_days(d)
    untold = [f"each {by}'s lifecycle"]
    views: list[dict[str, Any]] = []
    for m in MEASURES:
        view = layer(
            rows[m], {"type": "line", "point": True},
            color=field(f"{GROUP}:N", sort=names, scale={"domain": names}, title=by),
            tooltip=[field("date:T"), field(f"{GROUP}:N", title=by),
                     field("persons:Q", title=MEASURE_NAMES[m])],
            x=field("date:T", title=None, axis=dates()),
            y=field("persons:Q", title=MEASURE_NAMES[m]),
        )  # fmt: skip
        subtitle = []
        if unended:
            view, note = shaded(view, unended, "the day of", UNENDED)
            subtitle.append(note)
        if m == MEASURES[0]:  # what no view draws, said once at the top
            subtitle += titled("", [], untold)["subtitle"]
        head = f"{MEASURE_NAMES[m]} per day ({split_by(by, cut)})"
        title = {"text": head, "subtitle": subtitle} if subtitle else head
        views.append({**view, "height": 140, "title": title, "width": 460})
    told = []
    for name, part in drawn:
        last = (part.get("daily") or [{}])[-1]
        told.append(f"{name}: " + ", ".join(f"{MEASURE_NAMES[m]} {num(last.get(m))}"
                                           for m in MEASURES))  # fmt: skip
    day = (d.get("daily") or [{}])[-1].get("date")
    text = f"{LINES_TITLE} ({split_by(by, cut)}), on {day}: " + "; ".join(told) + "."
    if unended:
        text += " " + views[0]["title"]["subtitle"][0]
    return top({"vconcat": views}), text + noted([], untold)
