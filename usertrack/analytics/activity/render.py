"""Activity as JSON, csv and Markdown (the terminal's rich rendering is in
usertrack.analytics.activity.view, which only the CLI imports)."""

from __future__ import annotations

from typing import Any

from usertrack.analytics.activity.run import WEEKDAYS, Activity
from usertrack.analytics.common import csv_rows, md_section
from usertrack.analytics.unfinished import MARK, ended, footnote
from usertrack.core import style
from usertrack.rendering.export import md_table


def activity_csv(a: Activity) -> str:
    """The daily series: one row per day (with --compare, a `period` column and the previous
    period's days after)."""
    head = ["date", "dau", "wau", "mau", "sessions", "events"]
    if a.previous is not None:
        return csv_rows(
            ["period", *head],
            [[period, style.day(d.date), d.dau, d.wau, d.mau, _n(d.sessions), _n(d.events)]
             for period, x in (("current", a), ("previous", a.previous)) for d in x.days],
        )  # fmt: skip
    return csv_rows(
        head,
        [[style.day(d.date), d.dau, d.wau, d.mau, _n(d.sessions), _n(d.events)] for d in a.days],
    )


def _n(value: int | None) -> Any:
    return "" if value is None else value


def _count(value: int | None) -> str:
    return "-" if value is None else style.count(value)


def activity_compared(a: Activity) -> str | None:
    """--compare's line: the previous period's last day and average DAU, and the changes."""
    if a.previous is None:
        return None
    p, moved = a.previous, a.changes()

    def ch(key: str) -> str:
        value = moved[key]
        return "-" if value is None else f"{value:+.1f}%"

    return (
        f"Against the {len(p.days)} days before (to {style.day(p.today.date)}):"
        f" DAU {style.count(p.today.dau)} ({ch('dau')}), WAU {style.count(p.today.wau)}"
        f" ({ch('wau')}), MAU {style.count(p.today.mau)} ({ch('mau')}), average DAU"
        f" {style.number(a.average_dau)} against {style.number(p.average_dau)}"
        f" ({ch('average_dau')})"
    )


def days_shown(a: Activity) -> str:
    """The daily series' range, as every analysis shows a range: 'days 2026-11-11 00:00 UTC to
    2026-11-25 00:00 UTC'."""
    span = a.span()
    return f"days {style.span(span['from'], span['to'])}"


# Each daily measure as the headline, the tables and a chart (its legend, tooltip, alt text)
# name it: DAU counts any event, as WAU and MAU do (the headline says so once).
MEASURE_NAMES = {"dau": "DAU (any event)", "wau": "WAU", "mau": "MAU"}


def day_labels(a: Activity) -> list[str]:
    """Each day of the series as a table shows it; a last day a mid-day as_of cuts marked
    (`days_footnote` says why)."""
    return [
        style.day(d.date) + ("" if whole else f" {MARK}")
        for d, whole in zip(a.days, a.days_complete(), strict=True)
    ]


def days_footnote(a: Activity) -> str:
    """The footnote of a daily series whose last day has not ended by as_of, or ''."""
    return "" if all(a.days_complete()) else footnote("day", a.as_of)


def activity_headline(a: Activity) -> str:
    d = a.today
    sticky = style.pct(a.stickiness)
    names = MEASURE_NAMES
    return (
        f"{day_labels(a)[-1]}: {names['dau']} {style.count(d.dau)}, {names['wau']}"
        f" {style.count(d.wau)}, {names['mau']} {style.count(d.mau)}"
        f" ({'accounts' if a.by_account else 'persons'} with any event),"
        f" stickiness (DAU/MAU) {sticky}"
        + (", accounts counted (an account is active when any member is)" if a.by_account else "")
    )


def lifecycle_cells(a: Activity) -> list[list[Any]]:
    """The lifecycle's rows; a week not ended by as_of marked (`lifecycle_footnote` says why)."""
    return [
        [style.day(p.start) + ("" if ended(p.start, "week", a.as_of) else f" {MARK}"),
         style.count(p.new), style.count(p.returning),
         style.count(p.resurrecting), style.signed(p.dormant) if p.dormant else "0"]
        for p in a.lifecycle
    ]  # fmt: skip


def lifecycle_footnote(a: Activity) -> str:
    """The footnote of a lifecycle whose last week has not ended, or ''."""
    unfinished = any(not ended(p.start, "week", a.as_of) for p in a.lifecycle)
    return footnote("week", a.as_of) if unfinished else ""


LIFECYCLE_HEADERS = ["Week of", "New", "Returning", "Resurrecting", "Dormant"]


def _mermaid(a: Activity) -> str:
    # Dates and counts only: nothing from the data's text reaches the chart.
    labels = ", ".join(
        f'"{d.date:%m-%d}{"" if whole else f" {MARK}"}"'
        for d, whole in zip(a.days, a.days_complete(), strict=True)
    )
    top = max((d.mau for d in a.days), default=0)
    lines = [
        "```mermaid",
        "xychart-beta",
        '    title "DAU, WAU and MAU (any event) by day (UTC)"',
        f"    x-axis [{labels}]",
        f'    y-axis "{a.unit}" 0 --> {max(top, 1)}',
        f"    line [{', '.join(str(d.dau) for d in a.days)}]",
        f"    line [{', '.join(str(d.wau) for d in a.days)}]",
        f"    line [{', '.join(str(d.mau) for d in a.days)}]",
        "```",
        "",
        "Lines, bottom to top: DAU, WAU, MAU.",
    ]
    return "\n".join(lines) + "\n"


def _hour_rows(a: Activity) -> list[list[Any]]:
    return [
        [WEEKDAYS[wd - 1], *(style.count(a.hours.get((wd, h), (0, 0))[0]) for h in range(24))]
        for wd in range(1, 8)
    ]


def activity_markdown(a: Activity) -> str:
    head = f"Activity as of {style.moment(a.as_of)}, {days_shown(a)}. {activity_headline(a)}."
    lines = [style.md_text(head)]
    compared = activity_compared(a)
    if compared:
        lines.append(style.md_text(compared + "."))
    daily = md_table(
        ["Date", "DAU", "WAU", "MAU", "Sessions", "Events"],
        [[day, style.count(d.dau), style.count(d.wau), style.count(d.mau),
          _count(d.sessions), _count(d.events)]
         for d, day in zip(a.days, day_labels(a), strict=True)],
    )  # fmt: skip
    tables = [
        "\n## Daily active users\n",
        _mermaid(a),
        daily,
        *([f"\n{style.md_text(days_footnote(a))}\n"] if days_footnote(a) else []),
        "\n## Lifecycle by week\n",
        "Dormant: active the week before, not this one (negative, as PostHog shows it).\n",
        md_table(LIFECYCLE_HEADERS, lifecycle_cells(a)),
        *([f"\n{style.md_text(lifecycle_footnote(a))}\n"] if lifecycle_footnote(a) else []),
        f"\n## Active on exactly n {a.stickiness_interval}s\n",
        md_table(
            [f"{a.stickiness_interval.title()}s", a.unit],
            [[n, style.count(k)] for n, k in a.active_days if k],
        ),
        "\n## Events by weekday and hour (UTC)\n",
        md_table(["Weekday", *(f"{h:02d}" for h in range(24))], _hour_rows(a)),
    ]
    return md_section("Activity", lines, tables)
