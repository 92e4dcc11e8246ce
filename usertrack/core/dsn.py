"""A PostgreSQL connection URL (DATABASE_URL) read as libpq reads it: whether it is malformed,
and the parts of it that are safe to name in a message. Never the password.

psycopg is imported inside each function: reading a URL costs nothing until one is read.
"""

from __future__ import annotations

import re
from typing import Any


def _conninfo_to_dict(dsn: str) -> dict[str, Any]:
    """libpq's reading of a DSN. `import psycopg` first, never `from psycopg.conninfo import`:
    a thread entering the package through a submodule while another runs `import psycopg` meets
    the half-initialised package, whose `__init__` and `conninfo` import each other: an
    ImportError. The top-level import waits for the other thread instead."""
    import psycopg

    return psycopg.conninfo.conninfo_to_dict(dsn)


def malformed_dsn(dsn: str) -> str | None:
    """Why libpq would misread DATABASE_URL, or None. The answer never quotes the URL.

    The URL is parsed twice: leniently (the password runs from `user:` to the last `@`, as a
    person writes it) and by libpq; when they disagree, a character of the password needed
    percent-encoding and libpq would connect to a wrong host (or fail quoting the password)."""
    from urllib.parse import unquote

    try:
        parts = _conninfo_to_dict(dsn)
    except Exception:
        return "libpq cannot parse it (a space or other special character not percent-encoded?)"
    m = re.match(r"\s*postgres(?:ql)?://(?P<rest>.*)", dsn, re.DOTALL)
    if not m:
        return None  # key=value form: libpq parsed it
    rest = m["rest"]
    first_at = rest.find("@")
    if first_at < 0:
        return None
    query = rest.find("?", first_at)
    authority = rest if query < 0 else rest[:query]
    at = authority.rfind("@")
    userinfo = authority[:at]
    if ":" in userinfo:
        user, password = userinfo.split(":", 1)
    else:
        user, password = userinfo, None
    if password is not None and unquote(password) != (parts.get("password") or ""):
        return "the password holds a character that must be percent-encoded (@ / : ? # or space)"
    if user and unquote(user) != (parts.get("user") or ""):
        return "the user name holds a character that must be percent-encoded"
    host = str(parts.get("host") or "")
    port = str(parts.get("port") or "")
    if "@" in host or (port and not re.fullmatch(r"[\d,]+", port)):
        return "the host or port cannot be read (a special character not percent-encoded?)"
    return None


def describe_dsn(dsn: str) -> str:
    """`host/dbname` of a DSN, for messages: never the user or password."""
    try:
        parts = _conninfo_to_dict(dsn)
    except Exception:
        return "PostgreSQL (unparsable DATABASE_URL)"
    host = str(parts.get("host") or "localhost")
    if host.startswith("/"):
        host = "local socket"
    return f"PostgreSQL {host}/{parts.get('dbname') or ''}".rstrip("/")


def dsn_without_password(dsn: str) -> str:
    """The parts of a DSN that say which database it is (host, port, dbname, user), as text."""
    import json

    try:
        parts = _conninfo_to_dict(dsn)
    except Exception:
        return "unparsable"  # keep no part that could hold the password
    keep = ("host", "hostaddr", "port", "dbname", "user")
    return json.dumps({k: str(parts[k]) for k in keep if parts.get(k)}, sort_keys=True)
