"""The `usertrack` program: the Typer app, its global options, how errors end a command (one
line on stderr, a distinct exit code: docs/output.md, "Exit codes"; USERTRACK_DEBUG=1 shows the
traceback, secrets redacted, locals never shown) and `main`, the console script's entry point."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from usertrack.cli.output import anonymized_streams, safe, set_quiet, set_verbose
from usertrack.core import interrupts
from usertrack.core.errors import (
    EXIT_INTERNAL,
    EXIT_USAGE,
    ConfigError,
    LimitError,
    UsageError,
    UsertrackError,
    cut_inputs,
    ended_with,
    redact,
)
from usertrack.core.posthog_options import refusal
from usertrack.engines.base import CancelToken, cancel_scope


class OneLineErrors(TyperGroup):
    """Click's own usage errors (a missing argument, an unknown option, a value out of range)
    as the same one line as every other error, instead of Click's usage block."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        uniform_metavars(self)  # its commands are built by now (Typer builds them first)

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # Typer vendors Click (typer._click): its exceptions are the ones the parser raises.
        from typer._click.exceptions import ClickException, NoArgsIsHelpError, NoSuchOption

        args = anonymize_first(list(sys.argv[1:] if args is None else args))
        try:
            rv = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except NoArgsIsHelpError as e:  # bare `usertrack` or `usertrack report`: the help
            if not standalone_mode:
                raise
            e.show()
            sys.exit(e.exit_code)
        except ClickException as e:
            if not standalone_mode:
                raise
            if isinstance(e, NoSuchOption) and e.possibilities:
                # Click suggests at difflib's 0.6 ("--bogus": "--out"): only a likely typo here.
                import difflib

                e.possibilities = difflib.get_close_matches(
                    e.option_name, list(e.possibilities), n=3, cutoff=0.75
                )
            ctx = getattr(e, "ctx", None)
            where = ""
            if ctx is not None and ctx.parent is not None:  # the subcommand, without "usertrack"
                where = ctx.command_path.split(" ", 1)[-1] + ": "
            message = cut_inputs(_plain_type_names(" ".join(e.format_message().split())))
            hint = f"see '{ctx.command_path} --help'" if ctx is not None else None
            # PostHog's name of an option usertrack leaves out: why, and what to use instead
            if isinstance(e, NoSuchOption) and (refused := refusal(e.option_name)) is not None:
                message, hint = f"{cut_inputs(e.option_name)}: {refused}", None
            # The parser's words and the caller's own arguments: no data of the sources.
            ended_with(UsageError(f"{where}{message}", hint=hint, data={}))
            typer.echo(f"usertrack: error: {where}{message}", err=True)
            if hint:
                typer.echo(f"usertrack: hint: {hint}", err=True)
            sys.exit(e.exit_code or EXIT_USAGE)
        except typer.Abort:
            if not standalone_mode:
                raise
            typer.echo("usertrack: aborted", err=True)
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)

    # Help and usage text are written while parsing, outside any command's handle_errors: a
    # closed pipe there (`usertrack --help | head -1`) is as quiet as anywhere else.
    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(0) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(0) from None


def anonymize_first(args: list[str]) -> list[str]:
    """`--anonymize` after the command's name (`usertrack segments --anonymize`) as the global
    option it is, as if written before it: whoever reaches for it at the end of a line is not
    shown the people they meant to hide behind a usage error. Not past `--`."""
    end = args.index("--") if "--" in args else len(args)
    if "--anonymize" not in args[:end]:
        return args
    rest = [a for i, a in enumerate(args) if i >= end or a != "--anonymize"]
    return ["--anonymize", *rest]


# Click names its value types as code does ("is not a valid int range"): the words of the help.
_TYPE_NAMES = {
    "a valid int range": "a whole number",
    "a valid integer": "a whole number",
    "a valid float range": "a number",
    "a valid float": "a number",
}


def _plain_type_names(message: str) -> str:
    for code, words in _TYPE_NAMES.items():
        message = message.replace(code, words)
    return message


def uniform_metavars(group: Any) -> None:
    """One style of value names in every command's help and usage line: upper case. An option
    without its own takes its type's (N for a whole number, NUMBER, PATH, TEXT) where Typer
    would print `<int range>` or `<str>`; an argument is its name (EMAIL, not `{email}`)."""
    from typer._click import types

    for command in getattr(group, "commands", {}).values():
        uniform_metavars(command)
        for param in command.params:
            if getattr(param, "is_flag", False) or hasattr(param.type, "choices"):
                continue
            if param.param_type_name == "argument":
                name = (param.metavar or param.name or "").upper()
                param.make_metavar = _argument_metavar(param, name)
                continue
            if param.metavar is not None:
                continue
            if isinstance(param.type, types.IntParamType):
                param.metavar = "N"
            elif isinstance(param.type, types.FloatParamType):
                param.metavar = "NUMBER"
            elif "path" in type(param.type).__name__.lower():
                param.metavar = "PATH"
            else:
                param.metavar = "TEXT"


def _argument_metavar(param: Any, name: str) -> Any:
    def make_metavar(ctx: Any, *, usage: bool = False) -> str:
        shown = name + ("..." if param.nargs != 1 else "")
        return f"[{shown}]" if usage and not param.required else shown

    return make_metavar


app = typer.Typer(
    name="usertrack",
    cls=OneLineErrors,
    help="Join PostHog behaviour with your app's Postgres per user, segment users, act on it.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from usertrack import __version__

        typer.echo(f"usertrack {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No demo notice, progress or 'wrote' lines on stderr."),
    ] = False,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Allow a plain-http POSTHOG_HOST (a self-hosted PostHog on a trusted network).",
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also say how many queries the command sent to PostHog and to the database"
            ' (on stderr, and as "queries" in a JSON answer).',
        ),
    ] = False,
    anonymize: Annotated[
        bool,
        typer.Option(
            "--anonymize",
            help="Show each person as a stable pseudonym (person-7f3a9c2e) instead of their email"
            " or name, in every format, chart, message and Slack alert (docs/privacy.md)."
            " Also USERTRACK_ANONYMIZE=1, or anonymize = true in [privacy] of the config file.",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Join PostHog behaviour with your app's Postgres per user, segment users, act on it."""
    from usertrack.engines import query_counts

    set_quiet(quiet)
    set_verbose(verbose)
    _anonymize(ctx, anonymize)
    query_counts.reset()  # a command run in-process (the MCP server, the tests) counts its own
    if verbose:
        ctx.call_on_close(_say_queries)
    if insecure:
        # config.py reads it, so the library honours it without the CLI (and so do subprocesses).
        os.environ["USERTRACK_INSECURE"] = "1"


def _anonymize(ctx: typer.Context, flag: bool) -> None:
    """--anonymize (or its setting): people as pseudonyms in all the command writes to stdout,
    stderr and files (usertrack.core.pseudonyms), until it ends."""
    from usertrack.core import pseudonyms
    from usertrack.core.config import anonymize_setting

    pseudonyms.forget()
    on = flag
    if not on:
        with handle_errors():  # a bad setting: one line, exit 4, as any config error
            on = anonymize_setting()
    pseudonyms.set_active(on)
    if not on:
        return
    with handle_errors():
        pseudonyms.pseudonym("")  # the key, read or made now: a key that cannot be is said first
    ctx.with_resource(anonymized_streams())
    ctx.call_on_close(lambda: pseudonyms.set_active(False))


def _say_queries() -> None:
    """--verbose: the queries the command sent, when it ends (an error too)."""
    from usertrack.engines import query_counts

    typer.echo(f"usertrack: sent {query_counts.text(query_counts.counts())}", err=True)


def _debug() -> bool:
    return os.environ.get("USERTRACK_DEBUG", "").strip().lower() in ("1", "true", "yes")


def _show_traceback(error: BaseException) -> None:
    """USERTRACK_DEBUG=1: the traceback, secrets redacted, never the locals (DSNs live there)."""
    import traceback

    sys.stderr.write(redact("".join(traceback.format_exception(error))))
    sys.stderr.flush()


def _silence_stdout() -> None:
    """Stdout's reader went away (`| head`): send the rest to /dev/null so that the final flush
    at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (a test runner's buffer): nothing will flush it


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Turn library errors into one line on stderr and the error's exit code. In the process
    of one command (usertrack.core.bounds.arm), its memory bound holds from here: a query of any
    source (a PostgreSQL row of a gigabyte too), not only DuckDB's."""
    _bound_memory()
    try:
        yield
    except BaseException as e:
        if interrupts.happened() and not isinstance(e, typer.Exit):
            # Whatever the interrupt surfaced as (DuckDB's "Query interrupted", a cancelled
            # source's error, an error of a half-done step): the outcome is the interrupt's.
            interrupts.announce()
            raise typer.Exit(interrupts.EXIT_INTERRUPTED) from None
        _as_line(e)


def _bound_memory() -> None:
    from usertrack.core import bounds

    if not bounds.armed():
        return
    from usertrack.checks.sandbox import memory_limit

    # A bad setting is said by the first DuckDB connection, where it matters.
    with contextlib.suppress(UsertrackError):
        bounds.limit_memory(memory_limit())


def _as_line(error: BaseException) -> NoReturn:
    """`error` as one line on stderr and its exit code (typer.Exit), or raised on."""
    try:
        raise error
    except BrokenPipeError:
        _silence_stdout()
        raise typer.Exit(0) from None
    except UsertrackError as e:
        if _debug():
            _show_traceback(e)
        _said(e)
    except KeyboardInterrupt:
        interrupts.announce()
        raise typer.Exit(interrupts.EXIT_INTERRUPTED) from None
    except (typer.Exit, typer.Abort):
        raise
    except MemoryError:
        _stopped_at_bound()
    except OSError as e:
        home_error = _home_write_error(e)
        if home_error is None:
            _internal_error(e)
        _said(home_error)
    except Exception as e:
        if _no_thread_under_bound(e):  # a thread's stack past the bound: as MemoryError
            _stopped_at_bound()
        if _duckdb_out_of_memory(e):
            # A query run outside sandbox.time_limit (which names its query): the same line.
            _stopped_at_bound(duckdb_alone=True)
        _internal_error(e)


def _said(error: UsertrackError) -> NoReturn:
    """`error`'s line and hint on stderr, and its exit code. Messages may quote data (the
    closest emails, a server's error text): never raw control characters on the terminal."""
    ended_with(error)
    typer.echo(f"usertrack: error: {safe(str(error))}", err=True)
    if error.hint:
        typer.echo(f"usertrack: hint: {safe(error.hint)}", err=True)
    raise typer.Exit(error.exit_code) from None


def _stopped_at_bound(*, duckdb_alone: bool = False) -> NoReturn:
    """The memory limit's one line: DuckDB's own (`duckdb_alone`), or the process's bound."""
    from usertrack.checks.sandbox import MEMORY_VARIABLE, memory_limit
    from usertrack.core.errors import EXIT_LIMIT

    if duckdb_alone:
        line = (
            f"DuckDB stopped at the memory limit of {memory_limit()}"
            f" ({MEMORY_VARIABLE}, or [limits] duckdb_memory in the config file)"
        )
    else:
        line = (
            f"stopped at the memory bound: DuckDB's {memory_limit()} ({MEMORY_VARIABLE})"
            " and 2 GiB for the rest"
        )
    ended_with(LimitError(line, data={}))
    typer.echo(f"usertrack: error: {line}", err=True)
    raise typer.Exit(EXIT_LIMIT) from None


def _no_thread_under_bound(error: BaseException) -> bool:
    """Python could not start a thread in a process under the memory bound (usertrack.core.bounds):
    its stack is memory the bound counts."""
    from usertrack.core import bounds

    return (
        isinstance(error, RuntimeError)
        and str(error) == "can't start new thread"
        and bounds.armed()
    )


def _duckdb_out_of_memory(error: BaseException) -> bool:
    """DuckDB's own out-of-memory error (duckdb is imported where it could be raised)."""
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(error, duckdb.OutOfMemoryException)


def _home_write_error(error: OSError) -> ConfigError | None:
    """USERTRACK_HOME, or a folder in it, that this user cannot write (an existing folder of
    another user's, a read-only or full disk): a configuration error naming it, not a bug."""
    import errno

    if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
        return None
    try:
        from usertrack.core.config import load_settings

        home = load_settings().home.resolve()
        path = Path(str(error.filename or "")).resolve()
    except (UsertrackError, OSError, ValueError):
        return None
    if not error.filename or not path.is_relative_to(home):
        return None
    return ConfigError(
        f"USERTRACK_HOME {home}: cannot write {path}: {error.strerror}",
        hint="set USERTRACK_HOME to a folder you can write (it holds the demo, history and cache)",
    )


def _internal_error(e: BaseException) -> NoReturn:
    if _debug():
        _show_traceback(e)
    message = redact(f"{type(e).__name__}: {e}".splitlines()[0])
    typer.echo(f"usertrack: internal error: {safe(message)}", err=True)
    if not _debug():
        typer.echo("usertrack: hint: run again with USERTRACK_DEBUG=1 for the traceback", err=True)
    raise typer.Exit(EXIT_INTERNAL) from None


# Set by `main`: what a command leaves behind only to be freed (the classification's in-memory
# DuckDB database: 0.02 s at 100,000 users). The process then ends without freeing it
# (`_exit_without_teardown`); a command run in-process (the MCP server, the tests) gives it
# back now (`release`: the MCP server empties it for its next command).
_left_to_exit: list[Any] | None = None


def leave_to_exit(resource: Any) -> None:
    if _left_to_exit is not None:
        _left_to_exit.append(resource)
    else:
        resource.close()


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    import gc

    # One command, then the process ends: Python's cyclic garbage collector stays off for it.
    # The rows of every user (hundreds of thousands of tuples of plain values, which hold no
    # cycle) would otherwise be traversed again by each full collection while they live: about
    # 0.3 s of a 100,000-user `segments`. `alerts --watch`, which runs for hours, turns it back
    # on. It is not turned back on at the end: the first allocation after would run a full
    # collection (0.03 s) in a process that ends right away.
    gc.disable()
    from usertrack.core import bounds

    bounds.arm()  # this process runs one command: bound what its queries can take
    global _left_to_exit
    _left_to_exit = []
    code: Any = 0
    interrupts.command_starts()
    try:
        try:
            with cancelled_by_ctrl_c():
                app_for(sys.argv[1:] if argv is None else argv)(args=argv, prog_name="usertrack")
        except SystemExit as e:
            code = e.code
        try:
            sys.stdout.flush()  # what is still buffered, now, so a closed pipe is handled here
        except BrokenPipeError:
            _silence_stdout()
            code = 0
    except BaseException:  # Ctrl-C outside a command's handle_errors (parsing, the flush)
        if not interrupts.happened():
            raise
    interrupts.command_ends()  # a Ctrl-C from here on leaves at once: the exit cannot be cut
    if interrupts.happened():
        # The interrupt decides the outcome, and no thread it cut short is waited for.
        interrupts.announce()
        _exit_without_teardown(interrupts.EXIT_INTERRUPTED, wait_for_threads=False)
    _exit_without_teardown(code)


@contextlib.contextmanager
def cancelled_by_ctrl_c() -> Iterator[CancelToken]:
    """The command's cancel token, cancelled by the interrupt's watchdog the moment Ctrl-C
    arrives: every query under it is cancelled on its server (PostgreSQL's cancel, DuckDB's
    interrupt, PostHog's async queries deleted) and every wait on a thread of the command's
    ends, even while the main thread is held in C code and has not raised the interrupt yet."""
    token = CancelToken()
    with interrupts.when_interrupted(token.cancel), cancel_scope(token):
        yield token


# The global options that take no value: what may come before a command's name.
_GLOBAL_FLAGS = frozenset({"-q", "--quiet", "--insecure", "-v", "--verbose", "--anonymize"})


def app_for(args: list[str]) -> typer.Typer:
    """`app` holding only the command the line names (`usertrack -q funnel ...`: funnel).

    Typer makes every command's Click command, reading each function's signature and options,
    before it parses the line: 20-40 ms of every run for the 23 commands, where one runs.
    Anything else (`--help`, a misspelt or missing name, shell completion) gets them all."""
    if any(name.startswith("_USERTRACK_COMPLETE") for name in os.environ):
        return app
    name = next((a for a in args if a not in _GLOBAL_FLAGS), None)
    if name is None or name.startswith("-"):
        return app
    one = app_of({name})
    if len(one.registered_commands) + len(one.registered_groups) != 1:
        return app
    return one


def app_of(names: set[str]) -> typer.Typer:
    """`app` holding only the commands and groups of `names` (those this version has): its
    Click command is made for them alone (a dashboard's panels name 9 commands of 23)."""
    from typer.main import get_command_name

    commands = [
        c
        for c in app.registered_commands
        if (c.name or (c.callback and get_command_name(c.callback.__name__))) in names
    ]
    groups = [g for g in app.registered_groups if g.name in names]
    import copy

    one = copy.copy(app)  # the same settings and global options; `app` itself keeps them all
    one.registered_commands = commands
    one.registered_groups = groups
    return one


def _exit_without_teardown(code: Any, wait_for_threads: bool = True) -> None:
    """Exit as `sys.exit(code)` would, minus the interpreter's teardown, which frees every
    imported module one by one: with duckdb, psycopg and pydantic loaded, about 0.05 s of each
    command's fixed cost spent on a process that is ending anyway.

    What an exit owes is still done: the exit handlers run (the demo server's in-use mark,
    logging), stdout and stderr are flushed. While a non-daemon thread runs, the exit is the
    usual one, which waits for it.
    """
    import atexit
    import threading

    main_thread = threading.main_thread()
    if wait_for_threads and any(
        t is not main_thread and not t.daemon for t in threading.enumerate()
    ):
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): the message on stderr, status 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more to say there
            stream.flush()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
