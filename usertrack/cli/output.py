"""What a command writes: the answer to stdout or --out (atomically), progress and notices on stderr
(quiet with --quiet, a spinner only on a terminal), and the choice of --format."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from usertrack.core import pseudonyms, style
from usertrack.core.errors import UsageError

_quiet = False  # --quiet: no demo notice, no progress, no "wrote" lines (errors still show)


def set_quiet(quiet: bool) -> None:
    """--quiet, set once by the global options before the command runs."""
    global _quiet
    _quiet = quiet


_verbose = False  # --verbose: the queries sent, on stderr and in a JSON answer


def set_verbose(verbose: bool) -> None:
    global _verbose
    _verbose = verbose


def with_query_counts(text: str) -> str:
    """With --verbose, a JSON object answer gains its last key `"queries"`: the queries the
    command sent to each source (usertrack.engines.query_counts). Any other text is as is."""
    if not _verbose or not text.startswith("{") or not text.rstrip().endswith("}"):
        return text
    import json

    from usertrack.engines import query_counts

    try:
        json.loads(text)
    except ValueError:
        return text
    body = text.rstrip()[:-1].rstrip()
    sent = json.dumps(query_counts.counts())
    return f'{body}{"," if body != "{" else ""}\n  "queries": {sent}\n}}\n'


@contextlib.contextmanager
def anonymized_streams() -> Iterator[None]:
    """stdout and stderr as `Anonymized` while the block runs (one command), then as they were
    (a command run in-process: the MCP server, the tests)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = pseudonyms.Anonymized(out), pseudonyms.Anonymized(err)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a closed pipe: said where it was written
            sys.stdout.flush()
            sys.stderr.flush()
        sys.stdout, sys.stderr = out, err


def info(message: str) -> None:
    """A progress-like line on stderr that --quiet hides."""
    if not _quiet:
        typer.echo(message, err=True)


def said(lines: Iterable[str]) -> None:
    """Lines on stderr that --quiet hides, each `usertrack: LINE`: what an option kept."""
    for line in lines:
        info(f"usertrack: {safe(line)}")


def warn(message: str) -> None:
    from usertrack.core.errors import cut_inputs

    typer.echo(f"usertrack: warning: {safe(cut_inputs(message))}", err=True)


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
def spinner(first: str) -> Iterator[Callable[[str], None]]:
    """The spinner on stderr (a terminal only), or nothing with --quiet."""
    if _quiet or not _stderr_may_be_terminal():
        yield lambda _msg: None
        return
    from usertrack.rendering.terminal import progress_status, stderr_console

    with progress_status(stderr_console(), first) as progress:
        yield progress


def safe(message: str) -> str:
    from usertrack.core.style import terminal_text

    return terminal_text(message, one_line=False)


def choose_format(fmt: str | None, out: Path | None, formats: tuple[str, ...] = ()) -> str:
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


def answer_console() -> Any:
    """Rich's console for a command's answer (highlighting off, a closed pipe exits 0)."""
    from usertrack.rendering.terminal import stdout_console

    return stdout_console()


def probe_out(out: Path | None) -> None:
    """Probe --out before any query runs: folders created, a bad path fails now (exit 2)."""
    from usertrack.rendering.output import is_stdout, prepare_out

    if out is not None and not is_stdout(out):
        prepare_out(out)


def emit(text: str, out: Path | None) -> None:
    from usertrack.rendering.output import is_stdout, write_atomic

    text = pseudonyms.anonymize_text(with_query_counts(text))
    if out is None or is_stdout(out):
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(out, text)
        info(f"usertrack: wrote {out}")


def emit_rows(rows: Any, fmt: str, out: Path | None, **about: Any) -> None:
    """A query's rows streamed (usertrack.rendering.export.write_result) to stdout, or into
    --out atomically: the file appears whole when the last row is written, or not at all."""
    from usertrack.rendering.export import write_result
    from usertrack.rendering.output import atomic_file, is_stdout

    if out is None or is_stdout(out):
        write_result(rows, fmt, sys.stdout, **about)
        sys.stdout.flush()
        return
    with atomic_file(out) as fh:  # people as pseudonyms there too, with --anonymize
        write_result(rows, fmt, fh, **about)
    info(f"usertrack: wrote {out}")


def say(msg: str) -> None:
    typer.echo(msg, err=True)


# The formats of a command that draws its answer: the answer's own, or its chart.
CHART_FORMATS = ("table", "json", "csv", "md", "html", "svg", "png")
CHARTS = ("html", "svg", "png")


def chart_format(fmt: str | None, out: Path | None) -> str:
    """choose_format of CHART_FORMATS, and -f png only with a file to write it to (exit 2)."""
    from usertrack.rendering.output import is_stdout

    chosen = choose_format(fmt, out, CHART_FORMATS)
    if chosen == "png" and (out is None or is_stdout(out)):
        raise UsageError("-f png writes a file: add --out NAME.png")
    return chosen


def _span(doc: dict[str, Any]) -> str:
    """The answer's range as every text writes it (style.span), from its JSON `from` and `to`
    (the end the range holds up to); '' without them."""
    try:
        start, end = (
            datetime.fromisoformat(str(doc[k]).replace("Z", "+00:00")) for k in ("from", "to")
        )
    except (KeyError, ValueError):
        return ""
    return style.span(start, end)


def write_chart(name: str, doc: dict[str, Any], chosen: str, out: Path | None) -> None:
    """The chart of `doc`, the JSON answer of `usertrack NAME` (usertrack.dashboards.charts, as
    a dashboard's panel of that analysis draws it): one HTML page that draws offline, an SVG or
    a PNG."""
    from usertrack.core.config import load_settings
    from usertrack.dashboards import charts, render
    from usertrack.engines.cache import cache_dir
    from usertrack.rendering.output import atomic_file, is_stdout

    made = charts.chart(name, doc)
    if made is None:
        raise UsageError(f"this {name} answer has nothing to draw; use json, csv or md")
    if chosen == "html":
        span = _span(doc)  # its last day included, as the weekly page's and every text's
        meta = {
            "title": f"usertrack {name}",
            "period_label": span.removesuffix(" (UTC)") or str(doc.get("as_of", "")),
            "period_text": span or f"as of {doc.get('as_of', '')}",
        }
        panel = {"analysis": name, "title": name, "note": "", "data": doc}
        emit(render.to_html(meta, [panel], cache_dir(load_settings().home)), out)
    elif chosen == "svg":
        emit(charts.svg(made[0]), out)
    else:
        assert out is not None and not is_stdout(out)
        with atomic_file(out) as fh:
            # Bytes, past --anonymize's text stream: its drawing is anonymized (drawing.draw).
            binary = fh.inner if isinstance(fh, pseudonyms.Anonymized) else fh
            binary.flush()
            binary.buffer.write(charts.png(made[0]))
        info(f"usertrack: wrote {out}")
