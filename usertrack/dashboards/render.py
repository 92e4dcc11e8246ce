"""A computed dashboard as JSON, Markdown (charts as SVG files beside it) or one HTML page.

The HTML page is self-contained: Vega, Vega-Lite and vega-embed are inlined (vl-convert's
bundle), each chart's specification is a JSON island (`<script type="application/json">`) whose
`<`, `>`, `&` and line separators are \\u-escaped, so no value can close the script or open a tag;
every other text is HTML-escaped, and stranger values lose their control and bidi characters
(`charts.clean`). It draws offline, has tooltips, follows the system's light or dark theme and
prints one panel per block."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from usertrack.analytics.activity.render import MEASURE_NAMES
from usertrack.analytics.proportions import rate_text
from usertrack.core import style
from usertrack.dashboards import charts
from usertrack.dashboards.charts import Chart, chart, clean, mermaid, nothing_to_show, svgs


def headline(analysis: str, d: dict[str, Any]) -> str:
    """One line: the panel's main numbers, and its change against the previous period when the
    command gave one (a panel with `compare: true`, or `report --compare`)."""
    if "list" in d:  # a list across users: its rows are the table below
        return _list_line(d)
    if _overview(analysis, d):  # the users at a glance: the table below
        return ""
    if _active(analysis, d):  # everyone active now (`alerts --active`): the table below
        people = d.get("people") or []
        helped = sum(1 for p in people if p.get("needs_support"))
        return (
            f"{style.counted(len(people), 'person', 'persons')} active in the"
            f" {d.get('lookback_minutes')} minutes, {helped:,} needing help."
        )
    text = _numbers(analysis, d)
    try:
        change = _change(analysis, d)
    except (KeyError, TypeError, IndexError, ZeroDivisionError):
        change = ""
    return f"{text} {change}".strip()


def day_retention(d: dict[str, Any], days: tuple[int, ...] = (1, 7, 30)) -> dict[int, float | None]:
    """D1 / D7 / D30 of daily cohorts, as `usertrack retention` states them (its `day_points`:
    the average curve's day k over the cohorts whose day k has ended; None: no cohort has)."""
    points = {p["day"]: p.get("percent") for p in d.get("day_points") or []}
    return {k: points.get(k) for k in days}


def _rate(point: dict[str, Any]) -> str:
    """An average curve's point as a rate, its sample and interval beside it when thin."""
    return rate_text(point.get("percent"), point.get("persons"), point.get("size"))


def _next_period(d: dict[str, Any]) -> float | None:
    """The average curve's period 1: the share back one period later, over the cohorts whose
    next period has ended (the retention analysis's own figure)."""
    average = d.get("average") or []
    return average[1].get("percent") if len(average) > 1 else None


def _cohort(start: str, period: str) -> str:
    """A cohort of an answer's JSON as retention's table names it: an hour's `Nov 21 14:00`."""
    from usertrack.analytics.retention.run import period_of

    return f"{period_of(start, period):%b %d %H:%M}" if period == "hour" else start


def _next_ended(start: str, d: dict[str, Any]) -> bool:
    """Whether the cohort of `start` has had its whole next period by the answer's as_of: the
    cohorts the retention analysis counts for its period 1 (a period holding as_of is partial)."""
    from datetime import datetime

    from usertrack.analytics.common import next_period
    from usertrack.analytics.retention.run import period_of
    from usertrack.analytics.weeks import instant

    after = next_period(period_of(start, d["period"]), d["period"], 2)
    moment = datetime.fromisoformat(d["as_of"].replace("Z", "+00:00")).replace(tzinfo=None)
    return instant(after) <= moment


def _change(analysis: str, d: dict[str, Any]) -> str:
    previous = d.get("previous")
    if nothing_to_show(analysis, d) is not None:
        return ""
    if analysis == "funnel" and isinstance(previous, dict) and previous.get("steps"):
        now, before = d["steps"][-1], previous["steps"][-1]
        if not previous["steps"][0]["persons"]:
            return "Previous period: no one entered."
        points = round(now["conversion_from_start"] - before["conversion_from_start"], 1)
        return (
            f"Previous period: {previous['steps'][0]['persons']:,} entered,"
            f" {before['persons']:,} converted ({before['conversion_from_start']}%),"
            f" {points:+} pp now."
        )
    if analysis == "activity" and isinstance(d.get("change"), dict):
        c = d["change"]
        return (
            "Against the previous period: "
            + ", ".join(
                f"{k.replace('_', ' ').upper() if k != 'average_dau' else 'average DAU'} {v:+}%"
                for k, v in c.items()
                if v is not None
            )
            + "."
        )
    if analysis == "retention" and d.get("period") == "day":
        points = {p.get("day"): p for p in d.get("day_points") or []}
        days = [f"D{k} {_rate(points[k])}" for k, v in day_retention(d).items() if v is not None]
        return ("Average retention: " + ", ".join(days) + ".") if days else ""
    if analysis == "retention":
        full = [c for c in d["cohorts"] if c["size"] and _next_ended(c["start"], d)]
        if len(full) >= 2:
            (a, b) = full[-2:]
            now = round(100 * b["retained"][1] / b["size"], 1)
            before = round(100 * a["retained"][1] / a["size"], 1)
            return (
                f"Latest cohort ({_cohort(b['start'], d['period'])}):"
                f" {rate_text(now, b['retained'][1], b['size'])} back after one {d['period']},"
                f" against {rate_text(before, a['retained'][1], a['size'])} for the one before"
                f" ({round(now - before, 1):+} pp)."
            )
    if analysis == "features" and isinstance(previous, dict) and "active_persons" in previous:
        return f"Active persons {d['active_persons']:,}, previously {previous['active_persons']:,}."
    return ""


def _rounded(n: float) -> float:
    return n if isinstance(n, int) or n == int(n) else round(n, 1)


def _by(series: dict[str, Any]) -> str:
    value = series.get("breakdown")
    return "" if value is None else f" / {value}"


def _numbers(analysis: str, d: dict[str, Any]) -> str:
    try:
        empty = nothing_to_show(analysis, d)
        if empty is not None:
            return empty
        if analysis == "funnel":
            steps = d["steps"]
            return (
                f"{steps[0]['persons']:,} entered, {steps[-1]['persons']:,} converted"
                f" ({steps[-1]['conversion_from_start']}%)."
            )
        if analysis == "retention":
            cohorts = [c for c in d["cohorts"] if c["size"]]
            size = sum(c["size"] for c in cohorts)
            rate = _next_period(d)
            back = (
                f" {_rate(d['average'][1])} came back the next {d['period']}."
                if rate is not None
                else f" no cohort's next {d['period']} has ended."
            )
            return f"{len(cohorts)} cohorts, {size:,} persons;{back}"
        if analysis == "activity":
            names = MEASURE_NAMES
            last = (d.get("daily") or [{}])[-1]
            unended = (
                f" {last.get('date')} has not ended: partial."
                if last.get("complete") is False
                else ""
            )
            return (
                f"{names['dau']} {d['dau']:,}, {names['wau']} {d['wau']:,},"
                f" {names['mau']} {d['mau']:,}, stickiness {d['stickiness']}%.{unended}"
            )
        if analysis == "features":
            up = [f.get("feature", "") for f in d["features"] if f.get("trend") == "up"]
            down = [f.get("feature", "") for f in d["features"] if f.get("trend") == "down"]
            return (
                f"{len(d['features'])} features; up against the previous period:"
                f" {', '.join(up) or 'none'}; down: {', '.join(down) or 'none'}."
            )
        if analysis == "paths":
            converted = (d.get("conversions") or {}).get("paths") or []
            if not converted:
                return f"{style.counted(d['total_sequences'], 'sequence')}."
            top = converted[0]  # the most common path to the goal
            many = style.counted(d["total_sequences"], "sequence")
            return (
                f"{many} to {d['conversions']['goal']}; the most"
                f" common, {' → '.join(top['nodes'])}, converts {top['conversions']:,} of the"
                f" {style.counted(top['followed'], 'sequence')} that took its steps."
            )
        if analysis == "segments":
            if d["segments"] and "after" in d["segments"][0]:
                return (
                    "; ".join(
                        f"{s['name']} {s['after']:,} ({s['change']:+,}: {len(s['entered'])}"
                        f" entered, {len(s['left'])} left)"
                        for s in d["segments"]
                    )
                    + "."
                )
            return "; ".join(f"{s['name']} {s['count']:,}{_segment_figures(s)}"
                             for s in d["segments"]) + "."  # fmt: skip
        if analysis == "failures":
            t = d["totals"]
            return (
                f"{t['runs_failed']:,} of {t['runs']:,} runs and {t['tool_failures']:,} of"
                f" {t['tool_calls']:,} tool calls failed, for {t['users_with_failures']:,} users."
            )
        if analysis == "sessions":
            return (
                f"{d['sessions']:,} sessions, median {style.duration(d['median_seconds'])},"
                f" bounce rate {d['bounce_rate']}%."
            )
        if analysis == "trends":
            # each series' total, or the average of its points (daily uniques, percentiles)
            figures = [
                f"{x['event']}{_by(x)} {'' if 'total' in x else 'average '}{_rounded(n):,}"
                for x in d["series"]
                if isinstance(n := x.get("total", x.get("average")), int | float) and n == n
            ]
            return "; ".join(figures) + "." if figures else ""
        if analysis == "alerts":
            return f"{len(d['alerts']):,} alerts."
        if analysis in ("churn", "tools", "accounts"):
            return _report_numbers(analysis, d)
        if analysis == "metrics":
            return (
                "; ".join(f"{m['name']} {m['display']} ({m['change']})" for m in d["metrics"]) + "."
            )
    except (KeyError, TypeError, IndexError, ZeroDivisionError):
        return ""
    return ""


def _report_numbers(analysis: str, d: dict[str, Any]) -> str:
    """The headline of a churn (the engagement score card), tools or accounts panel."""
    if analysis == "churn":
        e, risk = d["engagement"], d["at_risk"]
        if not e["scored"]:
            return f"No user had an event in the last {d['window_days']} days: no one to score."
        since = f" ({e['change']:+} since the backtest)" if e.get("change") is not None else ""
        rate = d.get("churn_rate")
        churned = f" Churn rate {rate}% per {d['period']}." if rate is not None else ""
        return (
            f"Engagement score {e['average']} on average{since}, median {e['median']}, over"
            f" {e['scored']:,} active identified persons; {risk['persons']:,} at risk (under"
            f" {risk['below_score']:g}).{churned}"
        )
    if analysis == "tools":
        o = d.get("overview") or {}
        if not o.get("calls"):
            return "No tool calls in the period."
        text = f"{o['calls']:,} tool calls by {o['users']:,} users, {o['success_rate']}% succeeded"
        agents = d.get("agents") or []
        if agents:
            runs = ", ".join(f"{a['runs']:,} {a['status']}" for a in agents)
            text += f"; agent runs: {runs}"
        return text + "."
    t = d["summary"]
    return (
        f"{t['accounts']:,} accounts, {t['active_accounts']:,} active: {t['healthy']:,} healthy,"
        f" {t['at_risk']:,} at risk, {t['dormant']:,} dormant."
    )


def to_json(meta: dict[str, Any], panels: list[dict[str, Any]]) -> str:
    out = dict(meta)
    out["panels"] = [
        {**p, "summary": headline(p["analysis"], p["data"]), "chart_alt": _alt(p)} for p in panels
    ]
    return json.dumps(out, indent=2, ensure_ascii=False, default=str) + "\n"


def _alt(panel: dict[str, Any]) -> str | None:
    made = _chart(panel["analysis"], panel["data"], cleaned=False)
    return made[1] if made else None


def _chart(analysis: str, d: dict[str, Any], *, cleaned: bool = True) -> Chart | None:
    """The panel's chart; none for a list across users or of who is active, read row by row."""
    if "list" in d or _active(analysis, d) or _overview(analysis, d):
        return None
    return chart(analysis, d, cleaned=cleaned)


def _active(analysis: str, d: dict[str, Any]) -> bool:
    """An alerts panel of everyone active now (`active: true`), not of the alerts."""
    return analysis == "alerts" and "people" in d


def _overview(analysis: str, d: dict[str, Any]) -> bool:
    """A segments panel of the users at a glance (`overview: true`), not of the segments."""
    return analysis == "segments" and "new_users" in d


def _list_line(d: dict[str, Any]) -> str:
    """A list's headline: how many rows, and whether it was cut (usertrack.reports.user_lists)."""
    rows = d.get("rows") or []
    if not rows:
        return "None in the window."
    if d.get("more"):
        return f"The first {len(rows):,} rows: there are more."
    return f"{style.counted(len(rows), 'row')}."


def query_rows(analysis: str, d: dict[str, Any]) -> tuple[list[str], list[list[Any]]] | None:
    """A `query` panel's or a list's (`tools --by-user`, `failures --runs`, ...) columns and
    rows, to show as a table (a list is read row by row, and draws no chart); None for any other
    panel, or one without a row."""
    if not d.get("rows"):
        return None
    if analysis == "query":
        return [str(c) for c in d["columns"]], [list(r) for r in d["rows"]]
    if "list" in d:  # each row an object of the list's columns
        columns = [str(c) for c in d["rows"][0]]
        return columns, [[r.get(c) for c in columns] for r in d["rows"]]
    return None


def _table(analysis: str, d: dict[str, Any]) -> tuple[list[str], list[list[Any]]] | None:
    """query_rows, the people of an alerts panel of everyone active now, and the figures of
    the users at a glance."""
    if _overview(analysis, d):
        from usertrack.reports.user_lists import overview_lines

        return ["", "value"], [list(line) for line in overview_lines(d, d.get("new_days") or 7)]
    if _active(analysis, d) and d.get("people"):
        columns = [str(c) for c in d["people"][0]]
        return columns, [[p.get(c) for c in columns] for p in d["people"]]
    return query_rows(analysis, d)


def _html_table(columns: list[str], rows: list[list[Any]]) -> str:
    """Columns and rows as an HTML table, every header and cell escaped text."""
    from usertrack.rendering.export import cell_text

    e = html.escape
    head = "".join(f"<th>{e(style.human_header(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(cell_text(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f'<div class="chart"><table><tr>{head}</tr>{body}</table></div>'


def to_markdown(
    meta: dict[str, Any],
    panels: list[dict[str, Any]],
    stem: str,
    head: str | None = None,
    *,
    charts_as: str = "svg",
) -> tuple[str, dict[str, str]]:
    """The Markdown text and its SVG files {file name: svg}, referenced relatively. `head`: the
    text the panels follow (the weekly report's own), else a title line. `charts_as`
    "mermaid": the charts as mermaid blocks in the text, no file beside it."""
    lines = (
        [head.rstrip("\n") + "\n"]
        if head
        else [
            f"# {style.md_text(clean(meta['title']))}\n",
            f"{style.md_text(meta['period_text'])}\n",
        ]
    )
    sections, files = panel_sections(panels, stem, charts_as=charts_as, skip_metrics=bool(head))
    return "\n".join([*lines, sections] if sections else lines), files


def panel_sections(
    panels: list[dict[str, Any]], stem: str, *, charts_as: str = "svg", skip_metrics: bool = True
) -> tuple[str, dict[str, str]]:
    """The panels' sections in Markdown (a title, the note, the headline, the chart) and their
    SVG files: what follows a dashboard's head, and the weekly template's `panel_sections`.
    `skip_metrics`: the weekly report's own text is the metrics panel already."""
    files: dict[str, str] = {}
    specs: list[dict[str, Any]] = []
    lines: list[str] = []
    for i, p in enumerate(panels, 1):
        if skip_metrics and p["analysis"] == "metrics":
            continue
        lines.append(f"## {style.md_text(clean(p['title']))}\n")
        if p["note"]:
            lines.append(f"{style.md_text(clean(p['note']))}\n")
        data = clean(p["data"])  # once for the headline and the chart
        summary = headline(p["analysis"], data)
        if summary:
            lines.append(f"{style.md_text(summary)}\n")
        rows = _table(p["analysis"], data)
        if rows is not None:
            from usertrack.rendering.export import md_table

            headers = [style.human_header(c) for c in rows[0]]
            lines.append(md_table(headers, rows[1], rows[0]))
        if charts_as == "mermaid":
            rows_only = any(f(p["analysis"], data) for f in (_active, _overview))
            rows_only = rows_only or "list" in data  # a table, no chart
            for block, note in [] if rows_only else mermaid(p["analysis"], data):
                lines.append(f"```mermaid\n{block}\n```\n")
                lines.extend([f"{style.md_text(note)}\n"] if note else [])
            continue
        made = _chart(p["analysis"], data)
        if made:
            name = f"{stem}-{i:02d}-{p['analysis']}.svg"
            files[name] = ""  # drawn below, every chart in one bounded process
            specs.append(made[0])
            alt = made[1].replace("[", "(").replace("]", ")").replace("\n", " ")
            lines.append(f"![{style.md_text(alt)}]({name})\n")
    files = dict(zip(files, svgs(specs), strict=True))
    return "\n".join(lines), files


PAGE_STYLE = """
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1f24; --card: #f6f8fa; --line: #d0d7de; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --card: #161b22; --line: #30363d; }
}
body { background: var(--bg); color: var(--fg); font: 15px/1.5 system-ui, sans-serif;
  margin: 0 auto; max-width: 1100px; padding: 1.5rem; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 1rem 1.25rem; margin: 1rem 0; break-inside: avoid; }
h2 { margin: 0 0 .25rem; font-size: 1.15rem; }
.note, .period { opacity: .8; margin: .25rem 0; }
.summary { font-weight: 600; margin: .25rem 0 .75rem; }
.chart { overflow-x: auto; }
@media print { body { max-width: none; } section { border-color: #999; } }
"""


def _island(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    for raw, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def to_html(meta: dict[str, Any], panels: list[dict[str, Any]], cache: Path | None = None) -> str:
    e = html.escape
    body = [
        f"<h1>{e(clean(meta['title']))}</h1>",
        f'<p class="period">{e(meta["period_text"])}</p>',
    ]
    specs = []
    for i, p in enumerate(panels, 1):
        parts = [f'<section id="panel-{i}"><h2>{e(clean(p["title"]))}</h2>']
        if p["note"]:
            parts.append(f'<p class="note">{e(clean(p["note"]))}</p>')
        data = clean(p["data"])  # once for the headline and the chart
        summary = headline(p["analysis"], data)
        if summary:
            parts.append(f'<p class="summary">{e(summary)}</p>')
        rows = _table(p["analysis"], data)
        if rows is not None:
            parts.append(_html_table(*rows))
        made = _chart(p["analysis"], data)
        if made:
            parts.append(
                f'<div class="chart" id="chart-{i}" role="img" aria-label="{e(made[1])}"></div>'
            )
            spec = {k: v for k, v in made[0].items() if k != "$schema"}  # no address at all
            specs.append({"id": f"chart-{i}", "spec": spec})
        parts.append("</section>")
        body.append("".join(parts))
    sent = meta.get("queries")
    if sent is not None:
        from usertrack.engines.query_counts import text

        body.append(f'<p class="period">Computed with {e(text(sent))}.</p>')
    bundle = charts.bundle(cache)
    # The bundle is code of ours, not data: still, a `</script` in it would end the element.
    bundle = bundle.replace("</script", "<\\/script")
    draw = (
        "const charts = JSON.parse(document.getElementById('charts').textContent);\n"
        "for (const c of charts) {\n"
        "  vegaEmbed('#' + c.id, c.spec, {actions: false, renderer: 'svg'})\n"
        "    .catch(err => { console.error(err); });\n"
        "}\n"
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';'
        " script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:\">\n"
        f"<title>{e(clean(meta['title']))} {e(meta['period_label'])}</title>\n"
        f"<style>{PAGE_STYLE}</style></head><body>\n"
        + "\n".join(body)
        + f'\n<script type="application/json" id="charts">{_island(specs)}</script>\n'
        + f"<script>{bundle}</script>\n<script>{draw}</script>\n</body></html>\n"
    )


def _segment_figures(s: dict[str, Any]) -> str:
    """A segment's average engagement score and revenue, where its answer has them."""
    named = (("avg_engagement", "engagement score"), ("avg_revenue", "credits spent"))
    shown = [f"average {what} {s[key]}" for key, what in named if s.get(key) is not None]
    return f" ({', '.join(shown)})" if shown else ""
