"""The classified table is written in no order: a user is known by their rowid, and every listing
of users (rows, JSON lines, CSV, memberships, a history snapshot) comes out in email order, the
same whether the rows were fetched into Python first or not."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from usertrack.checks.sandbox import connect
from usertrack.rendering.export import to_csv, to_json
from usertrack.segments.rules import Classification, classify, load_segments

AS_OF = datetime(2026, 11, 20)
RULES = """
segments:
  - id: busy
    name: Busy
    action: Call
    rule: runs >= 5
    order: runs DESC
  - id: any_run
    name: Any run
    action: Nothing
    rule: runs > 0
    order: runs ASC
"""
# Inserted in anything but email order; runs tie between c@ and e@ (then email order decides).
PEOPLE = [("e@x.io", 7), ("a@x.io", 0), ("d@x.io", 2), ("b@x.io", 9), ("c@x.io", 7), ("f@x.io", 1)]


def _classified(tmp_path: Path) -> Classification:
    rules = tmp_path / "segments.yaml"
    rules.write_text(RULES)
    con = connect()
    con.execute(
        "CREATE TABLE profile AS SELECT unnest($emails) AS email, unnest($runs) AS runs",
        {"emails": [e for e, _ in PEOPLE], "runs": [r for _, r in PEOPLE]},
    )
    return classify(load_segments(rules), con, AS_OF)


def test_every_listing_is_in_email_order_and_each_segment_in_its_own(tmp_path: Path) -> None:
    lazy, fetched = _classified(tmp_path), _classified(tmp_path)
    fetched.rows  # noqa: B018  (fetched: every answer below then comes from Python's copy)
    emails = sorted(e for e, _ in PEOPLE)
    for result in (lazy, fetched):
        # Worked by hand: busy = runs >= 5 by runs DESC (b 9, then c and e tied at 7: email
        # order); any_run = runs > 0 by runs ASC (f 1, d 2, c 7, e 7, b 9).
        busy = [u["email"] for u in result.members("busy")]
        any_run = [u["email"] for u in result.members("any_run")]
        assert busy == ["b@x.io", "c@x.io", "e@x.io"]
        assert any_run == ["f@x.io", "d@x.io", "c@x.io", "e@x.io", "b@x.io"]
        assert [u["email"] for u in result.members("busy", 2)] == ["b@x.io", "c@x.io"]
        shown = result.members_of(["busy", "any_run"], 2)
        assert [u["email"] for u in shown["any_run"]] == ["f@x.io", "d@x.io"]
        assert [u["email"] for u in result.users] == emails
        assert [m[0] for m in result.memberships()] == [e for e in emails if e != "a@x.io"]
        users = json.loads(to_json(result))["users"]
        assert [u["email"] for u in users] == emails
        assert [line.split(",")[0] for line in to_csv(result).splitlines()[1:]] == emails
        snapshot = json.loads(result.snapshot_json())
        for _segments, _primary, members in snapshot:
            assert members == sorted(members)
    assert to_json(lazy) == to_json(fetched)
    assert to_csv(lazy) == to_csv(fetched)


def test_json_written_by_duckdb_is_json_dumps_for_every_character(tmp_path: Path) -> None:
    """The JSON lines DuckDB writes (texts quoted by its to_json, lists, NULLs) are byte for
    byte what Python's json writes from the fetched rows, for every character a text can hold:
    each control character (DuckDB writes some of their escapes in upper case), quotes,
    backslashes, a text that spells an escape, and non-ASCII ones."""
    rules = tmp_path / "segments.yaml"
    rules.write_text(RULES)
    texts = [chr(i) for i in range(0x80)] + [
        'a"b\\c',
        "\\u000B is not an escape",
        "\\\x0b\\\\\x1f\\u001F",
        "\u2028\u2029\x7f\u00e9\u20ac\U0001f600",
        "</script>",
    ]
    emails = [f"{i:03d}{t}@x.io" for i, t in enumerate(texts)]

    def classified() -> Classification:
        con = connect()
        con.execute(
            "CREATE TABLE profile AS SELECT unnest($emails) AS email, unnest($texts) AS note,"
            " unnest($lists) AS tags, unnest($runs) AS runs",
            {
                "emails": emails,
                "texts": [None if i == 3 else t for i, t in enumerate(texts)],
                "lists": [[t, None, "x"] if i % 2 else [] for i, t in enumerate(texts)],
                "runs": list(range(len(texts))),
            },
        )
        return classify(load_segments(rules), con, AS_OF)

    lazy, fetched = classified(), classified()
    fetched.rows  # noqa: B018  (written by Python's json from here)
    written = to_json(lazy)
    assert written == to_json(fetched)
    users = json.loads(written)["users"]
    assert [u["note"] for u in users] == [None if i == 3 else t for i, t in enumerate(texts)]
    assert '"011\\u000b@x.io"' in written and '"031\\u001f@x.io"' in written


def test_a_snapshot_saved_while_the_answer_is_written_shares_no_call(tmp_path: Path) -> None:
    """`segments` saves its snapshot on a thread while the main one writes the answer, both
    reading the same classification: each read runs on a cursor of its own, so neither meets
    DuckDB's "connection is busy with another call" (a read held open by a function that waits
    stands for a slow one)."""
    import threading

    result = _classified(tmp_path)
    inside, go_on = threading.Event(), threading.Event()

    def held(email: str) -> str:
        inside.set()
        go_on.wait(10)
        return email

    assert result.con is not None
    result.con.create_function("held", held, ["VARCHAR"], "VARCHAR")
    slow: list[object] = []
    reader = threading.Thread(target=lambda: slow.extend(result.select(["held(email)"])))
    reader.start()
    try:
        assert inside.wait(10)
        # While that read is under way: what `segments` writes and saves.
        assert [m[0] for m in result.memberships()][:1] == ["b@x.io"]
        assert len(json.loads(to_json(result))["users"]) == len(PEOPLE)
    finally:
        go_on.set()
        reader.join(10)
    assert sorted(r[0] for r in slow) == sorted(e for e, _ in PEOPLE)
