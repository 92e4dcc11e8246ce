"""Feature usage: uses, persons, adoption and trend per feature (docs/metrics.md, "Features").

Queries: queries/posthog/feature_usage.sql (per feature and period: uses, persons),
feature_retention.sql (per feature, its persons of the previous period who used it again in this
one) and active_persons.sql (the period's active persons, adoption's denominator); live, a
--by-segment group's run, or a group too large to send as a list, counts its persons' rows of
everyone's feature_person_facts.sql instead (features.cut: the same figures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.analytics.common import change
from usertrack.analytics.features.cut import Counts, person_counts
from usertrack.core.errors import UsageError

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

USAGE = "posthog/feature_usage"

TRENDS = ("up", "flat", "down")
# --all-users: every person seen, from the first moment any store can hold
EVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Feature:
    feature: str  # '' when feature_used had no `feature` property
    uses: int
    persons: int
    adoption: float | None  # percent of the period's active persons, one decimal
    previous_uses: int
    trend: str  # up, flat or down
    previous_persons: int = 0  # --compare
    previous_adoption: float | None = None  # --compare: of the previous period's active persons
    category: str | None = None  # the tracking plan's category of the feature
    # the mean of the uses' duration property (seconds, one decimal) over the period's uses
    # that carry one; None when none does
    avg_time_spent: float | None = None
    # percent (one decimal) of the feature's persons in the previous period who used it again in
    # this one; None when nobody used it in the previous period
    retention: float | None = None


@dataclass
class Features:
    as_of: datetime
    start: datetime  # the period is (start, as_of]; the previous one as long, before it
    days: int
    by: str  # "feature" or "event"
    threshold: float  # percent change that counts as up or down
    active_persons: int
    features: list[Feature]
    previous_active_persons: int | None = None  # --compare
    # the tracking plan's features of feature_used (its `allowed` values) not used in the
    # period: (feature, category, uses in the previous period)
    unused: list[tuple[str, str | None, int]] = field(default_factory=list)
    # --all-users: every person seen up to as_of, adoption's denominator instead of the active
    # persons; and each unused feature's last use (None: never used)
    all_persons: int | None = None
    last_used: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "from": self.start,
            "to": self.as_of,
            "days": self.days,
            "by": self.by,
            "threshold": self.threshold,
            "active_persons": self.active_persons,
            **({"all_persons": self.all_persons} if self.all_persons is not None else {}),
            "features": [
                {
                    "feature": f.feature,
                    **({"category": f.category} if self.by == "feature" else {}),
                    "uses": f.uses,
                    "persons": f.persons,
                    "adoption": f.adoption,
                    "avg_time_spent": f.avg_time_spent,
                    "retention": f.retention,
                    "previous_uses": f.previous_uses,
                    "trend": f.trend,
                    **(
                        {
                            "previous_persons": f.previous_persons,
                            "previous_adoption": f.previous_adoption,
                            "change": change(f.uses, f.previous_uses),
                        }
                        if self.compared
                        else {}
                    ),
                }
                for f in self.features
            ],
            **(
                {
                    "unused": [
                        {"feature": name, "category": category, "previous_uses": before}
                        | (
                            {"last_used": self.last_used.get(name)}
                            if self.all_persons is not None
                            else {}
                        )
                        for name, category, before in self.unused
                    ]
                }
                if self.by == "feature"
                else {}
            ),
            **(
                {
                    "previous": {
                        "from": self.start - timedelta(days=self.days),
                        "to": self.start,
                        "active_persons": self.previous_active_persons,
                    }
                }
                if self.compared
                else {}
            ),
        }

    @property
    def compared(self) -> bool:
        return self.previous_active_persons is not None


def check_threshold(threshold: float) -> float:
    if not 0 <= threshold < 1000:
        raise UsageError(f"--threshold {threshold:g} must be a percent from 0 to 1000")
    return float(threshold)


def trend(uses: int, previous: int, threshold: float) -> str:
    """up or down when uses changed by at least `threshold` percent of the previous period's;
    from none to some is up."""
    if previous == 0:
        return "up" if uses > 0 else "flat"
    change = 100.0 * (uses - previous) / previous
    if change >= threshold:
        return "up"
    if change <= -threshold:
        return "down"
    return "flat"


def features(
    ws: Workspace,
    as_of: datetime,
    *,
    days: int = 30,
    by_event: bool = False,
    threshold: float = 10.0,
    compare: bool = False,
    all_users: bool = False,
    progress: Any = None,
) -> Features:
    """`all_users`: adoption over every person seen up to as_of (the activity specification's
    total users), not the period's active persons, and each unused feature's last use."""
    check_threshold(threshold)
    split = as_of - timedelta(days=days)
    since = split - timedelta(days=days)
    by = "event" if by_event else "feature"
    if cut(ws):
        if progress:
            progress("fetching each person's feature usage")
        counts = person_counts(ws, as_of, since=since, split=split, by=by,
                               seen_since=EVER if all_users else since)  # fmt: skip
    else:
        counts = _queried(ws, as_of, since=since, split=split, by=by, compare=compare,
                          all_users=all_users, progress=progress)  # fmt: skip
    total = counts.seen if all_users else counts.active
    out = []
    for name in set(counts.now) | set(counts.before):
        uses, persons = counts.now.get(name, (0, 0))
        prev = counts.before.get(name, (0, 0))[0]
        timed, seconds = counts.timed.get(name, (0, 0.0))
        adoption = round(100.0 * persons / total, 1) if total else None
        out.append(Feature(name, uses, persons, adoption, prev, trend(uses, prev, threshold),
                           avg_time_spent=round(seconds / timed, 1) if timed else None,
                           retention=retention_rate(*counts.kept.get(name, (0, 0)))))  # fmt: skip
    previous_total = None
    if compare:
        previous_total = counts.previous_active
        for f in out:
            f.previous_persons = counts.before.get(f.feature, (0, 0))[1]
            f.previous_adoption = (
                round(100.0 * f.previous_persons / previous_total, 1) if previous_total else None
            )
    out.sort(key=lambda f: (-f.uses, -f.previous_uses, f.feature))
    unused: list[tuple[str, str | None, int]] = []
    if by == "feature":
        planned, categories = planned_features()
        for f in out:
            f.category = categories.get(f.feature)
        unused = [(name, categories.get(name), counts.before.get(name, (0, 0))[0])
                  for name in planned if counts.now.get(name, (0, 0))[0] == 0]  # fmt: skip
    last_used: dict[str, Any] = {}
    if all_users and unused:
        last_used = counts.last_used if counts.cut else _last_used(ws, as_of, progress)
    return Features(
        as_of=as_of,
        start=split,
        days=days,
        by=by,
        threshold=threshold,
        active_persons=counts.active,
        features=out,
        previous_active_persons=previous_total,
        unused=unused,
        all_persons=total if all_users else None,
        last_used=last_used,
    )


def cut(ws: Workspace) -> bool:
    """Whether this run counts its group's persons' rows of everyone's per-person facts
    (features.cut): live, a --by-segment group's run, or a group whose list of persons is longer
    than PostHog takes (by_segment.summary_fits); else the aggregated queries, the group's list
    (if any) in their filter."""
    from usertrack.analytics.by_segment import summary_fits

    source = ws.sources.get(ws.library.get(USAGE).folder)
    return source is not None and source.is_live and not summary_fits(ws, short_list=True)


def _queried(
    ws: Workspace, as_of: datetime, *, since: datetime, split: datetime, by: str, compare: bool,
    all_users: bool, progress: Any,
) -> Counts:  # fmt: skip
    """The counts of the aggregated queries (feature_usage.sql, feature_retention.sql,
    active_persons.sql), each run's filter in them."""
    if progress:
        progress("fetching feature usage")
    usage = ws.run_query(USAGE, as_of, since=since, split=split, by=by)
    if progress:
        progress("fetching each feature's returning persons")
    kept = ws.run_query("posthog/feature_retention", as_of, since=since, split=split, by=by)
    if progress:
        progress("fetching active persons")
    counts = Counts(cut=False)
    counts.active = _persons(ws.run_query("posthog/active_persons", as_of, since=split))
    col = {c: i for i, c in enumerate(usage.columns)}
    for row in usage.rows:
        name = "" if row[col["feature"]] is None else str(row[col["feature"]])
        figures = (int(row[col["uses"]]), int(row[col["persons"]]))
        if row[col["current"]] in (True, 1, "true"):
            counts.now[name] = figures
            timed = int(row[col["timed_uses"]] or 0)
            if timed:
                counts.timed[name] = (timed, float(row[col["seconds"]]))
        else:
            counts.before[name] = figures
    at = {c: i for i, c in enumerate(kept.columns)}
    for row in kept.rows:
        name = "" if row[at["feature"]] is None else str(row[at["feature"]])
        counts.kept[name] = (int(row[at["persons"]] or 0), int(row[at["retained"]] or 0))
    if all_users:
        if progress:
            progress("fetching every person seen")
        counts.seen = _persons(ws.run_query("posthog/active_persons", as_of, since=EVER))
    if compare:
        if progress:
            progress("fetching the previous period's active persons")
        # The previous period (since, split]: active_persons as of its end.
        counts.previous_active = _persons(ws.run_query("posthog/active_persons", split,
                                                       since=since))  # fmt: skip
    return counts


def _persons(result: Any) -> int:
    """active_persons.sql's count (none: 0)."""
    return int(result.rows[0][0]) if result.rows and result.rows[0][0] is not None else 0


def _last_used(ws: Workspace, as_of: datetime, progress: Any) -> dict[str, Any]:
    """Each feature's last use up to as_of (feature_last_used.sql)."""
    if progress:
        progress("fetching each feature's last use")
    found = ws.run_query("posthog/feature_last_used", as_of)
    at = {c: i for i, c in enumerate(found.columns)}
    return {str(r[at["feature"]] or ""): r[at["last_used"]] for r in found.rows}


def retention_rate(persons: int, retained: int) -> float | None:
    """A feature's retention: its `retained` persons as a percent (one decimal) of the `persons`
    who used it in the previous period (none: None)."""
    return round(100.0 * retained / persons, 1) if persons else None


def planned_features() -> tuple[list[str], dict[str, str]]:
    """The features the tracking plan lists (feature_used's `feature`: its `allowed` values, in
    the plan's order) and their `categories`; none when the plan has no such list. The plan is
    the one `usertrack tracking-plan` reads (--plan aside: USERTRACK_TRACKING_PLAN,
    ./tracking-plan.yaml, else the shipped one)."""
    from usertrack.audit.plan_file import load_tracking_plan
    from usertrack.core.config import resolve_tracking_plan_file

    plan = load_tracking_plan(resolve_tracking_plan_file(None))
    for event in plan.events:
        if event.name != "feature_used":
            continue
        for prop in event.properties:
            if prop.name == "feature" and prop.allowed:
                names = [str(v) for v in prop.allowed]
                return names, dict(prop.categories or {})
    return [], {}
