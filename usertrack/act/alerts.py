"""Support alerts: who needs help now (alerts.yaml), found in one pass over the sources.

Three kinds of trigger:
- "activity": one SQL boolean expression (`when`) over the columns of
  queries/posthog/alert_activity.sql (one HogQL query computes every PostHog-side trigger, with
  the thresholds of alerts.yaml `params` bound as values) plus `plan`, Neon's
  subscription_status. Evaluated by DuckDB in the sandbox.
- "segment": users who entered one of `segments` since the last pass that recorded its
  segments (alerts_segments.ALERTED_SEGMENTS_FILE), else since the previous saved snapshot
  (usertrack/segments/history.py); with neither before as_of, since the segments of one day
  earlier. A pass at a moment the user chose (`--as-of`) always compares with the segments
  of one day earlier, worked out from the data: its answer is the same whatever the history
  holds. Finding alerts writes nothing: `record_segments` keeps the pass's segments in the
  history and in that file, and only a run that sends (or `--save`) calls it, after its alerts
  are queued, so a dry run never consumes what the real run would send.
- "failures": today's run failures stand out against the previous `days` days, by the
  standout-day rule of `usertrack failures` (usertrack/reports/failures.py).
- "metric": a figure (a trend with its math, the run success rate...) of the last complete
  window past a threshold or outside its usual range (usertrack/act/metric_alerts.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from usertrack.checks.sql_checks import UnsafeSQLError, check_expression, expression_columns
from usertrack.core.errors import AlertsFileError, QueryError
from usertrack.core.rulefiles import did_you_mean, key_line, read_rule_mapping, reject_unknown_keys

if TYPE_CHECKING:
    import duckdb

    from usertrack.act.alerts_ahead import Ahead
    from usertrack.act.alerts_plans import Plans
    from usertrack.act.alerts_runs import RunsCopy
    from usertrack.act.alerts_segments import SomePeople
    from usertrack.act.metric_alerts import MetricRule
    from usertrack.segments.history import Snapshot
    from usertrack.segments.rules import Classification
    from usertrack.workspace import Workspace

ACTIVITY_QUERY = "posthog/alert_activity"
# `--watch`: the segment triggers classify every user (every per-user query, PostHog's included),
# so a watch runs them on its first pass and then at most this often, and the metric triggers
# with them (their windows are whole days); the activity triggers, one HogQL query, run every
# pass. PostHog allows 120 queries an hour (DESIGN.md).
SEGMENT_EVERY_SECONDS = 600
KINDS = ("activity", "segment", "failures", "metric")
_TOP_KEYS = {"params", "triggers"}
# A threshold past this (minutes: 19 years) failed only when the query ran (DuckDB: out of range
# for INT64), exit 7: it is the file's mistake, said with its line.
MAX_PARAM = 10_000_000
_TRIGGER_KEYS = {"id", "name", "kind", "when", "segments", "days", "description"}
_METRIC_KEYS = {"metric", "event", "math", "steps", "within", "window", "below", "above",
                "outside"}  # fmt: skip
# The columns a `when` expression may read: alert_activity's, plus the Neon plan.
ACTIVITY_COLUMNS = ("email", "distinct_id", "name", "current_page", "page_since",
                    "last_event_at", "session_events", "session_errors", "recent_events",
                    "recent_errors", "day_events", "day_errors", "in_session", "stuck_on_page",
                    "low_activity", "multiple_errors", "long_inactivity", "plan")  # fmt: skip
_FLAGS = ("in_session", "stuck_on_page", "low_activity", "multiple_errors", "long_inactivity")
# One alert row, in the order every output shows it.
ALERT_FIELDS = (
    "email",
    "name",
    "plan",
    "trigger",
    "trigger_name",
    "detail",
    "current_page",
    "time_on_page_seconds",
    "session_events",
    "session_errors",
    "day_events",
    "day_errors",
    "last_active_at",
    "distinct_id",
    "posthog_url",
)


@dataclass(frozen=True)
class Trigger:
    id: str
    name: str
    kind: str
    when: str = ""
    segments: tuple[str, ...] = ()
    days: int = 7
    description: str = ""
    line: int = 0
    metric: MetricRule | None = None


@dataclass(frozen=True)
class AlertRules:
    path: Path
    params: Mapping[str, int]
    triggers: tuple[Trigger, ...]
    params_line: int = 1
    param_lines: Mapping[str, int] = field(default_factory=dict)  # each param's own line


@dataclass
class AlertRun:
    """One pass: the alerts found at `as_of`, and notes for stderr (a baseline recomputed...)."""

    as_of: datetime
    rules_path: str
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The classifications the segment triggers compared (this run's, and the day-earlier one
    # computed when no snapshot came before), by moment: what `record_segments` saves.
    classified: dict[datetime, Any] = field(default_factory=dict)
    # The segments at as_of the pass compared: a classification, or the history's snapshot of
    # that moment that stood for one (usertrack.act.alerts_segments); None without a segment
    # trigger.
    current: Any = None
    # What entered_segment compared with: {"as_of": moment, "from": how it was obtained}, one
    # of BASELINE_FROM; None when no segment trigger ran.
    baseline: dict[str, Any] | None = None
    active: list[dict[str, Any]] = field(default_factory=list)  # alert_activity's people, planned


def load_alert_rules(path: Path) -> AlertRules:
    """Read and check alerts.yaml: shapes, unknown keys, kinds, `when` expressions."""
    doc, top_line = read_rule_mapping(
        path, AlertsFileError, "alerts file", "a mapping with a 'triggers' list", _TOP_KEYS
    )
    raw_params = doc.get("params") or {}
    if not isinstance(raw_params, dict):
        raise AlertsFileError(f"{path}:{top_line}: 'params' must be a mapping of name: number")
    params_line = int(raw_params.pop("__line__", top_line))
    params: dict[str, int] = {}
    param_lines: dict[str, int] = {}
    for name, value in raw_params.items():
        param_lines[str(name)] = key_line(raw_params, name, params_line)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PARAM:
            raise AlertsFileError(
                f"{path}:{param_lines[str(name)]}: params.{name} must be a whole number from 0"
                f" to {MAX_PARAM}, not {value!r}"
            )
        params[str(name)] = value
    raw = doc.get("triggers")
    if not isinstance(raw, list) or not raw:
        raise AlertsFileError(f"{path}:{top_line}: 'triggers' must be a non-empty list")
    triggers: list[Trigger] = []
    seen: set[str] = set()
    from usertrack.checks.sandbox import connect

    # One parsing connection for every rule: opening a DuckDB connection costs more than
    # parsing an expression.
    con = connect()
    try:
        for item in raw:
            if not isinstance(item, dict):
                raise AlertsFileError(f"{path}: each trigger must be a mapping")
            triggers.append(_trigger(path, item, seen, con))
    finally:
        con.close()
    return AlertRules(
        path=path,
        params=params,
        triggers=tuple(triggers),
        params_line=params_line,
        param_lines=param_lines,
    )


def _trigger(
    path: Path, item: dict[str, Any], seen: set[str], con: duckdb.DuckDBPyConnection
) -> Trigger:
    line = int(item.pop("__line__", 0))
    where = f"{path}:{line}"
    kind_given = item.get("kind")
    known = _TRIGGER_KEYS | (_METRIC_KEYS if kind_given == "metric" else set())
    reject_unknown_keys(item, known, where, AlertsFileError, path=path)

    def at(key: str) -> str:
        """Where the trigger's `key` is written (its own line), for an error about its value."""
        return f"{path}:{key_line(item, key, line)}"

    for key in ("id", "name", "kind"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise AlertsFileError(f"{where}: trigger needs a {key!r}")
    tid = item["id"].strip()
    if tid in seen:
        raise AlertsFileError(f"{where}: trigger id {tid!r} given twice")
    seen.add(tid)
    kind = item["kind"].strip()
    if kind not in KINDS:
        raise AlertsFileError(
            f"{at('kind')}: trigger {tid!r}: unknown kind {kind!r}{did_you_mean(kind, KINDS)}"
            f" (known: {', '.join(KINDS)})"
        )
    when = str(item.get("when") or "").strip()
    segments: tuple[str, ...] = ()
    days = 7
    metric = None
    if kind == "metric":
        from usertrack.act.metric_alerts import parse_rule

        metric = parse_rule(path, item, tid, line)
    elif kind == "activity":
        if not when:
            raise AlertsFileError(f"{where}: trigger {tid!r} (activity) needs a 'when' rule")
        try:
            check_expression(when, con, what=f"trigger {tid!r}")
            columns = expression_columns(when, con)
        except UnsafeSQLError as e:
            raise AlertsFileError(f"{at('when')}: {e}") from None
        for column in columns:
            if column not in ACTIVITY_COLUMNS:
                raise AlertsFileError(
                    f"{at('when')}: trigger {tid!r} reads unknown column {column!r}"
                    f"{did_you_mean(column, ACTIVITY_COLUMNS)}"
                )
    elif kind == "segment":
        raw = item.get("segments")
        if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
            raise AlertsFileError(
                f"{at('segments')}: trigger {tid!r} (segment) needs a 'segments' list"
            )
        segments = tuple(raw)
    else:
        days = item.get("days", 7)
        if not isinstance(days, int) or isinstance(days, bool) or not 2 <= days <= 90:
            raise AlertsFileError(
                f"{at('days')}: trigger {tid!r}: days must be a number from 2 to 90"
            )
    return Trigger(
        id=tid,
        name=item["name"].strip(),
        kind=kind,
        when=when,
        segments=segments,
        days=days,
        description=str(item.get("description") or ""),
        line=line,
        metric=metric,
    )


def check_against(rules: AlertRules, ws: Workspace) -> None:
    """The params name parameters of the activity query; the segments exist in segments.yaml."""
    if any(t.kind == "activity" for t in rules.triggers) and "posthog" in ws.sources:
        query = ws.library.get(ACTIVITY_QUERY)
        known = [p.name for p in query.params if p.name not in ("as_of", "exclude_pattern")]
        for name in rules.params:
            if name not in known:
                at = rules.param_lines.get(name, rules.params_line)
                raise AlertsFileError(
                    f"{rules.path}:{at}: params.{name} is not a parameter of"
                    f" {ACTIVITY_QUERY}{did_you_mean(name, known)} (known: {', '.join(known)})"
                )
    ids = {s.id for s in ws.rules.segments}
    for trigger in rules.triggers:
        for seg in trigger.segments:
            if seg not in ids:
                raise AlertsFileError(
                    f"{rules.path}:{trigger.line}: trigger {trigger.id!r}: no segment {seg!r}"
                    f" in {ws.rules.path}{did_you_mean(seg, ids)}"
                )


def person_url(host: str | None, project_id: str | None, distinct_id: str | None) -> str | None:
    """`{host}/project/{id}/person/{distinct_id}` (the distinct_id URL-encoded), when live."""
    if not host or not project_id or not distinct_id:
        return None
    return f"{host.rstrip('/')}/project/{project_id}/person/{quote(str(distinct_id), safe='')}"


# How a pass's entered_segment baseline was obtained (the JSON's `baseline.from`).
BASELINE_FROM = {
    "data": "the segments one day earlier, worked out from the data",
    "last_pass": "the segments the last alerts pass that sent (or --save) kept",
    # A dashboard's alerts of its period (find_alerts' `baseline`): the period's start.
    "period_start": "the segments at the start of the period, worked out from the data",
    "period_start_snapshot": "the segments history's snapshot of the start of the period",
}


def find_alerts(
    ws: Workspace,
    rules: AlertRules,
    as_of: datetime,
    progress: Callable[[str], None] | None = None,
    skip_kinds: frozenset[str] = frozenset(),
    *,
    reproducible: bool = False,
    baseline: Snapshot | None = None,
    keeps: bool = True,
    ahead: Ahead | None = None,
) -> AlertRun:
    """One pass over every trigger of `rules` at `as_of` (but those of `skip_kinds`).

    entered_segment compares with the segments one day before `as_of` worked out from the
    data, never with a snapshot another command saved, so the answer depends on the data and
    `as_of` alone. `keeps`: the pass's segments will be kept (record_segments), so a
    day-earlier baseline computed from the data is every user's (a dry run classifies only
    those it needs); such a pass at the data's own moment (not `reproducible`: no moment the
    user chose) compares with what the last keeping pass kept instead, when there is one, so
    no one is sent twice. `baseline`: entered_segment compares with these segments instead (a
    dashboard's alerts of its period: the segments at its start).
    `ahead`: the work on the events started before (events_ahead), for the same `as_of`."""
    from usertrack.act.alerts_ahead import Ahead
    from usertrack.act.alerts_runs import for_pass

    check_against(rules, ws)
    run = AlertRun(as_of=as_of, rules_path=str(rules.path))
    kinds = {t.kind for t in rules.triggers} - skip_kinds
    ahead = ahead or Ahead(ws)
    runs = for_pass(ws, rules.triggers, as_of, kinds)  # the run triggers' local copy
    try:
        _start_ahead(ws, rules, as_of, kinds, ahead, run, progress, reproducible, baseline, keeps,
                     runs)  # fmt: skip
        _pass(ws, rules, as_of, kinds, ahead, run, progress, reproducible, baseline, runs)
    except BaseException:  # a failure or Ctrl-C: what still runs ahead stops too
        ahead.cancel()
        raise
    finally:
        ahead.settle()
        runs.close()
    return run


def events_ahead(ws: Workspace, rules: AlertRules, as_of: datetime) -> Ahead:
    """The pass's work on the events alone, started now (usertrack.act.alerts_ahead): the
    activity query, the metric triggers' figures from the events (a funnel's weeks, a trend's
    days). A dashboard starts it with its panels: its alerts panel, which waits for the period's
    classification, finds it done. find_alerts takes it (`ahead`); else the caller settles it."""
    from usertrack.act.alerts_ahead import Ahead

    ahead = Ahead(ws)
    if "posthog" not in ws.sources:
        return ahead
    if any(t.kind == "activity" for t in rules.triggers):
        ahead.start(("activity",), lambda: ws.run_query(ACTIVITY_QUERY, as_of, **rules.params))
    for trigger in rules.triggers:
        if trigger.kind == "metric" and _metric_source(trigger) == "posthog":
            job = functools.partial(_figures, ws, trigger.metric, as_of, None)
            ahead.start(("metric", trigger.id), job)
    return ahead


def _start_ahead(
    ws: Workspace,
    rules: AlertRules,
    as_of: datetime,
    kinds: set[str],
    ahead: Ahead,
    run: AlertRun,
    progress: Callable[[str], None] | None,
    reproducible: bool,
    baseline: Snapshot | None,
    keeps: bool,
    runs: RunsCopy,
) -> None:
    """Start what the pass's triggers will ask for, side by side (usertrack.act.alerts_ahead):
    the segments now and, when entered_segment compares with the data, a day earlier; the
    failure trend; each metric's figures. Which baseline the segments compare with is decided
    here (`_last_pass` records it in `run.baseline`), before the pass asks."""
    if "activity" in kinds and "posthog" in ws.sources:
        ahead.start(("activity",), lambda: ws.run_query(ACTIVITY_QUERY, as_of, **rules.params))
    for trigger in rules.triggers:
        if trigger.kind not in kinds:
            continue
        if trigger.kind == "failures" and "neon" in ws.sources:
            job = functools.partial(_failure_days, ws, as_of, trigger.days, progress, runs)
            ahead.start(("failures", trigger.days), job)
        elif trigger.kind == "metric" and _metric_source(trigger) in ws.sources:
            job = functools.partial(_figures, ws, trigger.metric, as_of, progress, runs)
            ahead.start(("metric", trigger.id), job)
    # The segments last: reading the history's snapshots (Python's own work) overlaps the
    # queries started above.
    if "segment" in kinds:
        from usertrack.act.alerts_segments import day_earlier, saved_now

        # Each classification's warning (a past as_of) is said when the pass takes it, in order.
        now_key = ("classify", as_of)
        # A moment the user chose is classified from the data: a snapshot of it saved before
        # late events arrived must not change the answer.
        saved = None if reproducible else saved_now(ws, as_of)
        if saved is not None:
            ahead.give(now_key, saved)
        else:
            ahead.start(now_key, lambda: ws.classify(as_of, progress, say=False), classifies=True)
        # A dry run compares with what the next run that sends would: the last pass's copy.
        if baseline is None and (reproducible or _last_pass(ws, as_of, run) is None):
            since = as_of - timedelta(days=1)
            segments = list(dict.fromkeys(s for t in rules.triggers for s in t.segments))
            # (its warning said by the pass, in order, not by this job)
            now = functools.partial(ahead.get, now_key, lambda: ws.classify(as_of, say=False))
            job = functools.partial(day_earlier, ws, since, segments, now, progress,
                                    everyone=keeps)  # fmt: skip
            ahead.start(("classify", since), job, classifies=True)


def _pass(
    ws: Workspace,
    rules: AlertRules,
    as_of: datetime,
    kinds: set[str],
    ahead: Ahead,
    run: AlertRun,
    progress: Callable[[str], None] | None,
    reproducible: bool,
    baseline: Snapshot | None,
    runs: RunsCopy | None = None,
) -> None:
    """find_alerts' triggers, each in the file's order, its figures from `ahead`; the plans
    from the copy `runs` where it answers them."""
    from usertrack.act.alerts_plans import Plans

    people: dict[str, dict[str, Any]] = {}
    plans = Plans(ws, as_of, runs)  # the plans of the people the pass may alert, asked when known
    if "activity" in kinds and "posthog" in ws.sources:
        if progress:
            progress(f"running {ACTIVITY_QUERY}")
        result = ahead.get(
            ("activity",), lambda: ws.run_query(ACTIVITY_QUERY, as_of, **rules.params)
        )
        people = {row["email"]: row for row in result.as_dicts()}
        if progress and "neon" in ws.sources:
            progress("running neon/accounts")
        known = plans.of(people)
        for row in people.values():
            row["plan"] = known.get(row["email"])
        run.active = list(people.values())
        run.alerts.extend(_activity_alerts(ws, rules, people, as_of))
    elif "activity" in kinds:
        run.notes.append("no PostHog source: the activity triggers were skipped")
    for trigger in rules.triggers:
        if trigger.kind not in kinds:  # a kind this run does not check
            continue
        if trigger.kind == "segment":
            run.alerts.extend(
                _segment_alerts(
                    ws, trigger, as_of, people, plans, run, progress, reproducible, baseline, ahead
                )
            )
        elif trigger.kind == "failures":
            if "neon" not in ws.sources:
                run.notes.append(f"no Neon source: trigger {trigger.id} was skipped")
                continue
            run.alerts.extend(_failure_alerts(ws, trigger, as_of, progress, ahead))
        elif trigger.kind == "metric":
            run.alerts.extend(_metric_alerts(ws, trigger, as_of, run, progress, ahead))
    if runs is not None:
        runs.plans_done()  # (the copy closes once its windows are answered too)


def _alert(
    ws: Workspace,
    trigger: Trigger,
    as_of: datetime,
    person: Mapping[str, Any] | None,
    *,
    email: str = "",
    plan: str | None = None,
    detail: str = "",
) -> dict[str, Any]:
    person = person or {}
    page_since = person.get("page_since")
    on_page = None
    if person.get("current_page") and isinstance(page_since, datetime):
        on_page = max(0, int((_aware(as_of) - _aware(page_since)).total_seconds()))
    distinct_id = person.get("distinct_id")
    settings = ws.settings
    live = ws.demo is None and settings.posthog_host and settings.posthog_project_id
    return {
        "email": person.get("email") or email,
        "name": person.get("name") or None,
        "plan": person.get("plan", plan),
        "trigger": trigger.id,
        "trigger_name": trigger.name,
        "kind": trigger.kind,
        "detail": detail,
        "current_page": person.get("current_page") or None,
        "time_on_page_seconds": on_page,
        "session_events": person.get("session_events"),
        "session_errors": person.get("session_errors"),
        "day_events": person.get("day_events"),
        "day_errors": person.get("day_errors"),
        "last_active_at": person.get("last_event_at"),
        "distinct_id": distinct_id,
        "posthog_url": person_url(settings.posthog_host, settings.posthog_project_id, distinct_id)
        if live
        else None,
    }


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _activity_alerts(
    ws: Workspace, rules: AlertRules, people: Mapping[str, dict[str, Any]], as_of: datetime
) -> list[dict[str, Any]]:
    """Each activity trigger's `when`, evaluated by DuckDB over the people of the pass."""
    from usertrack.checks.sandbox import connect, time_limit

    triggers = [t for t in rules.triggers if t.kind == "activity"]
    if not triggers or not people:
        return []
    rows = list(people.values())
    # Each column bound as one list, unnested side by side and typed by the casts (a column of
    # only NULLs too): numpy's or pyarrow's import alone would cost more than a pass's people.
    columns = {f"c{i}": [r.get(c) for r in rows] for i, c in enumerate(ACTIVITY_COLUMNS)}
    typed = ", ".join(
        f'CAST(unnest($c{i}) AS {_activity_type(c)}) AS "{c}"'
        for i, c in enumerate(ACTIVITY_COLUMNS)
    )
    alerts: list[dict[str, Any]] = []
    con = connect()
    try:
        con.execute(f"CREATE TABLE people AS SELECT {typed}", columns)
        for trigger in triggers:
            where = f"{rules.path}:{trigger.line}: trigger {trigger.id!r}"
            try:
                with time_limit(con, where):
                    hits = con.execute(
                        f"SELECT email FROM people WHERE coalesce(({trigger.when}), false)"
                        " ORDER BY email"
                    ).fetchall()
            except QueryError:  # stopped at the time limit: said as such
                raise
            except Exception as e:  # a type error in the rule: name the trigger and its line
                raise AlertsFileError(
                    f"{rules.path}:{trigger.line}: trigger {trigger.id!r}: {str(e).splitlines()[0]}"
                ) from None
            for (email,) in hits:
                alerts.append(_alert(ws, trigger, as_of, people[email]))
    finally:
        con.close()
    return alerts


def _activity_type(column: str) -> str:
    if column in _FLAGS:
        return "BOOLEAN"
    if column.endswith(("_events", "_errors")):
        return "BIGINT"
    if column in ("page_since", "last_event_at"):
        return "TIMESTAMPTZ"
    return "VARCHAR"


def _segment_alerts(
    ws: Workspace,
    trigger: Trigger,
    as_of: datetime,
    people: Mapping[str, dict[str, Any]],
    plans: Plans,
    run: AlertRun,
    progress: Callable[[str], None] | None,
    reproducible: bool = False,
    given: Snapshot | None = None,
    ahead: Ahead | None = None,
) -> list[dict[str, Any]]:
    """`ahead`: the classifications started ahead (find_alerts), which also decided the
    baseline: a saved one is in `run.baseline` by now."""
    from usertrack.act.alerts_ahead import Ahead
    from usertrack.act.alerts_segments import SomePeople
    from usertrack.segments.history import Snapshot

    ahead = ahead or Ahead(ws)
    current = _classified(ws, ahead, as_of, progress)
    now = current  # its members asked of its DuckDB (Classification.in_segment)
    baseline: Snapshot | Classification | None = None
    since = as_of - timedelta(days=1)
    if run.baseline is not None:  # a saved one, or a second segment trigger: the same baseline
        baseline = run.baseline["snapshot"]
    elif given is not None:
        baseline = given
        how = "period_start_snapshot" if given.source == "snapshot" else "period_start"
        run.baseline = {"as_of": _aware(given.as_of), "from": how, "snapshot": given}
    if baseline is None:
        computed = _classified(ws, ahead, since, progress)
        baseline = computed
        if not isinstance(computed, SomePeople):  # some people's segments are no snapshot
            run.classified.setdefault(_aware(since), computed)
        run.baseline = {"as_of": _aware(since), "from": "data", "snapshot": baseline}
    if not isinstance(current, Snapshot):  # (the history's own snapshot is saved already)
        run.classified[_aware(as_of)] = current
    run.current = current
    names = {s.id: s.name for s in ws.rules.segments}
    entered = {
        seg: sorted(now.in_segment(seg) - baseline.in_segment(seg)) for seg in trigger.segments
    }
    known = plans.of({email for emails in entered.values() for email in emails})
    since_when = {"baseline": baseline_words(run)}  # what a Slack message says it compared
    alerts = []
    for seg, emails in entered.items():
        for email in emails:
            alerts.append(
                _alert(
                    ws,
                    trigger,
                    as_of,
                    people.get(email),
                    email=email,
                    plan=known.get(email),
                    detail=f"entered {names.get(seg, seg)}",
                )
                | since_when
            )
    return alerts


def _classified(
    ws: Workspace, ahead: Ahead, moment: datetime, progress: Callable[[str], None] | None
) -> Any:
    """The classification at `moment`: the one started ahead, else worked out now; its warning
    (a past moment) said now, once per command as Workspace.classify says it."""
    from usertrack.segments.history import Snapshot

    found: Classification | SomePeople | Snapshot = ahead.get(
        ("classify", moment), lambda: ws.classify(moment, progress)
    )
    # (a snapshot standing for it is never of a moment with a warning: alerts_segments.saved_now)
    if not isinstance(found, Snapshot):
        ws.warn_if_past(moment, found.current_only)
    return found


def _last_pass(ws: Workspace, as_of: datetime, run: AlertRun) -> Snapshot | None:
    """What the last pass that sent (or --save) kept, before `as_of` under the current rules;
    None when there is none (recorded in `run.baseline`). Never a snapshot of the segments
    history: another command's (`segments`, `report weekly`) would move the baseline."""
    from usertrack.act.alerts_segments import alerted_segments
    from usertrack.segments.history import open_history

    with open_history(ws) as history:
        baseline = alerted_segments(ws, as_of, history.fingerprint)
    if baseline is not None:
        run.baseline = {"as_of": baseline.as_of, "from": "last_pass", "snapshot": baseline}
    return baseline


def _failure_alerts(
    ws: Workspace,
    trigger: Trigger,
    as_of: datetime,
    progress: Callable[[str], None] | None,
    ahead: Ahead,
) -> list[dict[str, Any]]:
    from usertrack.core.standout import standout_days

    days = trigger.days
    trend = ahead.get(("failures", days), lambda: _failure_days(ws, as_of, days, progress))
    trend = trend[-(trigger.days + 1) :]
    if len(trend) < 2:
        return []
    # Today against the previous `days` days, today itself left out of their median.
    standout_days(trend, keys=(("runs_failed", "runs"),), baseline=trend[:-1])
    today = trend[-1]
    if not today["stands_out"]:
        return []
    return [_alert(ws, trigger, as_of, None, detail=f"{today['day']}: {today['why']}")]


def _failure_days(
    ws: Workspace,
    as_of: datetime,
    days: int,
    progress: Callable[[str], None] | None,
    runs: RunsCopy | None = None,
) -> list[dict[str, Any]]:
    """The runs and failed runs of each of the `days` days before today, and today's
    (queries/neon/run_failure_days.sql: failure_trend's runs, without its tool calls), from
    the local copy where it answers (`runs`)."""
    found = runs.failure_days(as_of, days + 1) if runs is not None else None
    if found is not None:
        return found
    if progress:
        progress("running neon/run_failure_days")
    return ws.run_query("neon/run_failure_days", as_of, days=days + 1).as_dicts()


def _metric_source(trigger: Trigger) -> str:
    """The source a metric trigger's figures come from."""
    assert trigger.metric is not None
    return "posthog" if trigger.metric.metric in ("trend", "funnel_conversion") else "neon"


def _figures(
    ws: Workspace, rule: Any, as_of: datetime, progress: Any, runs: RunsCopy | None = None
) -> Any:
    from usertrack.act.metric_alerts import evaluate

    return evaluate(ws, rule, as_of, progress, runs)


def _metric_alerts(
    ws: Workspace,
    trigger: Trigger,
    as_of: datetime,
    run: AlertRun,
    progress: Callable[[str], None] | None,
    ahead: Ahead,
) -> list[dict[str, Any]]:
    """A metric trigger's figure of the last complete window, judged (metric_alerts.judge)."""
    from usertrack.act.metric_alerts import describe

    rule = trigger.metric
    assert rule is not None
    source = _metric_source(trigger)
    if source not in ws.sources:
        name = "PostHog" if source == "posthog" else "Neon"
        run.notes.append(f"no {name} source: trigger {trigger.id} was skipped")
        return []
    key = ("metric", trigger.id)
    figures, verdict, notes = ahead.get(key, lambda: _figures(ws, rule, as_of, progress))
    run.notes.extend(f"trigger {trigger.id}: {note}" for note in notes)
    if verdict.note:
        run.notes.append(f"trigger {trigger.id} ({figures['window']}): {verdict.note}")
    if not verdict.fires:
        return []
    alert = _alert(ws, trigger, as_of, None, detail=describe(rule, figures))
    # One message per trigger and window: a later pass on the same window sends nothing again.
    alert["window"] = figures["window"]
    alert["cooldown_seconds"] = 86_400 if rule.window == "1d" else 7 * 86_400
    alert["metric"] = figures
    return [alert]


def record_segments(ws: Workspace, run: AlertRun) -> list[datetime]:
    """Keep the segments the pass classified in the history (the day-earlier ones too when it
    had to compute them), as a `segments` run keeps its own: the next pass compares with them
    and classifies once, not twice, and a user who entered is reported by the pass that saw
    it, not again by every pass of the next day. Only a run that sends, or `--save`, calls
    this, once its alerts are safely queued. Returns the moments saved."""
    from usertrack.act.alerts_segments import keep_alerted
    from usertrack.segments.history import open_history

    saved: list[datetime] = []
    if run.current is None:
        return saved
    with open_history(ws) as history:
        for moment in sorted(run.classified):
            if history.save(run.classified[moment]) is not None:
                saved.append(moment)
        keep_alerted(ws, run.current, history.fingerprint)
    return saved


def baseline_words(run: AlertRun) -> str | None:
    """What entered_segment compared with, for people: "entered a segment since 2026-11-15
    00:00 UTC (the segments one day earlier, worked out from the data)"; None when no segment
    trigger ran. Every format says it (the table's title, Markdown, stderr, Slack)."""
    if run.baseline is None:
        return None
    from usertrack.core.style import moment

    what = BASELINE_FROM[run.baseline["from"]]
    return f"entered a segment since {moment(run.baseline['as_of'])} ({what})"


def alerts_document(run: AlertRun) -> dict[str, Any]:
    baseline = None
    if run.baseline is not None:
        how = run.baseline["from"]
        baseline = {"as_of": run.baseline["as_of"], "from": how, "what": BASELINE_FROM[how]}
    return {
        "as_of": run.as_of,
        "rules": run.rules_path,
        # What entered_segment compared with (null when no segment trigger ran).
        "baseline": baseline,
        "alerts": [
            {k: a.get(k) for k in ALERT_FIELDS} | ({"metric": a["metric"]} if "metric" in a else {})
            for a in run.alerts
        ],
    }
