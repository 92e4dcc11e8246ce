"""Trends as JSON, csv and Markdown (the terminal's rich rendering is in
usertrack.analytics.trends.view, which only the CLI imports).

Event names and breakdown values come from whoever sends events: Markdown cells go through
`md_table`, csv cells through `csv_rows`, and the mermaid chart holds only dates and numbers (the
lines are named in an escaped list under it; its title's event names are mermaid entity codes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from usertrack.analytics.common import change, csv_rows, md_section
from usertrack.analytics.trends.maths import LOOKBACK, OTHER, Math, active_label, lookback
from usertrack.analytics.trends.run import Trends
from usertrack.analytics.unfinished import MARK, cut_footnote
from usertrack.core import style
from usertrack.rendering.export import md_table


def point_label(point: datetime, interval: str) -> str:
    if interval == "hour":
        return f"{point:%Y-%m-%d %H:00}"
    if interval == "month":
        return f"{point:%Y-%m}"
    return f"{point:%Y-%m-%d}"


def point_labels(t: Trends) -> list[str]:
    """Each point's label; a first period that begins before the range (a week or a month cut
    by --days or --since) is labelled from the range's start, not as the whole period."""
    labels = [point_label(p, t.interval) for p in t.points]
    start = t.span.start
    if labels and t.points[0] < start.replace(tzinfo=t.points[0].tzinfo):
        labels[0] = f"from {start:%Y-%m-%d}" if t.interval != "hour" else f"from {start:%H:%M}"
    complete = t.complete()
    if labels and not complete[-1]:  # a last period the range's end cuts: marked, footnoted
        labels[-1] = f"{labels[-1]} {MARK}"
    return labels


def points_footnote(t: Trends) -> str:
    """The footnote of a trend whose last point's period the range's end cuts, or ''."""
    return cut_footnote(t.interval, t.span) if t.points and not t.complete()[-1] else ""


def value_text(value: float) -> str:
    return style.number(value)


def counted(math: Math, interval: str) -> str:
    """What a math counts, in words."""
    said = {
        "total": "events",
        "dau": "unique persons",
        "weekly_active": "persons active in the 7 days to each point",
        "monthly_active": "persons active in the 30 days to each point",
    }.get(math.name, f"{math.name} of {math.property}")
    if math.name in LOOKBACK and not lookback(math, interval):
        said = "unique persons (the interval holds the window, as in PostHog)"
    return said


def about(t: Trends) -> str:
    """One line: what is counted, over what range, per what."""
    math = counted(t.math, t.interval)
    if t.maths or t.formula is not None:
        own = t.maths or (None,) * len(t.events)
        math = ", ".join(
            f"{chr(ord('A') + i)} = {event} ({counted(m or t.math, t.interval)})"
            for i, (event, m) in enumerate(zip(t.events, own, strict=True))
        )
        if t.formula is not None:
            math = f"the formula {t.formula} where {math},"
    elif t.math_label is not None:
        math = f"{t.math_label}: {math}"
    parts = [f"{math} per {t.interval} (UTC), {style.span(t.span.start, t.span.end)}"]
    if t.by is not None and t.histogram_bins is not None:
        parts.append(f"by {t.by} in {t.histogram_bins} equal buckets of its numbers")
    elif t.by is not None:
        parts.append(f"by {t.by} (top {t.top}, the rest as other)")
    if t.cumulative:
        parts.append("cumulative")
    if t.where:
        parts.append("where " + " and ".join(t.where))
    if t.previous is not None:
        span = t.previous.span
        parts.append(f"against {style.span(span.start, span.end)} (the period before)")
    return "; ".join(parts)


def trends_csv(t: Trends) -> str:
    """One row per series and point; `other` marks the breakdown's rest beyond the top values;
    with --compare, the previous period's rows follow (`period` previous)."""
    header = ["period", "point", "event", "breakdown", "other", "value"]
    periods = [("current", t)] + ([("previous", t.previous)] if t.previous else [])
    rows: list[list[Any]] = [
        [period, style.iso(p), s.event, "" if s.breakdown in (None, OTHER) else s.breakdown,
         s.breakdown == OTHER, v]
        for period, x in periods
        for s in x.series
        for p, v in zip(x.points, s.data, strict=True)
    ]  # fmt: skip
    return csv_rows(header, rows)


def change_text(t: Trends, s: Any) -> tuple[str, str]:
    """A series' previous total and its change, for humans ('-' from nothing)."""
    previous = t.previous_summed(s)
    moved = change(t.summed(s), previous)
    return value_text(previous), "-" if moved is None else f"{moved:+.1f}%"


def _compared(t: Trends, s: Any) -> str:
    if t.previous is None:
        return ""
    previous, moved = change_text(t, s)
    return f", previous period {previous} ({moved})"


def _mermaid(t: Trends) -> str:
    labels = ", ".join(f'"{label}"' for label in point_labels(t))
    top = max((max(s.data, default=0) for s in t.series), default=0)
    lines = [
        "```mermaid",
        "xychart-beta",
        f'    title "{_title(t)} per {t.interval} (UTC)"',  # an event name as entity codes
        f"    x-axis [{labels}]",
        f"    y-axis 0 --> {max(top, 1):g}",
        *(f"    line [{', '.join(f'{v:g}' for v in s.data)}]" for s in t.series),
        "```",
        "",
    ]
    return "\n".join(lines) + "\n"


def _title(t: Trends) -> str:
    """The chart's title: the math's name ('DAU ($pageview)', its events as mermaid entity codes),
    "formula" or "each series' math"."""
    from usertrack.analytics.paths.render import mermaid_text

    if t.formula is not None:
        return "formula"
    if t.maths:
        return "each series' math"
    if t.math_label is None:
        return t.math.name
    return active_label(t.math, [mermaid_text(event) for event in t.events]) or t.math.name


def trends_markdown(t: Trends) -> str:
    lines = [style.md_text(f"Trends as of {style.moment(t.as_of)}: {about(t)}.")]
    if not t.series:
        lines.append("No series.")
    legend = "\n".join(
        f"{i}. {style.md_text(s.label)}: {t.headline_of(s)} {value_text(t.summed(s))}"
        + _compared(t, s)
        for i, s in enumerate(t.series, 1)
    )
    headers = ["Point", *(s.label for s in t.series)]
    rows = [
        [label, *(value_text(s.data[i]) for s in t.series)]
        for i, label in enumerate(point_labels(t))
    ]
    tables = [_mermaid(t), "Lines, in order:\n", legend + "\n", md_table(headers, rows)]
    if points_footnote(t):
        tables.append(f"\n{style.md_text(points_footnote(t))}\n")
    return md_section("Trends", lines, tables)
