"""The words the demo draws from: names, events, pages, MCP templates, countries, browsers,
referrers.

Deterministic lists; the generator only draws indexes into them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


def split_words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = split_words(
    "james mary john patricia robert jennifer michael linda william elizabeth david barbara "
    "richard susan joseph jessica thomas sarah charles karen christopher nancy daniel lisa "
    "matthew betty anthony margaret mark sandra donald ashley steven kimberly paul emily andrew "
    "donna joshua michelle kevin amanda brian melissa george deborah timothy stephanie ryan "
    "rebecca jason sharon edward laura jeffrey cynthia jacob amy gary angela nicholas anna eric "
    "brenda jonathan pamela justin emma scott nicole brandon helen benjamin samantha samuel "
    "katherine gregory rachel alexander maria patrick heather priya arjun wei mei hiroshi yuki "
    "carlos sofia mateo lucia ahmed fatima olga ivan lars ingrid pierre camille giulia marco "
    "kwame amara noah liam olivia ava mia ethan chloe lucas zoe leo nora ines tomas aisha omar "
    "ravi ananya kenji hana diego valentina felix clara jonas elena sven astrid"
)
LAST_NAMES = split_words(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez "
    "gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white "
    "harris sanchez clark ramirez lewis robinson walker young allen king wright scott torres "
    "nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter roberts "
    "patel shah kumar singh chen wang li zhang liu kim park tanaka sato suzuki mueller schmidt "
    "schneider fischer weber rossi russo ferrari dubois moreau laurent silva santos oliveira "
    "costa novak kowalski nowak jensen hansen larsen andersson johansson okafor mensah cohen "
    "levi murphy kelly obrien walsh byrne fraser"
)
DOMAIN_PREFIXES = split_words(
    "north blue bright cloud data flow forge gate harbor iron lumen metro nova orbit pixel "
    "quant rapid signal summit terra vector wave zen apex atlas beacon cedar delta ember falcon "
    "granite helix indigo juniper kite lattice maple nimbus onyx pine quill relay sable tidal "
    "umbra vertex willow zephyr"
)
DOMAIN_SUFFIXES = split_words("labs works hq ai cloud soft tech systems analytics data stack ops")
DOMAIN_TLDS = (".com", ".io", ".ai", ".co")
PERSONAL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com")
INTERNAL_NAMES = split_words("alex sam priya marco lena tom yuki omar nina raj eva ben")
INTERNAL_DOMAIN = "datagen.dev"

# PostHog event names. Codes below SPECIAL_EVENTS are drawn per event from persona mixes; the rest
# are injected once per story (signup, funnel, monetization).
EVENTS = (
    "$pageview",
    "feature_used",
    "report_generated",
    "api_call_made",
    "export_downloaded",
    "mcp_connect_clicked",
    "mcp_url_copied",
    "$rageclick",
    "$exception",
    "upgrade_page_viewed",
    "team_member_invited",
    "user_signed_up",
    "onboarding_started",
    "workspace_created",
    "first_item_created",
    "first_integration_connected",
    "onboarding_completed",
    "plan_upgraded",
    "trial_extended",
    "cancellation_started",
    # Added after the rest (their codes come last) for the tracking-plan audit: see AUDIT_EVENTS.
    "signedUp",
    "search_performed",
    "feedback_submitted",
)
E = {name: code for code, name in enumerate(EVENTS)}
GENERIC_EVENTS = 11
FUNNEL = (
    "onboarding_started",
    "workspace_created",
    "first_item_created",
    "first_integration_connected",
    "onboarding_completed",
)

MARKETING_PATHS = (
    "/",
    "/pricing",
    "/docs",
    "/docs/quickstart",
    "/blog/what-is-mcp",
    "/templates",
    "/signup",
    "/login",
    "/changelog",
)
MARKETING_WEIGHTS = (30, 15, 12, 6, 8, 10, 8, 6, 3)
APP_PATHS = (
    "/dashboard",
    "/agents",
    "/agents/new",
    "/runs",
    "/runs/history",
    "/tools",
    "/mcp",
    "/mcp/connect",
    "/deployments",
    "/settings",
    "/settings/api-keys",
    "/billing",
    "/onboarding",
    "/reports",
)
APP_WEIGHTS = (25, 12, 8, 14, 6, 8, 9, 3, 4, 3, 2, 2, 1, 3)
PATHS = MARKETING_PATHS + APP_PATHS
P = {path: code for code, path in enumerate(PATHS)}
RAGE_PATHS = ("/agents/new", "/mcp/connect", "/billing", "/runs/history", "/deployments")

MCP_TEMPLATES = (  # (template_name, template_id, has_oauth, click weight)
    ("Gmail", "gmail", True, 16),
    ("Slack", "slack", True, 14),
    ("Linear", "linear", True, 9),
    ("HubSpot", "hubspot", True, 10),
    ("Notion", "notion", True, 9),
    ("GitHub", "github", True, 10),
    ("Google Drive", "google-drive", True, 7),
    ("Salesforce", "salesforce", True, 5),
    ("LinkedIn", "linkedin", True, 6),
    ("Google Sheets", "google-sheets", True, 5),
    ("Jira", "jira", True, 3),
    ("Airtable", "airtable", False, 2),
    ("Stripe", "stripe", False, 2),
    ("Postgres", "postgres", False, 2),
)
FEATURES = (
    "agent_builder",
    "mcp_gallery",
    "code_editor",
    "run_logs",
    "schedules",
    "api_keys",
    "templates",
    "webhooks",
)
# The typical time spent per use of a feature, in seconds (feature_used's `duration`), and the
# spread around it: a use takes one of these multiples of its feature's time.
FEATURE_SECONDS = {
    "agent_builder": 240,
    "mcp_gallery": 45,
    "code_editor": 300,
    "run_logs": 60,
    "schedules": 40,
    "api_keys": 25,
    "templates": 90,
    "webhooks": 50,
}
DURATION_SPREAD = (0.2, 0.5, 0.8, 1.0, 1.3, 2.0, 3.5)
REPORT_TYPES = ("weekly_summary", "run_history", "tool_usage", "credit_usage")
API_ENDPOINTS = ("/v1/runs", "/v1/agents", "/v1/tools/execute", "/v1/deployments")
EXPORT_FORMATS = ("csv", "json", "xlsx")
ROLES = ("member", "admin", "viewer")
SIGNUP_METHODS = ("google", "github", "email")
UPGRADE_SOURCES = ("credits_banner", "pricing_page", "settings", "run_limit_modal")
CANCEL_REASONS = ("too_expensive", "missing_integration", "switched_tool", "not_using")
EXCEPTIONS = (
    ("TypeError", "Cannot read properties of undefined (reading 'map')"),
    ("ChunkLoadError", "Loading chunk 412 failed."),
    ("AxiosError", "Request failed with status code 500"),
    ("TypeError", "Failed to fetch"),
    ("Error", "Minified React error #418"),
)
COUNTRIES = (
    ("US", 38),
    ("GB", 8),
    ("IN", 9),
    ("DE", 7),
    ("CA", 5),
    ("FR", 4),
    ("BR", 4),
    ("NL", 3),
    ("AU", 3),
    ("ES", 2),
    ("SG", 2),
    ("JP", 2),
    ("IL", 2),
    ("PL", 2),
    ("SE", 2),
    ("NG", 2),
    ("MX", 2),
    ("IE", 1),
    ("KR", 1),
    ("IT", 1),
)
BROWSERS = (("Chrome", 64), ("Safari", 14), ("Firefox", 9), ("Microsoft Edge", 8), ("Arc", 5))
OSES = (("Mac OS X", 55), ("Windows", 33), ("Linux", 12))
REFERRERS = (  # (referring domain, weight); '$direct' is PostHog's value for no referrer
    ("$direct", 34),
    ("www.google.com", 26),
    ("news.ycombinator.com", 7),
    ("x.com", 6),
    ("www.linkedin.com", 7),
    ("www.reddit.com", 5),
    ("github.com", 5),
    ("www.producthunt.com", 3),
    ("chatgpt.com", 4),
    ("www.youtube.com", 2),
    ("duckduckgo.com", 1),
)
