"""The product analytics commands: funnel, retention, activity, features, trends, sessions, paths.
Each parses its options and calls `usertrack.analytics`; the definitions are in docs/metrics.md."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from usertrack.cli.context import events_workspace
from usertrack.cli.options import (
    EVENT,
    EXPRESSION,
    MAX_DAYS,
    MOMENT,
    PROPERTY,
    ActivityPersonsOpt,
    AsOfOpt,
    BinsOpt,
    BreakdownAttributionOpt,
    BreakdownAttributionStepOpt,
    BreakdownLimitOpt,
    ByAccountOpt,
    ByPersonOpt,
    ChartFormatOpt,
    ChurnPersonsOpt,
    FeaturesPersonsOpt,
    FromStepOpt,
    FunnelPersonsOpt,
    FunnelTrendOpt,
    HistogramBinsOpt,
    OldTopOpt,
    OneSegmentOpt,
    OutOpt,
    PathsPersonsOpt,
    QueriesOpt,
    RefreshOpt,
    RetentionPersonsOpt,
    SaveSegmentsOpt,
    SegmentsOpt,
    SessionsPersonsOpt,
    TimeToConvertOpt,
    ToStepOpt,
    TrendsPersonsOpt,
    WeekStartOpt,
    WhoOpt,
    window_option,
)
from usertrack.cli.output import (
    CHARTS,
    answer_console,
    chart_format,
    choose_format,
    emit,
    probe_out,
    said,
    warn,
    write_chart,
)
from usertrack.cli.program import app, handle_errors
from usertrack.core.errors import UsageError

# Product analytics (funnel, retention, ...): the options every analysis shares. Funnel,
# retention, activity, features, trends, sessions, paths and churn hand their options to `_answer`:
# checked and computed by usertrack.analytics.answers (as a dashboard's panel is), on the
# events workspace.

SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Start of the range: DATE (00:00 UTC) or DATETIME. Instead of --days.",
        metavar=MOMENT,
    ),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="End of the range: DATE (its whole day) or DATETIME. Default: --as-of.",
        metavar=MOMENT,
    ),
]
RangeDaysOpt = Annotated[
    int | None,
    typer.Option(
        "--days",
        "-d",
        min=1,
        max=MAX_DAYS,
        help="The range is this many days up to --until (default 30 days).",
    ),
]


PeriodOpt = Annotated[
    str,
    typer.Option("--period", help="day (UTC), week (ISO, Monday) or month.", metavar="PERIOD"),
]
RetentionPeriodOpt = Annotated[
    str,
    typer.Option(
        "--period", help="hour (UTC), day (UTC), week (ISO, Monday) or month.", metavar="PERIOD"
    ),
]
CompareOpt = Annotated[
    bool,
    typer.Option("--compare", help="Also the previous period of the same length, and the change."),
]
BySegmentOpt = Annotated[
    bool,
    typer.Option(
        "--by-segment",
        help="Also the answer per primary segment (as of --as-of), 'no segment' and 'no"
        " account'. Needs the app database.",
    ),
]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        help='Only events where this HogQL expression holds, e.g. "properties.$browser ='
        " 'Chrome'\" (event, timestamp, properties.X, person.properties.X). Repeatable: ANDed.",
        metavar=EXPRESSION,
    ),
]


def _answer(name: str, options: dict[str, Any]) -> None:
    """Run the analysis `name` (usertrack.analytics.answers) with the command's options and
    write its answer: checked first, then computed on the events workspace, then rendered."""
    from usertrack.analytics.answers import PREPARE

    out = options["out"]
    chosen = chart_format(options["fmt"], out)
    if chosen in CHARTS and options.get("dropped") is not None:
        raise UsageError("--dropped lists persons: it has no chart (use json, csv or md)")
    if chosen in CHARTS and options.get("persons") is not None:
        raise UsageError("--persons lists persons: it has no chart (use json, csv or md)")
    run = PREPARE[name](options, warn)
    probe_out(out)
    with events_workspace(
        options["as_of"],
        queries_dir=options["queries_dir"],
        segments_file=options["segments_file"],
        refresh=options["refresh"],
    ) as (ws, moment, progress):
        answer = run(ws, moment, progress)
    for note in answer.notes:
        warn(note)
    said(answer.said)  # the persons --where, --who, --segment, --exclude kept
    if chosen == "table":
        answer.draw(answer_console())
    elif chosen in CHARTS:
        write_chart(name, answer.document(), chosen, out)
    else:
        emit(answer.text(chosen), out)


@app.command()
def funnel(
    steps: Annotated[
        list[str] | None,
        typer.Argument(
            help="Event names in order; EVENT:PROPERTY=VALUE keeps a step to the events with that"
            " value ('$pageview:$pathname=/pricing'); first:EVENT to a person's first EVENT ever"
            " (first-matching:EVENT:PROPERTY=VALUE: their first with that value). Default: the"
            " activation funnel"
            " (user_signed_up, onboarding_started, workspace_created, first_item_created,"
            " onboarding_completed).",
            show_default=False,
        ),
    ] = None,
    steps_file: Annotated[
        str | None,
        typer.Option(
            "--steps-file",
            help="Read the steps from a YAML list instead: each an event name, EVENT:PROP=VALUE"
            " or {event: EVENT, where: {PROP: VALUE}, name: LABEL, math: first_time_for_user}.",
            metavar="FILE",
        ),
    ] = None,
    step_name: Annotated[
        list[str] | None,
        typer.Option(
            "--step-name",
            help="Show step N as LABEL instead of its event (JSON keeps the event beside it), as"
            " a steps file's name: does. Repeatable.",
            metavar="N=LABEL",
        ),
    ] = None,
    window: Annotated[str, window_option("Conversion window from step 1.")] = "14d",
    days: RangeDaysOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            help="Break down by this event property, person.properties.X or distinct_id;"
            " repeatable (up to 3): a value is then their tuple.",
            metavar=PROPERTY,
        ),
    ] = None,
    breakdown_attribution: BreakdownAttributionOpt = None,
    breakdown_attribution_step: BreakdownAttributionStepOpt = None,
    breakdown_limit: BreakdownLimitOpt = None,
    dropped: Annotated[
        str | None,
        typer.Option(
            "--dropped",
            help="List who dropped at this step (event name or number): reached the one before,"
            " never this one.",
            metavar="STEP",
        ),
    ] = None,
    paths: Annotated[
        bool,
        typer.Option(
            "--paths",
            help="With --dropped: also what those people did from the last step they reached"
            " (their paths, as `paths --from` that step).",
        ),
    ] = False,
    where: WhereOpt = None,
    order: Annotated[
        str,
        typer.Option(
            "--order",
            help="ordered (other events may come between the steps), strict (none may) or any"
            " (the steps in any order): PostHog's funnel order types.",
            metavar="ORDER",
        ),
    ] = "ordered",
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            help="Leave out the people who did EVENT between two steps (EVENT:FROM-TO, step"
            " numbers; default between the first and the last); EVENT:PROP=VALUE only the"
            " events with that value: PostHog's exclusion steps. Repeatable.",
            metavar="EVENT[:PROP=VALUE][:FROM-TO]",
        ),
    ] = None,
    time_to_convert: TimeToConvertOpt = False,
    bins: BinsOpt = None,
    trend: FunnelTrendOpt = None,
    from_step: FromStepOpt = None,
    to_step: ToStepOpt = None,
    persons: FunnelPersonsOpt = None,
    who: WhoOpt = None,
    compare: CompareOpt = False,
    segment: OneSegmentOpt = None,
    by_segment: BySegmentOpt = False,
    by_account: ByAccountOpt = False,
    save: SaveSegmentsOpt = None,
    correlation: Annotated[
        bool,
        typer.Option(
            "--correlation",
            help="Also the events that go with converting or dropping (PostHog's odds ratio).",
        ),
    ] = False,
    correlation_properties: Annotated[
        list[str] | None,
        typer.Option(
            "--correlation-properties",
            help="... and the values of these person properties (implies --correlation).",
            metavar=f"{PROPERTY}[,{PROPERTY}]",
        ),
    ] = None,
    fmt: ChartFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Ordered funnel: persons per step, conversion, drop-off and time to convert (PostHog's)."""
    options = dict(locals())  # every option by its parameter name, before anything else
    with handle_errors():
        _answer("funnel", options)


@app.command()
def retention(
    period: RetentionPeriodOpt = "week",
    periods: Annotated[
        int | None,
        typer.Option(
            "--periods", help="Cohorts: this many periods up to --until's or --as-of's (8)."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="The first cohort is the period holding this DATE or DATETIME. Instead of"
            " --periods.",
            metavar=MOMENT,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="The last cohort is the period holding this DATE or DATETIME.",
            metavar=MOMENT,
        ),
    ] = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Also the cohorts of as many periods just before, and the change of the"
            " average curve per period, judged against chance.",
        ),
    ] = False,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Also an average curve per value of this event property of the start event"
            " (first touch), or person property: person.properties.NAME. The"
            " --breakdown-limit values, the rest as (other).",
            metavar=PROPERTY,
        ),
    ] = None,
    breakdown_limit: BreakdownLimitOpt = None,
    top: OldTopOpt = None,
    start: Annotated[
        str,
        typer.Option(
            "--start",
            help="The event that puts a person in a cohort; any: any event (PostHog's All events);"
            " EVENT:PROPERTY=VALUE: only those events with that property.",
            metavar=EVENT,
        ),
    ] = "user_signed_up",
    return_event: Annotated[
        str | None,
        typer.Option(
            "--return",
            help="The event that counts as coming back (EVENT:PROPERTY=VALUE: only those with"
            " that property). Default: any.",
            metavar=EVENT,
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="first-time (cohort of the first start event ever) or recurring (every period"
            " with one).",
            metavar="MODE",
        ),
    ] = "first-time",
    cumulative: Annotated[
        bool,
        typer.Option(
            "--cumulative",
            help="Rolling retention (PostHog's cumulative): a person counts in every period up"
            " to the last they came back in.",
        ),
    ] = False,
    min_occurrences: Annotated[
        int,
        typer.Option(
            "--min-occurrences",
            min=1,
            help="A period counts as a return only with at least this many return events"
            " (PostHog's minimum occurrences).",
            metavar="N",
        ),
    ] = 1,
    week_start: WeekStartOpt = "monday",
    where: WhereOpt = None,
    persons: RetentionPersonsOpt = None,
    who: WhoOpt = None,
    segment: OneSegmentOpt = None,
    by_segment: BySegmentOpt = False,
    by_account: ByAccountOpt = False,
    save: SaveSegmentsOpt = None,
    fmt: ChartFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Cohort retention: of those who started in a period, how many came back in each after."""
    options = dict(locals())  # every option by its parameter name, before anything else
    with handle_errors():
        _answer("retention", options)


@app.command()
def activity(
    days: Annotated[
        int,
        typer.Option(
            "--days",
            "-d",
            min=1,
            max=MAX_DAYS,
            help="The daily series, stickiness and heatmap cover this many UTC days up to --as-of.",
        ),
    ] = 30,
    periods: Annotated[
        int,
        typer.Option("--periods", help="Lifecycle: this many weeks up to --as-of's."),
    ] = 8,
    week_start: WeekStartOpt = "monday",
    stickiness_interval: Annotated[
        str,
        typer.Option(
            "--stickiness-interval",
            help="Stickiness counts the persons active in exactly n of the range's days, weeks"
            " or months (PostHog's stickiness interval).",
            metavar="INTERVAL",
        ),
    ] = "day",
    where: WhereOpt = None,
    persons: ActivityPersonsOpt = None,
    who: WhoOpt = None,
    compare: Annotated[
        bool,
        typer.Option("--compare", help="Also the --days days before, and the change."),
    ] = False,
    segment: OneSegmentOpt = None,
    by_segment: BySegmentOpt = False,
    by_account: ByAccountOpt = False,
    save: SaveSegmentsOpt = None,
    by: ByPersonOpt = None,
    breakdown_limit: BreakdownLimitOpt = None,
    fmt: ChartFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Active users: DAU, WAU, MAU, stickiness, weekly lifecycle and when people are active."""
    options = dict(locals())  # every option by its parameter name, before anything else
    with handle_errors():
        _answer("activity", options)


@app.command()
def features(
    days: Annotated[
        int,
        typer.Option(
            "--days",
            "-d",
            min=1,
            max=MAX_DAYS,
            help="The period: this many days up to --as-of, compared with as many before.",
        ),
    ] = 30,
    event: Annotated[
        bool,
        typer.Option("--event", help="Count event names instead of feature_used's feature."),
    ] = False,
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold", help="Trend: up or down at this percent change of uses, else flat."
        ),
    ] = 10.0,
    where: WhereOpt = None,
    who: WhoOpt = None,
    by: ByPersonOpt = None,
    breakdown_limit: BreakdownLimitOpt = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare", help="Also the previous period's persons and adoption, and the change."
        ),
    ] = False,
    all_users: Annotated[
        bool,
        typer.Option(
            "--all-users",
            help="Adoption over every person seen up to --as-of, not only the period's active"
            " ones; and each unused feature's last use.",
        ),
    ] = False,
    persons: FeaturesPersonsOpt = None,
    segment: OneSegmentOpt = None,
    by_segment: BySegmentOpt = False,
    save: SaveSegmentsOpt = None,
    fmt: ChartFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Feature usage: uses, persons, adoption and trend against the period before."""
    options = dict(locals())  # every option by its parameter name, before anything else
    with handle_errors():
        _answer("features", options)


@app.command()
def trends(
    events: Annotated[
        list[str],
        typer.Argument(
            help="Event names, side by side (up to 10); EVENT@MATH counts that one with its own"
            " math (pageview@dau, purchase@sum:price) instead of --math's.",
            show_default=False,
        ),
    ],
    interval: Annotated[
        str,
        typer.Option(
            "--interval",
            "-i",
            help="hour, day, week (from Monday, or --week-start's day) or month; UTC.",
            metavar="PERIOD",
        ),
    ] = "day",
    week_start: WeekStartOpt = "monday",
    math: Annotated[
        str,
        typer.Option(
            "--math",
            "-m",
            help="total (events), dau (unique persons), weekly_active, monthly_active (the 7/30"
            " days to each point; unique persons when the interval is as long), unique_session,"
            " a person's events per point as avg|min|max|median|p75|p90|p95|p99_count_per_actor,"
            " or sum, avg, min, max, median, p90 with :PROPERTY.",
            metavar="MATH",
        ),
    ] = "total",
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            help="Break down by event property or person.properties.NAME: the"
            " --breakdown-limit values and other.",
            metavar=PROPERTY,
        ),
    ] = None,
    breakdown_limit: BreakdownLimitOpt = None,
    top: OldTopOpt = None,
    histogram_bins: HistogramBinsOpt = None,
    cumulative: Annotated[
        bool,
        typer.Option(
            "--cumulative", help="Running totals (dau: each person once, when first seen)."
        ),
    ] = False,
    formula: Annotated[
        str | None,
        typer.Option(
            "--formula",
            help="Show this formula over the events' series instead of them, as PostHog's: A is"
            " the first EVENT, B the second...; + - * /, parentheses, numbers ('A/B*100');"
            " a division by zero gives 0.",
            metavar="FORMULA",
        ),
    ] = None,
    where: WhereOpt = None,
    persons: TrendsPersonsOpt = None,
    who: WhoOpt = None,
    compare: CompareOpt = False,
    segment: OneSegmentOpt = None,
    by_segment: BySegmentOpt = False,
    save: SaveSegmentsOpt = None,
    days: RangeDaysOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    fmt: ChartFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Trends: an event's count, persons, WAU/MAU or property math per interval (PostHog's)."""
    options = dict(locals())  # every option by its parameter name, before anything else
    with handle_errors():
        _answer("trends", options)


TopOpt = Annotated[
    int,
    typer.Option("--top", min=1, max=1000, help="Keep this many rows in each list."),
]


@app.command()
def sessions(
    days: RangeDaysOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    top: TopOpt = 10,
    where: WhereOpt = None,
    persons: SessionsPersonsOpt = None,
    who: WhoOpt = None,
    segment: OneSegmentOpt = None,
    by_segment: BySegmentOpt = False,
    save: SaveSegmentsOpt = None,
    by: ByPersonOpt = None,
    breakdown_limit: BreakdownLimitOpt = None,
    fmt: ChartFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
    pages: Annotated[
        bool,
        typer.Option(
            "--pages",
            help="List the pages by pageviews instead: views and unique visitors of each page"
            " over --days (default 30), --top rows.",
        ),
    ] = False,
) -> None:
    """Sessions: count and per user, durations, bounce rate by entry page, exit pages, countries."""
    options = dict(locals())  # every option by its parameter name, before anything else
    with handle_errors():
        if options.pop("pages"):
            _page_list(options)
            return
        _answer("sessions", options)


def _page_list(o: dict[str, Any]) -> None:
    """`sessions --pages`: the page breakdown, a list of usertrack.reports.user_lists."""
    from usertrack.cli.reports import emit_list
    from usertrack.reports import user_lists

    user_lists.asked("sessions", {**o, "pages": True})  # what --pages does not go with: exit 2
    chosen = choose_format(o["fmt"], o["out"])
    probe_out(o["out"])
    with events_workspace(
        o["as_of"], queries_dir=o["queries_dir"], segments_file=o["segments_file"],
        refresh=o["refresh"],
    ) as (ws, moment, _progress):  # fmt: skip
        found = user_lists.user_list(ws, user_lists.PAGES, moment, days=o["days"] or 30,
                                     limit=o["top"], bound="--top")  # fmt: skip
    emit_list(found, chosen, o["out"])


@app.command()
def paths(
    steps: Annotated[
        int, typer.Option("--steps", help="Nodes per path (2-20), as PostHog's default 5.")
    ] = 5,
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="Only paths through this event or page, starting there.", metavar="NODE"
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to", help="Only paths that reach this event or page, ending there.", metavar="NODE"
        ),
    ] = None,
    types: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="The kinds of event that are nodes, comma-separated: page (pageviews by"
            " pathname), screen ($screen events by $screen_name), custom (custom events by"
            " name). Default: page,custom.",
            metavar="KINDS",
        ),
    ] = None,
    days: RangeDaysOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    top: TopOpt = 20,
    where: WhereOpt = None,
    persons: PathsPersonsOpt = None,
    who: WhoOpt = None,
    segment: OneSegmentOpt = None,
    by_segment: BySegmentOpt = False,
    by: ByPersonOpt = None,
    breakdown_limit: BreakdownLimitOpt = None,
    save: SaveSegmentsOpt = None,
    fmt: ChartFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """User paths: the most common sequences of pages and events, entry/exit nodes and edges."""
    options = dict(locals())  # every option by its parameter name, before anything else
    with handle_errors():
        _answer("paths", options)


@app.command()
def churn(
    period: PeriodOpt = "week",
    periods: Annotated[
        int,
        typer.Option(
            "--periods", help="Churn per period: this many periods ended by --as-of (2-104)."
        ),
    ] = 8,
    window: Annotated[
        str,
        window_option(
            "The engagement score's window, whole days: recency's horizon, the days its"
            " frequency and breadth count; no event in it is 'left'.",
            examples="whole days, 30d, 2w, 1mo (31 days)",
        ),
    ] = "30d",
    backtest: Annotated[
        bool,
        typer.Option(
            "--backtest/--no-backtest",
            help="Score everyone as of --horizon days ago and report how many of the high-risk"
            " went dormant since (precision and recall against the base rate).",
        ),
    ] = True,
    horizon: Annotated[
        int,
        typer.Option(
            "--horizon", help="The backtest scores as of this many days ago.", metavar="DAYS"
        ),
    ] = 28,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", "-n", help="List this many at-risk users (lowest scores first), 0-1000."
        ),
    ] = 10,
    top: Annotated[
        int | None, typer.Option("--top", hidden=True, help="--limit's old name.")
    ] = None,
    where: WhereOpt = None,
    persons: ChurnPersonsOpt = None,
    who: WhoOpt = None,
    segment: OneSegmentOpt = None,
    by_segment: BySegmentOpt = False,
    save: SaveSegmentsOpt = None,
    by: ByPersonOpt = None,
    breakdown_limit: BreakdownLimitOpt = None,
    fmt: ChartFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Churn per period, lifetime, an engagement score 0-100 and a churn risk checked on history."""
    options = dict(locals())  # every option by its parameter name, before anything else
    with handle_errors():
        _answer("churn", options)
