"""Segment history: snapshots saved and replaced atomically, movement between two snapshots, and
`segments --changes` through the CLI on a small demo (real embedded PostgreSQL, local engine)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from usertrack.core.config import load_settings
from usertrack.core.errors import EXIT_USAGE, DataError
from usertrack.rendering.changes_view import render_changes
from usertrack.segments.history import (
    History,
    Snapshot,
    compare,
    history_path,
    live_identity,
)
from usertrack.segments.rules import Segment

REPO = Path(__file__).resolve().parents[2]
ANCHOR = date(2026, 11, 16)
AS_OF = datetime(2026, 11, 16, tzinfo=UTC)
WEEK_BEFORE = datetime(2026, 11, 9, tzinfo=UTC)
SEGMENTS = tuple(
    Segment(id=i, name=n, action=a, rule="true")
    for i, n, a in [
        ("failing", "Failing users", "Support"),
        ("frustrated", "Frustrated users", "Fix UX"),
        ("at_risk", "At-risk users", "Re-engage"),
    ]
)


@dataclass
class Fake:
    """Classification-like: as_of, users with segments and primary, the segments."""

    as_of: datetime
    users: list[dict[str, Any]] = field(default_factory=list)
    segments: tuple[Segment, ...] = SEGMENTS


def fake(as_of: datetime, members: dict[str, list[str]]) -> Fake:
    users = [
        {"email": email, "segments": segs, "primary": segs[0] if segs else None}
        for email, segs in members.items()
    ]
    return Fake(as_of, users)


BEFORE = {
    "ana@acme.io": ["failing", "frustrated"],
    "bo@acme.io": ["failing"],
    "cy@acme.io": ["at_risk"],
    "di@acme.io": [],
    "ed@acme.io": ["frustrated"],
}
AFTER = {
    "ana@acme.io": ["failing"],  # left frustrated
    "bo@acme.io": [],  # left failing
    "cy@acme.io": ["at_risk"],  # stayed
    "di@acme.io": ["frustrated", "at_risk"],  # entered two
    "fay@acme.io": ["failing"],  # new user, entered failing
    # ed@acme.io is gone from the data: left frustrated
}


# --------------------------------------------------------------------------------------------
# The store, on a hand-made fixture


def test_movement_between_two_saved_snapshots(tmp_path: Path) -> None:
    with History(tmp_path / "history.sqlite3", "test") as history:
        history.save(fake(WEEK_BEFORE, BEFORE))
        history.save(fake(AS_OF, AFTER))
        assert history.moments() == [WEEK_BEFORE, AS_OF]
        before = history.load(WEEK_BEFORE)
        after = history.load(AS_OF)
    assert before is not None and after is not None
    assert before.source == after.source == "snapshot"
    assert before.users == 5 and after.users == 5
    assert "di@acme.io" not in before.members  # in no segment: not stored
    assert after.primary["di@acme.io"] == "frustrated"

    changes = compare(before, after, SEGMENTS)
    got = {m.segment: (m.before, m.after, m.entered, m.left) for m in changes.segments}
    assert got == {
        "failing": (2, 2, ("fay@acme.io",), ("bo@acme.io",)),
        "frustrated": (2, 1, ("di@acme.io",), ("ana@acme.io", "ed@acme.io")),
        "at_risk": (1, 2, ("di@acme.io",), ()),
    }
    assert [m.segment for m in changes.segments] == ["failing", "frustrated", "at_risk"]
    assert changes.get("failing").name == "Failing users"
    assert changes.get("frustrated").change == -1


def test_compare_without_segments_uses_the_snapshots_ids() -> None:
    before = Snapshot.of(fake(WEEK_BEFORE, BEFORE))
    after = Snapshot.of(fake(AS_OF, AFTER))
    changes = compare(before, after)
    assert [m.segment for m in changes.segments] == ["failing", "frustrated", "at_risk"]
    assert before.source == "computed"


def test_saving_the_same_as_of_replaces_the_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with History(path, "test") as history:
        history.save(fake(AS_OF, BEFORE))
        history.save(fake(AS_OF, {"zed@acme.io": ["failing"]}))
        snap = history.load(AS_OF)
        assert history.moments() == [AS_OF]
    assert snap is not None and dict(snap.members) == {"zed@acme.io": ("failing",)}
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM snapshots").fetchone() == (1,)
    assert con.execute("SELECT count(*) FROM members").fetchone() == (0,)  # version 3: a blob
    con.close()


def test_a_failed_save_leaves_the_previous_snapshot_whole(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with History(path, "test") as history:
        history.save(fake(AS_OF, BEFORE))
    con = sqlite3.connect(path)  # the database refuses the new row, after the day's delete
    con.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON snapshots WHEN NEW.users = 2"
        " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    con.commit()
    con.close()
    with History(path, "test") as history:
        broken = fake(AS_OF, {"aa@acme.io": ["failing"], "zz@acme.io": ["failing"]})
        with pytest.raises(DataError, match="cannot save the segment snapshot: disk trouble"):
            history.save(broken)
        snap = history.load(AS_OF)
    assert snap is not None
    assert set(snap.members) == {"ana@acme.io", "bo@acme.io", "cy@acme.io", "ed@acme.io"}


# Emails come from strangers: every one must come back exactly as it was saved.
HOSTILE = {
    'quo"te@acme.io': ["failing", "frustrated"],
    "tab\there@acme.io": ["failing"],
    "new\nline@acme.io": ["at_risk"],
    "back\\slash\\@acme.io": ["failing", "frustrated"],
    "ünïcødé-名前-😀@acme.io": ["frustrated"],
    "x" * 300 + "@acme.io": ["failing"],
    "\x00\x1f\x7f\u2028'<>&@acme.io": ["at_risk", "failing"],
    '["not", "a list"]': ["failing"],
    "nobody@acme.io": [],
}


def test_hostile_emails_come_back_exactly(tmp_path: Path) -> None:
    expected = {email: tuple(segs) for email, segs in HOSTILE.items() if segs}
    first = {email: segs[0] for email, segs in expected.items()}
    with History(tmp_path / "history.sqlite3", "test") as history:
        history.save(fake(AS_OF, HOSTILE))
        snap = history.load(AS_OF)
    assert snap is not None
    assert dict(snap.members) == expected and dict(snap.primary) == first
    assert snap.users == len(HOSTILE) and snap.segment_ids == ("failing", "frustrated", "at_risk")


def _classified(con: Any, segments: Mapping[str, list[str]]) -> None:
    """The table `classified` a Classification reads: each email's segments."""
    con.execute(
        "CREATE TABLE classified AS SELECT unnest($emails) AS email,"
        " unnest($segments)::VARCHAR[] AS __segments",
        {"emails": list(segments), "segments": list(segments.values())},
    )


def _in_duckdb(con: Any, users: int) -> Any:
    """A Classification of SEGMENTS as of AS_OF still in DuckDB, on `con` (its table
    `classified`: `_classified`)."""
    from usertrack.segments.rules import Classification

    return Classification(
        as_of=AS_OF,
        segments=SEGMENTS,
        columns=["email"],
        names=["email", "segments", "primary"],
        con=con,
        user_count=users,
    )


def test_hostile_emails_come_back_exactly_from_duckdb(tmp_path: Path) -> None:
    """A classification still in DuckDB builds its snapshot there (Classification.snapshot_json)."""
    from usertrack.checks import sandbox

    con = sandbox.connect()
    _classified(con, HOSTILE)
    result = _in_duckdb(con, len(HOSTILE))
    with History(tmp_path / "history.sqlite3", "test") as history:
        history.save(result)
        snap = history.load(AS_OF)
    con.close()
    assert snap is not None
    assert dict(snap.members) == {email: tuple(segs) for email, segs in HOSTILE.items() if segs}
    assert dict(snap.primary) == {email: segs[0] for email, segs in HOSTILE.items() if segs}
    assert snap.users == len(HOSTILE)


def test_a_failed_early_encoding_is_made_again_by_the_save(tmp_path: Path) -> None:
    """`segments` begins the snapshot's encoding on a thread as soon as it has classified
    (encode_meanwhile). When that encoding fails (here DuckDB's: the classification's table is
    not there yet when it reads), the save encodes it again on its own thread and saves it
    whole; a save the history then refuses is one warning, never an error out of the command."""
    from usertrack.checks import sandbox
    from usertrack.segments.history import encode_meanwhile, save_and_close, save_snapshot

    con = sandbox.connect()
    result = _in_duckdb(con, len(BEFORE))
    told: list[str] = []
    path = tmp_path / "history.sqlite3"
    history = History(path, "test")
    encoding = encode_meanwhile(history, result)
    assert encoding is not None and encode_meanwhile(None, result) is None
    encoding.settle()
    with pytest.raises(Exception, match="classified"):
        encoding.result()  # it did fail, on its thread
    _classified(con, BEFORE)
    save_and_close(history, result, told.append, encoding)
    assert told == []
    with History(path, "test") as history:
        snap = history.load(AS_OF)
        assert snap is not None and snap.users == len(BEFORE)
        assert dict(snap.members) == {e: tuple(s) for e, s in BEFORE.items() if s}
        refusing = sqlite3.connect(path)
        refusing.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON snapshots"
            " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
        )
        refusing.commit()
        refusing.close()
        con.execute("DROP TABLE classified")
        failed = encode_meanwhile(history, result)
        assert failed is not None
        failed.settle()  # failed: no table
        _classified(con, {"zed@acme.io": ["failing"]})
        save_snapshot(history, result, told.append, failed)
        assert told == [
            f"usertrack: warning: snapshot not saved: {path}: cannot save the segment snapshot:"
            " disk trouble"
        ]
        kept = history.load(AS_OF)
    con.close()
    assert kept is not None and dict(kept.members) == dict(snap.members)


def test_a_classification_in_no_segment_saves_an_empty_snapshot(tmp_path: Path) -> None:
    with History(tmp_path / "history.sqlite3", "test") as history:
        history.save(fake(AS_OF, {"di@acme.io": []}))
        snap = history.load(AS_OF)
    assert snap is not None and dict(snap.members) == {} and snap.users == 1


def version_2_file(
    path: Path,
    snapshots: dict[datetime, dict[str, list[str]]],
    workspace: str = "test",
    fingerprint: str = "fp",
) -> None:
    """A history file as usertrack wrote it at schema version 2: a row per member."""
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE snapshots (workspace TEXT NOT NULL, as_of TEXT NOT NULL, saved_at TEXT"
        " NOT NULL, users INTEGER NOT NULL, segments TEXT NOT NULL, fingerprint TEXT,"
        " PRIMARY KEY (workspace, as_of));"
        "CREATE TABLE members (workspace TEXT NOT NULL, as_of TEXT NOT NULL, email TEXT NOT"
        " NULL, segments TEXT NOT NULL, primary_segment TEXT,"
        " PRIMARY KEY (workspace, as_of, email)) WITHOUT ROWID;"
        "PRAGMA user_version = 2;"
    )
    ids = ["failing", "frustrated", "at_risk"]
    for moment, members in snapshots.items():
        key = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        con.execute(
            "INSERT INTO snapshots VALUES (?, ?, ?, ?, ?, ?)",
            (workspace, key, key, len(members), json.dumps(ids), fingerprint),
        )
        con.executemany(
            "INSERT INTO members VALUES (?, ?, ?, ?, ?)",
            [(workspace, key, e, json.dumps(segs), segs[0]) for e, segs in members.items() if segs],
        )
    con.commit()
    con.close()


def stored(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_version_2_file_is_read_as_it_is_and_saved_to_as_version_4(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    version_2_file(path, {WEEK_BEFORE: BEFORE, AS_OF - timedelta(days=1): AFTER})
    with History(path, "test", fingerprint="fp") as history:
        old = history.load(WEEK_BEFORE)
        assert stored(path, "PRAGMA user_version") == [(4,)]  # upgraded on opening
        assert old is not None and old.fingerprint == "fp" and old.users == 5
        assert old.accounts is None  # not recorded then: --by-segment asks the database
        assert dict(old.members) == {
            "ana@acme.io": ("failing", "frustrated"),
            "bo@acme.io": ("failing",),
            "cy@acme.io": ("at_risk",),
            "ed@acme.io": ("frustrated",),
        }
        assert old.primary["ana@acme.io"] == "failing"
        assert old.segment_ids == ("failing", "frustrated", "at_risk")

        history.save(fake(AS_OF, {"zed@acme.io": ["at_risk"]}))  # another day: version 3
        assert stored(path, "SELECT as_of FROM snapshots WHERE memberships IS NOT NULL") == [
            ("2026-11-16T00:00:00Z",)
        ]
        assert stored(path, "SELECT count(*) FROM members") == [(4 + 4,)]  # old rows kept
        new = history.load(AS_OF)
        assert new is not None and dict(new.members) == {"zed@acme.io": ("at_risk",)}

        # A re-save of an old day replaces its rows in the same transaction.
        history.save(fake(WEEK_BEFORE + timedelta(hours=2), {"yu@acme.io": ["failing"]}))
        assert history.moments() == [
            WEEK_BEFORE + timedelta(hours=2),
            AS_OF - timedelta(days=1),
            AS_OF,
        ]
        resaved = history.load(WEEK_BEFORE + timedelta(hours=2))
        assert resaved is not None and dict(resaved.members) == {"yu@acme.io": ("failing",)}
        day_before = history.load(AS_OF - timedelta(days=1))
        assert day_before is not None and set(day_before.members) == {
            "ana@acme.io",
            "cy@acme.io",
            "di@acme.io",
            "fay@acme.io",
        }
    assert stored(path, "SELECT DISTINCT as_of FROM members") == [("2026-11-15T00:00:00Z",)]


def test_pruning_deletes_old_and_new_snapshots(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    days = {d: AS_OF - timedelta(days=d) for d in (20, 10, 7, 0)}
    version_2_file(path, {days[20]: BEFORE, days[7]: AFTER})
    with History(path, "test", keep_days=15) as history:
        history.save(fake(days[10], BEFORE))
        assert history.moments() == [days[20], days[10], days[7]]
        history.save(fake(days[0], AFTER))  # 20 days before it: gone, with its rows
        assert history.moments() == [days[10], days[7], days[0]]
        assert stored(path, "SELECT DISTINCT as_of FROM members") == [("2026-11-09T00:00:00Z",)]
        history.save(fake(AS_OF + timedelta(days=6), AFTER))  # 10 days back goes: a blob
        assert history.moments() == [days[7], days[0], AS_OF + timedelta(days=6)]
        history.save(fake(AS_OF + timedelta(days=30), AFTER))  # and the last old-style one
        assert history.moments() == [AS_OF + timedelta(days=30)]
    assert stored(path, "SELECT count(*) FROM members") == [(0,)]
    assert stored(path, "SELECT count(*) FROM snapshots") == [(1,)]


def test_a_newer_history_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 5")
    con.close()
    with (
        History(path, "test") as history,
        pytest.raises(DataError, match="history schema version 5 is newer than this usertrack"),
    ):
        history.moments()
    assert stored(path, "PRAGMA user_version") == [(5,)]  # left as it was


def test_only_a_snapshot_of_exactly_the_moment_stands_for_it(tmp_path: Path) -> None:
    """`--changes` took a snapshot up to a day older than its window's start,
    so the same command widened its window once an older snapshot existed."""
    with History(tmp_path / "history.sqlite3", "test") as history:
        history.save(fake(WEEK_BEFORE - timedelta(hours=30), BEFORE))  # the day before
        assert history.latest(WEEK_BEFORE, since=WEEK_BEFORE) is None
        history.save(fake(WEEK_BEFORE, AFTER))
        found = history.latest(WEEK_BEFORE, since=WEEK_BEFORE)
        assert found is not None and found.as_of == WEEK_BEFORE


def test_workspaces_keep_their_own_history(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with History(path, "demo:300u:2026-11-16") as demo, History(path, "live:abc") as live:
        demo.save(fake(AS_OF, BEFORE))
        assert live.load(AS_OF) is None
        assert live.latest(AS_OF) is None
        live.save(fake(AS_OF, AFTER))
        demo_snap = demo.load(AS_OF)
    assert demo_snap is not None and "ed@acme.io" in demo_snap.members


def test_live_identity_never_holds_the_password() -> None:
    env = {"DATABASE_URL": "postgresql://me:s3cret-pw@db.example.com/app", "USERTRACK_HOME": "/x"}
    settings = load_settings(env, config_file=Path("/nonexistent/config.toml"))
    ident = live_identity(settings)
    assert ident.startswith("live:") and "s3cret" not in ident
    other = load_settings(
        {**env, "DATABASE_URL": "postgresql://me:other-pw@db.example.com/app"},
        config_file=Path("/nonexistent/config.toml"),
    )
    assert live_identity(other) == ident  # a new password is the same database
    moved = load_settings(
        {**env, "DATABASE_URL": "postgresql://me:s3cret-pw@db2.example.com/app"},
        config_file=Path("/nonexistent/config.toml"),
    )
    assert live_identity(moved) != ident


def test_changes_as_csv_json_and_markdown() -> None:
    changes = compare(
        Snapshot.of(fake(WEEK_BEFORE, BEFORE)), Snapshot.of(fake(AS_OF, AFTER)), SEGMENTS
    )
    assert render_changes(changes, "csv").splitlines() == [
        "segment,change,email",
        "failing,entered,fay@acme.io",
        "failing,left,bo@acme.io",
        "frustrated,entered,di@acme.io",
        "frustrated,left,ana@acme.io",
        "frustrated,left,ed@acme.io",
        "at_risk,entered,di@acme.io",
    ]
    doc = json.loads(render_changes(changes, "json", segment="frustrated"))
    assert doc["since"] == "2026-11-09T00:00:00Z" and doc["as_of"] == "2026-11-16T00:00:00Z"
    assert doc["segments"] == [
        {
            "id": "frustrated",
            "name": "Frustrated users",
            "action": "Fix UX",
            "before": 2,
            "after": 1,
            "change": -1,
            "entered": ["di@acme.io"],
            "left": ["ana@acme.io", "ed@acme.io"],
        }
    ]
    md = render_changes(changes, "md", limit=1)
    assert "| Frustrated users | 2 | 1 | -1 | 1 | 2 |" in md
    assert "Left (2): ana@acme.io … and 1 more" in md


# --------------------------------------------------------------------------------------------
# `segments --changes` through the CLI


@pytest.fixture
def home(fixed_demo_home: Path) -> Path:
    """The fixed demo with an empty history."""
    history_path(fixed_demo_home).unlink(missing_ok=True)
    return fixed_demo_home


def members_of(doc: dict[str, Any], segment: str) -> set[str]:
    return {u["email"] for u in doc["users"] if segment in u["segments"]}


def test_segments_changes_against_a_saved_snapshot(home: Path, tmp_path: Path) -> None:

    earlier = run(["segments", "--as-of", "2026-11-09", "-f", "json"], home)  # saves
    assert earlier.exit_code == 0, earlier.stderr
    now = run(["segments", "-f", "json", "--no-save"], home)
    assert now.exit_code == 0, now.stderr
    with History(history_path(home), "demo:300u:2026-11-16") as history:
        assert history.moments() == [WEEK_BEFORE]  # --no-save saved nothing

    result = run(["segments", "--changes", "-f", "json"], home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["baseline"] == "snapshot"
    assert (doc["since"], doc["as_of"]) == ("2026-11-09T00:00:00Z", "2026-11-16T00:00:00Z")
    before, after = json.loads(earlier.stdout), json.loads(now.stdout)
    moved = 0
    for seg in doc["segments"]:
        old, new = members_of(before, seg["id"]), members_of(after, seg["id"])
        assert seg["entered"] == sorted(new - old), seg["id"]
        assert seg["left"] == sorted(old - new), seg["id"]
        assert (seg["before"], seg["after"]) == (len(old), len(new))
        moved += len(seg["entered"]) + len(seg["left"])
    assert moved > 0
    with History(history_path(home), "demo:300u:2026-11-16") as history:
        assert history.moments() == [WEEK_BEFORE, AS_OF]  # the --changes run saved its own


def test_segments_changes_computes_a_missing_baseline(home: Path, tmp_path: Path) -> None:
    result = run(
        ["segments", "--changes", "--since", "2026-11-12", "--no-save", "-f", "json"], home
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["baseline"] == "computed" and doc["since"] == "2026-11-12T00:00:00Z"
    then = json.loads(run(["segments", "--as-of", "2026-11-12", "-f", "json"], home).stdout)
    failing = next(s for s in doc["segments"] if s["id"] == "failing")
    assert failing["before"] == len(members_of(then, "failing"))
    with History(history_path(home), "demo:300u:2026-11-16") as history:
        assert history.moments() == [datetime(2026, 11, 12, tzinfo=UTC)]  # only the explicit run


def test_segments_changes_never_widens_its_window(home: Path) -> None:
    """The same `--changes` said "from 2026-11-15" and, once an older snapshot
    existed, "from 2026-11-14", with other numbers: what is in the history chose the window."""
    args = ["segments", "--changes", "--since", "2026-11-15", "--no-save", "-f", "json"]
    first = run(args, home)
    assert first.exit_code == 0, first.stderr
    older = run(["segments", "--as-of", "2026-11-14 12:00", "--save", "-f", "json"], home)
    assert older.exit_code == 0, older.stderr
    second = run(args, home)
    assert second.exit_code == 0, second.stderr
    doc = json.loads(second.stdout)
    assert doc == json.loads(first.stdout)
    assert (doc["since"], doc["baseline"]) == ("2026-11-15T00:00:00Z", "computed")
    exact = run(["segments", "--as-of", "2026-11-15", "--save", "-f", "json"], home)
    assert exact.exit_code == 0, exact.stderr
    third = json.loads(run(args, home).stdout)
    assert third["baseline"] == "snapshot" and third["segments"] == doc["segments"]


def test_segments_changes_table_md_and_csv(home: Path, tmp_path: Path) -> None:
    table = run(["segments", "--changes", "--no-save"], home)
    assert table.exit_code == 0, table.stderr
    assert "Segment changes from 2026-11-09 00:00 UTC to 2026-11-16 00:00 UTC" in table.stdout
    assert "computed" in table.stdout
    out = tmp_path / "changes.md"
    md = run(["segments", "--changes", "--no-save", "--out", str(out)], home)
    assert md.exit_code == 0, md.stderr
    assert out.read_text().startswith("# Segment changes from 2026-11-09 00:00 UTC")
    csv_run = run(["segments", "--changes", "--no-save", "-f", "csv", "-s", "frustrated"], home)
    assert csv_run.exit_code == 0, csv_run.stderr
    rows = csv_run.stdout.splitlines()
    assert rows[0] == "segment,change,email" and len(rows) > 1
    assert all(r.startswith("frustrated,") for r in rows[1:])


def test_segments_changes_bad_since(home: Path, tmp_path: Path) -> None:
    late = run(["segments", "--changes", "--since", "2026-11-20", "--no-save"], home)
    assert late.exit_code == EXIT_USAGE and "is not before" in late.stderr
    alone = run(["segments", "--since", "2026-11-01"], home)
    assert alone.exit_code == EXIT_USAGE and "--since goes with --changes" in alone.stderr
    assert late.stdout == alone.stdout == ""


# --------------------------------------------------------------------------------------------
# Honest history: fingerprints, what is saved, one snapshot a day, retention, permissions


def loose_rules(tmp_path: Path) -> Path:
    """The shipped rules with the failing threshold loosened: a rule edit, not user movement."""
    text = (REPO / "segments.yaml").read_text()
    old = "rule: run_count > 5 AND run_success_rate < 50"
    assert old in text
    path = tmp_path / "loose.yaml"
    path.write_text(text.replace(old, "rule: run_count > 1 AND run_success_rate < 90"))
    return path


def test_a_rules_edit_is_not_reported_as_movement(home: Path, tmp_path: Path) -> None:
    saved = run(["segments", "--as-of", "2026-11-09", "--no-save"], home)
    assert saved.exit_code == 0, saved.stderr
    assert run(["segments", "--as-of", "2026-11-09", "-f", "json"], home).exit_code == 0
    loose = str(loose_rules(tmp_path))
    args = ["segments", "--segments", loose, "--changes", "-f", "json"]

    result = run(args, home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["baseline"] == "computed"  # the snapshot of the old rules was not compared
    assert "saved under other segment rules" in result.stderr
    assert "2026-11-09T00:00:00Z" in result.stderr

    # The same answer as with no history at all: both sides under the loosened rules.
    history_path(home).unlink()
    fresh = run(args, home)
    assert fresh.exit_code == 0, fresh.stderr
    assert json.loads(fresh.stdout)["segments"] == doc["segments"]
    failing = next(s for s in doc["segments"] if s["id"] == "failing")
    assert failing["before"] > 0 and len(failing["entered"]) < failing["after"]


def test_a_snapshot_from_before_fingerprints_is_recomputed(home: Path) -> None:
    path = history_path(home)
    con = sqlite3.connect(path)  # a version-1 history file, as usertrack wrote it until now
    con.executescript(
        "CREATE TABLE snapshots (workspace TEXT NOT NULL, as_of TEXT NOT NULL, saved_at TEXT"
        " NOT NULL, users INTEGER NOT NULL, segments TEXT NOT NULL,"
        " PRIMARY KEY (workspace, as_of));"
        "CREATE TABLE members (workspace TEXT NOT NULL, as_of TEXT NOT NULL, email TEXT NOT"
        " NULL, segments TEXT NOT NULL, primary_segment TEXT,"
        " PRIMARY KEY (workspace, as_of, email)) WITHOUT ROWID;"
        "INSERT INTO snapshots VALUES ('demo:300u:2026-11-16', '2026-11-09T00:00:00Z',"
        " '2026-11-09T00:00:00Z', 1, '[\"failing\"]');"
        "INSERT INTO members VALUES ('demo:300u:2026-11-16', '2026-11-09T00:00:00Z',"
        " 'nobody@x.io', '[\"failing\"]', 'failing');"
        "PRAGMA user_version = 1;"
    )
    con.close()
    result = run(["segments", "--changes", "--no-save", "-f", "json"], home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["baseline"] == "computed"
    failing = next(s for s in doc["segments"] if s["id"] == "failing")
    assert "nobody@x.io" not in failing["left"]


def test_segments_changes_against_a_version_2_file(home: Path) -> None:
    """A snapshot saved as rows (version 2) is the same baseline as that snapshot saved now."""
    path = history_path(home)
    assert run(["segments", "--as-of", "2026-11-09", "-f", "json"], home).exit_code == 0
    args = ["segments", "--changes", "-f", "json"]
    now = run([*args, "--no-save"], home)
    assert now.exit_code == 0, now.stderr
    assert json.loads(now.stdout)["baseline"] == "snapshot"
    with History(path, "demo:300u:2026-11-16") as history:
        snap = history.load(WEEK_BEFORE)
    assert snap is not None and snap.members
    (fingerprint,) = stored(path, "SELECT fingerprint FROM snapshots")[0]
    path.unlink()
    members = {email: list(segs) for email, segs in snap.members.items()}
    version_2_file(path, {WEEK_BEFORE: members}, "demo:300u:2026-11-16", fingerprint)

    then = run(args, home)  # and saves this run's snapshot
    assert then.exit_code == 0, then.stderr
    assert then.stdout == now.stdout
    assert stored(path, "PRAGMA user_version") == [(4,)]
    assert stored(
        path, "SELECT as_of, memberships IS NULL, accounts IS NULL FROM snapshots ORDER BY as_of"
    ) == [
        ("2026-11-09T00:00:00Z", 1, 1),
        ("2026-11-16T00:00:00Z", 0, 0),  # this run's keeps its accounts in no segment
    ]
    assert stored(path, "SELECT count(*) FROM members") == [(len(members),)]


def test_other_rules_files_are_saved_only_when_asked(home: Path, tmp_path: Path) -> None:
    loose = str(loose_rules(tmp_path))
    plain = run(["segments", "--segments", loose, "--as-of", "2026-11-09", "-f", "json"], home)
    assert plain.exit_code == 0, plain.stderr
    assert "not saved to the history" in plain.stderr and "--save" in plain.stderr
    with History(history_path(home), "demo:300u:2026-11-16") as history:
        assert history.moments() == []
    asked = run(["segments", "--segments", loose, "--as-of", "2026-11-09", "--save"], home)
    assert asked.exit_code == 0, asked.stderr
    default = run(["segments", "--as-of", "2026-11-10", "--no-save"], home)
    assert default.exit_code == 0 and "not saved" not in default.stderr
    with History(history_path(home), "demo:300u:2026-11-16") as history:
        assert history.moments() == [WEEK_BEFORE]


def test_one_snapshot_per_utc_day_the_latest(tmp_path: Path) -> None:
    with History(tmp_path / "history.sqlite3", "test") as history:
        morning, noon, evening = (AS_OF + timedelta(hours=h) for h in (8, 12, 20))
        assert history.save(fake(noon, BEFORE)) is not None
        assert history.save(fake(morning, AFTER)) is None  # earlier than that day's: kept out
        assert history.save(fake(evening, AFTER)) is not None  # replaces noon
        history.save(fake(WEEK_BEFORE, BEFORE))
        assert history.moments() == [WEEK_BEFORE, evening]
        snap = history.load(evening)
        assert snap is not None and "fay@acme.io" in snap.members
    con = sqlite3.connect(tmp_path / "history.sqlite3")
    assert con.execute("SELECT count(DISTINCT as_of) FROM snapshots").fetchone() == (2,)
    con.close()


def test_retention_keeps_days_back_from_the_newest(tmp_path: Path) -> None:
    with History(tmp_path / "history.sqlite3", "test", keep_days=30) as history:
        for days in (45, 31, 29, 10):
            history.save(fake(AS_OF - timedelta(days=days), BEFORE))
        # 45 days ago is more than 30 days before the newest (10 days ago): gone.
        assert history.moments() == [AS_OF - timedelta(days=d) for d in (31, 29, 10)]
        history.save(fake(AS_OF, AFTER))
        assert history.moments() == [AS_OF - timedelta(days=d) for d in (29, 10, 0)]
    con = sqlite3.connect(tmp_path / "history.sqlite3")
    assert con.execute("SELECT count(DISTINCT as_of) FROM snapshots").fetchone() == (3,)
    con.close()


def test_history_days_setting(home: Path) -> None:
    from usertrack.core.errors import EXIT_CONFIG, ConfigError
    from usertrack.segments.history import history_days

    assert history_days({}) == 400
    assert history_days({"USERTRACK_HISTORY_DAYS": " 30 "}) == 30
    for bad in ("0", "-3", "a year"):
        with pytest.raises(ConfigError, match="USERTRACK_HISTORY_DAYS"):
            history_days({"USERTRACK_HISTORY_DAYS": bad})
    result = run(["segments", "--no-save"], home, USERTRACK_HISTORY_DAYS="soon")
    assert result.exit_code == EXIT_CONFIG and result.stdout == ""
    assert "usertrack: error: USERTRACK_HISTORY_DAYS='soon'" in result.stderr


def test_history_file_is_private(home: Path) -> None:
    import stat

    path = history_path(home)
    path.write_bytes(b"")  # an existing file others could read
    path.chmod(0o644)
    home.chmod(0o755)
    result = run(["segments", "--as-of", "2026-11-09", "--no-save"], home)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) & 0o066 == 0  # no reading or writing by others


def test_an_unusable_home_is_a_config_error(tmp_path: Path) -> None:
    from usertrack.core.errors import EXIT_CONFIG

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    result = run(["segments", "--no-save"], not_a_folder / "home")
    assert result.exit_code == EXIT_CONFIG and result.stdout == ""
    assert result.stderr.startswith(f"usertrack: error: USERTRACK_HOME {not_a_folder / 'home'}:")
