"""Reading the YAML rule files people edit (segments, failures, alerts, the tracking plan).

Every mapping the loader builds carries its line under the key `__line__`, so a check further on
can say `file:line`; a key given twice in one mapping is an error (plain YAML keeps the last).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from usertrack.core.errors import UsertrackError, not_utf8


def did_you_mean(word: str, choices: Iterable[str], n: int = 1) -> str:
    """' (did you mean 'a'?)', or with `n` up to n close names, the closest first
    (' (did you mean 'a' or 'b'?)'); '' when none is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=n)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def reject_unknown_keys(
    mapping: dict[Any, Any],
    known: Iterable[str],
    where: str,
    error: type[UsertrackError],
    *,
    list_known: bool = False,
    path: Path | None = None,
) -> None:
    """Raise `error` at `where` for the first key of `mapping` not in `known` (`__line__` aside);
    with `path`, at the key's own line (`path:line`) when the mapping knows it."""
    for key in mapping:
        if key != "__line__" and key not in known:
            listed = f" (known: {', '.join(sorted(known))})" if list_known else ""
            lines = getattr(mapping, "lines", None) or {}
            at = f"{path}:{lines[key]}" if path is not None and key in lines else where
            raise error(f"{at}: unknown key {key!r}{did_you_mean(str(key), known)}{listed}")


class LineMapping(dict[Any, Any]):
    """A mapping read from YAML that knows the line of each of its keys (`lines`), so that an
    error about one value names its own line, not its mapping's."""

    lines: dict[Any, int]


def key_line(mapping: Any, key: Any, default: int) -> int:
    """The line of `key` in a mapping read by `read_yaml_with_lines`, else `default`."""
    lines = getattr(mapping, "lines", None) or {}
    return int(lines.get(key, default))


def compose_with_marks(path: Path, unreadable: str = "") -> Any:
    """The YAML node tree of `path` (its nodes keep their lines), or one UsageError line:
    `{unreadable}cannot read PATH: why` or `PATH:LINE: not YAML: why`."""
    import yaml

    from usertrack.core.errors import UsageError

    try:
        text = path.read_text(encoding="utf-8")
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except OSError as e:
        raise UsageError(f"{unreadable}cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        line, why = not_utf8(e)
        raise UsageError(f"{unreadable}{path}:{line}: {why}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise UsageError(f"{path}:{line}: not YAML: {getattr(e, 'problem', None) or e}") from None


def read_yaml_with_lines(path: Path, error: type[UsertrackError], what: str) -> Any:
    """The YAML document of `path`; every problem raises `error` with `path[:line]: ...`."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except UnicodeDecodeError as e:
        at, why = not_utf8(e)
        raise error(f"{path}:{at}: {why}") from None
    except OSError as e:
        raise error(f"{path}: cannot read {what}: {e}") from None

    # libyaml's loader when present (ten times faster); it keeps the marks used for line numbers.
    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class LineLoader(base):  # type: ignore[misc, valid-type]
        pass

    def construct_mapping(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
        keys = [loader.construct_object(k) for k, _ in node.value]
        for key in keys:
            if keys.count(key) > 1:
                raise error(f"{path}:{node.start_mark.line + 1}: key {key!r} given twice")
        mapping = LineMapping(loader.construct_mapping(node, deep=True))
        mapping["__line__"] = node.start_mark.line + 1
        mapping.lines = {
            key: k.start_mark.line + 1 for key, (k, _) in zip(keys, node.value, strict=True)
        }
        return mapping

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    try:
        return yaml.load(text, Loader=LineLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise error(f"{path}{line}: not valid YAML: {e.problem or e}") from None
    except yaml.YAMLError as e:
        raise error(f"{path}: not valid YAML: {e}") from None


def read_rule_mapping(
    path: Path,
    error: type[UsertrackError],
    what: str,
    expected: str,
    known: Iterable[str],
    *,
    list_known: bool = False,
) -> tuple[dict[Any, Any], int]:
    """A rule file whose document is a mapping of `known` keys: the mapping (without its
    `__line__`) and the line it starts on. Not a mapping: `path:1: expected {expected}`."""
    doc = read_yaml_with_lines(path, error, what)
    if not isinstance(doc, dict):
        raise error(f"{path}:1: expected {expected}")
    top_line = int(doc.pop("__line__", 1))
    reject_unknown_keys(doc, known, f"{path}:{top_line}", error, list_known=list_known)
    return doc, top_line
