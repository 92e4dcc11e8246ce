"""The weekly report's template: rendered in usertrack.reports.templating's sandbox with the
report's filters (`table`, `signed`, `num`, `quote`, `code`, `md`), every `{{ ... }}` escaped
Markdown unless a filter wrote it, and checked (syntax, one file only) before any query runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from usertrack.core import style
from usertrack.core.errors import UsageError

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
WEEKLY_TEMPLATE = TEMPLATES_DIR / "weekly.md.j2"


def _signed(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return style.signed(value)


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return style.number(value)


def _md_table(headers: Sequence[Any], rows: Sequence[Sequence[Any]]) -> style.Markdown:
    from usertrack.rendering.export import md_table

    return style.Markdown(md_table([str(h) for h in headers], [list(r) for r in rows]).rstrip("\n"))


def _quote(value: Any) -> style.Markdown:
    """A mermaid string literal: no quote, backtick (it would close the block) or line break;
    control and bidi characters shown as the rest of the page shows them (`\\u202e`)."""
    text = style.terminal_text(" ".join(str(value).split()))
    text = text.replace('"', "'").replace("`", "'")
    return style.Markdown(f'"{text}"')


def _code(value: Any) -> style.Markdown:
    return style.md_code(str(value))


def _finalize(value: Any) -> Any:
    """Every `{{ ... }}` of a template: text is escaped Markdown unless usertrack wrote it as
    Markdown (the filters' output), so data can never become a link, an image or HTML."""
    if isinstance(value, str):
        return style.md_text(value)
    return value


def render_weekly(context: Mapping[str, Any], template: Path | None = None) -> str:
    """The report text. Template errors are UsageErrors naming the template file and line.

    A template is code someone wrote (--template): it renders in usertrack.reports.templating's
    bounded sandbox, one file (no include, import or extends), no way to Python internals,
    bounded in time and size."""
    from usertrack.reports.templating import render_isolated

    path = check_template(template)
    # `panel_sections`: the dashboard's other panels in Markdown, when a dashboard renders it
    context = {"panel_sections": "", **context}
    return render_isolated("usertrack.reports.weekly_template:render_here", context, path)


def render_here(context: Mapping[str, Any], path: Path) -> str:
    """render_weekly's work, in this process (the child process render_isolated starts)."""
    from usertrack.reports.templating import TemplateFileError, render

    filters: dict[str, Callable[..., Any]] = {
        "table": lambda rows, headers: _md_table(headers, rows),
        "signed": _signed,
        "num": _num,
        "quote": _quote,
        "code": _code,
        "md": style.md_text,
    }
    try:
        text = render(
            path,
            _read_template(path),
            context,
            filters=filters,
            template_globals={"md_table": _md_table},
            finalize=_finalize,
            **_template_options(),
        )
    except TemplateFileError as e:
        raise UsageError(f"{path}{f':{e.line}' if e.line else ''}: {e}") from None
    return text.rstrip("\n") + "\n"


def _template_options() -> dict[str, Any]:
    import jinja2

    return {
        "undefined": jinja2.StrictUndefined,
        "keep_trailing_newline": True,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "autoescape": False,
    }


def _read_template(path: Path) -> str:
    from usertrack.reports.templating import TemplateFileError, read_template

    try:
        return read_template(path)
    except TemplateFileError as e:
        raise UsageError(f"--template {path}{f':{e.line}' if e.line else ''}: {e}") from None


def check_template(template: Path | None) -> Path:
    """The template to render, parsed now: a syntax error, or a tag that would read another
    file, fails (file:line) before any query."""
    from usertrack.reports.templating import TemplateFileError, check_one_file

    path = (template or WEEKLY_TEMPLATE).expanduser()
    if not path.is_file() and not path.is_symlink():
        raise UsageError(f"--template {path}: no such template file")
    source = _read_template(path)
    try:
        check_one_file(source, path, **_template_options())
    except TemplateFileError as e:
        raise UsageError(f"{path}:{e.line}: {e}") from None
    return path
