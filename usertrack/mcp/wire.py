"""The lines `usertrack mcp` reads from its client, each answered when the MCP SDK would not.

The MCP SDK's stdio transport reads each line with its JSON-RPC message model
(`mcp_types.jsonrpc_message_adapter`) and drops a line it cannot read without a word (it only
logs it at debug level): a client that sent it waits for its answer forever. So each line is
judged here first, and only one the SDK reads as a message it handles reaches it:

- nesting is counted on the text (linear, brackets inside strings not counted): pydantic's JSON
  parser stops at 200 levels, so a message nested deeper than MAX_DEPTH is refused unparsed; a
  request gets a JSON-RPC error with its own id at once, a notification or a response is
  dropped (nobody waits for it);
- a line that is not JSON gets JSON-RPC's Parse error (-32700, id null);
- JSON that is not a JSON-RPC 2.0 request, notification or response, as the SDK's own model
  reads it (a wrong `jsonrpc`, no `method`, a batch array, which MCP dropped in 2025-06-18),
  gets Invalid Request (-32600) with the request's id when its top level holds one; so does a
  request whose id is neither a string nor an integer, which the SDK would take for a
  notification and never answer.

An error's text never quotes the line, which a stranger may have written. The server reads its
client on a descriptor of its own while fd 0 points at the null device, as the SDK's stdio
transport does, so a worker or a child process never reads the wire.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
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
PARSE_ERROR = -32700  # JSON-RPC 2.0's code for a text that is not JSON
INVALID_REQUEST = -32600  # JSON-RPC 2.0's code for a message that is not a valid request

_UNREAD = object()  # a top-level value not read off the text: an array, an object, not JSON

Reply = Callable[[int | str | None, int, str], Awaitable[None]]  # (id, code, message)


@dataclass(frozen=True)
class Refusal:
    """A line kept from the SDK, and the JSON-RPC error that answers it (when `answer`)."""

    code: int
    ident: int | str | None
    message: str
    answer: bool = True


def too_deep(line: str) -> int | None:
    """How deep the JSON text's arrays and objects nest (brackets in strings not counted), when
    deeper than MAX_DEPTH; else None."""
    if line.count("[") + line.count("{") <= MAX_DEPTH:  # too few brackets to nest that deep
        return None
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", line))
    nested = max(accumulate(_STEP[c] for c in brackets), default=0)
    return nested if nested > MAX_DEPTH else None


def _top_level(line: str) -> dict[str, Any]:
    """The members of the object a JSON text holds, read off its text without parsing nested
    values: each key with its value when that is a string, a number, true, false or null (the
    last of a repeated key, as JSON parsers keep), else _UNREAD. Empty for no object."""
    if not line.lstrip().startswith("{"):
        return {}
    level = 0
    members: dict[str, Any] = {}
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
            members[key] = _UNREAD
            if line[colon.end() : colon.end() + 1] not in "[{":  # never parse what may nest
                with contextlib.suppress(ValueError):
                    members[key] = _DECODER.raw_decode(line, colon.end())[0]
    return members


_DECODER = json.JSONDecoder()


def _answer_id(members: dict[str, Any]) -> int | str | None:
    """The id an error answering this message carries: its own when that is a string or an
    integer, unless the message is a response (its id is one of the server's requests: an
    error with it would answer another); else null."""
    ident = members.get("id")
    if "method" not in members and ("result" in members or "error" in members):
        return None
    if isinstance(ident, bool) or not isinstance(ident, int | str):
        return None
    return ident


def _unanswered(members: dict[str, Any]) -> bool:
    """Whether nobody waits for an answer to this message: a notification or a response."""
    if "method" in members:
        return members.get("id") is None
    return "result" in members or "error" in members


def request_id(line: str) -> int | str | None:
    """The id of a request (an object with a `method` and an `id` at its top level) read off
    its text without parsing its values: None for a notification, a response or no object."""
    members = _top_level(line)
    return _answer_id(members) if "method" in members else None


def _parsed(line: str) -> Any:
    """The JSON text the SDK's model read, parsed again (a dict when that was a message), or
    None when Python's parser refuses it (an integer of more than 4,300 digits)."""
    try:
        return json.loads(line)
    except ValueError:
        return None


def _sdk_refusal(line: str) -> Refusal | None:
    """The error answering a line the SDK's transport would drop, judged by the SDK's own
    model exactly as its transport calls it; None for a line the SDK reads and handles."""
    import mcp_types as types
    from pydantic import ValidationError

    try:
        message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValidationError as error:
        if any(e["type"] == "json_invalid" for e in error.errors(include_input=False)):
            return Refusal(PARSE_ERROR, None, "Parse error: the line is not JSON")
        parsed = _parsed(line)
        if isinstance(parsed, list):
            return Refusal(
                INVALID_REQUEST, None, "Invalid Request: a batch; MCP reads one message a line"
            )
        members = parsed if isinstance(parsed, dict) else {}
        return Refusal(
            INVALID_REQUEST,
            _answer_id(members),
            "Invalid Request: not a JSON-RPC 2.0 request, notification or response",
        )
    except Exception:  # whatever else stops the model, the SDK drops the line on it
        return Refusal(PARSE_ERROR, None, "Parse error: the line is not JSON")
    parsed = _parsed(line) if isinstance(message, types.JSONRPCNotification) else None
    if isinstance(parsed, dict) and parsed.get("id") is not None:
        # The model ignores an id it cannot read, making a request a notification nobody answers.
        return Refusal(
            INVALID_REQUEST, None, "Invalid Request: a request's id must be a string or an integer"
        )
    return None


def refusal(line: str) -> Refusal | None:
    """Why the line is kept from the SDK, and how it is answered; None when the SDK reads it as
    a message it handles."""
    if not line.strip():
        return Refusal(PARSE_ERROR, None, "", answer=False)  # nobody waits for a blank line
    nested = too_deep(line)
    if nested is not None:  # never parsed: the SDK's parser stops at 200 levels
        members = _top_level(line)
        return Refusal(
            INVALID_REQUEST,
            _answer_id(members),
            f"Invalid Request: nested {nested} levels deep, at most {MAX_DEPTH}: not read",
            answer=not _unanswered(members),
        )
    return _sdk_refusal(line)


class GuardedLines:
    """The client's lines as the SDK's stdio transport reads them (`async for line in ...`),
    those it would drop held back and answered with `reply`, or dropped when nobody waits."""

    def __init__(self, source: Any, reply: Reply) -> None:
        self.source = source
        self.reply = reply

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        async for line in self.source:
            refused = refusal(line)
            if refused is None:
                yield line
            elif refused.answer:
                await self.reply(refused.ident, refused.code, refused.message)


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
    those it would drop answered here: (read stream, write stream) for `Server.run`."""
    import io

    import anyio
    import mcp_types as types
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage

    ready = anyio.Event()
    writers: list[Any] = []

    async def reply(ident: int | str | None, code: int, message: str) -> None:
        await ready.wait()
        error = types.ErrorData(code=code, message=message)
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
