"""The state of `usertrack sync posthog` under USERTRACK_HOME: posthog-sync.json (per workspace,
the segments synced and the generation pending) and posthog-sync.acks (the batches the capture
host acknowledged), written so that a crash anywhere loses nothing and sends nothing twice (see
usertrack.act.sync). Damaged files are a StateFileError, never read as empty nor overwritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from usertrack.core import locks
from usertrack.core.errors import StateFileError

STATE_FILE = "posthog-sync.json"
ACKS_FILE = "posthog-sync.acks"
LOCK_NAME = "sync"
LOCK_WHAT = "usertrack sync posthog --apply"
RESET_HINT = (
    "usertrack sync posthog --reset-state moves it aside; the next --apply then sends every"
    " segmented user again"
)


@dataclass
class Pending:
    """A generation being sent: its items are (email, distinct_id, segments, primary)."""

    generation: str
    synced_at: datetime
    items: list[tuple[str, str, tuple[str, ...], str | None]]

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "synced_at": self.synced_at.isoformat(),
            "items": [[e, d, list(s), p] for e, d, s, p in self.items],
        }


@dataclass
class State:
    path: Path
    doc: dict[str, Any]  # the file's whole document, other workspaces' entries included
    acked: dict[str, set[int]] = field(default_factory=dict)  # generation -> item indexes

    def synced(self, workspace: str) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.doc["workspaces"].get(workspace, {}).items()}

    def pending(self, workspace: str) -> Pending | None:
        raw = self.doc.get("pending", {}).get(workspace)
        if raw is None:
            return None
        return Pending(
            generation=raw["generation"],
            synced_at=datetime.fromisoformat(raw["synced_at"]),
            items=[(e, d, tuple(s), p) for e, d, s, p in raw["items"]],
        )

    def after_pending(self, workspace: str) -> tuple[dict[str, list[str]], list[int]]:
        """The synced state once the pending generation (if any) is done, and the indexes of its
        items not acknowledged yet."""
        synced = self.synced(workspace)
        pending = self.pending(workspace)
        if pending is None:
            return synced, []
        _fold(synced, pending.items)
        done = self.acked.get(pending.generation, set())
        return synced, [i for i in range(len(pending.items)) if i not in done]


def _fold(synced: dict[str, list[str]], items: Sequence[tuple[str, str, Any, Any]]) -> None:
    for email, _did, segments, _primary in items:
        if segments:
            synced[email] = list(segments)
        else:
            synced.pop(email, None)


def _damaged(path: Path, what: str) -> StateFileError:
    return StateFileError(f"{path}: {what}", hint=RESET_HINT)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_doc(path: Path, doc: Any) -> dict[str, Any]:
    """The document, or a StateFileError naming the first thing wrong with it."""
    if not isinstance(doc, dict):
        raise _damaged(path, f"the sync state is a JSON {_json_type(doc)}, not an object")
    workspaces = doc.get("workspaces")
    if not isinstance(workspaces, dict):
        raise _damaged(path, '"workspaces" is missing or not an object')
    for ws, synced in workspaces.items():
        if not isinstance(synced, dict):
            raise _damaged(path, f'"workspaces" > {json.dumps(ws)} is not an object')
        for email, segments in synced.items():
            if not _is_str_list(segments):
                raise _damaged(
                    path,
                    f'"workspaces" > {json.dumps(ws)} > {json.dumps(email)}: the segments are'
                    f" {json.dumps(segments)[:40]}, not a list of segment ids",
                )
    pending = doc.get("pending", {})
    if not isinstance(pending, dict):
        raise _damaged(path, '"pending" is not an object')
    for ws, gen in pending.items():
        where = f'"pending" > {json.dumps(ws)}'
        if not isinstance(gen, dict) or not isinstance(gen.get("generation"), str):
            raise _damaged(path, f"{where} has no generation")
        try:
            datetime.fromisoformat(str(gen.get("synced_at")))
        except ValueError:
            raise _damaged(path, f"{where}: synced_at is not a moment") from None
        items = gen.get("items")
        if not isinstance(items, list):
            raise _damaged(path, f'{where}: "items" is not a list')
        for n, item in enumerate(items):
            if not (
                isinstance(item, list)
                and len(item) == 4
                and isinstance(item[0], str)
                and isinstance(item[1], str)
                and _is_str_list(item[2])
                and (item[3] is None or isinstance(item[3], str))
            ):
                raise _damaged(
                    path, f"{where}: item {n} is not [email, distinct_id, [segments], primary]"
                )
    return doc


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "null"


def _read_acks(path: Path) -> dict[str, set[int]]:
    """generation -> acknowledged item indexes. A last line cut short (the process was killed
    while appending it) was never recorded: its batch is sent again, as the same events."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise _damaged(path, f"cannot read the sync acknowledgements: {e.strerror or e}") from None
    acked: dict[str, set[int]] = {}
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    for n, line in enumerate(complete, 1):
        try:
            entry = json.loads(line)
            generation, spans = entry["generation"], entry["done"]
            if not isinstance(generation, str) or not isinstance(spans, list):
                raise ValueError
            indexes = acked.setdefault(generation, set())
            for start, stop in spans:
                if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop):
                    raise ValueError
                indexes.update(range(start, stop))
        except (ValueError, KeyError, TypeError):
            raise _damaged(
                path, f"line {n} is not an acknowledgement ({{'generation', 'done'}})"
            ) from None
    del tail  # an unfinished last line: not acknowledged
    return acked


def load_state(home: Path) -> State:
    """The sync state of `home`, checked: a StateFileError names the file and what is wrong."""
    path = home / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        doc: Any = {"workspaces": {}}
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise _damaged(path, f"cannot read the sync state: {reason}") from None
    else:
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise _damaged(path, f"not valid JSON ({e})") from None
    return State(path, _check_doc(path, doc), _read_acks(home / ACKS_FILE))


def _write_private(path: Path, text: str) -> None:
    """Whole or nothing, 0600 from the start: a temp file beside it (mkstemp makes it 0600),
    fsynced, renamed over `path`, the folder fsynced."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise cannot_write(path, e) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise cannot_write(path, e) from None
        raise
    _fsync_dir(path.parent)


def cannot_write(path: Path, error: OSError) -> Exception:
    from usertrack.rendering.output import OutputError

    return OutputError(f"cannot write {path}: {error.strerror or error}")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def save_state(state: State) -> None:
    _write_private(state.path, json.dumps(state.doc, indent=0, sort_keys=True) + "\n")


def keep_acks(home: Path, generations: Collection[str]) -> None:
    """Keep only the acknowledgements of `generations` (the pending ones): a folded
    generation's are dropped, also those a crash between the fold and this left behind."""
    path = home / ACKS_FILE
    try:
        lines = path.read_bytes().split(b"\n")[:-1]
    except FileNotFoundError:
        return
    keep = [ln for ln in lines if json.loads(ln).get("generation") in generations]
    if len(keep) == len(lines):
        return
    if keep:
        _write_private(path, b"\n".join(keep).decode() + "\n")
    else:
        path.unlink()
        _fsync_dir(home)


def reset_state(home: Path, now: datetime) -> list[tuple[Path, Path]]:
    """Move the sync state files aside as `<name>.damaged-<time>`, under the sync lock.
    Returns (from, to) of each file moved."""
    moved: list[tuple[Path, Path]] = []
    if not home.is_dir():
        return moved
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    with locks.exclusive(home, LOCK_NAME, what=LOCK_WHAT, wait=locks.DEFAULT_WAIT_SECONDS):
        for name in (STATE_FILE, ACKS_FILE):
            path = home / name
            if path.exists():
                target = path.with_name(f"{name}.damaged-{stamp}")
                n = 1
                while target.exists():
                    n += 1
                    target = path.with_name(f"{name}.damaged-{stamp}-{n}")
                os.replace(path, target)
                moved.append((path, target))
        _fsync_dir(home)
    return moved


def trim_torn_tail(path: Path) -> None:
    """Cut an acks file's unfinished last line (a kill while appending it), so that the next
    line appended is a line of its own."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)
            fh.flush()
            os.fsync(fh.fileno())


def pending_generations(state: State) -> set[str]:
    return {g["generation"] for g in state.doc.get("pending", {}).values()}


def finish_generation(home: Path, state: State, workspace: str, pending: Pending) -> None:
    """Fold a fully acknowledged generation into the synced state, then drop its acks."""
    synced = state.synced(workspace)
    _fold(synced, pending.items)
    state.doc["workspaces"][workspace] = dict(sorted(synced.items()))
    state.doc.get("pending", {}).pop(workspace, None)
    if not state.doc.get("pending"):
        state.doc.pop("pending", None)
    save_state(state)
    keep_acks(home, pending_generations(state))
