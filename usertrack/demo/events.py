"""Story: what people do in their sessions, as PostHog events (funnel, engagement, rage clicks)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from usertrack.demo.personas import EVENTS_PER_SESSION, FUNNEL_STEP_P, G_ANON, G_LANDING, G_PH, MIX
from usertrack.demo.sampling import choose_by_group, normalized, uuid_halves
from usertrack.demo.timeline import MIN, SEC
from usertrack.demo.vocabulary import (
    API_ENDPOINTS,
    APP_PATHS,
    APP_WEIGHTS,
    CANCEL_REASONS,
    DURATION_SPREAD,
    EVENTS,
    EXCEPTIONS,
    EXPORT_FORMATS,
    FEATURE_SECONDS,
    FEATURES,
    FUNNEL,
    MARKETING_PATHS,
    MARKETING_WEIGHTS,
    MCP_TEMPLATES,
    RAGE_PATHS,
    REPORT_TYPES,
    ROLES,
    SIGNUP_METHODS,
    UPGRADE_SOURCES,
    E,
    P,
)

# Planted in a few legacy-client events (usertrack/demo/audit.py): personal data and a secret
# that the tracking-plan audit must find and never print in full.
LEAKED_EMAIL = "dana.lee@example.com"
LEAKED_TOKEN = "sk_live_DEMOnotARealKey0000000000"

if TYPE_CHECKING:
    import numpy as np

# Each stage below runs in a function of its own so that its intermediate arrays (per event: 40 MB
# each at 100,000 users) are freed when it returns, and only the compact columns it returns stay.


def session_events(
    rng: np.random.Generator,
    stories: dict[str, Any],
    has_events: np.ndarray,
    n_runs: np.ndarray,
    sub: np.ndarray,
    ns: np.ndarray,
    s_first: np.ndarray,
    s_group: np.ndarray,
    s_start: np.ndarray,
    s_dur: np.ndarray,
    f_sess: np.ndarray,
    h_sess: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Every session's events in time order: session, event code, timestamp, path code, extra
    properties code and the two uuid halves."""
    import numpy as np

    n_sess = len(s_group)
    # Generic events: 1 + Poisson per session, types from the session group's mix.
    ev_n = 1 + rng.poisson(np.array(EVENTS_PER_SESSION)[s_group])
    e_sess = np.repeat(np.arange(n_sess), ev_n)
    e_type = choose_by_group(rng, np.array(MIX), s_group[e_sess])
    e_off = (rng.random(len(e_sess)) * s_dur[e_sess]).astype(np.int64)

    inj_sess, inj_type, inj_off = _story_events(
        rng, stories, has_events, n_runs, sub, ns, s_first, s_dur, f_sess, h_sess
    )
    e_sess = np.concatenate([e_sess, *inj_sess])
    e_type = np.concatenate([e_type, *inj_type])
    e_off = np.concatenate([e_off, *inj_off])
    e_ts = s_start[e_sess] + e_off
    del e_off
    o = np.lexsort((e_type, e_sess, e_ts))
    # One column at a time, each as compact as its values allow, to keep the peak low.
    e_sess = e_sess[o].astype(np.int32)
    e_type = e_type[o]
    e_ts = e_ts[o]
    del o
    n_ev = len(e_sess)
    e_tpl = rng.choice(len(MCP_TEMPLATES), size=n_ev, p=normalized([t[3] for t in MCP_TEMPLATES]))
    e_r = rng.integers(0, 1 << 30, size=n_ev, dtype=np.int32)
    e_hi, e_lo = uuid_halves(rng, e_ts // 1000)
    _, x_offset, x_count, x_keyed = event_extras()
    e_extra = x_offset[e_type] + np.where(x_keyed[e_type], e_tpl, e_r % x_count[e_type])
    e_extra = e_extra.astype(np.int32)
    del e_tpl

    rage_paths = np.array([P[p] for p in RAGE_PATHS], dtype=np.int16)[e_r % len(RAGE_PATHS)]
    del e_r
    path = _pathnames(rng, e_type, np.isin(s_group[e_sess], (G_LANDING, G_ANON, G_PH)), rage_paths)
    return e_sess, e_type, e_ts, path, e_extra, e_hi, e_lo


def _story_events(
    rng: np.random.Generator,
    stories: dict[str, Any],
    has_events: np.ndarray,
    n_runs: np.ndarray,
    sub: np.ndarray,
    ns: np.ndarray,
    s_first: np.ndarray,
    s_dur: np.ndarray,
    f_sess: np.ndarray,
    h_sess: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """The events the stories put in given sessions: (sessions, codes, offsets in the session),
    a list of arrays each: the signup funnel, upgrades and cancellations, rage clicks and
    exceptions, MCP clicks."""
    import numpy as np

    n = len(has_events)
    inj_sess: list[np.ndarray] = []
    inj_type: list[np.ndarray] = []
    inj_off: list[np.ndarray] = []

    def inject(sess: np.ndarray, code: int, off: np.ndarray) -> None:
        inj_sess.append(sess.astype(np.int64))
        inj_type.append(np.full(len(sess), code, dtype=np.int16))
        inj_off.append(np.minimum(off.astype(np.int64), s_dur[sess] - SEC))

    # Signup and activation funnel in the signup session.
    signup_users = np.flatnonzero(has_events)
    sig = s_first[signup_users]
    inject(sig, E["user_signed_up"], rng.integers(2 * SEC, 30 * SEC, size=len(sig)))
    runner = n_runs[signup_users] > 0
    reached = np.ones(len(sig), dtype=bool)
    step_p = np.array(FUNNEL_STEP_P)
    for step, name in enumerate(FUNNEL):
        p = np.where(runner, step_p[1, step], step_p[0, step])
        reached &= rng.random(len(sig)) < p
        off = (1 + 4 * step) * MIN + rng.integers(0, 3 * MIN, size=len(sig))
        inject(sig[reached], E[name], off[reached])
        stories[f"funnel_{name}"] = int(reached.sum())

    # Monetization, in a random regular session of the user.
    def random_session(users_: np.ndarray) -> np.ndarray:
        return s_first[users_] + (rng.random(len(users_)) * ns[users_]).astype(np.int64)

    active_subs = np.flatnonzero(has_events & (sub == 2))
    sess = random_session(active_subs)
    inject(sess, E["upgrade_page_viewed"], 0.3 * s_dur[sess])
    inject(sess, E["plan_upgraded"], 0.7 * s_dur[sess])
    trial_ext = np.flatnonzero(has_events & (sub == 1) & (rng.random(n) < 0.3))
    sess = random_session(trial_ext)
    inject(sess, E["trial_extended"], 0.5 * s_dur[sess])
    canceling = np.flatnonzero(has_events & (sub == 3))
    sess = random_session(canceling)
    inject(sess, E["cancellation_started"], 0.6 * s_dur[sess])

    # Frustration: 1-4 rage clicks, then up to 2 exceptions, in the last-week session.
    rage_n = rng.integers(1, 5, size=len(f_sess))
    sess = np.repeat(f_sess, rage_n)
    inject(sess, E["$rageclick"], rng.random(len(sess)) * s_dur[sess])
    exc_n = rng.integers(0, 3, size=len(f_sess))
    sess = np.repeat(f_sess, exc_n)
    inject(sess, E["$exception"], rng.random(len(sess)) * s_dur[sess])

    # High intent: 1-3 MCP connect clicks, half of them followed by copying the MCP URL.
    click_n = rng.integers(1, 4, size=len(h_sess))
    sess = np.repeat(h_sess, click_n)
    inject(sess, E["mcp_connect_clicked"], rng.random(len(sess)) * 0.8 * s_dur[sess])
    copied = h_sess[rng.random(len(h_sess)) < 0.5]
    inject(copied, E["mcp_url_copied"], 0.9 * s_dur[copied])

    return inj_sess, inj_type, inj_off


def _pathnames(
    rng: np.random.Generator,
    e_type: np.ndarray,
    marketing_session: np.ndarray,
    rage_paths: np.ndarray,
) -> np.ndarray:
    """$pathname per event: a marketing page in marketing sessions, an app page elsewhere, and
    the page the event belongs on for rage clicks, MCP clicks, billing, signup and onboarding."""
    import numpy as np

    n_ev = len(e_type)
    mk = rng.choice(len(MARKETING_PATHS), size=n_ev, p=normalized(MARKETING_WEIGHTS))
    mk = mk.astype(np.int16)
    app = rng.choice(len(APP_PATHS), size=n_ev, p=normalized(APP_WEIGHTS)).astype(np.int16)
    app += len(MARKETING_PATHS)
    path = np.where(marketing_session, mk, app)
    del mk, app
    path = np.select(
        [
            (e_type == E["$rageclick"]) & ~marketing_session,
            np.isin(e_type, (E["mcp_connect_clicked"], E["mcp_url_copied"])),
            e_type == E["first_integration_connected"],
            np.isin(e_type, (E["plan_upgraded"], E["trial_extended"], E["cancellation_started"])),
            e_type == E["upgrade_page_viewed"],
            e_type == E["user_signed_up"],
            np.isin(e_type, [E[f] for f in FUNNEL[:3]] + [E["onboarding_completed"]]),
        ],
        [
            rage_paths,
            P["/mcp"],
            P["/mcp/connect"],
            P["/billing"],
            P["/billing"],
            P["/signup"],
            P["/onboarding"],
        ],
        path,
    )

    return path.astype(np.int16)


def in_time_order(columns: dict[str, np.ndarray]) -> None:
    """Reorder the event frame by timestamp (stable: ties keep their order), in place and one
    column at a time, each old column freed as its reordered copy replaces it. The events store
    is written in this order (see table_sql): that is how it is kept sorted without a sort."""
    import numpy as np

    order = np.argsort(columns["ts"], kind="stable")
    for name, values in columns.items():
        columns[name] = values[order]


def append_events(events: list[np.ndarray], added: tuple[np.ndarray, ...]) -> None:
    """Append rows to the event columns in place, one column at a time: the old column is freed
    before the next is copied (all at once, the copy would double the events' memory)."""
    import numpy as np

    for i, rows in enumerate(added):
        events[i] = np.concatenate([events[i], rows])


def event_extras() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Each event's own properties as JSON fragments (',"key":value,...'), in variants.

    Returns the fragments and, per event code, the offset of its first variant, the number of
    variants and whether the variant is the event's MCP template (else a random pick).
    """
    import numpy as np

    by_template = {"mcp_connect_clicked", "mcp_url_copied", "first_integration_connected"}
    variants: dict[str, list[dict[str, Any]]] = {
        "$pageview": [{}],
        # The feature is the variant modulo len(FEATURES), as it was with one variant per
        # feature: the time spent (seconds) rides on the same draw and moves nothing else.
        "feature_used": [
            {"feature": f, "duration": round(FEATURE_SECONDS[f] * m)}
            for m in DURATION_SPREAD
            for f in FEATURES
        ],
        "report_generated": [{"report_type": r} for r in REPORT_TYPES],
        "api_call_made": [
            {"endpoint": ep, "status_code": code}
            for code in (200,) * 9 + (500,)
            for ep in API_ENDPOINTS
        ],
        "export_downloaded": [{"format": f} for f in EXPORT_FORMATS],
        "mcp_connect_clicked": [
            {"template_name": t[0], "template_id": t[1], "has_oauth": t[2]} for t in MCP_TEMPLATES
        ],
        "mcp_url_copied": [{"template_name": t[0], "template_id": t[1]} for t in MCP_TEMPLATES],
        "$rageclick": [{"$el_text": x} for x in ("Connect", "Run", "Save", "Deploy", "Upgrade")],
        "$exception": [{"$exception_type": t, "$exception_message": m} for t, m in EXCEPTIONS],
        "upgrade_page_viewed": [{"source": x} for x in UPGRADE_SOURCES],
        "team_member_invited": [{"role": r} for r in ROLES],
        "user_signed_up": [{"signup_method": m} for m in SIGNUP_METHODS],
        "onboarding_started": [{"step": 1}],
        "workspace_created": [{"step": 2}],
        "first_item_created": [{"step": 3, "item_type": "agent"}],
        "first_integration_connected": [{"step": 4, "integration": t[0]} for t in MCP_TEMPLATES],
        "onboarding_completed": [{"step": 5}],
        "plan_upgraded": [{"plan": x, "previous_plan": "trial"} for x in ("pro", "pro", "team")],
        "trial_extended": [{"days": 7}],
        "cancellation_started": [{"reason": r} for r in CANCEL_REASONS],
        # The legacy client's second variant leaks a contact email and a live-looking API
        # key into event properties: the tracking-plan audit's personal-data story.
        "signedUp": [
            {"signup_method": "email", "client": "legacy-mobile"},
            {
                "signup_method": "email",
                "client": "legacy-mobile",
                "contact_email": LEAKED_EMAIL,
                "apiToken": LEAKED_TOKEN,
            },
        ],
        "search_performed": [
            {"query_length": 3 + i % 9, "result_count": i % 13, "source": src}
            for i, src in enumerate(["sidebar", "command_palette"] * 8 + ["sidebar"])
        ]
        + [
            {"result_count": 4, "source": "sidebar"},
            {"query_length": 6, "result_count": "12", "source": "command_palette"},
            {"query_length": 5, "result_count": 2, "source": "Sidebar"},
        ],
        "feedback_submitted": [{"rating": r, "comment_length": 40 * r} for r in (1, 2, 3, 4, 5)],
    }
    fragments: list[str] = []
    offset = np.zeros(len(EVENTS), dtype=np.int32)
    count = np.zeros(len(EVENTS), dtype=np.int32)
    keyed = np.zeros(len(EVENTS), dtype=bool)
    for code, name in enumerate(EVENTS):
        offset[code], count[code], keyed[code] = (
            len(fragments),
            len(variants[name]),
            name in by_template,
        )
        for props in variants[name]:
            text = json.dumps(props, separators=(",", ":"))[1:-1]
            fragments.append("," + text if text else "")
    return fragments, offset, count, keyed


def path_json(path: str) -> str:
    host = "datagen.dev" if path in MARKETING_PATHS else "app.datagen.dev"
    props = {"$pathname": path, "$current_url": f"https://{host}{path}", "$host": host}
    return json.dumps(props, separators=(",", ":"))[1:-1]
