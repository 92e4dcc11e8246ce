"""HogQL printed from PostHog's own parse tree (usertrack/engines/hogql/printer.py): what
usertrack sends PostHog is printed from the tree it checked, never the text as written.

The printer follows PostHog's HogQL printer (PostHog/posthog posthog/hogql/printer/base.py at
commit 8722f43607fac1c2e5e1e238ad617df26fa40a3a: visit_select_query, visit_join_expr,
visit_window_function, ...) and its escaping (posthog/hogql/escape_sql.py at commit
3929530898f11344141d333bb71264e58a1f6294: escape_hogql_identifier, escape_param_clickhouse).
Each text here is read by PostHog's own parser (`hogql-parser`), printed, and read back: the
same tree (positions aside), and no comment left in the printed text. Then the texts the
tests' PostHog (a real HTTP server on 127.0.0.1, chdb behind it) receives are the printed ones.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.posthog_server import DEFAULT_KEY, FakePostHog, posthog_query, serve
from usertrack.analytics.where import spliced
from usertrack.core.errors import QueryError
from usertrack.engines.hogql.parser import ParseError, parse_select
from usertrack.engines.hogql.printer import (
    PrintError,
    identifier,
    print_expr,
    print_select,
    sent_text,
    string,
)
from usertrack.engines.posthog import PostHogHTTPSource, bundle
from usertrack.engines.posthog.values import strip_sql
from usertrack.queries.library import Query, load_queries

REPO = Path(__file__).resolve().parents[2]
LIBRARY = load_queries(REPO / "queries")
SHIPPED = sorted(q for q, v in LIBRARY.queries.items() if v.folder == "posthog")

HOSTILE = [
    "SELECT 1 -- a comment\nFROM events",
    "SELECT 1 // a comment\nFROM events",
    "SELECT /* inside */ 1 FROM /* x */ events",
    "SELECT '-- not a comment', '/* nor this */', '// nor this' FROM events",
    "SELECT 'it\\'s', 'it''s', 'back\\\\slash', 'tab\\there', 'new\\nline' FROM events",
    "SELECT 'a\\0b\\a\\v\\f\\b\\r\\t' FROM t",
    "SELECT `a b`, `we``ird`, `new\\nline`, `select`, `null`, `1x` FROM events",
    "SELECT properties.`$current url`, person.properties.`e mail` FROM events",
    "SELECT x AS `a``b`, y AS `from`, z AS `x y` FROM t AS `my table`",
    "SELECT 'héllo 🎉 日本', `名前` FROM events",
    "SELECT {a}, {b} FROM events WHERE event = {name} AND timestamp > {as_of}",
    "SELECT 1 FROM {t}",
    "{a} UNION ALL {b}",
    "SELECT x FROM (SELECT y AS x FROM (SELECT 1 AS y) AS a) AS b",
    "SELECT -1, - 1, -(1), -x, 0 - -1, -1.5e-5, 1e300, -9223372036854775808 FROM t",
    "SELECT 18446744073709551615, 100000000000000000000, inf, -inf, nan FROM t",
    "SELECT a - (b - c), (a - b) - c, a - b - c, a / (b * c), (a / b) * c FROM t",
    "SELECT not (a and b), not a and b, not not a, not a = b, not a + b = c FROM t",
    "SELECT -(x), a * (b + c), (a * b) + c, a + b * c FROM t",
    "SELECT 1 FROM t WHERE x IN (SELECT y FROM u WHERE z NOT IN (1, 2))",
    "SELECT 1 FROM t WHERE x NOT LIKE '%a%' AND y ilike 'b%' AND z NOT ILIKE 'c'",
    "SELECT 1 FROM t WHERE x BETWEEN 1 AND 2 AND y NOT BETWEEN a - 1 AND b + 1",
    "SELECT a ? b : c, a ? (b ? c : d) : e, (a ? b : c) ? d : e FROM t",
    "SELECT CASE WHEN a THEN 1 WHEN b THEN 2 ELSE 3 END, CASE WHEN a THEN 1 END FROM t",
    "SELECT CASE x WHEN 1 THEN 'a' WHEN 2 THEN 'b' ELSE 'c' END FROM t",
    "SELECT now() - INTERVAL 7 DAY, INTERVAL 1 HOUR, INTERVAL x + 1 MINUTE, INTERVAL '3 weeks'",
    "SELECT 1 FROM t WHERE a IS NULL AND b IS NOT NULL AND c = NULL AND d != NULL",
    "SELECT x IS NULL IS NULL, (a = b) IS NULL, a = b IS NULL FROM t",
    "SELECT isNull(a), coalesce(a, NULL), a ?? b, a || b || c, f'x{y}z' FROM t",
    "SELECT a ?? b ?? c, (a ?? b) ?? c, a ?? (b ?? c), not a ?? b FROM t",
    "SELECT trim(BOTH 'x' FROM y), trim(LEADING ' ' FROM y), trim(TRAILING ' ' FROM y) FROM t",
    "SELECT count(), count(*), count(DISTINCT x), countIf(x, y > 1), quantile(0.9)(x) FROM t",
    "SELECT f(a)(b), f(DISTINCT a)(b), sumIf(x, y)(z) FROM t",
    "SELECT groupArray(x ORDER BY y), count(x) FILTER (WHERE y > 1) FROM t",
    "SELECT arrayMap(x -> x * 2, a), arrayFilter((x, i) -> x > i, a, b), arrayMap(x -> (x, 1), a)",
    "SELECT (1, 2), (1,), [1, 2], [], tuple(1), x.1, x[1], x.1.2, (x, y).1, [1, 2][1] FROM t",
    "SELECT x?.a, x?.[1], x?.1, {'a': 1}, CAST(x AS String), x::Int64 FROM t",
    "SELECT 1 FROM t WHERE a = 'x' OR b = 'y' AND c = 'z'",
    "SELECT 1 FROM t WHERE (a = 'x' OR b = 'y') AND c = 'z'",
    "SELECT a AND b OR c AND d, (a OR b) AND (c OR d), a OR (b OR c) FROM t",
    "SELECT 1 FROM t WHERE a = b = c AND (a = b) = c AND a = (b = c)",
    "SELECT 1 FROM t WHERE a =~ 'x' AND b !~ 'y' AND c =~* 'z' AND d !~* 'w'",
    "SELECT 1 FROM t WHERE x IN COHORT 3 AND y NOT IN COHORT 4",
    "SELECT EXISTS (SELECT 1), (SELECT max(x) FROM t) AS m",
    "WITH a AS (SELECT 1 AS x), 5 AS k, (SELECT 2) AS s SELECT x, k FROM a",
    "WITH a AS (SELECT 1 AS x UNION ALL SELECT 2) SELECT * FROM a",
    "SELECT 1 UNION ALL SELECT 2 UNION DISTINCT SELECT 3 INTERSECT SELECT 4 EXCEPT SELECT 5",
    "(SELECT 1 UNION ALL SELECT 2) UNION ALL SELECT 3",
    "SELECT 1 UNION ALL (SELECT 2 UNION ALL SELECT 3)",
    "SELECT 1 FROM a JOIN b ON a.x = b.x LEFT JOIN c ON b.y = c.y AND c.z > 1 "
    "RIGHT JOIN d USING (x) FULL OUTER JOIN e USING x, y CROSS JOIN f INNER JOIN g ON 1",
    "SELECT 1 FROM a ASOF LEFT JOIN b ON a.t >= b.t LEFT ANTI JOIN c ON 1 ANY LEFT JOIN d ON 1",
    "SELECT 1 FROM a, b, (SELECT 1) AS c",
    "SELECT 1 FROM events AS e SAMPLE 1/10 OFFSET 1/2, events AS f FINAL SAMPLE 0.1",
    "SELECT a FROM t LEFT ARRAY JOIN arr AS a, [1, 2] AS b",
    "SELECT row_number() OVER (PARTITION BY a ORDER BY b DESC), sum(x) OVER w, "
    "lag(x, 1) OVER (ORDER BY t ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), "
    "avg(x) OVER (ROWS UNBOUNDED PRECEDING) FROM t WINDOW w AS (PARTITION BY c)",
    "SELECT DISTINCT a FROM t PREWHERE x WHERE y GROUP BY a HAVING count() > 1 ORDER BY a ASC, "
    "b DESC LIMIT 1 BY a LIMIT 10 WITH TIES OFFSET 5",
    "SELECT 1 FROM t LIMIT 1 OFFSET 2 BY a, b LIMIT 3, 4",
    "SELECT 1 FROM t GROUP BY CUBE (a, b)",
    "SELECT 1 FROM t GROUP BY ROLLUP (a)",
    "SELECT x FROM t QUALIFY row_number() OVER (ORDER BY x) = 1",
    "SELECT 1 FROM numbers(10) AS n",
    "SELECT * FROM t; ",
]


@functools.cache
def _read(text: str) -> str:
    return json.dumps(parse_select(text))


def read(text: str) -> dict[str, Any]:
    """`parse_select(text)`, parsed once in this module for each text: PostHog's parser takes
    seconds for a long shipped file, and several tests here read the same texts (a file
    without comments is also one the live source sends). A fresh tree at each call."""
    tree: dict[str, Any] = json.loads(_read(text))
    return tree


def bare(node: Any) -> Any:
    """A tree without its positions (`start`, `end`): what two readings must share."""
    if isinstance(node, dict):
        return {k: bare(v) for k, v in node.items() if k not in ("start", "end")}
    if isinstance(node, list):
        return [bare(v) for v in node]
    return node


def comments(text: str) -> list[str]:
    """The comment openers (`--`, `//`, `/*`) of `text` outside its strings and quoted names
    (HogQL's lexer: backslash escapes, a doubled quote inside its own quotes)."""
    found, i = [], 0
    while i < len(text):
        c = text[i]
        if c in "'`\"":
            i += 1
            while i < len(text) and not (text[i] == c and text[i + 1 : i + 2] != c):
                i += 2 if text[i] == "\\" or text[i : i + 2] == c * 2 else 1
        elif text[i : i + 2] in ("--", "//", "/*"):
            found.append(text[i : i + 2])
        i += 1
    return found


def assert_round_trip(text: str) -> str:
    """`text` read, printed and read back as the same tree; the printed text, comment-free."""
    tree = read(text)
    printed = print_select(tree)
    back = read(printed)
    assert bare(back) == bare(tree), printed
    assert comments(printed) == [], printed
    assert print_select(back) == printed  # printing is a fixed point
    return printed


def sent_form(query_id: str) -> str:
    """A shipped file's text as the live source prints it without --where: its `{filters}` slot
    `true` (Workspace.bind), its comments kept; one of scripts/gen_printed.py's texts, so that
    the shipped texts' test below reads each of these from this module's parses, not again."""
    return strip_sql(spliced(LIBRARY.get(query_id).sql, ()))


@pytest.mark.parametrize("query_id", SHIPPED)
def test_every_shipped_query_file_reads_back_as_its_tree(query_id: str) -> None:
    sql = sent_form(query_id)
    printed = assert_round_trip(sql)
    if comments(sql):
        assert printed.count("\n") < sql.count("\n")


def test_the_bundles_of_the_shipped_files_read_back_as_their_trees() -> None:
    """Every shipped file that a bundle holds, four a bundle, as run_bundle builds them from
    the files' texts: read as one tree, printed, read back as that tree."""
    parts = []
    for query_id in SHIPPED:
        found = bundle.part(len(parts) % 4, LIBRARY.get(query_id).sql, {})
        if found is not None:
            parts.append(found)
    assert len(parts) >= 20
    for at in range(0, len(parts), 4):
        group = parts[at : at + 4]
        text = bundle.text(group, 50_000)
        tree = bundle.checked(text, len(group))
        assert tree is not None
        printed = print_select(tree)
        assert bare(read(printed)) == bare(tree)
        assert comments(printed) == []
        # made without parsing from the texts printed when the package was made: the same
        assert bundle.printed(group, 50_000) == printed


@pytest.mark.parametrize("size", [1, 3, 100])
def test_a_bundle_of_shipped_files_is_printed_as_its_tree_prints(size: int) -> None:
    """bundle.printed sets each shipped file's printed text in the bundle as the printer sets
    a subquery: the text is the one printed from the bundle's tree, one file or every one."""
    parts: list[bundle.Part] = []
    for query_id in SHIPPED:
        found = bundle.part(len(parts), LIBRARY.get(query_id).sql, {})
        if found is not None and len(parts) < size:
            parts.append(found)
    tree = bundle.checked(bundle.text(parts, 50_000), len(parts))
    assert tree is not None
    assert bundle.printed(parts, 50_000) == print_select(tree)
    # a file changed since the package was made has no printed text: the bundle is parsed
    sql = LIBRARY.get("posthog/weekly_visitors").sql.replace("SELECT", "SELECT 1 AS one,", 1)
    edited = bundle.part(len(parts), sql, {})
    assert edited is not None and bundle.printed([*parts, edited], 50_000) is None


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_texts_read_back_as_their_trees(text: str) -> None:
    assert_round_trip(text)


def test_brackets_only_where_precedence_needs_them() -> None:
    def printed(expr: str) -> str:
        return print_select(parse_select(f"SELECT {expr}")).removeprefix("SELECT ")

    assert printed("a - (b - c)") == "a - (b - c)"
    assert printed("(a - b) - c") == "a - b - c"
    assert printed("a * (b + c)") == "a * (b + c)"
    assert printed("-(x)") == "0 - x"  # the parser's own reading of a negation
    assert printed("not (a and b)") == "not(a AND b)"  # the parser reads the function not
    assert printed("not a = b") == "NOT a = b"
    assert printed("(a = 'x' OR b = 'y') AND c") == "(a = 'x' OR b = 'y') AND c"
    assert printed("x NOT ILIKE 'a%'") == "x NOT ILIKE 'a%'"
    assert printed("a ? b : c") == "a ? b : c"
    assert printed("if(a, b, c)") == "if(a, b, c)"
    assert printed("x IS NULL") == "x IS NULL"
    assert printed("now() - INTERVAL 1 DAY") == "now() - (INTERVAL 1 DAY)"


def test_strings_and_names_escaped_as_posthog_escapes_them() -> None:
    # escape_sql.py escape_param_clickhouse: backslash escapes, a quote as \'
    assert string("it's\\ \n\t\0") == "'it\\'s\\\\ \\n\\t\\0'"
    assert string("-- /* */ //") == "'-- /* */ //'"
    # escape_hogql_identifier's bare names ([A-Za-z_$][A-Za-z0-9_$]*), else in backquotes;
    # a backquote doubled (PostHog's parser does not read escape_sql's \\`)
    assert identifier("$browser") == "$browser"
    assert identifier("a b") == "`a b`"
    assert identifier("we`ird") == "`we``ird`"
    assert identifier("null") == "`null`"
    assert parse_select("SELECT `we``ird`")["select"][0]["chain"] == ["we`ird"]


def test_comments_are_found_outside_strings_only() -> None:
    assert comments("SELECT 1 -- x\n/* y */ // z") == ["--", "/*", "//"]
    assert comments("SELECT '-- \\' //', `a``--`, \"/*\" FROM t") == []


def test_what_the_printer_does_not_print_is_refused() -> None:
    tree = parse_select("SELECT 1 FROM t")
    with pytest.raises(PrintError, match="holding surprise"):
        print_select({**tree, "surprise": {"node": "Constant", "value": 1}})
    with pytest.raises(PrintError, match="HogQLXTag"):
        print_expr({"node": "HogQLXTag", "kind": "a", "attributes": []})
    with pytest.raises(ParseError):
        sent_text("SELECT 1 FROM t WHERE")


# ------------------------------------------------------------------ what PostHog receives

AS_OF = datetime(2026, 11, 12)
PATTERN = r"@datagen\.dev$"
WRITTEN = """
-- a comment the check reads past
SELECT   event,   count()  AS n   /* another */
FROM events // and one more
WHERE timestamp <= toDateTime({as_of}, 'UTC') AND event != '-- not a comment'
GROUP BY event ORDER BY n DESC, event LIMIT 5
"""


@pytest.fixture(scope="module")
def fake(demo_home: Path) -> Iterator[FakePostHog]:
    from usertrack.demo.generator import ensure_demo

    with serve(ensure_demo(demo_home).events_path, project_id=4242) as server:
        yield server


def written(sql: str, name: str = "written") -> Query:
    return posthog_query(sql, name)


def sent_since(fake: FakePostHog, before: int) -> list[str]:
    return fake.query_texts()[before:]


def test_posthog_receives_the_printed_text(fake: FakePostHog) -> None:
    api = PostHogHTTPSource(DEFAULT_KEY, "4242", fake.url)
    try:
        before = len(fake.query_texts())
        result = api.run(written(WRITTEN), {"as_of": AS_OF})
        sent = sent_since(fake, before)
        assert sent == [print_select(parse_select(WRITTEN.strip()))]
        assert comments(sent[0]) == [] and "another" not in sent[0]
        assert bare(parse_select(sent[0])) == bare(parse_select(WRITTEN))
        assert result.columns == ["event", "n"] and len(result.rows) == 5
    finally:
        api.close()


def test_a_bundle_is_sent_printed_from_its_tree(fake: FakePostHog) -> None:
    visitors = {"as_of": AS_OF, "days": 7, "exclude_pattern": PATTERN}
    jobs = [
        (written(WRITTEN), {"as_of": AS_OF}),
        (LIBRARY.get("posthog/weekly_visitors"), visitors),
    ]
    api = PostHogHTTPSource(DEFAULT_KEY, "4242", fake.url)
    try:
        before = len(fake.query_texts())
        answers = api.run_bundle(jobs)
        sent = sent_since(fake, before)
        assert len(sent) == 1 and all(a is not None for a in answers)
        assert sent[0] == print_select(parse_select(sent[0]))  # printed from a tree
        assert comments(sent[0]) == [] and "another" not in sent[0]
        assert "UNION ALL" in sent[0]
    finally:
        api.close()


def test_a_text_the_parser_refuses_is_never_sent(fake: FakePostHog) -> None:
    api = PostHogHTTPSource(DEFAULT_KEY, "4242", fake.url)
    try:
        before = len(fake.requests)
        with pytest.raises(QueryError, match="PostHog's parser refuses it"):
            api.run(written("SELECT event FROM events WHERE", "broken"), {})
        assert len(fake.requests) == before
    finally:
        api.close()


def test_a_printed_text_is_kept_until_its_text_or_the_printer_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.engines.hogql import printer

    made: list[str] = []

    def make(text: str) -> str | None:
        made.append(text)
        return None if "refused" in text else sent_text(text)

    folder = tmp_path / "hogql"
    first = printer.kept_text(WRITTEN, folder, make)
    assert first == print_select(parse_select(WRITTEN)) and made == [WRITTEN]
    assert printer.kept_text(WRITTEN, folder, make) == first and len(made) == 1  # kept
    [kept] = folder.glob("*.hogql")
    assert kept.read_text() == first and not list(folder.glob("*.tmp"))
    edited = WRITTEN.replace("count()", "count() * 2")
    assert printer.kept_text(edited, folder, make) != first and len(made) == 2
    # a refusal is never kept; an emptied file is made again
    assert printer.kept_text("SELECT 'refused'", folder, make) is None
    assert printer.kept_text("SELECT 'refused'", folder, make) is None and len(made) == 4
    kept.write_text("")
    assert printer.kept_text(WRITTEN, folder, make) == first and len(made) == 5
    # another printer (or parser) keys every text anew
    monkeypatch.setattr(printer, "_key_prefix", lambda: b"another printer")
    assert printer.kept_text(WRITTEN, folder, make) == first and len(made) == 6


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text PostHog's parser is given from here on, in order."""
    parsed: list[str] = []

    def counting(text: str) -> Any:
        parsed.append(text)
        return parse_select(text)

    monkeypatch.setattr("usertrack.engines.hogql.parser.parse_select", counting)
    return parsed


def test_a_query_file_is_parsed_once_across_commands(
    fake: FakePostHog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.engines.hogql import printer

    parsed = _count_parses(monkeypatch)
    folder = tmp_path / "hogql"
    sent: list[str] = []
    for _ in range(2):  # two commands: each its own source, as each process builds one
        printer.sent_text.cache_clear()
        api = PostHogHTTPSource(DEFAULT_KEY, "4242", fake.url, printed_folder=folder)
        try:
            before = len(fake.query_texts())
            api.run(written(WRITTEN), {"as_of": AS_OF})
            sent += sent_since(fake, before)
        finally:
            api.close()
    assert len(parsed) == 1
    assert sent == [print_select(parse_select(WRITTEN.strip()))] * 2


def test_an_inline_query_is_never_written(fake: FakePostHog, tmp_path: Path) -> None:
    from usertrack.engines.inline import inline_query

    folder = tmp_path / "hogql"
    api = PostHogHTTPSource(DEFAULT_KEY, "4242", fake.url, printed_folder=folder)
    try:
        api.run(inline_query("SELECT event FROM events WHERE event = 'typed' LIMIT 1", "hogql"), {})
        assert not folder.exists() or not list(folder.iterdir())
        api.run(written(WRITTEN), {"as_of": AS_OF})  # a file's is
        assert len(list(folder.glob("*.hogql"))) == 1
    finally:
        api.close()


def test_the_shipped_texts_are_the_files_printed_now() -> None:
    """scripts/gen_printed.py's file is made under this printer and parser (its key), and each
    entry is what PostHog's parser and the printer make of its file now (a file edited since
    has no entry: it is parsed as before)."""
    import hashlib
    import importlib.util
    import json

    from usertrack.engines.hogql import printer

    spec = importlib.util.spec_from_file_location("gen_printed", REPO / "scripts/gen_printed.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    data = json.loads(printer.SHIPPED_TEXTS.read_text(encoding="utf-8"))
    assert data["key"] == printer._key_prefix().hex(), "run scripts/gen_printed.py"
    texts = gen.sent_texts()
    files = {hashlib.sha256(t.encode()).hexdigest(): t for t in texts}
    same = [d for d in data["texts"] if d in files]
    assert len(same) >= len(texts) // 2
    # what Workspace.bind gives the source without --where is among them
    bound = strip_sql(LIBRARY.get("posthog/paths_summary").sql.replace("{filters}", "true"))
    assert hashlib.sha256(bound.encode()).hexdigest() in same
    for digest in same:
        assert data["texts"][digest] == print_select(read(files[digest]))


def test_a_shipped_file_is_sent_without_parsing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first command live sends a shipped file's text printed when the package was made:
    PostHog's parser (seconds for the longest files) is not run; an edited file is parsed."""
    from usertrack.engines.hogql import printer

    parsed = _count_parses(monkeypatch)
    printer.sent_text.cache_clear()
    api = PostHogHTTPSource(DEFAULT_KEY, "4242", "http://127.0.0.1:9", printed_folder=tmp_path)
    try:
        query = LIBRARY.get("posthog/paths_summary")
        text = strip_sql(query.sql.replace("{filters}", "true"))  # as Workspace.bind gives it
        assert api._printed(query, text) == print_select(read(text)) and parsed == []
        edited = text.replace("AS sequences", "AS sequences_kept")
        assert api._printed(query, edited) == print_select(read(edited)) and parsed == [edited]
    finally:
        api.close()
        printer.sent_text.cache_clear()
