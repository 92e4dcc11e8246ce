"""The query library: headers, parameters and their errors as file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from usertrack.core.errors import QueryFileError
from usertrack.queries.library import load_queries, parse_query, placeholders, resolve_params

REPO = Path(__file__).resolve().parents[2]

GOOD_HEADER = "-- name: q\n-- description: d\n-- returns: per-user\n"


def write(tmp_path: Path, folder: str, text: str, name: str = "q") -> Path:
    (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    path = tmp_path / folder / f"{name}.sql"
    path.write_text(text)
    return path


def test_shipped_library_loads_and_every_query_takes_as_of() -> None:
    library = load_queries(REPO / "queries")
    ids = {q.id for q in library}
    assert {"neon/accounts", "neon/runs", "posthog/activity", "join/profile"} <= ids
    for query in library:
        assert query.description
        if query.folder in ("neon", "posthog"):
            assert "as_of" in query.param_names, query.id
            assert "now()" not in query.sql.lower(), f"{query.id} calls now(); use as_of"


@pytest.mark.parametrize(
    ("folder", "text", "line", "fragment"),
    [
        ("neon", "SELECT 1", 1, "missing header"),
        ("neon", "-- name: q\n-- returns: table\nSELECT 1", 1, "description"),
        ("neon", GOOD_HEADER + "SELECT %(x)s", 4, "'x' is used but not declared"),
        ("neon", GOOD_HEADER + "-- param x: 1\nSELECT 1", 4, "'x' is declared but never used"),
        ("neon", GOOD_HEADER + "SELECT 'a%'", 4, "literal %"),
        ("posthog", GOOD_HEADER + "\nSELECT\n  {who}", 6, "'who' is used but not declared"),
        ("neon", "-- name: other\n-- description: d\n-- returns: table\nSELECT 1", 1, "file name"),
        ("neon", "-- name: q\n-- description: d\n-- returns: many\nSELECT 1", 3, "returns must be"),
        ("neon", GOOD_HEADER + "-- parms: x\nSELECT 1", 4, "unknown header key 'parms'"),
        ("neon", GOOD_HEADER, 3, "no SQL"),
        ("neon", GOOD_HEADER + "-- setting search_path: x\nSELECT 1", 4, "not 'search_path'"),
        ("neon", GOOD_HEADER + "-- setting work_mem: 1GB\nSELECT 1", 4, "'1GB' is not a value"),
        ("posthog", GOOD_HEADER + "-- setting work_mem: 8MB\nSELECT 1", 4, "only neon/"),
    ],
)
def test_bad_query_files_are_reported_with_file_and_line(
    tmp_path: Path, folder: str, text: str, line: int, fragment: str
) -> None:
    path = write(tmp_path, folder, text)
    with pytest.raises(QueryFileError) as err:
        load_queries(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert fragment in message


def test_placeholders_ignore_strings_and_comments() -> None:
    sql = "SELECT '{not_me}', {me} -- {nor_me}\n/* {nor_this} */ FROM events WHERE x = {me}"
    assert [name for name, _ in placeholders(sql, "hogql")] == ["me", "me"]
    assert placeholders("SELECT %(a)s,\n %(b)s", "postgres") == [("a", 1), ("b", 2)]


def test_params_defaults_and_now(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "posthog",
        GOOD_HEADER + "-- param as_of: now\n-- param days: 30\n-- param who:\n"
        "SELECT {as_of}, {days}, {who}",
    )
    query = parse_query(path, "posthog")
    values = resolve_params(query, {"who": "x"}, now_value="NOW")
    assert values == {"as_of": "NOW", "days": 30, "who": "x"}
    with pytest.raises(QueryFileError, match="'who' has no default"):
        resolve_params(query, {}, now_value="NOW")


def test_a_library_loaded_again_parses_only_what_changed(tmp_path: Path) -> None:
    """A process that loads the library for every command (the MCP server) parses a file once
    per text: an unchanged file is the same Query, an edit is seen at once, a broken edit is
    reported as on a first load."""
    write(tmp_path, "neon", GOOD_HEADER + "SELECT 1 AS email")
    write(tmp_path, "neon", GOOD_HEADER.replace("name: q", "name: r") + "SELECT 2 AS email", "r")
    first = load_queries(tmp_path)
    again = load_queries(tmp_path)
    assert again.get("neon/q") is first.get("neon/q")
    write(tmp_path, "neon", GOOD_HEADER + "SELECT 3 AS email")
    edited = load_queries(tmp_path)
    assert edited.get("neon/q").sql == "SELECT 3 AS email"
    assert edited.get("neon/r") is first.get("neon/r")
    path = write(tmp_path, "neon", GOOD_HEADER + "SELECT %(x)s AS email")
    with pytest.raises(QueryFileError) as err:
        load_queries(tmp_path)
    assert str(err.value).startswith(f"{path}:4: parameter 'x' is used but not declared")


def test_a_library_copied_from_an_older_usertrack_names_the_file_it_lacks(
    demo_home: Path, tmp_path: Path
) -> None:
    """./queries or --queries copied before a query file was added: the command stops with the
    query it needs, and the hint says where usertrack's own copy is."""
    import shutil

    from tests.cli_runner import run
    from usertrack.core.config import shipped_path
    from usertrack.core.errors import EXIT_NOT_FOUND

    mine = tmp_path / "queries"
    shutil.copytree(shipped_path("queries"), mine)
    (mine / "posthog" / "segment_persons.sql").unlink()
    result = run(["funnel", "--segment", "failing", "--queries", str(mine)], demo_home)
    assert result.exit_code == EXIT_NOT_FOUND, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "no query named 'posthog/segment_persons'" in lines[-2]
    shipped = shipped_path("queries") / "posthog" / "segment_persons.sql"
    assert lines[-1] == (
        f"usertrack: hint: usertrack ships {shipped}: copy it into"
        f" {mine / 'posthog' / 'segment_persons'}.sql"
    )


def test_shipped_is_read_from_the_querys_origin(tmp_path: Path) -> None:
    """queries.shipped: the shipped file, or a byte-for-byte copy of it, is; a copy whose text
    differs anywhere (its header too), or a query whose text was changed after it was read
    (its origin gone), is not."""
    from dataclasses import replace

    from usertrack.core.config import shipped_path
    from usertrack.queries.library import parse_query, shipped

    path = shipped_path("queries") / "neon" / "accounts.sql"
    text = path.read_text(encoding="utf-8")
    query = parse_query(path, "neon")
    assert shipped(query)
    copy = tmp_path / "neon" / "accounts.sql"
    copy.parent.mkdir()
    copy.write_text(text, encoding="utf-8")
    assert shipped(parse_query(copy, "neon"))
    described = text.replace("-- description: ", "-- description: Mine. ", 1)
    assert described != text
    copy.write_text(described, encoding="utf-8")
    mine = parse_query(copy, "neon")
    assert mine.sql == query.sql and not shipped(mine)
    assert not shipped(replace(query, sql=query.sql + "\n"))
    assert shipped(replace(query, description="kept: the text is the file's"))
