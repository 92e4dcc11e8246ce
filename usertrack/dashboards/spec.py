"""A dashboard file: its title, period and panels, read with each value's line, and each panel's
options checked against its command's own Click parameters (the same declarations the CLI parses
and the MCP tools are generated from), so a typo is one line naming file:line, panel and option.

    title: usertrack weekly
    period: week            # the ISO week (default), or `days: 30`
    panels:
      - analysis: funnel    # one of ANALYSES
        title: Activation funnel
        note: optional one line
        window: 14d         # any option of `usertrack funnel`, by its name
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from usertrack.core.errors import UsageError
from usertrack.core.path_parameters import names_a_path

SHIPPED = Path(__file__).resolve().parent

# The analyses a panel may be: usertrack's command of that name, and `metrics`, the weekly
# report's key metrics (computed by usertrack.reports.weekly).
ANALYSES = (
    "metrics",
    "funnel",
    "retention",
    "trends",
    "activity",
    "sessions",
    "paths",
    "features",
    "segments",
    "failures",
    "alerts",
    "churn",
    "tools",
    "accounts",
    "query",
)

# The options a panel takes, by their name in every command: those that choose what an analysis
# computes and over which people and days. Any other option of a panel's command is refused: the
# dashboard decides the format, the output and the moment (`fmt`, `out`, `as_of`, `save`), every
# panel reads the dashboard's workspace and files (`segments_file`, `queries_dir`,
# `failures_file`, `alerts_file`, a template), and a dashboard reads: it never writes or sends
# (`notify`, `watch`, `app_url`, `reset_outbox`, ...). An option a command gains is refused in a
# panel until it is named here.
PANEL_OPTIONS = frozenset(
    {
        # which people and which events
        "where", "who", "segment", "by_segment", "by_account", "persons",
        # which days
        "days", "since", "until", "compare", "period", "periods", "week_start",
        "stickiness_interval",
        # funnel
        "steps", "step_name", "window", "order", "exclude", "by", "dropped", "paths",
        "breakdown_attribution", "breakdown_attribution_step", "breakdown_limit",
        "time_to_convert", "bins", "trend", "from_step", "to_step", "correlation",
        "correlation_properties",
        # retention
        "top", "start", "return_event", "mode", "min_occurrences",
        # trends (cumulative: retention's too)
        "events", "interval", "math", "cumulative", "formula", "histogram_bins",
        # paths
        "end", "types",
        # features
        "event", "threshold", "all_users",
        # segments
        "changes", "segment_type", "overview",
        # churn
        "backtest", "horizon",
        # tools
        "tool",
        # alerts: whose alerts, or everyone active now instead
        "plan", "active_within", "active",
        # a list across users instead of the answer (usertrack.reports.user_lists)
        "by_user", "executions", "custom", "mcp_clicks", "runs", "js_errors", "pages",
        # query: a query file of the dashboard's library by its id, and its parameters
        "query_id", "param",
    }
)  # fmt: skip


PANEL_KEYS = frozenset({"analysis", "title", "note"})
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Panel:
    analysis: str
    title: str
    note: str
    line: int
    options: dict[str, tuple[Any, int]] = field(default_factory=dict)  # name -> (value, line)


@dataclass(frozen=True)
class Dashboard:
    name: str
    path: Path
    title: str
    days: int | None  # None: the ISO week
    panels: tuple[Panel, ...]
    anonymize: bool = False  # people as pseudonyms, as with --anonymize (docs/privacy.md)


def user_folder(home: Path) -> Path:
    return home / "dashboards"


def listed(home: Path) -> list[tuple[str, str, Path]]:
    """(name, where, file) of every dashboard by name: ./dashboards, USERTRACK_HOME/dashboards,
    then the shipped ones; a name found earlier hides a later one."""
    found: dict[str, tuple[str, str, Path]] = {}
    for where, folder in (
        ("here", Path("dashboards")),
        ("home", user_folder(home)),
        ("shipped", SHIPPED),
    ):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            if NAME.match(path.stem) and path.stem not in found:
                found[path.stem] = (path.stem, where, path)
    return sorted(found.values())


def summaries(home: Path | None = None) -> list[dict[str, Any]]:
    """The dashboards by name with their title and panels (the MCP tool list_dashboards)."""
    if home is None:
        from usertrack.core.config import load_settings

        home = load_settings().home
    found: list[dict[str, Any]] = []
    for name, where, path in listed(home):
        try:
            board = load(path)
        except UsageError as e:
            found.append({"name": name, "where": where, "error": str(e)})
            continue
        titles = [p.title for p in board.panels]
        found.append({"name": name, "where": where, "title": board.title, "panels": titles})
    return found


def resolve(given: str, home: Path) -> Path:
    """A dashboard's file: `given` as a path when it looks like one, else a name of `listed`."""
    if "/" in given or given.endswith((".yaml", ".yml")):
        path = Path(given)
        if not path.is_file():
            raise UsageError(f"no dashboard file {given}")
        return path
    if not NAME.match(given):
        raise UsageError(f"{given!r} is not a dashboard name or a .yaml file")
    for name, _where, path in listed(home):
        if name == given:
            return path
    names = ", ".join(n for n, _w, _p in listed(home))
    raise UsageError(f"no dashboard named {given!r} (there are: {names})")


def _bad(path: Path, line: int, text: str) -> UsageError:
    return UsageError(f"{path}:{line}: {text}")


def _plain(node: Any) -> Any:
    import yaml

    return yaml.safe_load(yaml.serialize(node))


def load(path: Path) -> Dashboard:
    """Read and check the file's shape (not yet the panels' options: `check_panel`)."""
    import yaml

    from usertrack.core.rulefiles import compose_with_marks

    root = compose_with_marks(path)
    if not isinstance(root, yaml.MappingNode):
        raise _bad(path, 1, "a dashboard is a mapping with title, period and panels")
    top = {k.value: v for k, v in root.value}
    for key, _value in root.value:
        if key.value not in ("title", "period", "panels", "anonymize"):
            raise _bad(
                path,
                key.start_mark.line + 1,
                f"unknown key {key.value!r} (a dashboard has title, period, panels and anonymize)",
            )
    anonymize = _plain(top["anonymize"]) if "anonymize" in top else False
    if not isinstance(anonymize, bool):
        raise _bad(path, top["anonymize"].start_mark.line + 1, "anonymize must be true or false")
    title = _plain(top["title"]) if "title" in top else path.stem
    if not isinstance(title, str) or not title.strip():
        raise _bad(path, top["title"].start_mark.line + 1, "title must be text")
    days = None
    if "period" in top:
        node = top["period"]
        value = _plain(node)
        if isinstance(value, Mapping) and set(value) == {"days"}:
            days = value["days"]
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3660:
                raise _bad(path, node.start_mark.line + 1, "period days must be 1 to 3660")
        elif value != "week":
            raise _bad(path, node.start_mark.line + 1, "period is `week` or `days: N`")
    panels_node = top.get("panels")
    if not isinstance(panels_node, yaml.SequenceNode) or not panels_node.value:
        line = panels_node.start_mark.line + 1 if panels_node is not None else 1
        raise _bad(path, line, "panels must be a list of at least one panel")
    panels = []
    for i, node in enumerate(panels_node.value, 1):
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            raise _bad(path, line, f"panel {i} must be a mapping with analysis and title")
        keys = {k.value: (v, k.start_mark.line + 1) for k, v in node.value}
        analysis = _plain(keys["analysis"][0]) if "analysis" in keys else None
        ptitle = _plain(keys["title"][0]) if "title" in keys else f"panel {i}"
        if not isinstance(ptitle, str):
            raise _bad(path, keys["title"][1], f"panel {i}: title must be text")
        if analysis not in ANALYSES:
            raise _bad(
                path,
                keys.get("analysis", (None, line))[1],
                f"panel {ptitle!r}: analysis must be one of {', '.join(ANALYSES)},"
                f" not {analysis!r}",
            )
        note = _plain(keys["note"][0]) if "note" in keys else ""
        if not isinstance(note, str):
            raise _bad(path, keys["note"][1], f"panel {ptitle!r}: note must be text")
        options = {k: (_plain(v), at) for k, (v, at) in keys.items() if k not in PANEL_KEYS}
        panels.append(Panel(analysis, ptitle, note, line, options))
    return Dashboard(path.stem, path, title, days, tuple(panels), anonymize=anonymize)


def panel_params(command: Any) -> dict[str, Any]:
    """The Click parameters of `command` a panel may give, by name: those of PANEL_OPTIONS, and
    never one whose type or name says it names a file or a folder."""
    return {
        p.name: p
        for p in (command.params if command is not None else [])
        if p.expose_value and p.name in PANEL_OPTIONS and not names_a_path(p)
    }


def check_panel(path: Path, panel: Panel, command: Any) -> list[str]:
    """The panel's options as the command line of its command (`--name=value`, flags, then the
    positional values after `--`), each checked with the option's own Click type."""
    every = {p.name: p for p in (command.params if command is not None else [])}
    params = panel_params(command)
    options: list[str] = []
    positional: list[str] = []
    for key, (value, line) in panel.options.items():
        name = str(key).replace("-", "_")

        def bad(text: str, key: Any = key, line: int = line) -> UsageError:
            return _bad(path, line, f"panel {panel.title!r}: option {key!r} {text}")

        param = params.get(name)
        if param is None:
            takes = ", ".join(sorted(params)) or "none"
            if name in every:
                raise bad(
                    "is not taken by a dashboard panel: the dashboard decides the output, the"
                    " moment and the files, and never writes or sends (a panel of `usertrack"
                    f" {panel.analysis}` takes: {takes})"
                )
            raise bad(f"is not an option of `usertrack {panel.analysis}` (it takes: {takes})")
        many = param.multiple or param.nargs == -1
        values = value if many and isinstance(value, list) else [value]
        if getattr(param, "is_flag", False) or type(param.type).__name__ == "BoolParamType":
            if not isinstance(value, bool):
                raise bad(f"must be true or false, not {value!r}")
            if value:
                options.append(param.opts[0])
            elif param.secondary_opts:
                options.append(param.secondary_opts[0])
            continue
        if panel.analysis == "funnel" and name == "steps":  # a step may be a mapping
            from usertrack.analytics.funnel.steps import step_label, step_of

            where = f"{path}:{line}: panel {panel.title!r}"
            labels = [step_label(v, where) for v in values]  # a step's name: as --step-name
            named = [label for label in labels if label is not None]
            if len(set(named)) < len(named):
                raise bad("names two steps alike: each step's name is its own")
            options += [f"--step-name={i}={n}" for i, n in enumerate(labels, 1) if n is not None]
            values = [step_of(v, where) for v in values]
        texts = []
        for v in values:
            if v is None or isinstance(v, dict | list | bool):
                raise bad(f"must be {'a list of values' if many else 'one value'}, not {v!r}")
            try:
                param.type.convert(str(v), param, None)
            except Exception as e:  # click.BadParameter: its own words
                message = getattr(e, "format_message", lambda e=e: str(e))()
                raise bad(f"is invalid: {' '.join(message.split())}") from None
            texts.append(str(v))
        if param.param_type_name == "argument":
            positional.extend(texts)
        else:
            flag = next((o for o in param.opts if o.startswith("--")), param.opts[0])
            options.extend(f"{flag}={t}" for t in texts)
    return [*options, "--", *positional] if positional else options


def period_options(command: Any, panel: Panel, days: int, as_of: str, compare: bool) -> list[str]:
    """What the dashboard's period adds to a panel's command line: the moment, and the days when
    the command takes them and the panel named no range of its own."""
    names = {p.name for p in command.params}
    extra = [f"--as-of={as_of}", "--format=json"]
    own = {str(k).replace("-", "_") for k in panel.options}
    if "days" in names and not own & {"days", "since", "until"}:
        extra.append(f"--days={days}")
    if compare and "compare" in names and "compare" not in own:
        extra.append("--compare")
    if "save" in names:
        extra.append("--no-save")
    return extra
