"""The demo's product: its tools, the errors its runs fail with, its scripts and agent prompts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

FASTAPI_ID_OFFSET = 1_000_000  # fastapi_user.id = FASTAPI_ID_OFFSET + wasp_user.id (for n < offset)

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

# Failure categories (the analyst workflow's table) and the errors of each.
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
