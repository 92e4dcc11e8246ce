"""Options shared by several commands, declared once (the MCP server's tools are generated from the
same Click parameters, so the CLI and the tools cannot drift)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

# `--days` beyond ten years is a typo, not a question (and overflows interval arithmetic).
MAX_DAYS = 3660

# Value names in help: one style, upper case, saying what the value is (N, NUMBER, PATH for the
# types; these for text). Never TEXT: tests/cli/test_first_hour.py reads every command's help.
MOMENT = "MOMENT"  # DATE (00:00 UTC) or DATETIME (UTC)
DURATION = "DURATION"  # 14d, 1h, 30m, 2w, 1mo
FORMAT = "FORMAT"  # table, json, csv, md, html
EVENT = "EVENT"  # an event name
PROPERTY = "PROP"  # an event or person property
EXPRESSION = "EXPR"  # a HogQL expression


def window_option(what: str, examples: str = "14d, 1h, 30m, 2w, 1mo (31 days)") -> Any:
    """`--window`/`-w`, one meaning for every command: a DURATION (a number and a unit; a bare
    number is refused, the unit is never guessed). `what` says what the window is for;
    `examples` offers only values the command takes."""
    return typer.Option(
        "--window",
        "-w",
        help=f"{what} A DURATION: {examples}.",
        metavar=DURATION,
    )


FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="table (terminal), json, csv or md. Default: table, or the --out file's extension.",
        metavar=FORMAT,
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Write to this file (atomically; folders are created) instead of stdout; - is stdout.",
    ),
]
ChartFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="table (terminal), json, csv or md; or its chart: html (one page that draws offline),"
        " svg or png (with --out). Default: table, or the --out file's extension.",
        metavar=FORMAT,
    ),
]
UserFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="table (terminal), json or md. Default: table, or the --out file's extension.",
        metavar=FORMAT,
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Look from this moment: DATE (00:00 UTC) or DATETIME (UTC)."
        " Default: now (on the demo: the end of its data).",
        metavar=MOMENT,
    ),
]
SegmentsOpt = Annotated[
    Path | None,
    typer.Option(
        "--segments", help="Segment rules file. Default: ./segments.yaml, else the shipped one."
    ),
]
SegmentTypeOpt = Annotated[
    str | None,
    typer.Option(
        "--type",
        help="Only the segments of this type (their `type:` in the rules file): lifecycle,"
        " engagement, risk or value; a user's primary segment is then the first of them.",
        metavar="TYPE",
    ),
]
RefreshOpt = Annotated[
    bool,
    typer.Option("--refresh", help="Ask the live sources again instead of using cached results."),
]
QueriesOpt = Annotated[
    Path | None,
    typer.Option(
        "--queries", help="Query library folder. Default: ./queries, else the shipped one."
    ),
]
WhoOpt = Annotated[
    str | None,
    typer.Option(
        "--who",
        help="Only the people for whom this expression over their profile holds, in the rules"
        ' language of segments.yaml: "subscription_status = \'trialing\'", "credits < 50" (the'
        " columns of `segments -f json`). Needs the app database.",
        metavar="EXPR",
    ),
]
OneSegmentOpt = Annotated[
    str | None,
    typer.Option(
        "--segment",
        help="Only the people of this segment of the segments file (as of --as-of), or 'no"
        " segment' / 'no account'. Needs the app database.",
        metavar="ID",
    ),
]
AccountSegmentOpt = Annotated[
    str | None,
    typer.Option(
        "--segment",
        help="Only the accounts with at least one member in this segment of the segments file"
        " (as of --as-of; a member in several accounts counts in the first by key, as"
        " --by-account), or 'no segment'.",
        metavar="ID",
    ),
]
SaveSegmentsOpt = Annotated[
    bool | None,
    typer.Option(
        "--save/--no-save",
        help="With --by-segment or --segment: save the segments they classify to the history,"
        " as `segments` does, so the next run of that moment reads them. Default: save, unless"
        " --segments names another file than the default rules.",
    ),
]


def persons_option(cells: str) -> Any:
    """`--persons CELL`, one meaning for every analysis: the people of one cell of its answer.
    `cells` names this command's cells, with an example of each."""
    return typer.Option(
        "--persons",
        help=f"List the people of one cell of the answer, with their email and profile: {cells}."
        " A cell not in the answer lists those that are.",
        metavar="CELL",
    )


# Each analysis's cells, as its `--persons` help names them (usertrack.analytics.actors.run)
FunnelPersonsOpt = Annotated[
    str | None,
    persons_option("a step's people who reached it, STEP (2), or who dropped after it (2:dropped)"),
]
RetentionPersonsOpt = Annotated[
    str | None,
    persons_option(
        "a cohort's people, COHORT (2026-11-09), or those back in its Nth period after,"
        " COHORT:PERIOD_N (2026-11-09:week2; day3, month1 or hour3 by --period; an hour's"
        " COHORT is 2026-11-09T14:00)"
    ),
]
TrendsPersonsOpt = Annotated[
    str | None,
    persons_option("a point's people, POINT (2026-11-20), or of one event, POINT:EVENT"),
]
ActivityPersonsOpt = Annotated[
    str | None,
    persons_option(
        "a lifecycle status of the last week, STATUS (dormant), or of a week, WEEK:STATUS"
        " (2026-11-16:new); STATUS is new, returning, resurrecting or dormant"
    ),
]
PathsPersonsOpt = Annotated[
    str | None,
    persons_option("the people who went along one edge, FROM:TO (/pricing:/signup)"),
]
SessionsPersonsOpt = Annotated[
    str | None,
    persons_option(
        "everyone with a session, users; those with a session of a length, BUCKET (2m-5m);"
        " or of a row of a list, LIST:VALUE (entry_page:/pricing, exit_page, device_type,"
        " browser, country)"
    ),
]
FeaturesPersonsOpt = Annotated[
    str | None,
    persons_option("those who used a feature in the period, FEATURE (agent_builder)"),
]
ChurnPersonsOpt = Annotated[
    str | None,
    persons_option(
        "the at-risk users, at-risk; those scored in a band, BAND (0-19); or those who left, left"
    ),
]
ByAccountOpt = Annotated[
    bool,
    typer.Option(
        "--by-account",
        help="Count accounts instead of persons: an account reaches a funnel step, is active or"
        " returns when any member does. Needs the app database and its account key"
        " (docs/connecting.md).",
    ),
]
BreakdownAttributionOpt = Annotated[
    str | None,
    typer.Option(
        "--breakdown-attribution",
        help="With --by: which value a person counts under (PostHog's breakdown attribution):"
        " first_touch (default: their first step event's), last_touch, all_events (each value"
        " of their step events, a funnel each) or step (--breakdown-attribution-step's event).",
        metavar="ATTRIBUTION",
    ),
]
BreakdownAttributionStepOpt = Annotated[
    int | None,
    typer.Option(
        "--breakdown-attribution-step",
        help="With --breakdown-attribution step: the step (a number from 1) whose event's value"
        " counts.",
    ),
]
ByPersonOpt = Annotated[
    str | None,
    typer.Option(
        "--by",
        help="Also the answer for the persons of each value of this person property:"
        " person.properties.NAME (as their latest event carries it); --breakdown-limit values,"
        " the rest as (other).",
        metavar=PROPERTY,
    ),
]
BreakdownLimitOpt = Annotated[
    int | None,
    typer.Option(
        "--breakdown-limit",
        min=1,
        max=100,
        help="With --by: keep this many values, the rest as one group (other). The default is"
        " PostHog's 25; retention and trends keep 10, so that their curves and series still read"
        " side by side (at most 100).",
        metavar="N",
        show_default=False,
    ),
]
# PostHog's default is BREAKDOWN_VALUES_LIMIT (posthog/hogql/constants.py,
# `get_breakdown_limit_for_context`, which RetentionQueryRunner and the trends query builder use);
# usertrack keeps fewer for retention and trends (analytics/answers.py, _breakdown_limit), where
# `--top` is its old name.
OldTopOpt = Annotated[
    int | None,
    typer.Option("--top", hidden=True, help="--breakdown-limit's old name."),
]

HistogramBinsOpt = Annotated[
    int | None,
    typer.Option(
        "--histogram-bins",
        help="With --by PROP: its numbers in this many equal buckets (1-100) from the smallest"
        " to the largest, each a series labelled [from,to] (PostHog's"
        " breakdown_histogram_bin_count); an event without a number is (none).",
        metavar="N",
        show_default=False,
    ),
]


# The funnel's time to convert and trend, and the steps both measure between (PostHog's
# funnelsFilter: binCount, funnelFromStep, funnelToStep).
TimeToConvertOpt = Annotated[
    bool,
    typer.Option(
        "--time-to-convert",
        help="Also how long converters took from step 1 to the last step (or --from-step"
        " to --to-step), in PostHog's bins.",
    ),
]
BinsOpt = Annotated[
    int | None,
    typer.Option(
        "--bins",
        help="With --time-to-convert: this many bins (1-90, PostHog's binCount) instead of"
        " PostHog's automatic count.",
        show_default=False,
    ),
]
FunnelTrendOpt = Annotated[
    str | None,
    typer.Option(
        "--trend",
        help="Also the conversion of the people who entered in each day, week or month.",
        metavar="PERIOD",
    ),
]
FromStepOpt = Annotated[
    int | None,
    typer.Option(
        "--from-step",
        help="With --time-to-convert or --trend: measure from this step (a number; default"
        " 1): PostHog's funnelFromStep.",
        show_default=False,
    ),
]
ToStepOpt = Annotated[
    int | None,
    typer.Option(
        "--to-step",
        help="With --time-to-convert or --trend: measure to this step (a number; default"
        " the last): PostHog's funnelToStep.",
        show_default=False,
    ),
]
WeekStartOpt = Annotated[
    str,
    typer.Option(
        "--week-start",
        help="The day weeks start on: monday (ISO weeks) or sunday (what a PostHog project whose"
        " week start was never set uses).",
        metavar="DAY",
    ),
]
