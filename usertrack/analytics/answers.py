"""Each product analysis from its command's options: what `usertrack funnel`, `retention`,
`activity`, `features`, `trends`, `sessions`, `paths` and `churn` compute, and what a
dashboard's panel of that analysis computes, by the same functions.

`PREPARE[name](options)` checks the options (a mapping of the command's Click parameter names
to their values, the command's own defaults filled in) before any source is opened: a bad one
is a UsageError. It returns the analysis to run on an open workspace, `run(ws, moment,
progress)`, which gives an `Answer`: the result, its notes, and how it is written (JSON
document, json / csv / md text, the terminal's table). A dashboard runs every panel on one
workspace, so the sources are opened once and the facts the analyses share (the events store's
tables, the per-person facts of `scope.facts_cache`, the classification of a moment) are read once.
"""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import UsageError, not_with

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

Options = Mapping[str, Any]
Run = Callable[["Workspace", datetime, Callable[[str], None]], "Answer"]


@dataclass
class Answer:
    """An analysis's result and how it is written: `<name>_csv|markdown` of the module
    `<package>.render` (and `<name>_json` where the JSON is more than the result's
    `document()`), `render_<name>` of the terminal view module `<package>.view`
    (usertrack.analytics.<package>)."""

    result: Any
    name: str
    package: str
    where: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    # --where's reach (where.Reach): the persons with an event in the answer's range it kept,
    # of all of them; None without --where or a range
    reach: Any = None

    @property
    def said(self) -> tuple[str, ...]:
        """For stderr (--quiet hides it): what --where, --who, --segment and --exclude kept."""
        mine = (self.reach.said(),) if self.reach is not None else ()
        return (*mine, *getattr(self.result, "said", ()))

    def text(self, chosen: str) -> str:
        """The json, csv or md text, --where expressions heading it."""
        from usertrack.analytics.segmented_output import text_of
        from usertrack.analytics.where import with_where

        module = importlib.import_module(f"usertrack.analytics.{self.package}.render")
        suffix = "markdown" if chosen == "md" else chosen
        render = getattr(module, f"{self.name}_{suffix}", _document_json)
        text = text_of(render, chosen)(self.result)
        text = with_where(text, self.where, chosen)
        return self.reach.into(text) if self.reach is not None and chosen == "json" else text

    def document(self) -> dict[str, Any]:
        """The JSON answer as data (what `-f json` writes)."""
        return json.loads(self.text("json"))  # type: ignore[no-any-return]

    def draw(self, console: Any) -> None:
        """The terminal's table (rich, imported only now)."""
        from usertrack.analytics.segmented_output import table_of
        from usertrack.analytics.where import with_where

        if self.where:
            from usertrack.rendering.terminal import plain

            console.print(plain(with_where("", self.where, "table")))
        module = importlib.import_module(f"usertrack.analytics.{self.package}.view")
        table_of(getattr(module, f"render_{self.name}"))(console, self.result)


def _document_json(result: Any) -> str:
    """An analysis's JSON: its result's document."""
    from usertrack.analytics.common import json_document

    return json_document(result.document())


def _where(o: Options) -> tuple[str, ...]:
    from usertrack.analytics.where import check_all

    return check_all(o.get("where"))


def _span(o: Options, moment: datetime, warn: Callable[[str], None]) -> Any:
    from usertrack.analytics.common import date_range

    return date_range(moment, days=o["days"], since=o["since"], until=o["until"], warn=warn)


def _who(o: Options) -> str | None:
    """The --who expression, checked to be one expression (by_segment.check_who)."""
    from usertrack.analytics.by_segment import check_who

    return None if o.get("who") is None else check_who(o["who"])


def _segmented(
    ws: Workspace,
    moment: datetime,
    o: Options,
    who: str | None,
    progress: Any,
    analyse: Callable[[Workspace], Any],
    **more: Any,
) -> Any:
    from usertrack.analytics import kept_people

    if "segment" in o:
        more["segment"] = o["segment"]
    if "by_segment" in o:
        more["by_segment"] = bool(o["by_segment"])
    if "save" in o:
        more["save"] = o["save"]
    return kept_people.run(ws, moment, analyse, who=who, progress=progress, **more)


def _check_persons(o: Options, *others: str) -> str | None:
    """The --persons cell, or None: one cell of one answer, so not with the options `others`
    (parameter names) that make several answers or change what a cell is (exit 2)."""
    cell = o.get("persons")
    if cell is None:
        return None
    not_with("--persons", *(("--" + name.replace("_", "-"), o.get(name)) for name in others))
    return str(cell)


def _ahead(ws: Workspace, moment: datetime, cell: str | None, progress: Any) -> Any:
    """With --persons, the profiles built while the analysis runs (actors_profiles'
    profiles_ahead)."""
    if cell is None:
        return contextlib.nullcontext(None)
    from usertrack.analytics.actors import profiles as actors_profiles

    return actors_profiles.profiles_ahead(ws, moment, progress)


def _actors(ws: Workspace, moment: datetime, found: Any, where: tuple[str, ...],
            progress: Any, ahead: Any = None) -> Answer:  # fmt: skip
    """--persons' answer: the cell's people (usertrack.analytics.actors.run), with their profiles
    (`ahead`: built meanwhile, _ahead)."""
    from usertrack.analytics.actors import profiles as actors_profiles
    from usertrack.analytics.by_segment import Segmented

    people = found.overall if isinstance(found, Segmented) else found
    actors_profiles.with_profiles(ws, moment, people, progress, ahead)
    return Answer(found, "actors", "actors", where, list(people.notes))


def _closing(ws: Workspace, moment: datetime, o: Options, who: str | None,
             where: tuple[str, ...], progress: Any, cell: str | None,
             analysed: Callable[[Workspace, Any], Any], name: str, *, grouped: bool = False,
             shows_where: bool = True, **more: Any) -> Answer:  # fmt: skip
    """How an analysis ends: `analysed(ws, ahead)` run once for every value of --by
    person.properties.NAME when `grouped` (by_property), else under --segment, --by-segment
    and --who (_segmented); with --persons, the cell's people (_actors), with the profiles
    `ahead` builds meanwhile (`analysed` starts it once the cell is checked); all of it kept
    to --where."""
    ws = ws.scoped(ws.scope.but(where=where))
    if grouped and o.get("by") is not None:
        from usertrack.analytics import by_property

        result = by_property.run(ws, moment, lambda ws: analysed(ws, None), o["by"],
                                 o.get("breakdown_limit"), progress)  # fmt: skip
    else:
        with _ahead(ws, moment, cell, progress) as ahead:
            result = _segmented(ws, moment, o, who, progress, lambda ws: analysed(ws, ahead),
                                **more)  # fmt: skip
            if cell is not None:
                return _actors(ws, moment, result, where, progress, ahead)
    notes = list(getattr(result, "notes", ()))
    return Answer(result, name, name, where if shows_where else (), notes)


def funnel(o: Options, warn: Callable[[str], None]) -> Run:
    from usertrack.analytics.common import parse_period, parse_window
    from usertrack.analytics.funnel import correlation as correlations
    from usertrack.analytics.funnel import run as funnels

    where = _where(o)
    who = _who(o)
    window = parse_window(o["window"])
    from usertrack.analytics.funnel.steps import labelled

    given = list(o["steps"] or ())
    labels: list[str | None] = []
    if o.get("steps_file"):
        from pathlib import Path

        from usertrack.analytics.funnel.steps import load_steps_file

        if given:
            raise UsageError("give the steps as arguments or in --steps-file, not both")
        given, labels = load_steps_file(Path(o["steps_file"]))
    steps = funnels.check_steps(given or list(funnels.DEFAULT_STEPS))
    from usertrack.analytics.funnel.steps import named_steps

    labels = named_steps(o.get("step_name"), labels or [None] * len(steps))
    correlated = correlations.parse_properties(o["correlation_properties"])
    correlation, dropped = o["correlation"], o["dropped"]
    if correlation or correlated:
        correlations.check_options(by=o["by"], compare=o["compare"], dropped=dropped)
        if o["by_segment"]:
            raise UsageError("--correlation and --by-segment do not go together")
    trend = None if o.get("trend") is None else parse_period(o["trend"], "--trend")
    from usertrack.analytics.funnel import order as funnel_order

    order = funnel_order.parse_order(o.get("order") or "ordered")
    if order == "any" and len(set(steps)) < len(steps):
        raise UsageError("--order any needs each step's event once (a step named twice)")
    shape = funnel_order.Shape(order, funnel_order.parse_exclusions(o.get("exclude"), steps))
    from usertrack.analytics.funnel.breakdown import check as check_breakdown

    by = check_breakdown(o["by"], o.get("breakdown_attribution"),
                         o.get("breakdown_attribution_step"), o.get("breakdown_limit"), steps,
                         order)  # fmt: skip
    if order == "any" and any((a, b) != (1, len(steps)) for _, a, b in shape.exclusions):
        # PostHog's funnel_udf.py `get_query`: "Partial Exclusions not allowed in unordered
        # funnels"
        raise UsageError(
            "--exclude EVENT:FROM-TO: a funnel in any order (--order any) excludes between the"
            f" first and the last step only (EVENT or EVENT:1-{len(steps)})"
        )
    if funnels.narrowing_property(steps) is not None:
        not_with("a step narrowed by a property", ("--by", o["by"]),
                 ("--order any", order == "any"), ("--correlation", correlation or correlated),
                 last=True)  # fmt: skip
    from usertrack.analytics.funnel.first_time import first_steps

    if first_steps(steps) and (correlation or correlated):
        raise UsageError("--correlation and a first-time step (first:EVENT) do not go together")
    if funnels.narrowing_property([name for name, _, _ in shape.exclusions]) is not None:
        funnels.narrowing_property([*steps, *(name for name, _, _ in shape.exclusions)])
        not_with("--exclude EVENT:PROPERTY=VALUE", ("--by", o["by"]),
                 ("--correlation", correlation or correlated), last=True)  # fmt: skip
    from usertrack.analytics.funnel.timing import check_timing

    between, bins = check_timing(o.get("from_step"), o.get("to_step"), o.get("bins"), len(steps),
                                 (bool(o.get("time_to_convert")), trend, order))  # fmt: skip
    if o.get("time_to_convert") or trend is not None:
        for option, asked in (("--dropped", dropped is not None), ("--persons", o.get("persons"))):
            if asked:
                raise UsageError(f"--time-to-convert and --trend do not go with {option}")
    if o["paths"] and dropped is None:
        raise UsageError("--paths needs --dropped STEP (the people whose paths to show)")
    if o.get("by_account"):
        not_with("--by-account", ("--by", o["by"]), ("--by-segment", o["by_segment"]),
                 ("--segment", o["segment"]), ("--who", who), ("--compare", o["compare"]),
                 ("--correlation", correlation or correlated), ("--dropped", dropped),
                 ("--persons", o.get("persons")))  # fmt: skip
    cell = _check_persons(o, "dropped", "by", "compare", "by_segment", "correlation",
                          "correlation_properties")  # fmt: skip
    if cell is not None:
        from usertrack.analytics.actors import run as actors

        actors.funnel_cell(steps, cell)
    if dropped is not None:
        funnels.step_index(steps, dropped)
        not_with("--dropped", ("--by", o["by"]), ("--compare", o["compare"]),
                 ("--by-segment", o["by_segment"]), last=True)  # fmt: skip

    def run(ws: Workspace, moment: datetime, progress: Callable[[str], None]) -> Answer:
        ws = ws.scoped(ws.scope.but(where=where))
        span = _span(o, moment, warn)
        if cell is not None:
            from usertrack.analytics.actors import run as actors

            kept = {"segment": o["segment"], "save": o["save"]}
            with _ahead(ws, moment, cell, progress) as ahead:
                ahead.start()  # the cell is checked already
                found = _segmented(ws, moment, kept, who, progress, lambda ws: (
                    actors.funnel_actors(ws, moment, span, steps, window, cell, shape,
                                         labels)
                ))  # fmt: skip
                return _actors(ws, moment, found, where, progress, ahead)
        if dropped is not None:
            kept = {"segment": o["segment"], "save": o["save"]}
            gone = _segmented(ws, moment, kept, who, progress, lambda ws: labelled(
                funnels.dropped(ws, moment, span, dropped, steps=steps, window=window,
                                paths=o["paths"], shape=shape, progress=progress),
                labels,
            ))  # fmt: skip
            return Answer(gone, "dropped", "funnel", where)
        result = _segmented(ws, moment, o, who, progress, lambda ws: labelled(funnels.funnel(
            ws, moment, span, steps=steps, window=window, by=by, compare=o["compare"],
            correlation=correlation, correlation_properties=correlated,
            time_to_convert=bool(o.get("time_to_convert")), trend=trend, shape=shape,
            progress=progress, by_account=bool(o.get("by_account")), between=between, bins=bins,
        ), labels))  # fmt: skip
        return Answer(result, "funnel", "funnel", where, list(result.notes))

    return run


def retention(o: Options, warn: Callable[[str], None]) -> Run:
    from usertrack.analytics.retention import options as meaning
    from usertrack.analytics.retention import run as retentions

    where = _where(o)
    who = _who(o)
    week_start = _week_start(o)
    period = meaning.parse_period(o["period"], week_start)
    mode = meaning.parse_mode(o["mode"])
    periods, since, until = o["periods"], o["since"], o["until"]
    if periods is not None and not 1 <= periods <= retentions.MAX_PERIODS:
        raise UsageError(f"--periods {periods} must be from 1 to {retentions.MAX_PERIODS}")
    if periods is not None and since is not None:
        raise UsageError("--periods and --since both set the first cohort; give one of them")
    by = _one_by(o, "retention breaks")
    limit = _breakdown_limit(o)
    if by is not None:
        meaning.breakdown_of(by)
        not_with("--by", ("--compare", o["compare"]), ("--by-segment", o["by_segment"]))
    cell = _check_persons(o, "by_segment", "by")
    _by_account_alone(o, who, ("--by", by))
    cumulative, occurrences = bool(o.get("cumulative")), o.get("min_occurrences", 1)
    meaning.check_options(occurrences, bool(o.get("by_account")))

    def run(ws: Workspace, moment: datetime, progress: Callable[[str], None]) -> Answer:
        from usertrack.analytics.common import date_range

        span = date_range(moment, since=since, until=until, warn=warn)
        first = span.start if since is not None else None
        last = span.last if until is not None else None

        def analysed(ws: Workspace, ahead: Any) -> Any:
            if cell is None:
                return retentions.retention(
                    ws, moment, period=period, periods=periods, start_event=o["start"],
                    return_event=o["return_event"], mode=mode, since=first, until=last,
                    compare=o["compare"], by=by, top=limit, progress=progress,
                    by_account=bool(o.get("by_account")), cumulative=cumulative,
                    min_occurrences=occurrences, week_start=week_start,
                )  # fmt: skip
            from usertrack.analytics.actors import run as actors

            # every cohort has its cells whatever the data: no need to count them first
            start, start_where = meaning.split_event(o["start"])
            start = meaning.start_of(start)
            back, back_where = None, ("", "")
            if (o["return_event"] or "").strip():
                back, back_where = meaning.split_event(o["return_event"])
            narrowing = meaning.Narrowing(start_where, back_where).values()
            cohorts = retentions.cohort_periods(moment, period, periods, first, last, week_start)
            cells = actors.RetentionCells(
                period, mode, start, back, cohorts, cumulative, occurrences, narrowing, week_start
            )
            actors.retention_cell(cells, cell)  # in the answer: profiles meanwhile
            ahead.start()
            return actors.retention_actors(ws, moment, cells, cell)

        return _closing(ws, moment, o, who, where, progress, cell, analysed, "retention")

    return run


def _by_alone(o: Options, who: str | None) -> None:
    """--by person.properties.NAME makes its own groups: not with --by-segment, --segment, --who."""
    if o.get("by") is not None:
        not_with("--by", ("--by-segment", o["by_segment"]), ("--segment", o["segment"]),
                 ("--who", who))  # fmt: skip


def _one_by(o: Options, what: str) -> str | None:
    """The one --by property of an analysis that breaks down by one (`what`: its name and verb),
    though --by is repeatable for funnels (a panel's: a tuple)."""
    by = o.get("by")
    if isinstance(by, (list, tuple)):
        if len(by) > 1:
            raise UsageError(f"--by: {what} down by one property, not {len(by)}")
        by = by[0] if by else None
    return by


def _week_start(o: Options) -> str:
    """--week-start, checked (monday or sunday; exit 2 otherwise)."""
    from usertrack.analytics.weeks import MONDAY, parse_week_start

    return parse_week_start(o.get("week_start") or MONDAY)


def _breakdown_limit(o: Options) -> int:
    """retention's and trends' --breakdown-limit, or --top, its old name (a panel's `top`), or
    their default: ten values, fewer than PostHog's 25."""
    limit, top = o.get("breakdown_limit"), o.get("top")
    if limit is not None and top is not None and limit != top:
        raise UsageError(
            f"--top is --breakdown-limit's old name: give one of them, not --breakdown-limit"
            f" {limit} and --top {top}"
        )
    chosen, name = (limit, "--breakdown-limit") if limit is not None else (top, "--top")
    if chosen is None:
        return 10
    if not 1 <= int(chosen) <= 100:
        raise UsageError(f"{name} {chosen} must be from 1 to 100")
    return int(chosen)


def _by_account_alone(o: Options, who: Any, *more: tuple[str, Any]) -> None:
    """--by-account counts accounts where the options below pick or split persons."""
    if not o.get("by_account"):
        return
    not_with("--by-account", ("--by-segment", o["by_segment"]), ("--segment", o["segment"]),
             ("--who", who), ("--persons", o.get("persons")), *more)  # fmt: skip


def activity(o: Options, warn: Callable[[str], None]) -> Run:
    from usertrack.analytics.activity import run as activities

    where = _where(o)
    who = _who(o)
    activities.check_periods(o["periods"])
    week_start = _week_start(o)
    interval = activities.check_stickiness_interval(
        o.get("stickiness_interval") or "day", bool(o.get("by_account"))
    )
    cell = _check_persons(o, "by_segment", "compare", "by")
    _by_account_alone(o, who, ("--by", o.get("by")))
    _by_alone(o, who)

    def run(ws: Workspace, moment: datetime, progress: Callable[[str], None]) -> Answer:

        def analysed(ws: Workspace, ahead: Any) -> Any:
            if cell is None:
                return activities.activity(
                    ws, moment, days=o["days"], periods=o["periods"], compare=o["compare"],
                    progress=progress, by_account=bool(o.get("by_account")),
                    week_start=week_start, stickiness_interval=interval,
                )  # fmt: skip
            from usertrack.analytics.actors import run as actors

            # every week of the lifecycle has its cells: no need to count them first
            weeks = activities.lifecycle_weeks(moment, o["periods"], week_start)
            actors.activity_cell(weeks, cell)  # in the answer: profiles meanwhile
            ahead.start()
            return actors.activity_actors(ws, moment, weeks, cell)

        return _closing(ws, moment, o, who, where, progress, cell, analysed, "activity",
                        grouped=True)  # fmt: skip

    return run


def features(o: Options, warn: Callable[[str], None]) -> Run:
    from usertrack.analytics.features import run as feature_usage

    where = _where(o)
    who = _who(o)
    feature_usage.check_threshold(o["threshold"])
    cell = _check_persons(o, "by_segment", "by")
    _by_alone(o, who)

    def run(ws: Workspace, moment: datetime, progress: Callable[[str], None]) -> Answer:

        def analysed(ws: Workspace, ahead: Any) -> Any:
            if cell is not None:
                ahead.start()  # the app's database readied meanwhile
            answer = feature_usage.features(
                ws, moment, days=o["days"], by_event=o["event"], threshold=o["threshold"],
                compare=o["compare"], all_users=bool(o.get("all_users")), progress=progress,
            )  # fmt: skip
            if cell is None:
                return answer
            from usertrack.analytics.actors import usage

            return usage.features_actors(ws, moment, answer, cell)

        return _closing(ws, moment, o, who, where, progress, cell, analysed, "features",
                        grouped=True, lists=False)  # fmt: skip

    return run


def trends(o: Options, warn: Callable[[str], None]) -> Run:
    from usertrack.analytics.trends import maths as trends_maths
    from usertrack.analytics.trends import run as trends_mod
    from usertrack.analytics.trends.formula import parse_formula
    from usertrack.analytics.trends.histogram import check_bins

    interval = trends_mod.parse_interval(o["interval"])
    week_start = _week_start(o)
    if week_start == "sunday" and interval == "hour":
        raise UsageError("--week-start sunday goes with --interval week, not hour")
    math = trends_maths.parse_math(o["math"])
    given = [trends_maths.own_math(e) for e in o["events"]]
    events = [event for event, _ in given]
    maths = tuple(own for _, own in given) if any(own for _, own in given) else ()
    limit = _breakdown_limit(o)
    trends_mod.check(events, interval, math, limit, maths)
    formula = None if o.get("formula") is None else parse_formula(o["formula"], len(events))
    every = [own or math for own in maths] or [math]
    if o["by_segment"] and any(m.name == trends_maths.SESSIONS for m in every):
        # a group's sessions are no sum of its persons' (trends/run.py, _by_person)
        raise UsageError(f"--math {trends_maths.SESSIONS} and --by-segment do not go together")
    if o.get("persons") is not None and maths:
        raise UsageError("--persons and an EVENT@MATH do not go together: give -m instead")
    by = _one_by(o, "trends break")
    if by is not None:
        trends_mod.breakdown_of(by)  # an empty --by, or person.properties. without a name
    bins = o.get("histogram_bins")
    check_bins(bins, by, o["compare"])
    if bins is not None and (o["by_segment"] or o.get("segment") or o.get("who")):
        raise UsageError("--histogram-bins counts every person at once: not with --by-segment,"
                         " --segment or --who")  # fmt: skip
    where = _where(o)
    who = _who(o)
    cell = _check_persons(o, "by_segment", "compare", "by", "cumulative", "formula")

    def run(ws: Workspace, moment: datetime, progress: Callable[[str], None]) -> Answer:
        span = _span(o, moment, warn)

        def analysed(ws: Workspace, ahead: Any) -> Any:
            if cell is not None:
                ahead.start()  # the app's database readied meanwhile
            answer = trends_mod.trends(
                ws, moment, span, events, interval=interval, math=math, maths=maths,
                formula=formula, by=by,
                top=limit, cumulative=o["cumulative"], compare=o["compare"],
                progress=progress, week_start=week_start, histogram_bins=bins,
            )  # fmt: skip
            if cell is None:
                return answer
            from usertrack.analytics.actors import run as actors

            return actors.trends_actors(ws, moment, answer, cell)

        # trends' own texts show the --where expressions already
        return _closing(ws, moment, o, who, where, progress, cell, analysed, "trends",
                        shows_where=False)  # fmt: skip

    return run


def sessions(o: Options, warn: Callable[[str], None]) -> Run:
    from usertrack.analytics.sessions import run as sessions_mod

    where = _where(o)
    who = _who(o)
    cell = _check_persons(o, "by_segment", "by")
    _by_alone(o, who)

    def run(ws: Workspace, moment: datetime, progress: Callable[[str], None]) -> Answer:
        span = _span(o, moment, warn)

        def analysed(ws: Workspace, ahead: Any) -> Any:
            if cell is not None:
                ahead.start()  # the app's database readied meanwhile
            answer = sessions_mod.sessions(ws, moment, span, top=o["top"], progress=progress)
            if cell is None:
                return answer
            from usertrack.analytics.actors import usage

            return usage.sessions_actors(ws, moment, answer, cell)

        return _closing(ws, moment, o, who, where, progress, cell, analysed, "sessions",
                        grouped=True, lists=False)  # fmt: skip

    return run


def paths(o: Options, warn: Callable[[str], None]) -> Run:
    from usertrack.analytics.paths import options as paths_options
    from usertrack.analytics.paths import run as paths_mod

    where = _where(o)
    who = _who(o)
    start, end = paths_options.check_options(o["steps"], o["start"], o["end"])
    kinds = paths_options.parse_kinds(o.get("types"))
    cell = _check_persons(o, "by_segment", "by")
    _by_alone(o, who)
    if cell is not None and kinds != paths_options.DEFAULT_KINDS:
        # a cell's people are read from pageviews and custom events (actors/run.py)
        raise UsageError("--persons and --type do not go together")

    def run(ws: Workspace, moment: datetime, progress: Callable[[str], None]) -> Answer:
        span = _span(o, moment, warn)

        def analyse(ws: Workspace) -> Any:
            return paths_mod.paths(
                ws, moment, span, steps=o["steps"], start=start, end=end, top=o["top"],
                progress=progress, whose=cell is not None, kinds=kinds,
            )  # fmt: skip

        def analysed(ws: Workspace, ahead: Any) -> Any:
            if cell is None:
                return analyse(ws)
            ahead.start()  # the app's database readied meanwhile
            from usertrack.analytics.actors import run as actors

            options = (o["steps"], start, end, o["top"])
            return actors.paths_actors(ws, moment, span, cell, options, lambda: analyse(ws))

        return _closing(ws, moment, o, who, where, progress, cell, analysed, "paths",
                        grouped=True)  # fmt: skip

    return run


def churn(o: Options, warn: Callable[[str], None]) -> Run:
    from usertrack.analytics.churn import run as churns
    from usertrack.analytics.common import parse_period

    where = _where(o)
    who = _who(o)
    period = parse_period(o["period"])
    days = churns.window_days(o["window"])
    top = o["top"] if o.get("top") is not None else o["limit"]  # --top: --limit's old name
    churns.check(o["periods"], days, o["horizon"], top)
    cell = _check_persons(o, "by_segment", "by")
    _by_alone(o, who)
    if cell is not None:
        text, cell = cell, churns.cell_of(cell)
        if cell is None:
            from usertrack.analytics.actors.run import refuse

            raise refuse("churn", text, churns.cells())

    def run(ws: Workspace, moment: datetime, progress: Callable[[str], None]) -> Answer:

        def analysed(ws: Workspace, ahead: Any) -> Any:
            if cell is not None:
                ahead.start()  # the cell is checked already
            answer = churns.churn(
                ws, moment, period=period, periods=o["periods"], window=days,
                horizon=o["horizon"], top=top, backtest=o["backtest"], progress=progress,
                cell=cell,
            )  # fmt: skip
            if cell is None:
                return answer
            from usertrack.analytics.actors import usage

            return usage.churn_actors(ws, moment, answer, cell)

        return _closing(ws, moment, o, who, where, progress, cell, analysed, "churn",
                        grouped=True)  # fmt: skip

    return run


Prepare = Callable[[Options, Callable[[str], None]], Run]


def _reaching(prepare: Prepare) -> Prepare:
    """`prepare` whose answers under --where say how many persons it kept and left out of
    those with an event in the answer's range (where.reach: two counts of persons, not a
    second run of the analysis)."""

    def prepared(o: Options, warn: Callable[[str], None]) -> Run:
        run = prepare(o, warn)
        where = _where(o)  # checked already: trends' answer holds it in its own texts

        def reached(ws: Workspace, moment: datetime, progress: Callable[[str], None]) -> Answer:
            from usertrack.analytics.where import reach

            answer = run(ws, moment, progress)
            if where:
                answer.reach = reach(ws, where, answer.document())
            return answer

        return reached

    return prepared


PREPARE: dict[str, Prepare] = {
    name: _reaching(prepare)
    for name, prepare in (
        ("funnel", funnel),
        ("retention", retention),
        ("activity", activity),
        ("features", features),
        ("trends", trends),
        ("sessions", sessions),
        ("paths", paths),
        ("churn", churn),
    )
}
