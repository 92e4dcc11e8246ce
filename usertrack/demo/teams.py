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
