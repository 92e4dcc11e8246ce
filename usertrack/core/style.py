"""The house style of every output: how numbers, dates, names and lists are written, and how a
value from the data is made safe for the format it lands in. One place, so the terminal tables,
the json / csv / md files and the weekly report agree (docs/output.md, "Output style").

Two audiences:
- humans (terminal tables, Markdown, the weekly report): `1,234`, `42.5%`, `2026-11-21 04:59 UTC`,
  `2026-11-21`, lists joined with ", ", headers in sentence case ("Run count");
- machines (json, csv): plain numbers, ISO 8601 with `Z`, lists joined with ";" in csv, headers
  in snake_case.

Values come from strangers (anyone with a PostHog project's public token can send any email,
pathname or exception message), so they are never markup: `md_text` escapes Markdown, `csv_cell`
neutralises spreadsheet formulas, `terminal_text` makes control characters visible. This module
imports nothing heavy and nothing of rich.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from typing import Any

from usertrack.core.clock import naive_utc

LIST_SEP = ", "  # human formats
CSV_LIST_SEP = ";"  # csv cells holding a list
MISSING = ""  # an absent value in a human cell

# Columns whose values are percentages (0-100) already: shown with "%" to humans (a `share`
# column too: a part of all the rows, as a table's Share column shows it elsewhere).
PERCENT_SUFFIX = "_rate"
PERCENT_COLUMNS = frozenset(("share",))

# The first and last time of a failure range are read as days: "2026-11-09 to 2026-11-15".
DAY_COLUMNS = frozenset(
    ("first_seen", "last_seen", "first_failed_at", "last_failed_at", "first_failure",
     "last_failure")
)  # fmt: skip

# Words that keep their case in a sentence-case header.
_ACRONYMS = {"mcp": "MCP", "id": "ID", "ux": "UX", "url": "URL", "dau": "DAU", "api": "API",
             "posthog": "PostHog", "neon": "Neon"}  # fmt: skip
_UNITS = {"ms", "pp"}


# ---------------------------------------------------------------------------------- humans


def count(n: int) -> str:
    """1234 -> '1,234'."""
    return f"{n:,}"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """(1265, 'user') -> '1,265 users', (1, 'user') -> '1 user': never 'user(s)'."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def number(value: int | float | decimal.Decimal) -> str:
    """Counts with thousands separators, other numbers to one decimal: '1,234', '5.9'."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return count(value)
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return MISSING
    return f"{value:,.1f}"


def pct(value: float | decimal.Decimal | None) -> str:
    """A percentage (0-100) to one decimal, no space before the sign: '42.5%'."""
    if value is None:
        return "-"
    return f"{float(value):,.1f}%"


def percent(part: float, whole: float | None) -> float | None:
    """part of whole in percent to one place, as every rate of an answer is; None without one."""
    return round(100.0 * part / whole, 1) if whole else None


def share(part: float | None, whole: float | None) -> str:
    """part of whole as a percentage; '-' when there is no whole."""
    if not whole:
        return "-"
    return pct(100 * (part or 0) / whole)


def signed(n: int | float) -> str:
    """A change: '+1,234', '-3', '0'."""
    text = number(n)
    return f"+{text}" if n > 0 else text


def moment(value: dt.datetime) -> str:
    """A timestamp for humans: '2026-11-21 04:59 UTC'."""
    return naive_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def span(start: dt.datetime, end: dt.datetime) -> str:
    """A range for humans, its last day included, as the weekly report writes its week: whole
    days as the days they hold, '2026-10-26 to 2026-11-24 (UTC)' (one day: '2026-11-24 (UTC)');
    a range with a time of day as its moments, '2026-11-13 12:00 UTC to 2026-11-14 12:00 UTC'.
    The same whichever way its end is held: an end at 00:00 (JSON's `to`, which the range
    holds up to and not at) and one at a minute's last second (23:59:59, as --until DATE or a
    range cut before its last instant) are one range."""
    first, last = naive_utc(start), naive_utc(end)
    if last.second == 59:
        last = last.replace(microsecond=0) + dt.timedelta(seconds=1)
    midnight = dt.time(0, 0)
    if first.time() == midnight and last.time() == midnight and last > first:
        final = last - dt.timedelta(days=1)
        days = day(first) if final == first else f"{day(first)} to {day(final)}"
        return f"{days} (UTC)"
    return f"{moment(first)} to {moment(last)}"


def duration(seconds: float | None) -> str:
    """A duration for humans, the one way every output writes one (terminal, Markdown, HTML,
    chart labels, Slack): '45s', '12m', '3.5h', '14d'; '-' for none. JSON and csv keep the
    seconds as numbers."""
    if seconds is None:
        return "-"
    s = float(seconds)
    # Each unit up to where its rounded figure would read as the next one ('60s', '60m',
    # '24.0h'): 59.6 seconds is '1m'.
    if s < 59.5:
        return f"{s:.0f}s"
    if s < 59.5 * 60:
        return f"{s / 60:.0f}m"
    for unit, size in (("h", 3600), ("d", 86400)):
        value = s / size
        if unit == "d" or value < 23.95:
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    raise AssertionError("unreachable")


def day(value: dt.date | dt.datetime) -> str:
    """A date alone: '2026-11-21' (a timestamp's UTC date)."""
    if isinstance(value, dt.datetime):
        value = naive_utc(value)
    return value.strftime("%Y-%m-%d")


def human(value: Any, column: str | None = None) -> str:
    """Any value as a human cell; `column` names it (a '*_rate' or 'share' column is a
    percentage)."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, decimal.Decimal)):
        if column is not None and (column.endswith(PERCENT_SUFFIX) or column in PERCENT_COLUMNS):
            return pct(value)
        if isinstance(value, int) and column is not None and _is_label(column):
            return str(value)  # an id or a year is a name, not a quantity: no separators
        return number(value)
    if isinstance(value, dt.datetime):
        return day(value) if column in DAY_COLUMNS else moment(value)
    if isinstance(value, dt.date):
        return day(value)
    if isinstance(value, (list, tuple)):
        return LIST_SEP.join(human(v) for v in value if v is not None)
    return str(value)


def _is_label(column: str) -> bool:
    name = column.lower()
    return name in ("id", "year") or name.endswith(("_id", "_year"))


def human_header(name: str) -> str:
    """A column name in sentence case: 'run_count' -> 'Run count', 'mcp_servers' -> 'MCP
    servers'."""
    words = [w for w in re.split(r"[_\s]+", name.strip()) if w]
    out = []
    for i, word in enumerate(words):
        low = word.lower()
        if low in _ACRONYMS:
            out.append(_ACRONYMS[low])
        elif low in _UNITS or (word != low and word != word.capitalize()):
            out.append(word)  # a unit, or mixed case someone chose (e.g. "HubSpot")
        else:
            out.append(low.capitalize() if i == 0 else low)
    return " ".join(out)


# -------------------------------------------------------------------------------- machines


def iso(value: dt.datetime | dt.date) -> str:
    """A timestamp for machines: ISO 8601 in UTC with 'Z'; a date as 'YYYY-MM-DD'."""
    if isinstance(value, dt.datetime):
        return naive_utc(value).isoformat(timespec="seconds") + "Z"
    return value.isoformat()


def machine_header(name: str) -> str:
    """A column name in snake_case: 'Run count' -> 'run_count'."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# One line break of a csv cell's text: CRLF, CR, LF, and Unicode's line and paragraph separators.
_CSV_LINE_BREAK = re.compile("\r\n|[\r\n\u2028\u2029]")


def csv_cell(value: Any) -> str:
    """A value as a csv cell: machine form; text that a spreadsheet would run as a formula gets
    a leading "'" (what spreadsheet exports do). Numbers stay numbers, negative ones too.

    A line break (CRLF, a bare CR, LF, U+2028, U+2029) is written as LF: the csv writers end
    rows with LF, so Python's writer quotes any cell holding one and the break stays inside its
    cell (Python's writer leaves a bare CR unquoted, and spreadsheets start a new row at it).
    Every line of a multi-line value is neutralised as a first line is, for readers that split
    lines before they read quotes. Control and invisible characters other than tab are shown as
    the terminal shows them (`\\x1b`, `\\u202e`; `\\x0b`, `\\x0c`, `\\x1c` and `\\x85` too, which
    some readers take for line breaks): `cat` of a csv must not drive the terminal."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, decimal.Decimal)):
        return str(value)
    if isinstance(value, float):  # every digit, as json writes it (":g" would round to 6)
        return "" if math.isnan(value) or math.isinf(value) else repr(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return iso(value)
    if isinstance(value, (list, tuple)):
        text = CSV_LIST_SEP.join(
            str(iso(v) if isinstance(v, (dt.datetime, dt.date)) else v)
            for v in value
            if v is not None
        )
    else:
        text = str(value)
    lines = _CSV_LINE_BREAK.split(text)
    return "\n".join(_csv_line(_visible_controls(line, _CSV_HIDDEN)) for line in lines)


def _csv_line(line: str) -> str:
    return "'" + line if line.startswith(_FORMULA_START) else line


# ---------------------------------------------------------------------------- safe as text


class Markdown(str):
    """Text that is Markdown already, written by usertrack itself (a table, a code span, a
    formatted metric): `md_text` passes it through instead of escaping it."""

    __slots__ = ()


# Everything that can start a link, an image, HTML, emphasis, code, a table cell or an entity.
# "_" only where it can open or close emphasis: inside a word (an email's "ann_lee") it cannot.
_MD_SPECIAL = re.compile(r"([\\`*{}\[\]()<>#!|~&]|(?<![^\W_])_|_(?![^\W_]))")
# Line feeds, carriage returns, and Unicode's line and paragraph separators (some terminals and
# Slack break lines at those too).
_LINE_BREAKS = re.compile("[\r\n\u2028\u2029]+")


def _joined_lines(text: str, sep: str) -> str:
    """Each run of line breaks, with the whitespace around it, as `sep`. Linear in the text: a
    regex `\\s*[\\r\\n]+\\s*` rescans a run of spaces from each of its positions (a stranger's
    16,000 spaces took 3 s)."""
    if not _LINE_BREAKS.search(text):
        return text
    parts = _LINE_BREAKS.split(text)
    last = len(parts) - 1
    kept = [parts[0].rstrip()]
    kept += [p.strip() for p in parts[1:last] if p.strip()]
    kept.append(parts[last].lstrip())
    return sep.join(kept)


def md_text(value: Any, column: str | None = None) -> str:
    """A value as inline Markdown text that renders as exactly that text: no link, image, HTML,
    emphasis or table break can come out of it, and no bare URL GitHub would link
    (`https[:]//…`, `www[.]…`). Newlines become spaces; control and bidi characters are shown as
    in the terminal (`\\x1b`, `\\u202e`): `--format md` is often read in one."""
    if isinstance(value, Markdown):
        return value
    text = value if isinstance(value, str) else human(value, column)
    text = _MD_SPECIAL.sub(r"\\\1", _visible_controls(_joined_lines(text, " ")))
    return _defanged(text)


# What GitHub's Markdown turns into a link without any markup (GFM's extended autolinks): a
# scheme's "://" (http, https, ftp), "www.", and the "mailto:" / "xmpp:" protocols. Defanged as
# security write-ups do ("https[:]//evil.example", "www[.]evil.example"), after md escaping, so
# the brackets are literal. An email address stays as it is: GitHub links it to mailto:, which
# opens a mail to that address and no page.
# Bounded repeats: a stranger's "a.a.a.…" must not be rescanned from each of its positions.
_AUTOLINK = re.compile(
    r"(?i)(?<![\w.+-])(www)\.(?=[\w-])|\b([a-z][a-z0-9+.-]{0,31}):(?=//|[^\s:]{0,256}@)"
)


def _defanged(text: str) -> str:
    return _AUTOLINK.sub(lambda m: f"{m[1]}[.]" if m[1] else f"{m[2]}[:]", text)


def md_code(text: str) -> Markdown:
    """`text` as a Markdown code span, fenced with more backticks than it holds."""
    text = _visible_controls(_joined_lines(text, " "))
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Markdown(f"{fence}{pad}{text}{pad}{fence}")


# C0 and C1 control characters but tab and newline (an ESC in a value could otherwise drive
# the terminal: colours, titles, OSC 8 hyperlinks), and the characters that are invisible but
# reorder or hide text ("Trojan Source", CVE-2021-42574): bidi embeddings, overrides and
# isolates, directional marks, zero-width ones. A U+202E in a name turns "gpj.exe" around on
# screen; they are shown as `\u202e`.
_INVISIBLE = "\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_HIDDEN = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_INVISIBLE}]")
# In a csv cell's line (its line breaks are split off first), tab is data the csv quoting keeps;
# every other control is shown, so is a line or paragraph separator left in a line.
_CSV_HIDDEN = re.compile(f"[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f\\u2028\\u2029{_INVISIBLE}]")


def terminal_text(text: str, *, one_line: bool = True) -> str:
    """Text safe to write to a terminal: control characters shown as '\\x1b', bidi and
    zero-width ones as '\\u202e'; with `one_line`, line breaks shown as ' ⏎ ' so a value keeps to
    its row."""
    if one_line:
        text = _joined_lines(text, " ⏎ ")
    return _visible_controls(text.replace("\t", " "))


def _visible_controls(text: str, pattern: re.Pattern[str] = _HIDDEN) -> str:
    return pattern.sub(_shown, text)


def _shown(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def jsonable(value: Any) -> Any:
    """A value JSON can hold as is; naive datetimes are UTC."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value
