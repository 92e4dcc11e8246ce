"""A PostHog capture stand-in: real HTTP on 127.0.0.1 taking what posthog-python posts to /batch/
(gzip included), recording every event. `fail` answers every post with that status instead
(with a Retry-After of `retry_after` seconds, when given).

For crash and concurrency tests: `stall_after = n` lets n posts through, then takes the next one's
events (or not, with `take_stalled = False`), sets `stalled` and never answers until `release` is
set (the client is killed meanwhile); `hold_first = s` holds the answer to the first post until
another post arrives, the test sets `let_first_go`, or s seconds pass."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeCapture:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.posts: list[dict[str, Any]] = []  # path, gzip, api_key of every post
        self.fail: int | None = None
        self.retry_after: float | None = None
        self.stall_after: int | None = None
        self.take_stalled = True
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.hold_first: float | None = None
        self.let_first_go = threading.Event()  # set by another post, or by the test
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.capture = self  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def sets(self) -> dict[str, dict[str, Any]]:
        """distinct_id -> the last $set it received."""
        return {e["distinct_id"]: e["$set"] for e in self.events if e.get("event") == "$set"}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        capture: FakeCapture = self.server.capture  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        zipped = self.headers.get("Content-Encoding") == "gzip"
        body = json.loads(gzip.decompress(raw) if zipped else raw)
        with capture.lock:
            capture.posts.append(
                {"path": self.path, "gzip": zipped, "api_key": body.get("api_key")}
            )
            number = len(capture.posts)
            if number > 1:
                capture.let_first_go.set()
            stall = capture.stall_after is not None and number > capture.stall_after
            status = capture.fail or 200
            taken = not stall or capture.take_stalled
            if status == 200 and self.path.startswith("/batch") and taken:
                capture.events.extend(body.get("batch", []))
        if stall:
            capture.stalled.set()
            capture.release.wait(60)
            return  # no answer: the client was killed meanwhile
        if number == 1 and capture.hold_first:
            capture.let_first_go.wait(capture.hold_first)
        text = b'{"status": 1}' if status == 200 else b'{"error": "down"}'
        self.send_response(status)
        if status != 200 and capture.retry_after is not None:
            self.send_header("Retry-After", f"{capture.retry_after:g}")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)


@contextmanager
def serve() -> Iterator[FakeCapture]:
    capture = FakeCapture()
    thread = threading.Thread(target=capture.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        capture.release.set()
        capture.server.shutdown()
        capture.server.server_close()
