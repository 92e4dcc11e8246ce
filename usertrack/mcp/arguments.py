"""What a tool of `usertrack mcp` takes: every argument bounded in size, checked again here
whatever the client checked (docs/trust.md). No argument names a file or a folder: the tools are
made without the parameters `usertrack.core.path_parameters.names_a_path` finds."""

from __future__ import annotations

from typing import Any


class ToolError(Exception):
    """A call that failed: its one-line message (the CLI's own for a command's error)."""


# Every argument's size, in its schema and checked again here (a schema is advice to the
# client): longer text and longer lists are refused with a tool error before anything runs.
MAX_TEXT = 2048  # characters of one string (a --where expression is at most 2000)
MAX_LIST = 20  # values of one list (funnel steps, trends events, --where expressions)
MAX_INTEGER = 1_000_000  # an integer option without its own bound


def shown(value: Any) -> str:
    """A value for a message: its repr, cut (a refused 1 MiB argument is not echoed back)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def checked_values(tool: str, name: str, value: Any, schema: dict[str, Any]) -> list[str]:
    """The argument's values as command-line text, when `value` is of the schema's type and
    within its size; else a ToolError that names the argument (never echoing all of it)."""
    expected = schema["type"]

    def bad() -> ToolError:
        return ToolError(f"{tool}: argument {name!r} must be {_A[expected]}, not {shown(value)}")

    if expected == "array":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad()
        if len(value) > schema.get("maxItems", MAX_LIST):
            raise ToolError(
                f"{tool}: argument {name!r} holds {len(value)} values; at most"
                f" {schema.get('maxItems', MAX_LIST)}"
            )
        for v in value:
            _check_length(tool, name, v)
        return list(value)
    if expected == "boolean":
        if not isinstance(value, bool):
            raise bad()
        return []
    if expected in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(
            value, int if expected == "integer" else int | float
        ):
            raise bad()
        # The command checks its own ranges (with its own message); only a size is checked here.
        if not -MAX_INTEGER <= value <= MAX_INTEGER and (
            schema.get("maximum") == MAX_INTEGER or expected == "number"
        ):
            raise ToolError(
                f"{tool}: argument {name!r} must be between {-MAX_INTEGER} and {MAX_INTEGER},"
                f" not {shown(value)}"
            )
        return [str(value)]
    if not isinstance(value, str):
        raise bad()
    _check_length(tool, name, value)
    return [value]


def _check_length(tool: str, name: str, value: str) -> None:
    if len(value) > MAX_TEXT:
        raise ToolError(
            f"{tool}: argument {name!r} is {len(value)} characters long; at most {MAX_TEXT}"
        )


_A = {
    "array": "a list of strings",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
}
