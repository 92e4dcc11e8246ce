"""Churn as JSON, csv and Markdown, and the cells the terminal view shares (usertrack.analytics.
churn.view draws them with rich; only the CLI imports that)."""

from __future__ import annotations

from typing import Any

from usertrack.analytics.churn.answer import HIGH_RISK_BELOW, SCORED, Churn
from usertrack.analytics.common import csv_rows, md_section
from usertrack.core import style
from usertrack.rendering.export import md_table

PERIOD_HEADERS = ["Period", "Active", "New", "Retained", "Resurrected", "Churned", "Churn rate"]
BAND_HEADERS = ["Score", "Persons now", "Scored then", "Went dormant", "Rate"]
USER_HEADERS = ["Email", "Score", "Change", "Days since active", "Churn probability"]
TRAIT_HEADERS = ["What", "At risk", "Others", "Difference"]


def churn_about(c: Churn) -> str:
    return f"by {c.period}, as of {style.moment(c.as_of)}; score window {c.window_days} days"


def period_cells(c: Churn) -> list[list[str]]:
    return [
        [
            style.day(p.start),
            style.count(p.active),
            style.count(p.new),
            style.count(p.retained),
            style.count(p.resurrected),
            style.count(p.churned),
            style.pct(p.churn_rate),
        ]
        for p in c.periods
    ]


def summary_lines(c: Churn) -> list[str]:
    life = c.lifetime
    lines = [
        f"Churn rate: {style.pct(c.churn_rate)} of the persons active in a {c.period} were not"
        f" active the {c.period} after (the {len(c.periods)} {c.period}s above).",
        f"Lifetime of those who left (no event in the last {c.window_days} days):"
        f" {style.count(life.left)} persons, average"
        f" {'-' if life.average_days is None else style.number(life.average_days)} days, median"
        f" {'-' if life.median_days is None else style.number(life.median_days)} days.",
    ]
    trend = ""
    if c.average_score is not None and c.previous_average_score is not None:
        change = round(c.average_score - c.previous_average_score, 1)
        trend = (
            f"; {style.signed(change)} since {style.day(c.backtest.moment)}"
            f" ({style.number(c.previous_average_score)})"
            if c.backtest
            else ""
        )
    parts = (
        "recency, frequency, breadth, run success"
        if c.app_database
        else ("recency, frequency, breadth (no app database: no run success)")
    )
    lines.append(
        f"Engagement score (0-100: {parts}) of the {style.count(c.scored)} {SCORED} (an email on"
        f" their events, an event in the last {c.window_days} days): average"
        f" {'-' if c.average_score is None else style.number(c.average_score)}, median"
        f" {'-' if c.median_score is None else style.number(c.median_score)}{trend}."
    )
    return lines


def backtest_lines(c: Churn) -> list[str]:
    b = c.backtest
    if b is None:
        return []
    if not b.scored:
        return [f"Backtest: no one was active in the {c.window_days} days before"
                f" {style.day(b.moment)}."]  # fmt: skip
    return [
        f"Backtest: scored as of {style.day(b.moment)} ({b.horizon_days} days ago),"
        f" {style.count(b.scored)} persons; {style.count(b.dormant)} went dormant since (base"
        f" rate {style.pct(b.base_rate)}). High risk (score under {HIGH_RISK_BELOW:g}):"
        f" {style.count(b.high_risk)}, of whom {style.count(b.high_risk_dormant)} went dormant:"
        f" precision {style.pct(b.precision)}, recall {style.pct(b.recall)}, lift"
        f" {'-' if b.lift is None else f'{b.lift:g}x'} over the base rate.",
        *_verdict(c),
    ]


def _verdict(c: Churn) -> list[str]:
    """Whether the high-risk group went dormant more often than the other scored persons
    (the two-proportion z-test of retention --compare, p < 0.05): told in words, so that no
    one acts on a score its own history does not bear out."""
    from usertrack.analytics.proportions import ALPHA, two_proportion_p

    b = c.backtest
    if b is None or not b.high_risk or b.high_risk >= b.scored:
        return []
    others, others_dormant = b.scored - b.high_risk, b.dormant - b.high_risk_dormant
    p = two_proportion_p(b.high_risk_dormant, b.high_risk, others_dormant, others)
    if p is None:
        return []
    more = b.high_risk_dormant / b.high_risk > others_dormant / others
    if more and p < ALPHA:
        return [f"The high-risk went dormant more often than the others (p = {p:.3g}):"
                " the score tells leavers apart here."]  # fmt: skip
    return [f"The high-risk went dormant no more often than the others beyond noise"
            f" (p = {p:.3g}): the score does not tell leavers apart here; read the at-risk"
            " list as a lead, not a forecast."]  # fmt: skip


def band_cells(c: Churn) -> list[list[str]]:
    rows = []
    tested = {b: (n, d) for b, n, d in c.backtest.bands} if c.backtest else {}
    for band, persons in c.distribution:
        n, d = tested.get(band, (None, None))
        rows.append(
            [
                band,
                style.count(persons),
                "-" if n is None else style.count(n),
                "-" if d is None else style.count(d),
                "-" if n is None else style.share(d, n),
            ]
        )
    return rows


def user_cells(c: Churn) -> list[list[str]]:
    return [
        [
            u["email"] or u["person_id"],
            style.number(u["score"]),
            "-" if u["score_change"] is None else style.signed(u["score_change"]),
            style.number(u["days_since_active"]),
            style.pct(u["churn_probability"]),
        ]
        for u in c.at_risk
    ]


def trait_cells(c: Churn) -> list[list[str]]:
    rows = []
    for t in c.characteristics:
        if t.unit == "%":
            shown = [style.pct(t.at_risk), style.pct(t.others)]
            diff = "-" if t.difference is None else f"{style.signed(t.difference)} pts"
        else:
            shown = ["-" if v is None else style.number(v) for v in (t.at_risk, t.others)]
            diff = "-" if t.difference is None else style.signed(t.difference)
        name = t.name if t.kind == "app" else f"did {t.name}"
        rows.append([name, *shown, diff])
    return rows


def at_risk_title(c: Churn) -> str:
    return (
        f"At risk: {style.count(c.at_risk_count)} persons score under {HIGH_RISK_BELOW:g}"
        f" (the {len(c.at_risk)} lowest; churn probability: their score band's rate in the"
        " backtest)"
    )


TRAITS_TITLE = "What sets the at-risk persons apart from the others (the score's window)"


def churn_csv(c: Churn) -> str:
    """Long form, one figure a row: section, item, measure, value."""
    rows: list[list[Any]] = []
    for p in c.periods:
        for key, value in p.document().items():
            if key != "start":
                rows.append(["period", style.day(p.start), key, value])
    rows.append(["churn", "all periods", "churn_rate", c.churn_rate])
    for key, value in c.lifetime.document().items():
        rows.append(["lifetime", "left", key, value])
    engagement = c.document()["engagement"]
    for key in ("scored", "average", "median", "previous_average", "change"):
        rows.append(["engagement", "score", key, engagement[key]])
    for band, persons in c.distribution:
        rows.append(["distribution", band, "persons", persons])
    if c.backtest is not None:
        doc = c.backtest.document()
        for key, value in doc.items():
            if key not in ("bands", "moment"):
                rows.append(["backtest", style.day(c.backtest.moment), key, value])
        for band in doc["bands"]:
            rows.append(["backtest band", band["band"], "went_dormant", band["went_dormant"]])
            rows.append(["backtest band", band["band"], "rate", band["rate"]])
    for u in c.at_risk:
        for key in ("score", "score_change", "days_since_active", "churn_probability"):
            rows.append(["at risk", u["email"] or u["person_id"], key, u[key]])
    for t in c.characteristics:
        rows.append([f"trait ({t.kind})", t.name, "at_risk", t.at_risk])
        rows.append([f"trait ({t.kind})", t.name, "others", t.others])
    return csv_rows(["section", "item", "measure", "value"], rows)


def churn_markdown(c: Churn) -> str:
    lines = [style.md_text(f"Churn {churn_about(c)}.")]
    lines += [style.md_text(line) for line in summary_lines(c)]
    lines += [style.md_text(line) for line in backtest_lines(c)]
    tables = [
        md_table(PERIOD_HEADERS, period_cells(c)),
        "## Engagement score\n",
        md_table(BAND_HEADERS, band_cells(c)),
        f"## {style.md_text(at_risk_title(c))}\n",
        md_table(USER_HEADERS, user_cells(c)),
    ]
    if c.characteristics:
        tables += [f"## {style.md_text(TRAITS_TITLE)}\n", md_table(TRAIT_HEADERS, trait_cells(c))]
    return md_section("Churn", lines, tables)
