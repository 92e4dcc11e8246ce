"""The people of a `--persons` cell (usertrack.analytics.actors), kept beside the events store
they were found in (usertrack.sources.storecache) and read back while it is unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from usertrack.workspace import Workspace


def kept_ids(ws: Workspace, cell: tuple[Any, ...], find: Callable[[], set[str]]) -> set[str]:
    """The person ids `find()` gives for `cell`, kept (kept_cell)."""
    return kept_cell(ws, cell, lambda: (find(), {}), ())[0]


Found = tuple[set[str], dict[str, str]]  # a cell's person ids, and texts that say what it is


def kept_cell(
    ws: Workspace, cell: tuple[Any, ...], find: Callable[[], Found], said: tuple[str, ...]
) -> Found:
    """The person ids and texts (`said`, their names) `find()` gives for `cell` (what names
    the cell: the analysis, its options, the moment, the cell), kept beside the events store
    they were found in (usertrack.sources.storecache) and read back while the store is
    unchanged: the same cell asked again (another format, a second look) reads them instead
    of working the analysis out again. Their key holds all they depend on but the store:
    `cell`, the query library's PostHog files as they read now, the exclusion pattern and
    usertrack's code (as a metric alert's figures are kept: usertrack.act.alerts_kept). A
    cell of people kept by `--where`, `--who` or `--segment` (which read other files or the
    app's database), or on a source that keeps no answers (PostHog's API), is found every
    time."""
    from usertrack.act.alerts_kept import code_hash, keeps_answers

    keeping = keeps_answers(ws)
    if keeping is None:
        return find()
    source, library = keeping
    kept = source.kept
    from usertrack.segments.profiles import exclude_pattern

    what = repr(("--persons cell", code_hash(), library))
    found = kept(what, {"cell": cell, "exclude_pattern": exclude_pattern(ws.rules.exclude)})
    if found is not None and found[1] is not None:
        table = found[1]
        texts = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        if table.column_names == ["person_id"] and all(name in texts for name in said):
            return set(table.column(0).to_pylist()), {name: texts[name] for name in said}
    ids, texts = find()
    if found is not None:
        import pyarrow as pa

        column = pa.array(sorted(ids), pa.string())
        kept_table = pa.table({"person_id": column}, metadata=texts or None)
        source.keep(found[0], kept_table)
    return ids, texts
