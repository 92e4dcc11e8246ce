"""Segment history: snapshots saved and replaced atomically, movement between two snapshots, and
`segments --changes` through the CLI on a small demo (real embedded PostgreSQL, local engine)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from usertrack.config import load_settings
from usertrack.errors import EXIT_USAGE, DataError
from usertrack.history import (
    History,
    Snapshot,
    compare,
    history_path,
    live_identity,
    render_changes,
)
from usertrack.segments import Segment

REPO = Path(__file__).resolve().parent.parent
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
    assert con.execute("SELECT count(*) FROM members").fetchone() == (1,)
    con.close()


def test_a_failed_save_leaves_the_previous_snapshot_whole(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with History(path, "test") as history:
        history.save(fake(AS_OF, BEFORE))
    con = sqlite3.connect(path)  # the database refuses one row, half-way through the insert
    con.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON members WHEN NEW.email = 'zz@acme.io'"
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


def test_at_or_before_takes_the_latest_snapshot_within_a_day(tmp_path: Path) -> None:
    with History(tmp_path / "history.sqlite3", "test") as history:
        history.save(fake(WEEK_BEFORE - timedelta(hours=30), BEFORE))
        assert history.at_or_before(WEEK_BEFORE) is None  # too old to stand for it
        history.save(fake(WEEK_BEFORE - timedelta(hours=3), BEFORE))
        history.save(fake(WEEK_BEFORE + timedelta(minutes=1), AFTER))  # after: never used
        found = history.at_or_before(WEEK_BEFORE)
        assert found is not None and found.as_of == WEEK_BEFORE - timedelta(hours=3)
        history.save(fake(WEEK_BEFORE, AFTER))
        exact = history.at_or_before(WEEK_BEFORE)
        assert exact is not None and exact.as_of == WEEK_BEFORE


def test_workspaces_keep_their_own_history(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with History(path, "demo:300u:2026-11-16") as demo, History(path, "live:abc") as live:
        demo.save(fake(AS_OF, BEFORE))
        assert live.load(AS_OF) is None
        assert live.at_or_before(AS_OF) is None
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
