"""`segments --format json` writes each user's line in DuckDB where the rows are; the text must
be the one Python's json writes from the fetched rows, byte for byte, whatever the data holds."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import pytest

from usertrack.checks.sandbox import connect
from usertrack.rendering.export import to_json
from usertrack.segments.rules import Classification, classify, load_segments

AS_OF = datetime(2026, 11, 20)

# Text as strangers write it: every control character, quotes, backslashes (one that reads
# like an escape), characters JSON leaves as they are (DEL, U+2028, emoji), markup.
HOSTILE = [
    "".join(chr(i) for i in range(0x20)),
    'say "hi" \\ back\\u001F\\\\',
    "\x7f \u2028 \u2029 é 中文 😀 </script> 'single'",
    "",
]

RULES = """
segments:
  - id: rated
    name: Rated
    action: Look
    rule: rate IS NOT NULL
    order: rate DESC
  - id: everyone
    name: Everyone
    action: Nothing
    rule: "true"
"""


def _profile_sql() -> tuple[str, list[object]]:
    doubles = [0.1, -0.0, 1e16, 1234567890123456.0, 1e-05, 0.0001, 1 / 3, 2.5e-300, 1e300, 45.5]
    doubles += [math.nan, math.inf, -math.inf]
    rows = []
    values: list[object] = []
    for i, rate in enumerate(doubles):
        text = HOSTILE[i % len(HOSTILE)]
        rows.append(
            f"(${len(values) + 1}, ${len(values) + 2}, ${len(values) + 3}, ${len(values) + 4})"
        )
        tags = None if i == 4 else [text, None, "b"] if i % 3 else []  # a NULL list too
        values += [f"u{i:02d}@x.io", text, rate, tags]
    sql = (
        "CREATE TABLE profile AS SELECT email, note, rate::DOUBLE AS rate, tags::VARCHAR[] AS tags,"
        " CASE WHEN NOT abs(rate) > 1e38 THEN rate::FLOAT END AS single,"
        " (length(email) * 9223372036854775)::BIGINT AS big,"
        " 170141183460469231731687303715884105727::HUGEINT AS huge,"
        " length(note) % 2 = 0 AS even, NULL::INTEGER AS nothing,"
        " TIMESTAMP '2026-11-19 04:59:59.999' - to_days(length(email)) AS seen_at,"
        " DATE '2026-01-31' AS signed_up_on"
        f" FROM (VALUES {', '.join(rows)}) AS v(email, note, rate, tags)"
    )
    return sql, values


@pytest.fixture()
def classified(tmp_path: Path) -> tuple[Classification, Classification]:
    """The same classification twice: one left in DuckDB, one with every row fetched."""
    rules = tmp_path / "segments.yaml"
    rules.write_text(RULES)
    spec = load_segments(rules)
    out = []
    for _ in range(2):
        con = connect()
        sql, values = _profile_sql()
        con.execute(sql, values)
        out.append(classify(spec, con, AS_OF))
    lazy, fetched = out
    fetched.rows  # noqa: B018  (fetched: to_json then writes every value in Python)
    return lazy, fetched


def test_json_written_by_duckdb_is_pythons_json(
    classified: tuple[Classification, Classification],
) -> None:
    lazy, fetched = classified
    for segment in (None, "rated", "everyone"):
        text = to_json(lazy, segment)
        assert "rows" not in lazy.__dict__  # written in DuckDB, not from fetched rows
        assert text == to_json(fetched, segment)
    doc = json.loads(to_json(lazy))
    users = {u["email"]: u for u in doc["users"]}
    assert len(users) == 13
    assert users["u00@x.io"]["note"] == HOSTILE[0]  # every control character, read back
    assert users["u01@x.io"]["note"] == HOSTILE[1]
    assert users["u01@x.io"]["tags"] == [HOSTILE[1], None, "b"]
    assert users["u00@x.io"]["tags"] == []
    assert users["u04@x.io"]["tags"] is None
    assert users["u10@x.io"]["rate"] is None  # NaN
    assert users["u11@x.io"]["rate"] is None  # infinity
    assert users["u02@x.io"]["rate"] == 1e16
    assert users["u00@x.io"]["seen_at"] == "2026-11-11T04:59:59Z"  # 8 days back, seconds cut
    assert users["u00@x.io"]["signed_up_on"] == "2026-01-31"
    assert users["u00@x.io"]["huge"] == 2**127 - 1
    assert users["u00@x.io"]["nothing"] is None
    # The segment's order: rate descending (NaN sorts above every number in DuckDB, NULLs last).
    rated = [u["email"] for u in json.loads(to_json(lazy, "rated"))["users"]]
    assert rated[:3] == ["u10@x.io", "u11@x.io", "u08@x.io"]  # NaN, +inf, then 1e300
    assert rated[-1] == "u12@x.io"  # -inf
    # The text itself: a control character escaped in lowercase hex, as json.dumps does, and
    # a backslash followed by "u001F" escaped as a backslash, never read as an escape.
    assert "\\u001f" in text and "back\\\\u001F" in text


class _Run:
    """A profile run as build_some gives it: the DuckDB holding `profile`, its columns."""

    def __init__(self, con: object, columns: list[str]) -> None:
        self.con, self.columns, self.closed = con, columns, False

    def close(self) -> None:
        self.closed = True


def _actors(con: object, persons: list[dict[str, object]]) -> object:
    from usertrack.analytics.actors.profiles import ProfileRows
    from usertrack.analytics.actors.run import Actors

    names = [d[0] for d in con.execute("SELECT * FROM profile LIMIT 0").description]  # type: ignore[attr-defined]
    found = Actors(AS_OF, "activity", "2026-11-16:dormant", "dormant", persons)
    emails = sorted({str(p["email"]) for p in persons if p["email"]})
    run = _Run(con, names)
    found.pending = ProfileRows(run, emails)
    found.pending.run_for_test = run  # type: ignore[attr-defined]
    found.columns = [n for n in names if n != "email"]
    return found


@pytest.mark.parametrize("others", [False, True], ids=["the cell's rows", "everyone's rows"])
def test_people_json_written_by_duckdb_is_pythons_json(others: bool) -> None:
    """`--persons -f json`: each person's profile columns written by DuckDB (ProfileRows.
    json_tails) are the text json.dumps writes of the people with their profiles, whatever the
    profile holds; a person without a profile row, or without an email, has every column
    null; a profile holding others' rows too (live, past the list bound) gives the same."""
    from usertrack.analytics.actors.render import actors_json
    from usertrack.rendering.export import jsonable

    con = connect()
    sql, values = _profile_sql()
    con.execute(sql, values)
    if not others:
        con.execute("DELETE FROM profile WHERE email > 'u10'")
    con.execute("INSERT INTO profile (email, note, rate) VALUES (NULL, 'no one', 1.5)")
    persons = [{"person_id": f"p{i:02d}", "email": f"u{i:02d}@x.io"} for i in range(11)]
    persons += [
        {"person_id": "twice", "email": "u03@x.io"},  # two persons of one email
        {"person_id": "unknown", "email": "nobody@x.io"},
        {"person_id": "no email", "email": None},
        {"person_id": HOSTILE[1], "email": HOSTILE[2]},
    ]
    lazy = _actors(con, [dict(p) for p in persons])
    text = actors_json(lazy)  # type: ignore[arg-type]
    assert lazy.profiles is None  # type: ignore[attr-defined]  (never fetched into Python)
    fetched = _actors(con, [dict(p) for p in persons])
    doc = fetched.document()  # type: ignore[attr-defined]
    expected = json.dumps(jsonable(doc), indent=2, ensure_ascii=False) + "\n"
    assert text == expected
    assert actors_json(fetched) == expected  # type: ignore[arg-type]
    people = {p["person_id"]: p for p in json.loads(text)["persons"]}
    assert people["p01"]["note"] == HOSTILE[1]
    assert people["p01"]["tags"] == [HOSTILE[1], None, "b"]
    assert people["p04"]["tags"] is None and people["p00"]["tags"] == []
    assert people["p10"]["rate"] is None and people["p02"]["rate"] == 1e16
    assert people["twice"]["rate"] == people["p03"]["rate"]
    for nobody in ("unknown", "no email"):
        assert all(people[nobody][c] is None for c in ("note", "rate", "tags", "huge"))
    # the other formats read the rows from the same place afterwards, and the profile's
    # connection goes back once nothing holds the rows (a long-lived MCP worker's calls)
    run = lazy.pending.run_for_test  # type: ignore[attr-defined]
    assert not run.closed
    assert lazy.people()[1]["note"] == HOSTILE[1]  # type: ignore[attr-defined]
    assert run.closed
    answered = _actors(con, [dict(p) for p in persons])
    run = answered.pending.run_for_test  # type: ignore[attr-defined]
    assert actors_json(answered) == expected  # type: ignore[arg-type]
    del answered
    assert run.closed
