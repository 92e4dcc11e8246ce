"""PostHog's own HogQL parser (`hogql-parser`, the C++ parser PostHog runs) for one expression.

A check of text that PostHog will parse must read it as PostHog does: comments (`--`, `//`,
`/* */`), strings, escapes and backquoted names included. So `--where` is parsed here, its tree
checked, and the text sent is printed from that tree (usertrack.analytics.where).
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
import types
from typing import Any


class ParseError(Exception):
    """Text the parser refused, with its message."""


def install_errors_module() -> None:
    """hogql_parser raises the exceptions of `posthog.hogql.errors` (PostHog's own package, not
    the posthog SDK): give it that one module, with the classes it names."""
    if "posthog.hogql.errors" in sys.modules:
        return

    class BaseHogQLError(Exception):
        def __init__(self, message: str, *, start: Any = None, end: Any = None, node: Any = None):
            super().__init__(message)
            self.start, self.end = start, end

    errors = types.ModuleType("posthog.hogql.errors")
    errors.BaseHogQLError = BaseHogQLError  # type: ignore[attr-defined]
    for name in (
        "ExposedHogQLError",
        "InternalHogQLError",
        "SyntaxError",
        "QueryError",
        "NotImplementedError",
        "ParsingError",
        "ResolutionError",
        "ImpossibleASTError",
    ):
        setattr(errors, name, type(name, (BaseHogQLError,), {}))
    package = sys.modules.get("posthog.hogql") or types.ModuleType("posthog.hogql")
    package.errors = errors  # type: ignore[attr-defined]
    sys.modules.setdefault("posthog.hogql", package)
    sys.modules["posthog.hogql.errors"] = errors


def parse_expr(text: str) -> dict[str, Any]:
    """The tree of one HogQL expression (PostHog's JSON form: `node`, its fields), or a
    ParseError with the parser's message (its first line)."""
    return _tree("parse_expr_json", text)


def parse_select(text: str) -> dict[str, Any]:
    """The tree of one HogQL SELECT (a set of them: UNION ALL, ...; a `WITH ... SELECT`) in
    PostHog's JSON form, or a ParseError with the parser's message (its first line)."""
    return _tree("parse_select_json", text)


def _parser() -> Any:
    """hogql_parser, imported with a stand-in for the `posthog` package while it loads: its
    import of `posthog.hogql.errors` binds the top package, which would load the posthog SDK
    (httpx and all: 0.27 s of CPU, for no name it reads). The stand-in leaves sys.modules once
    the parser holds the errors module; the SDK's own imports (sdk_module) wait for it."""
    if "hogql_parser" in sys.modules:
        import hogql_parser

        return hogql_parser
    with _STAND_IN:
        install_errors_module()
        if "posthog" in sys.modules:
            import hogql_parser

            return hogql_parser
        stand_in = types.ModuleType("posthog")
        stand_in.__path__ = []  # a package, of no files
        stand_in.hogql = sys.modules["posthog.hogql"]  # type: ignore[attr-defined]
        sys.modules["posthog"] = stand_in
        try:
            import hogql_parser
        finally:
            if sys.modules.get("posthog") is stand_in:
                del sys.modules["posthog"]
        return hogql_parser


_STAND_IN = threading.Lock()  # held while the stand-in `posthog` is in sys.modules


def sdk_module(name: str) -> types.ModuleType:
    """The posthog SDK's module `name` (`posthog`, `posthog.request`), imported while no
    stand-in of the parser's is in sys.modules: another thread's first parse would otherwise
    hand it the stand-in."""
    with _STAND_IN:
        return importlib.import_module(name)


def _tree(function: str, text: str) -> dict[str, Any]:
    hogql_parser = _parser()
    try:
        tree = json.loads(getattr(hogql_parser, function)(text))
    except RecursionError:
        raise ParseError("nests too deep") from None
    except Exception as e:  # the parser's own exceptions (posthog.hogql.errors)
        raise ParseError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    if not isinstance(tree, dict) or tree.get("error"):
        message = tree.get("message") if isinstance(tree, dict) else None
        raise ParseError(str(message or "syntax error").splitlines()[0])
    return tree
