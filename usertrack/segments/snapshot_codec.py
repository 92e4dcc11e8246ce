"""A segments snapshot's parts read from a classification, and its stored values
(usertrack.segments.history): who is in which segments, the app's accounts in no segment,
compressed as the history stores them."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

# zlib level of a snapshot's memberships. At 100,000 users (1.9 MB of JSON), level 1 takes 10 ms
# for 0.48 MB, level 6 40 ms for 0.39 MB: a fifth smaller is not worth four times the time.
MEMBERSHIPS_LEVEL = 1


class Classified(Protocol):
    """What a snapshot is taken of: a `segments.Classification`, or anything shaped like one."""

    @property
    def as_of(self) -> datetime: ...

    @property
    def users(self) -> list[dict[str, Any]]: ...


def members_of(
    result: Classified,
) -> tuple[Mapping[str, tuple[str, ...]], Mapping[str, str | None]]:
    """Who is in which segments, and their primary one: read once per classification (the
    panels of a dashboard take several snapshots of the same one; 0.3 s each at 100,000
    users), kept on the classification; nothing changes the mappings once made."""
    kept = getattr(result, "__dict__", {}).get("_snapshot_members")
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    members: dict[str, tuple[str, ...]] = {}
    primary: dict[str, str | None] = {}
    memberships = getattr(result, "memberships", None)  # without building every user dict
    triples = (
        memberships()
        if memberships
        else ((u["email"], u.get("segments"), u.get("primary")) for u in result.users)
    )
    for email, segments, first in triples:
        segs = tuple(segments or ())
        if segs:
            members[email] = segs
            primary[email] = first or segs[0]
    if hasattr(result, "__dict__"):
        result.__dict__["_snapshot_members"] = (members, primary)
    return members, primary


def user_count(result: Classified) -> int:
    count = getattr(result, "user_count", None)
    return len(result.users) if count is None else int(count)


def segment_ids(result: Classified) -> tuple[str, ...]:
    return tuple(s.id for s in getattr(result, "segments", ()))


def accounts_json(result: Classified) -> str | None:
    """The JSON list of the app's accounts in no segment, made by DuckDB, when the
    classification still has its connection and the accounts query's rows; else None."""
    in_duckdb = getattr(result, "unsegmented_accounts_json", None)
    if in_duckdb is None or getattr(result, "con", None) is None:
        return None
    text: str | None = in_duckdb()
    return text


def accounts_of(result: Classified) -> frozenset[str] | None:
    text = accounts_json(result)
    return None if text is None else frozenset(json.loads(text))


def encode_accounts(result: Classified) -> bytes | None:
    """A snapshot's accounts in no segment as one value: zlib of their JSON list (sorted), or
    None when the classification cannot tell them."""
    text = accounts_json(result)
    return None if text is None else zlib.compress(text.encode(), MEMBERSHIPS_LEVEL)


def decode_accounts(blob: bytes | None) -> frozenset[str] | None:
    if blob is None:
        return None
    found = json.loads(zlib.decompress(blob))
    if not isinstance(found, list) or not all(isinstance(e, str) for e in found):
        raise ValueError("accounts is not a list of emails")
    return frozenset(found)


def decode_memberships(
    blob: bytes,
) -> tuple[dict[str, tuple[str, ...]], dict[str, str | None]]:
    members: dict[str, tuple[str, ...]] = {}
    primary: dict[str, str | None] = {}
    for segs, first, emails in json.loads(zlib.decompress(blob)):
        members.update(dict.fromkeys(emails, tuple(segs)))
        primary.update(dict.fromkeys(emails, first))
    return members, primary
