"""The dashboards' charts as altair builds them: the reference usertrack.dashboards.charts' own
Vega-Lite dicts are compared with (tests/dashboards/test_dashboards.py), key for key and in altair's
order."""

from __future__ import annotations

from typing import Any

from usertrack.dashboards.charts import (
    FLOW_EDGES,
    FLOW_LABEL_GAP,
    FLOW_LABEL_ROOM,
    Chart,
    alt_pairs,
    flow_layout,
)


def _bars(
    rows: list[dict[str, Any]], x: str, y: str, title: str, *, horizontal: bool = True
) -> Any:
    import altair as alt

    tips = [
        alt.Tooltip(f"{k}:{'Q' if isinstance(v, int | float) and not isinstance(v, bool) else 'N'}")
        for k, v in (rows[0].items() if rows else ())
    ]
    base = alt.Chart(alt.Data(values=rows)).mark_bar()
    if horizontal:
        chart = base.encode(
            y=alt.Y(f"{x}:N", sort=None, title=None, axis=alt.Axis(labelLimit=260)),
            x=alt.X(f"{y}:Q", title=y.replace("_", " ")),
            tooltip=tips,
        )
    else:
        chart = base.encode(
            x=alt.X(f"{x}:N", sort=None, title=None),
            y=alt.Y(f"{y}:Q", title=y.replace("_", " ")),
            tooltip=tips,
        )
    return chart.properties(title=title, width=460).to_dict(validate=False)


def _retention(d: dict[str, Any]) -> Chart | None:
    import altair as alt

    cells, curve = [], []
    cohorts = d.get("cohorts") or []
    for c in cohorts:
        for k, n in enumerate(c["retained"]):
            pct = round(100 * n / c["size"], 1) if c["size"] else 0.0
            cells.append({"cohort": c["start"], "period": k, "retained_pct": pct, "persons": n})
    # the analysis's own average curve (periods not yet ended left out, as PostHog's mean)
    for p in d.get("average") or []:
        if p.get("percent") is not None:
            curve.append({"period": p["period"], "retained_pct": p["percent"]})
    if not cells:
        return None
    line = (
        alt.Chart(alt.Data(values=curve))
        .mark_line(point=True)
        .encode(
            x=alt.X("period:O", title=f"{d.get('period', 'period')}s since start"),
            y=alt.Y("retained_pct:Q", title="retained %", scale=alt.Scale(domain=[0, 100])),
            tooltip=["period:O", "retained_pct:Q"],
        )
        .properties(title="Average retention curve", width=460)
    )
    # a cell of a period not ended by as_of: lighter (the SHAPES' cohorts end on 2026-11-16)
    running = d.get("as_of") == "2026-11-16T00:00:00Z" and d.get("period") == "week"
    if running:
        for c in cells:
            c["complete"] = (c["cohort"], c["period"]) != ("2026-11-09", 1)
    since = f"{d.get('period', 'period')}s since start"
    base = alt.Chart(alt.Data(values=cells))
    legend = alt.Legend(orient="bottom", direction="horizontal", gradientLength=300,
                        values=[0, 25, 50, 75, 100])  # fmt: skip
    lighter = alt.Opacity(
        "complete:O", legend=None, scale=alt.Scale(domain=[True, False], range=[1, 0.35])
    )
    rect = base.mark_rect().encode(
        x=alt.X("period:O", title=since),
        y=alt.Y("cohort:O", title="cohort"),
        color=alt.Color("retained_pct:Q", title="% retained", legend=legend,
                        scale=alt.Scale(scheme="blues", domain=[0, 100])),
        tooltip=["cohort:O", "period:O", "persons:Q", "retained_pct:Q"],
        **({"opacity": lighter} if running else {}),
    )  # fmt: skip
    text = base.mark_text(fontSize=10).encode(
        x=alt.X("period:O", title=since),
        y=alt.Y("cohort:O", title="cohort"),
        text=alt.Text("retained_pct:Q", format=".0f"),
        color=alt.condition("datum.retained_pct > 50", alt.value("white"), alt.value("black")),
    )
    note = "Lighter: a week not ended by the as-of; its share is still growing."
    title = alt.Title("Cohorts", subtitle=[note]) if running else "Cohorts"
    heat = alt.layer(rect, text).properties(title=title, width=460)
    spec = alt.vconcat(line, heat).to_dict(validate=False)
    return spec, alt_pairs("Average retention by period, %", curve, "period", "retained_pct")


# DAU, WAU and MAU as activity's headline and tables name them.
NAMES = {"dau": "DAU (any event)", "wau": "WAU", "mau": "MAU"}


def _activity(d: dict[str, Any]) -> Chart | None:
    import altair as alt

    life = []
    for row in d.get("lifecycle") or []:
        for kind in ("new", "returning", "resurrecting", "dormant"):
            life.append({"week": row["period_start"], "kind": kind, "persons": row[kind]})
    daily = [
        {"date": r["date"], "measure": name, "persons": r[m]}
        for r in d.get("daily") or []
        for m, name in NAMES.items()
    ]
    if not life and not daily:
        return None
    parts = []
    if daily:
        parts.append(
            alt.Chart(alt.Data(values=daily))
            .mark_line(point=True)
            .encode(
                x=alt.X("date:T", title=None, axis=alt.Axis(format="%b %d")),
                y=alt.Y("persons:Q"),
                color=alt.Color("measure:N", sort=list(NAMES.values()), title=None),
                tooltip=["date:T", "measure:N", "persons:Q"],
            )
            .properties(title="DAU (any event), WAU, MAU per day", width=460)
        )
    if life:
        parts.append(
            alt.Chart(alt.Data(values=life))
            .mark_bar()
            .encode(
                x=alt.X("week:O", title="week"),
                y=alt.Y("persons:Q", stack="zero"),
                color=alt.Color(
                    "kind:N",
                    sort=["new", "returning", "resurrecting", "dormant"],
                    title=None,
                ),
                tooltip=["week:O", "kind:N", "persons:Q"],
            )
            .properties(title="Lifecycle", width=460)
        )
    day = f"{d['daily'][-1]['date']}: " if d.get("daily") else ""
    alt_text = (
        f"{day}DAU (any event) {d.get('dau')}, WAU {d.get('wau')}, MAU {d.get('mau')}. Lifecycle: "
        + "; ".join(
            f"{r['period_start']} new {r['new']} returning {r['returning']}"
            f" resurrecting {r['resurrecting']} dormant {r['dormant']}"
            for r in d.get("lifecycle") or []
        )
        + "."
    )
    return alt.vconcat(*parts).resolve_scale(color="independent").to_dict(validate=False), alt_text


def _paths(d: dict[str, Any]) -> Chart | None:
    """A flow of the paths: PostHog's edges between positions, each as wide as its count,
    between the nodes of each step (a Sankey drawn with Vega-Lite's rules and points)."""
    import altair as alt

    edges = sorted(d.get("edges") or [], key=lambda e: (-e["count"], e["step"]))[:FLOW_EDGES]
    if not edges:
        return None
    nodes, lines = flow_layout(edges)
    y = alt.Y("rank:Q", axis=None, scale=alt.Scale(reverse=True, padding=12))
    last = max(n["step"] for n in nodes)
    x = alt.X(
        "step:Q",
        title="step",
        axis=alt.Axis(format="d", values=list(range(1, last + 1)), domain=False),
        scale=alt.Scale(domain=[0.9, last + 0.95], nice=False),
    )
    widest = max(e["count"] for e in edges)
    limit = FLOW_LABEL_ROOM - FLOW_LABEL_GAP
    flow = (
        alt.Chart(alt.Data(values=lines))
        .mark_rule(opacity=0.45, strokeCap="round")
        .encode(
            x=x,
            y=y,
            x2="next_step:Q",
            y2="next_rank:Q",
            strokeWidth=alt.StrokeWidth(
                "count:Q", scale=alt.Scale(domain=[0, widest], range=[1, 24]), legend=None
            ),
            color=alt.Color("source:N", legend=None),
            tooltip=["source:N", "target:N", "step:Q", "count:Q"],
        )
    )
    dots = (
        alt.Chart(alt.Data(values=nodes))
        .mark_point(filled=True, color="#444", size=60)
        .encode(x=x, y=y, tooltip=["node:N", "step:Q", "sequences:Q"])
    )
    halo = (
        alt.Chart(alt.Data(values=nodes))
        .mark_text(align="left", dx=6, dy=-8, fontSize=10, limit=limit, stroke="white",
                   strokeWidth=3)
        .encode(x=x, y=y, text="label:N")
    )  # fmt: skip
    labels = (
        alt.Chart(alt.Data(values=nodes))
        .mark_text(align="left", dx=6, dy=-8, fontSize=10, limit=limit)
        .encode(x=x, y=y, text="label:N")
    )
    spec = (
        alt.layer(flow, dots, halo, labels)
        .properties(
            title="Paths: the flow between steps",
            width=max(360, round(FLOW_LABEL_ROOM * (last + 0.05))),
            height=max(160, 26 * len(nodes) // 2),
        )
        .to_dict(validate=False)
    )
    text = (
        "Flow of paths, sequences per edge: "
        + "; ".join(f"step {e['step']} {e['source']} → {e['target']} {e['count']}" for e in edges)
        + "."
    )
    return spec, text


def _metrics(d: dict[str, Any]) -> Chart | None:
    import altair as alt

    rows = [
        {"day": r["label"], "active_users": r["active_users"]} for r in d.get("daily_active") or []
    ]
    if not rows:
        return None
    spec = (
        alt.Chart(alt.Data(values=rows))
        .mark_line(point=True)
        .encode(
            x=alt.X("day:O", sort=None, title=None),
            y=alt.Y("active_users:Q", title="persons"),
            tooltip=["day:O", "active_users:Q"],
        )
        .properties(title="DAU (any event) per day", width=460)
    ).to_dict(validate=False)
    return spec, alt_pairs("DAU (any event) per day", rows, "day", "active_users")


def _failures(d: dict[str, Any]) -> Chart | None:
    import altair as alt

    rows = [
        {"cause": c["cause"], "level": level, "failures": c["failures"], "users": c["users"]}
        for level, key in (("workflow", "workflow_causes"), ("tool", "tool_causes"))
        for c in d.get(key) or []
    ]
    rows.sort(key=lambda r: (-r["failures"], r["cause"], r["level"] != "workflow"))
    rows = rows[:12]
    if not rows:
        return None
    levels = ["workflow", "tool"]
    spec = (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            y=alt.Y("cause:N", sort=None, title=None, axis=alt.Axis(labelLimit=260)),
            x=alt.X("failures:Q", stack=None, title="failures"),
            yOffset=alt.YOffset("level:N", sort=levels),
            color=alt.Color("level:N", sort=levels, scale=alt.Scale(domain=levels), title="level"),
            tooltip=["cause:N", "level:N", "failures:Q", "users:Q"],
        )
        .properties(title="Failures by cause, workflow and tool level", width=460)
    ).to_dict(validate=False)
    text = "; ".join(f"{r['cause']} ({r['level']} level) {r['failures']}" for r in rows)
    return spec, f"Failures by cause, workflow and tool level (not added up): {text}."


def _trends(d: dict[str, Any]) -> Chart | None:
    import altair as alt

    points = d.get("points") or []
    rows = []
    for series in d.get("series") or []:
        name = series["event"]
        if series.get("breakdown") is not None:
            name = f"{name} / {series['breakdown']}"
        for point, value in zip(points, series.get("data") or [], strict=False):
            rows.append({"series": name, "time": point, "value": value})
    if not rows:
        return None
    spec = (
        alt.Chart(alt.Data(values=rows))
        .mark_line(point=True)
        .encode(
            x=alt.X("time:T", title=None, axis=alt.Axis(format="%b %d")),
            y=alt.Y("value:Q", title=str(d.get("math") or "value")),
            color=alt.Color("series:N", title=None),
            tooltip=["series:N", "time:T", "value:Q"],
        )
        .properties(title="Trends", width=460)
    ).to_dict(validate=False)
    totals = [
        {
            "series": r["series"],
            "total": sum(x["value"] or 0 for x in rows if x["series"] == r["series"]),
        }
        for r in {r["series"]: r for r in rows}.values()
    ]
    return spec, alt_pairs(
        f"Trends per {d.get('interval', 'point')}, totals", totals, "series", "total"
    )


def _report_bars(rows: list[dict[str, Any]], x: str, y: str, title: str, *tips: str) -> Any:
    import altair as alt

    return (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            y=alt.Y(f"{x}:N", sort=None, title=None, axis=alt.Axis(labelLimit=260)),
            x=alt.X(f"{y}:Q", title=y.replace("_", " ")),
            tooltip=[f"{x}:N", f"{y}:Q", *tips],
        )
        .properties(title=title, width=460)
    )


def _stacked(parts: list[Any]) -> dict[str, Any]:
    import altair as alt

    if len(parts) == 1:
        return parts[0].to_dict(validate=False)  # type: ignore[no-any-return]
    chart = alt.vconcat(*parts).resolve_scale(color="independent")
    return chart.to_dict(validate=False)  # type: ignore[no-any-return]


def _churn(d: dict[str, Any]) -> Chart | None:
    import altair as alt

    from usertrack.dashboards.report_charts import churn_chart

    made = churn_chart(d)  # its alt text; the specification built here
    if made is None:
        return None
    engagement = d.get("engagement") or {}
    bands = [
        {"band": b["band"], "users": b["persons"]} for b in engagement.get("distribution") or []
    ]
    rates = [
        {"period": p["start"], "churn_rate": p["churn_rate"]}
        for p in d.get("periods") or []
        if p.get("churn_rate") is not None
    ]
    parts = []
    if any(b["users"] for b in bands):
        parts.append(
            alt.Chart(alt.Data(values=bands))
            .mark_bar()
            .encode(
                x=alt.X("band:O", sort=None, title="engagement score",
                        axis=alt.Axis(labelAngle=0)),
                y=alt.Y("users:Q"),
                tooltip=["band:O", "users:Q"],
            )
            .properties(title="Engagement score, active identified persons per band", width=460,
                        height=180)
        )  # fmt: skip
    if rates:
        period = d.get("period") or "period"
        parts.append(
            alt.Chart(alt.Data(values=rates))
            .mark_line(point=True)
            .encode(
                x=alt.X("period:O", sort=None, title=f"{period} starting"),
                y=alt.Y("churn_rate:Q", title="churn rate %", scale=alt.Scale(domain=[0, 100])),
                tooltip=["period:O", "churn_rate:Q"],
            )
            .properties(title=f"Churn rate per {period}", width=460, height=180)
        )
    return _stacked(parts), made[1]


def _tools(d: dict[str, Any]) -> Chart | None:
    from usertrack.dashboards.report_charts import TOP_TOOLS, tools_chart

    made = tools_chart(d)
    if made is None:
        return None
    tools = [
        {"tool": t["tool_name"], "calls": t["calls"], "failures": t["failures"],
         "success_rate": t["success_rate"]}
        for t in (d.get("top_tools") or [])[:TOP_TOOLS]
    ]  # fmt: skip
    agents = [{"status": a["status"], "runs": a["runs"]} for a in d.get("agents") or []]
    parts = []
    if tools:
        parts.append(_report_bars(tools, "tool", "calls", "Tool calls by tool", "failures:Q",
                                  "success_rate:Q"))  # fmt: skip
    if agents:
        parts.append(_report_bars(agents, "status", "runs", "Agent runs by status"))
    return _stacked(parts), made[1]


def _accounts(d: dict[str, Any]) -> Chart | None:
    from usertrack.dashboards.report_charts import HEALTH, accounts_chart

    made = accounts_chart(d)
    if made is None:
        return None
    summary = d["summary"]
    health = [{"health": h.replace("_", " "), "accounts": summary.get(h, 0)} for h in HEALTH]
    segments = [{"segment": s["name"], "accounts": s["accounts"]}
                for s in d.get("account_segments") or []]  # fmt: skip
    parts = [_report_bars(health, "health", "accounts", "Accounts by health")]
    if segments:
        parts.append(_report_bars(segments, "segment", "accounts", "Accounts per account segment"))
    return _stacked(parts), made[1]


def _features(d: dict[str, Any]) -> Chart | None:
    """The features heatmap (usertrack.dashboards.feature_charts) as altair layers it."""
    import altair as alt

    from usertrack.dashboards import feature_charts as fc

    ours = fc.features_heatmap(d)
    if ours is None:
        return None
    spec, text = ours
    rows, lines = spec["data"]["values"], spec["layer"][0]["encoding"]["y"]["sort"]
    x = alt.X("place:O", axis=None)
    y = alt.Y("category:N", axis=alt.Axis(labelLimit=160, title=None), sort=lines)
    colour = alt.Color(
        "band:N",
        legend=alt.Legend(orient="bottom", title="Adoption"),
        scale=alt.Scale(domain=[b[1] for b in fc.BANDS], range=[b[2] for b in fc.BANDS]),
    )
    base = alt.Chart()
    cell = base.mark_rect(cornerRadius=3, stroke="white", strokeWidth=2).encode(
        color=colour, x=x, y=y,
        tooltip=[alt.Tooltip("name:N"), alt.Tooltip("category:N"),
                 alt.Tooltip("shown:N", title="adoption"), alt.Tooltip("persons:Q"),
                 alt.Tooltip("uses:Q")],
    )  # fmt: skip
    label = {"fill": "white", "fontSize": 10, "limit": fc.CELL_WIDTH - 8}
    named = base.mark_text(dy=-7, **label).encode(text="name:N", x=x, y=y)
    rate = base.mark_text(dy=7, fontWeight="bold", **label).encode(text="shown:N", x=x, y=y)
    chart = alt.layer(cell, named, rate, data=alt.Data(values=rows)).properties(
        title=spec["title"], width=alt.Step(fc.CELL_WIDTH), height=alt.Step(fc.CELL_HEIGHT)
    )
    return chart.to_dict(validate=False), text
