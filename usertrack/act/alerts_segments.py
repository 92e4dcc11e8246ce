"""The two classifications entered_segment compares, at no more cost than its answer needs.

The segments at the pass's moment: the history's snapshot of exactly that moment under the
current rules when there is one (as `--by-segment` takes it: every user classified there already,
by `segments` or a pass that sent), else every user classified now. A moment the user chose
(`--as-of`) is always classified from the data, whatever the history holds.

The segments one day earlier, when neither a snapshot nor the last pass that sent stands for
them: whoever entered a segment is a member now, so a dry run classifies only the people now in
the triggers' segments (usertrack.segments.some: each per-user query kept to their emails). Each
of them is classified as classifying everyone would: the profile computes a person's row from
that person's rows alone (`some.exact`) and each of these segments' rules reads that row alone
(`kept.row_by_row`); otherwise, or when the pass keeps its segments in the history (a partial
classification is no snapshot), everyone is classified.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from usertrack.segments.history import Snapshot
    from usertrack.segments.rules import Classification
    from usertrack.workspace import Workspace


@dataclass(frozen=True)
class SomePeople:
    """The segments of some people only (`classify_some`): compared with, never kept in the
    history as a snapshot."""

    classification: Classification

    @property
    def current_only(self) -> tuple[str, ...]:
        return self.classification.current_only

    def in_segment(self, segment_id: str) -> set[str]:
        return self.classification.in_segment(segment_id)


def saved_now(ws: Workspace, as_of: datetime) -> Snapshot | None:
    """The history's snapshot of exactly `as_of` under the current rules, or None: when there is
    none (or it cannot be read), in a dashboard (its panels share one classification), and for a
    past moment whose rules read current-only columns (classifying says so; a snapshot does not)."""
    if ws.scope.shared is not None or ws.scope.narrow_to is not None:
        return None
    if ws.past_warning(as_of, ws.current_only()) is not None:
        return None
    from usertrack.core.errors import DataError
    from usertrack.segments.history import open_history

    try:
        with open_history(ws) as history:
            # Quietly: a damaged or missing snapshot is simply not used (everyone classified).
            found = history.latest(as_of, since=as_of)
            if found is None or found.fingerprint != history.fingerprint:
                return None
            return found
    except DataError:
        return None


def some_are_enough(ws: Workspace, segments: Collection[str]) -> bool:
    """Whether classifying some people gives each of them the segments among `segments` that
    classifying everyone would (see the module)."""
    from usertrack.segments.kept import row_by_row
    from usertrack.segments.some import exact

    rules = {s.id: s.rule for s in ws.rules.segments}
    return exact(ws.library) and all(s in rules and row_by_row(rules[s]) for s in segments)


def classify_some(
    ws: Workspace,
    moment: datetime,
    emails: Collection[str],
    progress: Callable[[str], None] | None,
) -> SomePeople:
    """The segments at `moment` of (at least) the people of `emails`, as Workspace.classify gives
    them (its warning for a past moment in `warnings` and said when the pass takes it)."""
    from usertrack.segments.rules import classify
    from usertrack.segments.some import build_some

    run = build_some(ws.library, ws.sources, as_of=moment, exclude_domains=ws.rules.exclude,
                     emails=emails, progress=progress)  # fmt: skip
    try:
        result = classify(ws.rules, run.con, moment)
    except BaseException:
        run.close()
        raise
    ws.mark_current_only(moment, result, say=False)
    return SomePeople(result)


def day_earlier(
    ws: Workspace,
    since: datetime,
    segments: Collection[str],
    now: Callable[[], Any],
    progress: Callable[[str], None] | None,
    *,
    everyone: bool,
) -> Any:
    """The classification entered_segment compares `now()` with: at `since`, of the people now
    in `segments` only, unless `everyone` (the pass keeps it in the history) or some people are
    not enough (see the module)."""
    emails: set[str] = set()
    if not everyone and some_are_enough(ws, segments):
        current = now()
        for segment in segments:
            emails |= current.in_segment(segment)
    if not emails:  # (nobody in them now: nobody entered, and everyone is classified as before)
        return ws.classify(since, progress, say=False)
    return classify_some(ws, since, emails, progress)


# The segments of the last alerts pass that sent (or --save): entered_segment's baseline.
ALERTED_SEGMENTS_FILE = "alerts-segments.json"


def alerted_segments(ws: Workspace, before: datetime, fingerprint: str | None) -> Snapshot | None:
    """The segments the last recording pass kept, if taken before `before` in this workspace
    under these rules; None otherwise, or when the file is damaged (with a warning: the segments
    one day earlier are then the baseline)."""
    import json

    from usertrack.segments.history import Snapshot, warning_to, workspace_identity

    path = ws.settings.home / ALERTED_SEGMENTS_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("workspace") != workspace_identity(ws) or doc.get("fingerprint") != fingerprint:
            return None
        as_of = datetime.fromisoformat(doc["as_of"])
        members = {str(e): tuple(str(s) for s in segs) for e, segs in doc["members"].items()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        warn = warning_to(ws)
        if warn:
            warn(
                f"{path}: damaged ({type(e).__name__}); entered_segment compares with the"
                " segments one day earlier instead, and the next run that sends writes it anew"
            )
        return None
    if as_of >= before:
        return None
    return Snapshot(as_of=as_of, members=members, source="snapshot", fingerprint=fingerprint)


def keep_alerted(ws: Workspace, classified: Any, fingerprint: str | None) -> None:
    """Write ALERTED_SEGMENTS_FILE: the segments of `classified` (a classification, or the
    history's snapshot that stood for one)."""
    import json

    from usertrack.rendering.output import write_atomic
    from usertrack.segments.history import Snapshot, workspace_identity

    snapshot = classified if isinstance(classified, Snapshot) else Snapshot.of(classified)
    doc = {
        "workspace": workspace_identity(ws),
        "fingerprint": fingerprint,
        "as_of": snapshot.as_of.isoformat(),
        "members": {e: list(segs) for e, segs in sorted(snapshot.members.items())},
    }
    write_atomic(ws.settings.home / ALERTED_SEGMENTS_FILE, json.dumps(doc) + "\n", mode=0o600)
