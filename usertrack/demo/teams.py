"""Story: the accounts the people belong to (organization_member): teams of 1 to 20 people.

Drawn from a generator of its own, after every other story, so that no other table or event moves.
The team (internal accounts) is one organization; outside accounts join teams in signup order
(colleagues sign up close together), team sizes drawn from a geometric law (mean about 3) capped
at 20. Organization ids are 1, 2, ... in order of their first member's signup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from usertrack.demo.accounts import Accounts

MAX_TEAM = 20


def form_teams(seed: int, acc: Accounts) -> dict[str, np.ndarray]:
    """The organization_member frame: one row per account, its organization's id."""
    import numpy as np

    rng = np.random.default_rng([seed, 6])  # never the main generator: nothing else moves
    org = np.zeros(acc.n, dtype=np.int32)
    internal = np.flatnonzero(acc.internal)
    outside = np.flatnonzero(~acc.internal)
    sizes = np.minimum(rng.geometric(0.35, size=len(outside)), MAX_TEAM)
    ends = np.cumsum(sizes)
    sizes = sizes[: int(np.searchsorted(ends, len(outside))) + 1]
    team = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)[: len(outside)]
    # The team's organization comes first when it signed up first (it did: at launch).
    first = 0 if len(internal) == 0 else 1
    org[internal] = 1
    org[outside] = team + 1 + first
    order = np.argsort(acc.wasp_id, kind="stable")
    return {"user_id": acc.wasp_id[order].astype(np.int32), "org_id": org[order]}


# PostHog group analytics: each organization is a group of the type `organization` (index 0),
# its key the organization's id, with the properties a tracking plan asks of a group.
GROUP_TYPE = "organization"
PLANS = ("free", "team", "business")
WORDS = (
    "Acme", "Blue", "North", "Bright", "Cedar", "Delta", "Echo", "Field", "Granite", "Harbor",
    "Iron", "Juniper", "Kite", "Lumen", "Maple", "Nova", "Orbit", "Pine", "Quartz", "River",
)  # fmt: skip
KINDS = ("Labs", "Systems", "Works", "Analytics", "Studio", "Data", "Cloud", "Partners")


def group_frame(seed: int, acc: Accounts, members: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The `groups` frame: one row per organization of `members` (form_teams' frame) with its
    key, name, plan, seats and created_at (its first member's signup), drawn from a generator
    of its own: nothing else moves. A team's plan grows with its size; seats are at least its
    members."""
    import numpy as np

    rng = np.random.default_rng([seed, 7])
    org = members["org_id"]
    keys, size = np.unique(org, return_counts=True)
    at = np.searchsorted(acc.wasp_id, members["user_id"])  # wasp ids are ascending per row
    created = np.full(len(keys), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(created, np.searchsorted(keys, org), acc.created[at])
    paid = rng.random(len(keys)) < np.minimum(0.15 + 0.08 * size, 0.9)
    plan = np.where(paid, np.where(size >= 8, 2, 1), 0)
    seats = size + np.where(paid, rng.integers(0, 5, size=len(keys)), 0)
    names = [
        f"{WORDS[a]} {KINDS[b]}"
        for a, b in zip(
            rng.integers(0, len(WORDS), size=len(keys)),
            rng.integers(0, len(KINDS), size=len(keys)),
            strict=True,
        )
    ]
    return {
        "key": keys.astype(np.int32),
        "name": np.array(names, dtype=object),
        "plan": plan.astype(np.int8),
        "seats": seats.astype(np.int32),
        "created": created,
    }


def person_groups(acc: Accounts, members: dict[str, np.ndarray], n_person: int) -> np.ndarray:
    """Each PostHog person's organization key as text (`$group_0` on their events), '' for the
    persons of no account (PostHog-only visitors, anonymous ones). Persons are accounts first,
    in the accounts' row order (identity.person_frame)."""
    import numpy as np

    out = np.full(n_person, "", dtype=object)
    at = np.searchsorted(members["user_id"], acc.wasp_id)
    out[: acc.n] = members["org_id"][at].astype(str)
    return out
