"""usertrack as a Model Context Protocol server (`usertrack mcp`), over stdio.

Each tool is one of usertrack's read-only commands. Its input schema is generated from the
command's own Click parameters (usertrack/cli/), so the CLI and the tools cannot drift: a new
option is a new tool argument, with the same type, default and help. A call runs the command
with `--format json` in a worker process (usertrack.mcp.workers: bounded as a command's process
is, so a slow or huge call blocks no other) and answers with exactly what the command printed;
the sources (the demo's PostgreSQL and event store, a live API's cache) stay open between calls
(`usertrack.workspace.keep_open`).

Nothing is written by default: the commands run with `--no-save`, `alerts` without `--notify`.
`alerts --notify` and `sync posthog --apply` are tools only when the server is started with
`--allow-act`, and each still defaults to a dry run. The assistant picks the server's queries by
name (`query_id`); an inline SELECT (`hogql`, `sql`) only when the server is started with
`--allow-inline-queries`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from usertrack.core import pseudonyms
from usertrack.core.errors import EXIT_USAGE, redact, take_ended
from usertrack.core.path_parameters import names_a_path
from usertrack.core.posthog_options import refusal
from usertrack.dashboards.spec import NAME, summaries
from usertrack.mcp.answers import (
    ERROR_NOTE,
    SAID_NOTE,
    Told,
    cut_answer,
    error_message,
    marked,
    told_error,
)
from usertrack.mcp.arguments import (
    MAX_INTEGER,
    MAX_LIST,
    MAX_TEXT,
    ToolError,
    checked_values,
    shown,
)
from usertrack.mcp.prompts import INSTRUCTIONS, PROMPTS, prompt_text

# An assistant's context is small: lists longer than this are cut, with their totals given.
DEFAULT_MAX_ITEMS = 50

# Options no tool takes: the answer is always JSON on the wire, nothing is written under
# USERTRACK_HOME or anywhere else.
_NEVER = frozenset({"fmt", "out", "save", "help"})

# The files the server was started with: parameter name -> the value every call passes.
started_with: dict[str, str] = {}


def _started(name: str) -> Path | None:
    value = started_with.get(name)
    return Path(value) if value else None


@dataclass(frozen=True)
class ToolSpec:
    """One tool: the command it runs, the options it does not expose, what it always passes."""

    name: str
    command: tuple[str, ...]
    fixed: tuple[str, ...] = ("--format", "json")
    hide: frozenset[str] = frozenset()
    text: bool = False  # the command prints text (Markdown), not JSON
    act: bool = False  # only with --allow-act
    summary: str = ""  # said before the command's own help
    required: frozenset[str] = frozenset()  # optional in the CLI (another mode), not here
    names: frozenset[str] = frozenset()  # arguments that are a plain name, never a path
    inline: frozenset[str] = frozenset()  # query text: only with --allow-inline-queries


# `limit` of segments, user and accounts shapes only the table and Markdown, never the JSON:
# the tools limit their answers with `max_items` instead. failures' bounds the JSON of its lists
# (runs, js_errors), so the tool takes it.
TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("segments", ("segments",), ("--format", "json", "--no-save"), frozenset({"limit"})),
    ToolSpec("user", ("user",), hide=frozenset({"limit"})),
    ToolSpec("failures", ("failures",)),
    # --no-save: segments classified for --segment stay out of the history
    ToolSpec("tools", ("tools",), ("--format", "json", "--no-save")),
    ToolSpec("accounts", ("accounts",), ("--format", "json", "--no-save"), frozenset({"limit"})),
    # --no-save: segments classified for by_segment or segment stay out of the history
    ToolSpec("funnel", ("funnel",), ("--format", "json", "--no-save")),
    ToolSpec("retention", ("retention",), ("--format", "json", "--no-save")),
    ToolSpec("activity", ("activity",), ("--format", "json", "--no-save")),
    ToolSpec("churn", ("churn",), ("--format", "json", "--no-save")),
    ToolSpec("sessions", ("sessions",), ("--format", "json", "--no-save")),
    ToolSpec("paths", ("paths",), ("--format", "json", "--no-save")),
    ToolSpec("features", ("features",), ("--format", "json", "--no-save")),
    ToolSpec("trends", ("trends",), ("--format", "json", "--no-save")),  # when the command exists
    ToolSpec(
        "alerts",
        ("alerts",),
        ("--format", "json", "--no-save"),
        frozenset({"notify", "reset_outbox", "watch", "every", "passes", "cooldown"}),
        summary="Dry run: what `alerts` would send now; nothing is sent.",
    ),
    ToolSpec(
        "tracking_plan",
        ("tracking-plan",),
        hide=frozenset({"fail_under", "limit"}),
    ),
    ToolSpec(
        "report_weekly",
        ("report",),
        ("weekly", "--out", "-", "--no-save"),
        frozenset(
            {"dashboard", "list_dashboards", "force", "print_template", "compare", "open_it"}
        ),
        text=True,
        summary="The weekly report's Markdown text (not written to a file).",
    ),
    ToolSpec(  # a dashboard by its name only (list_dashboards): never a path
        "report",
        ("report",),
        ("--format", "json", "--out", "-", "--no-save"),
        frozenset({"list_dashboards", "force", "print_template", "template", "open_it"})
        | frozenset({"segments_file", "queries_dir"}),  # no argument names a path
        required=(DASHBOARD := frozenset({"dashboard"})),
        names=DASHBOARD,
    ),
    ToolSpec(  # the list is list_queries; a query_id, or (if allowed) an inline SELECT
        "query", ("query",), hide=frozenset({"list_queries"}), inline=frozenset({"hogql", "sql"})
    ),
    ToolSpec(  # the command's own default for --save: only when sending
        "alerts_notify",
        ("alerts",),
        ("--format", "json"),
        frozenset({"reset_outbox", "watch", "every", "passes", "pending"}),
        act=True,
        summary="Send the alerts with notify=slack; without notify, a dry run.",
    ),
    ToolSpec(
        "sync_posthog",
        ("sync", "posthog"),
        (),
        frozenset({"reset"}),
        text=True,
        act=True,
        summary="Send segments to PostHog with apply=true; without it, a dry run.",
    ),
)

MAX_ITEMS_SCHEMA: dict[str, Any] = {
    "type": "integer",
    "minimum": 0,
    "default": DEFAULT_MAX_ITEMS,
    "description": (
        "Longest list shown in the answer; longer lists are cut and their totals given."
        f" 0: everything (the CLI's JSON as is). Default: {DEFAULT_MAX_ITEMS}."
    ),
}

LIST_QUERIES_DESCRIPTION = (
    "The queries of the library that `query` runs: id, description, source and parameters"
    " (name and default; no default means required)."
)


# --- the tools' schemas, from the commands' Click parameters ------------------------------


# The `usertrack` Typer app whose commands become tools: handed over by the CLI's `mcp` command
# (`use_app`), so that this module does not import the CLI back (tests/test_layering.py).
_app: Any = None


def use_app(app: Any) -> None:
    """Serve the commands of `app` (usertrack.cli.app)."""
    global _app
    _app = app
    _root.cache_clear()


@functools.cache
def _root() -> Any:
    """The `usertrack` Click group (built once: 0.14 s)."""
    from typer.main import get_command

    if _app is None:
        raise RuntimeError("usertrack.mcp.server: call use_app(usertrack.cli.app) first")
    return get_command(_app)


def _command(root: Any, path: tuple[str, ...]) -> Any | None:
    command = root
    for name in path:
        commands = getattr(command, "commands", None)
        if commands is None or name not in commands:
            return None
        command = commands[name]
    return command


def _json_type(param: Any) -> dict[str, Any]:
    """A parameter's JSON Schema type, read from the Click type typer built for it (an
    IntRange keeps the option's bounds)."""
    from typer._click import types

    kind = getattr(param, "type", None)
    if param.multiple or param.nargs == -1:
        return {
            "type": "array",
            "items": {"type": "string", "maxLength": MAX_TEXT},
            "maxItems": MAX_LIST,
        }
    if isinstance(kind, types.BoolParamType):
        return {"type": "boolean"}
    if isinstance(kind, types.IntParamType):
        schema: dict[str, Any] = {"type": "integer"}
        low, high = getattr(kind, "min", None), getattr(kind, "max", None)
        schema["minimum"] = low if low is not None else -MAX_INTEGER
        schema["maximum"] = high if high is not None else MAX_INTEGER
        return schema
    if isinstance(kind, types.FloatParamType):
        return {"type": "number", "minimum": -MAX_INTEGER, "maximum": MAX_INTEGER}
    return {"type": "string", "maxLength": MAX_TEXT}


def _exposed(spec: ToolSpec, command: Any) -> list[Any]:
    hidden = _NEVER | spec.hide
    return [
        p
        for p in command.params
        if p.expose_value
        and p.name not in hidden
        and not getattr(p, "hidden", False)  # an old name kept for the command line only
        and not names_a_path(p)
    ]


def input_schema(spec: ToolSpec, command: Any) -> dict[str, Any]:
    """The tool's JSON Schema: one property per exposed parameter of the command."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in _exposed(spec, command):
        schema = _json_type(param)
        text = " ".join((getattr(param, "help", None) or "").split())
        if param.param_type_name == "option":
            flag = "/".join(param.opts[:1] + param.secondary_opts[:1])
            text = f"{text} (CLI: {flag})" if text else f"CLI: {flag}"
        if text:
            schema["description"] = text
        default = param.default
        if default is not None and not callable(default):
            schema["default"] = str(default) if isinstance(default, Path) else default
        properties[param.name] = schema
        if param.required or param.name in spec.required:
            required.append(param.name)
    if not spec.text:
        properties["max_items"] = dict(MAX_ITEMS_SCHEMA)
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    command: Any
    description: str
    schema: dict[str, Any]


def tools(allow_act: bool = False, allow_inline: bool = False) -> dict[str, Tool]:
    """The tools this server serves: every read-only command that exists, the write ones only
    with `allow_act`; the arguments that take query text (`query`'s hogql, sql) only with
    `allow_inline`."""
    root = _root()
    found: dict[str, Tool] = {}
    for spec in TOOLS:
        if spec.act and not allow_act:
            continue
        gated = bool(spec.inline) and not allow_inline
        if gated:
            spec = replace(spec, hide=spec.hide | spec.inline)
        command = _command(root, spec.command)
        if command is None:
            continue
        help_text = " ".join((command.help or "").split("\b")[0].split())
        description = f"{spec.summary} {help_text}".strip() if spec.summary else help_text
        description += f" (`usertrack {' '.join(spec.command)}`.)"
        if gated:
            description += " Inline SELECTs are off on this server: a query_id only."
        found[spec.name] = Tool(spec, command, description, input_schema(spec, command))
    return found


def cli_args(tool: Tool, arguments: dict[str, Any]) -> list[str]:
    """The command line for a call: options as `--name=value` and the positional values after
    `--`, so no value (an email such as `--notify`) can be read as an option. The files the
    server was started with (`started_with`) are passed to every command that takes them."""
    by_name = {p.name: p for p in _exposed(tool.spec, tool.command)}
    off = sorted((set(arguments) & tool.spec.inline) - set(by_name))
    if off:
        raise ToolError(
            f"{tool.spec.name}: argument {shown(off[0])} (an inline query) is off on this server:"
            " pass a query_id from list_queries; the person running the server can allow"
            " read-only inline SELECTs with `usertrack mcp --allow-inline-queries`"
        )
    unknown = sorted(set(arguments) - set(by_name) - {"max_items"})
    refused = [(u, line) for u in unknown if (line := refusal(u)) is not None]
    if refused:  # PostHog's name of an option usertrack leaves out: why, and what instead
        raise ToolError(f"{tool.spec.name}: argument {shown(refused[0][0])}: {refused[0][1]}")
    if unknown:
        raise ToolError(
            f"{tool.spec.name}: unknown argument {shown(unknown[0])}"
            f" (it takes: {', '.join(sorted(tool.schema['properties']))})"
        )
    options: list[str] = []
    positional: list[str] = []
    for name, value in arguments.items():
        if name == "max_items" or value is None:
            continue
        param = by_name[name]
        schema = tool.schema["properties"][name]
        values = checked_values(tool.spec.name, name, value, schema)
        if name in tool.spec.names and not all(NAME.match(v) for v in values):
            raise ToolError(
                f"{tool.spec.name}: argument {name!r} must be a name, not {shown(value)}"
            )
        if param.param_type_name == "argument":
            positional.extend(values)
        elif schema["type"] == "boolean":
            if value:
                options.append(param.opts[0])
            elif param.secondary_opts:
                options.append(param.secondary_opts[0])
        else:
            long = next((o for o in param.opts if o.startswith("--")), param.opts[0])
            options.extend(f"{long}={v}" for v in values)
    missing = [n for n in tool.schema.get("required", []) if arguments.get(n) is None]
    if missing:
        raise ToolError(f"{tool.spec.name}: missing argument {missing[0]!r}")
    for param in tool.command.params:
        if param.name in started_with and param.param_type_name == "option":
            long = next((o for o in param.opts if o.startswith("--")), param.opts[0])
            options.append(f"{long}={started_with[param.name]}")
    return [*tool.spec.command, *tool.spec.fixed, *options, "--", *positional]


# --- running a command in this process ------------------------------------------------------

# The server's worker processes (usertrack.mcp.workers): None when calls run in this process
# (a library user's, the tests').
_workers: Any = None

# One command at a time: a command's output is this process's stdout, caught for its answer.
_run_lock = threading.Lock()

# Exit codes after which the open sources are kept: the caller's mistake, not the sources'.
_KEEP_SOURCES = frozenset({0, EXIT_USAGE, 3, 6, 9})


class _Capture(io.StringIO):
    """A command's stdout, and the last text written to it that knows its own pieces
    (`export.ListedJson`)."""

    listed: str | None = None

    def write(self, s: str) -> int:
        self.listed = s if hasattr(s, "items") and hasattr(s, "head") else None
        return super().write(s)

    def answer(self) -> str:
        """What was written; the ListedJson itself when it was all that was written."""
        text = self.getvalue()
        return self.listed if self.listed is not None and self.listed == text else text


@contextlib.contextmanager
def _captured() -> Iterator[tuple[_Capture, io.StringIO]]:
    out, err = _Capture(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


Answer = tuple[int, str, str, Told | None]  # exit code, stdout, stderr, its error as told


def run_command(argv: list[str], quiet: bool = True) -> Answer:
    """`usertrack [--quiet] ARGV` in this process: its exit code, stdout and stderr, and the
    error it ended with as the assistant is told it (`told_error`)."""
    from usertrack.workspace import drop_kept

    root = _root()
    with _run_lock, _captured() as (out, err):
        code: Any = 0
        take_ended()  # none of an earlier command's
        try:
            root.main(
                args=["--quiet", *argv] if quiet else argv,
                prog_name="usertrack",
                standalone_mode=True,
            )
        except SystemExit as e:
            code = e.code
        except BaseException as e:  # KeyboardInterrupt and the like: the command's, not ours
            code = 1
            err.write(f"usertrack: internal error: {redact(type(e).__name__)}\n")
        status = code if isinstance(code, int) else (0 if code is None else 1)
        if status not in _KEEP_SOURCES:
            drop_kept()  # a source that failed is opened afresh by the next call
        told = told_error(take_ended(), status) if status else None
    return status, out.answer(), err.getvalue(), told


def error_text(code: int, stderr: str, told: Told | None = None) -> str:
    """The command's error as it says it (the `usertrack: error:` and `hint:` lines), what it
    quotes marked as data (`error_message`): all of it unless `told` keeps its words apart."""
    lines = [
        line
        for line in stderr.splitlines()
        if line.startswith(("usertrack: error:", "usertrack: internal error:", "usertrack: hint:"))
    ]
    if not lines:
        return f"usertrack: error: the command failed\n(exit code {code})"
    return redact(pseudonyms.anonymize_text(error_message(code, told, "\n".join(lines))))


# --- answers kept: the demo's data does not change under a running server -------------------

# Tools whose answer depends only on their arguments, the data and the files they read (not on
# a state they keep: alerts' cooldowns and outbox, the report's history, segments' changes).
_MEMO_TOOLS = frozenset(
    {"segments", "user", "failures", "funnel", "retention", "activity", "sessions", "paths"}
    | {"features", "trends", "tracking_plan", "query", "churn"}
)
_MEMO_SIZE = 64
_memo: dict[tuple[Any, ...], Answer] = {}
_memo_lock = threading.Lock()


def _stamp(path: Path) -> tuple[Any, ...]:
    """What changes when a file, or any file of a folder, changes: one stat a file, its inode,
    size and change time with its modification time (an edit that puts the size and the
    modification time back still changes the change time)."""
    from usertrack.core.filecache import stamp

    if not path.is_dir():
        return (str(path), stamp(path))
    found: list[tuple[Any, ...]] = []
    for top, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            file = os.path.join(top, name)
            try:
                st = os.stat(file)
            except OSError:  # a broken link, a file gone since the listing
                continue
            if stat.S_ISREG(st.st_mode):
                found.append((file, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(found)


def memo_key(tool: Tool, argv: list[str], arguments: dict[str, Any]) -> tuple[Any, ...] | None:
    """The key an answer is kept under, or None when it must be computed each time: only on the
    demo (whose data is fixed until `demo --reset`), keyed by the arguments and the size and
    time of every file the answer may read (the rule files and queries in use, the demo's
    data, the state files of USERTRACK_HOME), so an edit to any of them is seen at once."""
    from usertrack.core import config
    from usertrack.core.errors import UsertrackError

    if tool.spec.name not in _MEMO_TOOLS or arguments.get("changes") or arguments.get("refresh"):
        return None
    try:
        settings = config.load_settings()
    except UsertrackError:
        return None
    if not settings.demo:
        return None
    home = settings.home
    files = [
        home / "demo" / "manifest.json",
        home / "demo" / "events.duckdb",
        *(p for p in sorted(home.glob("*")) if p.is_file()),
        config.resolve_segments_file(_started("segments_file")),
        config.resolve_queries_dir(_started("queries_dir")),
        config.resolve_failures_file(_started("failures_file")),
        config.resolve_tracking_plan_file(_started("plan_file")),
        *(Path(v) for v in started_with.values()),
    ]
    return (tuple(argv), settings, Path.cwd(), tuple(_stamp(f) for f in files))


def _run_kept(tool: Tool, argv: list[str], arguments: dict[str, Any]) -> Answer:
    key = memo_key(tool, argv, arguments)
    if key is not None:
        with _memo_lock:
            kept = _memo.get(key)
        if kept is not None:
            return kept
    workers = _workers
    if workers is not None:  # the server: in a worker process, under its bounds
        answer = workers.run(argv, quiet=not tool.spec.act)
    else:
        answer = run_command(argv, quiet=not tool.spec.act)
    if key is not None and answer[0] == 0:
        with _memo_lock:
            if len(_memo) >= _MEMO_SIZE:
                _memo.pop(next(iter(_memo)))
            _memo[key] = answer
    return answer


def call(tool: Tool, arguments: dict[str, Any]) -> list[str]:
    """A tool call's answer: the command's JSON (or text) marked as data written by strangers
    (`marked`), then a note if lists were cut; every text redacted."""
    return [redact(pseudonyms.anonymize_text(text)) for text in _call(tool, arguments)]


def _call(tool: Tool, arguments: dict[str, Any]) -> list[str]:
    max_items = arguments.get("max_items", DEFAULT_MAX_ITEMS)
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0:
        raise ToolError(f"{tool.spec.name}: argument 'max_items' must be an integer >= 0")
    code, out, err, told = _run_kept(tool, cli_args(tool, arguments), arguments)
    if code != 0:
        raise ToolError(error_text(code, err, told))
    # What a write tool sent, or that it was a dry run, is said on stderr.
    said = [line for line in err.splitlines() if line.startswith("usertrack: ")]
    said = [line for line in said if not line.startswith("usertrack: no data source")]
    # Its lines may quote data (a key, an email, a reply): marked as the answer is.
    extra = (
        [marked("\n".join(said), json_answer=False, note=SAID_NOTE)]
        if tool.spec.act and said
        else []
    )
    if tool.spec.text or not out.strip():
        return [marked(out, json_answer=False), *extra]
    cut, notes = cut_answer(out, max_items)
    if not notes:
        return [marked(out, json_answer=True), *extra]
    note = (
        f"Lists cut to max_items={max_items}: {'; '.join(notes[:10])}"
        + (f"; and {len(notes) - 10} more" if len(notes) > 10 else "")
        + ". Call again with a larger max_items, or max_items=0 for everything."
    )
    answer = json.dumps(cut, indent=2, ensure_ascii=False)
    return [marked(answer, json_answer=True), note, *extra]


def list_queries() -> list[dict[str, Any]]:
    """The runnable queries of the library, as `query --list` lists them."""
    from usertrack.core.config import resolve_queries_dir
    from usertrack.queries.library import STANDALONE_FOLDERS, load_queries

    library = load_queries(resolve_queries_dir(_started("queries_dir")))
    return [
        {
            "id": q.id,
            "description": q.description,
            "source": q.folder,
            "parameters": [
                {"name": p.name, "default": p.default, "required": p.default is None}
                for p in q.params
                if p.name not in ("as_of", "exclude_pattern")
            ],
        }
        for q in sorted(library.queries.values(), key=lambda q: q.id)
        if q.folder in STANDALONE_FOLDERS
    ]


_LISTS: dict[str, tuple[str, Any]] = {  # the tools that list what another tool takes
    "list_dashboards": ("The dashboards `report` answers by name, with their panels.", summaries),
    "list_queries": (LIST_QUERIES_DESCRIPTION, list_queries),
}


# --- resources (the prompts: usertrack.mcp.prompts) ------------------------------------------


def resources() -> dict[str, tuple[str, str, Path]]:
    """uri -> (name, description, file): the segment rules, each query file, the metrics doc."""
    from usertrack.core.config import resolve_queries_dir, resolve_segments_file, shipped_path
    from usertrack.queries.library import load_queries

    found: dict[str, tuple[str, str, Path]] = {}
    rules = resolve_segments_file(_started("segments_file"))
    found["usertrack://segments.yaml"] = (
        "segments.yaml",
        f"The segment rules in use ({rules}): which users are in which segment, and why.",
        rules,
    )
    library = load_queries(resolve_queries_dir(_started("queries_dir")))
    for q in sorted(library.queries.values(), key=lambda q: q.id):
        found[f"usertrack://queries/{q.id}{q.path.suffix}"] = (
            f"queries/{q.id}{q.path.suffix}",
            q.description,
            q.path,
        )
    metrics = shipped_path("docs/metrics.md")  # a wheel: usertrack/_data/docs/metrics.md
    if metrics.exists():
        found["usertrack://docs/metrics.md"] = (
            "metrics.md",
            "What each number of usertrack means: DAU, retention, funnels, sessions, paths.",
            metrics,
        )
    return found


# --- the server -------------------------------------------------------------------------------


def build_server(allow_act: bool = False, allow_inline: bool = False) -> Any:
    """The MCP server (the SDK's low-level `Server`: the tools' schemas are ours, generated from
    the commands, not from Python signatures)."""
    import anyio.to_thread
    import mcp_types as types
    from mcp.server import Server
    from mcp.shared.exceptions import MCPError

    from usertrack import __version__

    served = tools(allow_act, allow_inline)

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        listed = [
            types.Tool(name=t.spec.name, description=t.description, input_schema=t.schema)
            for t in served.values()
        ]
        for name, (description, _list) in _LISTS.items():
            empty = {"type": "object", "properties": {}, "additionalProperties": False}
            listed.append(types.Tool(name=name, description=description, input_schema=empty))
        return types.ListToolsResult(tools=listed)

    def answer(name: str, arguments: dict[str, Any]) -> list[str]:
        if name in _LISTS:
            if arguments:
                raise ToolError(f"{name}: takes no arguments, got {shown(sorted(arguments)[0])}")
            return [redact(json.dumps(_LISTS[name][1](), indent=2, ensure_ascii=False) + "\n")]
        if name not in served:
            hint = " (start the server with --allow-act)" if name in _ACT_TOOLS else ""
            raise ToolError(f"no tool named {name!r}{hint}")
        return call(served[name], arguments)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = dict(params.arguments or {})
        try:
            texts = await anyio.to_thread.run_sync(answer, params.name, arguments)
        except ToolError as e:
            return types.CallToolResult(
                content=[types.TextContent(text=redact(str(e)))], is_error=True
            )
        except Exception as e:  # a bug: named, never a traceback or a secret
            # Its text may quote a value: marked as data, as a command's error is.
            said = (str(e).splitlines() or [""])[0]
            message = redact(
                f"usertrack: internal error: {type(e).__name__}"
                + (f"\n{marked(said, json_answer=False, note=ERROR_NOTE)}" if said else "")
            )
            return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)
        return types.CallToolResult(content=[types.TextContent(text=t) for t in texts])

    async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(uri=uri, name=name, description=description, mime_type=_mime(path))
                for uri, (name, description, path) in resources().items()
            ]
        )

    async def read_resource(
        ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        found = resources().get(str(params.uri))
        if found is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"no resource {params.uri}")
        path = found[2]
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=str(params.uri),
                    mime_type=_mime(path),
                    text=redact(path.read_text("utf-8")),
                )
            ]
        )

    async def list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
        return types.ListPromptsResult(
            prompts=[
                types.Prompt(
                    name=name,
                    description=description,
                    arguments=[
                        types.PromptArgument(name=a, description=d, required=r) for a, d, r in args
                    ],
                )
                for name, (description, args, _template) in PROMPTS.items()
            ]
        )

    async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        try:
            text = prompt_text(params.name, dict(params.arguments or {}))
        except ToolError as e:
            raise MCPError(code=types.INVALID_PARAMS, message=str(e)) from None
        return types.GetPromptResult(
            description=PROMPTS[params.name][0],
            messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))],
        )

    return Server(
        "usertrack",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


_ACT_TOOLS = frozenset(s.name for s in TOOLS if s.act)


def _mime(path: Path) -> str:
    return {".yaml": "application/yaml", ".md": "text/markdown", ".sql": "application/sql"}.get(
        path.suffix, "text/plain"
    )


def serve(
    app: Any,
    allow_act: bool = False,
    files: dict[str, str] | None = None,
    worker: Any = None,
    allow_inline: bool = False,
) -> None:
    """Serve the commands of `app` over stdin and stdout until the client goes away (the write
    tools with `allow_act`, inline SELECTs through `query` with `allow_inline`). `files`
    (parameter name -> path: segments_file, queries_dir, template, ...) are passed to every
    command that takes them; no tool argument can name another. `worker(conn, files)`: the
    main of the worker processes that run the calls (usertrack.mcp.workers.work with `app`);
    without it, calls run in this process."""
    import anyio

    from usertrack.core.config import register_known_secrets
    from usertrack.mcp.wire import guarded_stdio
    from usertrack.workspace import keep_open

    global _workers
    register_known_secrets()  # before any answer: every answer is redacted with them
    started_with.clear()
    started_with.update(files or {})
    use_app(app)
    server = build_server(allow_act, allow_inline)

    async def main() -> None:
        async with guarded_stdio() as (read_stream, write_stream):  # deep nesting answered
            await server.run(read_stream, write_stream, server.create_initialization_options())

    if worker is not None:
        from usertrack.mcp.workers import Workers

        _workers = Workers(worker, dict(started_with))
        threading.Thread(target=_workers.warm, daemon=True).start()
    try:
        with keep_open():
            anyio.run(main)
    finally:
        if _workers is not None:
            _workers.close()
            _workers = None
