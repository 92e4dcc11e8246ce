"""Feature flags in the local events store, listed as PostHog's API lists a project's.

PostHog keeps a project's feature flags beside its events and lists them at
`GET /api/projects/{id}/feature_flags/` (posthog/api/feature_flag.py, `FeatureFlagViewSet`):
the flags not deleted, newest created first (`safely_get_queryset`), `search` keeping those
whose key or name contains the text in any case (`_filter_request`: `key__icontains` or
`name__icontains`). A flag's `name` is its description there (the serializer's help text says
so). The demo writes a few flags into its store's `feature_flags` table (usertrack.demo.flags);
an events export has none, and the store then lists none.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

FLAGS_TABLE = "feature_flags"
# The table's columns, as PostHog's FeatureFlagSerializer names the fields usertrack reads;
# `tags` is a JSON array of texts.
_LISTED = f"""
SELECT id, key, name, active, tags, created_at, updated_at, count(*) OVER () AS found
FROM {FLAGS_TABLE}
WHERE NOT deleted
  AND ($search IS NULL OR contains(lower(key), lower($search))
       OR contains(lower(coalesce(name, '')), lower($search)))
ORDER BY created_at DESC, id DESC
LIMIT $most
"""


def list_flags(
    cur: duckdb.DuckDBPyConnection, search: str | None, most: int
) -> tuple[list[dict[str, Any]], int]:
    """The store's flags as PostHog lists them (at most `most`), and how many there are."""
    rows = cur.execute(_LISTED, {"search": search, "most": most}).fetchall()
    flags = []
    for id_, key, name, active, tags, created, updated, _ in rows:
        flags.append(
            {
                "id": id_,
                "key": key,
                "name": name or "",
                "active": bool(active),
                "tags": [str(t) for t in json.loads(tags or "[]")],
                "created_at": _iso(created),
                "updated_at": _iso(updated),
            }
        )
    total = int(rows[0][-1]) if rows else 0
    return flags, total


def _iso(moment: Any) -> Any:
    """A stored (naive UTC) moment as PostHog's API writes one: ISO 8601 with a Z."""
    return None if moment is None else moment.isoformat() + "Z"
