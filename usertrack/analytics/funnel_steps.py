"""A funnel's steps written as YAML (`funnel --steps-file FILE`, a dashboard panel's `steps:`):
each step an event name, `EVENT:PROPERTY=VALUE`, or a mapping `{event: EVENT, where: {PROPERTY:
VALUE}}`, turned into the steps the command line takes (usertrack.analytics.funnel.split_step
reads them back). A bad step is one line naming its file and line (exit 2)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from usertrack.errors import UsageError

STEP_KEYS = ("event", "where")


def step_of(item: Any, where: str) -> str:
    """One step as the command line writes it; `where` says where it was read ('FILE:LINE')."""
    from usertrack.analytics.funnel import split_step

    if isinstance(item, str) and item.strip():
        return item.strip()
    if not isinstance(item, Mapping):
        raise UsageError(
            f"{where}: a step is an event name or a mapping with event (and where), not {item!r}"
        )
    for key in item:
        if key not in STEP_KEYS:
            raise UsageError(f"{where}: unknown key {key!r} in a step (a step has event and where)")
    event = item.get("event")
    if not isinstance(event, str) or not event.strip():
        raise UsageError(f"{where}: a step needs `event: NAME`")
    event = event.strip()
    narrowed = item.get("where")
    if narrowed is None:
        return event
    if not isinstance(narrowed, Mapping) or len(narrowed) != 1:
        raise UsageError(f"{where}: `where` is one `PROPERTY: VALUE` (one property per step)")
    ((prop, value),) = narrowed.items()
    if not isinstance(prop, str) or not prop.strip():
        raise UsageError(f"{where}: `where` names a property: `PROPERTY: VALUE`")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UsageError(
            f"{where}: the value of {prop!r} is one text or number, not {value!r}"
            " (quote true, false or a date)"
        )
    text = f"{event}:{prop.strip()}={value}"
    if split_step(text) != (event, prop.strip(), str(value).strip()):
        raise UsageError(f"{where}: {event!r} with {prop!r} cannot be told apart as a step")
    return text


def load_steps_file(path: Path) -> list[str]:
    """The steps of a YAML file holding a list of them (see the module)."""
    import yaml

    from usertrack.rulefiles import compose_with_marks

    root = compose_with_marks(path, "--steps-file: ")
    if not isinstance(root, yaml.SequenceNode) or not root.value:
        line = root.start_mark.line + 1 if root is not None else 1
        raise UsageError(f"{path}:{line}: a steps file is a list of at least one step")
    steps = []
    for node in root.value:
        item = yaml.safe_load(yaml.serialize(node))
        steps.append(step_of(item, f"{path}:{node.start_mark.line + 1}"))
    return steps
