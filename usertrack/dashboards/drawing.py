"""Charts drawn by vl-convert (V8 running Vega) in a child process, under a memory and a time
bound, as a query runs under the command's (usertrack.core.bounds).

V8 reserves address space it hardly touches (34 GB of it) and, at its heap's limit or an
allocation refused, ends its whole process (SIGTRAP, a page of its own on stderr): it cannot
run inside the command's bound, and no Python code can stop it once it draws. So on POSIX
every drawing runs in `python -m usertrack.dashboards.draw_child`, with its data size (Linux's
RLIMIT_DATA: V8's heap, its code and every buffer, not the reservations) at most DRAW_MEMORY
and DRAW_SECONDS of CPU per drawing, killed when DRAW_SECONDS per drawing + 5 s of wall time
pass, given none of the environment (no key, no URL). Past a bound: LimitError, one line
(exit 11), and nothing of the drawing is written. The child's answer comes back as frames
(a status byte, a length, the bytes), never a pickle.

The specifications are usertrack's own (usertrack.dashboards.charts, capped there to at most
MAX_SERIES lines and MAX_MARKS marks): what the bound stops is a chart nobody meant to make.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import struct
from typing import Any

from usertrack.core import pseudonyms
from usertrack.core.bounds import exit_status

DRAW_MEMORY = 2 * 1024**3  # data size of the drawing process (RLIMIT_DATA); V8 starts at ~0.6 GB
DRAW_SECONDS = 10.0  # CPU (all threads) per drawing; wall time is this per drawing + 5 s
_FRAME = struct.Struct(">BQ")  # status (0: the drawing, 1: an error's text), length

Drawing = dict[str, Any]  # {"kind": "svg" | "png" | "bundle", "spec": ..., "scale": ...}


def draw(drawings: list[Drawing]) -> list[bytes]:
    """Each drawing's bytes (SVG text as UTF-8, PNG, the JavaScript bundle), in order, drawn in
    one bounded child process; LimitError past its memory or time bound. Where the system has
    no such limits (not POSIX) they are drawn here."""
    if not drawings:
        return []
    # --anonymize: people as pseudonyms in every label and tooltip of the charts drawn.
    drawings = [pseudonyms.anonymize_value(d) for d in drawings]
    if os.name != "posix":
        return [_drawn(d) for d in drawings]
    import subprocess
    import sys

    from usertrack.core.errors import LimitError

    seconds = DRAW_SECONDS * len(drawings)
    request = json.dumps(
        {"drawings": drawings, "memory": DRAW_MEMORY, "cpu": seconds}, ensure_ascii=False
    ).encode("utf-8")
    # Nothing of the environment but what finds Python and usertrack: no key, no URL.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    what = "drawing the chart" if len(drawings) == 1 else f"drawing {len(drawings)} charts"
    late = (
        f"{what} stopped after {seconds:g} s, the time bound of drawing charts"
        f" ({DRAW_SECONDS:g} s each)"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "usertrack.dashboards.draw_child"],
            input=request,
            capture_output=True,  # V8's own report of a fatal error stays here
            timeout=seconds + 5,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LimitError(late) from None
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise LimitError(late)
    out = _frames(proc.stdout) if proc.returncode == 0 else None
    if out is None or len(out) != len(drawings):
        said = proc.stderr.lower()
        if b"out of memory" in said or b"memory allocation" in said or proc.returncode == 3:
            raise LimitError(
                f"{what} stopped at the memory bound of drawing charts"
                f" ({DRAW_MEMORY / 1024**3:g} GiB)"
            )
        raise RuntimeError(f"{what}: the drawing process ended with {exit_status(proc.returncode)}")
    for ok, body in out:
        if not ok:
            raise RuntimeError(f"{what}: {body.decode('utf-8', 'replace')}")
    return [body for _ok, body in out]


def _frames(data: bytes) -> list[tuple[bool, bytes]] | None:
    out, at = [], 0
    while at < len(data):
        if at + _FRAME.size > len(data):
            return None
        status, size = _FRAME.unpack_from(data, at)
        at += _FRAME.size
        if at + size > len(data):
            return None
        out.append((status == 0, data[at : at + size]))
        at += size
    return out


def _drawn(drawing: Drawing) -> bytes:
    import vl_convert

    kind = drawing["kind"]
    if kind == "svg":
        return str(vl_convert.vegalite_to_svg(drawing["spec"])).encode("utf-8")
    if kind == "png":
        return bytes(vl_convert.vegalite_to_png(drawing["spec"], scale=drawing.get("scale", 1)))
    if kind == "bundle":
        # the snippet is optional (its docstring); the type stub omits its default
        text: str = vl_convert.javascript_bundle()  # type: ignore[call-arg]
        return text.encode("utf-8")
    raise ValueError(f"no such drawing: {kind!r}")


def serve() -> None:
    """The child's side of `draw`: read the request (JSON on stdin, from the parent), set the
    limits, draw each, write the frames to stdout. Exit 3: Python's own allocation failed."""
    import resource
    import sys

    request = json.loads(sys.stdin.buffer.read())
    import vl_convert  # noqa: F401 - loaded before the limits

    cpu = math.ceil(float(request["cpu"])) + 1
    memory = int(request["memory"])
    for limit, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_DATA, memory)):
        # A system that refuses one still has the wall-time kill.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(limit, (value, value + 1 if limit == resource.RLIMIT_CPU else value))
    out = sys.stdout.buffer
    try:
        for drawing in request["drawings"]:
            try:
                body, status = _drawn(drawing), 0
            except MemoryError:
                raise
            except Exception as e:  # vl-convert's error for a spec: its text, to the parent
                body, status = f"{type(e).__name__}: {e}".encode(), 1
            out.write(_FRAME.pack(status, len(body)))
            out.write(body)
        out.flush()
    except MemoryError:
        os._exit(3)
