"""Story: who visits and when: PostHog persons and their sessions.

Account holders with events visit over their activity window (the first session at signup),
PostHog-only and anonymous visitors over the last 90 days. Landing sessions: 70 % of account
holders browsed anonymously before signing up; 15 % also use a second device (Jane Doe has all
three distinct_ids). Two stories add sessions of their own: frustrated users come back in the last
7 days (rage clicks, exceptions), and high-intent users who never ran anything clicked MCP
"connect" in the last 30.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from usertrack.demo.personas import FAILING, G_ANON, G_LANDING, G_PH, G_STORY, SESSIONS
from usertrack.demo.sampling import child_offsets, normalized, pick_mask
from usertrack.demo.timeline import DAY, HOUR, MIN, SEC
from usertrack.demo.vocabulary import REFERRERS

if TYPE_CHECKING:
    import numpy as np

    from usertrack.demo.accounts import Accounts


@dataclass
class Visits:
    """Per person (accounts, then PostHog-only, then anonymous): `p_start`, `ns` regular sessions
    from `s_first`; per session (regular, landing, frustrated, high-intent): person, group,
    distinct_id slot, start, duration, referrer. `f_sess` and `h_sess` are the story sessions."""

    n_anon: int
    p_start: np.ndarray
    ns: np.ndarray
    s_first: np.ndarray
    s_person: np.ndarray
    s_group: np.ndarray
    s_slot: np.ndarray
    s_start: np.ndarray
    s_dur: np.ndarray
    s_ref: np.ndarray
    f_sess: np.ndarray
    h_sess: np.ndarray


@dataclass
class _Regular:
    p_start: np.ndarray
    ns: np.ndarray
    s_first: np.ndarray
    s_person: np.ndarray
    s_group: np.ndarray
    s_slot: np.ndarray
    s_start: np.ndarray
    s_dur: np.ndarray
    multi_device: np.ndarray


def visit(
    rng: np.random.Generator,
    acc: Accounts,
    n_runs: np.ndarray,
    n_ph: int,
    t_end: int,
    stories: dict[str, int],
) -> Visits:
    import numpy as np

    n_anon = max(5, round(0.40 * acc.n))
    reg = _regular_sessions(rng, acc, n_ph, n_anon, t_end)
    l_person, l_start = _landing(rng, acc, reg.multi_device, stories)
    f_person, f_start = _frustrated(rng, acc, t_end, stories)
    h_person, h_start = _high_intent(rng, acc, n_runs, n_ph, reg.p_start, t_end, stories)

    # All sessions: regular, landing, frustrated, high-intent.
    n_reg, n_l, n_f, n_h = len(reg.s_person), len(l_person), len(f_person), len(h_person)
    s_person = np.concatenate([reg.s_person, l_person, f_person, h_person])
    s_start = np.concatenate([reg.s_start, l_start, f_start, h_start])
    s_group = np.concatenate(
        [reg.s_group, np.full(n_l, G_LANDING, np.int16), np.full(n_f + n_h, G_STORY, np.int16)]
    )
    s_slot = np.concatenate([reg.s_slot, np.ones(n_l, np.int8), np.zeros(n_f + n_h, np.int8)])
    s_dur = np.concatenate(
        [
            reg.s_dur,
            rng.integers(2 * MIN, 12 * MIN, size=n_l),
            rng.integers(8 * MIN, 30 * MIN, size=n_f + n_h),
        ]
    )
    s_dur = np.maximum(np.minimum(s_dur, t_end - MIN - s_start), MIN)
    s_start = s_start // SEC * SEC
    n_sess = len(s_person)
    f_sess = np.arange(n_reg + n_l, n_reg + n_l + n_f)
    h_sess = np.arange(n_reg + n_l + n_f, n_sess)
    s_ref = rng.choice(len(REFERRERS), size=n_sess, p=normalized([r[1] for r in REFERRERS]))
    s_ref = np.where(
        (s_group == G_LANDING) | (s_group >= G_PH) | (rng.random(n_sess) < 0.25), s_ref, 0
    )
    return Visits(
        n_anon, reg.p_start, reg.ns, reg.s_first, s_person, s_group, s_slot, s_start, s_dur,
        s_ref, f_sess, h_sess,
    )  # fmt: skip


def _regular_sessions(
    rng: np.random.Generator, acc: Accounts, n_ph: int, n_anon: int, t_end: int
) -> _Regular:
    """Every person's own sessions, the first of an account holder's at signup."""
    import numpy as np

    n, created, has_events, jane = acc.n, acc.created, acc.has_events, acc.jane
    n_person = n + n_ph + n_anon
    p_group = np.concatenate(
        [
            acc.persona.astype(np.int16),
            np.full(n_ph, G_PH, np.int16),
            np.full(n_anon, G_ANON, np.int16),
        ]
    )
    p_start = np.concatenate(
        [created, t_end - (rng.random(n_ph + n_anon) * 90 * DAY).astype(np.int64) - HOUR]
    )
    p_life = np.concatenate(
        [
            acc.active_end - created,
            (rng.exponential(7.0, size=n_ph) * DAY).astype(np.int64),
            (rng.exponential(2.0, size=n_anon) * DAY).astype(np.int64),
        ]
    )
    p_end = np.maximum(np.minimum(p_start + p_life, t_end - 45 * MIN), p_start + 10 * MIN)
    p_end = np.maximum(p_end, p_start)

    lam = np.array([s[0] for s in SESSIONS] + [1.5, 0.5])
    mins = np.array([s[1] for s in SESSIONS] + [1, 1])
    ns = mins[p_group] + rng.poisson(lam[p_group])
    ns[:n] = np.where(has_events, ns[:n], 0)
    multi_device = np.zeros(n_person, dtype=bool)
    multi_device[:n] = pick_mask(rng, has_events & ~acc.internal, round(0.15 * n))
    multi_device[jane] = True
    ns[jane] = max(int(ns[jane]), 6)
    s_first, k = child_offsets(ns)
    s_person = np.repeat(np.arange(n_person), ns)
    s_start = np.where(
        k == 0,
        p_start[s_person],
        p_start[s_person]
        + (rng.random(len(s_person)) * (p_end - p_start)[s_person]).astype(np.int64),
    )
    s_group = p_group[s_person].copy()
    s_signup = (k == 0) & (s_person < n)
    # distinct_id slot: 0 identified, 1 anonymous (pre-identify), 2 second device.
    s_slot = np.zeros(len(s_person), dtype=np.int8)
    second = multi_device[s_person] & (k > 0) & (rng.random(len(s_person)) < 0.35)
    second[s_first[jane] + 1] = True
    s_slot[second] = 2
    is_ph = (s_person >= n) & (s_person < n + n_ph)
    s_slot[is_ph & (k == 0) & (rng.random(len(s_person)) < 0.5)] = 1
    s_slot[s_person >= n + n_ph] = 1
    s_dur = rng.integers(5 * MIN, 40 * MIN, size=len(s_person))
    s_dur = np.where(s_signup, rng.integers(22 * MIN, 45 * MIN, size=len(s_person)), s_dur)
    return _Regular(p_start, ns, s_first, s_person, s_group, s_slot, s_start, s_dur, multi_device)


def _landing(
    rng: np.random.Generator, acc: Accounts, multi_device: np.ndarray, stories: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Landing sessions: 70 % of account holders browsed anonymously before signing up."""
    import numpy as np

    has_events = acc.has_events
    landing = pick_mask(rng, has_events, round(0.7 * has_events.sum()))
    landing[acc.jane] = True
    l_person = np.flatnonzero(landing)
    l_start = acc.created[l_person] - rng.integers(10 * MIN, 4 * DAY, size=len(l_person))
    stories["multi_distinct_id_persons"] = int((landing | multi_device[: acc.n]).sum())
    return l_person, l_start


def _frustrated(
    rng: np.random.Generator, acc: Accounts, t_end: int, stories: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Frustrated users come back in the last 7 days and hit rage clicks / exceptions."""
    import numpy as np

    persona = acc.persona
    frus_cand = acc.has_events & ~acc.internal
    frustrated = pick_mask(
        rng, frus_cand & (persona == FAILING), round(0.6 * (frus_cand & (persona == FAILING)).sum())
    )
    frustrated |= pick_mask(rng, frus_cand & (persona != FAILING), max(3, round(0.04 * acc.n)))
    f_person = np.flatnonzero(frustrated)
    f_start = t_end - (rng.uniform(0.02, 0.97, size=len(f_person)) * 7 * DAY).astype(np.int64)
    f_start = np.maximum(f_start, acc.created[f_person] + 10 * MIN)
    stories["frustrated_story"] = len(f_person)
    return f_person, f_start


def _high_intent(
    rng: np.random.Generator,
    acc: Accounts,
    n_runs: np.ndarray,
    n_ph: int,
    p_start: np.ndarray,
    t_end: int,
    stories: dict[str, int],
) -> tuple[np.ndarray, np.ndarray]:
    """High intent: never ran anything (credits 100) yet clicked MCP connect recently."""
    import numpy as np

    n, created = acc.n, acc.created
    hi_cand = acc.has_events & (n_runs == 0) & (created > t_end - 60 * DAY)
    high_intent = pick_mask(rng, hi_cand, max(3, round(0.33 * hi_cand.sum())))
    ph_clickers = rng.random(n_ph) < 0.2
    h_person = np.concatenate([np.flatnonzero(high_intent), n + np.flatnonzero(ph_clickers)])
    h_lo = np.maximum(np.concatenate([created, p_start[n : n + n_ph]])[h_person], t_end - 29 * DAY)
    h_lo = h_lo + 10 * MIN
    h_start = h_lo + (rng.random(len(h_person)) * (t_end - HOUR - h_lo)).astype(np.int64)
    stories["high_intent_story"] = int(high_intent.sum())
    stories["posthog_only_mcp_clickers"] = int(ph_clickers.sum())
    return h_person, h_start
