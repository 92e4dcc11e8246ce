"""A funnel's steps as the command line writes them (`EVENT`, `EVENT:PROPERTY=VALUE`, either
after `first:` or `first-matching:`), read and checked; a steps file
(usertrack.analytics.funnel.steps) is turned into the same texts."""

from __future__ import annotations

from usertrack.core.errors import UsageError

# A funnel's cost grows with its steps faster than linearly (300 steps: 1.3 GB, 1,200: 17 GB
# and two minutes): PostHog's own funnels take at most 20 steps.
MAX_STEPS = 20

# A step's math (PostHog's FunnelMathType) by its prefix on the command line: `first:EVENT`
# counts only the person's first EVENT ever (first_time_for_user), and
# `first-matching:EVENT:PROPERTY=VALUE` their first EVENT ever with that value
# (first_time_for_user_with_filters); a steps file names them by PostHog's names (`math:`).
FIRST_TIME = "first_time_for_user"
FIRST_MATCHING = "first_time_for_user_with_filters"
PREFIXES = {FIRST_TIME: "first:", FIRST_MATCHING: "first-matching:"}


def step_math(text: str) -> tuple[str | None, str]:
    """A step's math (FIRST_TIME, FIRST_MATCHING or None) and its text without the prefix."""
    for math, prefix in PREFIXES.items():
        if text.startswith(prefix):
            return math, text[len(prefix) :]
    return None, text


def check_steps(steps: list[str]) -> list[str]:
    cleaned = [s.strip() for s in steps]
    if any(not split_step(s)[0].strip() for s in cleaned):
        raise UsageError("STEP: an empty event name")
    if len(cleaned) < 2:
        raise UsageError("a funnel needs at least two steps (STEP ...)")
    if len(cleaned) > MAX_STEPS:
        raise UsageError(f"a funnel takes at most {MAX_STEPS} steps, not {len(cleaned)} (STEP ...)")
    narrowing_property(cleaned)
    return cleaned


def narrowing_property(steps: list[str]) -> str | None:
    """The property the steps narrowed by a value name (one for the whole funnel: the facts
    carry one property's value per event), or None; two different ones are a UsageError."""
    props = {p for _, p, _ in (split_step(s) for s in steps) if p is not None}
    if len(props) > 1:
        raise UsageError(
            f"steps narrowed by {', '.join(sorted(props))}: one property per funnel"
            " (EVENT:PROPERTY=VALUE)"
        )
    return next(iter(props), None)


def split_step(text: str) -> tuple[str, str | None, str | None]:
    """A step as (event, property, value): `EVENT`, or `EVENT:PROPERTY=VALUE` (a step narrowed
    to the events whose PROPERTY is VALUE, e.g. `$pageview:$pathname=/pricing`); a `first:` or
    `first-matching:` prefix (step_math) is left out."""
    text = step_math(text)[1]
    head, eq, value = text.partition("=")
    event, colon, prop = head.rpartition(":")
    if not eq or not colon or not event.strip() or not prop.strip():
        return text, None, None
    return event.strip(), prop.strip(), value.strip()
