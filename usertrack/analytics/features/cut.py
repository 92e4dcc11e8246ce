"""Features of a group of persons counted from everyone's per-person rows (live, a group whose
list of persons PostHog would not take, or a --by-segment group: by_segment.summary_fits).

queries/posthog/feature_person_facts.sql answers one row per person, fetched once over everyone
(each group keeps its persons' rows: common.open_facts); every figure of features is worked out
of them here as feature_usage.sql, feature_retention.sql, active_persons.sql and
feature_last_used.sql work it out over the group's events: uses and time spent are sums over
the persons, persons are counted once each, so the answer is the one those queries give with
the group's list in their filter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.analytics.common import open_facts

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

QUERY = "posthog/feature_person_facts"
SCHEMA = {
    "person_id": "VARCHAR",
    "used": "BIGINT",
    "feature": "VARCHAR",
    "earlier": "BIGINT",
    "later": "BIGINT",
    "timed": "BIGINT",
    "seconds": "DOUBLE",
    "last_used": "TIMESTAMP",
}


@dataclass
class Counts:
    """What features() reads of its queries, for one group (`cut`: of everyone's per-person
    rows, `last_used` among them)."""

    cut: bool = True

    now: dict[str, tuple[int, int]] = field(default_factory=dict)  # uses, persons
    timed: dict[str, tuple[int, float]] = field(default_factory=dict)  # timed uses, seconds
    before: dict[str, tuple[int, int]] = field(default_factory=dict)  # uses, persons
    kept: dict[str, tuple[int, int]] = field(default_factory=dict)  # persons, retained
    active: int = 0  # persons with an event in the current period
    previous_active: int = 0  # ... in the previous one
    seen: int = 0  # persons with an event since `seen_since`
    last_used: dict[str, Any] = field(default_factory=dict)  # with seen_since the epoch


def person_counts(
    ws: Workspace, as_of: datetime, *, since: datetime, split: datetime, by: str,
    seen_since: datetime,
) -> Counts:  # fmt: skip
    """The run's group's counts of everyone's rows of feature_person_facts.sql."""
    facts = open_facts(ws, QUERY, as_of, SCHEMA, since=since, split=split, by=by,
                       seen_since=seen_since)  # fmt: skip
    with facts as con:
        counts = Counts(cut=True)
        uses = con.execute(
            """
            SELECT feature,
                   sum(later) FILTER (WHERE later > 0),
                   count(DISTINCT person_id) FILTER (WHERE later > 0),
                   sum(timed) FILTER (WHERE later > 0),
                   sum(seconds) FILTER (WHERE later > 0),
                   sum(earlier) FILTER (WHERE earlier > 0),
                   count(DISTINCT person_id) FILTER (WHERE earlier > 0),
                   count(DISTINCT person_id) FILTER (WHERE earlier > 0 AND later > 0),
                   max(last_used)
            FROM facts
            WHERE used = 1 AND person_id IS NOT NULL
            GROUP BY feature
            """
        ).fetchall()
        for name, now, persons, timed, seconds, before, earlier, again, last in uses:
            feature = "" if name is None else str(name)
            if persons:
                counts.now[feature] = (int(now), int(persons))
                counts.timed[feature] = (int(timed or 0), float(seconds or 0.0))
            if earlier:
                counts.before[feature] = (int(before), int(earlier))
                counts.kept[feature] = (int(earlier), int(again))
            counts.last_used[feature] = last
        row = con.execute(
            """
            SELECT count(*) FILTER (WHERE later > 0), count(*) FILTER (WHERE earlier > 0),
                   count(*)
            FROM (SELECT person_id, sum(later) AS later, sum(earlier) AS earlier
                  FROM facts WHERE person_id IS NOT NULL GROUP BY person_id)
            """
        ).fetchone()
        if row is not None:
            counts.active, counts.previous_active, counts.seen = (int(v or 0) for v in row)
        return counts
