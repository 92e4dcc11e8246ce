"""Computing a dashboard's panels in one process, on one open workspace: each panel's options are
its command's (parsed by the command's own Click parameters, the command's defaults filled in),
and each panel calls the library function its command calls (usertrack.analytics.answers for
the analyses; the classification, the failure report, the alert pass and the query library for
the others). The sources are opened once and what the panels share is computed once: each
moment's classification (the key metrics, the segments and the alerts all read the period's
end) and each failure report (the dashboard's view's `scope.shared`); live results come from
the result cache. Nothing runs in a subprocess, no command is re-entered."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.core.bounds import return_freed_memory
from usertrack.core.errors import UsageError, UsertrackError, not_with
from usertrack.dashboards.spec import Dashboard, Panel, check_panel, period_options

if TYPE_CHECKING:
    from usertrack.reports.user_lists import ListKind
    from usertrack.workspace import Workspace

Progress = Callable[[str], None]
Compute = Callable[["Workspace", datetime, Progress], dict[str, Any]]


class PanelError(UsertrackError):
    """A panel failed: its own message, prefixed with the panel's file:line."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


@dataclass
class Period:
    label: str  # 2026-W46, or 2026-11-01..2026-11-30
    start: str  # ISO moments, (start, end]
    end: str
    days: int


def command_lines(dashboard: Dashboard, root: Any) -> list[list[str] | None]:
    """Every panel's checked command line (None for `metrics`): a bad panel fails here, before
    anything is computed or written."""
    lines: list[list[str] | None] = []
    for panel in dashboard.panels:
        if panel.analysis == "metrics":
            if panel.options:
                key, (_v, line) = next(iter(panel.options.items()))
                raise UsageError(
                    f"{dashboard.path}:{line}: panel {panel.title!r}: option {key!r}: the key"
                    " metrics take no options"
                )
            lines.append(None)
            continue
        command = root.commands.get(panel.analysis)
        if command is None:  # an analysis this build does not have
            raise UsageError(
                f"{dashboard.path}:{panel.line}: panel {panel.title!r}: no command"
                f" `usertrack {panel.analysis}` in this version"
            )
        lines.append(check_panel(dashboard.path, panel, command))
    return lines


def panel_options(
    panel: Panel, root: Any, line: list[str], period: Period, compare: bool
) -> dict[str, Any]:
    """The panel's options by parameter name, as its command would have them: its command line
    and the period's options parsed by the command's Click parameters."""
    command = root.commands[panel.analysis]
    extra = period_options(command, panel, period.days, period.end, compare)
    if "--" in line:
        cut = line.index("--")
        argv = [*line[:cut], *extra, *line[cut:]]
    else:
        argv = [*line, *extra]
    from typer._click.exceptions import ClickException, MissingParameter

    try:
        with command.make_context(panel.analysis, argv, parent=None) as ctx:
            return dict(ctx.params)
    except MissingParameter as e:  # a value the command needs and the panel does not give
        name = e.param.name if e.param is not None else "?"
        raise UsageError(f"option {name!r} is needed by `usertrack {panel.analysis}`") from None
    except ClickException as e:
        raise UsageError(e.format_message()) from None


def _segments(o: dict[str, Any], _period: Period) -> Compute:
    from usertrack.core.clock import parse_as_of
    from usertrack.segments.history import check_since

    segment, changes, kind = o["segment"], o["changes"], o["segment_type"]
    overview = bool(o.get("overview"))
    if o["since"] is not None and not changes:
        raise UsageError("--since goes with --changes")
    if overview:
        not_with("--overview", ("--changes", changes), ("--segment", segment is not None))
    if kind is not None:
        not_with("--type", ("--segment", segment), ("--changes", changes), ("--overview", overview))

    def run(ws: Workspace, moment: datetime, progress: Progress) -> dict[str, Any]:
        if overview:  # `segments --overview -f json`: the users at a glance, nothing classified
            from usertrack.reports import user_lists

            return json.loads(user_lists.overview_json(user_lists.overview(ws, moment)))  # type: ignore[no-any-return]
        if segment is not None:
            ws.rules.check_segment(segment)
        if kind is not None:  # one type's segments, classified alone: not the shared answer
            ws = ws.scoped(ws.scope.but(shared=None), rules=ws.rules.of_type(kind))
        result = ws.classify(moment, progress)
        if not changes:
            from usertrack.analytics.segment_figures import add_figures
            from usertrack.rendering.export import segment_summary

            add_figures(ws, result, progress)
            return {
                "as_of": result.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "segments": [
                    segment_summary(result, s)
                    for s in result.segments
                    if segment is None or s.id == segment
                ],
            }
        from usertrack.rendering.changes_view import changes_json
        from usertrack.segments.history import Snapshot, baseline_for, compare, open_history

        since = parse_as_of(o["since"]) if o["since"] else result.as_of - timedelta(days=7)
        check_since(since, result.as_of)
        # the key metrics' comparison of the same two moments, when that panel made it
        kept = (ws.scope.shared or {}).get(("changes", since, result.as_of))
        if kept is not None:
            return json.loads(changes_json(kept[1], segment))  # type: ignore[no-any-return]
        with open_history(ws) as history:
            baseline = baseline_for(ws, history, since, progress, notice=lambda _t: None)
        moves = compare(baseline, Snapshot.of(result), result.segments)
        return json.loads(changes_json(moves, segment))  # type: ignore[no-any-return]

    return run


def _failures(o: dict[str, Any], _period: Period) -> Compute:
    from usertrack.core.config import resolve_failures_file
    from usertrack.reports.failures import failure_report, load_failure_rules
    from usertrack.reports.failures_output import report_json

    rules = load_failure_rules(resolve_failures_file(o["failures_file"]))

    def run(ws: Workspace, moment: datetime, progress: Progress) -> dict[str, Any]:
        report = failure_report(ws, rules, moment, o["days"], progress=progress)
        return json.loads(report_json(report))  # type: ignore[no-any-return]

    return run


def _tools(o: dict[str, Any], _period: Period) -> Compute:
    from usertrack.reports import tool_usage

    answer = tool_usage.prepare(o)  # as `usertrack tools`: --who and --segment checked now

    def run(ws: Workspace, moment: datetime, progress: Progress) -> dict[str, Any]:
        return json.loads(tool_usage.to_json(answer(ws, moment, progress)))  # type: ignore[no-any-return]

    return run


def _accounts(o: dict[str, Any], _period: Period) -> Compute:
    from usertrack.reports import accounts
    from usertrack.segments.account_key import AccountKey

    key = AccountKey.configured()

    def run(ws: Workspace, moment: datetime, progress: Progress) -> dict[str, Any]:
        segment = o.get("segment")
        if segment is not None:
            from usertrack.analytics.by_segment import check_segment

            segment = check_segment(ws, segment)
        report = accounts.account_report(ws, moment, days=o["days"], key=key, progress=progress,
                                         segment=segment, save=o.get("save"))  # fmt: skip
        return json.loads(accounts.to_json(report))  # type: ignore[no-any-return]

    return run


class AlertsPanel:
    """The alerts panel's computation, its work on the events alone started with the panels
    (`early`): the activity query and the metric triggers' figures from the events (the funnel's
    weeks, the DAU trend's days) do not wait for the classification of the period's end, which
    the panel waits for, on the database's lane."""

    def __init__(self, o: dict[str, Any], period: Period) -> None:
        from usertrack.act.alerts import load_alert_rules
        from usertrack.act.alerts_filters import people_filter
        from usertrack.core.config import resolve_alerts_file

        self.rules = load_alert_rules(resolve_alerts_file(o["alerts_file"]))
        self.people = people_filter(o.get("plan"), o.get("active_within"))  # checked now
        self.active = bool(o.get("active"))  # everyone active instead of the alerts
        self.period = period
        self.ahead: Any = None

    def early(self, ws: Workspace, moment: datetime) -> None:
        from usertrack.act.alerts import events_ahead

        self.ahead = events_ahead(ws, self.rules, moment)

    def settle(self) -> None:
        """What `early` started and no pass took (a panel failed before): stopped."""
        ahead, self.ahead = self.ahead, None
        if ahead is not None:
            ahead.cancel()
            ahead.settle()

    def __call__(self, ws: Workspace, moment: datetime, progress: Progress) -> dict[str, Any]:
        from usertrack.act.alerts import alerts_document, find_alerts
        from usertrack.core.clock import parse_as_of
        from usertrack.rendering.export import jsonable
        from usertrack.segments.history import baseline_for, open_history

        # The alerts of the period: who entered a segment between its start and its end, the
        # two moments the segments panel compares (a snapshot of the start is read, not
        # classified again), not the day before its end as an `alerts` pass compares.
        since = parse_as_of(self.period.start)
        kept = (ws.scope.shared or {}).get(("changes", since, moment))  # the key metrics' baseline
        if kept is not None:
            baseline = kept[0]
        else:
            with open_history(ws) as history:
                baseline = baseline_for(ws, history, since, progress, notice=lambda _t: None)
        ahead, self.ahead = self.ahead, None
        found = find_alerts(
            ws, self.rules, moment, progress, reproducible=True, baseline=baseline, ahead=ahead
        )
        from usertrack.act.alerts_filters import active_people, narrow

        if self.active:  # `alerts --active -f json`'s document
            from usertrack.act.alerts_view import active_document

            lookback = int(self.rules.params.get("lookback_minutes", 60))
            people = active_people(found, self.people)
            return jsonable(active_document(found, people, lookback))  # type: ignore[no-any-return]
        narrow(found, self.people)  # --plan, --active-within: the alerts of those people only
        # `alerts -f json`'s document, made JSON-safe without writing and re-reading its text
        return jsonable(alerts_document(found))  # type: ignore[no-any-return]


def _query(o: dict[str, Any], _period: Period) -> Compute:
    from usertrack.queries.library import parse_params, runnable_query, typed_params

    query_id = o["query_id"]
    if query_id is None or o["check"]:
        raise UsageError("a query panel names one query file: query_id, and its param")
    given = parse_params(o["param"])

    def run(ws: Workspace, moment: datetime, progress: Progress) -> dict[str, Any]:
        from usertrack.rendering.export import result_document

        target = runnable_query(ws.library, query_id)
        result = ws.run_query(query_id, moment, **typed_params(target, given))
        return result_document(result, query=query_id, title=query_id)

    return run


def _list(kind: ListKind, o: dict[str, Any]) -> Compute:
    """A list across users (`tools --by-user`, `failures --runs`, `sessions --pages`, ...) as
    its command gives it, at the command's default --limit (--top for the pages): the rows of
    `-f json`, kept to --segment's or --who's users where the command takes them."""
    from usertrack.reports import tool_usage, user_lists

    segment, who = o.get("segment"), o.get("who")
    if who is not None:
        from usertrack.analytics.by_segment import check_who

        if segment is not None:
            raise UsageError("--who and --segment do not go together")
        who = check_who(who)
    pages = kind is user_lists.PAGES

    def run(ws: Workspace, moment: datetime, progress: Progress) -> dict[str, Any]:
        chosen, emails = segment, None
        if who is not None:
            emails = tool_usage.who_emails(ws, moment, who, progress)
        if chosen is not None:
            from usertrack.analytics.by_segment import check_segment

            chosen = check_segment(ws, chosen)
            emails = tool_usage.segment_emails(ws, moment, chosen, progress, o.get("save"))
        found = user_lists.user_list(
            ws, kind, moment, days=o.get("days") or 30, limit=o["top"] if pages else o["limit"],
            segment=chosen, who=who, segment_emails=emails, bound="--top" if pages else "--limit",
        )  # fmt: skip
        return json.loads(user_lists.to_json(found))  # type: ignore[no-any-return]

    return run


OTHERS: dict[str, Callable[[dict[str, Any], Period], Compute]] = {
    "segments": _segments,
    "failures": _failures,
    "tools": _tools,
    "accounts": _accounts,
    "alerts": AlertsPanel,
    "query": _query,
}


def prepare(dashboard: Dashboard, panel: Panel, options: dict[str, Any], period: Period) -> Compute:
    """The panel's computation, its options checked as its command checks them."""
    from usertrack.analytics.answers import PREPARE
    from usertrack.reports.user_lists import asked

    try:
        kind = asked(panel.analysis, options)  # a list instead (`tools --by-user`, ...)
        if kind is not None:
            return _list(kind, options)
        if panel.analysis in PREPARE:
            answer = PREPARE[panel.analysis](options, lambda _t: None)

            def run(ws: Workspace, moment: datetime, progress: Progress) -> dict[str, Any]:
                return answer(ws, moment, progress).document()

            return run
        return OTHERS[panel.analysis](options, period)
    except UsertrackError as e:
        raise _panel_error(dashboard, panel, e) from None


def _options(
    dashboard: Dashboard, panel: Panel, root: Any, line: list[str], period: Period, compare: bool
) -> dict[str, Any]:
    """panel_options, its refusal one line naming the panel's file and line."""
    try:
        return panel_options(panel, root, line, period, compare)
    except UsertrackError as e:
        raise _panel_error(dashboard, panel, e) from None


def _panel_error(dashboard: Dashboard, panel: Panel, e: UsertrackError) -> PanelError:
    return PanelError(f"{dashboard.path}:{panel.line}: panel {panel.title!r}: {e}", e.exit_code)


def compute(
    dashboard: Dashboard,
    root: Any,
    lines: list[list[str] | None],
    period: Period,
    ws: Workspace,
    *,
    compare: bool,
    metrics: Callable[[Workspace], dict[str, Any]],
    progress: Progress = lambda _t: None,
) -> list[dict[str, Any]]:
    """Every panel's data: {analysis, title, note, data}, in the file's order. Every panel is
    checked before the first is computed. `ws`: the dashboard's view, its panels sharing
    (Scope.shared); `metrics(ws)`: the key metrics' panel."""
    from usertrack.core.clock import parse_as_of

    moment = parse_as_of(period.end)
    options = [
        None if line is None else _options(dashboard, panel, root, line, period, compare)
        for panel, line in zip(dashboard.panels, lines, strict=True)
    ]
    runs: list[Compute | None] = [
        None if o is None else prepare(dashboard, panel, o, period)
        for panel, o in zip(dashboard.panels, options, strict=True)
    ]
    alone = any(filters(panel, o) for panel, o in zip(dashboard.panels, options, strict=True))

    def rehearse(quiet: Workspace) -> None:  # usertrack.dashboards.prefetch: every panel, its
        for run in runs:  # queries written down
            try:
                metrics(quiet) if run is None else run(quiet, moment, lambda _t: None)
            except Exception:  # on empty answers: the real run says what fails, if anything
                continue

    from usertrack.dashboards.prefetch import rehearsed

    def outcome(index: int) -> dict[str, Any]:
        panel, run = dashboard.panels[index], runs[index]
        progress(f"panel {panel.title}")
        if run is None:
            data = metrics(ws)
        else:
            try:
                data = run(ws, moment, progress)
            except UsertrackError as e:
                raise _panel_error(dashboard, panel, e) from None
        return {"analysis": panel.analysis, "title": panel.title, "note": panel.note, "data": data}

    with rehearsed(ws, rehearse, progress) as ahead:
        # Nothing beside a panel that filters the workspace's queries; and none beside another
        # once every PostHog answer was fetched ahead and the database's were kept from the
        # rehearsal: the panels then wait on no query, and two side by side (the key metrics'
        # classifications and the engagement score, the costliest, begun together) held both
        # their tables at once, the live run's peak of memory at 200,000 users, to save a few
        # seconds of its 40 to 50.
        if alone or ahead:
            done = []
            for i in range(len(dashboard.panels)):
                done.append(outcome(i))
                if ahead:  # what the panel let go (its answers, its tables) given back
                    return_freed_memory()
            return done
        early = [run for run in runs if isinstance(run, AlertsPanel)]
        try:
            for run in early:
                run.early(ws, moment)
            return side_by_side(dashboard.panels, outcome)
        finally:
            for run in early:
                run.settle()


# The options with which an event analysis keeps its queries to a scope of its own (its view's
# `where` and `persons`: --where, --who, --segment, --by-segment): such a dashboard computes its
# panels one after another, in the file's order. Each panel runs on a view of its own, so a
# query another panel sends meanwhile would not be filtered; the order is kept so that such a
# dashboard sends and shares the same queries as before.
FILTERING = ("where", "who", "segment", "by_segment")


def filters(panel: Panel, options: dict[str, Any] | None) -> bool:
    """Whether the panel's analysis filters the workspace's queries while it runs (FILTERING)."""
    if options is None or panel.analysis in DATABASE_PANELS:
        return False
    return any(options.get(name) for name in FILTERING)


# The panels that wait on the app's database and share the classification of each moment: they
# run one after another on a thread of their own, while the event analyses compute on this one.
DATABASE_PANELS = frozenset({"metrics", "segments", "failures", "tools", "accounts", "alerts"})


# The event analyses that cost the most CPU at 100,000 users (churn: 1.0 to 1.3 s, its per-person
# facts and two moments' scores): begun first, beside the database's panels, so that the run does
# not end with one of them alone on one core while the other has nothing left to take.
EARLY = frozenset({"churn"})


def side_by_side(
    panels: Sequence[Panel], outcome: Callable[[int], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every panel's `outcome`, in the file's order: the database's panels (DATABASE_PANELS) in
    order on a second thread, the others in order on this one, so the database's queries run
    while the events are counted (each lane's panels share what they compute, as before: the
    database's panels are all in one lane). This thread begins with the costliest (EARLY),
    then takes the others from the front of the file's order; when the database's lane is done
    with its own, it takes the panels not yet begun from the end: both cores stay busy to the
    end. The first panel in the file's order that fails is the failure; a failure or Ctrl-C on
    this thread cancels the other lane's queries."""
    import collections
    import contextvars
    import itertools
    import queue
    import threading

    from usertrack.core.errors import Cancelled
    from usertrack.engines.base import CancelToken, cancel_scope, current_token
    from usertrack.engines.concurrency import CANCEL_GRACE_SECONDS

    lane = [i for i, p in enumerate(panels) if p.analysis in DATABASE_PANELS]
    here = [i for i in range(len(panels)) if i not in lane]
    done: dict[int, dict[str, Any]] = {}
    failed: dict[int, BaseException] = {}
    if not lane or not here:
        return [outcome(i) for i in range(len(panels))]

    token = CancelToken().cancelled_with(current_token())  # and with the caller's work
    finished: queue.Queue[None] = queue.Queue()
    # the panels not begun, taken under `taking`: the heaviest first (EARLY), else in order
    waiting = collections.deque(sorted(here, key=lambda i: panels[i].analysis not in EARLY))
    taking = threading.Lock()

    def take(first: bool) -> int | None:
        """The next panel not begun (the first, else the last), None when there is none or a
        panel before it failed (that is the failure: nothing after it is begun)."""
        with taking:
            if not waiting or token.cancelled:
                return None
            i = waiting[0] if first else waiting[-1]
            if failed and min(failed) < i:
                return None
            return waiting.popleft() if first else waiting.pop()

    def run_lane() -> None:
        try:
            with cancel_scope(token):
                # its own panels, then the others not begun, from the end
                for i in itertools.chain(lane, iter(lambda: take(first=False), None)):
                    try:
                        done[i] = outcome(i)
                    except BaseException as e:  # said in the file's order, below
                        failed[i] = e
                        return
        finally:
            finished.put(None)

    # A daemon thread, as usertrack.segments.profiles.run_by_source's: nothing may hold the
    # process's exit after an error. It runs in a copy of this context (a cancel scope).
    context = contextvars.copy_context()
    threading.Thread(
        target=context.run, args=(run_lane,), name="usertrack-panels", daemon=True
    ).start()
    try:
        while (i := take(first=True)) is not None:
            try:
                done[i] = outcome(i)
            except UsertrackError as e:
                failed[i] = e
                token.cancel()  # the report is not written: the other lane stops
                break
        _wait(finished, None if not failed else CANCEL_GRACE_SECONDS)
    except BaseException:
        token.cancel()
        _wait(finished, CANCEL_GRACE_SECONDS)
        raise
    if failed:
        # The first panel that failed by itself: not one the other lane's failure cancelled.
        first = min(failed, key=lambda i: (isinstance(failed[i], Cancelled), i))
        raise failed[first]
    return [done[i] for i in range(len(panels))]


def _wait(finished: Any, seconds: float | None) -> None:
    """Until the other lane has finished, or `seconds` have passed; in short waits, so that
    Ctrl-C is seen at once."""
    import queue
    import time

    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        try:
            finished.get(timeout=0.25)
            return
        except queue.Empty:
            continue
