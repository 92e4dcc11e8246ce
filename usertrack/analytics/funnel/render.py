"""Funnel results as JSON, csv and Markdown (the terminal's rich tables are in
usertrack.analytics.funnel.view, which only the CLI imports)."""

from __future__ import annotations

from typing import Any

from usertrack.analytics.common import csv_rows, md_section
from usertrack.analytics.funnel.correlation import Correlation, Row
from usertrack.analytics.funnel.run import Dropped, Funnel, Step
from usertrack.analytics.proportions import THIN_SAMPLE, rate_text
from usertrack.analytics.rendered import demoted
from usertrack.analytics.unfinished import MARK, cut_footnote, whole
from usertrack.core import style
from usertrack.rendering.export import md_table

STEP_FIELDS = (
    "event",
    "persons",
    "conversion_from_previous",
    "conversion_from_start",
    "drop_off",
    "average_seconds_to_convert",
    "median_seconds_to_convert",
)


def funnel_about(f: Funnel) -> str:
    counted = (
        ", accounts counted (an account converts when any member does)" if f.by_account else ""
    )
    return (
        f"{style.span(f.range.start, f.range.end)},"
        f" conversion window {style.duration(f.window.total_seconds())}{counted}"
    )


def steps_cells(steps: list[Step], thin: bool = True) -> list[list[Any]]:
    """Each step as human cells (step_cells), its conversions over the step before's persons
    and the first step's; `thin`: a thin one marked (a --by value's, a group's funnel), else
    every rate a bare percentage (the whole funnel's, as PostHog shows it)."""
    first = steps[0].persons if steps else 0
    return [
        step_cells(i, s, steps[i - 2].persons if i > 1 else first, first) if thin
        else step_cells(i, s, THIN_SAMPLE, THIN_SAMPLE)
        for i, s in enumerate(steps, 1)
    ]  # fmt: skip


def step_cells(i: int, s: Step, previous: int, first: int) -> list[Any]:
    """A step as human cells: number, event, persons, conversions, drop-off, times. A conversion
    over fewer than THIN_SAMPLE persons (`previous`, `first`: the step before's and the first
    step's) comes with its sample and 95% interval, `7.7% (2 of 26; 2.1-24.1%)`, as retention's."""
    return [
        i,
        s.shown,
        style.count(s.persons),
        rate_text(s.conversion_from_previous, s.persons, previous) if i > 1 else "",
        rate_text(s.conversion_from_start, s.persons, first)
        if i > 1
        else style.pct(s.conversion_from_start),
        style.count(s.drop_off) if i > 1 else "",
        style.duration(s.average_seconds_to_convert) if i > 1 else "",
        style.duration(s.median_seconds_to_convert) if i > 1 else "",
    ]


STEP_HEADERS = ["#", "Step", "Persons", "From previous", "From start", "Drop-off",
                "Average time", "Median time"]  # fmt: skip


def step_headers(f: Funnel) -> list[str]:
    """STEP_HEADERS, the count named for what it counts (Accounts with --by-account)."""
    return [f.unit.capitalize() if h == "Persons" else h for h in STEP_HEADERS]


COMPARE_HEADERS = ["#", "Step", "Persons", "Previous", "Change", "From start", "Previous",
                   "Change (points)"]  # fmt: skip


def compare_cells(f: Funnel) -> list[list[Any]]:
    """--compare: each step's persons and conversion from the start, now and before (each with
    its sample and interval over fewer than THIN_SAMPLE persons)."""
    assert f.previous is not None
    first, before_first = f.steps[0].persons, f.previous.steps[0].persons

    def rate(s: Step, i: int, whole: int) -> str:  # the first step's 100% is no sample
        return rate_text(s.conversion_from_start, s.persons, whole if i > 1 else THIN_SAMPLE)

    return [
        [i, now.shown, style.count(now.persons), style.count(before.persons),
         "-" if persons is None else f"{persons:+.1f}%", rate(now, i, first),
         rate(before, i, before_first), "-" if points is None else f"{points:+.1f}"]
        for i, (now, before, persons, points) in enumerate(f.compared(), 1)
    ]  # fmt: skip


def compare_about(f: Funnel) -> str:
    assert f.previous is not None
    span = f.previous.range
    return f"Against the period before, {style.span(span.start, span.end)}"


# --correlation (usertrack.analytics.funnel.correlation)

CORRELATION_HEADERS = ["Event", "Converted", "Dropped", "Odds ratio", "Likelihood", "Phi",
                       "Strength"]  # fmt: skip
CORRELATION_FIELDS = ["type", "name", "value", "correlation", "converted", "dropped",
                      "odds_ratio", "phi", "strength"]  # fmt: skip


def correlation_label(r: Row) -> str:
    """An event's name, or `property = value` (`(none)` for a person without it)."""
    if r.value is None:
        return r.name
    return f"{r.name} = {r.value if r.value else '(none)'}"


def likelihood(r: Row) -> str:
    """As PostHog words it: the odds ratio, or its inverse for a failure, 'x more/less likely'
    to convert."""
    if r.correlation == "success":
        return f"{r.odds_ratio:.1f}x more likely"
    return f"{1 / r.odds_ratio:.1f}x less likely" if r.odds_ratio else "-"


def ratio_text(value: float) -> str:
    """An odds ratio for humans: 2,473 / 2.49 / 0.017."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def correlation_cells(rows: list[Row]) -> list[list[Any]]:
    return [
        [correlation_label(r), style.count(r.converted), style.count(r.dropped),
         ratio_text(r.odds_ratio), likelihood(r), "-" if r.phi is None else f"{r.phi:+.2f}",
         r.strength]
        for r in rows
    ]  # fmt: skip


def correlation_sections(c: Correlation) -> list[tuple[str, list[str], list[Row]]]:
    """The tables of a correlation, titled, with their headers: events, then property values,
    each with the rows that go with converting, then those that go with dropping. Empty tables
    are left out."""
    out = []
    tables = [("Events", "Event", c.events),
              ("Person properties", "Property = value", c.property_rows)]  # fmt: skip
    for what, first, rows in tables:
        for kind, title in (("success", "converting"), ("failure", "dropping")):
            chosen = [r for r in rows if r.correlation == kind]
            if chosen:
                headers = [first, *CORRELATION_HEADERS[1:]]
                out.append((f"{what} that go with {title}", headers, chosen))
    return out


def correlation_about(c: Correlation) -> list[str]:
    """What a correlation stands on: its persons, its significance rule and what it left out."""
    lines = [
        f"Correlation: {style.count(c.converted)} persons converted and"
        f" {style.count(c.dropped)} dropped. An event counts for a person done after their"
        " step 1 and before their last step (dropped: within the window). Left out: the"
        " funnel's steps, and events and values with fewer persons behind them than min(25,"
        f" 2% of {style.count(c.converted + c.dropped)}) = {c.min_persons:g}. PostHog's odds"
        " ratio (+1 on each cell of the table)."
    ]
    if c.after_conversion:
        names = ", ".join(
            f"{name} ({style.count(after)} converted)" for name, after, _ in c.after_conversion
        )
        lines.append(
            f"Left out as outcomes of converting (no one did them before converting): {names}."
        )
    if not c.converted or not c.dropped:
        lines.append("No one converted or no one dropped: there is nothing to correlate.")
    elif c.skewed:
        lines.append(
            "Skewed: more than 10 times as many persons on one side as on the other;"
            " the odds ratios are less reliable."
        )
    elif not c.events and not c.property_rows:
        lines.append("No event or value had enough persons behind it.")
    return lines


def correlation_csv(c: Correlation) -> str:
    """One row per correlated event and property value: the --correlation answer in csv."""
    rows = [
        ["event" if r.value is None else "property", r.name, r.value, r.correlation,
         r.converted, r.dropped, r.odds_ratio, r.phi, r.strength]
        for r in [*c.events, *c.property_rows]
    ]  # fmt: skip
    return csv_rows(CORRELATION_FIELDS, rows)


def funnel_csv(f: Funnel) -> str:
    """One row per step (and per breakdown value and step with --by); with --compare, a
    `period` column and the previous period's steps after the current ones; a `name` column
    with a steps file's labels; with
    --correlation, the correlated events and property values instead of the steps."""
    if f.correlation is not None:
        return correlation_csv(f.correlation)
    fields = list(STEP_FIELDS)  # the steps' attributes; the header names the count's unit
    if any(s.name is not None for s in f.steps):  # a steps file's labels: beside the events
        fields.insert(1, "name")
    named = [f.unit if k == "persons" else k for k in fields]
    header = ["breakdown", "step", *named] if f.by is not None else ["step", *named]
    rows: list[list[Any]] = []
    if f.previous is not None and f.by is None:
        for period, x in (("current", f), ("previous", f.previous)):
            for i, s in enumerate(x.steps, 1):
                rows.append([period, i, *(getattr(s, k) for k in fields)])
        return csv_rows(["period", *header], rows)
    if f.by is None:
        for i, s in enumerate(f.steps, 1):
            rows.append([i, *(getattr(s, k) for k in fields)])
    else:
        for index, (_, steps) in enumerate(f.breakdown):
            shown = f.value_shown(index, "")  # several breakdowns: 'Chrome / Mac OS X'
            for i, s in enumerate(steps, 1):
                rows.append([shown, i, *(getattr(s, k) for k in fields)])
    return csv_rows(header, rows)


def time_to_convert_rows(f: Funnel) -> list[list[str]]:
    """The time-to-convert bins: from, to, persons, share of the converters."""
    t = f.time_to_convert
    assert t is not None
    total = sum(n for _, n in t.bins)
    return [
        [_clock(b), _clock(b + t.bin_width_seconds), style.count(n), style.share(n, total)]
        for b, n in t.bins
    ]


def _clock(seconds: int) -> str:
    """Whole seconds as h:mm:ss (a bin's edge: exact, where `duration` rounds)."""
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def time_to_convert_about(f: Funnel) -> str:
    t = f.time_to_convert
    assert t is not None
    return (
        f"Time to convert, step {t.from_step} to {f.steps[t.to_step - 1].shown}: average"
        f" {style.duration(t.average_seconds)}, bins of {style.duration(t.bin_width_seconds)}"
        " (PostHog's)."
    )


def trend_about(f: Funnel) -> str:
    """--trend's title: its interval, and its steps when not the first and the last."""
    first, last = f.trend_steps
    steps = "" if (first, last) == (1, len(f.steps)) else f", step {first} to step {last}"
    return f"Conversion by {f.trend_interval} of entry{steps}"


def trend_rows(f: Funnel) -> list[list[str]]:
    """--trend's periods; one the range cuts (a first week begun before it, a last one not
    ended) marked, `trend_footnote` saying why."""
    interval = f.trend_interval or "day"
    return [
        [p.start.isoformat() + ("" if whole(p.start, interval, f.range) else f" {MARK}"),
         style.count(p.entered), style.count(p.converted),
         style.pct(p.conversion_rate) if p.entered else "-"]
        for p in f.trend
    ]  # fmt: skip


def trend_footnote(f: Funnel) -> str:
    """The footnote of a trend with a period the range cuts, or ''."""
    interval = f.trend_interval or "day"
    if all(whole(p.start, interval, f.range) for p in f.trend):
        return ""
    return cut_footnote(interval, f.range)


TIME_HEADERS = ["From", "To", "Persons", "Share"]


def time_headers(f: Funnel) -> list[str]:
    return [f.unit.capitalize() if h == "Persons" else h for h in TIME_HEADERS]


TREND_HEADERS = ["Period", "Entered", "Converted", "Conversion"]


def funnel_markdown(f: Funnel) -> str:
    lines = [style.md_text(f"Funnel as of {style.moment(f.as_of)}: {funnel_about(f)}.")]
    tables = [md_table(step_headers(f), steps_cells(f.steps, f.group))]
    if not f.steps[0].persons:
        lines.append(style.md_text(f"No one did {f.steps[0].shown} in the range."))
    else:
        unreached = [s.shown for s in f.steps[1:] if not s.persons]
        if unreached:
            lines.append(style.md_text(f"No one reached: {', '.join(unreached)}."))
    if f.previous is not None:
        tables.append(f"\n## {style.md_text(compare_about(f))}\n")
        tables.append(md_table(COMPARE_HEADERS, compare_cells(f)))
    for index, (_, steps) in enumerate(f.breakdown):
        tables.append(f"\n## {style.md_text(f'{f.by} = {f.value_shown(index)}')}\n")
        tables.append(md_table(step_headers(f), steps_cells(steps)))
    if f.time_to_convert is not None:
        tables.append("\n## Time to convert\n")
        tables.append(style.md_text(time_to_convert_about(f)) + "\n\n")
        tables.append(md_table(time_headers(f), time_to_convert_rows(f)))
    if f.trend_interval is not None:
        tables.append(f"\n## {style.md_text(trend_about(f))}\n")
        tables.append(md_table(TREND_HEADERS, trend_rows(f)))
        if trend_footnote(f):
            tables.append(f"\n{style.md_text(trend_footnote(f))}\n")
    if f.correlation is not None:
        tables.append("\n## Correlation\n")
        tables.extend(style.md_text(line) + "\n" for line in correlation_about(f.correlation))
        for title, headers, rows in correlation_sections(f.correlation):
            tables.append(f"\n### {style.md_text(title)}\n")
            tables.append(md_table(headers, correlation_cells(rows)))
    return md_section("Funnel", lines, tables)


def dropped_csv(d: Dropped) -> str:
    """The droppers, one row each; with --paths, their paths (paths' csv: one row per path)."""
    if d.paths is not None:
        from usertrack.analytics.paths.render import paths_csv

        return paths_csv(d.paths)
    return csv_rows(
        ["email", "person_id", "reached_previous_at"],
        [[p["email"], p["person_id"], style.iso(p["reached_previous_at"])] for p in d.persons],
    )


def dropped_markdown(d: Dropped) -> str:
    lines = [
        style.md_text(
            f"{style.count(len(d.persons))} people reached {d.shown(previous=True)} and not"
            f" {d.shown()} (step {d.step}), {style.span(d.range.start, d.range.end)}, window"
            f" {style.duration(d.window.total_seconds())}."
        )
    ]
    rows = [
        [p["email"] or "", p["person_id"], style.moment(p["reached_previous_at"])]
        for p in d.persons
    ]
    tables = [md_table(["Email", "Person", f"Reached {d.shown(previous=True)}"], rows)]
    if d.paths is not None:
        from usertrack.analytics.paths.render import paths_markdown

        tables.append(f"\n## What they did after {style.md_text(d.shown(previous=True))}\n")
        tables.append(demoted(paths_markdown(d.paths)))
    return md_section(f"Dropped before {d.shown()}", lines, tables)
