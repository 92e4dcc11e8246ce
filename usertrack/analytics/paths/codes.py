"""Integer columns sorted and grouped fast, for paths (usertrack.analytics.paths.run): the
nodes and persons of the events are small integers there, and numpy sorts and counts one int64
column several times faster than it (or DuckDB) orders several.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def in_time_order(person: Any, t: Any, code: Any) -> tuple[Any, Any, Any]:
    """The rows (person, time, node code) sorted by person, then time, then node code.

    Sorted as one int64 key when the three fit in it, each time replaced by its rank among
    the distinct times: (person, time rank, code) packed as digits, sorted as values (not
    indices), then unpacked. numpy sorts one int64 column several times faster than it
    orders three (np.lexsort, the fallback), and faster than DuckDB's ORDER BY. The ranks come
    from a stable sort on the times, which takes one pass when the events come in about time
    order (the events store keeps them so)."""
    import numpy as np

    n = len(t)
    if n == 0:
        return person, t, code
    by_time = np.argsort(t, kind="stable")
    ordered = t[by_time]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    times = ordered[new]  # the distinct times, smallest first
    del ordered  # (each of these arrays is 8 bytes an event: peak memory)
    rank = np.empty(n, dtype=np.int64)
    rank[by_time] = np.cumsum(new, dtype=np.int64) - 1
    del by_time, new
    person_span = int(person.max()) + 2  # -1 (no person) .. max
    time_span = len(times)
    code_span = int(code.max()) + 1
    if person_span * time_span * code_span >= 2**63:
        order = np.lexsort((code, t, person))
        return person[order], t[order], code[order]
    key = person.astype(np.int64)
    key += 1
    key *= time_span
    key += rank
    del rank
    key *= code_span
    key += code
    key.sort()
    codes = key % code_span
    key //= code_span
    ranks = key % time_span
    key //= time_span
    key -= 1
    return key, times[ranks], codes


def grouped(keys: list[Any]) -> tuple[list[Any], Any]:
    """The distinct rows of the integer columns `keys`, in order of the columns, then of
    values (as columns), and how many times each occurs.

    The columns are packed as the digits of one int64 (in the same order), sorted once: several
    times faster than a sort on several columns. When more columns than fit in 62 bits follow,
    the packed value so far is replaced by its rank among its distinct values (which keeps its
    order) and packing goes on from there; the ranks are undone when unpacking."""
    import numpy as np

    if not len(keys[0]):
        return list(keys), np.zeros(0, dtype=np.int64)
    stages: list[tuple[Any, list[tuple[int, int]]]] = []  # (values ranked before, digits)
    before = None
    digits: list[tuple[int, int]] = []
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    size = 1
    for key in keys:
        low = int(key.min())
        span = int(key.max()) - low + 1
        if size * span >= 2**62:
            stages.append((before, digits))
            before, rank = np.unique(combined, return_inverse=True)
            combined, size, digits = rank.astype(np.int64).reshape(-1), len(before), []
        combined = combined * span + (key - low)
        size *= span
        digits.append((low, span))
    stages.append((before, digits))
    distinct, counts = np.unique(combined, return_counts=True)
    columns = []
    for ranked, packed in reversed(stages):
        for low, span in reversed(packed):
            distinct, digit = np.divmod(distinct, span)
            columns.append(digit + low)
        if ranked is not None:
            distinct = ranked[distinct]
    return columns[::-1], counts


def counted(keys: Any, size: int) -> tuple[Any, Any]:
    """The distinct values of `keys` (integers from 0 to `size` - 1), smallest first, and how
    many times each occurs: by counting into `size` slots when that is small (no sort)."""
    import numpy as np

    if size <= 1 << 22:
        counts = np.bincount(keys, minlength=size)
        distinct = np.flatnonzero(counts)
        return distinct, counts[distinct]
    return np.unique(keys, return_counts=True)


def first_at_or_after(kept: Any, node: int, after: Any) -> Any:
    """For each offset in `after`, the offset of the first `node` in `kept` at or after it
    (len(kept) when there is none)."""
    import numpy as np

    found = np.flatnonzero(kept == node)
    at = np.searchsorted(found, after)
    return np.append(found, len(kept))[at]


def rolled_sequences(
    rows: Mapping[str, Any], nodes: list[tuple[int, Any]]
) -> tuple[Any, Any, list[tuple[int, Any]]]:
    """The kept codes and sequence starts of usertrack.analytics.paths.run's `_sequences`, and
    the range's nodes (code, name), from the events store's path table
    (LocalPostHogSource.path_codes): its `code` (the store's node codes) and `starts` in
    sequence order, `nodes` every code of the store. The codes are renumbered to the range's
    nodes, in the order of their names, as `_sequences` numbers them."""
    import numpy as np

    code = np.asarray(rows["code"], dtype=np.int64)
    starts = np.asarray(rows["starts"], dtype=bool)
    width = max((c for c, _ in nodes), default=-1) + 1
    present = np.bincount(code, minlength=width) > 0 if len(code) else np.zeros(width, bool)
    renumbered = np.cumsum(present) - 1
    kept = renumbered[code].astype(np.int32) if len(code) else code.astype(np.int32)
    names = [(int(renumbered[c]), node) for c, node in nodes if present[c]]
    return kept, np.flatnonzero(starts), names


def trim_sequences(
    kept: Any, first: Any, steps: int, start: int | None, end: int | None
) -> tuple[Any, Any, Any]:
    """Each sequence from its first --from node and up to the first --to node after that
    (sequences without them are left out): the offsets where its `--steps` nodes begin and
    end (the first steps, or with --to the last steps before it, as PostHog counts back from
    an end point) and the offset of the last node of the whole trimmed sequence."""
    import numpy as np

    stop = np.append(first[1:], len(kept))[: len(first)]  # where each sequence ends
    lo = first
    if start is not None:
        lo = first_at_or_after(kept, start, first)
        held = lo < stop
        lo, stop = lo[held], stop[held]
    if end is not None:
        hit = first_at_or_after(kept, end, lo)
        held = hit < stop
        lo, last = lo[held], hit[held]
        return np.maximum(lo, last + 1 - steps), last + 1, last
    return lo, np.minimum(lo + steps, stop), stop - 1


def cut_paths(
    kept: Any,
    first: Any,
    code: dict[str, int],
    steps: int,
    start: str | None,
    end: str | None,
) -> tuple[Any, Any, list[Any]]:
    """The sequences cut by --steps, --from and --to (`trim_sequences`, a node no event has
    being code -1, which no sequence holds), and each cut path as a row of `steps` codes, -1
    past its end, given as columns: (lo, last, columns), where each cut sequence begins and the
    offset of its last node."""
    import numpy as np

    lo, hi, last = trim_sequences(
        kept,
        first,
        steps,
        None if start is None else code.get(start, -1),
        None if end is None else code.get(end, -1),
    )
    last_kept = max(len(kept) - 1, 0)
    columns = [np.where(lo + j < hi, kept[np.minimum(lo + j, last_kept)], -1) for j in range(steps)]
    return lo, last, columns
