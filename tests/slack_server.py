"""A Slack incoming-webhook stand-in: real HTTP on 127.0.0.1 that records what it received.

`script` is the list of answers for the next posts, in order, each a status code, or
("slow", seconds) to hold the answer that long, or ("held",) to hold it until the test sets
`release` (a minute at most), or (429, retry_after); once it is used up every post is answered
200 "ok" as Slack does. `received` holds the JSON bodies of every post Slack
would have taken (2xx); `attempts` counts every post, answered or not.

Like Slack, it checks every message against Block Kit's limits (`block_kit_problems`: section
text 3,000 characters, header 150, button text 75, URL 3,000, 50 blocks, 10 context elements...)
and answers 400 `invalid_blocks` to one past them (`refused` holds those bodies, `problems` why),
whatever the script says.
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
# Slack's answer to a scripted status (api.slack.com/messaging/webhooks, "Handling errors").
_ANSWERS = {
    400: b"invalid_payload",
    403: b"action_prohibited",
    404: b"no_service",
    410: b"channel_is_archived",
    429: b"rate_limited",
}


class FakeSlack:
    def __init__(self) -> None:
        self.script: list[Any] = []
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.refused: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
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
        if step == ("held",):
            self.release.wait(60)
            status = 200
        elif isinstance(step, tuple) and step[0] == "slow":
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
        text = b""
        if self.path != HOOK_PATH:
            status, headers, delay, text = 404, {}, 0.0, b"no_service"
        else:
            status, headers, delay = slack.answer(body)
            problems = block_kit_problems(body)
            if problems and status < 300:
                status, text = 400, b"invalid_blocks"
                with slack.lock:
                    slack.refused.append(json.loads(body))
                    slack.problems.extend(problems)
        if delay:
            time.sleep(delay)
        if 200 <= status < 300:
            with slack.lock:
                slack.received.append(json.loads(body))
        text = text or _ANSWERS.get(status, b"ok" if status < 300 else b"server_error")
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout): what it sent was still taken above


def _units(text: str) -> int:
    """A text's length in UTF-16 code units (an emoji beyond U+FFFF counts 2): the stricter of
    the ways Slack may count its limits' characters."""
    return len(text.encode("utf-16-le")) // 2


def block_kit_problems(body: bytes) -> list[str]:
    """What Slack would refuse in a message (api.slack.com/reference/block-kit); [] when none."""
    try:
        doc = json.loads(body)
    except ValueError:
        return ["not JSON"]
    if not isinstance(doc, dict):
        return ["not an object"]
    out: list[str] = []

    def text_object(where: str, obj: Any, limit: int, plain_only: bool = False) -> None:
        if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
            out.append(f"{where}: not a text object")
            return
        if plain_only and obj["type"] != "plain_text":
            out.append(f"{where}: must be plain_text")
        text = obj.get("text")
        if not isinstance(text, str) or not 1 <= _units(text) <= limit:
            out.append(f"{where}: text of {_units(text or '')} characters (1 to {limit})")

    text = doc.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > 40_000):
        out.append("text: over 40,000 characters")
    blocks = doc.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        out.append("blocks: more than 50")
        return out
    for n, block in enumerate(blocks):
        where = f"blocks[{n}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "header":
            text_object(where, block.get("text"), 150, plain_only=True)
        elif kind == "section":
            if "text" in block or "fields" not in block:
                text_object(where, block.get("text"), 3000)
            for i, f in enumerate(block.get("fields") or []):
                text_object(f"{where}.fields[{i}]", f, 2000)
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                out.append(f"{where}: 1 to 25 elements")
                continue
            for i, e in enumerate(elements):
                text_object(f"{where}.elements[{i}]", e.get("text"), 75, plain_only=True)
                url = e.get("url")
                if url is not None and (not isinstance(url, str) or _units(url) > 3000):
                    out.append(f"{where}.elements[{i}]: url over 3,000 characters")
                if len(str(e.get("action_id", ""))) > 255:
                    out.append(f"{where}.elements[{i}]: action_id over 255 characters")
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                out.append(f"{where}: 1 to 10 elements")
                continue
            for i, e in enumerate(elements):
                text_object(f"{where}.elements[{i}]", e, 3000)
        elif kind != "divider":
            out.append(f"{where}: unknown block type {kind!r}")
    return out


@contextmanager
def serve() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    thread = threading.Thread(target=slack.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield slack
    finally:
        slack.release.set()
        slack.server.shutdown()
        slack.server.server_close()
