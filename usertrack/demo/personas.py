"""Who the demo's users are: personas and their shares, lifetimes, failure rates, subscriptions,
and the sessions and events each kind of person makes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

# Personas of account holders.
NONE, LIGHT, REGULAR, HEAVY, FAILING, INTERNAL = range(6)
PERSONA_SHARES = (0.38, 0.32, 0.17, 0.06, 0.07)  # of external accounts; internal ones are extra
LIFETIME_DAYS = (2.0, 12.0, 30.0, 60.0, 25.0, 1e9)  # mean activity window after signup
BASE_FAILURE = (0.0, 0.10, 0.07, 0.05, 0.72, 0.08)
SUBSCRIPTIONS = (None, "trialing", "active", "canceled", "past_due")
# Event-mix groups: 0-5 personas, then these.
G_PH, G_ANON, G_LANDING, G_STORY = 6, 7, 8, 9
# Probability of each generic event code (0 .. GENERIC_EVENTS-1) per group.
#          pv   feat  rep   api   exp   mcp   url   rage   exc    upg   team
MIX = (
    (80.0, 8.0, 1.0, 0.0, 0.0, 0.4, 0.2, 0.15, 0.15, 2.0, 0.2),  # none
    (62.0, 15.0, 5.0, 4.0, 2.0, 4.0, 2.0, 0.2, 0.2, 3.0, 1.0),  # light
    (55.0, 18.0, 8.0, 8.0, 3.0, 3.0, 1.5, 0.2, 0.2, 1.0, 2.0),  # regular
    (50.0, 18.0, 10.0, 12.0, 4.0, 3.0, 1.5, 0.2, 0.2, 0.5, 2.0),  # heavy
    (60.0, 15.0, 4.0, 5.0, 1.0, 4.0, 2.0, 1.0, 1.0, 2.0, 0.5),  # failing
    (50.0, 20.0, 10.0, 10.0, 3.0, 4.0, 2.0, 0.2, 0.2, 0.5, 1.0),  # internal
    (88.0, 0.0, 0.0, 0.0, 0.0, 6.0, 2.0, 0.0, 0.0, 4.0, 0.0),  # PostHog-only identified
    (99.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0),  # anonymous
    (100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),  # landing (pre-signup)
    (100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),  # story sessions
)
# Mean generic events per session beyond the first, per group.
EVENTS_PER_SESSION = (3.5, 4.5, 5.0, 6.0, 5.0, 6.0, 2.0, 1.5, 2.0, 3.0)
# Mean sessions beyond the minimum, and the minimum, per persona.
SESSIONS = ((1.5, 1), (4.0, 2), (10.0, 4), (24.0, 8), (8.0, 3), (30.0, 10))
# Probability of reaching each funnel step given the previous one: no-run users vs runners.
FUNNEL_STEP_P = ((0.80, 0.62, 0.35, 0.30, 0.45), (0.95, 0.90, 0.85, 0.70, 0.80))
