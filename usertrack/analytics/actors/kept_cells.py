"""The people of a `--persons` cell (usertrack.analytics.actors.run), kept beside the events store
they were found in (usertrack.engines.local.storecache) and read back while it is unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from usertrack.core.code_hash import code_hash
from usertrack.workspace import keeps_answers

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

Found = tuple[set[str], dict[str, str]]  # a cell's person ids, and texts that say what it is
# The cell's people as listed (actors.listed_persons: person_id and email, in their order).
Listed = list[dict[str, Any]]


def kept_people(
    ws: Workspace,
    cell: tuple[Any, ...],
    find: Callable[[], Found],
    listing: Callable[[set[str]], Listed],
    said: tuple[str, ...] = (),
) -> tuple[Listed, dict[str, str]]:
    """The people `listing` lists of the person ids `find()` gives for `cell` (what names the
    cell: the analysis, its options, the moment, the cell), and the texts (`said`, their
    names) `find()` gives with them, kept beside the events store they were found in
    (usertrack.engines.local.storecache) and read back while the store is unchanged: the same cell
    asked again (another format, a second look) reads them instead of working the analysis
    out again or reading anyone's email. They are kept as a text (each person's id and email),
    which is read without pyarrow. Their key holds all they depend on but the store: `cell`,
    the query library's PostHog files as they read now (segment_persons.sql, which gives the
    emails, among them), the exclusion pattern and usertrack's code (as a metric alert's
    figures are kept: usertrack.act.alerts_kept). A cell of people kept by `--where`, `--who`
    or `--segment` (which read other files or the app's database), or on a source that keeps
    no answers (PostHog's API), is found every time."""
    keeping = keeps_answers(ws)
    if keeping is None:
        ids, texts = find()
        return listing(ids), texts
    source, library = keeping
    from usertrack.segments.profiles import exclude_pattern

    what = repr(("--persons people", code_hash(), library))
    values = {"cell": cell, "exclude_pattern": exclude_pattern(ws.rules.exclude)}
    found = source.kept(what, values, text=True)
    if found is not None and found[1] is not None:
        read = _read(found[1], said)
        if read is not None:
            return read
    ids, texts = find()
    listed = listing(ids)
    if found is not None:
        import json

        people = [[p["person_id"], p["email"]] for p in listed]
        source.keep(found[0], json.dumps({"persons": people, "said": texts}))
    return listed, texts


def _read(text: str, said: tuple[str, ...]) -> tuple[Listed, dict[str, str]] | None:
    """What `kept_people` kept, or None when the text is not of that shape."""
    import json

    try:
        doc = json.loads(text)
        people, texts = doc["persons"], doc["said"]
        listed = [{"person_id": p, "email": email} for p, email in people]
    except (ValueError, KeyError, TypeError):
        return None
    if not all(type(p["person_id"]) is str and type(p["email"]) is str for p in listed):
        return None
    if not isinstance(texts, dict) or not all(type(texts.get(n)) is str for n in said):
        return None
    return listed, {name: texts[name] for name in said}
