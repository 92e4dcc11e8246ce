"""path_sequences.sql's answer (paths of a --by-segment run, live): each person's cut
sequences, and with --to their approaches to the goal, sent as strings and read once for every
group (usertrack.analytics.paths.run `_from_sequences`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from usertrack.analytics.paths import conversion
from usertrack.analytics.paths.codes import rolled_sequences

_ESCAPED = {"%25": "%", "%7C": "|", "%3E": ">"}


def _unescaped(node: str) -> str:
    """A node as path_sequences.sql writes it (`%`, `|` and `>` as %25, %7C and %3E) decoded."""
    import re

    return re.sub("%(25|7C|3E)", lambda m: _ESCAPED[m.group(0)], node) if "%" in node else node


def _tokens(texts: list[str]) -> tuple[Any, Any]:
    """Every person's string split at once (one buffer: pyarrow reads a Python str of them
    several times slower): how many sequences each has, and every token (a node, a sequence's
    first marked `>`) as an Arrow array."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    per_person = np.fromiter((t.count(">") for t in texts), np.int64, len(texts))
    data = "|".join(t for t in texts if t).encode()
    whole = pa.LargeStringArray.from_buffers(
        1, pa.py_buffer(np.array([0, len(data)], dtype=np.int64)), pa.py_buffer(data)
    )
    empty = pa.array([], pa.large_string())
    return per_person, pc.list_flatten(pc.split_pattern(whole, "|")) if data else empty


@dataclass(frozen=True)
class CutSequences:
    """path_sequences.sql's answer over everyone, read once for every group of a --by-segment
    run: each person's row (`persons`: person_id, has_from, has_to), how many sequences each
    has (`per_person`), each sequence's length (`lengths`) and every node of them in order as
    codes (`codes`) of `names` (sorted: a code's order is its name's); with --to, the same of
    their approaches to the goal (`approaches`: per person, lengths, codes; an empty approach
    is written `>` alone). Only the distinct nodes become Python strings."""

    persons: Any  # an Arrow table
    per_person: Any
    lengths: Any
    codes: Any
    names: list[str]
    approaches: tuple[Any, Any, Any] | None = None

    @classmethod
    def of(cls, rows: list[tuple[Any, ...]], columns: list[str]) -> CutSequences:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        at = {c: i for i, c in enumerate(columns)}
        person, has_from, has_to = at["person_id"], at["has_from"], at["has_to"]
        parts = [_tokens([r[at["paths"]] or "" for r in rows])]
        if "approaches" in at:
            parts.append(_tokens([r[at["approaches"]] or "" for r in rows]))
        encoded = pc.dictionary_encode(pa.concat_arrays([tokens for _, tokens in parts]))
        found = [_unescaped(n.removeprefix(">")) for n in encoded.dictionary.to_pylist()]
        names = sorted({n for n in found if n})
        place = {name: i for i, name in enumerate(names)}
        order = np.array([place.get(n, -1) for n in found], dtype=np.int32)  # token -> place
        every = order[encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
        read: list[tuple[Any, Any, Any]] = []
        offset = 0
        for per_person, tokens in parts:
            codes = every[offset : offset + len(tokens)]
            offset += len(tokens)
            first = pc.starts_with(tokens, ">").to_numpy(zero_copy_only=False)
            starts = np.flatnonzero(first)
            lengths = np.diff(np.append(starts, len(first))).astype(np.int64)
            # an empty approach is one token `>` without a node: a sequence of no node
            lengths -= codes[starts] < 0
            read.append((per_person, lengths, codes[codes >= 0]))
        persons = pa.table(
            {
                "person_id": pa.array([str(r[person]) for r in rows], pa.string()),
                "has_from": pa.array([bool(r[has_from]) for r in rows], pa.bool_()),
                "has_to": pa.array([bool(r[has_to]) for r in rows], pa.bool_()),
            }
        )
        return cls(persons, *read[0], names, read[1] if len(read) > 1 else None)

    def group(self, keep: Any) -> tuple[Any, Any, list[tuple[int, Any]], bool, bool]:
        """The sequences of the persons `keep` (a PersonRows) keeps, as `rolled_sequences`
        gives them (kept codes, sequence starts, the nodes there), and whether any of those
        persons has the --from node, the --to node."""
        import numpy as np

        mine = np.asarray(keep.mask(self.persons), dtype=bool)
        codes, lengths = _kept(mine, self.per_person, self.lengths, self.codes)
        starts = np.zeros(len(codes), dtype=bool)
        starts[np.cumsum(lengths) - lengths] = True
        rows = {"code": codes, "starts": starts}
        found = (
            bool(self.persons["has_from"].to_numpy()[mine].any()),
            bool(self.persons["has_to"].to_numpy()[mine].any()),
        )
        return (*rolled_sequences(rows, list(enumerate(self.names))), *found)

    def followed(self, keep: Any, paths: list[tuple[list[str], int]], steps: int) -> list[int]:
        """With --to, per path, the approaches of the persons `keep` keeps that follow its
        own (usertrack.analytics.paths.conversion)."""
        import numpy as np

        assert self.approaches is not None, "path_sequences.sql answered no approaches"
        mine = np.asarray(keep.mask(self.persons), dtype=bool)
        codes, lengths = _kept(mine, *self.approaches)
        upto = np.cumsum(lengths)
        code = {name: i for i, name in enumerate(self.names)}
        return conversion.followed_counts(codes, upto - lengths, upto, paths, code, steps)


def _kept(mine: Any, per_person: Any, lengths: Any, codes: Any) -> tuple[Any, Any]:
    """The codes and sequence lengths of the persons `mine` marks."""
    import numpy as np

    sequence = np.repeat(mine, per_person)
    return codes[np.repeat(sequence, lengths)], lengths[sequence]
