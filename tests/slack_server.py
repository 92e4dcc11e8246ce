"""A Slack incoming-webhook stand-in: real HTTP on 127.0.0.1 that records what it received.

`script` is the list of answers for the next posts, in order, each a status code, or
("slow", seconds) to hold the answer that long, or (429, retry_after); once it is used up every
post is answered 200 "ok" as Slack does. `received` holds the JSON bodies of every post Slack
would have taken (2xx); `attempts` counts every post, answered or not.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOOK_PATH = "/services/T000/B000/SecretHookToken123"


class FakeSlack:
    def __init__(self) -> None:
        self.script: list[Any] = []
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.slack = self  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{HOOK_PATH}"

    def answer(self, body: bytes) -> tuple[int, dict[str, str], float]:
        with self.lock:
            self.attempts += 1
            step = self.script.pop(0) if self.script else 200
        delay = 0.0
        headers: dict[str, str] = {}
        if isinstance(step, tuple) and step[0] == "slow":
            delay, status = float(step[1]), 200
        elif isinstance(step, tuple):
            status, headers = step[0], {"Retry-After": str(step[1])}
        else:
            status = int(step)
        return status, headers, delay


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        slack: FakeSlack = self.server.slack  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != HOOK_PATH:
            status, headers, delay = 404, {}, 0.0
        else:
            status, headers, delay = slack.answer(body)
        if delay:
            time.sleep(delay)
        if 200 <= status < 300:
            with slack.lock:
                slack.received.append(json.loads(body))
        text = b"ok" if status < 300 else b"rate_limited" if status == 429 else b"server_error"
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout): what it sent was still taken above


@contextmanager
def serve() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    thread = threading.Thread(target=slack.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield slack
    finally:
        slack.server.shutdown()
        slack.server.server_close()
