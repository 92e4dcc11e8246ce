"""`usertrack mcp` answers every request, however deep its JSON nests: a real server process on
stdio, sent raw JSON-RPC lines. A request nested deeper than the MCP SDK's parser reads (200
levels) got no answer at all, and its client waited forever."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli_runner import REPO
from usertrack.mcp_wire import MAX_DEPTH, request_id, too_deep

DEPTHS = [200, 1000, 100_000]


class Wire:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        return json.loads(self.proc.stdout.readline())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    home = tmp_path_factory.mktemp("mcp-wire")
    proc = subprocess.Popen(
        [sys.executable, "-m", "usertrack", "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "USERTRACK_HOME": str(home)},
    )
    w = Wire(proc)
    init = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    }
    w.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}))
    answer = w.receive(60)
    assert answer is not None and answer["id"] == 1, answer
    w.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    try:
        yield w
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        finally:
            proc.kill()
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        assert "Traceback" not in stderr, stderr


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def _answered(wire: Wire, line: str, ident: int | str) -> dict[str, Any]:
    started = time.monotonic()
    wire.send(line)
    answer = wire.receive(5)
    took = time.monotonic() - started
    assert answer is not None, "no answer"
    assert answer["id"] == ident, answer
    assert took < 1.0, took
    return answer


@pytest.mark.parametrize("levels", DEPTHS)
@pytest.mark.parametrize("where", ["arguments", "params"])
def test_a_deep_request_gets_an_error_at_once_and_the_next_an_answer(
    wire: Wire, levels: int, where: str
) -> None:
    ident = levels + (1 if where == "params" else 0)
    if where == "arguments":
        params = '{"name":"segments","arguments":{"segment":NEST}}'
        line = '{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":PARAMS}'
    else:  # any params object, the id after it
        params = '{"x":{"y":NEST}}'
        line = '{"jsonrpc":"2.0","method":"ping","params":PARAMS,"id":ID}'
    line = line.replace("ID", str(ident)).replace("PARAMS", params).replace("NEST", _nested(levels))
    answer = _answered(wire, line, ident)
    assert answer["error"]["code"] == -32600, answer
    assert f"at most {MAX_DEPTH}" in answer["error"]["message"], answer
    after = _answered(wire, json.dumps({"jsonrpc": "2.0", "id": 7, "method": "ping"}), 7)
    assert after == {"jsonrpc": "2.0", "id": 7, "result": {}}


def test_a_deep_notification_is_dropped_and_the_server_goes_on(wire: Wire) -> None:
    wire.send(
        '{"jsonrpc":"2.0","method":"notifications/x","params":{"a":NEST}}'.replace(
            "NEST", _nested(5000)
        )
    )
    answer = _answered(wire, json.dumps({"jsonrpc": "2.0", "id": "s", "method": "ping"}), "s")
    assert answer == {"jsonrpc": "2.0", "id": "s", "result": {}}


def test_a_request_within_the_bound_is_answered_as_before(wire: Wire) -> None:
    params = {"name": "segments", "arguments": {"segment": json.loads(_nested(20))}}
    line = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params})
    answer = _answered(wire, line, 9)
    assert answer["result"]["isError"], answer
    assert "argument 'segment' must be a string" in answer["result"]["content"][0]["text"]


def test_nesting_is_counted_on_the_text() -> None:
    assert too_deep(_nested(MAX_DEPTH)) is None
    assert too_deep(_nested(MAX_DEPTH + 1)) == MAX_DEPTH + 1
    assert too_deep(json.dumps({"a": "[" * 10_000, "b": "{\\" * 10_000})) is None  # in strings
    assert too_deep('{"a":"' + '\\"[' * 1000 + '"}') is None  # escaped quotes stay in the string
    assert too_deep('{"a":"\\' + "[" * 5000) is None  # an unterminated string is a string
    started = time.process_time()
    assert too_deep('"' + '\\"' * 1_000_000) is None  # linear: read once
    assert too_deep("[" * 1_000_000) == 1_000_000
    assert time.process_time() - started < 2.0


def test_a_requests_id_is_read_at_its_top_level_only() -> None:
    def read(text: str) -> int | str | None:
        return request_id(text.replace("NEST", _nested(500)))

    assert read('{"params":{"id":1,"method":"x"},"id":"a b","method":"m","x":NEST}') == "a b"
    assert read('{"method":"m","params":NEST,"id":-12}') == -12
    assert read('{"method":"m","params":NEST}') is None  # a notification
    assert read('{"id":3,"result":NEST}') is None  # a response
    assert read('{"method":"m","id":true,"p":NEST}') is None
    assert read('{"method":"m","id":{"a":1},"p":NEST}') is None
