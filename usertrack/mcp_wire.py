"""The lines `usertrack mcp` reads from its client, bounded in nesting before they are parsed.

The MCP SDK reads each line with pydantic's JSON parser, which stops at 200 levels of nesting
("recursion limit exceeded"); the SDK then drops the line without a word, and a client that
sent a request nested that deep waited for its answer forever. Here each line's nesting is
counted on its text first (linear, brackets inside strings not counted), and a message nested
deeper than MAX_DEPTH never reaches the SDK: a request gets a JSON-RPC error with its own id at
once, a notification or a response is dropped (nobody waits for it), and the server reads the
next line. The server reads its client on a descriptor of its own while fd 0 points at the null
device, as the SDK's stdio transport does, so a worker or a child process never reads the wire.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from itertools import accumulate
from typing import Any, BinaryIO

# Levels of nesting a message may have: the envelope and its params take three, a tool's
# arguments a few more. Well inside the SDK parser's 200 and Python's recursion limit.
MAX_DEPTH = 100

# A JSON string (its closing quote optional, so an unterminated one is read once, to the end
# of the line, never again from each quote inside it), or one bracket.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?')
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]')
_COLON = re.compile(r"\s*:\s*")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
INVALID_REQUEST = -32600  # JSON-RPC 2.0's code for a message that is not a valid request

Reply = Callable[[int | str, str], Awaitable[None]]  # (the request's id, the message)


def too_deep(line: str) -> int | None:
    """How deep the JSON text's arrays and objects nest (brackets in strings not counted), when
    deeper than MAX_DEPTH; else None."""
    if line.count("[") + line.count("{") <= MAX_DEPTH:  # too few brackets to nest that deep
        return None
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", line))
    nested = max(accumulate(_STEP[c] for c in brackets), default=0)
    return nested if nested > MAX_DEPTH else None


def request_id(line: str) -> int | str | None:
    """The id of a request (an object with a `method` and an `id` at its top level) read off
    its text without parsing its values: None for a notification, a response or no object."""
    level = 0
    ident: Any = None
    keys: set[str] = set()
    for token in _TOKEN.finditer(line):
        first = token.group()[0]
        if first in "[{":
            level += 1
        elif first in "]}":
            level -= 1
        elif level == 1 and (colon := _COLON.match(line, token.end())) is not None:
            try:
                key = json.loads(token.group())
            except ValueError:
                continue
            if (
                key == "id"
                and "id" not in keys
                and line[colon.end() : colon.end() + 1] in '"-0123456789'
            ):
                with contextlib.suppress(ValueError):
                    ident = _DECODER.raw_decode(line, colon.end())[0]
            keys.add(key)
    if "method" not in keys or isinstance(ident, bool) or not isinstance(ident, int | str):
        return None
    return ident


_DECODER = json.JSONDecoder()


class GuardedLines:
    """The client's lines as the SDK's stdio transport reads them (`async for line in ...`),
    those nested too deep held back and answered with `reply` (a request's) or dropped."""

    def __init__(self, source: Any, reply: Reply) -> None:
        self.source = source
        self.reply = reply

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        async for line in self.source:
            nested = too_deep(line)
            if nested is None:
                yield line
                continue
            ident = request_id(line)
            if ident is not None:
                await self.reply(
                    ident,
                    f"request nested {nested} levels deep; at most {MAX_DEPTH}: not read",
                )


@contextlib.contextmanager
def client_input() -> Iterator[BinaryIO]:
    """The client's end of stdin on a descriptor of this process alone (not inherited), while
    fd 0 reads the null device; fd 0 is the wire again afterwards."""
    wire = os.dup(0)  # non-inheritable (PEP 446): no child process gets it
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
    finally:
        os.close(null)
    try:
        with open(wire, "rb", closefd=False) as wire_file:
            yield wire_file
    finally:
        os.dup2(wire, 0)
        os.close(wire)


@contextlib.asynccontextmanager
async def guarded_stdio() -> AsyncIterator[tuple[Any, Any]]:
    """The MCP SDK's stdio transport (`mcp.server.stdio.stdio_server`) on the client's lines,
    those nested too deep answered here: (read stream, write stream) for `Server.run`."""
    import io

    import anyio
    import mcp_types as types
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage

    ready = anyio.Event()
    writers: list[Any] = []

    async def reply(ident: int | str, message: str) -> None:
        await ready.wait()
        error = types.ErrorData(code=INVALID_REQUEST, message=message)
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await writers[0].send(
                SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=ident, error=error))
            )

    with client_input() as wire:
        text = io.TextIOWrapper(wire, encoding="utf-8", errors="replace")
        lines = GuardedLines(anyio.wrap_file(text), reply)
        async with stdio_server(stdin=lines) as (read_stream, write_stream):  # type: ignore[arg-type]
            writers.append(write_stream)
            ready.set()
            yield read_stream, write_stream
