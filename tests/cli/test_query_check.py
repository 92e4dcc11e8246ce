"""Query files checked against PostHog without running them: `usertrack doctor` and
`usertrack query --check` send each HogQL file as a HogQLMetadata query (posthog/hogql/metadata.py)
to the tests' PostHog, which answers through the same printer as every query it runs.

HogQLMetadata has no `values`. PostHog's master puts a request's `globals` into the text's
placeholders (posthog/hogql/placeholders.py ReplacePlaceholders); earlier PostHog leaves them to
the printer, which refuses each one (posthog/hogql/printer/base.py visit_placeholder). The
tests' PostHog answers both ways (`metadata_globals`), and every file must pass both."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli_runner import run
from tests.posthog_server import DEFAULT_KEY, FakePostHog, live_env, serve
from usertrack.core.errors import EXIT_CONFIG, EXIT_QUERY

REPO = Path(__file__).resolve().parents[2]
PROJECT = 4242
# doctor and query --check send each file as of one moment, parsed once (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_check_moment")

# a user's own file with the alias that shadowed `person` in the shipped paths query
SHADOWING = """-- name: mine
-- description: my pages per person
-- returns: table
-- param since: 2026-01-01
SELECT person_id AS person, count() AS pages
FROM events
WHERE timestamp >= toDateTime({since}) AND person.properties.email != ''
GROUP BY person
"""
SINCE = "2026-01-05 00:00:00"
# a typo'd column in a file that takes a parameter
TYPO = """-- name: typo
-- description: pageviews since a day
-- returns: table
-- param since: 2026-01-01
SELECT count() AS n FROM events WHERE timestamp >= toDateTime({since}) AND evnt = '$pageview'
"""
SHADOW_MESSAGE = (
    "Cannot access property 'properties' on 'person'. This can happen when a column alias"
    " shadows a table field. Try renaming the alias."
)
# a function HogQL does not have
EXACT = """-- name: median_exact
-- description: the exact median of the events' hours
-- returns: table
SELECT quantileExactInclusive(0.5)(toHour(timestamp)) AS h FROM events
"""


@pytest.fixture
def fake(handmade_store: Path) -> Iterator[FakePostHog]:
    with serve(handmade_store, project_id=PROJECT) as server:
        yield server


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """The shipped library plus two files of the user's that PostHog refuses."""
    root = tmp_path / "queries"
    shutil.copytree(REPO / "queries", root)
    (root / "posthog" / "mine.sql").write_text(SHADOWING)
    (root / "posthog" / "median_exact.sql").write_text(EXACT)
    return root


def metadata(fake: FakePostHog, text: str, **more: object) -> dict[str, object]:
    """The tests' PostHog's answer to a HogQLMetadata request, over HTTP."""
    body = {"query": {"kind": "HogQLMetadata", "language": "hogQL", "query": text, **more}}
    resp = httpx.post(
        f"{fake.url}/api/projects/{PROJECT}/query/",
        json=body,
        headers={"Authorization": f"Bearer {DEFAULT_KEY}"},
    )
    assert resp.status_code == 200, resp.text
    answer: dict[str, object] = resp.json()
    return answer


def messages(answer: dict[str, object]) -> list[str]:
    errors = answer["errors"]
    assert isinstance(errors, list)
    return [str(e["message"]) for e in errors]


@pytest.mark.parametrize("from_globals", [True, False], ids=["master", "earlier"])
def test_doctor_has_posthog_accept_every_shipped_hogql_file(
    fake: FakePostHog, handmade_db: str, from_globals: bool
) -> None:
    fake.metadata_globals = from_globals
    result = run(["doctor"], **live_env(fake, handmade_db))
    assert result.exit_code == 0, result.stdout + result.stderr
    shipped = sorted((REPO / "queries" / "posthog").glob("*.sql"))
    assert f"✓ HogQL files: PostHog accepts all {len(shipped)} HogQL query files" in result.stdout
    assert len(fake.metadata_texts) == len(shipped)
    # each text as a run builds it: no placeholder left, and no `globals` to resolve names by
    # (outside string constants: a regular expression's `{4}` is no placeholder)
    bare = [re.sub(r"'(?:[^'\\]|\\.)*'", "''", t) for t in fake.metadata_texts]
    assert not [t for t in bare if re.search(r"\{\w+\}", t)]
    sent = [r["body"]["query"] for r in fake.requests if r["path"].endswith("/query/")]
    assert sent and not [q for q in sent if "globals" in q]


def test_query_check_accepts_a_file_with_parameters_on_an_earlier_posthog(
    fake: FakePostHog, library: Path
) -> None:
    fake.metadata_globals = False
    args = ["query", "--check", "posthog/weekly_visitors", "--queries", str(library)]
    result = run(args, **live_env(fake))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["PostHog accepts 1 of 1 HogQL query files"]
    (text,) = fake.metadata_texts
    assert "toDateTime('20" in text and "{as_of}" not in text


@pytest.mark.parametrize("from_globals", [True, False], ids=["master", "earlier"])
def test_query_check_names_a_file_with_an_unknown_column_and_a_parameter(
    fake: FakePostHog, library: Path, from_globals: bool
) -> None:
    fake.metadata_globals = from_globals
    (library / "posthog" / "typo.sql").write_text(TYPO)
    args = ["query", "--check", "posthog/typo", "--queries", str(library)]
    result = run(args, **live_env(fake))
    assert result.exit_code == EXIT_QUERY, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"✗ {library / 'posthog' / 'typo.sql'}: Unable to resolve field: evnt",
        "PostHog accepts 0 of 1 HogQL query files",
    ]


# ------------------------------------------------- the tests' PostHog held to PostHog's own


def test_metadata_puts_globals_into_placeholders_as_posthogs_master_does(
    fake: FakePostHog,
) -> None:
    # posthog/hogql/metadata.py get_hogql_metadata: parse_select(query.query), then
    # replace_placeholders(hogql_ast, query.globals) (placeholders.py ReplacePlaceholders: a
    # simple value, utils.py is_simple_value, becomes a constant); {filters} without filters is
    # true (filters.py ReplaceFilters.visit_placeholder)
    text = "SELECT count() FROM events WHERE timestamp >= toDateTime({since}) AND {filters}"
    assert metadata(fake, text, globals={"since": SINCE})["isValid"] is True
    # a name globals lack: HogVM's GET_GLOBAL raises HogVMException, not an ExposedHogQLError,
    # which get_hogql_metadata answers by its class name alone
    assert messages(metadata(fake, text, globals={"until": SINCE})) == ["Unexpected HogVMException"]
    assert messages(metadata(fake, text)) == ["Unexpected HogVMException"]
    # null is not a simple value: ReplacePlaceholders.visit_placeholder's QueryError
    assert messages(metadata(fake, text, globals={"since": None})) == [
        "Placeholder returned an unexpected type: NoneType. Expected an AST node or a simple value."
    ]


def test_metadata_leaves_placeholders_to_the_printer_as_earlier_posthog_does(
    fake: FakePostHog,
) -> None:
    # earlier posthog/hogql/metadata.py get_hogql_metadata: parse_select(query.query),
    # replace_filters only `if query.filters`, then the printer: printer/base.py
    # visit_placeholder raises QueryError(f"Unresolved placeholder: {{{node.field}}}")
    fake.metadata_globals = False
    text = "SELECT count() FROM events WHERE timestamp >= toDateTime({since})"
    assert messages(metadata(fake, text, globals={"since": SINCE})) == [
        "Unresolved placeholder: {since}"
    ]
    assert messages(metadata(fake, "SELECT count() FROM events WHERE {filters}")) == [
        "Unresolved placeholder: {filters}"
    ]
    printed = "SELECT count() FROM events WHERE timestamp >= toDateTime('2026-01-05 00:00:00')"
    assert metadata(fake, printed)["isValid"] is True


def test_a_query_with_a_placeholder_without_a_value_is_a_server_error(fake: FakePostHog) -> None:
    # posthog/api/query.py create: HogVM's HogVMException (a placeholder the values lack,
    # placeholders.py ReplacePlaceholders) is neither an ExposedHogQLError nor an
    # ExposedCHQueryError, so it is raised on: a 500, not a 400 validation_error
    text = "SELECT count() FROM events WHERE timestamp > toDateTime({since})"
    body = {"query": {"kind": "HogQLQuery", "query": text, "values": {"until": SINCE}}}
    resp = httpx.post(
        f"{fake.url}/api/projects/{PROJECT}/query/",
        json=body,
        headers={"Authorization": f"Bearer {DEFAULT_KEY}"},
    )
    assert resp.status_code == 500, resp.text


@pytest.mark.parametrize("from_globals", [True, False], ids=["master", "earlier"])
def test_metadata_globals_resolve_a_bare_name_nothing_else_resolves(
    fake: FakePostHog, from_globals: bool
) -> None:
    # posthog/hogql/resolver.py visit_field: when no table, alias or column has the name,
    # `self.context.globals` (HogQLContext(globals=query.globals)) gives a constant; a chain
    # through a value that is not a dict or a list cannot be resolved
    fake.metadata_globals = from_globals
    text = "SELECT count() FROM events WHERE event = wanted"
    assert messages(metadata(fake, text)) == ["Unable to resolve field: wanted"]
    assert metadata(fake, text, globals={"wanted": "$pageview"})["isValid"] is True
    assert messages(metadata(fake, "SELECT wanted.x FROM events", globals={"wanted": "a"})) == [
        "Cannot resolve field: wanted.x"
    ]
    # a column comes first: `event` is the events table's, whatever globals say
    answer = metadata(fake, "SELECT event FROM events", globals={"event": 1})
    assert answer["isValid"] is True


def test_doctor_names_each_file_posthog_refuses_with_posthogs_message(
    fake: FakePostHog, handmade_db: str, library: Path
) -> None:
    result = run(["doctor", "--queries", str(library)], **live_env(fake, handmade_db))
    assert result.exit_code == EXIT_QUERY, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if "HogQL files" in x)
    assert line.startswith("✗ HogQL files: PostHog refuses 2 of ")
    assert f"{library / 'posthog' / 'mine.sql'}: {SHADOW_MESSAGE}" in line
    assert (
        f"{library / 'posthog' / 'median_exact.sql'}: Unsupported function call"
        " 'quantileExactInclusive(...)'"
    ) in line
    assert "fix: rewrite each named file" in result.stdout
    assert DEFAULT_KEY not in result.stdout + result.stderr


def test_query_check_lists_the_refused_files(fake: FakePostHog, library: Path) -> None:
    env = live_env(fake)
    result = run(["query", "--check", "--queries", str(library)], **env)
    assert result.exit_code == EXIT_QUERY, result.stdout + result.stderr
    refused = [x for x in result.stdout.splitlines() if x.startswith("✗ ")]
    assert refused == [
        f"✗ {library / 'posthog' / 'median_exact.sql'}: Unsupported function call"
        " 'quantileExactInclusive(...)'",
        f"✗ {library / 'posthog' / 'mine.sql'}: {SHADOW_MESSAGE}",
    ]
    one = run(["query", "--check", "posthog/mine", "--queries", str(library)], **env)
    assert one.exit_code == EXIT_QUERY
    assert one.stdout.splitlines() == [
        f"✗ {library / 'posthog' / 'mine.sql'}: {SHADOW_MESSAGE}",
        "PostHog accepts 0 of 1 HogQL query files",
    ]
    good = run(["query", "--check", "posthog/paths_summary", "--queries", str(library)], **env)
    assert good.exit_code == 0, good.stdout + good.stderr
    assert good.stdout.splitlines() == ["PostHog accepts 1 of 1 HogQL query files"]


def test_a_file_posthog_refuses_at_run_time_is_one_line_and_exit_7(
    fake: FakePostHog, handmade_db: str, library: Path
) -> None:
    args = ["query", "posthog/mine", "--queries", str(library)]
    result = run(args, **live_env(fake, handmade_db))
    assert result.exit_code == EXIT_QUERY, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(library / "posthog" / "mine.sql") in lines[0]
    assert "Cannot access property 'properties' on 'person'" in lines[0]


def test_the_check_needs_a_live_posthog(demo_home: Path, tmp_path: Path) -> None:
    result = run(["query", "--check"], tmp_path / "home")
    assert result.exit_code == EXIT_CONFIG
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a live PostHog" in lines[0], result.stderr
    doctor = run(["doctor"], demo_home)
    # a check not run gets a '-', never the tick of a check that passed
    assert "- HogQL files: not checked: checking the query files against PostHog needs a live" in (
        doctor.stdout
    )
    assert "✓ HogQL files" not in doctor.stdout
    assert "- PostHog project key: not checked" in doctor.stdout
