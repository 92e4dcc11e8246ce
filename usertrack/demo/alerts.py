"""Story: what support alerts find at the anchor: errors, quiet trials, a failure spike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from usertrack.demo.events import append_events, event_extras
from usertrack.demo.personas import SUBSCRIPTIONS
from usertrack.demo.product import ERRORS
from usertrack.demo.sampling import uuid_halves
from usertrack.demo.timeline import DAY, HOUR, MIN, SEC, as_timestamps
from usertrack.demo.vocabulary import E, P

if TYPE_CHECKING:
    import numpy as np

# ------------------------------------------------------------------------------ support alerts
# New events only, from a generator of their own (see the module docstring): every other row,
# count, segment and report of the demo stays as it was.
ALERT_STORY = {"users_per_erroring_person": 1000, "exceptions": 4}


def alert_events(
    seed: int,
    t_end: int,
    n: int,
    internal: np.ndarray,
    sub: np.ndarray,
    s_person: np.ndarray,
    stories: dict[str, Any],
    events: list[np.ndarray],
) -> None:
    """Append the alert stories' events to the event columns (see ALERT_STORY)."""
    import numpy as np

    rng = np.random.default_rng([seed, 4])  # never the main generator: nothing else moves
    want = n // ALERT_STORY["users_per_erroring_person"]
    stories["alert_multiple_errors"] = 0
    stories["alert_quiet_trial"] = 0
    if want == 0:
        return
    quiet_trial_events(rng, want, t_end, n, internal, sub, s_person, stories, events)
    e_sess, e_type, e_ts, path, e_extra, _, _ = events
    person = s_person[e_sess]
    account = person < n
    external = account & ~internal[np.minimum(person, n - 1)]
    ux = np.isin(e_type, [E["$rageclick"], E["$exception"]]) & (e_ts > t_end - 7 * DAY)
    frustrated = np.unique(person[ux & external])
    # In session at the anchor: an event in the 30 minutes before it (no $pageleave is generated).
    rows = np.flatnonzero(external & (e_ts > t_end - 30 * MIN))
    rows = rows[np.isin(person[rows], frustrated)]
    if len(rows) == 0:
        return
    # Each candidate's latest event: its session and page carry the exceptions.
    latest: dict[int, int] = {}
    for row in rows[np.argsort(e_ts[rows], kind="stable")]:
        latest[int(person[row])] = int(row)
    chosen = sorted(latest)
    picked = rng.choice(len(chosen), size=min(want, len(chosen)), replace=False)
    base = np.array([latest[chosen[i]] for i in sorted(picked)], dtype=np.int64)
    count = ALERT_STORY["exceptions"]
    src = np.repeat(base, count)
    minutes = np.tile(np.arange(count, 0, -1), len(base))  # 4, 3, 2, 1 minutes before the anchor
    ts = t_end - minutes * MIN + rng.integers(0, 50 * SEC, size=len(src))
    ts = np.minimum(np.maximum(ts, e_ts[src] + SEC), t_end - 1)
    _, x_offset, x_count, _ = event_extras()
    variant = rng.integers(0, x_count[E["$exception"]], size=len(src))
    hi, lo = uuid_halves(rng, ts // 1000)
    stories["alert_multiple_errors"] = len(base)
    added = (
        e_sess[src],
        np.full(len(src), E["$exception"], dtype=e_type.dtype),
        ts.astype(e_ts.dtype),
        path[src],
        (x_offset[E["$exception"]] + variant).astype(e_extra.dtype),
        hi,
        lo,
    )
    del e_sess, e_type, e_ts, path, e_extra, person  # each column is freed as it is replaced
    append_events(events, added)


def spike_runs(
    seed: int,
    t_end: int,
    internal: np.ndarray,
    failing: np.ndarray,
    last_run: np.ndarray,
    run_user: np.ndarray,
    run_ts: np.ndarray,
    state: np.ndarray,
    stories: dict[str, Any],
) -> dict[str, np.ndarray]:
    """Failed runs on the anchor's last day that make it stand out (the failure_spike trigger).

    One account per 1,000 users, already failing and active in the last two days (so no segment
    changes), has a scheduled workflow stuck in a retry loop on the sandbox rate limit in the
    hours before the anchor. The count is the smallest that stands out against the previous 7
    days by the standout-day rule of `usertrack failures`, plus a quarter and 5, worked out from
    the runs themselves: whatever the anchor, the spike fires at it.
    """
    import numpy as np

    from usertrack.core.standout import standout_days

    rng = np.random.default_rng([seed, 5])  # never the main generator: nothing else moves
    want = len(failing) // ALERT_STORY["users_per_erroring_person"]
    none = np.zeros(0, dtype=np.int64)
    spike: dict[str, np.ndarray] = {
        "user": none, "ts": none, "err": none.astype(np.int16), "step": none, "steps": none
    }  # fmt: skip
    stories["alert_spike_accounts"] = 0
    stories["alert_spike_runs"] = 0
    candidates = np.flatnonzero(failing & (last_run > t_end - 2 * DAY))
    if want == 0 or len(candidates) == 0:
        return spike
    # The days of neon/failure_trend at as_of = anchor, excluded accounts left out: the window
    # (anchor - 8 days, anchor], each UTC day [start, start + 1 day).
    counted = ~internal[run_user] & (run_ts > t_end - 8 * DAY) & (run_ts < t_end)
    day = (run_ts[counted] - (t_end - 8 * DAY)) // DAY
    runs = np.bincount(day, minlength=8)
    runs_failed = np.bincount(day, weights=state[counted] == 1, minlength=8).astype(np.int64)
    # Bounded: with a median failure rate above 2/3 no count would stand out (not this demo's).
    for extra in range(10 * int(runs.sum()) + 10):
        trend = [
            {"runs": int(r) + extra * (d == 7), "runs_failed": int(f) + extra * (d == 7)}
            for d, (r, f) in enumerate(zip(runs, runs_failed, strict=True))
        ]
        standout_days(trend, keys=(("runs_failed", "runs"),))
        if trend[-1]["stands_out"]:
            break
    else:
        return spike
    extra += extra // 4 + 5
    picked = np.sort(rng.choice(candidates, size=min(want, len(candidates)), replace=False))
    shares = np.diff(np.linspace(0, extra, len(picked) + 1).astype(np.int64)).astype(np.int64)
    user = np.repeat(picked, shares)
    # A retry every few minutes over the 8 hours before the last half hour (none still running).
    ts = t_end - 30 * MIN - rng.integers(SEC, 8 * HOUR, size=extra)
    rate_limit = next(i for i, e in enumerate(ERRORS) if e[1] == "SandboxRateLimit")
    steps = rng.integers(2, 7, size=extra)
    stories["alert_spike_accounts"] = len(picked)
    stories["alert_spike_runs"] = extra
    return {
        "user": user,
        "ts": ts,
        "err": np.full(extra, rate_limit, dtype=np.int16),
        "step": np.minimum(rng.integers(1, 7, size=extra), steps),
        "steps": steps,
    }


def with_spike_runs(
    runs: dict[str, np.ndarray], spike: dict[str, np.ndarray], fastapi_id: np.ndarray
) -> dict[str, np.ndarray]:
    """The run frame with the spike's failed runs appended (ids after the last, see spike_runs)."""
    import numpy as np

    k = len(spike["user"])
    first = len(runs["id"]) + 1
    added = {
        "id": np.arange(first, first + k, dtype=np.int64),
        "user_id": fastapi_id[spike["user"]].astype(np.int32),
        "state": np.ones(k, dtype=np.int8),
        "created": as_timestamps(spike["ts"]),
        "err": spike["err"],
        "step": spike["step"].astype(np.int8),
        "steps": spike["steps"].astype(np.int8),
    }
    return {
        name: np.concatenate([col, added[name].astype(col.dtype)]) for name, col in runs.items()
    }


def quiet_trial_events(
    rng: np.random.Generator,
    want: int,
    t_end: int,
    n: int,
    internal: np.ndarray,
    sub: np.ndarray,
    s_person: np.ndarray,
    stories: dict[str, Any],
    events: list[np.ndarray],
) -> None:
    """Trial users active in the last day open a page 11-13 minutes before the anchor and do
    nothing since: in session, with no event in the last 10 minutes (low activity), on that page
    for more than 5 (stuck). A $pageview changes no segment."""
    import numpy as np

    e_sess, e_type, e_ts, path, e_extra, _, _ = events
    person = s_person[e_sess]
    account = person < n
    clipped = np.minimum(person, n - 1)
    trial = account & ~internal[clipped] & (sub[clipped] == SUBSCRIPTIONS.index("trialing"))
    rows = np.flatnonzero(trial & (e_ts > t_end - DAY) & (e_ts <= t_end - 30 * MIN))
    if len(rows) == 0:
        return
    latest: dict[int, int] = {}
    for row in rows[np.argsort(e_ts[rows], kind="stable")]:
        latest[int(person[row])] = int(row)
    # Not someone already active in the last 30 minutes (they would not be quiet).
    busy = set(np.unique(person[account & (e_ts > t_end - 30 * MIN)]).tolist())
    chosen = sorted(p for p in latest if p not in busy)
    if not chosen:
        return
    picked = rng.choice(len(chosen), size=min(want, len(chosen)), replace=False)
    src = np.array([latest[chosen[i]] for i in sorted(picked)], dtype=np.int64)
    ts = t_end - 13 * MIN + rng.integers(0, 2 * MIN, size=len(src))
    pages = rng.choice([P[p] for p in ("/billing", "/mcp/connect", "/agents/new")], size=len(src))
    _, x_offset, _, _ = event_extras()
    hi, lo = uuid_halves(rng, ts // 1000)
    stories["alert_quiet_trial"] = len(src)
    added = (
        e_sess[src],
        np.full(len(src), E["$pageview"], dtype=e_type.dtype),
        ts.astype(e_ts.dtype),
        pages.astype(path.dtype),
        np.full(len(src), x_offset[E["$pageview"]], dtype=e_extra.dtype),
        hi,
        lo,
    )
    del e_sess, e_type, e_ts, path, e_extra, person  # each column is freed as it is replaced
    append_events(events, added)
