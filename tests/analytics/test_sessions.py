"""Sessions on a hand-made events export: library definitions, CLI and the live HTTP path.

Every expected figure is worked out here from the events below (docs/metrics.md, "Sessions"),
never copied from output. Range: May 2026, as of June 1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import (
    assert_imports_no_terminal_libraries,
    assert_usage_error,
    live_posthog,
    record,
    run_json,
    run_ok,
    write_export,
)

AS_OF = "2026-06-01"
RANGE = ["--since", "2026-05-01", "--until", "2026-05-31"]
D = datetime(2026, 5, 10, tzinfo=UTC)
EMAILS = {"p1": "ann@example.com", "p2": "bob@example.com", "p3": "zed@datagen.dev",
          "p4": "cat@example.com"}  # fmt: skip
DESKTOP_US = {"$device_type": "Desktop", "$browser": "Chrome", "$geoip_country_code": "US"}
DESKTOP_DE = {"$device_type": "Desktop", "$browser": "Firefox", "$geoip_country_code": "DE"}
MOBILE_DE = {"$device_type": "Mobile", "$browser": "Chrome", "$geoip_country_code": "DE"}
MOBILE_FR = {"$device_type": "Mobile", "$browser": "Safari", "$geoip_country_code": "FR"}


def at(hours: int, minutes: int = 0, seconds: int = 0, day: datetime = D) -> datetime:
    return day + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def page(path: str | None) -> dict[str, Any]:
    return {"$pathname": path, "$current_url": f"https://app.example.com{path}"} if path else {}


# (event, when, distinct_id, person_id, $session_id, page, device properties)
EVENTS: list[tuple[str, datetime, str, str, str | None, str | None, dict[str, Any]]] = [
    # s1, ann on two distinct_ids: 2 pageviews and an autocapture over 120 s; / -> /pricing
    ("$pageview", at(10), "a1", "p1", "s1", "/", DESKTOP_US),
    ("$autocapture", at(10, 0, 5), "a1", "p1", "s1", "/", DESKTOP_US),
    ("$pageview", at(10, 2), "a2", "p1", "s1", "/pricing", DESKTOP_US),
    # ann without a $session_id: 12:00 to 12:49:59 is one session (gaps 20:00 and 29:59, the
    # second event on her other distinct_id, without a URL); 13:19:59 is 30:00 after: a new one
    ("$pageview", at(12), "a1", "p1", None, "/docs", MOBILE_FR),
    ("doc_read", at(12, 20), "a2", "p1", None, None, {}),
    ("$pageview", at(12, 49, 59), "a1", "p1", None, "/docs/api", MOBILE_FR),
    ("doc_read", at(13, 19, 59), "a1", "p1", None, None, {}),
    # s2, bob: one pageview, 0 s: a bounce
    ("$pageview", at(9), "b1", "p2", "s2", "/pricing", DESKTOP_DE),
    # s3, bob: one pageview and a custom event 9 s later (no URL): still a bounce (< 10 s)
    ("$pageview", at(15), "b1", "p2", "s3", "/", DESKTOP_DE),
    ("signup_clicked", at(15, 0, 9), "b1", "p2", "s3", None, DESKTOP_DE),
    # s4, bob: one pageview and a pageleave exactly 10 s later: not a bounce
    ("$pageview", at(16), "b1", "p2", "s4", "/blog", MOBILE_DE),
    ("$pageleave", at(16, 0, 10), "b1", "p2", "s4", "/blog", MOBILE_DE),
    # s5 is internal: left out
    ("$pageview", at(11), "z1", "p3", "s5", "/", DESKTOP_US),
    # s6, cat: no pageview (no bounce either way), 300 s; its event after as_of is not seen
    ("$autocapture", at(20), "c1", "p4", "s6", "/app", DESKTOP_US),
    ("item_created", at(20, 5), "c1", "p4", "s6", "/app", DESKTOP_US),
    ("$pageview", datetime(2026, 6, 2, tzinfo=UTC), "c1", "p4", "s6", "/app", DESKTOP_US),
    # s7, cat: before the range
    ("$pageview", datetime(2026, 4, 30, 12, tzinfo=UTC), "c1", "p4", "s7", "/", DESKTOP_US),
]


def props(session: str | None, path: str | None, device: dict[str, Any]) -> dict[str, Any]:
    out = {**page(path), **device}
    if session:
        out["$session_id"] = session
    return out


RECORDS = [
    record(n, e, when, did, pid, EMAILS[pid], props(sid, path, device))
    for n, (e, when, did, pid, sid, path, device) in enumerate(EVENTS, 1)
]

# By hand. Sessions and seconds: s1 120, ann's 12:00 one 2999, her 13:19:59 one 0, s2 0, s3 9,
# s4 10, s6 300. Seven sessions; median of [0, 0, 9, 10, 120, 300, 2999] is 10.
DURATIONS = [120, 2999, 0, 0, 9, 10, 300]
EXPECTED = {
    "as_of": "2026-06-01T00:00:00Z",
    "from": "2026-05-01T00:00:00Z",
    "to": "2026-06-01T00:00:00Z",
    "sessions": 7,
    # a session's person is its first event's: ann (s1 on two distinct_ids, her two lone
    # sessions), bob (s2, s3, s4), cat (s6): 7 sessions of 3 users
    "users": 3,
    "sessions_per_user": 2.33,
    "mean_seconds": round(sum(DURATIONS) / 7, 1),
    "median_seconds": 10.0,
    # with a pageview: s1, ann's 12:00, s2, s3, s4; bounces s2, s3
    "bounce_rate": 40.0,
    "buckets": [
        {"bucket": "0-30s", "sessions": 4},  # 13:19:59, s2, s3, s4
        {"bucket": "30s-2m", "sessions": 0},
        {"bucket": "2m-5m", "sessions": 1},  # s1 (120 s)
        {"bucket": "5m-15m", "sessions": 1},  # s6 (300 s)
        {"bucket": "15m-30m", "sessions": 0},
        {"bucket": "30m+", "sessions": 1},  # ann's 12:00 (2999 s)
    ],
    # entries: s1 /, 12:00 /docs, s2 /pricing, s3 /, s4 /blog, s6 /app (13:19:59 has no URL).
    # Bounce rate per entry page, PostHog's web analytics "entry page" table
    # (posthog/hogql_queries/web_analytics/stats_table.py, to_entry_bounce_query: avg of the
    # session's $is_bounce by $entry_pathname): / is s1 (no bounce) and s3 (a bounce): 50 %;
    # /app is s6, no pageview: none
    "entry_pages": [
        {"page": "/", "sessions": 2, "users": 2, "bounce_rate": 50.0},
        {"page": "/app", "sessions": 1, "users": 1, "bounce_rate": None},
        {"page": "/blog", "sessions": 1, "users": 1, "bounce_rate": 0.0},
        {"page": "/docs", "sessions": 1, "users": 1, "bounce_rate": 0.0},
        {"page": "/pricing", "sessions": 1, "users": 1, "bounce_rate": 100.0},
    ],
    # exits: s1 /pricing, 12:00 /docs/api, s2 /pricing, s3 / (its last event has no URL), s4
    # /blog, s6 /app. Time before exit: the mean duration of the sessions that left there,
    # /pricing (120 + 0) / 2 = 60
    "exit_pages": [
        {"page": "/pricing", "sessions": 2, "users": 2, "seconds_before_exit": 60.0},
        {"page": "/", "sessions": 1, "users": 1, "seconds_before_exit": 9.0},
        {"page": "/app", "sessions": 1, "users": 1, "seconds_before_exit": 300.0},
        {"page": "/blog", "sessions": 1, "users": 1, "seconds_before_exit": 10.0},
        {"page": "/docs/api", "sessions": 1, "users": 1, "seconds_before_exit": 2999.0},
    ],
    # each session's first event: s1 US Desktop Chrome, 12:00 FR Mobile Safari, 13:19:59 none,
    # s2 and s3 DE Desktop Firefox, s4 DE Mobile Chrome, s6 US Desktop Chrome. Users: DE's 3
    # sessions are all bob's; US is ann (s1) and cat (s6)
    "by": {
        "device_type": [{"value": "Desktop", "sessions": 4, "users": 3},
                        {"value": "Mobile", "sessions": 2, "users": 2},
                        {"value": None, "sessions": 1, "users": 1}],
        "browser": [{"value": "Chrome", "sessions": 3, "users": 3},
                    {"value": "Firefox", "sessions": 2, "users": 1},
                    {"value": "Safari", "sessions": 1, "users": 1},
                    {"value": None, "sessions": 1, "users": 1}],
        "country": [{"value": "DE", "sessions": 3, "users": 1},
                    {"value": "US", "sessions": 2, "users": 2},
                    {"value": "FR", "sessions": 1, "users": 1},
                    {"value": None, "sessions": 1, "users": 1}],
    },
}  # fmt: skip


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


cli = partial(run_ok, "sessions", as_of=AS_OF)
cli_json = partial(run_json, "sessions", as_of=AS_OF)


def test_sessions_through_the_cli(export: Path) -> None:
    assert cli_json(RANGE, USERTRACK_EVENTS=str(export)) == EXPECTED


def test_top_keeps_the_first_values(export: Path) -> None:
    doc = cli_json([*RANGE, "--top", "1"], USERTRACK_EVENTS=str(export))
    assert doc["entry_pages"] == [EXPECTED["entry_pages"][0]]
    assert doc["by"]["country"] == [{"value": "DE", "sessions": 3, "users": 1}]
    assert doc["sessions"] == 7  # the totals are not cut


def test_a_range_of_one_afternoon(export: Path) -> None:
    # May 10 from 12:30: ann's lone events 12:49:59 (a session of its own now) and 13:19:59
    # (30:00 later: another), s3 (9 s) and s4 (10 s); s6 runs 20:00-20:05.
    doc = cli_json(["--since", "2026-05-10T12:30:00", "--until", "2026-05-10"],
                   USERTRACK_EVENTS=str(export))  # fmt: skip
    assert doc["sessions"] == 5
    assert doc["median_seconds"] == 9.0
    # with a pageview: 12:49:59 (a bounce: one pageview, 0 s), s3 (a bounce), s4
    assert doc["bounce_rate"] == round(100 * 2 / 3, 1)


def test_same_answers_through_the_live_http_path(export: Path, tmp_path: Path) -> None:
    # (paging past PostHog's row caps: tests/engines/test_posthog_http.py runs every query file
    # paged)
    with live_posthog(export, tmp_path) as (fake, env):
        live = cli_json(RANGE, **env)
        sent = fake.query_texts()
    assert live == EXPECTED
    assert any("session_id" in t for t in sent)  # it went through the HTTP API


def test_table_csv_and_md(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    table = cli(RANGE, **env).stdout
    assert "Bounce rate" in table and "40.0%" in table and "/docs/api" in table
    csv_lines = cli([*RANGE, "-f", "csv"], **env).stdout.splitlines()
    assert csv_lines[0] == "dimension,value,sessions,users,bounce_rate,seconds_before_exit"
    assert "all,,7,3,," in csv_lines and "bucket,0-30s,4,,," in csv_lines
    assert "device_type,,1,1,," in csv_lines  # the session without a device
    assert "entry_page,/,2,2,50.0," in csv_lines and "exit_page,/pricing,2,2,,60.0" in csv_lines
    md = cli([*RANGE, "-f", "md"], **env).stdout
    assert "| Bounce rate | 40.0% |" in md and "| Sessions per user | 2.33 |" in md
    assert "| / | 2 | 28.6% | 2 | 50.0% |" in md  # entry /: 2 users, half bounced
    assert "| /pricing | 2 | 28.6% | 2 | 1m |" in md  # exit /pricing: 60 s before exit
    assert "| 0-30s | 4 | 57.1% |" in md  # 4 of 7
    assert "| \\(none\\) | 1 | 14.3% |" in md  # escaped: "(none)" is ours, not data


def test_page_names_are_data_not_markdown(tmp_path: Path) -> None:
    evil = "/x|[a](http://e.example)<b>"
    rec = record(1, "$pageview", at(10), "e1", "p1", "ann@example.com",
                 props("s9", evil, DESKTOP_US))  # fmt: skip
    path = write_export(tmp_path / "evil.jsonl", [rec])
    md = cli([*RANGE, "-f", "md"], USERTRACK_EVENTS=str(path)).stdout
    assert "[a](http" not in md and "<b>" not in md.replace("\\<b>", "")
    assert "\\|" in md  # the table's cell separator is escaped


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--days", "3", "--since", "2026-05-01"], "--days and --since"),
        (["--since", "May"], "--since 'May' is not a date"),
        (["--top", "0"], "--top"),
        (["--since", "2026-06-05"], "--since 2026-06-05 is after"),
    ],
)
def test_bad_input_exits_2_with_one_line(export: Path, args: list[str], fragment: str) -> None:
    argv = ["sessions", *args, "--as-of", AS_OF]
    assert_usage_error(argv, fragment, USERTRACK_EVENTS=str(export))


def test_sessions_core_does_not_import_rich_or_typer() -> None:
    assert_imports_no_terminal_libraries(
        "usertrack.analytics.sessions.run",
        "usertrack.analytics.paths.run",
        "usertrack.analytics.paths.render",
        "usertrack.analytics.sessions.render",
    )


def test_persons_are_counted_as_texts_when_two_share_a_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lists count each session's person as a number; were two persons given one number,
    they count the texts: the same answer."""
    import duckdb

    from usertrack.analytics.sessions import run as sessions_mod

    rows = [  # (session, person, start, seconds, page, browser)
        ("s1", "p1", at(10), 20, "/", "Chrome"),
        ("s2", "p2", at(11), 200, "/", "Chrome"),
        ("s3", "p2", at(12), 40, "/pricing", "Firefox"),
        ("s4", "p3", at(13), 5, "/", "Chrome"),
        ("s5", None, at(14), 5, "/", "Chrome"),
    ]

    def summarized() -> dict[str, Any]:
        con = duckdb.connect()
        try:
            columns = ", ".join(f"{c} {t}" for c, t in sessions_mod.SCHEMA.items())
            con.execute(f"CREATE TEMP TABLE facts ({columns})")
            for session, person, start, seconds, path, browser in rows:
                con.execute(
                    "INSERT INTO facts VALUES (?, ?, ?, ?, ?, 1, 0, ?, ?, 'Desktop', ?, 'DE')",
                    [session, session, person, start, start + timedelta(seconds=seconds), path,
                     path, browser],
                )  # fmt: skip
            return sessions_mod.summarize(con)
        finally:
            con.close()

    as_numbers = summarized()
    assert as_numbers["users"] == 3
    assert [(r.value, r.sessions, r.users) for r in as_numbers["entry_pages"]] == [
        ("/", 4, 3),
        ("/pricing", 1, 1),
    ]
    monkeypatch.setattr(sessions_mod, "_PERSON_KEY", "0")  # every person the same number
    assert summarized() == as_numbers
