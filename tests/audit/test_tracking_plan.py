"""The tracking-plan audit on a hand-made events export: library, CLI and the live HTTP path.

The export is JSON lines imported through USERTRACK_EVENTS (as tests/engines/test_eventstore.py
does); the live path serves the same events from tests/posthog_server.py over real HTTP. Every
expected figure is worked out here from the records, never typed in.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import assert_imports_no_terminal_libraries
from tests.cli_runner import run
from tests.posthog_server import DEFAULT_KEY, serve
from usertrack.audit.tracking_plan import (
    TrackingPlanError,
    closest_planned,
    load_tracking_plan,
    normalise_name,
    run_audit,
)
from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
from usertrack.core.errors import EXIT_COVERAGE, EXIT_USAGE
from usertrack.workspace import open_workspace

REPO = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 30
INTERNAL = "@datagen.dev"  # the shipped segments.yaml's exclude: domain

PLAN = """\
naming:
  pattern: '^[a-z][a-z0-9]*(_[a-z0-9]+)+$'
tiers:
  critical: Critical funnel
  engagement: Engagement
events:
  signed_up:
    tier: critical
    description: An account was created.
    source: backend
    required:
      method: {type: string, allowed: [github, email]}
  project_created:
    tier: critical
    description: A project was created.
    source: backend
    required:
      item_count: number
  invite_accepted:
    tier: critical
    description: An invitation was accepted.
    source: backend
  report_exported:
    tier: engagement
    description: A report was exported.
    source: backend
    required:
      format: string
  chart_viewed:
    tier: engagement
    description: A chart was viewed.
    source: frontend
    required:
      chart: string
    optional:
      zoomed: boolean
person_properties:
  required:
    email: string
    role: string
"""

ANN = {"email": "ann@acme.io", "role": "admin"}
BOB = {"email": "bob@beta.io"}
EVE = {"email": "eve@datagen.dev", "role": "member"}


def _event(
    n: int,
    event: str,
    when: datetime,
    distinct_id: str,
    person_id: str,
    props: dict[str, Any],
    person: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "uuid": f"00000000-0000-0000-0000-{n:012d}",
        "event": event,
        "distinct_id": distinct_id,
        "person_id": person_id,
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "properties": props,
        "person_properties": person,
    }


def _records() -> list[dict[str, Any]]:
    day = AS_OF - timedelta(days=10)  # inside the current period
    prev = AS_OF - timedelta(days=40)  # inside the previous period
    rows = [
        # ann: identified, two distinct_ids
        ("signed_up", day, "d-ann", "p-ann", {"method": "github"}, ANN),
        ("project_created", day + timedelta(minutes=1), "d-ann", "p-ann", {"item_count": 3}, ANN),
        ("chart_viewed", day + timedelta(hours=1), "d-ann", "p-ann", {"chart": "funnel"}, ANN),
        ("chart_viewed", day + timedelta(days=2), "d-ann-phone", "p-ann",
         {"chart": "retention", "zoomed": True}, ANN),
        ("Page Loaded", day + timedelta(days=2), "d-ann-phone", "p-ann", {}, ANN),
        # bob: a value outside the allowed set, a number sent as a string, a missing property
        ("signed_up", day + timedelta(days=3), "d-bob", "p-bob", {"method": "GitHub"}, BOB),
        ("project_created", day + timedelta(days=3), "d-bob", "p-bob", {"item_count": "7"}, BOB),
        ("chart_viewed", day + timedelta(days=4), "d-bob", "p-bob", {}, BOB),
        # an anonymous visitor: a typo'd signup event, pageviews, and a name that is markup
        ("signedUp", day + timedelta(days=5), "d-anon", "p-anon", {}, None),
        ("signedUp", day + timedelta(days=6), "d-anon", "p-anon", {}, None),
        ("chart_viewed", day + timedelta(days=5), "d-anon", "p-anon", {"chart": "funnel"}, None),
        ("$pageview", day + timedelta(days=5), "d-anon", "p-anon", {"$pathname": "/"}, None),
        ("$pageview", day + timedelta(days=6), "d-anon", "p-anon", {"$pathname": "/a"}, None),
        ("$pageview", day + timedelta(days=7), "d-anon", "p-anon", {"$pathname": "/b"}, None),
        ("[red]oops[/red]", day + timedelta(days=7), "d-anon", "p-anon", {}, None),
        # an internal account: left out of the plan's figures, counted as internal
        ("signed_up", day + timedelta(days=1), "d-eve", "p-eve", {"method": "email"}, EVE),
        ("chart_viewed", day + timedelta(days=1), "d-eve", "p-eve", {"chart": "x"}, EVE),
        # the previous period: a signup, and invite_accepted, which has stopped since
        ("signed_up", prev, "d-bob", "p-bob", {"method": "email"}, BOB),
        ("invite_accepted", prev + timedelta(days=1), "d-ann", "p-ann", {}, ANN),
        # before both periods: not looked at
        ("report_exported", AS_OF - timedelta(days=70), "d-ann", "p-ann", {"format": "csv"}, ANN),
    ]  # fmt: skip
    return [_event(i, *row) for i, row in enumerate(rows, start=1)]


RECORDS = _records()


def _ts(r: dict[str, Any]) -> datetime:
    return datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _internal(r: dict[str, Any]) -> bool:
    return (r["person_properties"] or {}).get("email", "").endswith(INTERNAL)


def current(name: str | None = None, *, internal: bool = False) -> list[dict[str, Any]]:
    lo = AS_OF - timedelta(days=DAYS)
    return [
        r
        for r in RECORDS
        if lo < _ts(r) <= AS_OF
        and (name is None or r["event"] == name)
        and (internal or not _internal(r))
    ]


def previous(name: str) -> list[dict[str, Any]]:
    lo, hi = AS_OF - timedelta(days=2 * DAYS), AS_OF - timedelta(days=DAYS)
    return [r for r in RECORDS if lo < _ts(r) <= hi and r["event"] == name and not _internal(r)]


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return path


@pytest.fixture()
def plan_path(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    return path


@pytest.fixture(autouse=True)
def _no_plan_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("USERTRACK_TRACKING_PLAN", raising=False)


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1)


def check_audit(doc: dict[str, Any]) -> None:
    """The whole worked-out audit, on the JSON document (library and CLI give the same)."""
    plan = load_tracking_plan_text()
    seen = [e for e in plan if current(e)]
    # coverage: planned events seen in the current period, overall and per tier
    assert doc["coverage"]["planned"] == len(plan)
    assert doc["coverage"]["seen"] == len(seen)
    assert doc["coverage"]["percent"] == _pct(len(seen), len(plan))
    tiers = {t["tier"]: t for t in doc["coverage"]["tiers"]}
    for tier, names in (
        ("critical", ["signed_up", "project_created", "invite_accepted"]),
        ("engagement", ["report_exported", "chart_viewed"]),
    ):
        hit = sum(1 for n in names if current(n))
        assert (tiers[tier]["planned"], tiers[tier]["seen"]) == (len(names), hit)
        assert tiers[tier]["percent"] == _pct(hit, len(names))

    events = {e["event"]: e for e in doc["events"]}
    # volume, people, first and last seen, trend against the previous period
    for name in ("signed_up", "project_created", "chart_viewed"):
        rows = current(name)
        e = events[name]
        assert e["status"] == "seen"
        assert e["events"] == len(rows)
        assert e["persons"] == len({r["person_id"] for r in rows})
        assert e["first_seen"] == min(r["timestamp"] for r in rows)
        assert e["last_seen"] == max(r["timestamp"] for r in rows)
        before = len(previous(name))
        assert e["previous_events"] == before
        assert e["trend_percent"] == (_pct(len(rows) - before, before) if before else None)

    def prop(event: str, name: str) -> dict[str, Any]:
        return next(p for p in events[event]["properties"] if p["property"] == name)

    # fill rates
    chart = current("chart_viewed")
    filled = sum(1 for r in chart if r["properties"].get("chart"))
    assert prop("chart_viewed", "chart")["filled"] == filled < len(chart)
    assert prop("chart_viewed", "chart")["fill_percent"] == _pct(filled, len(chart))
    zoomed = sum(1 for r in chart if "zoomed" in r["properties"])
    assert prop("chart_viewed", "zoomed")["filled"] == zoomed
    assert prop("chart_viewed", "zoomed")["sent_as"] == {"boolean": zoomed}
    # a number sent as a string
    counts = [r["properties"]["item_count"] for r in current("project_created")]
    as_text = sum(1 for c in counts if isinstance(c, str))
    item = prop("project_created", "item_count")
    assert item["type_mismatches"] == item["numbers_sent_as_strings"] == as_text == 1
    assert item["sent_as"] == {"number": len(counts) - as_text, "string": as_text}
    # a value outside the allowed set
    methods = [r["properties"]["method"] for r in current("signed_up")]
    outside = [m for m in methods if m not in ("github", "email")]
    method = prop("signed_up", "method")
    assert method["outside_allowed"] == len(outside) == 1
    assert method["outside_values"] == [{"value": outside[0], "events": 1}]
    assert method["type_mismatches"] == 0

    # stopped and missing
    assert [s["event"] for s in doc["stopped"]] == ["invite_accepted"]
    assert doc["stopped"][0]["previous_events"] == len(previous("invite_accepted"))
    assert doc["stopped"][0]["previous_last_seen"] == previous("invite_accepted")[0]["timestamp"]
    assert doc["missing"] == ["report_exported"]  # sent 70 days ago only: in neither period
    assert events["report_exported"]["status"] == "missing"

    # unplanned, by volume, with the closest planned name; naming
    unplanned_names = {r["event"] for r in current()} - set(plan)
    volume = {n: len(current(n)) for n in unplanned_names}
    expected_order = sorted(unplanned_names, key=lambda n: (-volume[n], n))
    assert [u["event"] for u in doc["unplanned"]] == expected_order
    typo = next(u for u in doc["unplanned"] if u["event"] == "signedUp")
    assert typo["events"] == volume["signedUp"]
    assert typo["closest_planned"] == "signed_up" and typo["similarity"] == 1.0
    pageview = next(u for u in doc["unplanned"] if u["event"] == "$pageview")
    assert pageview["breaks_naming"] is False  # PostHog's own events are exempt
    assert sorted(doc["naming"]["violations"]) == sorted(
        n for n in unplanned_names if not n.startswith("$")
    )

    # person properties among identified persons active in the window (internal left out)
    identified = {
        r["person_id"]: r["person_properties"] for r in current() if r["person_properties"]
    }
    pp = {p["property"]: p for p in doc["person_properties"]}
    assert pp["email"]["persons"] == len(identified) == pp["email"]["filled"]
    with_role = sum(1 for p in identified.values() if p.get("role"))
    assert pp["role"]["filled"] == with_role
    assert pp["role"]["fill_percent"] == _pct(with_role, len(identified))

    # identification: every event of the window, internal ones included
    everything = current(internal=True)
    ident = doc["identity"]
    assert ident["events"] == len(everything)
    named = sum(1 for r in everything if r["person_properties"])
    assert ident["identified_events"] == named
    assert ident["identified_percent"] == _pct(named, len(everything))
    assert ident["internal_events"] == sum(1 for r in everything if _internal(r))
    ids: dict[str, set[str]] = {}
    for r in everything:
        ids.setdefault(r["person_id"], set()).add(r["distinct_id"])
    assert ident["persons"] == len(ids)
    assert ident["multi_id_persons"] == sum(1 for v in ids.values() if len(v) > 1) == 1
    assert ident["most_distinct_ids"] == max(len(v) for v in ids.values())


def load_tracking_plan_text() -> list[str]:
    """The planned event names, in file order (read with the plan loader itself)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.yaml"
        path.write_text(PLAN)
        return [e.name for e in load_tracking_plan(path).events]


def test_audit_through_the_library(
    export: Path, plan_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.audit.tracking_plan import audit_json

    monkeypatch.setenv("USERTRACK_EVENTS", str(export))
    ws = open_workspace(
        load_settings(),
        queries_dir=resolve_queries_dir(None, {}),
        segments_path=resolve_segments_file(None, {}),
        database=False,
    )
    with ws:
        audit = run_audit(ws, load_tracking_plan(plan_path), AS_OF, DAYS)
    check_audit(json.loads(audit_json(audit)))
    assert audit.coverage["percent"] == 60.0  # the plan's "about 60 %", by construction


def _cli_json(plan_path: Path, **env: str) -> dict[str, Any]:
    result = run(
        ["tracking-plan", "--plan", str(plan_path), "--as-of", "2026-06-01", "-f", "json"], **env
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_audit_through_the_cli_and_the_live_http_path(
    export: Path, plan_path: Path, tmp_path: Path
) -> None:
    local = _cli_json(plan_path, USERTRACK_EVENTS=str(export))
    check_audit(local)
    assert local["as_of"] == "2026-06-01T00:00:00Z" and local["days"] == DAYS

    from usertrack.engines.local.eventstore import import_events

    store = tmp_path / "served.duckdb"
    import_events(export, store)
    with serve(store, project_id=4242) as fake:
        live = _cli_json(
            plan_path,
            POSTHOG_HOST=fake.url,
            POSTHOG_PROJECT_ID="4242",
            POSTHOG_PERSONAL_API_KEY=DEFAULT_KEY,
            USERTRACK_CACHE_TTL="0",
        )
        sent = fake.query_texts()
    assert live == local
    assert any("plan_properties" in t or "JSONExtractRaw" in t for t in sent)
    # the planned names travel as bound values, never in the query text
    assert all("project_created" not in t and "signed_up" not in t for t in sent)


def test_table_md_and_csv(export: Path, plan_path: Path) -> None:
    args = ["tracking-plan", "--plan", str(plan_path), "--as-of", "2026-06-01"]
    table = run(args, USERTRACK_EVENTS=str(export))
    assert table.exit_code == 0, table.stderr
    seen = sum(1 for e in load_tracking_plan_text() if current(e))
    first = table.stdout.strip().splitlines()[0]
    assert first.startswith(f"Coverage {_pct(seen, 5):.1f}%")  # the coverage figure first
    assert "[red]oops[/red]" in table.stdout  # an event name is text, never markup
    md = run([*args, "-f", "md"], USERTRACK_EVENTS=str(export))
    assert md.exit_code == 0 and "**Coverage: 60.0%**" in md.stdout
    assert "signedUp: not in the plan" in md.stdout and "likely signed_up" in md.stdout
    csv_out = run([*args, "-f", "csv"], USERTRACK_EVENTS=str(export))
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(csv_out.stdout)))
    item = next(r for r in rows if r["property"] == "item_count")
    assert item["type_mismatches"] == "1" and item["status"] == "seen"
    assert {r["event"] for r in rows if r["status"] == "unplanned"} == (
        {r["event"] for r in current()} - set(load_tracking_plan_text())
    )
    assert item["first_seen"].endswith("Z")  # ISO 8601 UTC in files for tools


def test_fail_under_exits_9_after_writing_the_report(
    export: Path, plan_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "audit.json"
    args = ["tracking-plan", "--plan", str(plan_path), "--as-of", "2026-06-01"]
    below = run([*args, "--fail-under", "95", "--out", str(out)], USERTRACK_EVENTS=str(export))
    assert below.exit_code == EXIT_COVERAGE == 9
    assert "usertrack: error: tracking-plan coverage 60.0% is below --fail-under 95.0%" in (
        below.stderr
    )
    assert json.loads(out.read_text())["coverage"]["percent"] == 60.0
    at = run([*args, "--fail-under", "60", "-f", "json"], USERTRACK_EVENTS=str(export))
    assert at.exit_code == 0, at.stderr  # 60.0 is not below 60


def test_init_writes_a_plan_that_loads_and_never_overwrites(export: Path, tmp_path: Path) -> None:
    out = tmp_path / "new-plan.yaml"
    args = ["tracking-plan", "init", "--out", str(out), "--as-of", "2026-06-01"]
    made = run(args, USERTRACK_EVENTS=str(export))
    assert made.exit_code == 0, made.stderr
    plan = load_tracking_plan(out)
    assert {e.name for e in plan.events} == {r["event"] for r in current()}
    assert set(plan.tiers) == {"unsorted"}
    chart = plan.event("chart_viewed")
    assert chart is not None
    kinds = {p.name: (p.type, p.required) for p in chart.properties}
    filled = sum(1 for r in current("chart_viewed") if "chart" in r["properties"])
    assert kinds["chart"] == ("string", filled >= 0.95 * len(current("chart_viewed")))
    assert kinds["zoomed"] == ("boolean", False)
    # the plan it wrote audits at 100 % coverage
    again = _cli_json(out, USERTRACK_EVENTS=str(export))
    assert again["coverage"]["percent"] == 100.0

    before = out.read_text()
    refused = run(args, USERTRACK_EVENTS=str(export))
    assert refused.exit_code == EXIT_USAGE
    assert f"{out} already exists" in refused.stderr and refused.stdout == ""
    assert out.read_text() == before


def test_init_out_dash_is_stdout_and_missing_folders_are_made(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--out -` is stdout for init as for every command (it wrote a file named '-')."""
    monkeypatch.chdir(tmp_path)
    args = ["tracking-plan", "init", "--as-of", "2026-06-01"]
    shown = run([*args, "--out", "-"], USERTRACK_EVENTS=str(export))
    assert shown.exit_code == 0, shown.stderr
    assert not (tmp_path / "-").exists() and not (REPO / "-").exists()
    assert "events:" in shown.stdout and '"chart_viewed":' in shown.stdout
    deep = tmp_path / "a" / "b" / "plan.yaml"
    made = run([*args, "--out", str(deep)], USERTRACK_EVENTS=str(export))
    assert made.exit_code == 0, made.stderr
    assert deep.read_text() == shown.stdout


BAD_PLANS = [
    # (what to replace in PLAN, with what, the line to name (its text), words of the message)
    ("    required:\n      item_count: number\n", "    requird:\n      item_count: number\n",
     "    tier: critical\n    description: A project was created.",
     ["unknown key 'requird'", "did you mean 'required'"]),
    ("item_count: number", "item_count: integer", "      item_count: integer",
     ["unknown type 'integer'", "types: string, number"]),
    ("  invite_accepted:\n", "  signed_up:\n", "  signed_up:\n    tier: critical",
     ["key 'signed_up' given twice"]),
    ("    tier: engagement\n    description: A report was exported.\n",
     "    description: A report was exported.\n",
     "    description: A report was exported.", ["event 'report_exported'", "no 'tier'"]),
    ("    tier: engagement\n    description: A chart",
     "    tier: engagment\n    description: A chart", "    tier: engagment",
     ["unknown tier 'engagment'", "did you mean 'engagement'"]),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "at", "words"), BAD_PLANS)
def test_bad_plan_files_name_file_and_line_and_exit_2(
    tmp_path: Path, old: str, new: str, at: str, words: list[str]
) -> None:
    assert old in PLAN
    text = PLAN.replace(old, new, 1)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    start = text.index(at)
    line = text.count("\n", 0, start) + 1
    if at.startswith("  signed_up:"):  # the duplicate: the mapping holding both names
        line = text.count("\n", 0, text.index("  signed_up:")) + 1
    with pytest.raises(TrackingPlanError) as err:
        load_tracking_plan(path)
    assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
    for word in words:
        assert word in str(err.value)
    result = run(["tracking-plan", "--plan", str(path)])
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.startswith(f"usertrack: error: {path}:{line}: ")
    assert result.stdout == ""


def test_shipped_plan_loads_and_names_match_the_convention() -> None:
    plan = load_tracking_plan(Path(__file__).resolve().parents[2] / "tracking-plan.yaml")
    assert [t for t in plan.tiers] == ["critical", "engagement", "ux"]
    assert not [e.name for e in plan.events if plan.breaks_naming(e.name)]
    assert re.search(plan.naming_pattern, "user_signed_up")


def test_closest_planned_compares_normalised_names() -> None:
    assert normalise_name("Signed Up") == normalise_name("signedUp") == "signedup"
    planned = ["user_signed_up", "onboarding_started"]
    assert closest_planned("onboardingStarted", planned) == ("onboarding_started", 1.0)
    name, score = closest_planned("signedUp", planned)
    assert name == "user_signed_up" and score >= 0.75
    assert closest_planned("invoice_paid", planned)[0] is None


def test_demo_audit_tells_its_stories(demo_home: Path) -> None:
    """The shipped plan on the demo: the typo, the stopped event, the broken properties."""
    result = run(["tracking-plan", "-f", "json"], home=demo_home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [s["event"] for s in doc["stopped"]] == ["feedback_submitted"]
    assert set(doc["missing"]) == {"account_deleted", "file_uploaded"}
    typo = next(u for u in doc["unplanned"] if u["event"] == "signedUp")
    assert typo["closest_planned"] == "user_signed_up" and typo["breaks_naming"]
    search = next(e for e in doc["events"] if e["event"] == "search_performed")
    props = {p["property"]: p for p in search["properties"]}
    assert 0 < props["query_length"]["filled"] < search["events"]
    assert props["result_count"]["numbers_sent_as_strings"] > 0
    assert [o["value"] for o in props["source"]["outside_values"]] == ["Sidebar"]
    assert 0 < doc["coverage"]["percent"] < 100
    # the shipped plan's group type is the demo's, and its volume counts every event
    (org,) = doc["group_properties"]
    assert org["group_type"] == "organization" and org["group_type_index"] == 0
    assert org["groups"] > 0 and all(p["fill_percent"] == 100.0 for p in org["properties"])
    assert doc["volume"]["events"] == doc["identity"]["events"]
    assert doc["volume"]["target_per_day"] == 2000


def test_plan_file_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from usertrack.core.config import resolve_tracking_plan_file, shipped_path

    flag, named, local = tmp_path / "flag.yaml", tmp_path / "env.yaml", tmp_path / "here"
    local.mkdir()
    monkeypatch.chdir(local)
    env = {"USERTRACK_TRACKING_PLAN": str(named)}
    assert resolve_tracking_plan_file(flag, env) == flag
    assert resolve_tracking_plan_file(None, env) == named
    assert resolve_tracking_plan_file(None, {}) == shipped_path("tracking-plan.yaml")
    (local / "tracking-plan.yaml").write_text(PLAN)
    assert resolve_tracking_plan_file(None, {}) == local / "tracking-plan.yaml"
    assert shipped_path("tracking-plan.yaml").is_file()


def test_core_module_does_not_import_rich_or_typer() -> None:
    assert_imports_no_terminal_libraries("usertrack.audit.tracking_plan")


def test_local_engine_json_type_keys_and_dynamic_keys(tmp_path: Path) -> None:
    """The ClickHouse JSON functions the plan queries use, on the local engine: JSONType's
    ClickHouse names, JSONExtractKeys, and a key that is a column (any characters)."""
    from usertrack.engines.local.eventstore import import_events
    from usertrack.engines.local.source import LocalPostHogSource
    from usertrack.queries.library import Query

    props = {"s": "x", "i": 3, "f": 1.5, "b": True, "l": [1], "o": {"a": 1}, "n": None,
             "a/b~c": "slash", "neg": -2}  # fmt: skip
    record = _event(1, "e", AS_OF - timedelta(days=1), "d", "p", props, None)
    export = tmp_path / "one.jsonl"
    export.write_text(json.dumps(record) + "\n")
    store = tmp_path / "one.duckdb"
    import_events(export, store)
    sql = """
        SELECT key, JSONType(properties, key) AS kind,
               toString(JSONExtractRaw(properties, key)) AS raw
        FROM (SELECT properties, arrayJoin(JSONExtractKeys(properties)) AS key FROM events)
        ORDER BY key
    """
    query = Query(name="t", folder="posthog", path=Path("t.sql"), sql=sql, description="",
                  returns="table")  # fmt: skip
    source = LocalPostHogSource(store)
    try:
        rows = {r["key"]: (r["kind"], r["raw"]) for r in source.run(query, {}).as_dicts()}
    finally:
        source.close()
    assert set(rows) == set(props)
    assert {k: v[0] for k, v in rows.items()} == {
        "s": "String", "i": "UInt64", "f": "Double", "b": "Bool", "l": "Array", "o": "Object",
        "n": "Null", "a/b~c": "String", "neg": "Int64",
    }  # fmt: skip
    assert rows["a/b~c"][1] == '"slash"' and rows["i"][1] == "3"


HOSTILE = {
    "ansi": "evil\x1b[2J\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "formula": "=cmd|' /C calc'!A0",
    "md": "[free](https://evil.example) ![x](https://evil.example/p.png) <b>hi</b>",
    "long": "a_" + "long_event_name_" * 3 + "end",  # 53 characters: whole at 80 columns
}


def test_hostile_event_names_in_every_format(tmp_path: Path, plan_path: Path) -> None:
    """Event names are written by whoever holds the project's public token: in the terminal
    a control character is shown, never sent (no screen clear, no hyperlink); a long name is
    whole at 80 columns; csv neutralises formulas; md makes no link, image or HTML."""
    day = AS_OF - timedelta(days=3)
    records = [
        _event(i, name, day, "d-x", "p-x", {}, None)
        for i, name in enumerate(HOSTILE.values(), start=1)
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    args = ["tracking-plan", "--plan", str(plan_path), "--as-of", "2026-06-01"]

    table = run(args, USERTRACK_EVENTS=str(path), COLUMNS="80")
    assert table.exit_code == 0, table.stderr
    assert "\x1b" not in table.stdout and "\\x1b" in table.stdout
    assert HOSTILE["long"] in table.stdout
    assert all(len(line) <= 80 for line in table.stdout.splitlines())
    # The house style: column headers in sentence case.
    assert "┃ Event " in table.stdout and "┃ Tier " in table.stdout

    import csv
    import io

    csv_out = run([*args, "-f", "csv"], USERTRACK_EVENTS=str(path))
    events = {r["event"] for r in csv.DictReader(io.StringIO(csv_out.stdout))}
    assert "'" + HOSTILE["formula"] in events and HOSTILE["formula"] not in events

    md = run([*args, "-f", "md"], USERTRACK_EVENTS=str(path))
    assert md.exit_code == 0, md.stderr
    assert "](https://evil" not in md.stdout and "<b>" not in md.stdout
    assert "\x1b" not in md.stdout
