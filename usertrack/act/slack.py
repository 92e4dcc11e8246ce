"""Alerts to a Slack incoming webhook: Block Kit messages, a cooldown, and a queue that loses none.

State lives in `<USERTRACK_HOME>/alerts-outbox.json` (0600): `sent` maps "trigger:person" to when
it was last delivered (the cooldown), `queue` holds messages not yet delivered. A pass first
queues its new alerts (written atomically), then posts the queue; a message leaves the queue, and
its key is stamped, only after Slack answered 2xx, so a crash or an outage loses nothing and a
message is never posted twice on purpose. The webhook URL is a secret: it is never written there.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from usertrack.errors import DeliveryError

OUTBOX_FILE = "alerts-outbox.json"
ATTEMPTS = 4  # per message and pass: a 429 waits Retry-After, 5xx/timeouts back off
MAX_RETRY_AFTER = 60.0  # seconds: a longer Retry-After leaves the message for the next pass


def mrkdwn(text: Any) -> str:
    """Slack's mrkdwn escaping (only &, < and > are control characters there)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "unknown"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {secs}s"


def _ago(moment: Any, now: datetime) -> str:
    if not isinstance(moment, datetime):
        return "unknown"
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    minutes = max(0, int((now - moment).total_seconds() // 60))
    return "just now" if minutes == 0 else f"{minutes} minutes ago"


def alert_key(alert: Mapping[str, Any]) -> str:
    return f"{alert['trigger']}:{alert.get('email') or alert.get('distinct_id') or '*'}"


def message(
    alert: Mapping[str, Any], as_of: datetime, app_url: str | None = None
) -> dict[str, Any]:
    """Seed 004's notification as Block Kit, with a plain-text fallback, in the shape of the
    alert's kind of trigger: a person's activity (page, time on it, the session's events and
    errors), a person who entered a segment (no page: the segment says why), or the failure spike
    (no person: the day's figures). Every piece of PostHog data is plain_text or escaped mrkdwn:
    strangers write it."""
    kind = alert.get("kind") or "activity"
    trigger = alert["trigger_name"] + (f" ({alert['detail']})" if alert.get("detail") else "")
    if kind == "failures":
        header, title = "📉 Run failures stand out", "📉 Run failures stand out: "
        lines = [f"⚠️ Trigger: {trigger}"]
        summary: list[str] = []
    else:
        who = alert.get("name") or alert.get("email") or ""
        person = f"{alert['name']} ({alert['email']})" if alert.get("name") else who
        lines = [f"👤 {person}", f"📊 Plan: {alert.get('plan') or 'unknown plan'}"]
        if kind == "segment":
            header, title = "🧭 User entered a segment", "🧭 User entered a segment: "
            lines.append(f"⚠️ Trigger: {trigger}")
            summary = (
                [f"• Last active: {_ago(alert.get('last_active_at'), as_of)}"]
                if isinstance(alert.get("last_active_at"), datetime)
                else []
            )
        else:
            header, title = "🚨 User Needs Support", "🚨 User needs support: "
            lines += [
                f"📍 Current page: {alert.get('current_page') or 'unknown'}",
                f"⏱️ Time on page: {_duration(alert.get('time_on_page_seconds'))}",
                f"⚠️ Trigger: {trigger}",
            ]
            summary = [
                f"• Events in session: {alert.get('session_events') or 0}",
                f"• Errors: {alert.get('session_errors') or 0}",
                f"• Last active: {_ago(alert.get('last_active_at'), as_of)}",
            ]
    text = mrkdwn(title + "; ".join([*lines, *summary]))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn("\n".join(lines))[:3000]}},
    ]
    if summary:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*📈 Activity summary:*\n" + mrkdwn("\n".join(summary)),
                },
            }
        )
    buttons = []
    if app_url and alert.get("email"):
        from urllib.parse import quote

        view = f"{app_url.rstrip('/')}/users/{quote(str(alert['email']), safe='@')}"
        buttons.append(_button("View user", view, "view_user"))
    if alert.get("posthog_url"):
        buttons.append(_button("Open in PostHog", alert["posthog_url"], "open_posthog"))
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return {"text": text, "blocks": blocks}


def _button(label: str, url: str, action: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "url": url,
        "action_id": action,
    }


@dataclass
class Outbox:
    path: Path
    sent: dict[str, str] = field(default_factory=dict)
    queue: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def open(cls, home: Path) -> Outbox:
        from usertrack.workspace import private_dir

        private_dir(home)
        path = home / OUTBOX_FILE
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as e:
            raise DeliveryError(f"{path}: cannot read the alerts outbox: {e}") from None
        return cls(path, dict(doc.get("sent", {})), list(doc.get("queue", [])))

    def save(self) -> None:
        from usertrack.rendering.output import write_atomic
        from usertrack.workspace import private_file

        text = json.dumps({"sent": self.sent, "queue": self.queue}, indent=1, sort_keys=True)
        write_atomic(self.path, text + "\n")
        private_file(self.path)

    def cooling(self, key: str, now: datetime, cooldown: timedelta) -> bool:
        last = self.sent.get(key)
        return last is not None and datetime.fromisoformat(last) > now - cooldown

    def enqueue(
        self,
        alerts: Iterable[Mapping[str, Any]],
        as_of: datetime,
        now: datetime,
        cooldown: timedelta,
        app_url: str | None = None,
    ) -> int:
        """Queue each alert not cooling down and not already queued; returns how many."""
        queued = {item["key"] for item in self.queue}
        added = 0
        for alert in alerts:
            key = alert_key(alert)
            if key in queued or self.cooling(key, now, cooldown):
                continue
            payload = message(alert, as_of, app_url)
            self.queue.append({"key": key, "queued_at": now.isoformat(), "payload": payload})
            queued.add(key)
            added += 1
        return added


@dataclass
class Delivery:
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # key -> why it stays queued


def deliver(
    outbox: Outbox, url: str, now: datetime, *, timeout: float = 10.0, backoff: float = 1.0
) -> Delivery:
    """Post every queued message; each 2xx is removed from the queue and saved at once."""
    import httpx

    from usertrack.sources.base import pause

    done = Delivery()
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for item in list(outbox.queue):

            def record(item: dict[str, Any] = item) -> None:
                outbox.queue.remove(item)
                outbox.sent[item["key"]] = now.isoformat()
                outbox.save()
                done.sent.append(item["key"])

            why = _post(client, url, item["payload"], backoff, pause, record)
            if why is not None:
                done.failed[item["key"]] = why
    return done


@contextlib.contextmanager
def _ctrl_c_after() -> Iterator[None]:
    """Hold Ctrl-C until the block is over (then raise it), so an interrupted watch never leaves a
    message posted but still queued (sent again next run). Main thread only; elsewhere a no-op."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _post(
    client: Any, url: str, payload: Any, backoff: float, pause: Any, record: Any
) -> str | None:
    """None once Slack took it (and `record` ran); else why not, after ATTEMPTS tries. Ctrl-C
    waits while a post and its record are under way, never during the waits between tries."""
    import httpx

    why = ""
    for attempt in range(ATTEMPTS):
        try:
            with _ctrl_c_after():
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
                wait = _retry_after(response.headers.get("Retry-After"))
                if wait is None or wait > MAX_RETRY_AFTER:
                    return f"{why} (Retry-After too long; kept for the next pass)"
                if attempt + 1 < ATTEMPTS:
                    pause(wait)
                continue
            if response.status_code < 500:
                return why  # 4xx: retrying the same message now will not help
        if attempt + 1 < ATTEMPTS:
            pause(backoff * 2**attempt)
    return why


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return None
