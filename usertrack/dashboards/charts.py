"""Each panel's chart: a Vega-Lite specification built from the panel's JSON, and its alt text
stating the numbers drawn. vl-convert renders the specification to SVG (Markdown) without a
browser, and its bundle of Vega, Vega-Lite and vega-embed makes the HTML page draw offline.

The specifications are Vega-Lite's JSON written as dicts here, as altair's `to_dict` gives them
(tests/dashboards/test_dashboards.py builds each chart with altair too and compares): importing
altair, a layer over the same JSON, costs 0.4 s of CPU, more than building every chart of a
dashboard.

Values from PostHog (event names, pages, emails) are written by strangers: `clean` makes every
string plain visible text (no control or bidi character) before it reaches a chart; in a chart
it is SVG text that vl-convert escapes, and Vega-Lite specs carry no links (no `href` channel)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from usertrack.analytics.activity.render import MEASURE_NAMES
from usertrack.analytics.common import next_period
from usertrack.analytics.proportions import THIN_SAMPLE, rate_text
from usertrack.analytics.unfinished import MARK, ended
from usertrack.core import style
from usertrack.dashboards.drawing import draw
from usertrack.dashboards.feature_charts import adoption_bars, features_heatmap
from usertrack.dashboards.group_charts import (
    churn_groups,
    curves,
    features_groups,
    funnel_chart,
    sessions_groups,
)
from usertrack.dashboards.report_charts import accounts_chart, churn_chart, tools_chart
from usertrack.dashboards.time_charts import (
    MEASURES,
    activity_groups,
    activity_lines,
    funnel_trend,
    trends_chart,
)
from usertrack.dashboards.vega import MAX_MARKS, Chart, alt_pairs
from usertrack.dashboards.vega import field as _field
from usertrack.dashboards.vega import layer as _layer
from usertrack.dashboards.vega import noted as _noted
from usertrack.dashboards.vega import num as _num
from usertrack.dashboards.vega import tips as _tips
from usertrack.dashboards.vega import titled as _titled
from usertrack.dashboards.vega import top as _top

# C0/C1 controls (not tab or newline), bidi embeddings, overrides and isolates, zero-width marks.
_HIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


# The same characters as JSON writes them (ensure_ascii off): the others as they are, C0 controls
# escaped (\u00XX, or \b \f \r). A literal backslash before u00, b, f or r is taken for one too:
# the value is then cleaned the long way, as if it held one.
_HIDDEN_JSON = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_ESCAPED_JSON = re.compile(r"\\(?:u00[01]|[bfr])")


def clean(value: Any) -> Any:
    """`value` with every string's hidden characters shown as U+FFFD, recursively. A list or
    dict with none is given back as it is (the charts and headlines read it, never change it):
    one look at its JSON text, not a Python call for each of its values (a weekly page's
    panels hold 200,000 of them at 100,000 users)."""
    if isinstance(value, list | dict):
        import json

        try:
            text = json.dumps(value, ensure_ascii=False, check_circular=False)
        except (TypeError, ValueError, RecursionError):  # not JSON's: value by value
            return _cleaned(value)
        if _HIDDEN_JSON.search(text) or ("\\" in text and _ESCAPED_JSON.search(text)):
            return _cleaned(value)
        return value
    return _cleaned(value)


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return _HIDDEN.sub("\ufffd", value)
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    if isinstance(value, dict):
        return {k: _cleaned(v) for k, v in value.items()}
    return value


def _bars(
    rows: list[dict[str, Any]], x: str, y: str, title: Any, *, horizontal: bool = True
) -> dict[str, Any]:
    kinds = (
        (k, "Q" if isinstance(v, int | float) and not isinstance(v, bool) else "N")
        for k, v in (rows[0].items() if rows else ())
    )
    tips = [_field(f"{k}:{kind}") for k, kind in kinds]
    value = _field(f"{y}:Q", title=y.replace("_", " "))
    if horizontal:
        label = _field(f"{x}:N", sort=None, title=None, axis={"labelLimit": 260})
        encoding = {"tooltip": tips, "x": value, "y": label}
    else:
        encoding = {"tooltip": tips, "x": _field(f"{x}:N", sort=None, title=None), "y": value}
    chart = _layer(rows, {"type": "bar"}, **encoding)
    return _top({**chart, "title": title, "width": 460})


def _bar_chart(
    rows: list[dict[str, Any]],
    x: str,
    y: str,
    title: Any,
    *,
    alt_title: str | None = None,
    horizontal: bool = True,
) -> Chart | None:
    """A bar chart of rows and its alt text, or None when there is nothing to draw."""
    if not rows:
        return None
    spec = _bars(rows, x, y, title, horizontal=horizontal)
    return spec, alt_pairs(alt_title or str(title), rows, x, y)


def _funnel(d: dict[str, Any]) -> Chart | None:
    """The persons (or accounts) per step; a funnel in groups (--compare, --by, --by-segment)
    as the groups' conversion side by side (group_charts); what no bar shows named in the title."""
    unit = "accounts" if d.get("counted") == "accounts" else "persons"  # --by-account
    untold = [name for key, name in _FUNNEL_UNTOLD if d.get(key)]
    grouped = funnel_chart(d, unit, untold)
    if grouped is not None:
        return grouped
    trend = funnel_trend(d)  # drawn below the steps
    untold = [u for u in untold if trend is None or "--trend" not in u]
    rows = [
        {
            "step": f"{i}. {s.get('name') or s['event']}",
            unit: s[unit],
            "conversion_from_start": s["conversion_from_start"],
            "drop_off": s["drop_off"],
            "median_time_to_convert": style.duration(s.get("median_seconds_to_convert")),
        }
        for i, s in enumerate(d.get("steps") or [], 1)
    ]
    title = _titled(f"{unit.capitalize()} per step", [], untold)
    made = _bar_chart(rows, "step", unit, title, alt_title=f"Funnel, {unit} per step")
    if made is None:
        return None
    spec, text = made[0], made[1] + _noted([], untold)
    if trend is not None:
        steps = {k: v for k, v in spec.items() if k not in ("config", "$schema")}
        spec, text = _top({"vconcat": [steps, trend[0]]}), f"{text} {trend[1]}"
    return spec, text


# What a funnel's chart of steps does not draw: the answer's parts that only -f json shows.
_FUNNEL_UNTOLD = (
    ("trend", "the conversion trend (--trend)"),
    ("time_to_convert", "the time to convert (--time-to-convert)"),
    ("correlation", "the correlation (--correlation)"),
)


def _retention(d: dict[str, Any]) -> Chart | None:
    cells = []
    cohorts = d.get("cohorts") or []
    shown, marks = len(cohorts), 0  # the latest cohorts whose cells fit in MAX_MARKS
    while shown and marks + len(cohorts[shown - 1]["retained"]) <= MAX_MARKS:
        marks += len(cohorts[shown - 1]["retained"])
        shown -= 1
    notes = [f"the latest {len(cohorts) - shown} of {len(cohorts):,} cohorts"] if shown else []
    for c in cohorts[shown:]:
        for k, n in enumerate(c["retained"]):
            pct = round(100 * n / c["size"], 1) if c["size"] else 0.0
            cells.append({"cohort": c["start"], "period": k, "retained_pct": pct, "persons": n})
    # the analysis's own average curve, and the previous range's or each segment's beside it
    grouped, by, cut, names = curves(d)
    if not cells:
        return None
    since = f"{d.get('period', 'period')}s since start"
    curve = [{k: v for k, v in r.items() if by or k != "group"} for r in grouped]
    more = {"color": _field("group:N", sort=names, scale={"domain": names}, title=by)} if by else {}
    line = _layer(
        curve, {"type": "line", "point": True},
        tooltip=_tips(*(("group:N",) if by else ()), "period:O", "retained_pct:Q"),
        x=_field("period:O", title=since),
        y=_field("retained_pct:Q", title="retained %", scale={"domain": [0, 100]}),
        **more,
    )  # fmt: skip
    curve_title = "Average retention curve" + (f" by {by}" if by else "")
    heat, running = _heat(cells, since, d)
    curve_head: Any = _titled(curve_title, [cut] if cut else [])
    thin = [] if by else _thin_points(d.get("average") or [])
    if thin:  # a rate over few persons: its 95% interval drawn, its sample said
        whiskers = _layer(
            thin, {"type": "rule", "strokeWidth": 2},
            tooltip=_tips("period:O", "retained_pct:Q", "persons:Q", "size:Q", "low:Q", "high:Q"),
            x=_field("period:O"), y=_field("low:Q"), y2={"field": "high"},
        )  # fmt: skip
        line = {"layer": [line, whiskers]}
        said = "; ".join(f"{p['period']}: {p['text']}" for p in thin)
        note = f"Fewer than {THIN_SAMPLE} persons, a 95% interval drawn: {said}."
        heading = curve_head if isinstance(curve_head, dict) else {"text": curve_title}
        curve_head = {**heading, "subtitle": [note, *heading.get("subtitle", [])]}
    spec = _top({"vconcat": [
        {**line, "title": curve_head, "width": 460},
        {**heat, "title": _cohorts_title(notes, running, d), "width": 460},
    ]})  # fmt: skip
    if by:
        text = (
            f"{curve_title}, %: "
            + "; ".join(
                f"{name}: "
                + ", ".join(
                    f"{r['period']} {_num(r['retained_pct'])}" for r in curve if r["group"] == name
                )
                for name in names
            )
            + "."
            + _noted([cut] if cut else [])
        )
    else:
        text = alt_pairs("Average retention by period, %", curve, "period", "retained_pct")
    if thin:
        text += f" {curve_head['subtitle'][0]}"
    return spec, text + _noted(notes)


# The heatmap's colour legend: under the cohorts it colours (not beside the curve above), from
# 0 to 100% whatever the cells hold, with a tick every 25.
_PERCENT_LEGEND = {"direction": "horizontal", "gradientLength": 300, "orient": "bottom",
                   "values": [0, 25, 50, 75, 100]}  # fmt: skip
_WRITTEN = 13  # the most periods whose cells carry their number: more is too narrow to read


def _heat(
    cells: list[dict[str, Any]], since: str, d: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """The cohorts' heatmap: each cell its share (written in it, when few enough to read), a
    cell whose period has not ended by as_of lighter; and whether there is one."""
    from usertrack.analytics.retention.run import period_of

    period, as_of = d.get("period"), d.get("as_of")
    running = False
    if period in ("hour", "day", "week", "month") and isinstance(as_of, str):
        moment = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        for c in cells:
            start = next_period(period_of(c["cohort"], period), period, c["period"])
            c["complete"] = ended(start, period, moment)
            running = running or not c["complete"]
        if not running:
            for c in cells:
                del c["complete"]
    if period == "hour":  # an hour's cohort as retention's table names it: Nov 21 14:00
        for c in cells:
            c["cohort"] = f"{period_of(c['cohort'], period):%b %d %H:%M}"
    rect = {"mark": {"type": "rect"}, "encoding": dict(sorted({
        "color": _field("retained_pct:Q", legend=dict(_PERCENT_LEGEND), title="% retained",
                        scale={"domain": [0, 100], "scheme": "blues"}),
        **({"opacity": _field("complete:O", **_LIGHTER)} if running else {}),
        "tooltip": _tips("cohort:O", "period:O", "persons:Q", "retained_pct:Q"),
        "x": _field("period:O", title=since),
        "y": _field("cohort:O", title="cohort"),
    }.items()))}  # fmt: skip
    layers = [rect]
    if max((c["period"] for c in cells), default=0) < _WRITTEN:
        white = {"condition": {"test": "datum.retained_pct > 50", "value": "white"},
                 "value": "black"}  # fmt: skip
        layers.append({"mark": {"type": "text", "fontSize": 10}, "encoding": {
            "color": white,
            "text": _field("retained_pct:Q", format=".0f"),
            "x": _field("period:O", title=since),
            "y": _field("cohort:O", title="cohort"),
        }})  # fmt: skip
    return {"layer": layers, "data": {"values": cells}}, running  # altair's order


def _cohorts_title(notes: list[str], running: bool, d: dict[str, Any]) -> Any:
    title = _titled("Cohorts", notes)
    if not running:
        return title
    note = f"Lighter: a {d.get('period')} not ended by the as-of; its share is still growing."
    heading = title if isinstance(title, dict) else {"text": title}
    return {**heading, "subtitle": [note, *heading.get("subtitle", [])]}


def _thin_points(average: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The average curve's points over fewer than THIN_SAMPLE persons, with their interval
    (period 0 is every cohort's whole size: never a rate to doubt)."""
    return [
        {"period": p["period"], "retained_pct": p["percent"], "persons": p["persons"],
         "size": p["size"], "low": p["low"], "high": p["high"],
         "text": rate_text(p["percent"], p["persons"], p["size"])}
        for p in average
        if p.get("period") and p.get("percent") is not None and isinstance(p.get("size"), int)
        and p["size"] < THIN_SAMPLE and p.get("low") is not None and p.get("high") is not None
    ]  # fmt: skip


def _activity(d: dict[str, Any]) -> Chart | None:
    life = []
    unfinished = [r["period_start"] for r in d.get("lifecycle") or [] if r.get("complete") is False]
    for row in d.get("lifecycle") or []:
        for kind in ("new", "returning", "resurrecting", "dormant"):
            life.append({"week": row["period_start"], "kind": kind, "persons": row[kind]})
            if unfinished:  # a week not ended by as_of: lighter, its counts partial
                life[-1]["complete"] = row.get("complete", True)
    daily = activity_lines(d)
    if not life and daily is None:
        return None
    parts = []
    if daily is not None:
        parts.append(daily[0])
    if life:
        bars = _layer(
            life, {"type": "bar"},
            color=_field(
                "kind:N", sort=["new", "returning", "resurrecting", "dormant"], title=None
            ),
            tooltip=_tips("week:O", "kind:N", "persons:Q"),
            x=_field("week:O", title="week"),
            y=_field("persons:Q", stack="zero"),
            **({"opacity": _field("complete:O", **_LIGHTER)} if unfinished else {}),
        )  # fmt: skip
        title: Any = "Lifecycle"
        if unfinished:
            title = {"text": title, "subtitle": unfinished_note("week", unfinished)}
        parts.append({**bars, "title": title, "width": 460})
    last = (d.get("daily") or [{}])[-1]
    day = f"{last.get('date')}: " if last else ""
    figures = ", ".join(f"{MEASURE_NAMES[m]} {d.get(m)}" for m in MEASURES)
    alt_text = (
        f"{day}{figures}. Lifecycle: "
        + "; ".join(
            f"{r['period_start']} new {r['new']} returning {r['returning']}"
            f" resurrecting {r['resurrecting']} dormant {r['dormant']}"
            for r in d.get("lifecycle") or []
        )
        + "."
        + (f" The week of {', '.join(unfinished)} has not ended: partial." if unfinished else "")
        + (daily[1] if daily is not None else "")
    )
    spec: dict[str, Any] = {"vconcat": parts}
    if len(parts) == 1:  # one view: its data on top, as altair puts data all views share
        spec["data"] = parts[0].pop("data")
    spec["resolve"] = {"scale": {"color": "independent"}}
    return _top(spec), alt_text


# A period not ended by the answer's as_of, drawn lighter (no legend: the title's note says).
_LIGHTER = {"legend": None, "scale": {"domain": [True, False], "range": [1, 0.35]}}


def unfinished_note(period: str, starts: list[str]) -> str:
    """The subtitle of a chart with periods not ended by its as_of."""
    named = ", ".join(str(s)[:10] for s in starts)
    return f"Lighter: the {period} of {named} has not ended by the as-of; its counts are partial."


FLOW_EDGES = 40  # the widest edges a flow draws: more is a tangle nobody reads
FLOW_LABEL_ROOM = 180  # pixels from one step to the next: a node's label is drawn in them
FLOW_LABEL_GAP = 18  # the label's start past its dot, and air before the next column's dot


def flow_layout(
    edges: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A Sankey's layout of PostHog's positional edges (`step`: from node `step` to `step + 1`):
    one column per position, each column's nodes ranked by the sequences through them (the
    widest on top); the nodes and the edges as rows to draw."""
    through: dict[tuple[int, str], int] = {}
    for e in edges:
        for key in ((e["step"], e["source"]), (e["step"] + 1, e["target"])):
            through[key] = through.get(key, 0)
        through[(e["step"], e["source"])] += e["count"]
    for e in edges:  # a last node's flow is what came in
        key = (e["step"] + 1, e["target"])
        if not any(x["step"] == e["step"] + 1 and x["source"] == e["target"] for x in edges):
            through[key] += e["count"]
    rank: dict[tuple[int, str], int] = {}
    for column in sorted({c for c, _ in through}):
        names = sorted(
            (n for c, n in through if c == column), key=lambda n: (-through[(column, n)], n)
        )
        rank.update({(column, n): i for i, n in enumerate(names)})
    nodes = [
        {"step": c, "rank": rank[(c, n)], "node": n, "sequences": through[(c, n)],
         "label": f"{n} ({through[(c, n)]:,})"}
        for (c, n) in sorted(through, key=lambda k: (k[0], rank[k]))
    ]  # fmt: skip
    lines = [
        {
            "step": e["step"],
            "rank": rank[(e["step"], e["source"])],
            "next_step": e["step"] + 1,
            "next_rank": rank[(e["step"] + 1, e["target"])],
            "source": e["source"],
            "target": e["target"],
            "count": e["count"],
        }
        for e in edges
    ]
    return nodes, lines


def _paths(d: dict[str, Any]) -> Chart | None:
    """A flow of the paths: PostHog's edges between positions, each as wide as its count,
    between the nodes of each step (a Sankey drawn with Vega-Lite's rules and points)."""
    edges = sorted(d.get("edges") or [], key=lambda e: (-e["count"], e["step"]))[:FLOW_EDGES]
    if not edges:
        return None
    nodes, lines = flow_layout(edges)
    last = max(n["step"] for n in nodes)

    room = FLOW_LABEL_ROOM  # each label's room: the step to the next one, or the frame's edge
    domain = [0.9, last + 0.95]

    def x() -> dict[str, Any]:
        return _field(  # a tick per step, no axis line past the last: its labels' room only
            "step:Q", title="step",
            axis={"domain": False, "format": "d", "values": list(range(1, last + 1))},
            scale={"domain": domain, "nice": False},
        )  # fmt: skip

    def y() -> dict[str, Any]:
        return _field("rank:Q", axis=None, scale={"padding": 12, "reverse": True})

    widest = max(e["count"] for e in edges)
    flow = _layer(
        lines, {"type": "rule", "opacity": 0.45, "strokeCap": "round"},
        color=_field("source:N", legend=None),
        strokeWidth=_field(
            "count:Q", legend=None, scale={"domain": [0, widest], "range": [1, 24]}
        ),
        tooltip=_tips("source:N", "target:N", "step:Q", "count:Q"),
        x=x(), x2={"field": "next_step"}, y=y(), y2={"field": "next_rank"},
    )  # fmt: skip
    dots = _layer(
        nodes, {"type": "point", "color": "#444", "filled": True, "size": 60},
        tooltip=_tips("node:N", "step:Q", "sequences:Q"), x=x(), y=y(),
    )  # fmt: skip
    limit = room - FLOW_LABEL_GAP  # cut with an ellipsis rather than run into the next column
    text_mark = {"type": "text", "align": "left", "dx": 6, "dy": -8, "fontSize": 10, "limit": limit}
    # each node's name and count on a white halo, read over the bands that cross it
    halo = _layer(nodes, {**text_mark, "stroke": "white", "strokeWidth": 3},
                  text=_field("label:N"), x=x(), y=y())  # fmt: skip
    labels = _layer(nodes, dict(text_mark), text=_field("label:N"), x=x(), y=y())
    spec = _top({
        "layer": [flow, dots, halo, labels],
        "height": max(160, 26 * len(nodes) // 2),
        "title": "Paths: the flow between steps",
        "width": max(360, round(room * (domain[1] - domain[0]))),
    })  # fmt: skip
    text = (
        "Flow of paths, sequences per edge: "
        + "; ".join(f"step {e['step']} {e['source']} → {e['target']} {e['count']}" for e in edges)
        + "."
    )
    return spec, text


def _segments(d: dict[str, Any]) -> Chart | None:
    rows = [
        {"segment": s["name"], "count": s.get("count", s.get("after", 0))}
        | ({"before": s["before"], "change": s["change"]} if "before" in s else {})
        | ({"entered": len(s["entered"]), "left": len(s["left"])} if "entered" in s else {})
        for s in d.get("segments") or []
    ]
    return _bar_chart(rows, "segment", "count", "Persons per segment")


# The two levels of `usertrack failures`, never added up: a failed run and a failed tool call
# are counted apart (a run's failure is often its tool's, counted once at each level).
FAILURE_LEVELS = (("workflow", "workflow_causes"), ("tool", "tool_causes"))


def _failures(d: dict[str, Any]) -> Chart | None:
    """The commonest causes, a bar for each level side by side (a colour each, with a legend):
    a cause found at both levels has two bars, not one of their sum."""
    rows = [
        {"cause": c["cause"], "level": level, "failures": c["failures"], "users": c["users"]}
        for level, key in FAILURE_LEVELS
        for c in d.get(key) or []
    ]
    rows.sort(key=lambda r: (-r["failures"], r["cause"], r["level"] != "workflow"))
    rows = rows[:12]
    if not rows:
        return None
    levels = [level for level, _key in FAILURE_LEVELS]
    bars = _layer(
        rows, {"type": "bar"},
        color=_field("level:N", sort=levels, scale={"domain": levels}, title="level"),
        tooltip=_tips("cause:N", "level:N", "failures:Q", "users:Q"),
        x=_field("failures:Q", stack=None, title="failures"),
        y=_field("cause:N", sort=None, title=None, axis={"labelLimit": 260}),
        yOffset=_field("level:N", sort=levels),
    )  # fmt: skip
    spec = _top({**bars, "title": "Failures by cause, workflow and tool level", "width": 460})
    text = "; ".join(f"{r['cause']} ({r['level']} level) {_num(r['failures'])}" for r in rows)
    return spec, f"Failures by cause, workflow and tool level (not added up): {text}."


def _sessions(d: dict[str, Any]) -> Chart | None:
    rows = [{"length": b["bucket"], "sessions": b["sessions"]} for b in d.get("buckets") or []]
    return _bar_chart(rows, "length", "sessions", "Sessions by length", horizontal=False)


def _alerts(d: dict[str, Any]) -> Chart | None:
    counts: dict[str, int] = {}
    for a in d.get("alerts") or []:
        name = a.get("trigger_name") or a.get("trigger") or "?"
        counts[name] = counts.get(name, 0) + 1
    rows = [{"trigger": k, "alerts": v} for k, v in sorted(counts.items(), key=lambda x: -x[1])]
    return _bar_chart(rows, "trigger", "alerts", "Alerts by trigger")


# The key metrics' daily chart, named as the activity panel names the same count.
DAILY_ACTIVE_TITLE = "DAU (any event) per day"


def _metrics(d: dict[str, Any]) -> Chart | None:
    rows = [
        {"day": r["label"], "active_users": r["active_users"]} for r in d.get("daily_active") or []
    ]
    if not rows:
        return None
    line = _layer(
        rows, {"type": "line", "point": True},
        tooltip=_tips("day:O", "active_users:Q"),
        x=_field("day:O", sort=None, title=None),
        y=_field("active_users:Q", title="persons"),
    )  # fmt: skip
    spec = _top({**line, "title": DAILY_ACTIVE_TITLE, "width": 460})
    return spec, alt_pairs(DAILY_ACTIVE_TITLE, rows, "day", "active_users")


CHARTS: dict[str, Callable[[dict[str, Any]], Chart | None]] = {
    "trends": trends_chart,
    "funnel": _funnel,
    "retention": _retention,
    "activity": _activity,
    "features": features_heatmap,
    "paths": _paths,
    "segments": _segments,
    "failures": _failures,
    "sessions": _sessions,
    "alerts": _alerts,
    "metrics": _metrics,
    "churn": churn_chart,
    "tools": tools_chart,
    "accounts": accounts_chart,
}


# The analyses whose answer in groups (--by-segment, --by PROPERTY) is drawn a series per
# group (group_charts); the funnel's and retention's own charts draw theirs.
GROUPED: dict[str, Callable[[dict[str, Any]], Chart | None]] = {
    "sessions": sessions_groups,
    "features": features_groups,
    "churn": churn_groups,
    "activity": activity_groups,
}


def nothing_to_show(analysis: str, d: dict[str, Any]) -> str | None:
    """Why a panel has nothing to show, in words (its headline instead of zeros, `None%` or an
    empty chart), or None when it has something. A project without the events an analysis
    counts (the activation funnel's sign-ups, say) reads as that, not as a broken page."""
    try:
        if analysis == "funnel":
            steps = d["steps"]
            unit = "accounts" if d.get("counted") == "accounts" else "persons"
            if not steps or not steps[0][unit]:
                first = f" ({_event(steps[0])})" if steps else ""
                return f"No one did the funnel's first step{first} in the period: no conversion."
        if analysis == "retention" and not any(c["size"] for c in d["cohorts"]):
            periods = f"{len(d['cohorts'])} {d['period']}s" if d["cohorts"] else "the range"
            start = d.get("start_event") or "the start event"
            return f"No one did {start}, the cohorts' start, in {periods}: no cohort to follow."
        if analysis == "features" and not d["features"]:
            active = d.get("active_persons") or 0
            return f"No feature was used in the period, by any of {active:,} active persons."
        if analysis == "paths" and not d["total_sequences"]:
            into = f" into {d['end_point']}" if d.get("end_point") else ""
            return f"No paths{into} in the period."
        if analysis == "sessions" and not d["sessions"]:
            return "No sessions in the period."
        if analysis == "trends" and not any(
            isinstance(v, int | float) and v for x in d["series"] for v in x.get("data") or []
        ):
            named = d.get("events") or [x["event"] for x in d["series"]]
            events = ", ".join(dict.fromkeys(str(e) for e in named))
            return f"No {events or 'such'} events in the period: nothing to draw."
    except (KeyError, TypeError, IndexError):
        return None
    return None


def _event(step: dict[str, Any]) -> str:
    return str(step.get("name") or step.get("event"))


def chart(analysis: str, data: dict[str, Any], *, cleaned: bool = False) -> Chart | None:
    """The panel's (spec, alt text), or None when it has no shape to draw. `cleaned`: `data`
    is `clean`'s already."""
    make = CHARTS.get(analysis)
    if make is None:
        return None
    data = data if cleaned else clean(data)
    if nothing_to_show(analysis, data) is not None:  # the headline says why, in words
        return None
    grouped = GROUPED.get(analysis)  # an answer in groups: one series per group
    made = (grouped(data) if grouped is not None else None) or make(data)
    if made is None:
        return None
    spec, text = made
    for view in [spec, *spec.get("vconcat", ())]:
        text += _capped(view)
    spec["background"] = "white"  # readable on a light and a dark page alike
    return spec, text


def _capped(view: dict[str, Any]) -> str:
    """A view past MAX_MARKS rows that its chart did not cap itself (a bar per feature of
    thousands, a day of a long activity range) keeps its first MAX_MARKS, and says so; the
    note for the alt text, or ''."""
    rows = (view.get("data") or {}).get("values")
    if not isinstance(rows, list) or len(rows) <= MAX_MARKS:
        return ""
    view["data"] = {**view["data"], "values": rows[:MAX_MARKS]}
    note = f"the first {MAX_MARKS:,} of {len(rows):,} rows"
    title = view.get("title")
    if isinstance(title, dict):  # noted already: one more line before the others
        view["title"] = {**title, "subtitle": [f"Drawn: {note}.", *title["subtitle"]]}
    else:
        view["title"] = _titled(str(title or ""), [note])
    return _noted([note])


_XY_UNSAFE = re.compile(r"[^\w .,/:%()+$@!?='*-]")


def _mermaid_label(value: Any) -> str:
    """A mermaid string literal of an xychart: a quote becomes an apostrophe, and every other
    character that could end the string, the block or open markup (backtick, `<`, `&`,
    brackets, a line break) is U+FFFD."""
    return '"' + _XY_UNSAFE.sub("\ufffd", str(value).replace('"', "'")) + '"'


def _xychart(part: dict[str, Any]) -> tuple[str, bool] | None:
    """One bar or line chart of a Vega-Lite spec as mermaid's xychart-beta (its first numbers
    per label: one line per colour series), and whether a label is marked MARK (a period the
    view draws lighter, `complete` false, or shades, a `rect` band's start: one not ended by the
    as-of or cut by the range); None for a shape it has no form for."""
    marked: set[str] = set()
    for sub in part.get("layer") or []:  # the periods shaded behind a line (_cut_periods)
        if isinstance(sub.get("mark"), dict) and sub["mark"].get("type") == "rect":
            band = (sub.get("data") or {}).get("values") or []
            marked.update(str(r.get("start")) for r in band if isinstance(r, dict))
    for sub in part.get("layer") or []:  # a layered view: its line or bars (not its marks)
        if isinstance(sub.get("mark"), dict) and sub["mark"].get("type") in ("line", "bar"):
            part = {"data": part.get("data"), "title": part.get("title"), **sub}
            break
    mark = part.get("mark")
    kind = mark.get("type") if isinstance(mark, dict) else mark
    enc = part.get("encoding") or {}
    rows = (part.get("data") or {}).get("values") or []
    if kind not in ("bar", "line") or not rows or "x" not in enc or "y" not in enc:
        return None
    x, y = enc["x"], enc["y"]
    label, value = (y, x) if x.get("type") == "quantitative" else (x, y)
    if value.get("type") != "quantitative" or label.get("type") == "quantitative":
        return None
    by = (enc.get("color") or {}).get("field")
    labels = list(dict.fromkeys(str(r[label["field"]]) for r in rows))
    series = list(dict.fromkeys(str(r[by]) for r in rows)) if by else [""]
    marked.update(str(r[label["field"]]) for r in rows if r.get("complete") is False)
    marked &= set(labels)
    lines = ["xychart-beta"]
    title = part.get("title")
    if isinstance(title, dict):  # a chart cut to its caps: the title, its subtitle aside
        title = title.get("text")
    if isinstance(title, str):
        lines.append(f"    title {_mermaid_label(title)}")
    shown = [f"{v} {MARK}" if v in marked else v for v in labels]
    lines.append("    x-axis [" + ", ".join(_mermaid_label(v) for v in shown) + "]")
    lines.append(f"    y-axis {_mermaid_label(value.get('title') or value['field'])}")
    found: dict[str, dict[str, Any]] = {name: {} for name in series}  # one pass over the rows
    for r in rows:
        found[str(r[by]) if by else ""][str(r[label["field"]])] = r[value["field"]]
    for name in series:
        numbers = [found[name].get(v) for v in labels]
        drawn = ", ".join(_num(n if isinstance(n, int | float) else 0) for n in numbers)
        lines.append(f"    {kind} [{drawn}]")
    return "\n".join(lines), bool(marked)


# Under a mermaid chart with a period marked MARK (mermaid draws no lighter bar or shaded band).
MERMAID_NOTE = (
    f"{MARK} a period not ended by the as-of, or cut by the range: its counts are partial,"
    " not a drop."
)


def mermaid(analysis: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    """The panel's chart as mermaid blocks (`report -f md --charts mermaid`: one file), each with
    the note to write under it ('' or MERMAID_NOTE): bars and lines as xychart-beta (the
    features' heatmap as a bar per feature), the paths' flow as a flowchart; none for another
    heatmap or a shape mermaid cannot draw. Labels are mermaid strings, every unsafe character
    an entity code; a period the other formats mark as unfinished (drawn lighter or shaded) is
    labelled with MARK, and the note says why."""
    data = clean(data)
    if analysis == "paths":
        from usertrack.analytics.paths.render import mermaid_text

        edges = sorted(data.get("edges") or [], key=lambda e: (-e["count"], e["step"]))
        ids: dict[tuple[int, str], str] = {}
        lines = ["flowchart LR"]
        for e in edges[:FLOW_EDGES]:
            for key in ((e["step"], e["source"]), (e["step"] + 1, e["target"])):
                if key not in ids:
                    ids[key] = f"n{len(ids)}"
                    lines.append(f'    {ids[key]}["{mermaid_text(key[1])}"]')
        for e in edges[:FLOW_EDGES]:
            source, target = ids[(e["step"], e["source"])], ids[(e["step"] + 1, e["target"])]
            lines.append(f"    {source} -->|{e['count']}| {target}")
        return [("\n".join(lines), "")] if edges else []
    made = chart(analysis, data, cleaned=True)
    if made is None:
        return []
    spec = made[0]
    heatmap = analysis == "features" and "layer" in spec  # not the bars of features in groups
    parts = [adoption_bars(spec)] if heatmap else spec.get("vconcat") or [spec]
    drawn = [_xychart(p) for p in parts]
    return [(text, MERMAID_NOTE if marked else "") for text, marked in filter(None, drawn)]


def bundle(cache: Path | None = None) -> str:
    """Vega, Vega-Lite and vega-embed as one script (vl-convert's bundle, which takes seconds to
    build: kept in `cache`, named by the libraries' versions, and written atomically)."""
    import vl_convert

    name = f"vega-bundle-{vl_convert.get_vega_version()}-{vl_convert.get_vega_embed_version()}.js"
    kept = cache / name if cache is not None else None
    if kept is not None:
        try:
            return kept.read_text(encoding="utf-8")
        except OSError:
            pass
    text = draw([{"kind": "bundle"}])[0].decode("utf-8")
    if kept is not None:
        from usertrack.rendering.output import write_atomic

        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(kept, text)
        except OSError:  # a cache that cannot be written: built again next time
            pass
    return text


def svgs(specs: list[dict[str, Any]]) -> list[str]:
    """Each spec as SVG, drawn in one bounded process (usertrack.dashboards.drawing)."""
    drawn = draw([{"kind": "svg", "spec": spec} for spec in specs])
    return [body.decode("utf-8") for body in drawn]


def svg(spec: dict[str, Any]) -> str:
    return svgs([spec])[0]


def png(spec: dict[str, Any]) -> bytes:
    return draw([{"kind": "png", "spec": spec, "scale": 2}])[0]
