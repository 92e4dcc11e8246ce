"""The charts of the panels that read the app's database or score users: `churn` (the
engagement score's bands and the churn rate per period), `tools` (the most called tools, and the
agent runs by status) and `accounts` (accounts by health and by account segment). Each is a
Vega-Lite specification built from the command's own JSON, as usertrack.dashboards.charts builds
the others (written as altair's `to_dict` writes them), with its alt text stating the numbers
drawn; `charts.chart` cleans the values and caps the marks before any of these is called."""

from __future__ import annotations

from typing import Any

from usertrack.dashboards.vega import Chart, alt_pairs, field, layer, num, top

TOP_TOOLS = 15  # the most called tools a tools chart draws: more is a list, not a chart


def _top(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One view, or views one above the other (each its own colours)."""
    if len(parts) == 1:
        return top(parts[0])
    return top({"vconcat": parts, "resolve": {"scale": {"color": "independent"}}})


def _bars(rows: list[dict[str, Any]], x: str, y: str, title: str, *tips: str) -> dict[str, Any]:
    """Horizontal bars, one per row in the rows' order."""
    return {
        **layer(
            rows,
            {"type": "bar"},
            tooltip=[field(t) for t in (f"{x}:N", f"{y}:Q", *tips)],
            x=field(f"{y}:Q", title=y.replace("_", " ")),
            y=field(f"{x}:N", sort=None, title=None, axis={"labelLimit": 260}),
        ),
        "title": title,
        "width": 460,
    }


def churn_chart(d: dict[str, Any]) -> Chart | None:
    """The engagement score's distribution (active identified persons per band of 20 points) and
    the churn rate of each period (a line, 0-100 %); the alt text states both and the average
    score."""
    engagement = d.get("engagement") or {}
    bands = [
        {"band": b["band"], "users": b["persons"]} for b in engagement.get("distribution") or []
    ]
    rates = [
        {"period": p["start"], "churn_rate": p["churn_rate"]}
        for p in d.get("periods") or []
        if p.get("churn_rate") is not None
    ]
    if not any(b["users"] for b in bands) and not rates:
        return None
    parts = []
    if any(b["users"] for b in bands):
        parts.append(
            {
                **layer(
                    bands,
                    {"type": "bar"},
                    tooltip=[field("band:O"), field("users:Q")],
                    x=field("band:O", sort=None, title="engagement score", axis={"labelAngle": 0}),
                    y=field("users:Q"),
                ),
                "height": 180,
                "title": "Engagement score, active identified persons per band",
                "width": 460,
            }
        )
    if rates:
        period = d.get("period") or "period"
        parts.append(
            {
                **layer(
                    rates,
                    {"type": "line", "point": True},
                    tooltip=[field("period:O"), field("churn_rate:Q")],
                    x=field("period:O", sort=None, title=f"{period} starting"),
                    y=field("churn_rate:Q", title="churn rate %", scale={"domain": [0, 100]}),
                ),
                "height": 180,
                "title": f"Churn rate per {period}",
                "width": 460,
            }
        )
    average = num(engagement.get("average"))
    text = alt_pairs(
        f"Engagement score, active identified persons per band (average {average})",
        bands, "band", "users",
    )  # fmt: skip
    if rates:
        text += " " + alt_pairs("Churn rate per period, %", rates, "period", "churn_rate")
    return _top(parts), text


def tools_chart(d: dict[str, Any]) -> Chart | None:
    """The most called tools (their calls, failures in the tooltip) and the agent runs by
    status, one above the other; `--tool`'s answer (one tool) has no such lists."""
    tools = [
        {"tool": t["tool_name"], "calls": t["calls"], "failures": t["failures"],
         "success_rate": t["success_rate"]}
        for t in (d.get("top_tools") or [])[:TOP_TOOLS]
    ]  # fmt: skip
    agents = [{"status": a["status"], "runs": a["runs"]} for a in d.get("agents") or []]
    if not tools and not agents:
        return None
    parts = []
    if tools:
        parts.append(_bars(tools, "tool", "calls", "Tool calls by tool", "failures:Q",
                           "success_rate:Q"))  # fmt: skip
    if agents:
        parts.append(_bars(agents, "status", "runs", "Agent runs by status"))
    text = alt_pairs("Tool calls by tool", tools, "tool", "calls")
    if agents:
        text += " " + alt_pairs("Agent runs by status", agents, "status", "runs")
    return _top(parts), text


HEALTH = ("healthy", "at_risk", "dormant")


def accounts_chart(d: dict[str, Any]) -> Chart | None:
    """Accounts by health (healthy, at risk, dormant) and by account segment."""
    summary = d.get("summary") or {}
    health = [{"health": h.replace("_", " "), "accounts": summary.get(h, 0)} for h in HEALTH]
    segments = [
        {"segment": s["name"], "accounts": s["accounts"]} for s in d.get("account_segments") or []
    ]
    if not summary.get("accounts"):
        return None
    parts = [_bars(health, "health", "accounts", "Accounts by health")]
    if segments:
        parts.append(_bars(segments, "segment", "accounts", "Accounts per account segment"))
    text = alt_pairs("Accounts by health", health, "health", "accounts")
    if segments:
        text += " " + alt_pairs("Accounts per account segment", segments, "segment", "accounts")
    return _top(parts), text
