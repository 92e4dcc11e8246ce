"""Story: who signs up and when (wasp_user): the team at launch, personas, activity windows.

Signups spread over the 90 days before the anchor, denser lately (growth). Each account gets a
persona and an exponential lifetime per persona; 8 % of outside accounts block PostHog (no events).
Jane Doe is a regular user with events who signed up about 40 days ago.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from usertrack.demo.personas import (
    FAILING,
    HEAVY,
    INTERNAL,
    LIFETIME_DAYS,
    LIGHT,
    PERSONA_SHARES,
    REGULAR,
)
from usertrack.demo.sampling import pick_mask
from usertrack.demo.timeline import DAY, HOUR, MIN, SEC
from usertrack.demo.vocabulary import INTERNAL_NAMES

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Accounts:
    """One row per account, in signup order (the first `n_int` drawn are the team)."""

    n: int
    n_int: int
    created: np.ndarray
    internal: np.ndarray
    wasp_id: np.ndarray
    persona: np.ndarray
    active_end: np.ndarray
    has_events: np.ndarray
    jane: int


def sign_up(rng: np.random.Generator, n: int, t_end: int) -> Accounts:
    import numpy as np

    n_int = int(min(len(INTERNAL_NAMES), max(5, n // 250)))
    n_ext = n - n_int
    # Signups over 90 days, denser recently (growth): exponential density with a 120-day scale.
    u = rng.random(n)
    days_ago = -120.0 * np.log(1.0 - u * (1.0 - np.exp(-90.0 / 120.0)))
    days_ago[:n_int] = 80.0 + 10.0 * rng.random(n_int)  # the team signed up at launch
    created = t_end - (days_ago * DAY).astype(np.int64)
    created = np.minimum(created, t_end - 2 * HOUR) // SEC * SEC
    order = np.argsort(created, kind="stable")
    created = created[order]
    internal = (np.arange(n) < n_int)[order]
    wasp_id = np.arange(1, n + 1, dtype=np.int64)

    persona = np.full(n, INTERNAL, dtype=np.int8)
    ext = np.flatnonzero(~internal)
    counts = np.floor(np.array(PERSONA_SHARES) * n_ext).astype(np.int64)
    counts[LIGHT] += n_ext - counts.sum()
    persona[ext[rng.permutation(n_ext)]] = np.repeat(np.arange(5, dtype=np.int8), counts)

    # Activity window: [created, active_end), exponential lifetime per persona.
    life = rng.exponential(1.0, size=n) * np.array(LIFETIME_DAYS)[persona] * DAY
    life = np.where(persona == HEAVY, life + 10 * DAY, life)
    life = np.where(persona == FAILING, life + 5 * DAY, life)
    active_end = np.minimum(created + np.minimum(life, 400 * DAY).astype(np.int64), t_end - 5 * MIN)
    active_end = np.maximum(active_end, created + HOUR)

    has_events = pick_mask(rng, ~internal, round(0.92 * n_ext)) | internal  # 8 %: ad blockers

    # Jane Doe: a regular user with events who signed up about 40 days ago, on three distinct_ids.
    cand = (persona == REGULAR) & has_events
    jane = int(np.flatnonzero(cand)[np.argmin(np.abs(created[cand] - (t_end - 40 * DAY)))])
    return Accounts(n, n_int, created, internal, wasp_id, persona, active_end, has_events, jane)
