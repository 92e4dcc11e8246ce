"""The stories' columns gathered into the frames `DemoData` holds, and the vocabularies they index.

Writers (`schema.table_sql`, `database.load_postgres`, the events store) read only these frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from usertrack.demo.events import event_extras, path_json
from usertrack.demo.personas import SUBSCRIPTIONS
from usertrack.demo.product import (
    AGENT_PROMPTS,
    AGENT_RESULTS,
    CATEGORIES,
    CODE_SCRIPTS,
    DEPLOYMENT_DESCRIPTIONS,
    ERRORS,
    TOOLS,
)
from usertrack.demo.sampling import object_array, uuid_halves, vocabulary_frame
from usertrack.demo.timeline import SEC, as_timestamps
from usertrack.demo.vocabulary import BROWSERS, COUNTRIES, EVENTS, OSES, PATHS, REFERRERS

if TYPE_CHECKING:
    import numpy as np

    from usertrack.demo.accounts import Accounts
    from usertrack.demo.identity import Identities
    from usertrack.demo.runs import Runs
    from usertrack.demo.sessions import Visits
    from usertrack.demo.workloads import Work

Frame = dict[str, "np.ndarray"]


def assemble(
    rng: np.random.Generator,
    acc: Accounts,
    runs: Runs,
    ids: Identities,
    visits: Visits,
    work: Work,
    persons: Frame,
    events: list[np.ndarray],
) -> dict[str, Frame]:
    """Every frame, in the order their last draws are made (a run's step, a session's id)."""
    import numpy as np

    n_run_rows, state, run_err = runs.n_run_rows, runs.state, runs.run_err
    e_sess, e_type, e_ts, path, e_extra, e_hi, e_lo = events
    ag = work.agent_rows
    n_sess = len(visits.s_person)
    frames: dict[str, Frame] = {
        "acc": {
            "id": acc.wasp_id.astype(np.int32),
            "email": ids.neon_email,
            "credits": runs.credits.astype(np.int32),
            "sub": runs.sub.astype(np.int8),
            "last_active": as_timestamps(runs.last_active // SEC * SEC),
            "created": as_timestamps(acc.created),
        },
        "fu": work.frames["fu"],
        "run": {
            "id": np.arange(1, n_run_rows + 1, dtype=np.int64),
            "user_id": work.fastapi_id[runs.run_user].astype(np.int32),
            "state": state,
            "created": as_timestamps(runs.run_ts),
            "err": run_err,
            "step": np.minimum(rng.integers(1, 7, size=n_run_rows), runs.run_steps).astype(np.int8),
            "steps": runs.run_steps.astype(np.int8),
        },
        "tool": work.frames["tool"],
        "code": work.frames["code"],
        "dep": work.frames["dep"],
        "agent": {
            "id": np.arange(1, len(ag) + 1, dtype=np.int64),
            "agent_id": work.agent["agent_id"],
            "user_id": work.agent["user_id"],
            "state": state[ag],
            "err": run_err[ag],
            "prompt": work.agent["prompt"],
            "ms": work.agent["ms"],
            "started": as_timestamps(runs.run_ts[ag]),
        },
        "pers": persons,
        "sess": {
            "sid": np.arange(n_sess, dtype=np.int32),
            "pid": visits.s_person.astype(np.int32),
            "slot": visits.s_slot,
            "ref": visits.s_ref.astype(np.int16),
            "hi": uuid_halves(rng, visits.s_start // 1000)[0],
            "lo": rng.integers(0, 1 << 62, size=n_sess, dtype=np.uint64) | np.uint64(1 << 63),
        },
        "ev": {
            "sid": e_sess.astype(np.int32, copy=False),
            "type": e_type.astype(np.int16, copy=False),
            "ts": as_timestamps(e_ts),
            "path": path.astype(np.int16, copy=False),
            "x": e_extra.astype(np.int32, copy=False),
            "hi": e_hi,
            "lo": e_lo,
        },
    }
    frames.update(vocabularies())
    return frames


def vocabularies() -> dict[str, Frame]:
    """The `v_*` frames: each vocabulary's words by code, and what the tables show beside them."""
    return {
        "v_sub": vocabulary_frame(SUBSCRIPTIONS),
        "v_event": vocabulary_frame(EVENTS),
        "v_path": {**vocabulary_frame(PATHS), "json": object_array(path_json(p) for p in PATHS)},
        "v_extra": vocabulary_frame(event_extras()[0]),
        "v_tool": {
            **vocabulary_frame(t[0] for t in TOOLS),
            "type": object_array(t[1] for t in TOOLS),
            "provider": object_array(t[2] for t in TOOLS),
            "description": object_array(DEPLOYMENT_DESCRIPTIONS.get(t[0]) for t in TOOLS),
        },
        "v_err": {
            **vocabulary_frame(e[2] for e in ERRORS),
            "category": object_array(CATEGORIES[e[0]] for e in ERRORS),
            "type": object_array(e[1] for e in ERRORS),
            "trace": object_array(e[4] for e in ERRORS),
        },
        "v_country": vocabulary_frame(c[0] for c in COUNTRIES),
        "v_browser": vocabulary_frame(b[0] for b in BROWSERS),
        "v_os": vocabulary_frame(b[0] for b in OSES),
        "v_ref": vocabulary_frame(r[0] for r in REFERRERS),
        "v_script": {
            **vocabulary_frame(s[0] for s in CODE_SCRIPTS),
            "script": object_array(s[1] for s in CODE_SCRIPTS),
        },
        "v_prompt": vocabulary_frame(AGENT_PROMPTS),
        "v_result": vocabulary_frame(AGENT_RESULTS),
    }
