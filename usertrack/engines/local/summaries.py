"""The analyses' own counts, declared as shortcuts of the summary files PostHog runs for them.

Live, `retention`, `activity`, `sessions` and `paths` have PostHog count their figures in one
query each, as its own insight runners do (queries/posthog/*_summary.sql). On the local engine
the same figures are counted from the analyses' facts (usertrack.analytics.retention,
activity, sessions, paths: their `_counted` or facts paths), which is faster than running the
summary file's translation over every event: a shortcut of that file, declared here with the
shipped file's digest. Where the file is not the shipped one (an edited copy in a library of
one's own), the local engine runs it as written, as PostHog would, and the analysis reads its
rows as it reads PostHog's (`counts_asked`). Any --where is the
analysis's own to apply either way; tests/engines/test_summary_shortcuts.py holds each analysis's
answer to its file's: the same for a copy of the file, another for an edit.

Two more files are PostHog's part of a --by-segment run live (and of a --segment group too
long to send PostHog as a list): every person's cut sequences for `paths`
(path_sequences.sql) and every person's counts per point for `trends`
(trends_person_points.sql), each run once over everyone and read per group. The local engine
counts those groups its own way (the store's path table split by person; the events grouped
by segment): a shortcut of each file too (`GROUPS`). Where the file is not the shipped one,
the local engine takes PostHog's way, the edited file run as written (`counts_asked`).
"""

from __future__ import annotations

from typing import Any

from usertrack.engines.shortcut import ANY_FILTER, Shortcut
from usertrack.queries.library import Query

ENTRY = "summary"  # where an analysis takes the shortcut (its Shortcut.entry)
GROUPS = "groups"  # where a group's run takes it

_SUMMARIES = tuple(
    Shortcut(query_id, digest, ENTRY, "", filters=ANY_FILTER)
    for query_id, digest in (
        (
            "posthog/retention_summary",
            "20919ffb70aed2debc7e8c15e71ed120cea4ba653d6b471fdf0ae351f8d006c3",
        ),
        (
            "posthog/activity_summary",
            "e4556178d8c0ae074505d61ddb45e74607aa0ddf84f1b27222a9dc0b437071b9",
        ),
        (
            "posthog/session_summary",
            "6755339b3a00bbf90c8d5a545f56be879102267ff68c125c84b60f393b95698c",
        ),
        (
            "posthog/paths_summary",
            "13dc82140c200708b54696333abd9a9a554737ef409d66c7ac52c53ac1f240dc",
        ),
    )
)
_GROUPS = (
    Shortcut(
        "posthog/path_sequences",
        "ea03dfb2c7d04c2e82bab9ee555cbe99ef04c2ad5fd538d8b1f15ab263b23e5d",
        GROUPS,
        "",
        filters=ANY_FILTER,
    ),
    Shortcut(
        "posthog/trends_person_points",
        "5e3fd18d4fbf796771a092b126de47cef288dfc4f9a2d416a73e673f577f35a3",
        GROUPS,
        "",
        filters=ANY_FILTER,
    ),
)
SHORTCUTS = (*_SUMMARIES, *_GROUPS)
_BY_ID = {cut.query_id: cut for cut in SHORTCUTS}


def counts_asked(source: Any, query: Query) -> bool:
    """Whether an analysis asks its summary file (`query`, as its library holds it) for its
    figures, or a group's run the file PostHog counts groups with (`GROUPS`): live always (PostHog
    counts them, as its own runners do); on the local engine only where the file is not the
    one usertrack ships, whose shortcut is the analysis's own count. A --by-segment or
    --segment group's run decides apart which file it asks
    (usertrack.analytics.by_segment.summary_fits)."""
    cut = _BY_ID.get(query.id)
    return bool(source.is_live) or cut is None or not cut.gate(query)
