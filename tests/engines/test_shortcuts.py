"""The local shortcuts (usertrack/engines/local/shortcuts.py), driven by their registry: each is the
shipped file's answer on a demo store, its digest is the shipped file's, and an edited copy of
the file runs as written (the answer follows the edit). The summary and group files' shortcuts, an
analysis's own count, are held by the analyses' answers: tests/engines/test_summary_shortcuts.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from usertrack.core.shipped import shipped_path
from usertrack.engines.local import shortcuts, summaries
from usertrack.engines.local.source import LocalPostHogSource, wire_value
from usertrack.engines.shortcut import ANY_FILTER, Shortcut
from usertrack.queries.library import Query, load_queries, parse_query, text_digest

ANCHOR = datetime(2026, 11, 16)  # conftest's fixed_demo_home
AS_OF = ANCHOR - timedelta(hours=13, minutes=30)  # part-days and part-hours at either end
SINCE = AS_OF - timedelta(days=20, hours=5)
EXCLUDE = r"@datagen\.dev$"
_SPAN = {"since": SINCE, "as_of": AS_OF, "exclude_pattern": EXCLUDE}
# the profile's per-user files, everyone (a --persons cell lists emails:
# tests/engines/test_email_lists.py)
_LISTS = {"as_of": AS_OF, "exclude_pattern": EXCLUDE, "segment_only": 0, "segment_emails": []}
_ONLY_PAGEVIEWS = ("AND {filters}", "AND {filters} AND event = '$pageview'")
_NONE = ("AND {filters}", "AND {filters} AND false")
_ONCE = {"min_occurrences": 1}  # retention: a return is one return event
# retention: no --start / --return EVENT:PROPERTY=VALUE
_WHOLE = {"start_property": "", "start_value": "", "return_property": "", "return_value": ""}


@dataclasses.dataclass(frozen=True)
class Case:
    """How a shortcut's file is asked on the demo (its values) and an edit of the file that
    changes its answer (old text -> new, the first occurrence)."""

    values: dict[str, Any]
    edit: tuple[str, str]


CASES: dict[str, Case] = {
    "posthog/activity_days": Case(_SPAN, _ONLY_PAGEVIEWS),
    "posthog/activity_hours": Case(_SPAN, _ONLY_PAGEVIEWS),
    "posthog/activity_person_hours": Case(_SPAN, _ONLY_PAGEVIEWS),
    "posthog/active_persons": Case(_SPAN, _NONE),
    "posthog/activity_volume": Case(_SPAN, _ONLY_PAGEVIEWS),
    "posthog/activity": Case(
        _LISTS, ("GROUP BY email", "  AND event = '$pageview'\nGROUP BY email")
    ),
    "posthog/mcp_clicks": Case(_LISTS, ("INTERVAL 30 DAY", "INTERVAL 3 DAY")),
    "posthog/ux_issues": Case(_LISTS, ("INTERVAL 7 DAY", "INTERVAL 1 DAY")),
    "posthog/daily_active": Case(
        {"as_of": ANCHOR, "days": 14, "exclude_pattern": EXCLUDE}, ("86400000000", "3600000000")
    ),
    "posthog/session_facts": Case({**_SPAN, "until": AS_OF}, _ONLY_PAGEVIEWS),
    "posthog/churn_periods": Case({**_SPAN, "period": "week"}, _NONE),
    "posthog/churn_events": Case(_SPAN, _ONLY_PAGEVIEWS),
    "posthog/segment_persons": Case(
        {"as_of": AS_OF, "exclude_pattern": EXCLUDE},
        ("WHERE timestamp", "WHERE false AND timestamp"),
    ),
    "posthog/path_events": Case(
        {**_SPAN, "until": AS_OF, "pageviews": 1, "screens": 0, "custom_events": 1},
        ("AND {filters}", "AND {filters} AND event != '$pageview'"),
    ),
    "posthog/feature_usage": Case(
        {**_SPAN, "split": AS_OF - timedelta(days=10), "by": "feature", "duration": "duration"},
        ("AND {filters}", "AND {filters} AND timestamp > toDateTime({split}, 'UTC')"),
    ),
    "posthog/retention_activity": Case(
        {
            **_SPAN,
            "period": "week",
            "start_event": "$pageview",
            "return_event": "",
            **_ONCE,
            **_WHOLE,
            "week_start": "monday",
        },
        _NONE,
    ),
    "posthog/retention_first_starts": Case(
        {**_SPAN, "start_event": "$pageview", **_WHOLE},
        ("HAVING min(timestamp)", "HAVING max(timestamp)"),
    ),
    "posthog/churn_persons": Case(
        {
            **_SPAN,
            "then": AS_OF - timedelta(days=6, hours=7),
            "then_since": SINCE - timedelta(days=9),
        },
        _ONLY_PAGEVIEWS,
    ),
    "posthog/engagement_facts": Case(_SPAN, _ONLY_PAGEVIEWS),
}
# The shortcuts whose rows are compared here: all but the summary and group files'.
ROWS = {
    q: cut
    for q, cut in shortcuts.REGISTRY.items()
    if cut.entry not in (summaries.ENTRY, summaries.GROUPS)
}
# A --where, for the shortcuts that apply one themselves (ANY_FILTER).
WHERE = ("properties.$browser = 'Chrome'",)


@pytest.fixture(scope="module")
def source(fixed_demo_home: Path) -> Iterator[LocalPostHogSource]:
    local = LocalPostHogSource(fixed_demo_home / "demo" / "events.duckdb")
    yield local
    local.close()


def _asked(source: LocalPostHogSource, query: Query, cut: Shortcut) -> Query:
    """`query` as the engine gets it for the shortcut's entry: `{filters}` filled with true,
    in the shortcut's form."""
    filled = query.filled(())
    return source.facts_query(filled) if cut.form == "facts" else filled


def _unnested(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows as an analysis reads them: a row's arrays unnested into a row per element
    (usertrack.analytics.common.unnested), as a facts shortcut gives them."""
    out = []
    for row in rows:
        lists = [v for v in row if isinstance(v, list)]
        if not lists:
            out.append(row)
            continue
        for i in range(max(len(v) for v in lists)):
            out.append(tuple((v[i] if i < len(v) else None) if isinstance(v, list) else v
                             for v in row))  # fmt: skip
    return out


def _facts(source: LocalPostHogSource, query: Query, values: dict[str, Any]) -> list[Any]:
    """The facts table an analysis reads for `query` (LocalPostHogSource.facts_cursor)."""
    cur = source.facts_cursor(query, values, "facts")
    try:
        return _unnested(cur.execute("SELECT * FROM facts").fetchall())
    finally:
        cur.close()


def _paths(source: LocalPostHogSource, query: Query, values: dict[str, Any]) -> list[Any]:
    """The path sequences paths reads for `query` (its nodes' names): from the store's path
    table where LocalPostHogSource.path_codes answers, else from the file's rows."""
    from usertrack.analytics.common import FactsQuery
    from usertrack.analytics.paths import run as paths

    found = source.path_codes(query, values)
    if shortcuts.find(query, "path_codes", values) is not None:
        assert found is not None, "the shortcut is gated in but path_codes gives nothing"
    if found is not None:
        kept, first, nodes = paths.rolled_sequences(*found)
    else:
        con, sql, bound = source.facts_sql(query, values)
        try:
            facts = FactsQuery(con, f"(\n{sql}\n)", bound, query.id)
            kept, first = paths._sequences(facts)
            nodes = facts.execute("SELECT code, node FROM path_nodes").fetchall()
        finally:
            con.close()
    names = dict(nodes)
    starts = first.tolist()
    ends = [*starts[1:], len(kept)][: len(starts)]
    return [tuple(names[c] for c in kept[a:b].tolist()) for a, b in zip(starts, ends, strict=True)]


def _rows(source: LocalPostHogSource, query: Query, cut: Shortcut, values: dict[str, Any]) -> Any:
    """The rows the engine gives for `query` where the shortcut's entry takes it, sorted."""
    run: Callable[[], list[Any]]
    if cut.entry == "statement":
        run = lambda: source.run(query, values).rows  # noqa: E731
    elif cut.entry in ("facts", "first_starts"):  # first starts: a dashboard's, with pyarrow
        import pyarrow  # noqa: F401

        run = lambda: _facts(source, query, values)  # noqa: E731
    elif cut.entry == "segment_persons":  # the file's rows where it is not taken (callers')

        def run() -> list[Any]:
            return (source.segment_persons(query, values) or source.run(query, values)).rows

    elif cut.entry == "feature_times":  # its table beside the store, where one is kept
        run = lambda: source.run(query, values).rows  # noqa: E731
    elif cut.entry == "path_codes":
        run = lambda: _paths(source, query, values)  # noqa: E731
    else:  # pragma: no cover - every entry is listed above
        raise AssertionError(f"no runner for the entry {cut.entry!r}")
    return sorted(run(), key=repr)


def _taken(source: LocalPostHogSource, query: Query, cut: Shortcut, values: dict[str, Any]) -> bool:
    """Whether the engine takes the shortcut for `query` with `values`."""
    wired = {k: wire_value(v) for k, v in values.items()}
    return shortcuts.find(query, cut.entry, wired) is cut and source.has_tables(cut.tables)


def test_every_shortcut_has_a_case_and_only_those() -> None:
    assert set(CASES) == set(ROWS)


@pytest.mark.parametrize("query_id", sorted(shortcuts.REGISTRY))
def test_a_shortcuts_digest_is_its_shipped_files(query_id: str) -> None:
    cut = shortcuts.REGISTRY[query_id]
    path = shipped_path("queries") / f"{query_id}.sql"
    digest = text_digest(path.read_text(encoding="utf-8"))
    assert digest == cut.digest, (
        f"{path} is not the text its shortcut was checked against: check the shortcut still"
        f" gives its answer (this file's tests), then declare digest {digest!r}"
    )


@pytest.mark.parametrize("query_id", sorted(ROWS))
def test_a_shortcut_gives_its_files_answer(source: LocalPostHogSource, query_id: str) -> None:
    cut = shortcuts.REGISTRY[query_id]
    case = CASES[query_id]
    query = _asked(source, load_queries(shipped_path("queries")).get(query_id), cut)
    assert _taken(source, query, cut, case.values), f"{query_id}'s shortcut is not taken"
    as_written = dataclasses.replace(query, made=None)  # no origin: never a shortcut
    assert not _taken(source, as_written, cut, case.values)
    want = _rows(source, as_written, cut, case.values)
    assert want, f"{query_id}: the demo gives no rows to compare"
    assert _rows(source, query, cut, case.values) == want


@pytest.mark.parametrize("query_id", sorted(q for q, c in ROWS.items() if c.filters == ANY_FILTER))
def test_a_shortcut_under_a_where_gives_its_files_answer(
    source: LocalPostHogSource, query_id: str
) -> None:
    cut = shortcuts.REGISTRY[query_id]
    values = CASES[query_id].values
    filled = load_queries(shipped_path("queries")).get(query_id).filled(WHERE)
    query = source.facts_query(filled) if cut.form == "facts" else filled
    assert _taken(source, query, cut, values), f"{query_id}'s shortcut is not taken"
    want = _rows(source, dataclasses.replace(query, made=None), cut, values)
    assert want, f"{query_id}: the demo gives no rows to compare"
    assert _rows(source, query, cut, values) == want


@pytest.mark.parametrize("query_id", sorted(ROWS))
def test_an_edited_file_runs_as_written(
    source: LocalPostHogSource, query_id: str, tmp_path: Path
) -> None:
    """A copy of the shipped file in a library of one's own, edited: the answer is the edited
    file's, not the shortcut's."""
    cut = shortcuts.REGISTRY[query_id]
    case = CASES[query_id]
    folder, name = query_id.split("/")
    text = (shipped_path("queries") / f"{query_id}.sql").read_text(encoding="utf-8")
    old, new = case.edit
    assert old in text, f"{query_id}: the case's edit no longer fits the file"
    path = tmp_path / folder / f"{name}.sql"
    path.parent.mkdir()
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    shipped = _asked(source, load_queries(shipped_path("queries")).get(query_id), cut)
    edited = _asked(source, parse_query(path, folder), cut)
    assert not _taken(source, edited, cut, case.values)
    got = _rows(source, edited, cut, case.values)
    assert got == _rows(source, dataclasses.replace(edited, made=None), cut, case.values)
    assert got != _rows(source, shipped, cut, case.values), f"{query_id}: the edit changes nothing"
    # the same text unedited, copied into a library of one's own, is the shipped file
    path.write_text(text, encoding="utf-8")
    assert _taken(source, _asked(source, parse_query(path, folder), cut), cut, case.values)


def test_retention_activity_with_min_occurrences_runs_as_written(
    source: LocalPostHogSource,
) -> None:
    """retention --min-occurrences N above 1 (a return is N return events in a period): the
    per-day rollup says whether a person had an event on a day, not how many, so the shortcut
    steps aside and the file's own count answers, a smaller one than a single event's."""
    query_id = "posthog/retention_activity"
    cut = shortcuts.REGISTRY[query_id]
    query = _asked(source, load_queries(shipped_path("queries")).get(query_id), cut)
    values = {**CASES[query_id].values, "min_occurrences": 3}
    assert not _taken(source, query, cut, values)
    got = _rows(source, query, cut, values)
    assert got == _rows(source, dataclasses.replace(query, made=None), cut, values)
    returned = sum(1 for r in got if r[3])
    once = sum(1 for r in _rows(source, query, cut, CASES[query_id].values) if r[3])
    assert 0 < returned < once


@pytest.mark.parametrize(
    "query_id", ["posthog/retention_activity", "posthog/retention_first_starts"]
)
def test_retention_of_any_start_event_is_the_files_answer(
    source: LocalPostHogSource, query_id: str
) -> None:
    """retention --start any (start_event '', PostHog's All events): the activity rollup reads
    the start events by name, so it steps aside; the first starts take any event themselves.
    Either way the rows are the file's."""
    cut = shortcuts.REGISTRY[query_id]
    query = _asked(source, load_queries(shipped_path("queries")).get(query_id), cut)
    values = {**CASES[query_id].values, "start_event": ""}
    assert _taken(source, query, cut, values) == (query_id == "posthog/retention_first_starts")
    got = _rows(source, query, cut, values)
    assert got == _rows(source, dataclasses.replace(query, made=None), cut, values)
    assert got, f"{query_id}: no one started with any event"


def test_query_list_says_which_files_have_a_shortcut(tmp_path: Path) -> None:
    """`usertrack query --list` names the local shortcut of each file that has one, and says it
    is off for a file of one's own library that differs from the shipped one."""
    import shutil

    from tests.cli_runner import query_listing as listing

    shipped = listing(shipped_path("queries"))
    marked = {q for q, lines in shipped.items() if any("local shortcut:" in x for x in lines)}
    assert marked == set(shortcuts.REGISTRY)
    mine = tmp_path / "queries"
    shutil.copytree(shipped_path("queries"), mine)
    edited = mine / "posthog" / "activity_hours.sql"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    lines = listing(mine)
    assert (
        "local shortcut: off, the file differs from the one shipped: it runs as written"
        in (lines["posthog/activity_hours"])
    )
    assert any("answers this file as shipped" in x for x in lines["posthog/activity_days"])


def test_paths_of_other_kinds_of_event_run_as_written(source: LocalPostHogSource) -> None:
    """The store's path table holds pageviews and custom events: path_events.sql asked for
    screens too, or for custom events alone (`paths --type`), runs as written."""
    cut = shortcuts.REGISTRY["posthog/path_events"]
    query = _asked(source, load_queries(shipped_path("queries")).get("posthog/path_events"), cut)
    values = CASES["posthog/path_events"].values
    assert _taken(source, query, cut, values)
    assert not _taken(source, query, cut, {**values, "screens": 1})
    assert not _taken(source, query, cut, {**values, "pageviews": 0})


@pytest.mark.parametrize(
    "query_id", ["posthog/retention_activity", "posthog/retention_first_starts"]
)
def test_retention_of_a_narrowed_start_event_is_the_files_answer(
    source: LocalPostHogSource, query_id: str
) -> None:
    """retention --start EVENT:PROPERTY=VALUE: the rollup and the first starts read the start
    events by name alone, so both step aside, and the file's own rows (fewer people: only the
    pageviews of one page start) answer."""
    cut = shortcuts.REGISTRY[query_id]
    query = _asked(source, load_queries(shipped_path("queries")).get(query_id), cut)
    values = {**CASES[query_id].values, "start_property": "$pathname", "start_value": "/pricing"}
    assert not _taken(source, query, cut, values)
    got = _rows(source, query, cut, values)
    assert got == _rows(source, dataclasses.replace(query, made=None), cut, values)
    whole = _rows(source, query, cut, CASES[query_id].values)
    assert 0 < len({r[0] for r in got}) < len({r[0] for r in whole})


def test_retention_activity_of_sunday_weeks_runs_as_written(source: LocalPostHogSource) -> None:
    """retention --week-start sunday: the rollup's weeks start on Monday, so it steps aside and
    the file's own rows, periods named by their Sundays, answer."""
    query_id = "posthog/retention_activity"
    cut = shortcuts.REGISTRY[query_id]
    query = _asked(source, load_queries(shipped_path("queries")).get(query_id), cut)
    values = {**CASES[query_id].values, "week_start": "sunday"}
    assert not _taken(source, query, cut, values)
    got = _rows(source, query, cut, values)
    assert got == _rows(source, dataclasses.replace(query, made=None), cut, values)
    assert got and {r[1].isoweekday() for r in got} == {7}
