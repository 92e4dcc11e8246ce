"""The errors usertrack raises, and the exit code each one means.

The core raises these; only the CLI turns them into a one-line message on stderr and an exit code.
Messages must never contain secrets: callers pass DSNs and keys through `redact()` first.
"""

from __future__ import annotations

import re

# Exit codes, documented in the README ("Exit codes").
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


class UsertrackError(Exception):
    """Base class: `str(err)` is the one-line message shown to the user."""

    exit_code: int = EXIT_INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(redact(message))
        self.hint = redact(hint) if hint else None


class UsageError(UsertrackError):
    exit_code = EXIT_USAGE


class SegmentsFileError(UsertrackError):
    """segments.yaml is malformed; the message names the file, line and segment."""

    exit_code = EXIT_USAGE


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


class HogQLTranslationError(QueryError):
    """HogQL the local engine cannot translate; the message names the construct."""


class DataError(UsertrackError):
    exit_code = EXIT_DATA


class CoverageError(UsertrackError):
    """The tracking plan's coverage is below --fail-under (the report was still written)."""

    exit_code = EXIT_COVERAGE


_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@"
)
_KV_PASSWORD = re.compile(r"(?i)\b(password|passwd|pwd)\s*=\s*('[^']*'|\S+)")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9_\-\.=]+")
_POSTHOG_KEY = re.compile(r"\bph[xc]_[A-Za-z0-9]{8,}")

_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret (an API key, a password): `redact` removes it wherever it appears."""
    if value and len(value) >= 4:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    """Remove passwords from URLs and key=value strings, bearer tokens and registered secrets."""
    if not text:
        return text
    for secret in sorted(_extra_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    text = _KV_PASSWORD.sub(lambda m: f"{m.group(1)}=***", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} ***", text)
    return _POSTHOG_KEY.sub("ph*_***", text)
