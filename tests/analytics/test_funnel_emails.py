"""funnel_events.sql sends each event's email only to a funnel that reads it (`{emails}`)."""

from __future__ import annotations

from pathlib import Path

from tests.engine_compare import strip_live_only
from tests.engines.test_live_path import command_json
from tests.posthog_server import live_env, serve
from usertrack.demo.generator import ensure_demo, start_demo_postgres


def test_a_funnel_asks_for_the_events_emails_only_where_it_reads_them(demo_home: Path) -> None:
    """A plain funnel's facts carry '' for every event's email (most of the answer's bytes);
    --by-account (a person is a member by their email) and --dropped (who dropped, with their
    email) ask for the emails, and answer live as on the local engine."""
    demo = ensure_demo(demo_home)
    uri = start_demo_postgres(demo)
    cases = [(["funnel"], 0), (["funnel", "--by-account"], 1), (["funnel", "--dropped", "2"], 1)]
    with serve(demo.events_path, project_id=4242) as fake:
        for argv, emails in cases:
            local = command_json(demo_home, argv)
            before = len(fake.requests)
            moment = ["--as-of", str(local["as_of"]), "--refresh"]
            live = command_json(demo_home, [*argv, *moment], **live_env(fake, uri))
            asked = [
                r["body"]["query"]["values"]["emails"]
                for r in fake.requests[before:]
                if "funnel_events" in str((r.get("body") or {}).get("name", ""))
            ]
            assert asked == [emails], argv
            assert strip_live_only(live) == strip_live_only(local), argv
