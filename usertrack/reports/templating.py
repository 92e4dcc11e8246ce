"""A report template as a sandbox: one file, no other file reachable, bounded time and size.

A `--template` is code from wherever the user found it (a cloned folder, a colleague). Fences:

- It is one file: read once, not through a symlink, and served alone by the environment's
  loader. `{% include %}`, `{% import %}`, `{% from … import %}` and `{% extends %}` are refused
  when it is parsed (file:line), so no other file is read: not `.env` or `.git/config` beside
  it, nor what a `root -> /` symlink there points to.
- jinja's SandboxedEnvironment: no `''.__class__.__mro__` walk to Python internals.
- Bounded: a value the template makes (`*`, `+`, `%`, `~`, a filter, a call) holds at most
  MAX_VALUE characters or items, a width or count given to a filter or a string method is at
  most MAX_VALUE, and `**` stays below MAX_POWER_BITS; `range()` gives at most jinja's
  MAX_RANGE (100,000) items; all the text made while rendering (buffers and macro results
  included) is at most MAX_PRODUCED characters, the report MAX_OUTPUT; rendering stops after
  RENDER_SECONDS, checked at every call, filter, loop step and output piece (and, on the main
  thread, by a SIGALRM timer too). Past a bound: TemplateFileError naming the bound and line.
- And by construction, for what no meter sees (a C loop such as `|sum` over a long list, a
  `|join` of one long string repeated): on POSIX the render runs in a child Python process
  (`render_isolated`) with RLIMIT_AS RENDER_MEMORY and RLIMIT_CPU past RENDER_SECONDS, killed
  when RENDER_SECONDS + 5 s of wall time pass, given nothing of the environment (no secret)
  and sending back JSON only. Its data goes in as a pickle: usertrack's own values.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from usertrack.core.bounds import exit_status
from usertrack.core.errors import not_utf8

MAX_VALUE = 5_000_000  # characters of one string, items of one list, that a template makes
MAX_OUTPUT = 20_000_000  # characters of the rendered report
MAX_PRODUCED = 200_000_000  # characters of text made while rendering, all pieces together
RENDER_SECONDS = 10.0
MAX_POWER_BITS = 4096  # `a ** b` whose result would need more bits is refused
RENDER_MEMORY = 2 * 1024**3  # address space of the rendering process (RLIMIT_AS)
_BOUNDS = ("MAX_VALUE", "MAX_OUTPUT", "MAX_PRODUCED", "RENDER_SECONDS", "MAX_POWER_BITS")

_OTHER_FILES = {
    "Include": "{% include %}",
    "Import": "{% import %}",
    "FromImport": "{% from … import %}",
    "Extends": "{% extends %}",
}
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_NUMBER = re.compile(r"\d+")


class TemplateFileError(ValueError):
    """The template cannot be used or rendered: the template's `line` (0: none) and why."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


class TemplateBound(Exception):
    """Raised inside the render when the template goes past a bound."""


def read_template(path: Path) -> str:
    """The template's text, from the file itself: a symlink (a cloned folder's `mine.md.j2`
    could point at ~/.config/usertrack/config.toml) is refused, as is a file over MAX_VALUE."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as e:
        if path.is_symlink():
            raise TemplateFileError(0, "is a symlink; give the template file itself") from None
        raise TemplateFileError(0, f"cannot read it: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_VALUE + 1)
    if len(data) > MAX_VALUE:
        raise TemplateFileError(0, f"is larger than {MAX_VALUE:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TemplateFileError(*not_utf8(e)) from None


def check_one_file(source: str, path: Path, **options: Any) -> None:
    """Parse `source`: TemplateFileError for a syntax error or a tag reading another file."""
    import jinja2
    from jinja2 import nodes

    env = jinja2.Environment(**options)
    try:
        tree = env.parse(source, name=path.name, filename=str(path))
    except jinja2.TemplateSyntaxError as e:
        raise TemplateFileError(
            e.lineno, f"template error: {e.message or 'syntax error'}"
        ) from None
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        raise TemplateFileError(
            node.lineno,
            f"template error: {_OTHER_FILES[type(node).__name__]} is not allowed: a template is"
            " one file and reads no other",
        )


def render(
    path: Path,
    source: str,
    context: Mapping[str, Any],
    *,
    filters: Mapping[str, Callable[..., Any]],
    template_globals: Mapping[str, Any],
    finalize: Callable[[Any], Any],
    **options: Any,
) -> str:
    """Render the template `source` (the file `path`, already read and checked) in the bounded
    sandbox. TemplateFileError (with the template's line when known) for any failure."""
    import jinja2

    check_one_file(source, path, **options)
    env = _bounded_class()(
        loader=jinja2.FunctionLoader(  # this file alone, already read
            lambda name: (source, str(path), lambda: True) if name == path.name else None
        ),
        finalize=finalize,
        **options,
    )
    env.filters.update(filters)
    env.globals.update(template_globals)
    env.bound_filters()
    try:
        with _deadline(env):
            template = env.get_template(path.name)
            out: list[str] = []
            size = 0
            for piece in template.generate(**context):
                size += len(piece)
                if size > MAX_OUTPUT:
                    raise TemplateBound(f"the report is longer than {MAX_OUTPUT:,} characters")
                env.tick()
                out.append(piece)
            return "".join(out)
    except jinja2.TemplateSyntaxError as e:
        raise TemplateFileError(e.lineno, f"template error: {e.message}") from None
    except TemplateBound as e:
        raise TemplateFileError(_line(e, path), f"template stopped: {e}") from None
    except jinja2.TemplateError as e:
        raise TemplateFileError(_line(e, path), f"template error: {e}") from None
    except (RecursionError, MemoryError, OverflowError) as e:
        what = {RecursionError: "calls nest too deep", MemoryError: "ran out of memory"}
        reason = what.get(type(e), str(e))
        raise TemplateFileError(_line(e, path), f"template stopped: {reason}") from None


def _line(error: BaseException, path: Path) -> int:
    """The template line a render error happened on, from jinja's rewritten traceback."""
    line = 0
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == str(path) and frame.lineno:
            line = frame.lineno
    return line


@contextmanager
def _deadline(env: Any) -> Iterator[None]:
    """env.deadline for the meters; on the main thread a SIGALRM timer as well, which stops a
    loop no meter sees (the previous handler and timer are put back afterwards)."""
    env.deadline = time.monotonic() + RENDER_SECONDS
    on_main = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if not on_main:
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise TemplateBound(f"rendering took longer than {RENDER_SECONDS:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, RENDER_SECONDS + 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)


def _check_ints(values: Any, what: str) -> None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
            raise TemplateBound(f"{what} {value:,} is larger than {MAX_VALUE:,}")


def _check_percent(fmt: str, args: Any) -> None:
    """`fmt % args`: no width or precision over MAX_VALUE, written or given with `*`."""
    star = False
    for m in _PERCENT_SPEC.finditer(fmt):
        for group in m.groups():
            if group == "*":
                star = True
            elif group:
                _check_ints([int(group)], "a width or precision of")
    if star:
        _check_ints(args if isinstance(args, tuple) else (args,), "a width or precision of")


@functools.cache
def _bounded_class() -> type[Any]:
    from jinja2.compiler import CodeGenerator, Frame
    from jinja2.nodes import Concat
    from jinja2.runtime import str_join
    from jinja2.sandbox import SandboxedEnvironment, safe_range
    from jinja2.utils import _PassArg

    class BoundedCodeGenerator(CodeGenerator):
        def visit_Concat(self, node: Concat, frame: Frame) -> None:
            self.write("environment.bounded_concat((")  # `a ~ b`, measured
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

    class BoundedSandbox(SandboxedEnvironment):
        code_generator_class = BoundedCodeGenerator
        intercepted_binops = frozenset({"*", "**", "%", "+"})

        def __init__(self, **options: Any) -> None:
            finalize = options.pop("finalize", None)
            super().__init__(finalize=self._finalizer(finalize), **options)
            self.deadline = math.inf
            self.produced = 0
            self.globals.pop("lipsum", None)
            self.globals["range"] = self.bounded_range

        def _finalizer(self, finalize: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
            def measured_finalize(value: Any) -> Any:
                return self.measured(finalize(value) if finalize else value, count=True)

            return measured_finalize

        # -- the meters
        def tick(self) -> None:
            if time.monotonic() > self.deadline:
                raise TemplateBound(f"rendering took longer than {RENDER_SECONDS:g} s")

        def measured(self, value: Any, *, count: bool = True) -> Any:
            if isinstance(value, str | list | tuple | dict | set | bytes):
                size = len(value)
                if size > MAX_VALUE:
                    raise TemplateBound(
                        f"a value of {size:,} characters or items is larger than {MAX_VALUE:,}"
                    )
                if count and isinstance(value, str):
                    self.produced += size
                    if self.produced > MAX_PRODUCED:
                        raise TemplateBound(
                            f"the template made more than {MAX_PRODUCED:,} characters of text"
                        )
            self.tick()
            return value

        def bound_filters(self) -> None:
            """Every filter (jinja's and ours) measured: its widths and counts, its result."""
            for name, function in list(self.filters.items()):
                self.filters[name] = self._bounded_filter(name, function)

        def _bounded_filter(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
            skip = 1 if _PassArg.from_obj(function) is not None else 0

            @functools.wraps(function)
            def bounded(*args: Any, **kwargs: Any) -> Any:
                self.tick()
                # args[skip] is the value filtered; the others are widths, counts, ...
                _check_ints([*args[skip + 1 :], *kwargs.values()], f"|{name}: an argument of")
                return self.measured(function(*args, **kwargs))

            return bounded

        # -- what a template can do
        def bounded_range(self, *args: int) -> Iterator[int]:
            for i in safe_range(*args):  # at most MAX_RANGE items
                self.tick()
                yield i

        def bounded_concat(self, values: tuple[Any, ...]) -> str:
            size = sum(len(v) for v in values if isinstance(v, str))
            if size > MAX_VALUE:
                raise TemplateBound(f"a value of {size:,} characters is larger than {MAX_VALUE:,}")
            return str(self.measured(str_join(values)))

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            self.tick()
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    sized = isinstance(seq, str | list | tuple) and isinstance(n, int)
                    if sized and len(seq) * n > MAX_VALUE:
                        raise TemplateBound(
                            f"{len(seq):,} times {n:,} is more than {MAX_VALUE:,} characters"
                            " or items"
                        )
            elif operator == "**":
                if isinstance(left, int | float) and isinstance(right, int | float):
                    bits = abs(right) * math.log2(abs(left)) if abs(left) > 1 else 0
                    if bits > MAX_POWER_BITS:
                        raise TemplateBound(f"{left} ** {right} is too large a number")
            elif operator == "%" and isinstance(left, str):
                _check_percent(left, right)
            return self.measured(super().call_binop(context, operator, left, right))

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            __self.tick()
            # "a".ljust(n), "{:>{}}".format(...): jinja wraps str.format, __wrapped__ is it
            method = getattr(__obj, "__wrapped__", __obj)
            text = getattr(method, "__self__", None)
            if isinstance(text, str):
                _check_ints([*args, *kwargs.values()], "an argument of")
                if getattr(method, "__name__", "") in ("format", "format_map"):
                    numbers = _FORMAT_NUMBER.findall(text)
                    _check_ints([int(n) for n in numbers], "a width or precision of")
            value = __self.measured(super().call(__context, __obj, *args, **kwargs))
            owner = getattr(__obj, "__self__", None)
            if isinstance(owner, list | dict | set):  # rows.append(...), x.extend(x): its size
                __self.measured(owner, count=False)
            return value

    return BoundedSandbox


# --------------------------------------------------------------------------------------------
# The render in a child process with hard limits


def render_isolated(target: str, *args: Any) -> str:
    """`target(*args)` ("module:function", returning the report text, raising a UsertrackError
    for a bad template) run in a child Python process with hard memory and CPU limits, killed
    after RENDER_SECONDS + 5 s; its UsertrackError is raised here as a UsageError. Where there
    are no such limits (not POSIX) it runs here, with the meters alone."""
    import importlib

    if os.name != "posix":
        module, _, name = target.partition(":")
        return str(getattr(importlib.import_module(module), name)(*args))
    import json
    import pickle
    import subprocess
    import sys

    from usertrack.core.errors import UsageError

    seconds = RENDER_SECONDS
    request = pickle.dumps(
        {
            "target": target,
            "args": args,
            "bounds": {name: globals()[name] for name in _BOUNDS},
            "memory": RENDER_MEMORY,
        }
    )
    # Nothing of the environment but what finds Python and usertrack: no key, no URL.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    stopped = f"template stopped: rendering took longer than {seconds:g} s"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "usertrack.reports.render_child"],
            input=request,
            capture_output=True,
            timeout=seconds + 5,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(f"{_shown(args)}: {stopped}") from None
    try:
        answer = json.loads(proc.stdout) if proc.returncode == 0 else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise UsageError(f"{_shown(args)}: {stopped}")
        raise UsageError(
            f"{_shown(args)}: template stopped: its rendering process ended with"
            f" {exit_status(proc.returncode)}"
        )
    if "error" in answer:
        raise UsageError(str(answer["error"]))
    return str(answer["text"])


def _shown(args: tuple[Any, ...]) -> str:
    """The template file among the arguments, for messages."""
    return next((str(a) for a in args if isinstance(a, Path)), "the template")


def serve() -> None:
    """The child's side of render_isolated: read the request (stdin, a pickle from the
    parent), set the limits, render, write JSON to stdout."""
    import importlib
    import json
    import pickle
    import resource
    import sys

    from usertrack.core.errors import UsertrackError

    request = pickle.loads(sys.stdin.buffer.read())  # from our parent: its own data
    globals().update(request["bounds"])
    module, _, name = str(request["target"]).partition(":")
    function = getattr(importlib.import_module(module), name)
    import jinja2.sandbox  # noqa: F401 - loaded before the memory limit

    cpu = math.ceil(RENDER_SECONDS) + 1
    memory = int(request["memory"])
    for limit, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, memory)):
        # A system that refuses one (macOS and RLIMIT_AS) still has the meters and the kill.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(limit, (value, value + 1 if limit == resource.RLIMIT_CPU else value))
    try:
        answer = {"text": str(function(*request["args"]))}
    except UsertrackError as e:
        answer = {"error": str(e)}
    except MemoryError:
        answer = {"error": f"{_shown(request['args'])}: template stopped: ran out of memory"}
    sys.stdout.write(json.dumps(answer, ensure_ascii=False))
    sys.stdout.flush()
