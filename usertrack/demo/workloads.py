"""Story: what the accounts' runs do (the fastapi_* tables besides the runs).

fastapi_user rows for every runner and 15 % of the others; custom-tool deployments for a quarter
of the users with 3+ runs; 1-8 tool calls per run, failing with their run or alone (about 3 % of
tool calls fail inside runs that complete: "tool success is not workflow success"); code
executions (about 0.4 per run, failing during the incident); agent executions for 60 % of runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from usertrack.demo.product import (
    AGENT_PROMPTS,
    C_INFRA,
    C_MISSING,
    C_PLATFORM,
    C_THIRD,
    C_USER,
    CATEGORIES,
    CODE_SCRIPTS,
    CUSTOM_TOOLS,
    DEFAULT_TOOLS,
    ERRORS,
    FASTAPI_ID_OFFSET,
    TOOLS,
    T,
)
from usertrack.demo.sampling import child_offsets, normalized, pick_mask
from usertrack.demo.timeline import MIN, SEC, as_timestamps

if TYPE_CHECKING:
    import numpy as np

    from usertrack.demo.accounts import Accounts
    from usertrack.demo.runs import Runs


@dataclass
class Work:
    """The frames of the fastapi_* tables but the runs (`fu`, `dep`, `tool`, `code`), the agent
    executions' draws (`agent`, without the run state it copies), and the fastapi ids."""

    fastapi_id: np.ndarray
    frames: dict[str, dict[str, np.ndarray]]
    agent_rows: np.ndarray
    agent: dict[str, np.ndarray]


def do_work(rng: np.random.Generator, acc: Accounts, runs: Runs, t_end: int) -> Work:
    import numpy as np

    n_runs, created, wasp_id = runs.n_runs, acc.created, acc.wasp_id
    fu_has = (n_runs > 0) | pick_mask(rng, n_runs == 0, round(0.15 * (n_runs == 0).sum()))
    fu_idx = np.flatnonzero(fu_has)
    fastapi_id = FASTAPI_ID_OFFSET + wasp_id
    fu = {
        "id": fastapi_id[fu_idx].astype(np.int32),
        "wasp_user_id": wasp_id[fu_idx].astype(np.int32),
        "created": as_timestamps(
            np.where(
                n_runs[fu_idx] > 0,
                np.minimum(created[fu_idx] + 2 * MIN, t_end - SEC),
                created[fu_idx] + MIN,
            )
        ),
    }
    dep_users, dep = _deployments(rng, acc, n_runs, fastapi_id)
    tool = tool_executions(
        rng, t_end, runs.run_user, runs.run_ts, runs.run_err, runs.in_incident, runs.credits,
        dep_users, fastapi_id,
    )  # fmt: skip
    code = _code_executions(rng, acc, runs, fastapi_id)
    ag, agent = _agent_executions(rng, acc, runs)
    return Work(fastapi_id, {"fu": fu, "tool": tool, "code": code, "dep": dep}, ag, agent)


def _deployments(
    rng: np.random.Generator, acc: Accounts, n_runs: np.ndarray, fastapi_id: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Deployments (custom tools): a quarter of the users with 3+ runs."""
    import numpy as np

    n, created, active_end = acc.n, acc.created, acc.active_end
    dep_users = pick_mask(rng, n_runs >= 3, round(0.25 * (n_runs >= 3).sum()))
    dep_n = np.where(dep_users, 1 + np.minimum(rng.poisson(0.7, size=n), 4), 0)
    dep_user = np.repeat(np.arange(n), dep_n)
    _, dep_pos = child_offsets(dep_n)
    dep_tool_start = rng.integers(0, len(CUSTOM_TOOLS), size=n)
    dep_tool = np.array(CUSTOM_TOOLS)[(dep_tool_start[dep_user] + dep_pos) % len(CUSTOM_TOOLS)]
    dep_ts = (
        created[dep_user]
        + 10 * MIN
        + (rng.random(len(dep_user)) * (active_end - created - 10 * MIN)[dep_user]).astype(np.int64)
    )
    o = np.lexsort((dep_user, dep_ts))
    dep_user, dep_tool, dep_ts = dep_user[o], dep_tool[o], dep_ts[o]
    dep_variant = rng.integers(0, 3, size=len(dep_user))
    return dep_users, {
        "id": np.arange(1, len(dep_user) + 1, dtype=np.int64),
        "user_id": fastapi_id[dep_user].astype(np.int32),
        "tool": dep_tool.astype(np.int16),
        "variant": dep_variant.astype(np.int8),
        "created": as_timestamps(dep_ts),
    }


def _code_executions(
    rng: np.random.Generator, acc: Accounts, runs: Runs, fastapi_id: np.ndarray
) -> dict[str, np.ndarray]:
    """Code executions: about 0.4 per run, in the user's activity window."""
    import numpy as np

    n, created, active_end = acc.n, acc.created, acc.active_end
    code_n = np.minimum(rng.poisson(0.4 * runs.n_runs), 300)
    code_user = np.repeat(np.arange(n), code_n)
    code_ts = (
        created[code_user]
        + 5 * MIN
        + (rng.random(len(code_user)) * (active_end - created - 5 * MIN)[code_user]).astype(
            np.int64
        )
    )
    code_incident = (code_ts >= runs.inc_lo) & (code_ts < runs.inc_hi)
    code_status = rng.choice(3, size=len(code_user), p=[0.88, 0.09, 0.03])
    code_status = np.where(code_incident & (rng.random(len(code_user)) < 0.8), 1, code_status)
    code_script = rng.integers(0, len(CODE_SCRIPTS), size=len(code_user))
    code_ms = (1500.0 * rng.lognormal(0.0, 0.8, size=len(code_user))).astype(np.int64)
    code_ms = np.where(code_status == 2, 300_000, code_ms)
    o = np.lexsort((code_user, code_ts))
    code_user, code_ts, code_status, code_script, code_ms = (
        a[o] for a in (code_user, code_ts, code_status, code_script, code_ms)
    )
    return {
        "id": np.arange(1, len(code_user) + 1, dtype=np.int64),
        "user_id": fastapi_id[code_user].astype(np.int32),
        "script": code_script.astype(np.int16),
        "status": code_status.astype(np.int8),
        "ms": code_ms.astype(np.int32),
        "created": as_timestamps(code_ts),
    }


def _agent_executions(
    rng: np.random.Generator, acc: Accounts, runs: Runs
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Agent executions: 60 % of runs are started from an agent. The rows (run indexes) and
    their own columns; the state is the run's, copied when the frames are assembled."""
    import numpy as np

    ag = np.flatnonzero(rng.random(runs.n_run_rows) < 0.6)
    ag_user = runs.run_user[ag]
    ag_agent = acc.wasp_id[ag_user] * 10 + rng.integers(0, 3, size=len(ag))
    ag_prompt = rng.integers(0, len(AGENT_PROMPTS), size=len(ag))
    ag_ms = (45_000.0 * rng.lognormal(0.0, 0.7, size=len(ag))).astype(np.int64)
    ag_ms = np.minimum(
        np.where(runs.run_err[ag] >= 0, np.minimum(ag_ms, 60_000), ag_ms), 15 * 60_000
    )
    return ag, {
        "agent_id": ag_agent.astype(np.int32),
        "user_id": acc.wasp_id[ag_user].astype(np.int32),
        "prompt": ag_prompt.astype(np.int16),
        "ms": ag_ms.astype(np.int32),
    }


def tool_executions(
    rng: np.random.Generator,
    t_end: int,
    run_user: np.ndarray,
    run_ts: np.ndarray,
    run_err: np.ndarray,
    in_incident: np.ndarray,
    credits: np.ndarray,
    dep_users: np.ndarray,
    fastapi_id: np.ndarray,
) -> dict[str, np.ndarray]:
    """The tool-execution frame: 1-8 calls per run, the run's error on its last call."""
    import numpy as np

    n_run_rows = len(run_user)
    err_cat = np.array([e[0] for e in ERRORS])
    cat_errors = [np.flatnonzero(err_cat == c) for c in range(len(CATEGORIES))]
    insufficient = next(i for i, e in enumerate(ERRORS) if e[1] == "InsufficientCreditsError")
    modal = next(i for i, e in enumerate(ERRORS) if e[1] == "ConfigurationError")
    tool_k = np.minimum(1 + rng.poisson(1.8, size=n_run_rows), 8)
    tool_run = np.repeat(np.arange(n_run_rows), tool_k)
    _, tool_pos = child_offsets(tool_k)
    n_tool = len(tool_run)
    tool_user = run_user[tool_run].astype(np.int32)
    tool = rng.choice(len(TOOLS), size=n_tool, p=normalized([t[3] for t in TOOLS])).astype(np.int16)
    no_custom = np.isin(tool, CUSTOM_TOOLS) & ~dep_users[tool_user]
    tool = np.where(
        no_custom, np.array(DEFAULT_TOOLS, dtype=np.int16)[tool % len(DEFAULT_TOOLS)], tool
    )
    tool_ts = run_ts[tool_run] + tool_pos * 8 * SEC + rng.integers(0, 6 * SEC, size=n_tool)
    tool_ts = np.minimum(tool_ts, t_end - SEC)
    tool_err = np.full(n_tool, -1, dtype=np.int16)
    last_tool = tool_pos == tool_k[tool_run] - 1
    run_err_t = run_err[tool_run]
    visible = (
        (run_err_t >= 0) & last_tool & ((err_cat[run_err_t] != C_INFRA) | in_incident[tool_run])
    )
    tool_err[visible] = run_err_t[visible]
    del tool_pos, last_tool, run_err_t, visible, no_custom
    # Some tool calls fail inside runs that still complete (the agent recovered).
    stray = (tool_err < 0) & (rng.random(n_tool) < 0.03)
    stray_err = np.concatenate([cat_errors[c] for c in (C_PLATFORM, C_MISSING, C_USER, C_THIRD)])
    tool_err[stray] = stray_err[rng.integers(0, len(stray_err), size=int(stray.sum()))]
    tool_err = np.where(
        (tool_err == insufficient) & (credits[tool_user] == 0), modal, tool_err
    ).astype(np.int16)
    # A failing call happens on a tool the error can hit (HubSpot errors on HubSpot tools, ...).
    err_tools = [np.array([T[name] for name in e[3]]) for e in ERRORS]
    width = max(len(t) for t in err_tools)
    allowed = np.array([np.resize(t, width) for t in err_tools])
    allowed_n = np.array([len(t) for t in err_tools])
    bad = tool_err >= 0
    be = tool_err[bad].astype(np.int64)
    tool[bad] = allowed[be, rng.integers(0, 1 << 20, size=int(bad.sum())) % allowed_n[be]]
    tool_type = np.array([t[1] for t in TOOLS])  # per tool code: indexed below, never per call
    base_ms = np.select([tool_type == "mcp", tool_type == "default"], [700.0, 1800.0], 3200.0)
    tool_ms = (base_ms[tool] * rng.lognormal(0.0, 0.6, size=n_tool)).astype(np.int64)
    # Per error code, looked up per call (an array of error-type strings per call: 280 MB).
    is_timeout = np.array([e[1] == "TimeoutError" for e in ERRORS])
    is_oom = np.array([e[1] == "SandboxOOM" for e in ERRORS])
    timeout = bad & is_timeout[np.maximum(tool_err, 0)]
    tool_ms = np.where(timeout, 60_000 + rng.integers(0, 400, size=n_tool), tool_ms)
    oom = bad & is_oom[np.maximum(tool_err, 0)]
    tool_ms = np.where(oom, rng.integers(20_000, 120_000, size=n_tool), tool_ms)
    del bad, be, timeout, oom
    o = np.argsort(tool_ts, kind="stable")
    # In time order, one column at a time (the old one freed before the next is copied).
    tool_run = tool_run[o]
    tool_user = tool_user[o]
    tool = tool[o]
    tool_err = tool_err[o]
    tool_ms = tool_ms[o].astype(np.int32)
    tool_ts = tool_ts[o]
    del o

    return {
        "id": np.arange(1, n_tool + 1, dtype=np.int64),
        "user_id": fastapi_id[tool_user].astype(np.int32),
        "run_id": (tool_run + 1).astype(np.int64),
        "tool": tool,
        "err": tool_err,
        "ms": tool_ms,
        "created": as_timestamps(tool_ts),
    }
