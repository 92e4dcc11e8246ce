"""A funnel's steps written as YAML (`funnel --steps-file FILE`, a dashboard panel's `steps:`):
each step an event name, `EVENT:PROPERTY=VALUE`, or a mapping `{event: EVENT, where: {PROPERTY:
VALUE}, name: LABEL, math: first_time_for_user}` (PostHog's funnel step math, the command line's
`first:` and `first-matching:` prefixes), turned into the steps the command line takes
(usertrack.analytics.funnel.step_syntax.split_step reads them back) and, in a steps file, their
labels: shown wherever the step is, the event kept beside it in JSON. A bad step is one line
naming its file and line (exit 2)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from usertrack.analytics.funnel.step_syntax import PREFIXES, split_step, step_math
from usertrack.core.errors import UsageError

STEP_KEYS = ("event", "where", "name", "math")


def step_of(item: Any, where: str) -> str:
    """One step as the command line writes it; `where` says where it was read ('FILE:LINE')."""
    if isinstance(item, str) and item.strip():
        return item.strip()
    if not isinstance(item, Mapping):
        raise UsageError(
            f"{where}: a step is an event name or a mapping with event (and where), not {item!r}"
        )
    for key in item:
        if key not in STEP_KEYS:
            raise UsageError(
                f"{where}: unknown key {key!r} in a step (a step has event, where, name and math)"
            )
    event = item.get("event")
    if not isinstance(event, str) or not event.strip():
        raise UsageError(f"{where}: a step needs `event: NAME`")
    event = event.strip()
    math = item.get("math")
    prefix = ""
    if math is not None:
        if math not in PREFIXES:
            raise UsageError(
                f"{where}: `math` is {' or '.join(PREFIXES)} (PostHog's funnel step math),"
                f" not {math!r}"
            )
        prefix = PREFIXES[math]
    if step_math(event)[0] is not None:
        raise UsageError(f"{where}: an event named {event!r} reads as a first-time step")
    narrowed = item.get("where")
    if narrowed is None:
        return prefix + event
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
    text = f"{prefix}{event}:{prop.strip()}={value}"
    if split_step(text) != (event, prop.strip(), str(value).strip()):
        raise UsageError(f"{where}: {event!r} with {prop!r} cannot be told apart as a step")
    return text


def step_label(item: Any, where: str) -> str | None:
    """A step's `name:` (None without one): text of its own line, not empty."""
    if not isinstance(item, Mapping) or "name" not in item:
        return None
    name = item["name"]
    if not isinstance(name, str):
        raise UsageError(f"{where}: a step's name is a text, not {name!r} (quote it)")
    return checked_label(name, where)


def checked_label(name: str, where: str) -> str:
    import unicodedata

    if not name.strip():
        raise UsageError(f"{where}: a step's name is empty (leave it out to show its event)")
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
        raise UsageError(f"{where}: a step's name holds a control character or a line break")
    return name.strip()


def named_steps(given: Any, labels: list[str | None]) -> list[str | None]:
    """`labels` (a steps file's, or None each) with `--step-name N=LABEL`'s (`given`)."""
    labels = list(labels)
    for text in given or ():
        number, _, name = str(text).partition("=")
        where = f"--step-name {text!r}"
        if not _ or not number.strip().isdigit() or not 1 <= int(number) <= len(labels):
            raise UsageError(f"{where}: give N=LABEL, N a step number 1-{len(labels)}")
        index = int(number) - 1
        if labels[index] is not None:
            raise UsageError(f"{where}: step {index + 1} is named already")
        labels[index] = checked_label(name, where)
    named = [label for label in labels if label is not None]
    twice = sorted({label for label in named if named.count(label) > 1})
    if twice:
        raise UsageError(f"--step-name: two steps are named {twice[0]!r}: each name is its own")
    return labels


def load_steps_file(path: Path) -> tuple[list[str], list[str | None]]:
    """The steps of a YAML file holding a list of them (see the module), and each one's label
    (None: its event is shown). Two steps of one label are refused: the label names a step."""
    import yaml

    from usertrack.core.rulefiles import compose_with_marks

    root = compose_with_marks(path, "--steps-file: ")
    if not isinstance(root, yaml.SequenceNode) or not root.value:
        line = root.start_mark.line + 1 if root is not None else 1
        raise UsageError(f"{path}:{line}: a steps file is a list of at least one step")
    steps: list[str] = []
    labels: list[str | None] = []
    for node in root.value:
        item = yaml.safe_load(yaml.serialize(node))
        where = f"{path}:{node.start_mark.line + 1}"
        steps.append(step_of(item, where))
        label = step_label(item, where)
        if label is not None and label in labels:
            raise UsageError(
                f"{where}: step {len(steps)} has the name {label!r} of step"
                f" {labels.index(label) + 1}: each step's name is its own"
            )
        labels.append(label)
    return steps, labels


def labelled(result: Any, labels: list[str | None]) -> Any:
    """`result` (a funnel, or its droppers) with the steps' labels, in place; returned."""
    from usertrack.analytics.funnel.run import Dropped, Funnel

    if not any(label is not None for label in labels):
        return result
    if isinstance(result, Dropped):
        result.names = (labels[result.step - 1], labels[result.step - 2])
        return result
    if isinstance(result, Funnel):
        lists = [result.steps, *(steps for _, steps in result.breakdown)]
        if result.previous is not None:
            lists.append(result.previous.steps)
        for steps in lists:
            for step, label in zip(steps, labels, strict=True):
                step.name = label
    return result
