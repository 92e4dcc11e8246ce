"""`usertrack alerts` and `sync posthog`: the commands that act outside the machine
(Slack, PostHog), each with its dry run."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from usertrack.cli.context import check_as_of, command_workspace, open_command_workspace
from usertrack.cli.options import (
    DURATION,
    AsOfOpt,
    FormatOpt,
    OutOpt,
    QueriesOpt,
    RefreshOpt,
    SegmentsOpt,
)
from usertrack.cli.output import answer_console, choose_format, emit, info, probe_out, spinner, warn
from usertrack.cli.program import app, handle_errors
from usertrack.core.errors import ConfigError, UsageError
from usertrack.core.style import count, counted

if TYPE_CHECKING:
    from datetime import timedelta

    from usertrack.act.alerts_filters import PeopleFilter
    from usertrack.workspace import Workspace


AlertsOpt = Annotated[
    Path | None,
    typer.Option(
        "--alerts", help="Alert triggers file. Default: ./alerts.yaml, else the shipped one."
    ),
]
NotifyOpt = Annotated[
    str | None,
    typer.Option(
        "--notify",
        help="Send the alerts: slack (SLACK_WEBHOOK_URL). Default: none.",
        metavar="CHANNEL",
    ),
]
CooldownOpt = Annotated[
    str,
    typer.Option(
        "--cooldown",
        help="At most one Slack message per person per this, whatever triggered it.",
        metavar=DURATION,
    ),
]
PlanFilterOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--plan",
        help="Only people on this plan (the app's subscription status: trialing, active, ...);"
        " repeatable. Alerts about the whole project (metrics, failures) stay.",
        metavar="PLAN",
    ),
]
ActiveWithinOpt = Annotated[
    str | None,
    typer.Option(
        "--active-within",
        help="Only people whose last event is at most this long before --as-of (15m, 2h).",
        metavar=DURATION,
    ),
]
ActiveOpt = Annotated[
    bool,
    typer.Option(
        "--active",
        help="Instead of the alerts, everyone active in the rules' lookback (alerts.yaml"
        " lookback_minutes): their page, time on it, events, and the triggers that fired.",
    ),
]
AppUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--app-url",
        envvar="USERTRACK_APP_URL",
        help="Your admin app's base URL, for the View user button ({url}/users/{email}).",
        metavar="URL",
    ),
]


def _seconds(text: str, option: str) -> float:
    """'90', '90s', '10m' or '1h' as seconds."""
    from usertrack.act.alerts_filters import duration_seconds

    return duration_seconds(text, option)


def _slack_url() -> str:
    from usertrack.core.config import check_outgoing_url, setting
    from usertrack.core.errors import register_secret

    url, where = setting("SLACK_WEBHOOK_URL")
    if not url:
        raise ConfigError(
            "--notify slack needs an incoming webhook: set SLACK_WEBHOOK_URL, or webhook_url in"
            " [slack] of the config file",
            hint="Slack: Apps > Incoming Webhooks > Add New Webhook to Workspace",
        )
    register_secret(url)
    check_outgoing_url(url, where, insecure=os.environ.get("USERTRACK_INSECURE") == "1")
    return url


def _record_segments(ws: Workspace, run: Any) -> None:
    """Keep the alerts pass's segments in the history; a failure is a warning (the alerts are
    queued already), and says what it costs."""
    from usertrack.act.alerts import record_segments
    from usertrack.core.errors import DataError

    try:
        record_segments(ws, run)
    except DataError as e:
        hint = f" (hint: {e.hint})" if e.hint else ""
        warn(f"{e}; segments not kept: the next run compares with an older moment{hint}")


@app.command()
def alerts(
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    alerts_file: AlertsOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
    notify: NotifyOpt = None,
    cooldown: CooldownOpt = "10m",
    pending: Annotated[
        bool,
        typer.Option(
            "--pending", help="List the Slack messages still queued and the dead letters; stop."
        ),
    ] = False,
    reset_outbox: Annotated[
        bool,
        typer.Option(
            "--reset-outbox",
            help="Move a damaged Slack outbox aside (alerts-outbox.json.damaged-<UTC time>); stop.",
        ),
    ] = False,
    save: Annotated[
        bool | None,
        typer.Option(
            "--save/--no-save",
            help="Keep the pass's segments in the history (what 'entered segment' compares"
            " with next). Default: only with --notify, under the default rules file.",
        ),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="A pass every --every until Ctrl-C (exit 130).")
    ] = False,
    every: Annotated[
        str, typer.Option("--every", help="Time between --watch passes.", metavar=DURATION)
    ] = "60s",
    passes: Annotated[
        int | None, typer.Option("--passes", min=1, help="With --watch: stop after N passes.")
    ] = None,
    app_url: AppUrlOpt = None,
    plan: PlanFilterOpt = None,
    active_within: ActiveWithinOpt = None,
    active: ActiveOpt = False,
) -> None:
    """Who needs help now, and metrics past a threshold or out of range; --notify slack sends."""
    with handle_errors():
        import time
        from datetime import timedelta

        from usertrack.act.alerts import SEGMENT_EVERY_SECONDS, find_alerts, load_alert_rules
        from usertrack.act.alerts_filters import people_filter
        from usertrack.core.clock import parse_as_of
        from usertrack.core.config import resolve_alerts_file
        from usertrack.core.errors import DeliveryError
        from usertrack.segments.history import saves_by_default

        if notify is not None and notify != "slack":
            raise UsageError(f"--notify {notify!r} is not one of: slack")
        if reset_outbox:
            _reset_outbox()
            return
        if pending:
            _show_pending(fmt, out)
            return
        chosen = choose_format(fmt, out)
        if active and notify:
            raise UsageError("--active lists who is active and sends nothing: leave out --notify")
        people = people_filter(plan, active_within)
        if watch and out is not None:
            raise UsageError("--watch prints each pass; it does not take --out")
        wait = _seconds(every, "--every")
        sending = _Sending(
            pause_for=timedelta(seconds=_seconds(cooldown, "--cooldown")), app_url=app_url
        )
        moment = parse_as_of(as_of) if as_of else None
        rules = load_alert_rules(resolve_alerts_file(alerts_file))
        url = _slack_url() if notify else None
        probe_out(out)
        with spinner("loading rules and queries") as progress:
            ws = open_command_workspace(
                progress,
                queries_dir=queries_dir,
                segments_file=segments_file,
                refresh=refresh or watch,
            )
        if watch:
            import gc

            gc.enable()  # a pass every --every for hours: cycles must not pile up (see main)
        with ws:
            check_as_of(ws, moment)
            # Whether the passes keep their segments (a dry run keeps nothing).
            keep = save if save is not None else bool(url) and saves_by_default(ws)
            done = 0
            last_segments: float | None = None
            while True:
                started = time.perf_counter()
                skip: frozenset[str] = frozenset()
                recent = (
                    last_segments is not None and started - last_segments < SEGMENT_EVERY_SECONDS
                )
                if watch and recent:
                    skip = frozenset({"segment", "metric"})
                if "segment" not in skip:
                    last_segments = started
                # The same answer at a moment whatever other commands saved; a pass that keeps
                # its segments at the data's own moment compares with the last one that kept.
                run = find_alerts(
                    ws,
                    rules,
                    moment or ws.default_as_of(),
                    skip_kinds=skip,
                    reproducible=moment is not None,
                    keeps=keep,
                )
                for note in run.notes:
                    info(f"usertrack: {note}")
                if active:
                    _show_active(run, people, rules.params.get("lookback_minutes", 60), chosen, out)
                else:
                    _show_filtered(run, people, chosen, out)
                if url:
                    delivery = _send(ws, run, url, keep, sending)
                else:
                    delivery = _Delivery()
                    if keep:
                        _record_segments(ws, run)
                done += 1
                _say_pass(delivery, run, sending, url=url, keep=keep, watch=watch, pass_no=done,
                          started=started)  # fmt: skip
                if not watch or (passes is not None and done >= passes):
                    break
                from usertrack.engines.base import pause

                pause(wait)
            if url and not watch and delivery.failed:
                raise DeliveryError(
                    f"Slack did not take {counted(len(delivery.failed), 'message')};"
                    f" {delivery.queued}"
                    " stay queued (usertrack alerts --pending) and go out on the next --notify run"
                )


_LOCKED = "usertrack alerts --notify"


def _reset_outbox() -> None:
    """--reset-outbox: a damaged outbox moved aside, under the senders' lock."""
    from usertrack.act.slack import OUTBOX_FILE
    from usertrack.act.slack import reset_outbox as move_outbox_aside
    from usertrack.core.clock import now_utc
    from usertrack.core.config import load_settings
    from usertrack.core.locks import exclusive

    home = load_settings().home
    aside = None
    if (home / OUTBOX_FILE).exists():  # (no home yet: nothing to reset, nothing to lock)
        with exclusive(home, "alerts", what=_LOCKED):
            aside = move_outbox_aside(home, now_utc())
    # On stderr, as `sync posthog --reset-state` says what it moved: a note, not an answer.
    info(
        f"usertrack: moved the Slack outbox aside as {aside}; the next --notify run starts an"
        " empty one"
        if aside
        else "usertrack: no Slack outbox to reset"
    )


def _show_pending(fmt: str | None, out: Path | None) -> None:
    """--pending: the queued messages and the dead letters."""
    from usertrack.act.alerts_view import pending_document, pending_lines
    from usertrack.act.slack import Outbox
    from usertrack.core.config import load_settings

    shown_as = choose_format(fmt, out, ("table", "json"))
    outbox = Outbox.open(load_settings().home)
    if shown_as == "json":
        from usertrack.rendering.export import json_text

        emit(json_text(pending_document(outbox.queue, outbox.dead)), out)
        return
    for line in pending_lines(outbox.queue, outbox.dead):
        typer.echo(line)


def _show_filtered(run: Any, people: PeopleFilter, chosen: str, out: Path | None) -> None:
    """The alerts the filters keep (what left out, said on stderr), with their baseline."""
    from usertrack.act.alerts import baseline_words
    from usertrack.act.alerts_filters import narrow

    gone = narrow(run, people)
    if people:
        info(f"usertrack: only {people.described()}: left out {counted(gone, 'alert')}")
    since = baseline_words(run)
    if since:  # in every format: what "entered a segment" is measured from
        info(f"usertrack: segment triggers: {since}")
    _show_run(run, chosen, out)


def _show_active(
    run: Any, people: PeopleFilter, lookback: int, chosen: str, out: Path | None
) -> None:
    from usertrack.act.alerts_filters import active_people
    from usertrack.act.alerts_view import active_csv, active_json, active_markdown, render_active

    found = active_people(run, people)
    if people:
        gone = len(run.active) - len(found)
        info(f"usertrack: only {people.described()}: left out {counted(gone, 'person', 'persons')}")
    if chosen == "table":
        render_active(answer_console(), run, found, lookback)
    elif chosen == "json":
        emit(active_json(run, found, lookback), out)
    elif chosen == "csv":
        emit(active_csv(found), out)
    else:
        emit(active_markdown(run, found, lookback), out)


def _show_run(run: Any, chosen: str, out: Path | None) -> None:
    from usertrack.act.alerts_view import alerts_csv, alerts_json, alerts_markdown, render_alerts

    if chosen == "table":
        render_alerts(answer_console(), run)
    elif chosen == "json":
        emit(alerts_json(run), out)
    elif chosen == "csv":
        emit(alerts_csv(run), out)
    else:
        emit(alerts_markdown(run), out)


@dataclass
class _Sending:
    """How a pass sends: the cooldown, the View user button's base URL, the pass's deadline and
    a queued message's maximum age (docs/alerts-and-sync.md; the last two from the environment)."""

    pause_for: timedelta
    app_url: str | None
    deadline: float = field(init=False)
    max_age: timedelta = field(init=False)

    def __post_init__(self) -> None:
        from datetime import timedelta

        from usertrack.act.slack import DEADLINE, MAX_AGE

        self.deadline = _seconds(os.environ.get("USERTRACK_SLACK_DEADLINE") or f"{DEADLINE:g}",
                                 "USERTRACK_SLACK_DEADLINE")  # fmt: skip
        self.max_age = MAX_AGE
        if os.environ.get("USERTRACK_SLACK_MAX_AGE"):
            self.max_age = timedelta(
                seconds=_seconds(os.environ["USERTRACK_SLACK_MAX_AGE"], "USERTRACK_SLACK_MAX_AGE")
            )


@dataclass
class _Delivery:
    """What a pass's sending did (nothing, on a dry run)."""

    sent: int = 0
    queued: int = 0
    left: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    dead: dict[str, str] = field(default_factory=dict)
    refused: str = ""


def _send(ws: Workspace, run: Any, url: str, keep: bool, sending: _Sending) -> _Delivery:
    """The pass's alerts queued in the outbox, then delivered. One sender per home: a second
    run (an overlapping cron line) waits, then exits 10; it never posts what this one is posting."""
    from usertrack.act.slack import Outbox, deliver
    from usertrack.core.clock import now_utc
    from usertrack.core.locks import exclusive

    with exclusive(ws.settings.home, "alerts", what=_LOCKED):
        now = now_utc()
        outbox = Outbox.open(ws.settings.home)
        outbox.enqueue(run.alerts, run.as_of, now, sending.pause_for, sending.app_url)
        outbox.save()
        if keep:  # the alerts are queued: the segments they came from are kept
            _record_segments(ws, run)
        # USERTRACK_SLACK_BACKOFF: the first wait after a 5xx or a timeout (s).
        backoff = float(os.environ.get("USERTRACK_SLACK_BACKOFF") or 1.0)
        delivery = deliver(
            outbox,
            url,
            now,
            backoff=backoff,
            deadline=sending.deadline,
            max_age=sending.max_age,
            progress=info if sys.stderr.isatty() else None,  # a line per retry, on a terminal
        )
    return _Delivery(
        sent=len(delivery.sent),
        queued=len(outbox.queue),
        left=delivery.left,
        failed=delivery.failed,
        dead=delivery.dead,
        refused=delivery.refused,
    )


def _say_pass(
    delivery: _Delivery,
    run: Any,
    sending: _Sending,
    *,
    url: str | None,
    keep: bool,
    watch: bool,
    pass_no: int,
    started: float,
) -> None:
    """The pass's lines on stderr: what was sent and queued, or that nothing was."""
    import time

    from usertrack.core.clock import now_utc
    from usertrack.core.style import moment as shown

    if watch:
        typer.echo(
            f"{shown(now_utc())} pass {pass_no}: {counted(len(run.alerts), 'alert')},"
            f" {delivery.sent} sent, {delivery.queued} queued"
            f" ({time.perf_counter() - started:.2f} s)",
            err=True,
        )
    elif url:
        info(f"usertrack: sent {counted(delivery.sent, 'Slack message')}; {delivery.queued} queued")
        shown_failures = list(delivery.failed.items())
        for key, why in shown_failures[:5]:
            warn(f"{key}: not delivered ({why}); queued for the next run")
        if len(shown_failures) > 5:
            warn(f"… and {len(shown_failures) - 5} more not delivered")
    else:
        kept = "segments kept (--save)" if keep else "nothing recorded"
        info(f"usertrack: dry run: nothing sent, {kept} (add --notify slack to send)")
    if delivery.refused:
        warn(
            f"Slack refused the webhook ({delivery.refused}): check SLACK_WEBHOOK_URL; every"
            " message stays queued"
        )
    if delivery.left:
        warn(
            f"{counted(delivery.left, 'Slack message')} not tried: the pass reached its"
            f" {sending.deadline:g} s deadline (USERTRACK_SLACK_DEADLINE); they stay queued for"
            " the next run"
        )
    if delivery.dead:
        warn(
            f"{counted(len(delivery.dead), 'Slack message')} dead-lettered (Slack refused them"
            " for good or they expired); usertrack alerts --pending lists them"
        )


sync_app = typer.Typer(help="Write what usertrack knows back to other tools.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")


@sync_app.command("posthog")
def sync_posthog(
    apply: Annotated[
        bool, typer.Option("--apply", help="Send (POSTHOG_PROJECT_API_KEY). Default: a dry run.")
    ] = False,
    everyone: Annotated[
        bool, typer.Option("--all", help="Send every segmented user, changed or not.")
    ] = False,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="Changes listed.")] = 20,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=10_000, help="Users per post to the capture host."),
    ] = 1000,  # usertrack.act.sync DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE
    reset: Annotated[
        bool,
        typer.Option(
            "--reset-state",
            help="Move the sync state aside (posthog-sync.json.damaged-TIME); the next --apply"
            " sends every segmented user again.",
        ),
    ] = False,
) -> None:
    """Each user's segments to PostHog as person properties (dry run unless --apply)."""
    with handle_errors():
        from usertrack.act import sync
        from usertrack.core.clock import now_utc, parse_as_of
        from usertrack.core.errors import DeliveryError
        from usertrack.core.style import terminal_text

        if reset:
            from usertrack.core.config import load_settings

            moved = sync.reset_state(load_settings().home, now_utc())
            for old, new in moved:
                info(f"usertrack: moved {old} aside as {new.name}")
            if not moved:
                info("usertrack: no sync state to reset")
            return
        moment = parse_as_of(as_of) if as_of else None
        key = host = None
        if apply:  # configuration first: nothing is queried for a sync that cannot be sent
            key = sync.project_key()
            host, _ = sync.capture_host()
        result = None
        with command_workspace(moment, queries_dir=queries_dir, segments_file=segments_file,
                               refresh=refresh, status="loading rules and queries") as (
            ws, as_of_moment, progress
        ):  # fmt: skip
            if apply and key and host:
                sync.load_state(ws.settings.home)  # a damaged state stops before the queries
                facts = sync.gather(ws, as_of_moment, progress)
                plan, result = sync.apply_sync(
                    ws.settings.home,
                    facts,
                    now_utc(),
                    key=key,
                    host=host,
                    everyone=everyone,
                    batch_size=batch_size,
                    progress=progress,
                )
            else:
                plan = sync.plan_sync(ws, as_of_moment, everyone=everyone, progress=progress)
        summary = (
            f"{counted(len(plan.changes), 'user')} to send:"
            f" {count(plan.count('gaining'))} gaining segments,"
            f" {count(plan.count('changing'))} changing,"
            f" {count(plan.count('losing'))} losing every segment"
            + (f", {count(plan.count('unchanged'))} unchanged (--all)" if everyone else "")
            + f"; {count(len(plan.unknown))} skipped (PostHog has never seen them)"
            + f"; {count(len(plan.ambiguous))} skipped as ambiguous (several PostHog persons"
            " with the email, not one identified by the app)"
        )
        typer.echo(summary)
        if plan.resend:
            typer.echo(
                f"{counted(len(plan.resend), 'user')} of an interrupted sync to send first"
                " (the same events again)"
            )
        listed = [*plan.resend, *plan.changes]
        for change in listed[:limit]:
            before = ",".join(change.before) or "-"
            after = ",".join(change.after) or "-"
            email = terminal_text(change.email)
            typer.echo(
                f"  {change.kind:9} {email}  {terminal_text(before)} -> {terminal_text(after)}"
            )
        if len(listed) > limit:
            typer.echo(f"  … and {count(len(listed) - limit)} more")
        for email in plan.ambiguous[:limit]:
            typer.echo(f"  ambiguous {terminal_text(email)}  (skipped)")
        if len(plan.ambiguous) > limit:
            typer.echo(f"  … and {count(len(plan.ambiguous) - limit)} more ambiguous")
        if not apply:
            info("usertrack: dry run: nothing sent (add --apply to send)")
            return
        if result is None or (result.sent == 0 and not result.failed):
            info("usertrack: nothing to send")
            return
        again = f" ({result.resent} of them from an interrupted sync)" if result.resent else ""
        sent = counted(result.sent, "user")
        info(f"usertrack: sent person properties of {sent} to PostHog{again}")
        if result.failed:
            raise DeliveryError(
                f"PostHog did not take {counted(result.failed, 'user')}"
                f" ({result.errors[0] if result.errors else 'no answer'}); they stay pending"
                " and go first on the next --apply, as the same events"
            )
