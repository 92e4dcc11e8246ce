"""`--segment`, `--by-segment` and `--persons CELL` on sessions, features and churn, on a
hand-made workspace whose every person's segment is known, locally and over the live HTTP path
(the tests' PostHog server, ClickHouse).

The app's database has three accounts; the rules are `spender` (credits < 50) before `trial`
(credits < 100), as in test_by_segment. As of 2026-06-04 12:00, each person has one session
(its events share a $session_id), over 2026-06-01 to 2026-06-03:
- pa, a@x.io, credits 10 -> spender: 06-01 09:00 to 09:03 (3 min: 2m-5m), /home then /pricing,
  Chrome, US; feature_used export and editor in it.
- pb, b@x.io, credits 80 -> trial: 06-02 10:00, one pageview of /home (0-30s), Firefox, DE;
  feature_used export 10:00:05 in it.
- pc, c@x.io, credits 100 -> no segment: 06-03 09:00 to 09:20 (15m-30m), /docs then /home,
  Chrome, US; feature_used editor.
- pd, d@x.io, PostHog only -> no account: 06-02 08:00 to 08:01 (30s-2m), /home, Safari, FR;
  feature_used export.
- px, anonymous -> no account: 06-03 11:00, one pageview of /pricing, Chrome, US.
- z@datagen.dev: internal, never counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import assert_usage_error, live_posthog, record, run_json, write_export
from tests.cli_runner import run
from tests.engine_compare import strip_live_only
from tests.segmented import AS_OF, GROUPS, RANGE, accounts_database, segmented_env

ACCOUNTS = """
INSERT INTO wasp_user VALUES (1, 'a@x.io', 10, 'active', NULL, '2026-05-01');
INSERT INTO wasp_user VALUES (2, 'b@x.io', 80, 'trialing', NULL, '2026-05-02');
INSERT INTO wasp_user VALUES (3, 'c@x.io', 100, NULL, NULL, '2026-05-03');
"""


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, second, tzinfo=UTC)


def page(path: str, session: str, browser: str, country: str) -> dict[str, Any]:
    url = f"https://x.io{path}"
    return {"$session_id": session, "$pathname": path, "$current_url": url, "$browser": browser,
            "$geoip_country_code": country, "$device_type": "Desktop"}  # fmt: skip


def used(feature: str, session: str) -> dict[str, Any]:
    return {"$session_id": session, "feature": feature}


# (event, when, person, email on the event, properties)
EVENTS: list[tuple[str, datetime, str, str, dict[str, Any]]] = [
    ("$pageview", at(1, 9), "pa", "a@x.io", page("/home", "s-a", "Chrome", "US")),
    ("feature_used", at(1, 9, 1), "pa", "a@x.io", used("export", "s-a")),
    ("feature_used", at(1, 9, 2), "pa", "a@x.io", used("editor", "s-a")),
    ("$pageview", at(1, 9, 3), "pa", "a@x.io", page("/pricing", "s-a", "Chrome", "US")),
    ("$pageview", at(2, 10), "pb", "b@x.io", page("/home", "s-b", "Firefox", "DE")),
    ("feature_used", at(2, 10, 0, 5), "pb", "b@x.io", used("export", "s-b")),
    ("$pageview", at(3, 9), "pc", "c@x.io", page("/docs", "s-c", "Chrome", "US")),
    ("feature_used", at(3, 9, 10), "pc", "c@x.io", used("editor", "s-c")),
    ("$pageview", at(3, 9, 20), "pc", "c@x.io", page("/home", "s-c", "Chrome", "US")),
    ("$pageview", at(2, 8), "pd", "d@x.io", page("/home", "s-d", "Safari", "FR")),
    ("feature_used", at(2, 8, 1), "pd", "d@x.io", used("export", "s-d")),
    ("$pageview", at(3, 11), "px", "", page("/pricing", "s-x", "Chrome", "US")),
    ("$pageview", at(2, 12), "pz", "z@datagen.dev", page("/home", "s-z", "Chrome", "US")),
]
MEMBERS = {
    "spender": {"pa"},
    "trial": {"pb"},
    "no segment": {"pc"},
    "no account": {"pd", "px"},
}
EMAILS = {"pa": "a@x.io", "pb": "b@x.io", "pc": "c@x.io", "pd": "d@x.io", "px": ""}

SESSIONS = ["sessions", *RANGE]
FEATURES = ["features", "--days", "4"]
CHURN = ["churn", "--period", "day", "--periods", "4", "--horizon", "2"]


def records(persons: set[str] | None = None) -> list[dict[str, Any]]:
    """The events of `persons` (everyone's: None) as an export's records."""
    return [
        record(n, e, when, pid, pid, email, props)
        for n, (e, when, pid, email, props) in enumerate(EVENTS, 1)
        if persons is None or pid in persons or pid == "pz"
    ]


@pytest.fixture()
def db(make_database: Callable[[str], str]) -> str:
    return accounts_database(make_database, ACCOUNTS)


@pytest.fixture()
def env(tmp_path: Path, db: str) -> dict[str, str]:
    return segmented_env(tmp_path, db, records())


def answer(args: list[str], **env: str) -> dict[str, Any]:
    return run_json(args[0], args[1:], as_of=AS_OF, **env)


def without_cut(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("segment", "who", "by_segment")}


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("command", [SESSIONS, FEATURES, CHURN], ids=lambda c: c[0])
def test_a_segments_answer_is_the_answer_over_its_persons_alone(
    command: list[str], group: str, env: dict[str, str], tmp_path: Path
) -> None:
    """--segment's answer is the same command's over an export of that group's persons'
    events alone (and the internal person's, left out either way)."""
    cut = answer([*command, "--segment", group], **env)
    assert cut["segment"] == group
    alone = write_export(tmp_path / f"{group}.jsonl", records(MEMBERS[group]))
    plain = answer(command, **{**env, "USERTRACK_EVENTS": str(alone)})
    assert without_cut(cut) == plain


def test_the_segments_figures_are_the_worked_out_ones(env: dict[str, str]) -> None:
    sessions = answer([*SESSIONS, "--segment", "no account"], **env)
    assert (sessions["sessions"], sessions["users"]) == (2, 2)  # pd's and px's
    assert [p["page"] for p in sessions["entry_pages"]] == ["/home", "/pricing"]
    features = answer([*FEATURES, "--segment", "spender"], **env)
    assert {f["feature"]: f["persons"] for f in features["features"]} == {"editor": 1, "export": 1}
    assert features["active_persons"] == 1
    churn = answer([*CHURN, "--segment", "trial"], **env)
    assert churn["engagement"]["scored"] == 1


def _sessions_sums(doc: dict[str, Any]) -> tuple[int, int]:
    return doc["sessions"], doc["users"]


def _features_sums(doc: dict[str, Any]) -> dict[str, int]:
    found = {f["feature"]: f["persons"] for f in doc["features"]}
    return {"active": doc["active_persons"], **found}


def _churn_sums(doc: dict[str, Any]) -> dict[str, int]:
    bands = {b["band"]: b["persons"] for b in doc["engagement"]["distribution"]}
    return {"scored": doc["engagement"]["scored"], "at_risk": doc["at_risk"]["persons"],
            "left": doc["lifetime"]["left"], **bands}  # fmt: skip


SUMS: dict[str, tuple[list[str], Callable[[dict[str, Any]], Any]]] = {
    "sessions": (SESSIONS, _sessions_sums),
    "features": (FEATURES, _features_sums),
    "churn": (CHURN, _churn_sums),
}


def _added(parts: list[Any]) -> Any:
    if isinstance(parts[0], tuple):
        return tuple(sum(p[i] for p in parts) for i in range(len(parts[0])))
    keys = {k for p in parts for k in p}
    return {k: sum(p.get(k, 0) for p in parts) for k in keys}


@pytest.mark.parametrize("command", sorted(SUMS))
def test_by_segment_groups_add_up_to_the_whole(command: str, env: dict[str, str]) -> None:
    """Every person is in exactly one group, so what counts persons or their sessions adds up
    over the groups; each group's is its --segment answer."""
    args, sums = SUMS[command]
    doc = answer([*args, "--by-segment"], **env)
    assert [p["segment"] for p in doc["by_segment"]] == GROUPS
    parts = [sums({**doc, **p}) for p in doc["by_segment"]]
    whole = sums(doc)
    added = _added(parts)
    if isinstance(whole, dict):
        whole = {k: v for k, v in whole.items() if v or added.get(k)}
        added = {k: v for k, v in added.items() if v or whole.get(k)}
    assert added == whole
    alone = answer([*args, "--segment", "trial"], **env)
    assert sums(alone) == parts[GROUPS.index("trial")]


def _people(args: list[str], **env: str) -> tuple[int, set[str], dict[str, Any]]:
    doc = answer(args, **env)
    emails = {p["email"] for p in doc["persons"]}
    assert doc["count"] == len(doc["persons"])
    return doc["count"], emails, doc


# (command, cell, the figure of the answer it is the persons of, or None, and their emails)
CELLS: list[tuple[list[str], str, Callable[[dict[str, Any]], int] | None, set[str]]] = [
    (SESSIONS, "users", lambda d: d["users"], {"a@x.io", "b@x.io", "c@x.io", "d@x.io", ""}),
    (SESSIONS, "country:US", lambda d: d["by"]["country"][0]["users"], {"a@x.io", "c@x.io", ""}),
    (SESSIONS, "entry_page:/home",
     lambda d: d["entry_pages"][0]["users"], {"a@x.io", "b@x.io", "d@x.io"}),
    (SESSIONS, "browser:Firefox", lambda d: d["by"]["browser"][1]["users"], {"b@x.io"}),
    (SESSIONS, "2m-5m", None, {"a@x.io"}),
    (SESSIONS, "15m-30m", None, {"c@x.io"}),
    (FEATURES, "export", lambda d: d["features"][0]["persons"], {"a@x.io", "b@x.io", "d@x.io"}),
    (FEATURES, "editor", lambda d: d["features"][1]["persons"], {"a@x.io", "c@x.io"}),
    (CHURN, "left", lambda d: d["lifetime"]["left"], set()),
]  # fmt: skip


@pytest.mark.parametrize(("command", "cell", "figure", "emails"), CELLS,
                         ids=[f"{c[0]}-{cell}" for c, cell, _, _ in CELLS])  # fmt: skip
def test_persons_lists_exactly_the_persons_a_cell_counts(
    command: list[str],
    cell: str,
    figure: Callable[[dict[str, Any]], int] | None,
    emails: set[str],
    env: dict[str, str],
) -> None:
    count, found, doc = _people([*command, "--persons", cell], **env)
    assert found == emails and count == len(emails)
    assert doc["command"] == command[0] and doc["cell"] == cell
    if figure is not None:
        assert figure(answer(command, **env)) == count


def test_churns_cells_are_its_bands_and_at_risk(env: dict[str, str]) -> None:
    """Each band's persons are as many as the distribution says, and make up the scored;
    at-risk's are as many as the at-risk figure."""
    doc = answer(CHURN, **env)
    scored: set[str] = set()
    for band in doc["engagement"]["distribution"]:
        count, emails, _ = _people([*CHURN, "--persons", band["band"]], **env)
        assert count == band["persons"]
        assert not scored & emails
        scored |= emails
    assert len(scored) == doc["engagement"]["scored"] == 4  # every person with an email
    count, emails, _ = _people([*CHURN, "--persons", "at-risk"], **env)
    assert count == doc["at_risk"]["persons"] and emails <= scored


def test_persons_of_a_segment_are_the_cells_persons_in_it(env: dict[str, str]) -> None:
    args = [*FEATURES, "--persons", "export", "--segment", "no account"]
    count, emails, _ = _people(args, **env)
    assert emails == {"d@x.io"} and count == 1
    count, emails, _ = _people([*SESSIONS, "--persons", "users", "--segment", "trial"], **env)
    assert emails == {"b@x.io"}


def test_segment_says_how_many_persons_it_kept(env: dict[str, str]) -> None:
    for command in (SESSIONS, FEATURES, CHURN):
        result = run([*command, "--segment", "trial", "--as-of", AS_OF, "-f", "json"], **env)
        assert result.exit_code == 0, result.stderr
        assert "--segment trial kept 1 person of its 1 user, of 3 persons with an app account" in (
            result.stderr
        )


@pytest.mark.parametrize("command", [SESSIONS, FEATURES, CHURN], ids=lambda c: c[0])
def test_every_format_shows_the_segments(command: list[str], env: dict[str, str]) -> None:
    args = [*command, "--as-of", AS_OF]
    csv = run([*args, "--by-segment", "-f", "csv"], **env)
    assert csv.exit_code == 0, csv.stderr
    lines = csv.stdout.splitlines()
    assert lines[0].startswith("segment,")
    assert {line.split(",")[0] for line in lines[1:]} <= set(GROUPS)
    md = run([*args, "--by-segment", "-f", "md"], **env)
    assert md.exit_code == 0, md.stderr
    assert "By segment: Spenders, Trial users, no segment, no account" in md.stdout
    assert "\n## Segment: Trial users\n" in md.stdout
    table = run([*args, "--segment", "trial"], **env)
    assert table.exit_code == 0 and table.stdout.startswith("Segment: Trial users"), table.stderr
    html = run([*args, "--segment", "trial", "-f", "html"], **env)
    assert html.exit_code == 0 and html.stdout.lstrip().lower().startswith("<!doctype html")
    cell = CELL_OF.get(command[0]) or _scored_band(env)
    people = run([*args, "--persons", cell], **env)
    assert people.exit_code == 0 and "`usertrack user EMAIL`" in people.stdout, people.stderr
    shown = run([*args, "--persons", cell, "-f", "csv"], **env)
    hidden = run([*args, "--persons", cell, "-f", "csv", "--anonymize"], **env)
    assert shown.exit_code == hidden.exit_code == 0, hidden.stderr
    assert "@x.io" in shown.stdout and "@x.io" not in hidden.stdout
    assert len(shown.stdout.splitlines()) == len(hidden.stdout.splitlines()) > 1


CELL_OF = {"sessions": "users", "features": "export"}


def _scored_band(env: dict[str, str]) -> str:
    """A band of churn's distribution with persons in it."""
    bands = answer(CHURN, **env)["engagement"]["distribution"]
    return str(next(b["band"] for b in bands if b["persons"]))


def test_the_same_over_the_live_http_path(env: dict[str, str], tmp_path: Path) -> None:
    """On PostHog (ClickHouse) as on the local engine: a segment, every segment, a cell."""
    asks = [
        [*SESSIONS, "--by-segment"],
        [*SESSIONS, "--segment", "no account"],
        [*SESSIONS, "--persons", "country:US"],
        [*FEATURES, "--by-segment"],
        [*FEATURES, "--persons", "export", "--segment", "spender"],
        [*CHURN, "--by-segment"],
        [*CHURN, "--persons", _scored_band(env)],
    ]
    local = [answer(args, **env) for args in asks]
    with live_posthog(Path(env["USERTRACK_EVENTS"]), tmp_path) as (_fake, live_env):
        live_env = {**live_env, "DATABASE_URL": env["DATABASE_URL"],
                    "USERTRACK_SEGMENTS": env["USERTRACK_SEGMENTS"]}  # fmt: skip
        live = [answer(args, **live_env) for args in asks]
    assert strip_live_only(live) == strip_live_only(local)


def test_a_live_by_segment_groups_sessions_come_from_everyones_facts(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Live, each group's sessions are its persons' rows of everyone's sessions, fetched once:
    no group's list of persons is sent for them (nor a query a group)."""
    with live_posthog(Path(env["USERTRACK_EVENTS"]), tmp_path) as (fake, live_env):
        live_env = {**live_env, "DATABASE_URL": env["DATABASE_URL"],
                    "USERTRACK_SEGMENTS": env["USERTRACK_SEGMENTS"]}  # fmt: skip
        answer([*SESSIONS, "--by-segment"], **live_env)
        posts = [r["body"]["query"] for r in fake.requests if r["method"] == "POST" and r["body"]]
    sessions = [q for q in posts if "$session_id" in q["query"]]
    assert sessions and not [q for q in sessions if "usertrack_segment_persons" in q["query"]]
    assert len(sessions) == 2  # the whole answer's figures, everyone's sessions


def test_a_live_segment_too_long_for_a_list_counts_everyones_sessions(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live, a segment's sessions are counted by PostHog with its persons bound as a list while
    the list is short (by_segment.MAX_LISTED); past it (here lowered to 1 id) everyone's
    sessions come once and the segment's persons' are counted: no list is sent, and the answer
    is the local engine's."""
    from usertrack.analytics import by_segment

    args = [*SESSIONS, "--segment", "no account"]  # pd and px: 2 ids
    local = answer(args, **env)
    with live_posthog(Path(env["USERTRACK_EVENTS"]), tmp_path) as (fake, live_env):
        live_env = {**live_env, "DATABASE_URL": env["DATABASE_URL"],
                    "USERTRACK_SEGMENTS": env["USERTRACK_SEGMENTS"]}  # fmt: skip
        short = answer([*SESSIONS, "--segment", "trial"], **live_env)
        listed = [r["body"]["name"] for r in fake.requests if r["method"] == "POST" and r["body"]]
        monkeypatch.setattr(by_segment, "MAX_LISTED", 1)
        fake.requests.clear()
        live = answer(args, **live_env)
        posts = [r["body"] for r in fake.requests if r["method"] == "POST" and r["body"]]
    assert "usertrack posthog/session_summary" in listed and short["users"] == 1
    names = [b["name"] for b in posts]
    assert "usertrack posthog/session_facts" in names, names
    assert "usertrack posthog/session_summary" not in names
    assert not [b for b in posts if "usertrack_segment_persons" in json.dumps(b)]
    assert strip_live_only(live) == strip_live_only(local)


def test_bad_input(env: dict[str, str]) -> None:
    for command in (SESSIONS, FEATURES, CHURN):
        args = [*command, "--as-of", AS_OF]
        assert_usage_error([*args, "--segment", "trail"], "did you mean 'trial'", **env)
        assert_usage_error([*args, "--segment", "trial", "--by-segment"], "do not go together",
                           **env)  # fmt: skip
        assert_usage_error([*args, "--persons", "nope"], "is no cell of this", **env)
        assert_usage_error([*args, "--persons", CELL_OF.get(command[0], "left"), "--by-segment"],
                           "--persons and --by-segment do not go together", **env)  # fmt: skip
    assert_usage_error(["sessions", "--pages", "--segment", "trial"], "do not go together", **env)
    assert_usage_error(["sessions", "--pages", "--by-segment"], "do not go together", **env)
    # a cell churn does not have is refused before anything is read, naming those it has
    result = run(["churn", "--persons", "20-30"], **{k: v for k, v in env.items()
                                                    if k != "DATABASE_URL"})  # fmt: skip
    assert result.exit_code == 2 and "0-19, 20-39" in result.stderr


def test_a_dashboard_panel_takes_the_cuts(env: dict[str, str], tmp_path: Path) -> None:
    board = tmp_path / "board.yaml"
    board.write_text(
        "title: Cuts\nperiod: week\npanels:\n"
        "  - {analysis: sessions, title: Trial sessions, segment: trial}\n"
        "  - {analysis: features, title: Features by segment, by_segment: true, days: 4}\n"
        "  - {analysis: churn, title: Low scores, persons: 0-19}\n",
        encoding="utf-8",
    )
    result = run(["-q", "report", str(board), "-f", "json", "--out", "-", "--as-of", AS_OF], **env)
    assert result.exit_code == 0, result.stderr
    sessions, features, churn = (p["data"] for p in json.loads(result.stdout)["panels"])
    assert sessions["segment"] == "trial" and sessions["users"] == 1
    assert [p["segment"] for p in features["by_segment"]] == GROUPS
    assert churn["command"] == "churn" and churn["cell"] == "0-19"
