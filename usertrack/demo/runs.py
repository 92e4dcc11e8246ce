"""Story: workflow runs (fastapi_run), the platform incident, failures, credits, subscriptions.

Runs per persona; on the incident day (anchor - 9 days, 10:00-22:00 UTC) 45 % of the runners then
active run 1-3 extra workflows and 85 % of the runs there fail with infrastructure errors. Each
failed run gets an error of its category (`product.ERRORS`); the failing persona mostly one
dominant category. Credits start at 100 and each run costs 1-6 times the user's workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from usertrack.demo.personas import BASE_FAILURE, FAILING, HEAVY, LIGHT, NONE, REGULAR
from usertrack.demo.product import C_INFRA, CATEGORIES, ERRORS
from usertrack.demo.sampling import choose_by_group, normalized, pick_mask
from usertrack.demo.timeline import DAY, HOUR, INCIDENT_DAYS_BEFORE_ANCHOR, INCIDENT_HOURS, MIN, SEC

if TYPE_CHECKING:
    import numpy as np

    from usertrack.demo.accounts import Accounts


@dataclass
class Runs:
    """One row per run in time order (`run_*`, `state`, `in_incident`), and per account what
    the runs leave behind (`n_runs`, `credits`, `last_run`, `last_active`, `sub`)."""

    run_user: np.ndarray
    run_ts: np.ndarray
    n_runs: np.ndarray
    inc_lo: int
    inc_hi: int
    in_incident: np.ndarray
    state: np.ndarray
    credits: np.ndarray
    run_err: np.ndarray
    run_steps: np.ndarray
    last_run: np.ndarray
    last_active: np.ndarray
    sub: np.ndarray

    @property
    def n_run_rows(self) -> int:
        return len(self.run_user)


def run_workflows(
    rng: np.random.Generator, acc: Accounts, t_end: int, stories: dict[str, int]
) -> Runs:
    """Every run of every account, what became of it, and the accounts' state after them."""
    run_user, run_ts, inc_lo, inc_hi = _schedule(rng, acc, t_end, stories)
    in_incident = (run_ts >= inc_lo) & (run_ts < inc_hi)
    state, credits, run_err, run_steps = _outcomes(rng, acc, run_user, run_ts, in_incident, t_end)
    last_run, last_active, sub = _accounts_after(rng, acc, run_user, run_ts, t_end)
    n_runs = _runs_per_user(run_user, acc.n)
    return Runs(
        run_user, run_ts, n_runs, inc_lo, inc_hi, in_incident, state, credits, run_err,
        run_steps, last_run, last_active, sub,
    )  # fmt: skip


def _runs_per_user(run_user: np.ndarray, n: int) -> np.ndarray:
    import numpy as np

    return np.bincount(run_user, minlength=n)


def _schedule(
    rng: np.random.Generator, acc: Accounts, t_end: int, stories: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(run_user, run_ts) in time order, and the incident window [inc_lo, inc_hi)."""
    import numpy as np

    n, persona, internal = acc.n, acc.persona, acc.internal
    created, active_end = acc.created, acc.active_end
    n_runs = np.zeros(n, dtype=np.int64)
    n_runs[persona == LIGHT] = rng.integers(1, 6, size=int((persona == LIGHT).sum()))
    n_runs[persona == REGULAR] = rng.integers(6, 31, size=int((persona == REGULAR).sum()))
    heavy = persona == HEAVY
    n_runs[heavy] = 31 + np.minimum(rng.exponential(50.0, size=int(heavy.sum())), 350).astype(
        np.int64
    )
    n_runs[persona == FAILING] = rng.integers(6, 26, size=int((persona == FAILING).sum()))
    n_runs[internal] = rng.integers(20, 121, size=acc.n_int)

    run_user = np.repeat(np.arange(n), n_runs)
    span = active_end[run_user] - created[run_user] - 5 * MIN
    run_ts = created[run_user] + 5 * MIN + (rng.random(len(run_user)) * span).astype(np.int64)

    incident_day = t_end - INCIDENT_DAYS_BEFORE_ANCHOR * DAY
    inc_lo, inc_hi = (
        incident_day + INCIDENT_HOURS[0] * HOUR,
        incident_day + INCIDENT_HOURS[1] * HOUR,
    )
    # The incident: runners active that day run 1-3 extra workflows in the window.
    covers = (persona != NONE) & (created < inc_lo) & (active_end > inc_lo)
    extra_users = pick_mask(rng, covers, round(0.45 * covers.sum()))
    extra = np.where(extra_users, rng.integers(1, 4, size=n), 0)
    extra_user = np.repeat(np.arange(n), extra)
    extra_ts = inc_lo + (rng.random(len(extra_user)) * (inc_hi - inc_lo)).astype(np.int64)
    run_user = np.concatenate([run_user, extra_user])
    run_ts = np.concatenate([run_ts, extra_ts])
    o = np.lexsort((run_user, run_ts))
    stories["incident_extra_run_users"] = int(extra_users.sum())
    return run_user[o], run_ts[o], inc_lo, inc_hi


def _outcomes(
    rng: np.random.Generator,
    acc: Accounts,
    run_user: np.ndarray,
    run_ts: np.ndarray,
    in_incident: np.ndarray,
    t_end: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per run: (state, error, steps), and per account the credits left."""
    import numpy as np

    n, persona, n_run_rows = acc.n, acc.persona, len(run_user)
    p_fail = np.where(in_incident, 0.85, np.array(BASE_FAILURE)[persona[run_user]])
    failed = rng.random(n_run_rows) < p_fail
    cancelled = ~failed & (rng.random(n_run_rows) < 0.03)
    running = (run_ts >= t_end - 30 * MIN) & (rng.random(n_run_rows) < 0.7)
    # run_state codes: 0 completed, 1 failed, 2 running, 3 cancelled
    state = np.where(running, 2, np.where(failed, 1, np.where(cancelled, 3, 0))).astype(np.int8)

    # Credits: each account starts with 100; a run costs 1-6 credits times the user's workload
    # (some users run heavy workflows: a handful of their runs exhaust the free credits).
    workload = rng.lognormal(0.0, 0.6, size=n)
    cost = np.maximum(1, np.rint(rng.integers(1, 7, size=n_run_rows) * workload[run_user]))
    spent = np.bincount(run_user, weights=cost, minlength=n).astype(np.int64)
    credits = np.clip(100 - spent, 0, 100)

    # Failure category and error per failed run.
    err_cat = np.array([e[0] for e in ERRORS])
    cat_errors = [np.flatnonzero(err_cat == c) for c in range(len(CATEGORIES))]
    mixed = rng.choice(5, size=n_run_rows, p=normalized((30, 15, 10, 30, 15)))
    dominant = rng.choice(5, size=n, p=normalized((0, 20, 0, 50, 30)))
    run_cat = np.where(
        persona[run_user] == FAILING,
        np.where(rng.random(n_run_rows) < 0.8, dominant[run_user], mixed),
        mixed,
    )
    run_cat = np.where(in_incident, C_INFRA, run_cat)
    pick = rng.random(n_run_rows)
    run_err = np.full(n_run_rows, -1, dtype=np.int16)
    for c, errs in enumerate(cat_errors):
        rows = np.flatnonzero(state == 1)
        rows = rows[run_cat[rows] == c]
        run_err[rows] = errs[(pick[rows] * len(errs)).astype(np.int64)]
    # "Insufficient credits" is the platform bug: only for users who still have credits.
    insufficient = next(i for i, e in enumerate(ERRORS) if e[1] == "InsufficientCreditsError")
    modal = next(i for i, e in enumerate(ERRORS) if e[1] == "ConfigurationError")
    run_err = np.where((run_err == insufficient) & (credits[run_user] == 0), modal, run_err)
    run_steps = rng.integers(2, 7, size=n_run_rows)
    return state, credits, run_err, run_steps


def _accounts_after(
    rng: np.random.Generator, acc: Accounts, run_user: np.ndarray, run_ts: np.ndarray, t_end: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per account: (last run, last_active_timestamp, subscription status code)."""
    import numpy as np

    n, persona, created = acc.n, acc.persona, acc.created
    n_runs = _runs_per_user(run_user, n)
    # last_active_timestamp follows the last run; without runs, the end of the activity window.
    last_run = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_run, run_user, run_ts)
    last_active = np.where(
        n_runs > 0,
        np.minimum(last_run + rng.integers(1, 15, size=n) * MIN, t_end - SEC),
        np.where(acc.has_events, acc.active_end, created + rng.integers(1, 30, size=n) * MIN),
    )

    # Subscription status by persona (and recency of signup).
    recent = created > t_end - 14 * DAY
    sub_group = np.where(recent, 6, persona)
    sub_table = np.array(
        [  # NULL, trialing, active, canceled, past_due
            (95, 0, 0, 5, 0),  # none
            (78, 0, 10, 10, 2),  # light
            (33, 0, 45, 15, 7),  # regular
            (25, 0, 60, 8, 7),  # heavy
            (35, 0, 25, 30, 10),  # failing
            (0, 0, 100, 0, 0),  # internal
            (35, 55, 10, 0, 0),  # signed up in the last 14 days
        ],
        dtype=float,
    )
    sub = choose_by_group(rng, sub_table, sub_group)
    sub = np.where(acc.internal, 2, sub)
    return last_run, last_active, sub
