"""Seeded draws over numpy arrays shared by the stories: weights, masks, per-group choices,
UUIDs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def normalized(values: tuple[Any, ...] | list[Any]) -> np.ndarray:
    import numpy as np

    w = np.asarray(values, dtype=float)
    return w / w.sum()


def child_offsets(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts per parent: (index of each parent's first child, each child's position)."""
    import numpy as np

    starts = np.cumsum(counts) - counts
    pos = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
    return starts, pos


def pick_mask(rng: np.random.Generator, mask: np.ndarray, k: int) -> np.ndarray:
    """A boolean mask with exactly min(k, mask.sum()) of mask's True positions chosen at random."""
    import numpy as np

    idx = np.flatnonzero(mask)
    out = np.zeros(len(mask), dtype=bool)
    k = max(0, min(int(k), len(idx)))
    if k:
        out[rng.choice(idx, size=k, replace=False)] = True
    return out


def choose_by_group(rng: np.random.Generator, table: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Categorical draw per row, from the probability row table[group[row]]."""
    import numpy as np

    out = np.zeros(len(group), dtype=np.int16)
    for g in range(table.shape[0]):
        rows = np.flatnonzero(group == g)
        if len(rows):
            out[rows] = rng.choice(table.shape[1], size=len(rows), p=table[g] / table[g].sum())
    return out


def uuid_halves(rng: np.random.Generator, ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UUIDv7-style (timestamp-prefixed, like PostHog's) as two uint64 halves."""
    import numpy as np

    n = len(ms)
    rand_a = rng.integers(0, 1 << 12, size=n, dtype=np.uint64)
    rand_b = rng.integers(0, 1 << 62, size=n, dtype=np.uint64)
    hi = (ms.astype(np.uint64) << np.uint64(16)) | np.uint64(0x7000) | rand_a
    lo = np.uint64(1 << 63) | rand_b
    return hi, lo


def object_array(values: Any) -> np.ndarray:
    import numpy as np

    return np.array(list(values), dtype=object)


def vocabulary_frame(values: Any) -> dict[str, np.ndarray]:
    import numpy as np

    values = list(values)
    return {"code": np.arange(len(values), dtype=np.int32), "value": object_array(values)}
