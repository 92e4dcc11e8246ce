"""The `usertrack` command: parses options, calls the library, renders. Nothing else lives here.

Errors from the library are `UsertrackError`s: shown as one line on stderr with a distinct exit
code (README: "Exit codes"). USERTRACK_DEBUG=1 shows the traceback instead (secrets redacted,
locals never shown).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from usertrack.errors import (
    EXIT_INTERNAL,
    EXIT_USAGE,
    ConfigError,
    UsageError,
    UsertrackError,
    redact,
)

if TYPE_CHECKING:
    from datetime import datetime

    from usertrack.config import Settings
    from usertrack.workspace import Workspace

# `--days` beyond ten years is a typo, not a question (and overflows interval arithmetic).
MAX_DAYS = 3660


class OneLineErrors(TyperGroup):
    """Click's own usage errors (a missing argument, an unknown option, a value out of range)
    as the same one line as every other error, instead of Click's usage block."""

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
            message = " ".join(e.format_message().split())
            typer.echo(f"usertrack: error: {where}{message}", err=True)
            if ctx is not None:
                typer.echo(f"usertrack: hint: see '{ctx.command_path} --help'", err=True)
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

_quiet = False  # --quiet: no demo notice, no progress, no "wrote" lines (errors still show)


def _version(value: bool) -> None:
    if value:
        from usertrack import __version__

        typer.echo(f"usertrack {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
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
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Join PostHog behaviour with your app's Postgres per user, segment users, act on it."""
    global _quiet
    _quiet = quiet
    if insecure:
        # config.py reads it, so the library honours it without the CLI (and so do subprocesses).
        os.environ["USERTRACK_INSECURE"] = "1"


def _info(message: str) -> None:
    """A progress-like line on stderr that --quiet hides."""
    if not _quiet:
        typer.echo(message, err=True)


def _warn(message: str) -> None:
    typer.echo(f"usertrack: warning: {_safe(message)}", err=True)


def _stderr_may_be_terminal() -> bool:
    """Whether rich could show a spinner on stderr: a terminal, or one of the environment
    variables rich's `Console.is_terminal` reads (then rich decides). Asked without importing
    rich, so a command whose stderr is piped and whose answer is json, csv or md never imports
    it (about 0.05 s)."""
    if any(name in os.environ for name in ("FORCE_COLOR", "TTY_COMPATIBLE")):
        return True
    try:
        return sys.stderr.isatty()
    except ValueError:  # a closed stream
        return False


@contextlib.contextmanager
def _status(first: str) -> Iterator[Callable[[str], None]]:
    """The spinner on stderr (a terminal only), or nothing with --quiet."""
    if _quiet or not _stderr_may_be_terminal():
        yield lambda _msg: None
        return
    from usertrack.rendering.terminal import progress_status, stderr_console

    with progress_status(stderr_console(), first) as progress:
        yield progress


FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="table (terminal), json, csv or md. Default: table, or the --out file's extension.",
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Write to this file (atomically; folders are created) instead of stdout; - is stdout.",
    ),
]
UserFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="table (terminal), json or md. Default: table, or the --out file's extension.",
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Look from this moment: DATE (00:00 UTC) or DATETIME (UTC)."
        " Default: now (on the demo: the end of its data).",
    ),
]
SegmentsOpt = Annotated[
    Path | None,
    typer.Option(
        "--segments", help="Segment rules file. Default: ./segments.yaml, else the shipped one."
    ),
]
RefreshOpt = Annotated[
    bool,
    typer.Option("--refresh", help="Ask the live sources again instead of using cached results."),
]
QueriesOpt = Annotated[
    Path | None,
    typer.Option(
        "--queries", help="Query library folder. Default: ./queries, else the shipped one."
    ),
]


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


def _safe(message: str) -> str:
    from usertrack.rendering.style import terminal_text

    return terminal_text(message, one_line=False)


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Turn library errors into one line on stderr and the error's exit code."""
    try:
        yield
    except BrokenPipeError:
        _silence_stdout()
        raise typer.Exit(0) from None
    except UsertrackError as e:
        if _debug():
            _show_traceback(e)
        # Messages may quote data (the closest emails, a server's error text): never raw
        # control characters on the terminal.
        typer.echo(f"usertrack: error: {_safe(str(e))}", err=True)
        if e.hint:
            typer.echo(f"usertrack: hint: {_safe(e.hint)}", err=True)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("usertrack: interrupted", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except OSError as e:
        home_error = _home_write_error(e)
        if home_error is None:
            _internal_error(e)
        typer.echo(f"usertrack: error: {_safe(str(home_error))}", err=True)
        typer.echo(f"usertrack: hint: {_safe(home_error.hint or '')}", err=True)
        raise typer.Exit(home_error.exit_code) from None
    except Exception as e:
        _internal_error(e)


def _home_write_error(error: OSError) -> ConfigError | None:
    """USERTRACK_HOME, or a folder in it, that this user cannot write (an existing folder of
    another user's, a read-only or full disk): a configuration error naming it, not a bug."""
    import errno

    if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
        return None
    try:
        from usertrack.config import load_settings

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
    typer.echo(f"usertrack: internal error: {_safe(message)}", err=True)
    if not _debug():
        typer.echo("usertrack: hint: run again with USERTRACK_DEBUG=1 for the traceback", err=True)
    raise typer.Exit(EXIT_INTERNAL) from None


def _choose_format(fmt: str | None, out: Path | None, formats: tuple[str, ...] = ()) -> str:
    from usertrack.rendering.export import FORMATS
    from usertrack.rendering.output import format_for_path, is_stdout

    allowed = formats or FORMATS
    if is_stdout(out):
        out = None
    if fmt is None:
        if out is not None:
            inferred = format_for_path(out)
            if inferred is None:
                raise UsageError(f"--out {out}: cannot tell the format from the name; add --format")
            if inferred not in allowed:
                raise UsageError(f"--out {out}: {inferred} is not one of {', '.join(allowed)}")
            return inferred
        return "table"
    fmt = fmt.lower()
    if fmt not in allowed:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(allowed)}")
    if fmt == "table" and out is not None:
        raise UsageError("--format table is for the terminal; use json, csv or md with --out")
    named = format_for_path(out) if out is not None else None
    if named is not None and named != fmt:
        raise UsageError(
            f"--out {out} names a {named} file, but --format is {fmt}: change one of them"
        )
    return fmt


def _stdout_console() -> Any:
    """Rich's console for a command's answer (highlighting off, a closed pipe exits 0)."""
    from usertrack.rendering.terminal import stdout_console

    return stdout_console()


def _prepare_out(out: Path | None) -> None:
    """Probe --out before any query runs: folders created, a bad path fails now (exit 2)."""
    from usertrack.rendering.output import is_stdout, prepare_out

    if out is not None and not is_stdout(out):
        prepare_out(out)


def _emit(text: str, out: Path | None) -> None:
    from usertrack.rendering.output import is_stdout, write_atomic

    if out is None or is_stdout(out):
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(out, text)
        _info(f"usertrack: wrote {out}")


def _emit_rows(rows: Any, fmt: str, out: Path | None, **about: Any) -> None:
    """A query's rows streamed (usertrack.rendering.export.write_result) to stdout, or into
    --out atomically: the file appears whole when the last row is written, or not at all."""
    from usertrack.rendering.export import write_result
    from usertrack.rendering.output import atomic_file, is_stdout

    if out is None or is_stdout(out):
        write_result(rows, fmt, sys.stdout, **about)
        sys.stdout.flush()
        return
    with atomic_file(out) as fh:
        write_result(rows, fmt, fh, **about)
    _info(f"usertrack: wrote {out}")


def _check_as_of(ws: Workspace, moment: datetime | None) -> None:
    """--as-of after the data: an error on the demo (its data ends at its anchor), else a
    warning (the newest rows may not have arrived; a future moment sees nothing new)."""
    from usertrack.clock import now_utc
    from usertrack.rendering.style import moment as shown

    if moment is None:
        return
    if ws.demo is not None:
        end = ws.default_as_of()
        if moment > end:
            raise UsageError(
                f"--as-of {shown(moment)} is after the end of the demo's data"
                f" ({shown(end)}); give an earlier moment, or regenerate the demo"
                " with `usertrack demo --reset`"
            )
    elif moment > now_utc():
        _warn(f"--as-of {shown(moment)} is in the future: the data stops at now")


def _open_workspace(
    progress: Callable[[str], None],
    *,
    queries_dir: Path | None,
    segments_file: Path | None,
    refresh: bool = False,
    settings: Settings | None = None,
    database: bool = True,
) -> Workspace:
    """The workspace a command's flags name: settings, query library, rules, sources
    (`database=False`: PostHog only, for the commands that read nothing else)."""
    from usertrack.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    return open_workspace(
        settings or load_settings(),
        queries_dir=resolve_queries_dir(queries_dir),
        segments_path=resolve_segments_file(segments_file),
        progress=progress,
        notice=_info,
        warn=_warn,
        refresh=refresh,
        database=database,
    )


@contextlib.contextmanager
def _events_workspace(
    as_of: str | None,
    *,
    queries_dir: Path | None,
    segments_file: Path | None,
    refresh: bool,
    status: str = "loading queries",
) -> Iterator[tuple[Workspace, datetime, Callable[[str], None]]]:
    """The events workspace (PostHog only: demo, events export or live API), the as-of moment
    and the progress callback, for a command that reads events only (the analytics, the
    tracking plan's audit and draft)."""
    from usertrack.clock import parse_as_of

    moment = parse_as_of(as_of) if as_of else None
    with _status(status) as progress:
        ws = _open_workspace(
            progress,
            queries_dir=queries_dir,
            segments_file=segments_file,
            refresh=refresh,
            database=False,
        )
        with ws:
            _check_as_of(ws, moment)
            yield ws, moment or ws.default_as_of(), progress


@app.command()
def segments(
    segment: Annotated[
        str | None, typer.Option("--segment", "-s", help="List the users of one segment (by id).")
    ] = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            min=1,
            help="Users shown per segment in the table and md. Default: 5, all with --segment.",
        ),
    ] = None,
    refresh: RefreshOpt = False,
    save: Annotated[
        bool | None,
        typer.Option(
            "--save/--no-save",
            help="Save this run's segments to the history under USERTRACK_HOME (for --changes)."
            " Default: save, unless --segments names another file than the default rules.",
        ),
    ] = None,
    changes: Annotated[
        bool,
        typer.Option(
            "--changes", help="Show who entered and left each segment since --since instead."
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="With --changes: compare with this moment (DATE or DATETIME, UTC)."
            " Default: 7 days before --as-of.",
        ),
    ] = None,
) -> None:
    """Classify every user into the segments of segments.yaml and show who to act on."""
    with handle_errors():
        from usertrack.clock import parse_as_of
        from usertrack.config import load_settings

        chosen = _choose_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        if since is not None and not changes:
            raise UsageError("--since goes with --changes")
        _prepare_out(out)
        if limit is None:
            limit = None if segment is not None else 5
        settings = load_settings()
        with _status("loading rules and queries") as progress:
            ws = _open_workspace(
                progress,
                queries_dir=queries_dir,
                segments_file=segments_file,
                refresh=refresh,
                settings=settings,
            )
            try:
                if segment is not None:
                    _check_segment(ws, segment)
                _check_as_of(ws, moment)
                result = ws.classify(moment or ws.default_as_of(), progress)
                if changes:
                    moves = _segments_history(ws, result, save, since, progress)
                else:
                    history = _history_to_save(ws, save)
            except BaseException:
                ws.close()
                raise
        if changes:
            ws.close()
            _show_changes(moves, chosen, out, segment, limit or 5)
            return
        from concurrent.futures import ThreadPoolExecutor

        # The snapshot is written, and the sources closed (the events store frees its cache),
        # while the output is: SQLite and DuckDB do most of that work outside the interpreter's
        # lock, so it costs the wall time little.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="usertrack-after") as after:
            after.submit(ws.close)
            saved = after.submit(_save_and_close, history, result) if history else None
            if chosen == "table":
                from usertrack.rendering.terminal import render_segments  # rich: imported now

                render_segments(_stdout_console(), result, segment, limit)
            else:
                from usertrack.rendering.export import render

                _emit(render(result, chosen, segment, limit), out)
            if saved:
                saved.result()
        _leave_to_exit(result)


# Set by `main`: what a command leaves behind only to be freed (the classification's in-memory
# DuckDB database: 0.02 s at 100,000 users). The process then ends without freeing it
# (`_exit_without_teardown`); a command run in-process (the tests) frees it as usual.
_left_to_exit: list[Any] | None = None


def _leave_to_exit(resource: Any) -> None:
    if _left_to_exit is not None:
        _left_to_exit.append(resource)


def _check_segment(ws: Workspace, segment: str) -> None:
    from usertrack.errors import SegmentsFileError
    from usertrack.rulefiles import did_you_mean

    ids = [s.id for s in ws.rules.segments]
    if segment not in ids:
        raise SegmentsFileError(
            f"--segment {segment!r}: no such segment in {ws.rules.path}"
            f"{did_you_mean(segment, ids)} (known: {', '.join(ids)})"
        )


@app.command()
def demo(
    action: Annotated[
        str | None,
        typer.Argument(
            help="`stop`: stop the demo PostgreSQL now (it otherwise stops itself after"
            " USERTRACK_DEMO_IDLE seconds unused, default 600).",
            show_default=False,
        ),
    ] = None,
    users: Annotated[
        int, typer.Option("--users", min=10, help="How many users to generate.")
    ] = 2000,
    reset: Annotated[
        bool, typer.Option("--reset", help="Regenerate even if the demo exists.")
    ] = False,
) -> None:
    """Generate the built-in demo workspace (PostgreSQL + PostHog events) under USERTRACK_HOME."""
    with handle_errors():
        from usertrack.config import load_settings
        from usertrack.demo.generator import ensure_demo, read_manifest

        settings = load_settings()
        if action is not None:
            _demo_action(action, settings.home)
            return
        existed = read_manifest(settings.home) is not None
        with _status("preparing the demo workspace") as progress:
            # A size asked for: an interrupted generation of another is not resumed.
            ws = ensure_demo(
                settings.home, users=users, reset=reset or not existed, progress=progress
            )
            fresh = reset or not existed
            if ws.users != users:  # an existing demo of another size: regenerate at this one
                ws = ensure_demo(settings.home, users=users, reset=True, progress=progress)
                fresh = True
        from usertrack.files import secure_home

        secure_home(settings.home)  # the demo server outlives this command: keep its home private
        verb = "generated" if fresh else "already there:"
        _info(
            f"usertrack: demo {verb} {ws.users:,} users, data up to {ws.anchor.isoformat()},"
            f" in {ws.root}"
        )


def _demo_action(action: str, home: Path) -> None:
    from usertrack.demo.generator import stop_demo

    if action != "stop":
        raise UsageError(f"demo {action!r}: unknown action (known: stop)")
    stopped = stop_demo(home)
    _info(
        "usertrack: demo PostgreSQL stopped"
        if stopped
        else "usertrack: the demo PostgreSQL was not running"
    )


@app.command()
def doctor(
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
) -> None:
    """Check the configuration and reach every source; print the fix for anything wrong."""
    with handle_errors():
        from usertrack.config import load_settings, resolve_queries_dir, resolve_segments_file
        from usertrack.doctor import exit_code, run_checks

        settings = load_settings()
        with _status("checking") as progress:
            checks = run_checks(
                settings,
                queries_dir=resolve_queries_dir(queries_dir),
                segments_path=resolve_segments_file(segments_file),
                progress=progress,
            )
        for check in checks:
            mark = "✓" if check.ok else "✗"
            typer.echo(f"{mark} {check.name}: {check.detail}")
            if not check.ok and check.fix:
                typer.echo(f"  fix: {check.fix}")
        code = exit_code(checks)
        if code:
            raise typer.Exit(code)


@app.command()
def query(
    query_id: Annotated[
        str | None, typer.Argument(help="A query of the library, e.g. neon/runs.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="NAME=VALUE for a parameter of the query (repeatable)."),
    ] = None,
    list_queries: Annotated[
        bool,
        typer.Option("--list", help="List the runnable queries: id, description, parameters."),
    ] = False,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    queries_dir: QueriesOpt = None,
    segments_file: SegmentsOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Run one query file of the library on its source and print its rows (--list: which)."""
    with handle_errors():
        from usertrack.clock import parse_as_of
        from usertrack.rendering.terminal import render_result_table

        if list_queries:
            if query_id is not None:
                raise UsageError("--list takes no QUERY_ID")
            _list_queries(queries_dir)
            return
        if query_id is None:
            raise UsageError("missing QUERY_ID (see `usertrack query --list`)")
        chosen = _choose_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        given: dict[str, str] = {}
        for item in param or []:
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep or not name:
                raise UsageError(f"--param {item!r} is not NAME=VALUE")
            if name in ("as_of", "exclude_pattern"):
                raise UsageError(
                    f"--param {name} is set by usertrack: use --as-of, or exclude: in segments.yaml"
                )
            if name == "email":  # the one normalisation, as `usertrack user` matches it
                from usertrack.emails import normalize_email

                value = normalize_email(value) or ""
            given[name] = value
        _prepare_out(out)
        with contextlib.ExitStack() as open_until_written:
            with _status(f"running {query_id}") as progress:
                ws = open_until_written.enter_context(
                    _open_workspace(
                        progress,
                        queries_dir=queries_dir,
                        segments_file=segments_file,
                        refresh=refresh,
                    )
                )
                target = _runnable_query(ws.library, query_id)
                values = _typed_params(target, given)
                _check_as_of(ws, moment)
                when = moment or ws.default_as_of()
                if chosen == "table":  # fitted to the terminal: every row first
                    result = ws.run_query(query_id, when, **values)
                else:  # json, csv, md: written as the rows arrive, whatever their number
                    rows = open_until_written.enter_context(
                        ws.stream_query(query_id, when, **values)
                    )
            if chosen == "table":
                render_result_table(
                    _stdout_console(), result, title=f"{query_id} — {target.description}"
                )
            else:
                _emit_rows(rows, chosen, out, query=query_id, title=query_id)


# join/ queries run over the per-user tables the other sources build (inside `segments`); on
# their own they have nothing to read, so `query` neither lists nor runs them.
def _runnable_query(library: Any, query_id: str) -> Any:
    from usertrack.sources.queries import STANDALONE_FOLDERS

    if query_id not in library.queries:  # suggest and name only what `query` can run
        from usertrack.errors import NotFoundError
        from usertrack.rulefiles import did_you_mean

        runnable = [q for q, v in library.queries.items() if v.folder in STANDALONE_FOLDERS]
        raise NotFoundError(
            f"no query named {query_id!r} in {library.root}{did_you_mean(query_id, runnable)}",
            hint="`usertrack query --list` shows each query with its description and parameters",
        )
    target = library.get(query_id)
    if target.folder not in STANDALONE_FOLDERS:
        raise UsageError(
            f"query {query_id} runs over the joined per-user tables inside `usertrack segments`;"
            " it cannot run alone (see `usertrack query --list`)"
        )
    return target


def _typed_params(target: Any, given: dict[str, str]) -> dict[str, Any]:
    from usertrack.sources.queries import convert_param

    unknown = sorted(set(given) - target.param_names)
    if unknown:
        raise UsageError(
            f"query {target.id} has no parameter {unknown[0]!r}"
            f" (it takes: {', '.join(sorted(target.param_names)) or 'none'})"
        )
    missing = [p.name for p in target.params if p.default is None and p.name not in given]
    if missing:  # the user's to give, not a fault of the query file
        raise UsageError(
            f"query {target.id} needs {' '.join(f'-p {m}=VALUE' for m in missing)}"
            " (it has no default; see `usertrack query --list`)"
        )
    return {name: convert_param(target, name, value) for name, value in given.items()}


def _list_queries(queries_dir: Path | None) -> None:
    from usertrack.config import resolve_queries_dir
    from usertrack.sources.queries import STANDALONE_FOLDERS, load_queries

    library = load_queries(resolve_queries_dir(queries_dir))
    lines = []
    for q in sorted(library.queries.values(), key=lambda q: q.id):
        if q.folder not in STANDALONE_FOLDERS:
            continue
        params = [
            f"{p.name}={p.default if p.default is not None else '(required)'}"
            for p in q.params
            if p.name not in ("as_of", "exclude_pattern")  # set by usertrack, not by -p
        ]
        lines.append(f"{q.id}  {q.description}")
        lines.append(f"  parameters (-p NAME=VALUE): {', '.join(params) or 'none'}")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


@app.command()
def insight(
    insight_id: Annotated[str, typer.Argument(help="A saved insight's numeric id or short_id.")],
    fmt: FormatOpt = None,
    out: OutOpt = None,
) -> None:
    """Fetch a saved PostHog insight (refreshed) and print its result."""
    with handle_errors():
        from usertrack.config import load_settings
        from usertrack.errors import ConfigError
        from usertrack.rendering.export import render_result
        from usertrack.rendering.terminal import render_result_table
        from usertrack.sources.posthog_http import PostHogHTTPSource

        chosen = _choose_format(fmt, out)
        settings = load_settings()
        if not (settings.posthog_project_id and settings.posthog_api_key):
            raise ConfigError(
                "saved insights live in PostHog: set POSTHOG_PROJECT_ID and"
                " POSTHOG_PERSONAL_API_KEY (and POSTHOG_HOST for EU or self-hosted)"
            )
        _prepare_out(out)
        with _status(f"fetching insight {insight_id}") as progress:
            source = PostHogHTTPSource(
                settings.posthog_api_key,
                settings.posthog_project_id,
                settings.posthog_host,
                progress=progress,
            )
            with source:
                result = source.fetch_insight(insight_id)
        name = str(result.meta.get("name") or f"insight {insight_id}")
        if chosen == "table":
            render_result_table(_stdout_console(), result, title=name)
        else:
            _emit(render_result(result, chosen, insight=insight_id, title=name), out)


cache_app = typer.Typer(help="The on-disk cache of live query results.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("clear")
def cache_clear() -> None:
    """Remove every cached query result."""
    with handle_errors():
        from usertrack.config import load_settings
        from usertrack.sources.cache import clear

        removed = clear(load_settings().home)
        _info(f"usertrack: removed {removed} cached result(s)")


def _say(msg: str) -> None:
    typer.echo(msg, err=True)


def _history_to_save(ws: Any, save: bool | None) -> Any:
    """The history this run's snapshot goes to, or None. `save` None (neither --save nor
    --no-save) saves only under the default rules file."""
    from usertrack.segments.history import open_history, saves_by_default

    if save is None:
        save = saves_by_default(ws)
        if not save:
            _say(
                f"usertrack: not saved to the history: {ws.rules.path} is not the default"
                " rules file (add --save to save it)"
            )
    history = open_history(ws)  # checks USERTRACK_HISTORY_DAYS, saving or not
    return history if save else None


def _save_snapshot(history: Any, result: Any) -> None:
    """Save the snapshot of `result` in `history` (open), saying on stderr when it was not."""
    from usertrack.errors import DataError

    try:
        if history.save(result) is None:
            _say("usertrack: not saved: the history holds a later snapshot of that day")
    except DataError as e:
        _say(f"usertrack: warning: snapshot not saved: {e}")


def _save_and_close(history: Any, result: Any) -> None:
    with history:
        _save_snapshot(history, result)


def _segments_history(
    ws: Any, result: Any, save: bool | None, since: str | None, progress: Any
) -> Any:
    """`segments --changes`: save the snapshot (see `_history_to_save`), compare with the
    baseline."""
    from datetime import timedelta

    from usertrack.clock import parse_as_of
    from usertrack.segments.history import (
        Snapshot,
        baseline_for,
        check_since,
        compare,
        open_history,
    )

    moment = parse_as_of(since) if since else result.as_of - timedelta(days=7)
    check_since(moment, result.as_of)
    saving = _history_to_save(ws, save)
    with saving or open_history(ws) as history:
        if saving:
            _save_snapshot(history, result)
        baseline = baseline_for(ws, history, moment, progress, notice=_say)
    return compare(baseline, Snapshot.of(result), result.segments)


def _show_changes(moves: Any, fmt: str, out: Path | None, segment: str | None, limit: int) -> None:
    if fmt == "table":
        from usertrack.rendering.terminal import render_changes

        render_changes(_stdout_console(), moves, segment, limit)
    else:
        from usertrack.segments.history import render_changes as render_changes_text

        _emit(render_changes_text(moves, fmt, segment, limit), out)


report_app = typer.Typer(help="Reports written as Markdown files.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("weekly")
def report_weekly(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Report the ISO week (Monday to Monday, UTC) containing this moment: DATE or"
            " DATETIME (UTC). Default: the last complete week (on the demo: of its data).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder to write usertrack-YYYY-Www.md into (created if missing); - is stdout."
            " Default: here.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing report of that week that differs."),
    ] = False,
    template: Annotated[
        Path | None,
        typer.Option("--template", help="A jinja2 template instead of the shipped weekly.md.j2."),
    ] = None,
    print_template: Annotated[
        bool,
        typer.Option(
            "--print-template", help="Print the shipped template, to start your own, and exit."
        ),
    ] = False,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    save: Annotated[
        bool | None,
        typer.Option(
            "--save/--no-save",
            help="Save this week's segments to the history under USERTRACK_HOME."
            " Default: save, unless --segments names another file than the default rules.",
        ),
    ] = None,
) -> None:
    """Write the weekly Markdown report: key metrics, segment movement, failures, UX, traffic."""
    with handle_errors():
        from usertrack.clock import now_utc, parse_as_of
        from usertrack.config import load_settings
        from usertrack.rendering.output import is_stdout
        from usertrack.rendering.style import moment as moment_text
        from usertrack.reports.weekly import (
            WEEKLY_TEMPLATE,
            check_out_dir,
            check_template,
            render_report,
            report_week,
            write_report,
        )
        from usertrack.segments.history import open_history, saves_by_default

        if print_template:
            if out is not None and not is_stdout(out):
                raise UsageError(
                    "--print-template prints to stdout, not into --out"
                    " (redirect it: usertrack report weekly --print-template > mine.md.j2)"
                )
            sys.stdout.write(WEEKLY_TEMPLATE.read_text(encoding="utf-8"))
            sys.stdout.flush()
            return
        moment = parse_as_of(as_of) if as_of else None
        check_template(template)  # a template that does not parse fails before any work
        to_stdout = is_stdout(out)
        folder = None if to_stdout else check_out_dir(out)  # and so does an unwritable --out
        settings = load_settings()
        with _status("loading rules and queries") as progress:
            ws = _open_workspace(
                progress, queries_dir=queries_dir, segments_file=segments_file, settings=settings
            )
            with ws, open_history(ws) as history:
                _check_as_of(ws, moment)
                week = report_week(ws, moment)
                data_end = ws.default_as_of() if ws.demo is not None else now_utc()
                if week.end > data_end:
                    _warn(
                        f"week {week.label} is not over (data up to {moment_text(data_end)}):"
                        " the report covers it so far"
                    )
                data, text = render_report(
                    ws, week, template=template, history=history, progress=progress
                )
                if to_stdout:
                    sys.stdout.write(text)
                    sys.stdout.flush()
                else:
                    assert folder is not None
                    path = folder / week.file_name
                    status = write_report(path, text, force=force)
                if save is None:
                    save = saves_by_default(ws)
                if save:
                    history.save(data.current)
        if to_stdout:
            return
        _info(f"usertrack: {status} {path}")
        typer.echo(str(path))


FailuresOpt = Annotated[
    Path | None,
    typer.Option(
        "--failures",
        help="Failure categories file. Default: ./failures.yaml, else the shipped one.",
    ),
]
DaysOpt = Annotated[
    int,
    typer.Option(
        "--days", "-d", min=1, max=MAX_DAYS, help="How many days back from --as-of to look."
    ),
]


@app.command()
def failures(
    days: DaysOpt = 30,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    failures_file: FailuresOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Failing tools shown in the table and md.")
    ] = 15,
    refresh: RefreshOpt = False,
) -> None:
    """Why runs and tool calls fail across all users: causes, owners, tools, standout days."""
    with handle_errors():
        from usertrack.clock import parse_as_of
        from usertrack.config import (
            resolve_failures_file,
        )
        from usertrack.reports.failures import (
            failure_report,
            load_failure_rules,
            report_csv,
            report_json,
            report_markdown,
        )

        chosen = _choose_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        rules = load_failure_rules(resolve_failures_file(failures_file))
        _prepare_out(out)
        with _status("loading rules and queries") as progress:
            ws = _open_workspace(
                progress, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
            )
            with ws:
                _check_as_of(ws, moment)
                report = failure_report(
                    ws, rules, moment or ws.default_as_of(), days, progress=progress
                )
        if chosen == "table":
            from usertrack.rendering.terminal import render_failures  # rich: only for the table

            render_failures(_stdout_console(), report, limit)
        elif chosen == "json":
            _emit(report_json(report), out)
        elif chosen == "csv":
            _emit(report_csv(report), out)
        else:
            _emit(report_markdown(report, limit), out)


@app.command()
def user(
    email: Annotated[
        str, typer.Argument(help="The user's email (matched trimmed and case-insensitively).")
    ],
    days: DaysOpt = 30,
    fmt: UserFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    failures_file: FailuresOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Timeline rows shown in the table and md.")
    ] = 40,
    refresh: RefreshOpt = False,
) -> None:
    """Deep dive into one user: profile, segments and why, timeline, tools, failures by cause."""
    with handle_errors():
        from usertrack.clock import parse_as_of
        from usertrack.config import (
            load_settings,
            resolve_failures_file,
            resolve_queries_dir,
            resolve_segments_file,
        )
        from usertrack.reports.deepdive import deep_dive, open_with_rules, to_json, to_markdown

        chosen = _choose_format(fmt, out, ("table", "json", "md"))
        if not email.strip():
            raise UsageError("EMAIL is empty")
        moment = parse_as_of(as_of) if as_of else None
        _prepare_out(out)
        with _status("loading rules and queries") as progress:
            ws, rules = open_with_rules(
                load_settings(),
                failures_path=resolve_failures_file(failures_file),
                queries_dir=resolve_queries_dir(queries_dir),
                segments_path=resolve_segments_file(segments_file),
                progress=progress,
                notice=_info,
                warn=_warn,
                refresh=refresh,
            )
            with ws:
                _check_as_of(ws, moment)
                dd = deep_dive(
                    ws, email, moment or ws.default_as_of(), rules, days=days, progress=progress
                )
        if chosen == "table":
            from usertrack.rendering.terminal import render_deep_dive  # rich: only for the table

            render_deep_dive(_stdout_console(), dd, limit)
        elif chosen == "json":
            _emit(to_json(dd), out)
        else:
            _emit(to_markdown(dd, limit), out)


# ---------------------------------------------------------------------------------- tracking plan

PlanOpt = Annotated[
    Path | None,
    typer.Option(
        "--plan",
        help="Tracking plan file. Default: USERTRACK_TRACKING_PLAN, ./tracking-plan.yaml,"
        " else the shipped one (the demo's taxonomy).",
    ),
]
plan_app = typer.Typer(
    help="Audit the tracking plan against the events sent (coverage, properties, typos).",
    invoke_without_command=True,
)
app.add_typer(plan_app, name="tracking-plan")


@plan_app.callback()
def tracking_plan(
    ctx: typer.Context,
    days: Annotated[
        int,
        typer.Option(
            "--days", "-d", min=1, max=MAX_DAYS, help="Audit this many days back from --as-of."
        ),
    ] = 30,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    plan_file: PlanOpt = None,
    fail_under: Annotated[
        float | None,
        typer.Option(
            "--fail-under",
            min=0,
            max=100,
            help="Exit 9 when coverage (percent of planned events seen) is below this.",
        ),
    ] = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Rows of each list shown in the table.")
    ] = 15,
    refresh: RefreshOpt = False,
) -> None:
    """Measure the tracking plan against the last --days of events: coverage first."""
    if ctx.invoked_subcommand is not None:
        return
    with handle_errors():
        from usertrack.audit.tracking_plan import (
            audit_csv,
            audit_json,
            audit_markdown,
            fmt_pct,
            load_tracking_plan,
            run_audit,
        )
        from usertrack.clock import parse_as_of
        from usertrack.config import resolve_tracking_plan_file
        from usertrack.errors import CoverageError

        chosen = _choose_format(fmt, out)
        if as_of:
            parse_as_of(as_of)  # a bad --as-of is said before a bad plan, as it always was
        plan = load_tracking_plan(resolve_tracking_plan_file(plan_file))
        _prepare_out(out)
        with _events_workspace(
            as_of,
            queries_dir=queries_dir,
            segments_file=segments_file,
            refresh=refresh,
            status="loading the plan and queries",
        ) as (ws, moment, progress):
            audit = run_audit(ws, plan, moment, days, progress)
        if chosen == "table":
            from usertrack.audit.tracking_plan_view import render_audit

            render_audit(_stdout_console(), audit, limit)
        else:
            render = {"json": audit_json, "csv": audit_csv, "md": audit_markdown}[chosen]
            _emit(render(audit), out)
        percent = audit.coverage["percent"]
        if fail_under is not None and (percent is None or percent < fail_under):
            raise CoverageError(
                f"tracking-plan coverage {fmt_pct(percent)} is below --fail-under"
                f" {fmt_pct(fail_under)} ({audit.coverage['seen']} of"
                f" {audit.coverage['planned']} planned events seen)"
            )


@plan_app.command("init")
def tracking_plan_init(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="The plan file to write (never overwritten); - is stdout"),
    ] = Path("tracking-plan.yaml"),
    days: Annotated[
        int,
        typer.Option("--days", "-d", min=1, max=MAX_DAYS, help="Events seen this many days back."),
    ] = 30,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Write a first tracking plan from the events seen (one tier, top properties, types)."""
    with handle_errors():
        from usertrack.audit.tracking_plan import draft_plan, write_new
        from usertrack.rendering.output import is_stdout

        if not is_stdout(out):
            if out.exists():
                write_new(out, "")  # the same "already exists" error, before any work
            _prepare_out(out)  # folders created, a path that cannot be written fails now
        with _events_workspace(
            as_of, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
        ) as (ws, moment, progress):
            text = draft_plan(ws, moment, days, progress)
        if is_stdout(out):
            _emit(text, out)
        else:
            write_new(out, text)
            _info(f"usertrack: wrote {out}")


# ---------------------------------------------------------------------------------- analytics
# Product analytics (funnel, retention, ...): the options and steps every analysis shares. Each
# command parses its own options, opens the events workspace with `_events_workspace`, runs
# its analysis from usertrack.analytics and renders with `_analytics_output`.

SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since", help="Start of the range: DATE (00:00 UTC) or DATETIME. Instead of --days."
    ),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until", help="End of the range: DATE (its whole day) or DATETIME. Default: --as-of."
    ),
]
RangeDaysOpt = Annotated[
    int | None,
    typer.Option(
        "--days",
        "-d",
        min=1,
        max=MAX_DAYS,
        help="The range is this many days up to --until (default 30 days).",
    ),
]


CompareOpt = Annotated[
    bool,
    typer.Option("--compare", help="Also the previous period of the same length, and the change."),
]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        help='Only events where this HogQL expression holds, e.g. "properties.$browser ='
        " 'Chrome'\" (event, timestamp, properties.X, person.properties.X). Repeatable: ANDed.",
    ),
]


def _where(texts: list[str] | None) -> tuple[str, ...]:
    """The --where expressions, each checked (usertrack.analytics.where): exit 2 otherwise."""
    from usertrack.analytics.where import check_all

    return check_all(texts)


def _analytics_output(
    chosen: str,
    out: Path | None,
    result: Any,
    name: str,
    texts: Any,
    view: str,
    where: tuple[str, ...] = (),
) -> None:
    """Render an analysis by its `name`: `render_<name>` of the view module `view` (rich,
    imported only when a table is drawn: json, csv and md answers do without rich's import),
    else `<name>_json`, `<name>_csv` or `<name>_markdown` of the module `texts`. The --where
    expressions, if any, head the table and the Markdown and are the JSON's "where"."""
    from usertrack.analytics.where import with_where

    if chosen == "table":
        import importlib

        console = _stdout_console()
        if where:
            from usertrack.rendering.terminal import plain

            console.print(plain(with_where("", where, "table")))
        table = getattr(importlib.import_module(f"usertrack.analytics.{view}"), f"render_{name}")
        table(console, result)
    else:
        suffix = "markdown" if chosen == "md" else chosen
        _emit(with_where(getattr(texts, f"{name}_{suffix}")(result), where, chosen), out)


@app.command()
def funnel(
    steps: Annotated[
        list[str] | None,
        typer.Argument(
            help="Event names in order. Default: the activation funnel (user_signed_up,"
            " onboarding_started, workspace_created, first_item_created, onboarding_completed).",
            show_default=False,
        ),
    ] = None,
    window: Annotated[
        str,
        typer.Option(
            "--window", "-w", help="Conversion window from step 1: 14d, 1h, 30m, 2w, 1mo (31 days)."
        ),
    ] = "14d",
    days: RangeDaysOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Break down by this event property (first touch)."),
    ] = None,
    dropped: Annotated[
        str | None,
        typer.Option(
            "--dropped",
            help="List who dropped at this step (event name or number): reached the one before,"
            " never this one.",
        ),
    ] = None,
    where: WhereOpt = None,
    compare: CompareOpt = False,
    correlation: Annotated[
        bool,
        typer.Option(
            "--correlation",
            help="Also the events that go with converting or dropping (PostHog's odds ratio).",
        ),
    ] = False,
    correlation_properties: Annotated[
        list[str] | None,
        typer.Option(
            "--correlation-properties",
            help="... and the values of these person properties (implies --correlation).",
            metavar="PROP[,PROP]",
        ),
    ] = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Ordered funnel: persons per step, conversion, drop-off and time to convert (PostHog's)."""
    with handle_errors():
        from usertrack.analytics import correlation as correlations
        from usertrack.analytics import funnel as funnels
        from usertrack.analytics import render
        from usertrack.analytics.common import date_range, parse_window

        chosen = _choose_format(fmt, out)
        filters = _where(where)
        span_window = parse_window(window)
        chosen_steps = funnels.check_steps(list(steps or funnels.DEFAULT_STEPS))
        correlated = correlations.parse_properties(correlation_properties)
        if correlation or correlated:
            correlations.check_options(by=by, compare=compare, dropped=dropped)
        if dropped is not None:
            funnels.step_index(chosen_steps, dropped)
            if by is not None:
                raise UsageError("--by and --dropped do not go together")
            if compare:
                raise UsageError("--compare and --dropped do not go together")
        _prepare_out(out)
        with _events_workspace(
            as_of, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
        ) as (ws, moment, progress):
            ws.where = filters
            span = date_range(moment, days=days, since=since, until=until)
            if dropped is not None:
                gone = funnels.dropped(
                    ws, moment, span, dropped, steps=chosen_steps, window=span_window,
                    progress=progress,
                )  # fmt: skip
            else:
                result = funnels.funnel(
                    ws, moment, span, steps=chosen_steps, window=span_window, by=by,
                    compare=compare, correlation=correlation,
                    correlation_properties=correlated, progress=progress,
                )  # fmt: skip
        if dropped is not None:
            _analytics_output(chosen, out, gone, "dropped", render, "view", where=filters)
            return
        for note in result.notes:
            _warn(note)
        _analytics_output(chosen, out, result, "funnel", render, "view", where=filters)


@app.command()
def retention(
    period: Annotated[
        str, typer.Option("--period", "-p", help="day (UTC), week (ISO, Monday) or month.")
    ] = "week",
    periods: Annotated[
        int,
        typer.Option("--periods", "-n", help="Cohorts: this many periods up to --as-of's."),
    ] = 8,
    start: Annotated[
        str, typer.Option("--start", help="The event that puts a person in a cohort.")
    ] = "user_signed_up",
    return_event: Annotated[
        str | None,
        typer.Option("--return", help="The event that counts as coming back. Default: any."),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="first-time (cohort of the first start event ever) or recurring (every period"
            " with one).",
        ),
    ] = "first-time",
    where: WhereOpt = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Cohort retention: of those who started in a period, how many came back in each after."""
    with handle_errors():
        from usertrack.analytics import render
        from usertrack.analytics import retention as retentions
        from usertrack.analytics.common import parse_period

        chosen = _choose_format(fmt, out)
        filters = _where(where)
        chosen_period = parse_period(period)
        chosen_mode = retentions.parse_mode(mode)
        if not 1 <= periods <= retentions.MAX_PERIODS:
            raise UsageError(f"--periods {periods} must be from 1 to {retentions.MAX_PERIODS}")
        _prepare_out(out)
        with _events_workspace(
            as_of, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
        ) as (ws, moment, progress):
            ws.where = filters
            result = retentions.retention(
                ws,
                moment,
                period=chosen_period,
                periods=periods,
                start_event=start,
                return_event=return_event,
                mode=chosen_mode,
                progress=progress,
            )
        for note in result.notes:
            _warn(note)
        _analytics_output(chosen, out, result, "retention", render, "view", where=filters)


@app.command()
def activity(
    days: Annotated[
        int,
        typer.Option(
            "--days",
            "-d",
            min=1,
            max=MAX_DAYS,
            help="The daily series, stickiness and heatmap cover this many UTC days up to --as-of.",
        ),
    ] = 30,
    periods: Annotated[
        int,
        typer.Option("--periods", "-n", help="Lifecycle: this many ISO weeks up to --as-of's."),
    ] = 8,
    where: WhereOpt = None,
    compare: Annotated[
        bool,
        typer.Option("--compare", help="Also the --days days before, and the change."),
    ] = False,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Active users: DAU, WAU, MAU, stickiness, weekly lifecycle and when people are active."""
    with handle_errors():
        from usertrack.analytics import activity as activities
        from usertrack.analytics import usage_report

        chosen = _choose_format(fmt, out)
        filters = _where(where)
        activities.check_periods(periods)
        _prepare_out(out)
        with _events_workspace(
            as_of, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
        ) as (ws, moment, progress):
            ws.where = filters
            result = activities.activity(
                ws, moment, days=days, periods=periods, compare=compare, progress=progress
            )
        _analytics_output(
            chosen, out, result, "activity", usage_report, "usage_view", where=filters
        )


@app.command()
def features(
    days: Annotated[
        int,
        typer.Option(
            "--days",
            "-d",
            min=1,
            max=MAX_DAYS,
            help="The period: this many days up to --as-of, compared with as many before.",
        ),
    ] = 30,
    event: Annotated[
        bool,
        typer.Option("--event", help="Count event names instead of feature_used's feature."),
    ] = False,
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold", help="Trend: up or down at this percent change of uses, else flat."
        ),
    ] = 10.0,
    where: WhereOpt = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare", help="Also the previous period's persons and adoption, and the change."
        ),
    ] = False,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Feature usage: uses, persons, adoption and trend against the period before."""
    with handle_errors():
        from usertrack.analytics import features as feature_usage
        from usertrack.analytics import usage_report

        chosen = _choose_format(fmt, out)
        filters = _where(where)
        feature_usage.check_threshold(threshold)
        _prepare_out(out)
        with _events_workspace(
            as_of, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
        ) as (ws, moment, progress):
            ws.where = filters
            result = feature_usage.features(
                ws,
                moment,
                days=days,
                by_event=event,
                threshold=threshold,
                compare=compare,
                progress=progress,
            )
        _analytics_output(
            chosen, out, result, "features", usage_report, "usage_view", where=filters
        )


@app.command()
def trends(
    events: Annotated[
        list[str],
        typer.Argument(help="Event names, side by side (up to 10).", show_default=False),
    ],
    interval: Annotated[
        str,
        typer.Option("--interval", "-i", help="hour, day, week (ISO, from Monday) or month; UTC."),
    ] = "day",
    math: Annotated[
        str,
        typer.Option(
            "--math",
            "-m",
            help="total (events), dau (unique persons), weekly_active, monthly_active (the 7/30"
            " days to each point), or sum, avg, min, max, median, p90 with :PROPERTY.",
        ),
    ] = "total",
    by: Annotated[
        str | None,
        typer.Option(
            "--by", help="Break down by this event property: the top values, the rest as other."
        ),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", "-n", min=1, max=100, help="With --by: keep this many values.")
    ] = 10,
    cumulative: Annotated[
        bool,
        typer.Option(
            "--cumulative", help="Running totals (dau: each person once, when first seen)."
        ),
    ] = False,
    where: WhereOpt = None,
    compare: CompareOpt = False,
    days: RangeDaysOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Trends: an event's count, persons, WAU/MAU or property math per interval (PostHog's)."""
    with handle_errors():
        from usertrack.analytics import trends as trends_mod
        from usertrack.analytics import trends_report
        from usertrack.analytics.common import date_range
        from usertrack.analytics.where import check_all

        chosen = _choose_format(fmt, out)
        chosen_interval = trends_mod.parse_interval(interval)
        chosen_math = trends_mod.parse_math(math)
        trends_mod.check(list(events), chosen_interval, chosen_math, top)
        filters = check_all(where)
        _prepare_out(out)
        with _events_workspace(
            as_of, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
        ) as (ws, moment, progress):
            ws.where = filters
            span = date_range(moment, days=days, since=since, until=until)
            result = trends_mod.trends(
                ws, moment, span, list(events), interval=chosen_interval, math=chosen_math,
                by=by, top=top, cumulative=cumulative, compare=compare, progress=progress,
            )  # fmt: skip
        for note in result.notes:
            _warn(note)
        _analytics_output(chosen, out, result, "trends", trends_report, "trends_view")


TopOpt = Annotated[
    int,
    typer.Option("--top", "-n", min=1, max=1000, help="Keep this many rows in each list."),
]


@app.command()
def sessions(
    days: RangeDaysOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    top: TopOpt = 10,
    where: WhereOpt = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Sessions: count, durations, length buckets, bounce rate, entry/exit pages, devices."""
    with handle_errors():
        from usertrack.analytics import journey_render as render
        from usertrack.analytics import sessions as sessions_mod
        from usertrack.analytics.common import date_range

        chosen = _choose_format(fmt, out)
        filters = _where(where)
        _prepare_out(out)
        with _events_workspace(
            as_of, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
        ) as (ws, moment, progress):
            ws.where = filters
            span = date_range(moment, days=days, since=since, until=until)
            result = sessions_mod.sessions(ws, moment, span, top=top, progress=progress)
        _analytics_output(chosen, out, result, "sessions", render, "journey_view", where=filters)


@app.command()
def paths(
    steps: Annotated[
        int, typer.Option("--steps", "-s", help="Nodes per path (2-20), as PostHog's default 5.")
    ] = 5,
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="Only paths through this event or page, starting there.", metavar="NODE"
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to", help="Only paths that reach this event or page, ending there.", metavar="NODE"
        ),
    ] = None,
    days: RangeDaysOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    top: TopOpt = 20,
    where: WhereOpt = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """User paths: the most common sequences of pages and events, entry/exit nodes and edges."""
    with handle_errors():
        from usertrack.analytics import journey_render as render
        from usertrack.analytics import paths as paths_mod
        from usertrack.analytics.common import date_range

        chosen = _choose_format(fmt, out)
        filters = _where(where)
        start, end = paths_mod.check_options(steps, start, end)
        _prepare_out(out)
        with _events_workspace(
            as_of, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
        ) as (ws, moment, progress):
            ws.where = filters
            span = date_range(moment, days=days, since=since, until=until)
            result = paths_mod.paths(
                ws, moment, span, steps=steps, start=start, end=end, top=top, progress=progress
            )
        for note in result.notes:
            _warn(note)
        _analytics_output(chosen, out, result, "paths", render, "journey_view", where=filters)


# ---------------------------------------------------------------------------------------------
# usertrack alerts (issue 9): who needs help now, to the terminal or to Slack.

AlertsOpt = Annotated[
    Path | None,
    typer.Option(
        "--alerts", help="Alert triggers file. Default: ./alerts.yaml, else the shipped one."
    ),
]


def _seconds(text: str, option: str) -> float:
    """'90', '90s', '10m' or '1h' as seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    body, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        value = float(body) * units[unit]
    except ValueError:
        value = -1
    if value <= 0:
        raise UsageError(f"{option} {text!r} is not a duration like 60s, 10m or 1h")
    return value


def _slack_url() -> str:
    from usertrack.config import check_outgoing_url, setting
    from usertrack.errors import ConfigError, register_secret

    url, where = setting("SLACK_WEBHOOK_URL")
    if not url:
        raise ConfigError(
            "--notify slack needs an incoming webhook: set SLACK_WEBHOOK_URL, or webhook_url in"
            " [slack] of the config file",
            hint="Slack: Apps > Incoming Webhooks > Add New Webhook to Workspace",
        )
    register_secret(url)
    check_outgoing_url(url, where, insecure=os.environ.get("USERTRACK_INSECURE") == "1")
    return url


def _record_segments(ws: Workspace, run: Any) -> None:
    """Keep the alerts pass's segments in the history; a failure is a warning (the alerts are
    queued already), and says what it costs."""
    from usertrack.act.alerts import record_segments
    from usertrack.errors import DataError

    try:
        record_segments(ws, run)
    except DataError as e:
        _warn(f"{e}; segments not kept: the next run compares with an older moment")


@app.command()
def alerts(
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    alerts_file: AlertsOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
    notify: Annotated[
        str | None,
        typer.Option("--notify", help="Send the alerts: slack (SLACK_WEBHOOK_URL). Default: none."),
    ] = None,
    cooldown: Annotated[
        str, typer.Option("--cooldown", help="At most one message per person and trigger per this.")
    ] = "10m",
    pending: Annotated[
        bool,
        typer.Option(
            "--pending", help="List the Slack messages still queued and the dead letters; stop."
        ),
    ] = False,
    reset_outbox: Annotated[
        bool,
        typer.Option(
            "--reset-outbox",
            help="Move a damaged Slack outbox aside (alerts-outbox.json.damaged-<UTC time>); stop.",
        ),
    ] = False,
    save: Annotated[
        bool | None,
        typer.Option(
            "--save/--no-save",
            help="Keep the pass's segments in the history (what 'entered segment' compares"
            " with next). Default: only with --notify, under the default rules file.",
        ),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="A pass every --every until Ctrl-C (exit 130).")
    ] = False,
    every: Annotated[str, typer.Option("--every", help="Time between --watch passes.")] = "60s",
    passes: Annotated[
        int | None, typer.Option("--passes", min=1, help="With --watch: stop after N passes.")
    ] = None,
    app_url: Annotated[
        str | None,
        typer.Option(
            "--app-url",
            envvar="USERTRACK_APP_URL",
            help="Your admin app's base URL, for the View user button ({url}/users/{email}).",
        ),
    ] = None,
) -> None:
    """Who needs help now: stuck, idle, erroring, new in a segment; --notify slack sends."""
    with handle_errors():
        import time
        from datetime import timedelta

        from usertrack.act.alerts import SEGMENT_EVERY_SECONDS, find_alerts, load_alert_rules
        from usertrack.act.alerts_view import (
            alerts_csv,
            alerts_json,
            alerts_markdown,
            pending_document,
            pending_lines,
            render_alerts,
        )
        from usertrack.act.slack import DEADLINE, MAX_AGE, OUTBOX_FILE, Outbox, deliver
        from usertrack.act.slack import reset_outbox as move_outbox_aside
        from usertrack.clock import now_utc, parse_as_of
        from usertrack.config import load_settings, resolve_alerts_file
        from usertrack.errors import DeliveryError
        from usertrack.locks import exclusive
        from usertrack.rendering.style import moment as shown
        from usertrack.segments.history import saves_by_default

        if notify is not None and notify != "slack":
            raise UsageError(f"--notify {notify!r} is not one of: slack")
        locked = "usertrack alerts --notify"
        if reset_outbox:
            home = load_settings().home
            aside = None
            if (home / OUTBOX_FILE).exists():  # (no home yet: nothing to reset, nothing to lock)
                with exclusive(home, "alerts", what=locked):
                    aside = move_outbox_aside(home, now_utc())
            typer.echo(
                f"moved the Slack outbox to {aside}; the next --notify run starts an empty one"
                if aside
                else "No Slack outbox to reset."
            )
            return
        if pending:
            shown_as = _choose_format(fmt, out, ("table", "json"))
            outbox = Outbox.open(load_settings().home)
            if shown_as == "json":
                from usertrack.rendering.export import json_text

                _emit(json_text(pending_document(outbox.queue, outbox.dead)), out)
                return
            for line in pending_lines(outbox.queue, outbox.dead):
                typer.echo(line)
            return
        chosen = _choose_format(fmt, out)
        if watch and out is not None:
            raise UsageError("--watch prints each pass; it does not take --out")
        wait = _seconds(every, "--every")
        pause_for = timedelta(seconds=_seconds(cooldown, "--cooldown"))
        # The Slack pass's deadline and a queued message's maximum age (README "Act on it").
        deadline = _seconds(os.environ.get("USERTRACK_SLACK_DEADLINE") or f"{DEADLINE:g}",
                            "USERTRACK_SLACK_DEADLINE")  # fmt: skip
        max_age = MAX_AGE
        if os.environ.get("USERTRACK_SLACK_MAX_AGE"):
            max_age = timedelta(
                seconds=_seconds(os.environ["USERTRACK_SLACK_MAX_AGE"], "USERTRACK_SLACK_MAX_AGE")
            )
        retrying = _info if sys.stderr.isatty() else None  # a line per retry, on a terminal
        moment = parse_as_of(as_of) if as_of else None
        rules = load_alert_rules(resolve_alerts_file(alerts_file))
        url = _slack_url() if notify else None
        _prepare_out(out)
        with _status("loading rules and queries") as progress:
            ws = _open_workspace(
                progress,
                queries_dir=queries_dir,
                segments_file=segments_file,
                refresh=refresh or watch,
            )
        if watch:
            import gc

            gc.enable()  # a pass every --every for hours: cycles must not pile up (see main)
        with ws:
            _check_as_of(ws, moment)
            done = 0
            last_segments: float | None = None
            while True:
                started = time.perf_counter()
                skip: frozenset[str] = frozenset()
                recent = (
                    last_segments is not None and started - last_segments < SEGMENT_EVERY_SECONDS
                )
                if watch and recent:
                    skip = frozenset({"segment"})
                if "segment" not in skip:
                    last_segments = started
                run = find_alerts(ws, rules, moment or ws.default_as_of(), skip_kinds=skip)
                for note in run.notes:
                    _info(f"usertrack: {note}")
                if chosen == "table":
                    render_alerts(_stdout_console(), run)
                elif chosen == "json":
                    _emit(alerts_json(run), out)
                elif chosen == "csv":
                    _emit(alerts_csv(run), out)
                else:
                    _emit(alerts_markdown(run), out)
                sent = queued = left = 0
                failed: dict[str, str] = {}
                dead: dict[str, str] = {}
                refused = ""
                keep = save if save is not None else bool(url) and saves_by_default(ws)
                if url:
                    # One sender per home: a second run (an overlapping cron line) waits, then
                    # exits 10; it never posts what this one is posting.
                    with exclusive(ws.settings.home, "alerts", what=locked):
                        now = now_utc()
                        outbox = Outbox.open(ws.settings.home)
                        outbox.enqueue(run.alerts, run.as_of, now, pause_for, app_url)
                        outbox.save()
                        if keep:  # the alerts are queued: the segments they came from are kept
                            _record_segments(ws, run)
                        # USERTRACK_SLACK_BACKOFF: the first wait after a 5xx or a timeout (s).
                        backoff = float(os.environ.get("USERTRACK_SLACK_BACKOFF") or 1.0)
                        delivery = deliver(
                            outbox,
                            url,
                            now,
                            backoff=backoff,
                            deadline=deadline,
                            max_age=max_age,
                            progress=retrying,
                        )
                    sent, failed, queued = len(delivery.sent), delivery.failed, len(outbox.queue)
                    dead, left, refused = delivery.dead, delivery.left, delivery.refused
                elif keep:
                    _record_segments(ws, run)
                done += 1
                if watch:
                    typer.echo(
                        f"{shown(now_utc())} pass {done}: {len(run.alerts)} alert(s),"
                        f" {sent} sent, {queued} queued"
                        f" ({time.perf_counter() - started:.2f} s)",
                        err=True,
                    )
                elif url:
                    _info(f"usertrack: sent {sent} Slack message(s); {queued} queued")
                    shown_failures = list(failed.items())
                    for key, why in shown_failures[:5]:
                        _warn(f"{key}: not delivered ({why}); queued for the next run")
                    if len(shown_failures) > 5:
                        _warn(f"… and {len(shown_failures) - 5} more not delivered")
                else:
                    kept = "segments kept (--save)" if keep else "nothing recorded"
                    _info(f"usertrack: dry run: nothing sent, {kept} (add --notify slack to send)")
                if refused:
                    _warn(
                        f"Slack refused the webhook ({refused}): check SLACK_WEBHOOK_URL; every"
                        " message stays queued"
                    )
                if left:
                    _warn(
                        f"{left} Slack message(s) not tried: the pass reached its {deadline:g} s"
                        " deadline (USERTRACK_SLACK_DEADLINE); they stay queued for the next run"
                    )
                if dead:
                    _warn(
                        f"{len(dead)} Slack message(s) dead-lettered (Slack refused them for good"
                        " or they expired); usertrack alerts --pending lists them"
                    )
                if not watch or (passes is not None and done >= passes):
                    break
                from usertrack.sources.base import pause

                pause(wait)
            if url and not watch and failed:
                raise DeliveryError(
                    f"Slack did not take {len(failed)} message(s); {queued} stay queued"
                    " (usertrack alerts --pending) and go out on the next --notify run"
                )


sync_app = typer.Typer(help="Write what usertrack knows back to other tools.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")


@sync_app.command("posthog")
def sync_posthog(
    apply: Annotated[
        bool, typer.Option("--apply", help="Send (POSTHOG_PROJECT_API_KEY). Default: a dry run.")
    ] = False,
    everyone: Annotated[
        bool, typer.Option("--all", help="Send every segmented user, changed or not.")
    ] = False,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="Changes listed.")] = 20,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=10_000, help="Users per post to the capture host."),
    ] = 1000,  # usertrack.act.sync DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE
    reset: Annotated[
        bool,
        typer.Option(
            "--reset-state",
            help="Move the sync state aside (posthog-sync.json.damaged-TIME); the next --apply"
            " sends every segmented user again.",
        ),
    ] = False,
) -> None:
    """Each user's segments to PostHog as person properties (dry run unless --apply)."""
    with handle_errors():
        from usertrack.act import sync
        from usertrack.clock import now_utc, parse_as_of
        from usertrack.errors import DeliveryError
        from usertrack.rendering.style import terminal_text

        if reset:
            from usertrack.config import load_settings

            moved = sync.reset_state(load_settings().home, now_utc())
            for old, new in moved:
                _info(f"usertrack: moved {old} aside as {new.name}")
            if not moved:
                _info("usertrack: no sync state to reset")
            return
        moment = parse_as_of(as_of) if as_of else None
        key = host = None
        if apply:  # configuration first: nothing is queried for a sync that cannot be sent
            key = sync.project_key()
            host, _ = sync.capture_host()
        result = None
        with _status("loading rules and queries") as progress:
            ws = _open_workspace(
                progress, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
            )
            with ws:
                _check_as_of(ws, moment)
                as_of_moment = moment or ws.default_as_of()
                if apply and key and host:
                    sync.load_state(ws.settings.home)  # a damaged state stops before the queries
                    facts = sync.gather(ws, as_of_moment, progress)
                    plan, result = sync.apply_sync(
                        ws.settings.home,
                        facts,
                        now_utc(),
                        key=key,
                        host=host,
                        everyone=everyone,
                        batch_size=batch_size,
                        progress=progress,
                    )
                else:
                    plan = sync.plan_sync(ws, as_of_moment, everyone=everyone, progress=progress)
        summary = (
            f"{len(plan.changes)} user(s) to send: {plan.count('gaining')} gaining segments,"
            f" {plan.count('changing')} changing, {plan.count('losing')} losing every segment"
            + (f", {plan.count('unchanged')} unchanged (--all)" if everyone else "")
            + f"; {len(plan.unknown)} skipped (PostHog has never seen them)"
            + f"; {len(plan.ambiguous)} skipped as ambiguous (several PostHog persons with the"
            " email, not one identified by the app)"
        )
        typer.echo(summary)
        if plan.resend:
            typer.echo(
                f"{len(plan.resend)} user(s) of an interrupted sync to send first"
                " (the same events again)"
            )
        listed = [*plan.resend, *plan.changes]
        for change in listed[:limit]:
            before = ",".join(change.before) or "-"
            after = ",".join(change.after) or "-"
            email = terminal_text(change.email)
            typer.echo(
                f"  {change.kind:9} {email}  {terminal_text(before)} -> {terminal_text(after)}"
            )
        if len(listed) > limit:
            typer.echo(f"  ... and {len(listed) - limit} more")
        for email in plan.ambiguous[:limit]:
            typer.echo(f"  ambiguous {terminal_text(email)}  (skipped)")
        if len(plan.ambiguous) > limit:
            typer.echo(f"  ... and {len(plan.ambiguous) - limit} more ambiguous")
        if not apply:
            _info("usertrack: dry run: nothing sent (add --apply to send)")
            return
        if result is None or (result.sent == 0 and not result.failed):
            _info("usertrack: nothing to send")
            return
        again = f" ({result.resent} of them from an interrupted sync)" if result.resent else ""
        _info(f"usertrack: sent person properties of {result.sent} user(s) to PostHog{again}")
        if result.failed:
            raise DeliveryError(
                f"PostHog did not take {result.failed} user(s)"
                f" ({result.errors[0] if result.errors else 'no answer'}); they stay pending"
                " and go first on the next --apply, as the same events"
            )


@app.command()
def mcp(
    allow_act: Annotated[
        bool,
        typer.Option(
            "--allow-act",
            help="Also serve alerts_notify and sync_posthog (each a dry run unless told to send).",
        ),
    ] = False,
) -> None:
    """Serve the read-only commands as Model Context Protocol tools over stdio (for an AI
    assistant: README, "usertrack as an MCP server")."""
    with handle_errors():
        from usertrack.mcp_server import serve

        serve(app, allow_act=allow_act)


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
    global _left_to_exit
    _left_to_exit = []
    code: Any = 0
    try:
        app(args=argv, prog_name="usertrack")
    except SystemExit as e:
        code = e.code
    try:
        sys.stdout.flush()  # what is still buffered, now, so a closed pipe is handled here
    except BrokenPipeError:
        _silence_stdout()
        code = 0
    _exit_without_teardown(code)


def _exit_without_teardown(code: Any) -> None:
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
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
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
