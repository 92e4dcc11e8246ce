"""Story: the tracking-plan audit finds a camelCase twin, bad properties and a stopped event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from usertrack.demo.events import append_events, event_extras
from usertrack.demo.sampling import uuid_halves
from usertrack.demo.timeline import DAY
from usertrack.demo.vocabulary import E

if TYPE_CHECKING:
    import numpy as np

# The tracking-plan audit's stories (tracking-plan.yaml describes the demo): new events only, at
# the timestamps of existing events in the same sessions, drawn from a generator of their own, so
# every other row, count and segment of the demo stays exactly as it was.
# - signedUp: a legacy client's camelCase duplicate of user_signed_up for 4 % of signups (an
#   unplanned event whose closest planned name is user_signed_up).
#   Every 5th of them carries contact_email and apiToken (usertrack.demo.events: LEAKED_EMAIL,
#   LEAKED_TOKEN): personal data and a secret in event properties, which the audit names.
# - search_performed: beside 12 % of feature_used events; 1 in 20 lacks query_length (required),
#   1 in 20 sends result_count as a string ("12"), 1 in 20 has source "Sidebar" (not allowed).
# - feedback_submitted: beside 10 % of the feature_used events 31-60 days before the anchor, none
#   since: seen in the previous 30 days, not in the last 30 (a planned event that stopped).
AUDIT_EVENTS = {
    "typo_share": 0.04,
    "search_share": 0.12,
    "feedback_share": 0.10,
    "leak_every": 5,
}
SEARCH_VARIANTS = 20  # variants 0..16 are clean; 17 no query_length; 18 string; 19 "Sidebar"


def audit_events(seed: int, t_end: int, stories: dict[str, Any], events: list[np.ndarray]) -> None:
    """Append the audit's events to the event columns (see AUDIT_EVENTS)."""
    import numpy as np

    e_sess, e_type, e_ts, path, e_extra, _, _ = events
    rng = np.random.default_rng([seed, 3])  # never the main generator: nothing else moves
    _, x_offset, x_count, _ = event_extras()
    picks: list[tuple[np.ndarray, int, np.ndarray]] = []

    signups = np.flatnonzero(e_type == E["user_signed_up"])
    typo = signups[rng.random(len(signups)) < AUDIT_EVENTS["typo_share"]]
    # Every leak_every-th of them (by position, no draw) is the variant that leaks personal data.
    leaky = (np.arange(len(typo)) % AUDIT_EVENTS["leak_every"] == 0).astype(np.int32)
    picks.append((typo, E["signedUp"], x_offset[E["signedUp"]] + leaky))
    used = np.flatnonzero(e_type == E["feature_used"])
    search = used[rng.random(len(used)) < AUDIT_EVENTS["search_share"]]
    variant = rng.integers(0, SEARCH_VARIANTS, size=len(search))
    picks.append((search, E["search_performed"], x_offset[E["search_performed"]] + variant))
    old = used[(e_ts[used] <= t_end - 31 * DAY) & (e_ts[used] > t_end - 60 * DAY)]
    feedback = old[rng.random(len(old)) < AUDIT_EVENTS["feedback_share"]]
    rating = rng.integers(0, x_count[E["feedback_submitted"]], size=len(feedback))
    picks.append((feedback, E["feedback_submitted"], x_offset[E["feedback_submitted"]] + rating))

    stories["audit_signedUp"] = len(typo)
    stories["audit_search_performed"] = len(search)
    stories["audit_feedback_submitted"] = len(feedback)
    rows = np.concatenate([r for r, _, _ in picks])
    codes = np.concatenate([np.full(len(r), c, dtype=e_type.dtype) for r, c, _ in picks])
    extras = np.concatenate([x.astype(e_extra.dtype) for _, _, x in picks])
    hi, lo = uuid_halves(rng, e_ts[rows] // 1000)
    added = (e_sess[rows], codes, e_ts[rows], path[rows], extras, hi, lo)
    del e_sess, e_type, e_ts, path, e_extra  # so that each column is freed as it is replaced
    append_events(events, added)
