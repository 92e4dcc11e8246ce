"""Alerts to a Slack incoming webhook: Block Kit messages, a cooldown, and a queue that loses none.

State lives in `<USERTRACK_HOME>/alerts-outbox.json` (0600): `sent` maps "person:EMAIL" (a metric
alert's "trigger:window") to when it was last delivered (the cooldown: one message per person per
cooldown, a person's several triggers of a pass in one message), `queue` holds messages not yet
delivered, `dead` the messages Slack refused for good (a 400: see MESSAGE) or that waited longer
than the maximum age, with Slack's answer. A pass first queues its new alerts (written atomically),
then posts the queue; a message leaves the queue, and its key is stamped, only after Slack answered
2xx (or refused it for good: then it moves to `dead`), so a crash or an outage loses nothing and a
message is never posted twice on purpose. The webhook URL is a secret: it is never written there. A
damaged outbox is named (StateFileError, exit 8), never read as empty nor overwritten: `usertrack
alerts --reset-outbox` moves it aside.

Every message fits Block Kit's limits (DESIGN.md "Slack Block Kit limits"), however long the
values strangers wrote into PostHog: each value is cut to VALUE_CHARS, each text to its field's
limit, with an ellipsis; a link longer than Slack takes is left out and said so. Those values are
never markup: they go into `plain_text` objects, and the fallback `text` escapes `&`, `<` and
`>` with mrkdwn off; control, bidi and zero-width characters are shown as `\\x1b` and
`\\u202e`, as the terminal shows them (usertrack.core.style).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from usertrack.core import interrupts, pseudonyms, style
from usertrack.core.errors import StateFileError, redact

OUTBOX_FILE = "alerts-outbox.json"
ATTEMPTS = 4  # per message and pass: a 429 waits Retry-After, 5xx/timeouts back off
MAX_RETRY_AFTER = 60.0  # seconds: a longer Retry-After leaves the message for the next pass
POST_TIMEOUT = 5.0  # seconds for one post
# Seconds one pass may spend posting: under cron (a pass a minute) it ends well inside its
# minute; what is not sent by then stays queued for the next pass.
DEADLINE = 30.0
MAX_AGE = timedelta(hours=24)  # a message queued longer is dead-lettered as expired
DEAD_KEPT = 200  # the newest dead letters kept in the outbox
ANSWER_CHARS = 200  # of Slack's answer kept with a dead letter
# What a refused post means. A 4xx other than 429 never succeeds on retry. 400 (invalid_blocks,
# invalid_payload, no_text), 413 and 422 refuse this message: it becomes a dead letter and the
# queue goes on. The others (403 action_prohibited, 404 no_service or channel_not_found, 410
# channel_is_archived) refuse the webhook: every message would get the same answer, so they all
# stay queued (exit 5) until the webhook is fixed or they expire.
TRANSIENT, MESSAGE, WEBHOOK = "transient", "message", "webhook"
_MESSAGE_REFUSED = frozenset({400, 413, 422})

# Block Kit's limits (api.slack.com/reference/block-kit), counted in UTF-16 units (`length`).
SECTION_CHARS = 3000
HEADER_CHARS = 150
BUTTON_CHARS = 75
URL_CHARS = 3000
CONTEXT_CHARS = 2000  # one text element of a context block
ACTION_ELEMENTS = 25
MAX_BLOCKS = 50
FALLBACK_CHARS = 3000  # the top-level `text` (Slack cuts it at 40,000; a notification shows less)
VALUE_CHARS = 300  # one value from PostHog (a name, an email, a page) within a message
ELLIPSIS = "…"


def visible(value: Any) -> str:
    """A value on one line with its control characters shown (`\\x1b`), and its bidi and
    zero-width ones too (`\\u202e`): what the terminal shows (usertrack.core.style)."""
    from usertrack.core.style import terminal_text

    return terminal_text(str(value))


def length(text: str) -> int:
    """`text`'s length as Slack's limits are checked here: UTF-16 code units (an emoji beyond
    U+FFFF counts 2), never fewer than its characters, so a text within it fits either way."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def fit(text: str, limit: int) -> str:
    """`text` cut to at most `limit` (see `length`), an ellipsis marking the cut."""
    if length(text) <= limit:
        return text
    units = 0
    for n, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit - 1:
            return text[:n].rstrip() + ELLIPSIS
    return text


def value(raw: Any, limit: int = VALUE_CHARS) -> str:
    """One value from PostHog as text for a message: visible controls, at most `limit`."""
    return fit(visible(raw), limit)


def mrkdwn(text: Any) -> str:
    """Slack's mrkdwn escaping (only &, < and > are control characters there)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit_mrkdwn(text: str, limit: int) -> str:
    """Escaped mrkdwn cut to `limit` (see `length`) without splitting an entity (`&amp;`)."""
    if length(text) <= limit:
        return text
    cut = fit(text, limit)[:-1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + ELLIPSIS


def _duration(seconds: int | None) -> str:
    return "unknown" if seconds is None else style.duration(seconds)


def _ago(moment: Any, now: datetime) -> str:
    if not isinstance(moment, datetime):
        return "unknown"
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    minutes = max(0, int((now - moment).total_seconds() // 60))
    return "just now" if minutes == 0 else f"{minutes} minutes ago"


# Alerts about no person: a metric's figure, the day's run failures.
_NO_PERSON_KINDS = frozenset({"metric", "failures"})


def alert_person(alert: Mapping[str, Any]) -> str | None:
    """Who an alert is about (its email, else its distinct_id); None for a metric or failure
    alert."""
    if alert.get("kind") in _NO_PERSON_KINDS:
        return None
    who = alert.get("email") or alert.get("distinct_id")
    return str(who) if who else None


def alert_key(alert: Mapping[str, Any]) -> str:
    """`person:EMAIL`: the support notifications are rate limited per person (one per person
    per cooldown, whatever triggered it); a metric alert's is `trigger:window` (one message per
    window), the failure spike's `trigger:*`."""
    person = alert_person(alert)
    if person is not None:
        return f"person:{person}"
    return f"{alert['trigger']}:{alert.get('window') or '*'}"


def one_per_person(alerts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The pass's alerts with each person's several triggers made one alert: the first of them
    about their activity (else the first), naming every trigger in `triggers` (name, detail),
    in the pass's order. Alerts about no person are kept as they are."""
    out: list[Mapping[str, Any]] = []
    mine: dict[str, list[Mapping[str, Any]]] = {}
    for alert in alerts:
        person = alert_person(alert)
        if person is None:
            out.append(alert)
        elif person not in mine:
            mine[person] = [alert]
            out.append(alert)
        else:
            mine[person].append(alert)
    for n, alert in enumerate(out):
        person = alert_person(alert)
        several = mine.get(person) if person is not None else None
        if several is None or len(several) == 1:
            continue
        base = next((a for a in several if (a.get("kind") or "activity") == "activity"), alert)
        triggers = [[a["trigger_name"], a.get("detail") or ""] for a in several]
        out[n] = {**base, "triggers": triggers}
    return out


def _triggers(alert: Mapping[str, Any]) -> str:
    """ "Name (detail)" of the alert's trigger, or of each of a person's triggers, with "; "."""
    named = alert.get("triggers") or [[alert["trigger_name"], alert.get("detail") or ""]]
    return "; ".join(
        value(name) + (f" ({value(detail)})" if detail else "") for name, detail in named
    )


def _plain(text: str, limit: int) -> dict[str, Any]:
    """A plain_text object: shown as it is (no formatting, link, mention nor :emoji: code)."""
    return {"type": "plain_text", "text": fit(text, limit) or " ", "emoji": False}


def message(
    alert: Mapping[str, Any], as_of: datetime, app_url: str | None = None
) -> dict[str, Any]:
    """The in-app tracking plan's notification as Block Kit, with a plain-text fallback, in the
    shape of the alert's kind of trigger: a person's activity (page, time on it, the session's
    events and errors), a person who entered a segment (no page: the segment says why), or the
    failure spike (no person: the day's figures). Every piece of PostHog data is plain_text (or
    escaped in the fallback), cut to VALUE_CHARS: strangers write it, and Slack refuses a message
    past its limits. With --anonymize, people are their pseudonyms, before anything is cut, and
    there is no "View user" button (its link would name the person)."""
    anonymized = pseudonyms.active()
    if anonymized:
        pseudonyms.learn(["email", "name"], [(alert.get("email"), alert.get("name"))])
    alert = pseudonyms.anonymize_value(dict(alert))
    kind = alert.get("kind") or "activity"
    trigger = _triggers(alert)
    summary: list[str] = []
    if kind == "failures":
        header, title = "📉 Run failures stand out", "📉 Run failures stand out: "
        lines = [f"⚠️ Trigger: {trigger}"]
    elif kind == "metric":
        header, title = "📈 Metric alert", "📈 Metric alert: "
        lines = [f"⚠️ Trigger: {value(alert['trigger_name'])}", *_metric_lines(alert)]
    else:
        email = value(alert["email"]) if alert.get("email") else ""
        person = f"{value(alert['name'])} ({email})" if alert.get("name") else email
        plan = value(alert["plan"]) if alert.get("plan") else "unknown plan"
        lines = [f"👤 {person}", f"📊 Plan: {plan}"]
        if kind == "segment":
            header, title = "🧭 User entered a segment", "🧭 User entered a segment: "
            lines.append(f"⚠️ Trigger: {trigger}")
            summary = (
                [f"• Last active: {_ago(alert.get('last_active_at'), as_of)}"]
                if isinstance(alert.get("last_active_at"), datetime)
                else []
            )
            if alert.get("baseline"):  # what "entered" is measured from (our words, no data)
                summary.append(f"• Compared: {alert['baseline']}")
        else:
            header, title = "🚨 User Needs Support", "🚨 User needs support: "
            page = value(alert["current_page"]) if alert.get("current_page") else "unknown"
            lines += [
                f"📍 Current page: {page}",
                f"⏱️ Time on page: {_duration(alert.get('time_on_page_seconds'))}",
                f"⚠️ Trigger: {trigger}",
            ]
            summary = [
                f"• Events: {_count(alert.get('session_events'))} in this session,"
                f" {_count(alert.get('day_events'))} in the last 24 hours",
                f"• Errors: {_count(alert.get('session_errors'))} in this session,"
                f" {_count(alert.get('day_errors'))} in the last 24 hours",
                f"• Last active: {_ago(alert.get('last_active_at'), as_of)}",
            ]
    text = fit_mrkdwn(mrkdwn(title + "; ".join([*lines, *summary])), FALLBACK_CHARS)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(header, HEADER_CHARS)},
        {"type": "section", "text": _plain("\n".join(lines), SECTION_CHARS)},
    ]
    if summary:
        body = fit_mrkdwn(mrkdwn("\n".join(summary)), SECTION_CHARS - 30)
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*📈 Activity summary:*\n" + body,
                    "verbatim": True,
                },
            }
        )
    buttons: list[dict[str, Any]] = []
    left_out: list[str] = []
    if app_url and alert.get("email") and not anonymized:
        from urllib.parse import quote

        view = f"{app_url.rstrip('/')}/users/{quote(str(alert['email']), safe='@')}"
        _add_button(buttons, left_out, "View user", view, "view_user")
    if alert.get("posthog_url"):
        _add_button(buttons, left_out, "Open in PostHog", str(alert["posthog_url"]), "open_posthog")
    if buttons:
        blocks.append({"type": "actions", "elements": buttons[:ACTION_ELEMENTS]})
    if left_out:
        links = " and ".join(left_out)
        note = (
            f"{links[0].upper()}{links[1:]} left out: longer than the {URL_CHARS:,} characters"
            " Slack takes in a link"
        )
        blocks.append({"type": "context", "elements": [_plain(note, CONTEXT_CHARS)]})
    payload = {"text": text, "mrkdwn": False, "blocks": blocks[:MAX_BLOCKS]}
    return pseudonyms.anonymize_value(payload)  # type: ignore[no-any-return]


def _metric_lines(alert: Mapping[str, Any]) -> list[str]:
    """A metric alert's figures: the value, the threshold or range, the recent values (the
    chart's numbers, the judged window last). The event name is PostHog data: plain text."""
    from usertrack.act.metric_alerts import shown

    figures = alert.get("metric") or {}
    if not figures:
        return [value(alert.get("detail") or "")]
    lines = [f"📊 {value(figures['metric'])}, {figures['window']}: {shown(figures['value'])}"]
    if figures["condition"] == "below":
        lines.append(f"📏 Threshold: below {shown(figures['low'])}")
    elif figures["condition"] == "above":
        lines.append(f"📏 Threshold: above {shown(figures['high'])}")
    else:
        lines.append(
            f"📏 Usual range: {shown(figures['low'])} to {shown(figures['high'])}"
            f" ({figures.get('range') or 'the previous windows'})"
        )
    recent = ", ".join(f"{r['window']}: {shown(r['value'])}" for r in figures["recent"])
    lines.append(f"📈 Recent: {recent}")
    return lines


def _count(raw: Any) -> str:
    return str(raw) if isinstance(raw, int) else "0" if raw is None else value(raw, 20)


def _add_button(
    buttons: list[dict[str, Any]], left_out: list[str], label: str, url: str, action: str
) -> None:
    if length(url) > URL_CHARS:
        left_out.append(f"the {label} link")
        return
    buttons.append(
        {
            "type": "button",
            "text": _plain(label, BUTTON_CHARS),
            "url": url,
            "action_id": action,
        }
    )


# --------------------------------------------------------------------------------- the outbox


def _damaged(path: Path, what: str) -> StateFileError:
    return StateFileError(
        f"{path}: the alerts outbox is damaged: {what}; nothing is sent until it is moved aside",
        hint="usertrack alerts --reset-outbox moves it aside (as alerts-outbox.json.damaged-<UTC"
        " time>, its queued messages kept there) and starts an empty one",
    )


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_items(path: Path, name: str, items: Any, needs: tuple[str, ...]) -> list[Any]:
    if not isinstance(items, list):
        raise _damaged(path, f"'{name}' is {type(items).__name__}, not a list")
    for n, item in enumerate(items):
        where = f"'{name}' item {n + 1}"
        if not isinstance(item, dict):
            raise _damaged(path, f"{where} is {type(item).__name__}, not an object")
        if not isinstance(item.get("key"), str):
            raise _damaged(path, f"{where} has no text 'key'")
        if not isinstance(item.get("payload"), dict):
            raise _damaged(path, f"{where} has no 'payload' object")
        for stamp in needs:
            if _moment(item.get(stamp)) is None:
                raise _damaged(path, f"{where} has no ISO 8601 time '{stamp}'")
    return items


def _read(path: Path) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """The outbox's sent, queue and dead, checked; StateFileError naming what is wrong."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, [], []
    except (OSError, ValueError) as e:
        raise StateFileError(f"{path}: cannot read the alerts outbox: {e}") from None
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise _damaged(path, f"not JSON ({e})") from None
    if not isinstance(doc, dict):
        raise _damaged(path, f"a JSON {type(doc).__name__}, not an object")
    unknown = sorted(set(doc) - {"sent", "queue", "dead"})
    if unknown:
        raise _damaged(path, f"unknown key {unknown[0]!r}")
    sent = doc.get("sent", {})
    if not isinstance(sent, dict):
        raise _damaged(path, f"'sent' is {type(sent).__name__}, not an object")
    for key, when in sent.items():
        if _moment(when) is None:
            raise _damaged(path, f"'sent' of {key!r} is {when!r}, not an ISO 8601 time")
    queue = _check_items(path, "queue", doc.get("queue", []), ("queued_at",))
    dead = _check_items(path, "dead", doc.get("dead", []), ("dead_at",))
    return dict(sent), list(queue), list(dead)


def reset_outbox(home: Path, now: datetime) -> Path | None:
    """Move the outbox aside as `alerts-outbox.json.damaged-<UTC time>`; None when there is none."""
    path = home / OUTBOX_FILE
    if not path.exists():
        return None
    aside = path.with_name(f"{OUTBOX_FILE}.damaged-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}")
    n = 1
    while aside.exists():
        n += 1
        aside = aside.with_name(f"{OUTBOX_FILE}.damaged-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{n}")
    try:
        path.rename(aside)
    except OSError as e:
        raise StateFileError(f"{path}: cannot move the alerts outbox aside: {e}") from None
    return aside


# How long a sent alert's key is kept at least (longer when the cooldown is longer).
SENT_KEPT = timedelta(days=7)


@dataclass
class Outbox:
    path: Path
    sent: dict[str, str] = field(default_factory=dict)
    queue: list[dict[str, Any]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def open(cls, home: Path) -> Outbox:
        from usertrack.core.files import private_dir

        private_dir(home)
        path = home / OUTBOX_FILE
        sent, queue, dead = _read(path)
        return cls(path, sent, queue, dead)

    def save(self) -> None:
        from usertrack.rendering.output import write_atomic

        doc = {"sent": self.sent, "queue": self.queue, "dead": self.dead[-DEAD_KEPT:]}
        text = json.dumps(doc, indent=1, sort_keys=True)
        write_atomic(self.path, text + "\n", mode=0o600)

    def cooling(self, key: str, now: datetime, cooldown: timedelta) -> bool:
        last = _moment(self.sent.get(key))
        return last is not None and last > now - cooldown

    def enqueue(
        self,
        alerts: Iterable[Mapping[str, Any]],
        as_of: datetime,
        now: datetime,
        cooldown: timedelta,
        app_url: str | None = None,
    ) -> int:
        """Queue each alert not cooling down and not already queued; returns how many.

        A `sent` entry older than the cooldown (and a week) cools nothing any more: it is
        dropped, so the outbox does not grow with every person ever alerted."""
        horizon = now - max(cooldown, SENT_KEPT)
        self.sent = {k: v for k, v in self.sent.items() if (_moment(v) or now) > horizon}
        queued = {item["key"] for item in self.queue}
        added = 0
        for alert in one_per_person(alerts):
            key = alert_key(alert)
            # A metric alert cools for its window at least: once per trigger and window.
            cools = max(cooldown, timedelta(seconds=alert.get("cooldown_seconds") or 0))
            if key in queued or self.cooling(key, now, cools):
                continue
            payload = message(alert, as_of, app_url)
            self.queue.append({"key": key, "queued_at": now.isoformat(), "payload": payload})
            queued.add(key)
            added += 1
        return added

    def bury(self, item: dict[str, Any], why: str, now: datetime) -> None:
        """Move a queued message to the dead letters (saved at once). Its key starts the
        cooldown, as a delivery does: Slack would refuse it again on the next pass."""
        self.queue.remove(item)
        self.dead.append({**item, "dead_at": now.isoformat(), "why": why})
        self.sent[item["key"]] = now.isoformat()
        self.save()

    def expire(self, now: datetime, max_age: timedelta) -> list[str]:
        """Dead-letter the messages queued more than `max_age` ago; their keys."""
        old = [
            item for item in self.queue if (_moment(item.get("queued_at")) or now) < now - max_age
        ]
        for item in old:
            self.bury(item, f"expired: queued more than {_age(max_age)} ago", now)
        return [item["key"] for item in old]


def _age(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


@dataclass
class Delivery:
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # key -> why it stays queued
    dead: dict[str, str] = field(default_factory=dict)  # key -> why Slack will never take it
    left: int = 0  # queued messages not tried: the deadline came, or Slack refused the webhook
    refused: str = ""  # Slack's answer when it refused the webhook itself (404 no_service...)


def deliver(
    outbox: Outbox,
    url: str,
    now: datetime,
    *,
    timeout: float = POST_TIMEOUT,
    backoff: float = 1.0,
    deadline: float = DEADLINE,
    max_age: timedelta = MAX_AGE,
    progress: Callable[[str], None] | None = None,
) -> Delivery:
    """Post every queued message within `deadline` seconds; each 2xx is removed from the queue
    and saved at once, each 4xx but 429 moved to the dead letters. No post starts that could
    outlast the deadline: what is left stays queued for the next pass (`left`)."""
    import httpx

    from usertrack.core.config import register_webhook_secret

    register_webhook_secret(url)  # its path is the secret: an endpoint may echo it back
    done = Delivery()
    timeout = min(timeout, deadline)  # a short deadline still lets one post start
    for key in outbox.expire(now, max_age):
        done.dead[key] = "expired"
    ends = time.monotonic() + deadline
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        items = list(outbox.queue)
        for n, item in enumerate(items):
            if n > 0 and time.monotonic() + timeout > ends:  # the first post always starts
                done.left = len(items) - n
                break

            def record(item: dict[str, Any] = item) -> None:
                outbox.queue.remove(item)
                outbox.sent[item["key"]] = now.isoformat()
                outbox.save()
                done.sent.append(item["key"])

            outcome = _post(client, url, item["payload"], backoff, timeout, ends, record, progress)
            if outcome is None:
                continue
            why, kind = outcome
            if kind == MESSAGE:
                outbox.bury(item, why, now)
                done.dead[item["key"]] = why
                continue
            done.failed[item["key"]] = why
            if kind == WEBHOOK:  # every message would get the same answer: they stay queued
                done.refused = why
                done.left = len(items) - n - 1
                break
    return done


def _post(
    client: Any,
    url: str,
    payload: Any,
    backoff: float,
    timeout: float,
    ends: float,
    record: Callable[[], None],
    progress: Callable[[str], None] | None,
) -> tuple[str, str] | None:
    """None once Slack took it (and `record` ran); else (why not, TRANSIENT, MESSAGE or WEBHOOK)
    after ATTEMPTS tries, or sooner when the next try could not end before `ends`. A 4xx other
    than 429 is never retried: Slack gives the same answer every time. Ctrl-C waits while a post
    and its record are under way, never during the waits between tries."""
    import httpx

    from usertrack.engines.base import pause

    why = ""
    for attempt in range(ATTEMPTS):
        wait = backoff * 2**attempt
        try:
            with interrupts.held():
                response = client.post(url, json=payload)
                if 200 <= response.status_code < 300:
                    record()
                    return None
        except httpx.TimeoutException:
            why = "timed out"
        except httpx.HTTPError as e:
            why = f"{type(e).__name__}"
        else:
            why = f"HTTP {response.status_code}"
            if response.status_code == 429:
                retry = _retry_after(response.headers.get("Retry-After"))
                if retry is None or retry > MAX_RETRY_AFTER:
                    return f"{why} (Retry-After too long; kept for the next pass)", TRANSIENT
                wait = retry
            elif response.status_code < 500:
                # Redacted before it is cut too: an endpoint that echoes the webhook's path
                # must not leave a cut piece of it that no longer matches the secret.
                answer = fit(visible(redact(response.text)), ANSWER_CHARS)
                why = redact(f"{why} {answer}".rstrip())
                return why, MESSAGE if response.status_code in _MESSAGE_REFUSED else WEBHOOK
        if attempt + 1 >= ATTEMPTS:
            break
        if time.monotonic() + wait + timeout > ends:
            return f"{why} (the pass's deadline came; kept for the next pass)", TRANSIENT
        if progress is not None:
            progress(
                f"usertrack: Slack: {why}; trying again in {wait:g} s"
                f" (attempt {attempt + 2} of {ATTEMPTS})"
            )
        pause(wait)
    return why, TRANSIENT


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return None
