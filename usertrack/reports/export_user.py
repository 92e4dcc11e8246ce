"""`usertrack user EMAIL --export FILE`: everything usertrack holds and shows about one person.

One JSON document, for a person's request to see their data:
- `posthog`: their persons (every property, every distinct_id: posthog/user_persons) and every
  event up to the moment, every property (posthog/user_event_page, paged by the file's LIMIT,
  10,000 as shipped: PostHog caps a LIMIT at 50,000 rows, and a total order of timestamp and
  uuid keeps pages from overlapping; at most MAX_EVENTS, and `capped` says when more were left);
- `app`: their rows, whole, from every table the query files read (neon/user_rows);
- `usertrack`: what usertrack computes and keeps about them: the profile and segments `user`
  shows, each history snapshot that names them, the entries of the local state files (alert
  copies, outbox, sync state) that name them, and the cache files that can hold their rows.

The email is always a bound value; the database is read in read-only transactions, as every
query file is. The document is written atomically, owner-only (0600).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import QueryFileError

if TYPE_CHECKING:
    from pathlib import Path

    from usertrack.reports.failures import FailureRules
    from usertrack.workspace import Progress, Workspace

EVENT_PAGES = "posthog/user_event_page"  # its LIMIT is the page size
MAX_EVENTS = 500_000  # 50 pages of 10,000: a bound on what one export asks of PostHog
# The files under USERTRACK_HOME that can name a person (docs/alerts-and-sync.md).
STATE_FILES = {
    "alerts-segments.json": "the alerts' copy of who was in which segment",
    "alerts-outbox.json": "alert messages waiting to be sent",
    "posthog-sync.json": "what `sync posthog` sent to PostHog",
}
# The caches that can hold a person's rows without naming them in a file one can search
# (docs/caches.md).
CACHE_GLOBS = {
    "cache/*.pickle": "answers of PostHog and the database, kept for the cache's TTL",
    "cache/store/*": "answers kept beside an events store",
    "cache/app-mirror/*.duckdb": "the local copy of the app's tables (their app rows)",
    "events/*.duckdb": "an imported events export (their events)",
}


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def person_events(
    ws: Workspace, email: str, as_of: datetime, progress: Progress | None = None
) -> dict[str, Any]:
    """Every event of the person up to `as_of`, page after page until a short one."""
    import re

    found = re.search(r"\bLIMIT\s+(\d+)\s+OFFSET\b", ws.library.get(EVENT_PAGES).sql, re.I)
    if found is None:
        raise QueryFileError(
            f"{EVENT_PAGES}: its SELECT must end with LIMIT <page size> OFFSET {{offset}}"
        )
    page_size = int(found.group(1))
    rows: list[dict[str, Any]] = []
    offset = 0
    capped = False
    while True:
        if progress:
            progress(f"reading events {offset:,} to {offset + page_size:,}")
        page = ws.run_query(EVENT_PAGES, as_of, email=email, offset=offset)
        for r in page.as_dicts():
            r["properties"] = _json_or_text(r["properties"])
            rows.append(r)
        if len(page.rows) < page_size:
            break
        offset += page_size
        if offset >= MAX_EVENTS:
            capped = True
            break
    return {"count": len(rows), "capped": capped, "rows": rows}


def person_records(ws: Workspace, email: str, as_of: datetime) -> list[dict[str, Any]]:
    persons = ws.run_query("posthog/user_persons", as_of, email=email).as_dicts()
    for p in persons:
        p["properties"] = _json_or_text(p["properties"])
        p["distinct_ids"] = list(p["distinct_ids"] or [])
    return persons


def app_rows(ws: Workspace, email: str, as_of: datetime) -> dict[str, list[Any]]:
    tables: dict[str, list[Any]] = {}
    for r in ws.run_query("neon/user_rows", as_of, email=email).as_dicts():
        tables.setdefault(r["table_name"], []).append(_json_or_text(r["row"]))
    return tables


def history_entries(ws: Workspace, email: str) -> list[dict[str, Any]]:
    """Each saved snapshot that names the person: its moment, their segments and primary one.
    Read only when the history file exists (an export never creates one)."""
    from usertrack.segments.history import history_path, open_history

    if not history_path(ws.settings.home).exists():
        return []
    out = []
    with open_history(ws) as history:
        for moment in history.moments():
            snap = history.load(moment)
            if snap is not None and email in snap.members:
                out.append(
                    {
                        "as_of": snap.as_of,
                        "segments": list(snap.members[email]),
                        "primary": snap.primary.get(email),
                    }
                )
    return out


def _naming(doc: Any, email: str, path: str = "") -> list[dict[str, Any]]:
    """The parts of a JSON document that name `email`: an object's entry keyed by it, or a
    list or object holding it as a value (the smallest such part, with its path)."""
    found: list[dict[str, Any]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            where = f"{path}/{key}"
            if str(key).strip().lower() == email:
                found.append({"path": where, "value": value})
            elif _holds(value, email) and not isinstance(value, (dict, list)):
                found.append({"path": path, "value": doc})
                break
            else:
                found.extend(_naming(value, email, where))
    elif isinstance(doc, list):
        for n, value in enumerate(doc):
            if isinstance(value, (dict, list)):
                found.extend(_naming(value, email, f"{path}/{n}"))
            elif _holds(value, email):
                found.append({"path": path, "value": doc})
                break
    return found


def _holds(value: Any, email: str) -> bool:
    return isinstance(value, str) and value.strip().lower() == email


def local_state(home: Path, email: str) -> list[dict[str, Any]]:
    """The entries of usertrack's state files that name the person, file by file."""
    out: list[dict[str, Any]] = []
    for name, what in STATE_FILES.items():
        path = home / name
        if not path.is_file():
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            out.append({"file": str(path), "what": what, "unreadable": str(e).splitlines()[0]})
            continue
        entries = _naming(doc, email)
        if entries:
            out.append({"file": str(path), "what": what, "entries": entries})
    return out


def cache_files(home: Path) -> list[dict[str, Any]]:
    """The cache files that can hold the person's rows (`usertrack cache clear` removes them)."""
    out = []
    for pattern, what in CACHE_GLOBS.items():
        files = sorted(p for p in home.glob(pattern) if p.is_file())
        if files:
            out.append({"files": pattern, "count": len(files), "what": what})
    return out


def export_user(
    ws: Workspace,
    email: str,
    as_of: datetime,
    rules: FailureRules,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The whole document; deep_dive's NotFoundError (exit 3) when neither source knows the
    email."""
    import dataclasses

    from usertrack.reports.deepdive import deep_dive

    dd = deep_dive(ws, email, as_of, rules, progress=progress)
    norm = dd.email
    doc: dict[str, Any] = {"email": norm, "as_of": as_of}
    if "posthog" in ws.sources:
        if progress:
            progress("reading posthog/user_persons")
        doc["posthog"] = {
            "persons": person_records(ws, norm, as_of),
            "events": person_events(ws, norm, as_of, progress),
        }
    if "neon" in ws.sources:
        if progress:
            progress("reading neon/user_rows")
        doc["app"] = app_rows(ws, norm, as_of)
    home = ws.settings.home
    doc["usertrack"] = {
        "profile": dd.profile,
        "segments": [dataclasses.asdict(s) for s in dd.segments],
        "history": history_entries(ws, norm),
        "local_state": local_state(home, norm),
        "caches": cache_files(home),
    }
    return doc


def to_json(doc: dict[str, Any]) -> str:
    from usertrack.rendering.export import json_text

    return json_text(doc)
