"""Activity and feature usage as JSON, csv and Markdown (the terminal's rich rendering is in
usertrack.analytics.activity.view, which only the CLI imports)."""

from __future__ import annotations

from typing import Any

from usertrack.analytics.activity.run import WEEKDAYS, Activity
from usertrack.analytics.common import change, csv_rows, json_document, md_section
from usertrack.analytics.features.run import Features
from usertrack.analytics.rendered import duration
from usertrack.core import style
from usertrack.rendering.export import md_table


def activity_json(a: Activity) -> str:
    return json_document(a.document())


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


def activity_headline(a: Activity) -> str:
    d = a.today
    sticky = style.pct(a.stickiness) if a.stickiness is not None else "-"
    return (
        f"{style.day(d.date)}: DAU {style.count(d.dau)}, WAU {style.count(d.wau)},"
        f" MAU {style.count(d.mau)}, stickiness (DAU/MAU) {sticky}"
        + (", accounts counted (an account is active when any member is)" if a.by_account else "")
    )


def lifecycle_cells(a: Activity) -> list[list[Any]]:
    return [
        [style.day(p.start), style.count(p.new), style.count(p.returning),
         style.count(p.resurrecting), style.signed(p.dormant) if p.dormant else "0"]
        for p in a.lifecycle
    ]  # fmt: skip


LIFECYCLE_HEADERS = ["Week of", "New", "Returning", "Resurrecting", "Dormant"]


def _mermaid(a: Activity) -> str:
    # Dates and counts only: nothing from the data's text reaches the chart.
    labels = ", ".join(f'"{d.date:%m-%d}"' for d in a.days)
    top = max((d.mau for d in a.days), default=0)
    lines = [
        "```mermaid",
        "xychart-beta",
        '    title "DAU, WAU and MAU by day (UTC)"',
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
        [[style.day(d.date), style.count(d.dau), style.count(d.wau), style.count(d.mau),
          _count(d.sessions), _count(d.events)]
         for d in a.days],
    )  # fmt: skip
    tables = [
        "\n## Daily active users\n",
        _mermaid(a),
        daily,
        "\n## Lifecycle by week\n",
        "Dormant: active the week before, not this one (negative, as PostHog shows it).\n",
        md_table(LIFECYCLE_HEADERS, lifecycle_cells(a)),
        "\n## Active on exactly n days\n",
        md_table(["Days", a.unit], [[n, style.count(k)] for n, k in a.active_days if k]),
        "\n## Events by weekday and hour (UTC)\n",
        md_table(["Weekday", *(f"{h:02d}" for h in range(24))], _hour_rows(a)),
    ]
    return md_section("Activity", lines, tables)


FEATURE_FIELDS = (
    "feature", "uses", "persons", "adoption", "avg_time_spent", "previous_uses", "trend",
)  # fmt: skip


def features_json(f: Features) -> str:
    return json_document(f.document())


COMPARED_FIELDS = ("previous_persons", "previous_adoption")


def features_csv(f: Features) -> str:
    """A row per feature; by feature, its category last, then a row per unused feature of the
    tracking plan (0 uses, its previous uses)."""
    fields = FEATURE_FIELDS + (COMPARED_FIELDS if f.compared else ())
    fields += ("category",) if f.by == "feature" else ()
    rows = [[getattr(x, k) for k in fields] for x in f.features]
    for name, category, before in f.unused:
        unused = {"feature": name, "uses": 0, "persons": 0, "previous_uses": before,
                  "trend": "down" if before else "flat", "category": category}  # fmt: skip
        rows.append([unused.get(k, "") for k in fields])
    return csv_rows(fields, rows)


def unused_line(f: Features) -> str | None:
    """The tracking plan's features not used in the period, with their category."""
    if not f.unused:
        return None
    named = ", ".join(name + (f" ({category})" if category else "")
                      for name, category, _ in f.unused)  # fmt: skip
    return f"Not used in the period: {named}"


def compared_cells(x: Any) -> list[Any]:
    """--compare's cells: previous persons, previous adoption, the change of uses."""
    moved = change(x.uses, x.previous_uses)
    return [
        style.count(x.previous_persons),
        style.pct(x.previous_adoption) if x.previous_adoption is not None else "-",
        "-" if moved is None else f"{moved:+.1f}%",
    ]


COMPARED_HEADERS = ["Previous persons", "Previous adoption", "Change"]


def features_about(f: Features) -> str:
    what = "event" if f.by == "event" else "feature_used's feature"
    return (
        f"by {what}, {style.span(f.start, f.as_of)} ({f.days} days) against"
        f" the {f.days} days before; trend up or down at ±{f.threshold:g}%;"
        f" {style.count(f.active_persons)} active persons"
        + (
            f" ({style.count(f.previous_active_persons)} the period before)"
            if f.previous_active_persons is not None
            else ""
        )
    )


def feature_cells(x: Any, by: str = "event") -> list[Any]:
    return [
        x.feature if x.feature else "(none)",
        *([x.category or "-"] if by == "feature" else []),
        style.count(x.uses),
        style.count(x.persons),
        style.pct(x.adoption) if x.adoption is not None else "-",
        duration(x.avg_time_spent),
        style.count(x.previous_uses),
        x.trend,
    ]


def feature_headers(f: Features) -> list[str]:
    """The human headers; the first names what is counted (a feature, or an event with --event)."""
    category = ["Category"] if f.by == "feature" else []
    return [f.by.capitalize(), *category, "Uses", "Persons", "Adoption", "Avg time",
            "Previous uses", "Trend"]  # fmt: skip


def features_markdown(f: Features) -> str:
    lines = [style.md_text(f"Features as of {style.moment(f.as_of)}: {features_about(f)}.")]
    if not f.features:
        lines.append("No feature was used in either period.")
    headers = feature_headers(f) + (COMPARED_HEADERS if f.compared else [])
    rows = [feature_cells(x, f.by) + (compared_cells(x) if f.compared else []) for x in f.features]
    table = md_table(headers, rows)
    unused = unused_line(f)
    if unused:
        lines.append(style.md_text(unused + "."))
    return md_section("Features", lines, [table])
