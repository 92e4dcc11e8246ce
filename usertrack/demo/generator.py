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
seed at as_of = anchor, computed with the analyst workflow's SQL, datagen.dev excluded;
`DemoData.stories` and the manifest hold the sizes of any generation.

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

Failures (the analyst workflow's failure investigation)
- Platform incident on anchor - 9 days, 10:00-22:00 UTC: 45 % of the runners active then run 1-3
  extra workflows in the window and 85 % of the runs there fail with infrastructure errors ("Modal
  sandbox exited rc=137 (OOM)", "API timeout after 60s", sandbox rate limit), the last tool call
  failing too. 2,000 users: 499 of 766 runs fail that day, by 231 users; neighbouring days see
  60-70 failures of 420-490 runs, by about 50 users.
- Elsewhere, infrastructure failures are workflow-level only (every tool call succeeded):
  the analyst workflow's "tool success is not workflow success". About 3 % of tool calls fail
  inside runs that complete.
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
- Accounts (demo/teams.py): organization_member ties every wasp_user to one organization, teams of
  1 to 20 people (the team at launch is organization 1), drawn from a generator of their own so
  that no other table or event moves. Each organization is also a PostHog group of the type
  `organization` (index 0): every event of a member carries `$group_0`, its id (a column of the
  events added beside the others, derived from organization_member), and the store's `groups` table
  holds each one's name, plan, seats (at least its members) and created_at (its first member's
  signup), drawn from a generator of their own.

Analytics (the product-growth guide and the user-activity specification): each account holder
with events fires user_signed_up and walks the activation funnel with drop-off (2,000 users:
1,841 signed up, 1,638 onboarding_started, 1,344 workspace_created, 1,003 first_item_created, 659
first_integration_connected, 520 onboarding_completed), deeper for users who went on to run
workflows. Engagement events (feature_used with `feature`, report_generated, api_call_made,
export_downloaded, team_member_invited) follow personas; active subscribers fired
upgrade_page_viewed + plan_upgraded, some trials trial_extended, canceled ones
cancellation_started. Activity stops after an exponential lifetime per persona, so weekly retention
decays by signup cohort. Sessions last 5-40 minutes and every event carries $session_id, $pathname,
$current_url, $referrer, $referring_domain, $browser, $device_type and $geoip_country_code.

Tracking-plan audit (tracking-plan.yaml describes this demo; see audit.AUDIT_EVENTS): a camelCase
`signedUp` beside 4 % of user_signed_up, `search_performed` with a required property sometimes
missing, a number sometimes sent as a string and a value outside its allowed set, and
`feedback_submitted`, which stopped 31 days before the anchor.

Support alerts (alerts.yaml; see alerts.ALERT_STORY): at the anchor some people are still in
session, so `usertrack alerts` finds people stuck on a page, trial users with low activity and trial
users gone quiet; users entering `failing` or `high_intent` come from the segments themselves
(against the day before when no snapshot was saved), and a failure spike on the anchor's last day
(see alerts.spike_runs; the incident's fires with `--as-of` the day after it). One person per 1,000
users (none in the small test demos, whose figures and golden report stay as they were) also throws
4 `$exception` in the last 5 minutes of a session (multiple errors: account holders already
frustrated, so no segment changes), one trial user per 1,000 active in the last day opens a page
11-13 minutes before the anchor and stops there (low activity and stuck), and one account per 1,000
already failing retries a workflow into the sandbox rate limit in the 8 hours before the last half
hour (the failure spike: at 2,000 users 223 failed runs on two accounts, 361 that day against a
median of 86).

Size: 2,000 users give about 106k events and 21k runs; 100,000 users about 5.2M events, 1M runs and
2.8M tool executions.

Where it lives: this module is the driver (the demo's lifecycle under USERTRACK_HOME, and
`generate`, which runs the stories in order, each drawing from the one seeded generator in turn):
`accounts` (signups, personas), `runs` (runs, the incident, failures, credits, subscriptions),
`identity` (emails, names, PostHog persons), `sessions` (visits and the stories' sessions),
`events` (what happens in them), `workloads` (tool calls, code, deployments, agents), `audit` and
`alerts` (stories with generators of their own), then `frames` gathers the columns. The words
drawn from are in `vocabulary`, `product` and `personas`; time in `timeline`; shared draws in
`sampling`. Writers: `schema` (the SELECTs), `database` (the embedded PostgreSQL, COPY), `store`
(the events store); `layout` names the files.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from usertrack.core.bounds import return_freed_memory
from usertrack.core.errors import UsageError
from usertrack.demo.accounts import Accounts, sign_up
from usertrack.demo.alerts import alert_events, spike_runs, with_spike_runs
from usertrack.demo.audit import audit_events
from usertrack.demo.database import (
    check_demo_folder,
    demo_reader_uri,
    load_postgres,
    start_demo_postgres,
    stop_demo_postgres,
)
from usertrack.demo.events import session_events
from usertrack.demo.frames import assemble
from usertrack.demo.identity import name_people, person_frame
from usertrack.demo.layout import (
    SCHEMA_VERSION,
    DemoData,
    DemoWorkspace,
    Progress,
    demo_pg_dir,
    demo_root,
    demo_workspace,
    existing_demo,
    outdated_size,
    read_manifest,
)
from usertrack.demo.product import (
    ERRORS,
    FASTAPI_ID_OFFSET,
)
from usertrack.demo.runs import Runs, run_workflows
from usertrack.demo.schema import table_sql
from usertrack.demo.sessions import visit
from usertrack.demo.store import EVENT_MEMORY_LIMIT, STORE_MEMORY_LIMIT, events_select
from usertrack.demo.teams import form_teams, group_frame, person_groups
from usertrack.demo.timeline import (
    DAY,
    INCIDENT_DAYS_BEFORE_ANCHOR,
    INCIDENT_HOURS,
    MIN,
    SEC,
    day_start_us,
)
from usertrack.demo.vocabulary import (
    EVENTS,
)
from usertrack.demo.workloads import do_work

if TYPE_CHECKING:
    import numpy as np

# (an older demo is rebuilt)
# What other code imports from here (the rest lives in the modules named above).
__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_USERS",
    "ERRORS",
    "EVENTS",
    "FASTAPI_ID_OFFSET",
    "GENERATING",
    "INCIDENT_DAYS_BEFORE_ANCHOR",
    "INCIDENT_HOURS",
    "MAX_USERS",
    "MIN_USERS",
    "SCHEMA_VERSION",
    "DemoData",
    "DemoWorkspace",
    "demo_reader_uri",
    "demo_root",
    "ensure_demo",
    "generate",
    "load_postgres",
    "read_manifest",
    "start_demo_postgres",
    "stop_demo",
    "stop_demo_postgres",
]

DEFAULT_SEED = 20261121
DEFAULT_USERS = 2000
MIN_USERS = 50
MAX_USERS = 2_000_000


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
        ws = existing_demo(home)
        if ws is not None:
            return ws
        unfinished = _interrupted(home)
        outdated = outdated_size(home)
        if unfinished is not None:
            users, anchor = unfinished
            if notice:
                notice(
                    f"usertrack: the demo of {users:,} users was interrupted while it was"
                    " generated; generating it again at that size"
                )
        elif outdated is not None and MIN_USERS <= outdated <= MAX_USERS:
            # A demo made by an earlier version is rebuilt at the size its user chose.
            users = outdated
            if notice:
                notice(
                    f"usertrack: the demo of {users:,} users was made by an earlier version of"
                    " usertrack; generating it again at that size"
                )
    if not MIN_USERS <= users <= MAX_USERS:
        raise UsageError(f"the demo needs between {MIN_USERS} and {MAX_USERS:,} users, not {users}")
    root = demo_root(home)
    # generating starts the demo's server there: a folder it cannot start in is said first,
    # before anything is written
    check_demo_folder(demo_pg_dir(root))
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".lock"):
        if not reset:  # another process may have finished while we waited for the lock
            ws = existing_demo(home)
            if ws is not None:
                return ws
        from usertrack.core.bounds import unbounded

        # The process's memory bound is for questions (a rule, a query, stranger data); the
        # demo's build is usertrack's own work, sized by --users, whose arrays reserve far more
        # address space than they touch: at 200,000 users it passed the bound at 1.8 GB RSS.
        with unbounded():
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
    from usertrack.engines.local.eventstore import write_events

    root = demo_root(home)
    manifest_path = root / "manifest.json"
    manifest_path.unlink(missing_ok=True)
    # What is being generated, until the manifest says it is done: an interrupted generation
    # is redone at this size and anchor, not replaced by the default demo.
    # Written whole or not at all (a kill between creating the file and writing it would
    # leave it empty, read as no generation asked).
    asked = {"users": users, "anchor": anchor.isoformat() if anchor else None}
    asking = root / (GENERATING + ".tmp")
    asking.write_text(json.dumps(asked) + "\n")
    os.replace(asking, root / GENERATING)
    anchor = anchor or datetime.now(UTC).date()
    ws = demo_workspace(root, anchor, users)
    say = progress or (lambda _text: None)
    started = time.perf_counter()

    if (ws.pg_dir / "PG_VERSION").exists():
        stop_demo_postgres(ws)  # a reset: no command keeps using the old data while it is rebuilt
    say("generating users")
    data = generate(users, anchor)
    rows = data.row_counts()
    return_freed_memory()
    say("loading PostgreSQL")
    load_postgres(start_demo_postgres(ws), data, release=True)
    return_freed_memory()
    say("writing events")
    # The event frame is in time order and the SELECT keeps it (see table_sql): nothing is sorted.
    events = write_events(
        ws.events_path,
        functools.partial(events_select, data=data),
        {"memory_limit": STORE_MEMORY_LIMIT},
        in_order=True,
        load_settings={"memory_limit": EVENT_MEMORY_LIMIT},
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
    from usertrack.core.files import secure_home

    secure_home(home)  # the events store and the manifest: the owner's only, from the start
    del data  # the generated frames, let go before the feature times are read
    return_freed_memory()
    # With the store's last stamp (secure_home's mode change is its last change): its feature
    # times now, under the store write's memory cap, so that the first `features` is as fast as
    # the next ones.
    from usertrack.engines.local.feature_times import build_beside

    say("reading the feature times")
    build_beside(ws.events_path, {"memory_limit": STORE_MEMORY_LIMIT})
    return ws


def stop_demo(home: Path) -> bool:
    """`usertrack demo stop`: stop the demo server under home now. True if one was running."""
    return stop_demo_postgres(demo_workspace(demo_root(home), date.min, 0))


def generate(users: int, anchor: date, seed: int = DEFAULT_SEED) -> DemoData:
    """Generate the demo deterministically: same (users, anchor, seed) -> identical data.

    The stories run in this order and every one draws from the one generator `rng` in turn, so
    none may be moved or skipped (the audit, the alerts and the spike draw from generators of
    their own: they change nothing else). `stories` counts the users of each story.
    """
    import numpy as np

    if not MIN_USERS <= users <= MAX_USERS:
        raise UsageError(f"the demo needs between {MIN_USERS} and {MAX_USERS:,} users, not {users}")
    rng = np.random.default_rng(seed)
    t_end = day_start_us(anchor)
    stories: dict[str, int] = {}
    acc = sign_up(rng, users, t_end)
    runs = run_workflows(rng, acc, t_end, stories)
    ids = name_people(rng, acc, stories)
    visits = visit(rng, acc, runs.n_runs, ids.n_ph, t_end, stories)
    # The event columns (session, code, timestamp, path, extra, uuid halves), appended to in place.
    events = list(
        session_events(
            rng, stories, acc.has_events, runs.n_runs, runs.sub, visits.ns, visits.s_first,
            visits.s_group, visits.s_start, visits.s_dur, visits.f_sess, visits.h_sess,
        )
    )  # fmt: skip
    persons = person_frame(rng, acc, ids, visits.p_start, visits.n_anon)
    work = do_work(rng, acc, runs, t_end)
    in_failing = _segment_sizes(acc, runs, t_end, stories)
    audit_events(seed, t_end, stories, events)
    alert_events(seed, t_end, users, acc.internal, runs.sub, visits.s_person, stories, events)
    spike = spike_runs(
        seed, t_end, acc.internal, in_failing, runs.last_run, runs.run_user, runs.run_ts,
        runs.state, stories,
    )  # fmt: skip
    last_active = runs.last_active
    np.maximum.at(last_active, spike["user"], np.minimum(spike["ts"] + 3 * MIN, t_end - SEC))
    frames = assemble(rng, acc, runs, ids, visits, work, persons, events)
    frames["run"] = with_spike_runs(frames["run"], spike, work.fastapi_id)
    frames["org_member"] = form_teams(seed, acc)
    frames["groups"] = group_frame(seed, acc, frames["org_member"])
    frames["pers_group"] = {"key": person_groups(acc, frames["org_member"], len(persons["pid"]))}
    return DemoData(
        users=users, anchor=anchor, seed=seed, frames=frames, sql=table_sql(), stories=stories
    )


def _segment_sizes(acc: Accounts, runs: Runs, t_end: int, stories: dict[str, int]) -> np.ndarray:
    """Count the segments' users as the analyst workflow's SQL would at the anchor (for the docs
    and the tests); return who is failing (the failure spike picks its accounts among them)."""
    import numpy as np

    n, n_runs, created = acc.n, runs.n_runs, acc.created
    ext_mask = ~acc.internal
    success = np.bincount(runs.run_user, weights=(runs.state == 0), minlength=n)
    rate = np.where(n_runs > 0, 100.0 * success / np.maximum(n_runs, 1), 0.0)
    stories["seg_failing"] = int((ext_mask & (n_runs > 5) & (rate < 50)).sum())
    stories["seg_at_risk"] = int((ext_mask & (created < t_end - 7 * DAY) & (n_runs == 0)).sum())
    stories["seg_power_user"] = int((ext_mask & ((n_runs > 5) | (runs.credits < 50))).sum())
    stories["incident_failed_runs"] = int(((runs.state == 1) & runs.in_incident).sum())
    stories["jane_doe_wasp_id"] = int(acc.wasp_id[acc.jane])
    return ext_mask & (n_runs > 5) & (rate < 50)
