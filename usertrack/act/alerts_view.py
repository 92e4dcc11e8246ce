"""Support alerts as a terminal table (rich) and as json, csv or md. Only the CLI imports this.

Every data cell is plain text: names, pages and emails come from PostHog, written by strangers.
"""

from __future__ import annotations

import re
from typing import Any

from usertrack.act.alerts import ALERT_FIELDS, AlertRun, alerts_document, baseline_words
from usertrack.act.alerts_filters import ACTIVE_FIELDS
from usertrack.core import style
from usertrack.rendering.export import csv_text, json_text, md_table

_HEADERS = ("Email", "Name", "Plan", "Trigger", "Page", "On page", "Events", "Errors",
            "Last active")  # fmt: skip


def on_page(seconds: int | None) -> str:
    return "" if seconds is None else style.duration(seconds)


def _trigger(alert: dict[str, Any]) -> str:
    return alert["trigger"] + (f" ({alert['detail']})" if alert.get("detail") else "")


def _human_row(alert: dict[str, Any]) -> list[Any]:
    last = alert.get("last_active_at")
    return [
        alert.get("email") or "(all users)",
        alert.get("name") or "",
        alert.get("plan") or "",
        _trigger(alert),
        alert.get("current_page") or "",
        on_page(alert.get("time_on_page_seconds")),
        "" if alert.get("session_events") is None else style.count(alert["session_events"]),
        "" if alert.get("session_errors") is None else style.count(alert["session_errors"]),
        style.moment(last) if last is not None else "",
    ]


def _columns(why: str) -> list[Any]:
    """The terminal table's columns of a person alerted or active, `why` the fourth's title."""
    from usertrack.rendering.terminal import Col

    return [
        Col("Email"),
        Col("Name", drop=3),
        Col("Plan", drop=4),
        Col(why, wrap=True),
        Col("Page", drop=5),
        Col("On page", right=True, drop=6),
        Col("Events", right=True, drop=2),
        Col("Errors", right=True, drop=2),
        Col("Last active", drop=1),
    ]


def render_alerts(console: Any, run: AlertRun) -> None:
    from rich.text import Text

    from usertrack.rendering.terminal import fitted_table, plain

    since = baseline_words(run)
    heading = (
        f"{style.counted(len(run.alerts), 'alert')} as of {style.moment(run.as_of)}"
        f"  (rules: {run.rules_path})"
    )
    # The baseline on a line of its own under the count (each line plain text, never markup).
    lines = [heading, *([f"Segment triggers: {since}"] if since else [])]
    title = Text("\n").join(plain(line) for line in lines)
    if not run.alerts:
        console.print(f"No one needs help as of {style.moment(run.as_of)}.", markup=False)
        if since:
            console.print(f"Segment triggers: {since}.", markup=False)
        return
    cols = _columns("Trigger")
    rows = [_human_row(a) for a in run.alerts]
    console.print(fitted_table(console.width, cols, rows, title=title))


def alerts_json(run: AlertRun) -> str:
    """The text of `json.dumps(jsonable(document), indent=2)`, byte for byte, written by json's
    C encoder (export.json_text: the indented dump's pure-Python encoder takes most of the time
    of a few thousand alerts), then every character but printable ASCII escaped as the dump's
    ensure_ascii escapes it (only in strings: the layout is spaces and newlines)."""
    text = json_text(alerts_document(run))
    if text.isascii() and "\x7f" not in text:
        return text
    return _NOT_ASCII.sub(_escaped, text)


_NOT_ASCII = re.compile(r"[^\n -~]")


def _escaped(found: re.Match[str]) -> str:
    code = ord(found.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a surrogate pair, as json writes one
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"


def alerts_csv(run: AlertRun) -> str:
    return csv_text(ALERT_FIELDS, ([alert.get(k) for k in ALERT_FIELDS] for alert in run.alerts))


def alerts_markdown(run: AlertRun) -> str:
    head = f"# Support alerts as of {style.moment(run.as_of)}\n\n"
    since = baseline_words(run)
    if since:
        head += f"Segment triggers: {style.md_text(since)}.\n\n"
    if not run.alerts:
        return head + "No one needs help.\n"
    return head + md_table(list(_HEADERS), [_human_row(a) for a in run.alerts])


def pending_lines(queue: list[dict[str, Any]], dead: list[dict[str, Any]]) -> list[str]:
    """`alerts --pending`: each queued message (`key<TAB>queued TIME`), then each dead letter
    (`key<TAB>dead-lettered TIME: why`). Keys hold emails and Slack's answers any text: shown
    through `style.terminal_text`, never raw."""
    text = style.terminal_text
    lines = [
        f"{text(item['key'])}\tqueued {text(str(item.get('queued_at', '')))}" for item in queue
    ]
    if not queue:
        lines.append("No Slack message is queued.")
    if dead:
        lines.append(
            f"{style.counted(len(dead), 'dead letter')}: Slack refused them for good or they"
            " expired; they are not sent again:"
        )
        lines += [
            f"{text(item['key'])}\tdead-lettered {text(str(item.get('dead_at', '')))}:"
            f" {text(str(item.get('why', '')))}"
            for item in dead
        ]
    return lines


def pending_document(queue: list[dict[str, Any]], dead: list[dict[str, Any]]) -> dict[str, Any]:
    """`alerts --pending -f json`: the queued messages and the dead letters, without payloads."""
    return {
        "queued": [{"key": i["key"], "queued_at": i.get("queued_at")} for i in queue],
        "dead": [{"key": i["key"], "dead_at": i.get("dead_at"), "why": i.get("why")} for i in dead],
    }


# --------------------------------------------------------------------------------------------
# `alerts --active`: everyone active now, with whether they need help

_ACTIVE_HEADERS = ("Email", "Name", "Plan", "Needs help", "Page", "On page", "Events",
                   "Errors", "Last active")  # fmt: skip


def _active_row(person: dict[str, Any]) -> list[Any]:
    last = person.get("last_active_at")
    return [
        person["email"],
        person.get("name") or "",
        person.get("plan") or "",
        ", ".join(person["triggers"]) if person["needs_support"] else "no",
        person.get("current_page") or "",
        on_page(person.get("time_on_page_seconds")),
        "" if person.get("session_events") is None else style.count(person["session_events"]),
        "" if person.get("session_errors") is None else style.count(person["session_errors"]),
        style.moment(last) if last is not None else "",
    ]


def _active_heading(run: AlertRun, people: list[dict[str, Any]], lookback: int) -> str:
    helped = sum(1 for p in people if p["needs_support"])
    return (
        f"{style.counted(len(people), 'person', 'persons')} active in the {lookback} minutes to"
        f" {style.moment(run.as_of)}, {style.count(helped)} needing help"
    )


def render_active(console: Any, run: AlertRun, people: list[dict[str, Any]], lookback: int) -> None:
    from usertrack.rendering.terminal import fitted_table, plain

    heading = _active_heading(run, people, lookback)
    if not people:
        console.print(f"No one active in the {lookback} minutes to {style.moment(run.as_of)}.",
                      markup=False)  # fmt: skip
        return
    cols = _columns("Needs help")
    rows = [_active_row(p) for p in people]
    console.print(fitted_table(console.width, cols, rows, title=plain(heading)))


def active_document(run: AlertRun, people: list[dict[str, Any]], lookback: int) -> dict[str, Any]:
    return {
        "as_of": run.as_of,
        "rules": run.rules_path,
        "lookback_minutes": lookback,
        "people": [{k: p.get(k) for k in ACTIVE_FIELDS} for p in people],
    }


def active_json(run: AlertRun, people: list[dict[str, Any]], lookback: int) -> str:
    text = json_text(active_document(run, people, lookback))
    if text.isascii() and "\x7f" not in text:
        return text
    return _NOT_ASCII.sub(_escaped, text)


def active_csv(people: list[dict[str, Any]]) -> str:
    def cell(person: dict[str, Any], key: str) -> Any:
        value = person.get(key)
        return " ".join(value) if isinstance(value, list) else value

    return csv_text(ACTIVE_FIELDS, ([cell(p, k) for k in ACTIVE_FIELDS] for p in people))


def active_markdown(run: AlertRun, people: list[dict[str, Any]], lookback: int) -> str:
    head = f"# Active now as of {style.moment(run.as_of)}\n\n"
    if not people:
        return head + f"No one active in the {lookback} minutes.\n"
    return (
        head
        + _active_heading(run, people, lookback)
        + ".\n\n"
        + md_table(list(_ACTIVE_HEADERS), [_active_row(p) for p in people])
    )
