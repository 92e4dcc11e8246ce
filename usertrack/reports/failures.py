"""failures.yaml: why runs and tool calls fail, and whose job it is to fix it.

The analyst workflow's failure investigation as rules in a file. A failure is one row of
`neon/failures` (the deep dive runs it for one email): a failed workflow run (level 'workflow',
its run_error_log) or a failed tool call (level 'tool', its error_type and error_message). The
first rule that matches names its cause (a specific name such as "Infrastructure: API timeout"),
its category and its owner. A rule matches when one of its `match` patterns (case-insensitive
regular expressions, RE2 as DuckDB runs them) is found in error_type, error_message or
run_error_log, and its optional `when` (one SQL boolean expression over the failure's columns) is
true. A failure no rule matches gets "Uncategorized: <error_type>", never a vague "other".

Categorizing stays vectorised in DuckDB when the window holds hundreds of thousands of failures:
the patterns are matched once per distinct text (a CASE over the rules, one statement), the texts'
verdicts remembered for the next call of a process that categorizes again (the MCP server), and
each row's `when` evaluated in one more statement. Tool level and workflow level are kept apart
everywhere (the analyst workflow: "tool success is not workflow success").
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.checks.sandbox import time_limit
from usertrack.core.errors import EXIT_USAGE, UsertrackError
from usertrack.core.filecache import parsed
from usertrack.core.rulefiles import did_you_mean, read_rule_mapping, reject_unknown_keys
from usertrack.core.standout import standout_days
from usertrack.reports.failure_rows import (
    FAILURE_COLUMNS,
    columns_and_tuples,
    create_failure_table,
    load_arrow,
    load_failures,  # noqa: F401  (its public home is here too)
    load_rows,
)
from usertrack.reports.failure_summaries import (
    SUMMARIZED,
    as_dicts,
    category_summary,
    cause_summary,
    failing_tools,
    without_level,
)

if TYPE_CHECKING:
    import duckdb

    from usertrack.engines.base import Result
    from usertrack.workspace import Progress, Workspace

_TOP_KEYS = {"categories", "rules"}
_RULE_KEYS = {"name", "category", "owner", "match", "when", "description"}
UNCATEGORIZED = "Uncategorized"
UNKNOWN_OWNER = "Unknown"

_TEXT_FIELDS = ("error_type", "error_message", "run_error_log")


class RulesFileError(UsertrackError):
    """failures.yaml is malformed; the message names the file, line and rule (exit code 2)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class FailureRule:
    name: str
    category: str
    owner: str
    patterns: tuple[str, ...]
    when: str | None = None
    description: str = ""
    line: int = 0


@dataclass(frozen=True)
class FailureRules:
    path: Path
    categories: dict[str, str]  # category -> default owner
    rules: tuple[FailureRule, ...]


# --------------------------------------------------------------------------------------------
# Loading and checking failures.yaml


def load_failure_rules(path: Path) -> FailureRules:
    """Read failures.yaml and check it whole: shape, keys, regular expressions, `when` clauses.

    Parsed once while the file is unchanged (`usertrack.core.filecache`: the MCP server's calls)."""
    return parsed("failure rules", path, _load_failure_rules)


def _load_failure_rules(path: Path) -> FailureRules:
    doc, top_line = read_rule_mapping(
        path,
        RulesFileError,
        "failure rules file",
        "a mapping with 'categories' and 'rules'",
        _TOP_KEYS,
    )
    raw_categories = doc.get("categories")
    if not isinstance(raw_categories, dict):
        raise RulesFileError(
            f"{path}:{top_line}: 'categories' must map each category to its owner"
            " (Infrastructure: Platform)"
        )
    cat_line = raw_categories.pop("__line__", top_line)
    categories: dict[str, str] = {}
    for name, owner in raw_categories.items():
        if not isinstance(name, str) or not isinstance(owner, str) or not owner.strip():
            raise RulesFileError(
                f"{path}:{cat_line}: category {name!r} must name its owner as text"
                " (Platform, User, Mixed, ...)"
            )
        categories[name.strip()] = owner.strip()
    if not categories:
        raise RulesFileError(f"{path}:{cat_line}: 'categories' is empty")

    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulesFileError(f"{path}:{top_line}: 'rules' must be a non-empty list")
    rules: list[FailureRule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules, start=1):
        if not isinstance(raw, dict):
            raise RulesFileError(
                f"{path}: rule #{i} must be a mapping with name, category and match"
            )
        line = raw.pop("__line__", 0)
        label = f"rule {raw.get('name')!r}" if raw.get("name") else f"rule #{i}"
        where = f"{path}:{line}: {label}"
        reject_unknown_keys(raw, _RULE_KEYS, where, RulesFileError)
        for key in ("name", "category"):
            value = raw.get(key)
            if not isinstance(value, str) or not value.strip():
                raise RulesFileError(f"{where}: '{key}' is required and must be text")
        name = raw["name"].strip()
        if name in seen:
            raise RulesFileError(
                f"{where}: duplicate name {name!r} (first defined at line {seen[name]})"
            )
        seen[name] = line
        category = raw["category"].strip()
        if category not in categories:
            raise RulesFileError(
                f"{where}: unknown category {category!r}"
                f"{did_you_mean(category, list(categories))}"
                f" (categories: {', '.join(categories)})"
            )
        owner = raw.get("owner", categories[category])
        if not isinstance(owner, str) or not owner.strip():
            raise RulesFileError(f"{where}: 'owner' must be text (Platform, User, Mixed, ...)")
        match = raw.get("match")
        patterns = [match] if isinstance(match, str) else match
        if (
            not isinstance(patterns, list)
            or not patterns
            or not all(isinstance(p, str) and p for p in patterns)
        ):
            raise RulesFileError(
                f"{where}: 'match' is required: a regular expression or a list of them"
            )
        when = raw.get("when")
        if when is not None and (not isinstance(when, str) or not when.strip()):
            raise RulesFileError(f"{where}: 'when' must be one SQL boolean expression")
        rules.append(
            FailureRule(
                name=name,
                category=category,
                owner=owner.strip(),
                patterns=tuple(patterns),
                when=when.strip() if isinstance(when, str) else None,
                description=str(raw.get("description") or "").strip(),
                line=line,
            )
        )
    spec = FailureRules(path=path, categories=categories, rules=tuple(rules))
    version = (path, spec.rules)
    if version not in _rules_checked:  # what the check reads: the rules (the path names them)
        _check_expressions(spec)
        if len(_rules_checked) >= 64:
            _rules_checked.clear()
        _rules_checked.add(version)
    return spec


# Rules whose patterns and `when` clauses passed _check_expressions (a DuckDB of its own, about
# 0.02 s): a process that loads failures.yaml for every command (the MCP server) checks each
# version of the rules once.
_rules_checked: set[tuple[Path, tuple[FailureRule, ...]]] = set()


def _check_expressions(spec: FailureRules) -> None:
    """Compile every pattern and bind every `when` in DuckDB; name the rule of the first failure."""
    import duckdb

    from usertrack.checks.sandbox import scratch
    from usertrack.checks.sql_checks import UnsafeSQLError, check_expression
    from usertrack.core.errors import first_line
    from usertrack.segments.rules import binder_message

    con = scratch()  # its TEMP table `failure` goes with it
    try:
        # Parsed before anything runs: a `when` is one expression over the failure's columns,
        # never a statement, a subquery or a file read (usertrack.checks.sandbox).
        for rule in spec.rules:
            if rule.when is not None:
                try:
                    check_expression(rule.when, con, what="'when'")
                except UnsafeSQLError as e:
                    where = f"{spec.path}:{rule.line}: rule {rule.name!r}"
                    raise RulesFileError(f"{where}: {e}") from None
        create_failure_table(con, "failure", temp=True)
        if _all_valid(con, spec):
            return
        columns = list(FAILURE_COLUMNS)
        available = ", ".join(columns)
        for rule in spec.rules:
            where = f"{spec.path}:{rule.line}: rule {rule.name!r}"
            for pattern in rule.patterns:
                try:
                    con.execute("SELECT regexp_matches('', ?, 'i')", [pattern]).fetchall()
                except duckdb.Error as e:
                    raise RulesFileError(
                        f"{where}: bad regular expression {pattern!r}: {_regex_problem(e)}"
                    ) from None
            if rule.when is None:
                continue
            try:
                with time_limit(con, f"{spec.path}: the rules"):  # binding folds constants
                    desc = con.execute(f"SELECT (\n{rule.when}\n) FROM failure LIMIT 0").description
            except duckdb.BinderException as e:
                raise RulesFileError(binder_message(where, "when", e, columns, available)) from None
            except duckdb.Error as e:
                raise RulesFileError(
                    f"{where}: 'when' is not a single SQL boolean expression: {first_line(e)}"
                ) from None
            if len(desc) != 1 or str(desc[0][1]) != "BOOLEAN":
                kind = desc[0][1] if len(desc) == 1 else "multi-column"
                raise RulesFileError(
                    f"{where}: 'when' is a {kind} expression, not a boolean one"
                    " (compare it: credits > 0)"
                )
    finally:
        con.close()


def _all_valid(con: duckdb.DuckDBPyConnection, spec: FailureRules) -> bool:
    """Two statements over every pattern and `when`: the common case costs two round trips."""
    import duckdb

    whens = [r.when for r in spec.rules if r.when]
    tests = [f"regexp_matches('', {_sql_text(p)}, 'i')" for r in spec.rules for p in r.patterns]
    try:
        con.execute(f"SELECT {', '.join(tests)}").fetchall()
        if whens:
            bound = ", ".join(f"(\n{w}\n)" for w in whens)
            with time_limit(con, f"{spec.path}: the rules"):  # binding folds constants
                desc = con.execute(f"SELECT {bound} FROM failure LIMIT 0").description
            if len(desc) != len(whens) or any(str(d[1]) != "BOOLEAN" for d in desc):
                return False
    except duckdb.Error:
        return False
    return True


def _regex_problem(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text.split("Error: ", 1)[-1]


# --------------------------------------------------------------------------------------------
# Categorizing


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _text_match_sql(rule: FailureRule) -> str:
    """Whether one of the rule's patterns is found in a text field (the rule's `when` aside)."""
    pattern = _sql_text("|".join(f"(?:{p})" for p in rule.patterns))
    tests = [f"regexp_matches(coalesce({f}, ''), {pattern}, 'i')" for f in _TEXT_FIELDS]
    return "(" + " OR ".join(tests) + ")"


def _match_sql(rule: FailureRule) -> str:
    text = _text_match_sql(rule)
    if rule.when:
        text += f" AND coalesce((\n{rule.when}\n), false)"
    return text


# The fallback names the failure's error_type; a workflow row has none, so the exception name in
# its log (a traceback's last `SomethingError:`) or the first words of its message stand in.
_FALLBACK_SQL = f"""'{UNCATEGORIZED}: ' || coalesce(
    nullif(trim(error_type), ''),
    nullif(regexp_extract(coalesce(run_error_log, error_message, ''),
        '([A-Za-z_][A-Za-z0-9_.]*(Error|Exception|Timeout|Exit))\\b', 1), ''),
    nullif(left(trim(split_part(coalesce(error_message, run_error_log, ''), chr(10), 1)), 60), ''),
    'no error recorded')"""

# A failure's texts (error_type, error_message, run_error_log): all the patterns read.
Text = tuple[Any, ...]
# What the patterns say of one text: the first rule without a `when` whose patterns match it
# (len(rules) when none does), the fallback cause (when none does), and for each rule with a
# `when` whether its patterns match.
Verdict = tuple[Any, ...]

# The verdicts of texts seen before, for one version of the rules: a process that categorizes
# again (the MCP server's next `failures` or `user` call, a window overlapping the last one)
# matches only the texts it has not seen. Bounded: past either limit it starts afresh.
_KNOWN_TEXTS = 100_000
_KNOWN_CHARS = 20_000_000
_known: dict[Text, Verdict] = {}
_known_state: list[Any] = [None, 0]  # the (path, rules) they are verdicts of; characters kept
_known_lock = threading.Lock()


def _distinct_texts(
    columns: list[str], tuples: Sequence[Sequence[Any]]
) -> tuple[list[Text], list[Text]]:
    """Each row's text and the distinct texts in order of first appearance. Equal texts are one
    key only when they are the same text to DuckDB: 1 and True are one dict key, two texts."""
    from itertools import chain
    from operator import itemgetter

    at = [columns.index(f) if f in columns else None for f in _TEXT_FIELDS]
    if None in at:
        keys: list[Text] = [tuple(None if j is None else row[j] for j in at) for row in tuples]
    else:
        keys = list(map(itemgetter(*at), tuples))
    distinct = list(dict.fromkeys(keys))
    if set(map(type, chain.from_iterable(distinct))) <= {str, type(None)}:
        return keys, distinct
    keys = [(k, tuple(type(v) for v in k)) for k in keys]  # never seen from a SQL source
    return keys, list(dict.fromkeys(keys))


def categorize(
    spec: FailureRules,
    con: duckdb.DuckDBPyConnection,
    rows: Result | Sequence[dict[str, Any]],
    table: str = "failure",
    out: str = "categorized",
    *,
    remember: bool = True,
    ordered: bool = True,
    columns: Sequence[str] | None = None,
) -> int:
    """Store failure rows as `table` (see load_failures) and create `out`: every row, plus
    `cause`, `category` and `owner`, in the order given (not `ordered`: in any order, for a
    caller that only aggregates them); with `columns`, only those of each row beside the
    three. Returns the row count.

    The patterns read only a failure's texts, and texts repeat (a tool's error on every call
    that hits it, a window overlapping the one asked before): they are matched once per
    distinct text, in one statement (a CASE over the rules without a `when`, which stops at the
    first match), and the verdicts remembered for this version of the rules. A `when` reads the
    whole row: evaluated on each row whose text its rule matches, in one more statement.

    Not `remember` (a failure report a dashboard computes once and shares): rows given as Arrow
    columns keep their texts in DuckDB, which numbers them in a table of their own (joined to
    the rows again by the texts), and no verdict is remembered or looked up (at 100,000 users a
    week's 96,000 failures hold 42,000 distinct texts: a quarter of the work, made Python
    objects only to be counted).
    """
    import duckdb

    arrow = getattr(rows, "arrow", None)
    numbered_here = arrow is not None and not remember
    # where the rules read each distinct text, by its id (__t): each once
    texts = ", ".join(f"any_value({f}) AS {f}" for f in _TEXT_FIELDS)
    texts_of = f'(SELECT __t, {texts} FROM "{table}" WHERE __t >= $1 GROUP BY __t)'
    if numbered_here:
        count, new = _load_numbered(con, arrow, table), True
        known: list[tuple[Text, Verdict]] = []
        texts_of = "(SELECT * FROM __texts WHERE __t >= $1)"  # one row a text already
    else:
        count, known, new, order, version = _load_known(spec, con, rows, arrow, table)

    n = len(spec.rules)
    conditional = [(i, r) for i, r in enumerate(spec.rules) if r.when]
    flags = [f"__m{i}" for i, _ in conditional]
    plain = "\n".join(
        f"WHEN {_text_match_sql(r)} THEN {i}" for i, r in enumerate(spec.rules) if not r.when
    )
    first = f"CASE {plain} ELSE {n} END" if plain else str(n)
    kinds = ["INTEGER", "INTEGER", "VARCHAR"] + ["BOOLEAN"] * len(flags)
    names = ["__t", "__k", "__fallback", *flags]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __verdicts ("
        + ", ".join(f"{c} {k}" for c, k in zip(names, kinds, strict=True))
        + ")"
    )
    try:
        with time_limit(con, f"{spec.path}: the rules"):
            if new:
                matched = "".join(f", {_text_match_sql(r)}" for _, r in conditional)
                con.execute(
                    f"""INSERT INTO __verdicts
                    SELECT __t, __k, CASE WHEN __k = {n} THEN {_FALLBACK_SQL} END{matched}
                    FROM (
                        SELECT *, {first} AS __k
                        FROM {texts_of}
                    )""",
                    [len(known)],
                )
    except duckdb.Error as e:
        raise RulesFileError(f"{spec.path}: the rules failed on the data: {e}") from None
    if known:
        _insert_known(con, names, kinds, [v for _, v in known])
    if not numbered_here:
        _remember(con, version, order[len(known) :], len(known))

    cases = "".join(
        f"WHEN __m{i} AND __k > {i} AND coalesce((\n{r.when}\n), false) THEN {i}\n"
        for i, r in conditional
    )
    rule = f"CASE {cases}ELSE __k END" if cases else "__k"
    causes = ", ".join(
        f"({i}, {_sql_text(r.name)}, {_sql_text(r.category)}, {_sql_text(r.owner)})"
        for i, r in enumerate(spec.rules)
    )
    hidden = ", ".join(["__t", "__row", "__k", "__fallback", *flags, "__rule"])
    # Each row with its place and its text id: its own column, or (numbered here) the id of
    # its texts in __texts.
    rows_sql = f'SELECT d.*, d.rowid AS __row FROM "{table}" AS d'
    if numbered_here:
        same = " AND ".join(f"d.{f} IS NOT DISTINCT FROM x.{f}" for f in _TEXT_FIELDS)
        rows_sql = f"""SELECT d.* REPLACE (x.__t AS __t), d.rowid AS __row
            FROM "{table}" AS d JOIN __texts AS x ON {same}"""
    kept = f"f.* EXCLUDE ({hidden})"
    if columns is not None:
        kept = ", ".join(f'f."{c}"' for c in columns)
    try:
        with time_limit(con, f"{spec.path}: the rules"):
            con.execute(
                f"""CREATE OR REPLACE TABLE "{out}" AS
            SELECT {kept},
                   coalesce(r.cause, f.__fallback) AS cause,
                   coalesce(r.category, '{UNCATEGORIZED}') AS category,
                   coalesce(r.owner, '{UNKNOWN_OWNER}') AS owner
            FROM (
                SELECT d.*, v.* EXCLUDE (__t), {rule} AS __rule
                FROM ({rows_sql}) AS d JOIN __verdicts AS v ON v.__t = d.__t
            ) AS f
            LEFT JOIN (VALUES {causes}) AS r(idx, cause, category, owner) ON r.idx = f.__rule
            {"ORDER BY f.__row" if ordered else ""}"""
            )
    except duckdb.Error as e:
        # A `when` that binds may still fail on a value (a cast of a message to INT): the
        # rules file's mistake, named with its rule and line, not an internal error.
        for _, r in conditional:
            try:
                con.execute(f'SELECT count(*) FROM "{table}" WHERE {_match_sql(r)}')
            except duckdb.Error as failed:
                raise RulesFileError(
                    f"{spec.path}:{r.line}: rule {r.name!r} fails on the data:"
                    f" {str(failed).splitlines()[0]}"
                ) from None
        raise RulesFileError(f"{spec.path}: the rules failed on the data: {e}") from None
    finally:
        con.execute("DROP TABLE IF EXISTS __verdicts")
        con.execute("DROP TABLE IF EXISTS __texts")
    return count


def _load_known(
    spec: FailureRules,
    con: duckdb.DuckDBPyConnection,
    rows: Result | Sequence[dict[str, Any]],
    arrow: Any,
    table: str,
) -> tuple[int, list[tuple[Text, Verdict]], bool, list[Text], Any]:
    """`rows` stored as `table`, each distinct text numbered in Python: the known texts (with
    their verdicts) first, then the new ones. Returns the row count, the known texts, whether
    any is new, every distinct text in id order and the rules' version."""
    if arrow is not None:  # Arrow columns (failure_copy): the texts alone cross into Python
        columns = list(arrow.column_names)
        tuples: Sequence[Sequence[Any]] = []
        keys = list(zip(*(_texts(arrow, f) for f in _TEXT_FIELDS), strict=True))
        distinct = list(dict.fromkeys(keys))
    else:
        columns, tuples = columns_and_tuples(rows)
        keys, distinct = _distinct_texts(columns, tuples)
    version = (spec.path, spec.rules)
    with _known_lock:
        if _known_state[0] != version:
            _known.clear()
            _known_state[:] = [version, 0]
        known = [(t, v) for t in distinct if (v := _known.get(t)) is not None]
    # Text ids: the known texts first, then the new ones (ids from len(known) on).
    seen = {t for t, _ in known}
    order = [t for t, _ in known] + [t for t in distinct if t not in seen]
    number = {t: i for i, t in enumerate(order)}
    text_ids = {"__t": ("INTEGER", list(map(number.__getitem__, keys)))}
    if arrow is not None:
        load_arrow(con, arrow, table, text_ids)
    else:
        load_rows(con, columns, tuples, table, text_ids)
    return len(keys), known, len(order) > len(known), order, version


def _load_numbered(con: duckdb.DuckDBPyConnection, arrow: Any, table: str) -> int:
    """The Arrow table `arrow` stored as `table` (its text ids NULL), its distinct texts
    numbered by DuckDB in the table __texts (in no particular order: an id only joins a text to
    its verdict; the rows are not written again to hold it). Returns the row count."""
    import pyarrow as pa

    load_arrow(con, arrow, table, {"__t": ("INTEGER", pa.nulls(arrow.num_rows, pa.int64()))})
    texts = ", ".join(_TEXT_FIELDS)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE __texts AS
        SELECT row_number() OVER () - 1 AS __t, {texts}
        FROM (SELECT DISTINCT {texts} FROM "{table}")"""
    )
    return int(arrow.num_rows)


def _texts(arrow: Any, name: str) -> list[Any]:
    """An Arrow table's column as Python values (None for each row when it has no such column)."""
    if name not in arrow.column_names:
        return [None] * arrow.num_rows
    return arrow.column(name).to_pylist()  # type: ignore[no-any-return]


def _insert_known(
    con: duckdb.DuckDBPyConnection, names: list[str], kinds: list[str], known: list[Verdict]
) -> None:
    """The verdicts of texts seen before into __verdicts (their text ids 0, 1, ...)."""
    import sys

    columns: list[list[Any]] = [list(range(len(known)))]
    columns += [[v[j] for v in known] for j in range(len(kinds) - 1)]
    if "numpy" not in sys.modules:  # not imported for this alone
        unnested = ", ".join(f"CAST(unnest(${j + 1}) AS {k})" for j, k in enumerate(kinds))
        con.execute(f"INSERT INTO __verdicts SELECT {unnested}", columns)
        return
    import numpy as np

    # Typed arrays where the values allow (2,000 verdicts: 0.001 s against 0.005 s as lists).
    data: dict[str, Any] = {}
    for name, kind, values in zip(names, kinds, columns, strict=True):
        if kind == "VARCHAR":
            data[name] = np.empty(len(values), dtype=object)
            data[name][:] = values
        else:
            data[name] = np.asarray(values, dtype=np.int64 if kind == "INTEGER" else np.bool_)
    con.register("_verdicts_in", data)
    try:
        con.execute(f"INSERT INTO __verdicts SELECT {', '.join(names)} FROM _verdicts_in")
    finally:
        con.unregister("_verdicts_in")


def _remember(con: duckdb.DuckDBPyConnection, version: Any, new: list[Text], start: int) -> None:
    """Keep the verdicts of the texts matched now (ids from `start`) for the next call."""
    chars = sum(len(v) for t in new for v in t if type(v) is str)
    if not new or len(new) > _KNOWN_TEXTS or chars > _KNOWN_CHARS:
        return  # more than is ever kept (90 days at 100,000 users): matched, not kept
    found = con.execute(
        "SELECT * EXCLUDE (__t) FROM __verdicts WHERE __t >= ? ORDER BY __t", [start]
    ).fetchall()
    with _known_lock:
        if _known_state[0] != version:
            return
        if len(_known) + len(new) > _KNOWN_TEXTS or _known_state[1] + chars > _KNOWN_CHARS:
            _known.clear()
            _known_state[1] = 0
        _known.update(zip(new, found, strict=True))
        _known_state[1] += chars


def categorize_rows(spec: FailureRules, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Categorize failure dicts (keys of FAILURE_COLUMNS): each comes back with cause, category
    and owner added, in the same order."""
    from usertrack.checks.sandbox import connect

    con = connect()
    try:
        categorize(spec, con, rows)
        return as_dicts(con.execute("SELECT * FROM categorized"))
    finally:
        con.close()


@dataclass
class FailureReport:
    """`usertrack failures`: every failure of the window, categorized, both levels apart."""

    as_of: datetime
    days: int
    since: datetime
    rules_path: str
    totals: dict[str, int]
    categories: list[dict[str, Any]]
    workflow_causes: list[dict[str, Any]]
    tool_causes: list[dict[str, Any]]
    failing_tools: list[dict[str, Any]]
    trend: list[dict[str, Any]]
    standout_days: list[dict[str, Any]] = field(default_factory=list)


def failure_report(
    ws: Workspace,
    spec: FailureRules,
    as_of: datetime,
    days: int = 30,
    progress: Progress | None = None,
) -> FailureReport:
    """Run neon/failures and neon/failure_trend, categorize in DuckDB, summarize (once per
    rules, moment and days among a dashboard's panels: `scope.shared`)."""
    key = ("failure_report", spec.path, as_of, days)
    if ws.scope.shared is not None and key in ws.scope.shared:
        return ws.scope.shared[key]  # type: ignore[no-any-return]
    report = _failure_report(ws, spec, as_of, days, progress)
    if ws.scope.shared is not None:
        ws.scope.shared[key] = report
    return report


def _failure_report(
    ws: Workspace,
    spec: FailureRules,
    as_of: datetime,
    days: int,
    progress: Progress | None,
) -> FailureReport:
    from concurrent.futures import Future, ThreadPoolExecutor

    from usertrack.checks.sandbox import connect, keeping, release
    from usertrack.reports.failure_copy import from_copy
    from usertrack.segments.profiles import Job, run_by_source

    # Side by side, each on a connection of its own (up to USERTRACK_DB_CONNECTIONS): the
    # command waits for the slower query, not for both in turn.
    jobs: dict[str, list[Job]] = {
        "neon": [
            (name, *ws.bind(name, as_of, days=days))
            for name in ("neon/failures", "neon/failure_trend")
        ]
    }

    def summarize(rows: Result) -> tuple[Any, ...]:
        con = opened.result()
        if progress:
            count = len(rows.rows) if rows.arrow is None else rows.arrow.num_rows
            progress(f"categorizing {count} failures with {spec.path.name}")
        # a dashboard's report is computed once and shared: no verdict kept for a later one
        # Its summaries only aggregate the rows: kept in no particular order.
        categorize(
            spec, con, rows, remember=ws.scope.shared is None, ordered=False, columns=SUMMARIZED
        )
        # Both levels of causes in one query, each in its order (level, failures, cause).
        found = (category_summary(con, spec), cause_summary(con), failing_tools(con))
        return (*found, con.execute("SELECT count(DISTINCT email) FROM categorized").fetchone())

    summarized: list[Future[tuple[Any, ...]]] = []

    def arrived(key: str, got: Result) -> None:
        if key == "neon/failures":
            summarized.append(worker.submit(summarize, got))

    # One worker opens the DuckDB while the queries run, then categorizes and summarizes the
    # failures as soon as they arrive, while the trend's query still runs.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="usertrack-categorize") as worker:
        import duckdb  # noqa: F401  (imported on this thread: never on two at once)

        if (
            keeping()
        ):  # the MCP server: the failure rows go to DuckDB as Arrow (`failure_rows.load_rows`)
            import pyarrow  # noqa: F401

        opened = worker.submit(connect, reuse=True)
        try:
            # Both from the checked local copy of the app's tables where it answers
            # (usertrack.reports.failure_copy), else both files on the database.
            copied = from_copy(ws, jobs["neon"])
            if copied is not None:
                results = copied
                arrived("neon/failures", copied["neon/failures"])
            else:
                # a dashboard's report (its rows not remembered: see `categorize`) takes a
                # large answer as Arrow columns, read by COPY and kept in the answer cache as
                # such: no Python value per cell to make, pickle and load into DuckDB (at
                # 200,000 users 180,000 failures, about 2 s of CPU for each of the live
                # dashboard's two computations of the report)
                shared = ("neon/failures",) if ws.scope.shared is not None else ()
                results = run_by_source(
                    {"neon": ws.sources["neon"]}, jobs, progress, arrived, as_arrow=shared
                )
            categories, causes, tools, (users_with_failures,) = summarized[0].result()
        finally:
            # A query that failed: the summary under way, if any, ends before its DuckDB goes.
            worker.shutdown(cancel_futures=True)
            if not opened.cancelled() and opened.exception() is None:
                release(opened.result())
    workflow = [without_level(r) for r in causes if r["level"] == "workflow"]
    tool = [without_level(r) for r in causes if r["level"] == "tool"]
    trend = results["neon/failure_trend"].as_dicts()
    standout_days(trend)
    totals = {
        "runs": sum(int(r["runs"] or 0) for r in trend),
        "runs_failed": sum(int(r["runs_failed"] or 0) for r in trend),
        "tool_calls": sum(int(r["tool_calls"] or 0) for r in trend),
        "tool_failures": sum(int(r["tool_failures"] or 0) for r in trend),
        "users_with_failures": int(users_with_failures),
    }
    return FailureReport(
        as_of=as_of,
        days=days,
        since=as_of - timedelta(days=days),
        rules_path=str(spec.path),
        totals=totals,
        categories=categories,
        workflow_causes=workflow,
        tool_causes=tool,
        failing_tools=tools,
        trend=trend,
        standout_days=[r for r in trend if r["stands_out"]],
    )
