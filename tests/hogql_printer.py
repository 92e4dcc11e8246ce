"""HogQL printed to ClickHouse SQL the way PostHog prints it, for the tests' PostHog stand-in.

PostHog's own parser (`hogql-parser` on PyPI, the C++ parser PostHog runs) turns the text into its
AST as JSON; this module prints that AST following PostHog's printer (posthog/hogql/printer/
clickhouse.py and base.py, the function mapping in posthog/hogql/functions/, property typing in
posthog/hogql/transforms/property_types.py, escaping in posthog/hogql/escape_sql.py), as read in
PostHog/posthog in November 2026. What it reproduces, because it changes answers:

- `properties.X` and `person.properties.X` (persons on events: `events.person_properties`) are
  `replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(col, 'X'), ''), 'null'), '^"|"$', '')`: the raw
  JSON text without its quotes, escape sequences kept. A property PostHog has typed Numeric is read
  through `accurateCastOrNull(..., 'Float64')`, a Boolean one as `transform(..., ['true', 'false'],
  [1, 0], NULL)`.
- Comparisons are two-valued: wrapped in `ifNull(...)` by their operands' nullability
  (`ifNull(notEquals(a, b), 1)`, `ifNull(equals(a, b), isNull(a) and isNull(b))`, ...).
- `{name}` placeholders become escaped constants (ClickHouse escaping, backslash escapes).
- Table columns are printed qualified (`events.timestamp`); columns of a subquery without an alias
  bare, so a ClickHouse alias of the same name in the outer SELECT captures them, as on PostHog.
- DateTime columns are `toTimeZone(col, project_tz)` and timezone-aware functions get the project's
  timezone, unless the request's modifiers say `convertToProjectTimezone: false` (then UTC).
- Fields resolve as PostHog's resolver resolves them (posthog/hogql/resolver.py visit_field,
  resolver_utils.py lookup_field_by_name): a table by name or alias, then the SELECT's aliases
  before any table's columns, so an alias shadows a column in every clause and in a chain
  (`person.properties` with an alias `person` is refused with PostHog's message); the select
  list before WHERE, GROUP BY, HAVING and ORDER BY; a lambda sees its arguments, then the
  enclosing SELECT's aliases and tables; a subquery never sees an outer SELECT's fields.
- The function table of PostHog's master (functions/mapping.py, aggregations.py,
  clickhouse/*.py): names, argument counts with PostHog's messages, case rules, what is absent
  (quantileExact*), the bit-width casts as accurateCastOrNull(x, 'Int64'), and the types
  (signatures) that pick an overload: toDate of a DateTime or Date is toDate, of anything else
  toDateOrNull; toDateTime of a DateTime, Date or Integer is toDateTime, else a parse.
- Window functions as printer/base.py prints them: lag/lead are lagInFrame/leadInFrame.
- Unknown functions are refused with PostHog's message.

tests/engines/test_hogql_conformance.py holds each of these rules to PostHog's, case by case.

It is a test-only stand-in: the subset of HogQL that usertrack's query files and its HTTP client
send, checked against the real ClickHouse that runs it (`chdb`).
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from usertrack.engines.hogql.parser import install_errors_module


class HogQLError(Exception):
    """A query PostHog would refuse (400 validation_error), with PostHog's message."""


class HogVMError(Exception):
    """HogVM's own exception (common/hogvm/python/utils.py HogVMException), which PostHog's
    query endpoint does not turn into a validation error (posthog/api/query.py `create` answers
    only ExposedHogQLError, ExposedCHQueryError and ResolutionError so): a server error, 500."""


def parse_select(text: str) -> dict[str, Any]:
    """PostHog's parse of `text` (a tree of its own for each caller, who may change it), or the
    HogQLError PostHog answers with."""
    tree: dict[str, Any] = json.loads(_parsed(text))
    if tree.get("error"):
        raise HogQLError(tree.get("message") or "Syntax error")
    return tree


# A folder shared by the test session's processes (tests/conftest.py names it): each text's
# parse is kept there too, so that a text one pytest-xdist worker parsed the others read.
SHARED_PARSES = "USERTRACK_TEST_PARSES"


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> str:
    """hogql-parser's JSON for `text`, once on this machine under this parser's version (the
    folder tests/conftest.py names, kept between sessions): its parse of a long query costs seconds
    of CPU (queries/posthog/activity_summary.sql: 2 s warm; a bundle of the weekly dashboard's
    files ten), and the tests send a query's text many times, with other values, from every
    worker; the parse is the same each time (PostHog's parse_select, posthog/hogql/parser.py,
    parses the text alone, the values put in after). A text it refuses is refused each time:
    by its answer, kept; by an exception, parsed again."""
    _KNOWN.add(text)
    kept = _kept(text)
    if kept is None:
        return _parse(text)
    import fcntl

    kept.parent.mkdir(mode=0o700, exist_ok=True)  # pytest empties its -n 0 root as it starts
    # Under a lock of the text's own: a worker that needs a text another is parsing waits for
    # its answer rather than parse it beside it.
    with open(kept.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if kept.exists():
            os.utime(kept)  # read now: kept while a test sends it (conftest._kept_parses)
            return kept.read_text(encoding="utf-8")
        parsed = _parse(text)
        kept.with_suffix(".part").write_text(parsed, encoding="utf-8")
        kept.with_suffix(".part").replace(kept)
        return parsed


def _kept(text: str) -> Path | None:
    """Where the session's parse of `text` is kept (None: no shared folder, a developer's run
    in a folder of their own)."""
    import hashlib

    folder = os.environ.get(SHARED_PARSES)
    return Path(folder) / hashlib.sha256(text.encode()).hexdigest() if folder else None


# PostHog runs an async query in a worker process (a Celery task), apart from the web process
# that answered its POST at once. hogql-parser holds Python's GIL for a whole parse (seconds for
# a bundle of the weekly dashboard's files), so a stand-in that parsed an async query on a
# thread of its own left every request that came meanwhile unanswered for as long: on a loaded
# machine, a dashboard's second and third bundles waited out the client's 30 s read timeout
# behind the first one's parse and were sent again. `parse_apart` parses in a child process.
_APART: dict[str, str] = {}  # texts parsed apart, for `_parse` to take
_KNOWN: set[str] = set()  # texts `_parsed` was asked for in this process
_CHILD: list[Any] = []  # the child process's pool, started at the first parse apart
_CHILD_LOCK = threading.Lock()


def parse_apart(text: str) -> float:
    """`text` parsed in a child process, unless this process or the session has its parse
    already, and kept for `parse_select`; the child's CPU seconds for it (counted in
    PARSE_SECONDS too)."""
    if text in _KNOWN or text in _APART:
        return 0.0
    kept = _kept(text)
    if kept is not None and kept.exists():
        return 0.0
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with _CHILD_LOCK:
        if not _CHILD:
            context = multiprocessing.get_context("spawn")  # never a fork of a threaded process
            _CHILD.append(ProcessPoolExecutor(1, mp_context=context))
        pool = _CHILD[0]
    parsed, cpu = pool.submit(_parse_in_child, text).result()
    with _PARSE_COUNT:
        PARSE_SECONDS[0] += cpu
    _APART[text] = parsed
    return float(cpu)


def _parse_in_child(text: str) -> tuple[str, float]:
    start = time.process_time()
    install_errors_module()
    import hogql_parser

    return str(hogql_parser.parse_select_json(text)), time.process_time() - start


# The CPU seconds this process has spent in PostHog's parser (its threads': the stand-in
# parses on its own), for tests/conftest.py's times of each test file (USERTRACK_TEST_TIMES).
PARSE_SECONDS = [0.0]
_PARSE_COUNT = threading.Lock()


def _parse(text: str) -> str:
    apart = _APART.pop(text, None)
    if apart is not None:
        return apart
    install_errors_module()
    import hogql_parser

    start = time.thread_time()
    try:
        return str(hogql_parser.parse_select_json(text))
    finally:
        with _PARSE_COUNT:
            PARSE_SECONDS[0] += time.thread_time() - start


def share_the_clients_parses() -> None:
    """usertrack's own parse of a SELECT (usertrack.engines.hogql.parser.parse_select: the
    client reads a text before it prints and sends it, `doctor` and `query --check` every file)
    made from the session's shared parses too: the same hogql-parser on the same text, so the
    same JSON, made once a session rather than once in each worker and again in the printer's
    tests (a second of CPU for a long file). A text the parser refuses goes to usertrack's
    own function, which words the refusal as usertrack does."""
    from usertrack.engines.hogql import parser

    real = parser.parse_select
    if getattr(real, "shared_parses", False):
        return

    def parse_select(text: str) -> dict[str, Any]:
        if not os.environ.get(SHARED_PARSES):
            return real(text)
        if "hogql_parser" not in sys.modules:
            real("SELECT 1")  # loaded as usertrack loads it (without the posthog SDK)
        try:
            tree: dict[str, Any] = json.loads(_parsed(text))
        except Exception:
            return real(text)
        if not isinstance(tree, dict) or tree.get("error"):
            return real(text)
        return tree

    parse_select.shared_parses = True  # type: ignore[attr-defined]
    parser.parse_select = parse_select


_WARM: list[bool] = []


def warm_parser() -> bool:
    """Parse once, so that the process's first query does not pay the parser's own start (its
    first parse, of any text, took 0.5 s of CPU and 2.7 to 4.6 s of wall time on a busy 2-core
    machine; every later one a few milliseconds for a short text), as PostHog's long-running
    servers parse warm. True when this call did it."""
    if _WARM:
        return False
    parse_select("SELECT 1")
    _WARM.append(True)
    return True


# --------------------------------------------------------------------------------------------
# Escaping (posthog/hogql/escape_sql.py)

_ESCAPES = {
    "\b": "\\b",
    "\f": "\\f",
    "\r": "\\r",
    "\n": "\\n",
    "\t": "\\t",
    "\0": "\\0",
    "\a": "\\a",
    "\v": "\\v",
    "\\": "\\\\",
    "'": "\\'",
}


def escape_string(value: str) -> str:
    return "'" + "".join(_ESCAPES.get(c, c) for c in value) + "'"


def escape_identifier(name: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return name
    return (
        "`" + "".join(_ESCAPES.get(c, c) if c != "'" else c for c in name).replace("`", "\\`") + "`"
    )


def constant(value: Any, tz: str) -> str:
    if value is None:
        return "NULL"
    if value is True:
        return "1"
    if value is False:
        return "0"
    if isinstance(value, int | float):
        if isinstance(value, float) and value != value:
            return "NaN"
        return repr(value)
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"toDateTime64({escape_string(text)}, 6, {escape_string(tz)})"
    if isinstance(value, date):
        return f"toDate({escape_string(value.isoformat())})"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(constant(v, tz) for v in value) + "]"
    return escape_string(str(value))


# --------------------------------------------------------------------------------------------
# Tables PostHog's HogQL exposes (posthog/hogql/database/schema/), as the stand-in stores them

DATETIME = "datetime"
STRING = "string"
JSON_COL = "json"
OTHER = "other"


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]  # HogQL field -> kind
    nullable: frozenset[str] = frozenset()


TABLES: dict[str, Table] = {
    "events": Table(
        "events",
        {
            "uuid": OTHER,
            "event": STRING,
            "properties": JSON_COL,
            "timestamp": DATETIME,
            "distinct_id": STRING,
            "person_id": OTHER,
            "elements_chain": STRING,
            "created_at": DATETIME,
            "$session_id": STRING,
            "$window_id": STRING,
            "$group_0": STRING,
            "person_properties": JSON_COL,
        },
    ),
    # posthog/hogql/database/schema/groups.py (the stand-in stores HogQL's field names)
    "groups": Table(
        "groups",
        {
            "index": OTHER,
            "key": STRING,
            "created_at": DATETIME,
            "updated_at": DATETIME,
            "properties": JSON_COL,
        },
    ),
    "persons": Table(
        "persons",
        {"id": OTHER, "properties": JSON_COL, "created_at": DATETIME, "is_identified": OTHER},
    ),
    "person_distinct_ids": Table(
        "person_distinct_ids", {"distinct_id": STRING, "person_id": OTHER}
    ),
}


_SAME_TYPED = (
    "string",
    "boolean",
    "date",
    "datetime",
    "uuid",
    "array",
    "integer",
    "float",
    "interval",
)

_BIT_WIDTHS = ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64")
_BIT_WIDTHS += ("Float32", "Float64")

# the non-string columns' types (database/schema/events.py, persons.py)
_COLUMN_TYPES = {
    "uuid": "uuid",
    "person_id": "uuid",
    "id": "uuid",
    "is_identified": "boolean",
    "index": "integer",
}

# --------------------------------------------------------------------------------------------
# Functions (posthog/hogql/functions/mapping.py and clickhouse/*.py), the subset usertrack uses


# HogQL name -> ClickHouse name; (min args, max args); timezone-aware (the project's timezone is
# passed when the call gives none).
@dataclass(frozen=True)
class Fn:
    ch: str
    low: int = 0
    high: int | None = None
    tz_aware: bool = False
    aggregate: bool = False


def _fns(names: str, **kw: Any) -> dict[str, Fn]:
    return {n: Fn(n, **kw) for n in names.split()}


FUNCTIONS: dict[str, Fn] = {
    **_fns(
        "coalesce if multiIf startsWith endsWith has indexOf arrayElement arrayJoin notEmpty empty"
        " isNull isNotNull length lower upper lowerUTF8 upperUTF8 concat substring replaceAll"
        " replaceRegexpAll replaceOne position positionCaseInsensitive splitByChar splitByString"
        " arrayStringConcat arrayMap arrayFilter arrayExists arraySort arrayDistinct arrayCount"
        " arraySlice arrayConcat arrayZip arrayEnumerate arrayReverse arrayCompact arraySplit range"
        " greatest least abs round floor ceil intDiv least toString"
        " toFloat64OrNull toInt64OrNull toFloat64OrZero toInt64OrZero"
        " JSONExtractString JSONExtractRaw JSONHas JSONType"
        " JSONExtractKeys JSONExtractInt JSONExtractFloat JSONExtractBool JSONLength"
        " cityHash64 sipHash64 tuple tupleElement ifNull assumeNotNull toTypeName"
        " toIntervalSecond toIntervalMinute toIntervalHour toIntervalDay toIntervalWeek"
        " toIntervalMonth toIntervalYear extract domain path protocol cutQueryString"
        " toUUID emptyArrayString lengthUTF8"
    ),
    "and": Fn("and", 2, None),
    "or": Fn("or", 2, None),
    "xor": Fn("xor", 2, None),
    "not": Fn("not", 1, 1),
    "nullif": Fn("nullIf", 2, 2),
    "nullIf": Fn("nullIf", 2, 2),
    "match": Fn("match", 2, 2),
    "JSONExtract": Fn("JSONExtract", 2, 7),  # json, up to 5 keys, the type as a string
    "toFloat": Fn("accurateCastOrNull", 1, 1),  # second argument added
    # the bit-width casts: accurateCastOrNull to the type (functions/clickhouse/conversions.py,
    # TYPE_CONVERSION_FUNCTIONS), Nullable, NULL where the value does not fit
    **{name: Fn("accurateCastOrNull", 1, 1) for name in [f"to{t}" for t in _BIT_WIDTHS]},
    "toInt": Fn("accurateCastOrNull", 1, 1),
    "toFloatOrNull": Fn("accurateCastOrNull", 1, 1),
    "toIntOrNull": Fn("accurateCastOrNull", 1, 1),
    "toFloatOrZero": Fn("toFloat64OrZero", 1, 1),
    "toIntOrZero": Fn("toInt64OrZero", 1, 1),
    # not timezone-aware on PostHog: they get the fields already in the project's timezone
    **_fns(
        "toDate toStartOfDay toStartOfHour toStartOfMinute toStartOfMonth toStartOfQuarter"
        " toStartOfYear toMonday toHour toMinute toSecond toYear toMonth toDayOfMonth"
        " toDayOfYear toYYYYMM toYYYYMMDD toISOWeek toISOYear",
        high=1,
    ),
    "toDayOfWeek": Fn("toDayOfWeek", 1, 3),
    "toUnixTimestamp": Fn("toUnixTimestamp", 1, 2),
    "toStartOfWeek": Fn("toStartOfWeek", 1, 3),
    "toDateTime": Fn("parseDateTime64BestEffortOrNull", 1, 2, tz_aware=True),
    "toDateTime64": Fn("toDateTime64", 1, 3, tz_aware=True),
    "toTimeZone": Fn("toTimeZone", 1, 2, tz_aware=True),
    "now": Fn("now64", 0, 1, tz_aware=True),
    "today": Fn("today", 0, 0),
    "dateDiff": Fn("dateDiff", 3, 3),
    "date_diff": Fn("dateDiff", 3, 3),
    "dateAdd": Fn("dateAdd", 3, 3),
    "dateSub": Fn("dateSub", 3, 3),
    "date_add": Fn("date_add", 3, 3),
    "trim": Fn("trim", 1, 2),
    **_fns(
        "count countIf sum sumIf avg avgIf min max minIf maxIf any anyIf anyLast uniq uniqIf"
        " uniqExact uniqExactIf argMax argMin argMaxIf argMinIf groupArray groupArrayIf"
        " groupUniqArray median medianExactLow medianExactHigh quantile quantiles"
        " stddevPop varPop",
        aggregate=True,
    ),
}

# ClickHouse's window functions HogQL passes on (posthog/hogql/functions/mapping.py,
# HOGQL_WINDOW_FUNCTIONS); aggregates take an OVER clause too.
WINDOW_FUNCTIONS = {
    "lag",
    "lead",
    "row_number",
    "rank",
    "dense_rank",
    "lagInFrame",
    "leadInFrame",
    "first_value",
    "last_value",
    "nth_value",
}

# functions PostHog finds whatever their case (HogQLFunctionMeta(case_sensitive=False))
CASE_INSENSITIVE = {
    "not",
    "if",
    "coalesce",
    "count",
    "min",
    "max",
    "sum",
    "avg",
    "nullif",
    "least",
    "greatest",
}

# Types, as PostHog's resolver gives them (posthog/hogql/ast.py ConstantType classes): a call's
# type is the return type of the first of its function's `signatures` its arguments' types match
# (resolver.py visit_call; "any" is UnknownType, matching every type), else "unknown"; the
# printer picks an `overloads` ClickHouse name by the first argument's type (printer/base.py
# visit_call). Only the functions usertrack's files can reach are listed; the rest are "unknown".
UNKNOWN = "unknown"
_SIGNATURES: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "toDate": [(("string",), "date"), (("datetime",), "date")],
    "toDateTime": [
        (("string",), "datetime"),
        (("string", "integer"), "datetime"),
        (("string", "integer", "string"), "datetime"),
    ],
    "toDateTime64": [
        (("datetime",), "datetime"),
        (("datetime", "integer"), "datetime"),
        (("datetime", "integer", "string"), "datetime"),
    ],
    "toStartOfMonth": [(("any",), "date")],
    "toStartOfWeek": [(("any",), "date"), (("any", "any"), "date")],
    "toStartOfDay": [(("any",), "datetime"), (("any", "any"), "datetime")],
    "toStartOfHour": [(("any",), "datetime")],
    "toStartOfMinute": [(("any",), "datetime")],
    "now": [((), "datetime"), (("any",), "datetime")],
    "today": [((), "date")],
    "toTimeZone": [(("datetime", "string"), "datetime")],
    "dateDiff": [(("string", "datetime", "datetime"), "integer")],
    "date_diff": [(("string", "datetime", "datetime"), "integer")],
    "dateAdd": [(("date", "any"), "date"), (("string", "any", "date"), "date")],
    "dateSub": [(("date", "any"), "date"), (("string", "any", "date"), "date")],
    **{
        f"toInterval{unit}": [(("integer",), "interval")]
        for unit in ("Second", "Minute", "Hour", "Day", "Week", "Month", "Year")
    },
    "toString": [((t,), "string") for t in ("integer", "string", "float", "date", "datetime")]
    + [(("date", "string"), "string"), (("datetime", "string"), "string")],
    "toIntOrZero": [(("string",), "integer")],
    "toFloatOrZero": [(("string",), "float")],
    **{name: [((t, t), t) for t in _SAME_TYPED] for name in ("ifNull", "nullIf", "nullif")},
    "assumeNotNull": [((t,), t) for t in _SAME_TYPED],
}
# the casts printed accurateCastOrNull(x, 'Type') (conversions.py suffix_args)
_CAST_TARGETS = {
    "toFloat": "Float64",
    "toInt": "Int64",
    "toFloatOrNull": "Float64",
    "toIntOrNull": "Int64",
    **{f"to{t}": t for t in _BIT_WIDTHS},
}
# overloads: HogQL name -> (first argument types, ClickHouse name)
_OVERLOADS: dict[str, tuple[tuple[str, ...], str]] = {
    "toDate": (("datetime", "date"), "toDate"),
    "toDateTime": (("datetime", "date", "integer"), "toDateTime"),
}


def validate_function_args(name: str, n: int, low: int, high: int | None) -> None:
    """functions/core.py validate_function_args, with its messages."""

    def plural(k: int) -> str:
        return f"{k} argument{'s' if k != 1 else ''}"

    too_few, too_many = n < low, high is not None and n > high
    if low == high and (too_few or too_many):
        raise HogQLError(f"Function '{name}' expects {plural(low)}, found {n}")
    if too_few:
        raise HogQLError(f"Function '{name}' expects at least {plural(low)}, found {n}")
    if too_many:
        raise HogQLError(f"Function '{name}' expects at most {plural(high or 0)}, found {n}")


def call_type(name: str, arg_types: list[str]) -> str:
    """The return type of the first signature the arguments match (resolver.py visit_call,
    functions/core.py compare_types), else "unknown"."""
    for sig, ret in _SIGNATURES.get(name, []):
        if len(sig) == len(arg_types) and all(
            s == "any" or s == a for s, a in zip(sig, arg_types, strict=True)
        ):
            return ret
    return UNKNOWN


def constant_type(value: Any) -> str:
    """resolver.py resolve_constant_data_type."""
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return UNKNOWN


_TZ_DEFAULT_ARG_POS = {"toStartOfWeek": 2, "now": 0}
_DATETIME_FUNCS = {
    "toDateTime",
    "toDateTime64",
    "toTimeZone",
    "now",
    "toStartOfDay",
    "toStartOfHour",
    "toStartOfMinute",
    "parseDateTime64BestEffortOrNull",
}

_COMPARE = {
    "==": "equals",
    "!=": "notEquals",
    "<": "less",
    ">": "greater",
    "<=": "lessOrEquals",
    ">=": "greaterOrEquals",
    "like": "like",
    "ilike": "ilike",
    "not like": "notLike",
    "not ilike": "notILike",
    "=~": "match",
    "!~": "match",  # negated below
    "=~*": "match",
    "!~*": "match",
    "in": "in",
    "not in": "notIn",
}
_ARITH = {"+": "plus", "-": "minus", "*": "multiply", "/": "divide", "%": "modulo"}


# --------------------------------------------------------------------------------------------
# Scopes


@dataclass
class Source:
    alias: str | None  # the alias as printed, None for an unaliased subquery
    table: Table | None  # a database table
    columns: dict[str, Printed] = field(default_factory=dict)  # subquery column -> its type


@dataclass
class Scope:
    sources: list[Source]
    aliases: dict[str, Printed]  # select aliases (or a lambda's arguments) -> what they name
    ctes: dict[str, dict[str, Any]]
    parent: Scope | None = None
    # a lambda's scope: its arguments, then the enclosing SELECT's aliases and fields (resolver.py
    # visit_lambda, scope.parent); a SELECT's fields never come from an outer SELECT (visit_field)
    is_lambda: bool = False


@dataclass
class Printed:
    sql: str
    nullable: bool = True
    datetime: bool = False
    type: str = UNKNOWN
    column: str | None = None  # the table column a bare field names (for FieldType.get_child)


class Printer:
    def __init__(
        self,
        values: Mapping[str, Any],
        *,
        timezone: str = "UTC",
        convert_to_project_timezone: bool = True,
        property_types: Mapping[str, str] | None = None,
        database: str | None = None,
        default_limit: int = 101,
        max_limit: int = 50_000,
        globals: Mapping[str, Any] | None = None,
    ) -> None:
        self.in_join_constraint = False
        # a HogQLMetadata request's `globals`: what a bare field name nothing else resolves is
        self.globals = globals
        self.columns_of: dict[int, dict[str, Printed]] = {}  # a SELECT's columns, by id(node)
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.values = dict(values)
        self.project_tz = timezone
        self.convert = convert_to_project_timezone
        self.tz = timezone if convert_to_project_timezone else "UTC"
        self.property_types = dict(property_types or {})
        self.database = database

    # --------------------------------------------------------------- queries

    def print_query(
        self, node: dict[str, Any], parent: Scope | None = None, *, top: bool = False
    ) -> str:
        kind = node["node"]
        if kind == "SelectSetQuery":
            parts = [self.print_query(node["initial_select_query"], parent, top=top)]
            for sub in node["subsequent_select_queries"]:
                op = sub["set_operator"]
                parts.append(f"{op} {self.print_query(sub['select_query'], parent, top=top)}")
            return " ".join(parts)
        if top:
            # the query runner's paginator and the printer's cap (hogql_query_runner.py, base.py)
            limit = node.get("limit")
            if limit is None:
                node = {**node, "limit": {"node": "Constant", "value": self.default_limit}}
                if node.get("offset") is None:
                    node["offset"] = {"node": "Constant", "value": 0}
            elif limit["node"] == "Constant" and isinstance(limit["value"], int):
                node = {**node, "limit": {**limit, "value": min(limit["value"], self.max_limit)}}
        if kind != "SelectQuery":
            raise HogQLError(f"Unsupported query node {kind}")
        ctes = dict(parent.ctes) if parent else {}
        with_parts: list[str] = []
        raw_ctes = node.get("ctes") or []
        pairs = (
            raw_ctes.items() if isinstance(raw_ctes, dict) else [(c["name"], c) for c in raw_ctes]
        )
        for name, cte in pairs:
            # PostHog's resolver inlines a subquery CTE where it is used (FROM name: the subquery,
            # aliased by the name); a column CTE (`WITH expr AS name`) is printed as ClickHouse's
            if cte.get("cte_type") == "subquery":
                ctes[name] = {"expr": cte["expr"], "ctes": dict(ctes)}
            else:
                scope0 = Scope([], {}, ctes, parent)
                expr = self.expr(cte["expr"], scope0).sql
                with_parts.append(f"{expr} AS {escape_identifier(name)}")
        scope = Scope([], {}, ctes, parent)
        from_sql = ""
        if node.get("select_from"):
            from_sql = " FROM " + self.join(node["select_from"], scope)
        # PostHog's resolver visits the SELECT list in order: an alias is visible to the items
        # after it (not inside its own expression) and to WHERE, GROUP BY, HAVING and ORDER BY.
        select = []
        columns: dict[str, Printed] = {}
        for item in node["select"]:
            p = self.expr(item, scope)
            text = p.sql
            if item["node"] == "Field" and item["chain"] != ["*"]:
                # a column keeps its HogQL name in ClickHouse's answer
                name = escape_identifier(str(item["chain"][-1]))
                if text != name and not text.endswith("." + name):
                    text += f" AS {name}"
                columns[str(item["chain"][-1])] = p
            select.append(text)
            if item["node"] == "Alias":
                scope.aliases[item["alias"]] = p
                columns[item["alias"]] = p
        self.columns_of[id(node)] = columns
        sql = ""
        if with_parts:
            sql += "WITH " + ", ".join(with_parts) + " "
        sql += "SELECT " + ("DISTINCT " if node.get("distinct") else "") + ", ".join(select)
        sql += from_sql
        if node.get("prewhere"):
            sql += " PREWHERE " + self.expr(node["prewhere"], scope).sql
        if node.get("where"):
            sql += " WHERE " + self.expr(node["where"], scope).sql
        if node.get("group_by"):
            sql += " GROUP BY " + ", ".join(self.expr(e, scope).sql for e in node["group_by"])
        if node.get("having"):
            sql += " HAVING " + self.expr(node["having"], scope).sql
        if node.get("order_by"):
            sql += " ORDER BY " + ", ".join(
                f"{self.expr(o['expr'], scope).sql} {o['order']}" for o in node["order_by"]
            )
        if node.get("limit") is not None:
            by = node.get("limit_by")
            if by:
                sql += f" LIMIT {self.expr(by['n'], scope).sql}"
                if by.get("offset_value"):
                    sql += f" OFFSET {self.expr(by['offset_value'], scope).sql}"
                sql += " BY " + ", ".join(self.expr(e, scope).sql for e in by["exprs"])
            sql += f" LIMIT {self.expr(node['limit'], scope).sql}"
            if node.get("offset") is not None:
                sql += f" OFFSET {self.expr(node['offset'], scope).sql}"
        elif node.get("limit_by"):
            by = node["limit_by"]
            sql += f" LIMIT {self.expr(by['n'], scope).sql} BY " + ", ".join(
                self.expr(e, scope).sql for e in by["exprs"]
            )
        elif node.get("offset") is not None:
            sql += f" OFFSET {self.expr(node['offset'], scope).sql}"
        return sql

    def _subquery_columns(self, node: dict[str, Any]) -> dict[str, Printed]:
        """A printed subquery's columns with their types (a set query's: its first SELECT's)."""
        if node["node"] == "SelectSetQuery":
            return self._subquery_columns(node["initial_select_query"])
        return self.columns_of.get(id(node), {})

    def join(self, node: dict[str, Any], scope: Scope) -> str:
        parts: list[str] = []
        current: dict[str, Any] | None = node
        first = True
        while current is not None:
            table = current["table"]
            alias = current.get("alias")
            if table["node"] == "Field":
                name = ".".join(str(c) for c in table["chain"])
                if name in scope.ctes:
                    cte = scope.ctes[name]
                    inner = Scope([], {}, cte["ctes"], None)
                    printed = "(" + self.print_query(cte["expr"], inner) + ")"
                    src = Source(alias or name, None, self._subquery_columns(cte["expr"]))
                    if alias is None:
                        printed += f" AS {escape_identifier(name)}"
                elif name in TABLES:
                    t = TABLES[name]
                    printed = f"{self.database}.{name}" if self.database else name
                    src = Source(alias or name, t)
                    if alias is None:
                        printed += f" AS {name}"
                else:
                    raise HogQLError(f'Unknown table "{name}".')
            elif table["node"] in ("SelectQuery", "SelectSetQuery"):
                printed = "(" + self.print_query(table, scope) + ")"
                src = Source(alias, None, self._subquery_columns(table))
            else:
                raise HogQLError(f"Unsupported FROM {table['node']}")
            if alias is not None:
                printed += f" AS {escape_identifier(alias)}"
            scope.sources.append(src)
            if first:
                parts.append(printed)
            else:
                jt = current.get("join_type") or "JOIN"
                text = f"{jt} {printed}"
                if current.get("constraint"):
                    c = current["constraint"]
                    kw = c.get("constraint_type") or "ON"
                    # no ifNull() in a join's condition (printer/clickhouse.py: in_join_constraint)
                    self.in_join_constraint = True
                    try:
                        text += f" {kw} {self.expr(c['expr'], scope).sql}"
                    finally:
                        self.in_join_constraint = False
                parts.append(text)
            first = False
            current = current.get("next_join")
        return " ".join(parts)

    # --------------------------------------------------------------- expressions

    def expr(self, node: dict[str, Any], scope: Scope) -> Printed:
        kind = node["node"]
        method = getattr(self, f"_{kind}", None)
        if method is None:
            raise HogQLError(f"Unsupported HogQL node {kind}")
        return method(node, scope)

    def _Alias(self, node: dict[str, Any], scope: Scope) -> Printed:
        inner = self.expr(node["expr"], scope)
        return Printed(
            f"{inner.sql} AS {escape_identifier(node['alias'])}",
            inner.nullable,
            inner.datetime,
            inner.type,
            inner.column,
        )

    def _Constant(self, node: dict[str, Any], scope: Scope) -> Printed:
        v = node["value"]
        return Printed(constant(v, self.tz), v is None, type=constant_type(v))

    def _Placeholder(self, node: dict[str, Any], scope: Scope) -> Printed:
        inner = node["expr"]
        if inner["node"] != "Field" or len(inner["chain"]) != 1:
            raise HogQLError("Placeholders must be simple names")
        name = inner["chain"][0]
        if name == "filters":
            return Printed("1", False)
        if name not in self.values:
            # hogql_query_runner.py to_query hands the values to parse_select, then
            # query.py _process_placeholders puts in what is left: either way
            # placeholders.py ReplacePlaceholders reads the name as HogVM's GET_GLOBAL does
            # (common/hogvm/python/execute.py), which raises for a name the values lack
            raise HogVMError(f"Global variable not found: {name}")
        v = self.values[name]
        # PostHog replaces placeholders by constants before it resolves (placeholders.py)
        return Printed(constant(v, self.tz), v is None, type=constant_type(v))

    def _Tuple(self, node: dict[str, Any], scope: Scope) -> Printed:
        items = [self.expr(e, scope).sql for e in node["exprs"]]
        return Printed("tuple(" + ", ".join(items) + ")", False)

    def _Array(self, node: dict[str, Any], scope: Scope) -> Printed:
        items = [self.expr(e, scope).sql for e in node["exprs"]]
        return Printed("[" + ", ".join(items) + "]", False)

    def _ArrayAccess(self, node: dict[str, Any], scope: Scope) -> Printed:
        arr = node["array"]
        prop = node["property"]
        if arr["node"] == "Field" and prop["node"] == "Constant" and isinstance(prop["value"], str):
            return self._Field({"node": "Field", "chain": [*arr["chain"], prop["value"]]}, scope)
        a = self.expr(arr, scope).sql
        p = self.expr(prop, scope).sql
        return Printed(f"{a}[{p}]", True)

    def _TupleAccess(self, node: dict[str, Any], scope: Scope) -> Printed:
        t = self.expr(node["tuple"], scope).sql
        return Printed(f"{t}.{node['index']}", True)

    def _Lambda(self, node: dict[str, Any], scope: Scope) -> Printed:
        args = node["args"]
        inner = Scope([], {a: Printed(a) for a in args}, scope.ctes, scope, is_lambda=True)
        body = self.expr(node["expr"], inner).sql
        head = args[0] if len(args) == 1 else "(" + ", ".join(args) + ")"
        return Printed(f"{head} -> {body}", True)

    def _And(self, node: dict[str, Any], scope: Scope) -> Printed:
        items = [self.expr(e, scope).sql for e in node["exprs"]]
        return Printed("and(" + ", ".join(items) + ")", False)

    def _Or(self, node: dict[str, Any], scope: Scope) -> Printed:
        items = [self.expr(e, scope).sql for e in node["exprs"]]
        return Printed("or(" + ", ".join(items) + ")", False)

    def _Not(self, node: dict[str, Any], scope: Scope) -> Printed:
        inner = self.expr(node["expr"], scope)
        return Printed(f"not({inner.sql})", inner.nullable)

    def _ArithmeticOperation(self, node: dict[str, Any], scope: Scope) -> Printed:
        left = self.expr(node["left"], scope)
        right = self.expr(node["right"], scope)
        fn = _ARITH[node["op"]]
        # resolver.py visit_arithmetic_operation
        types = {left.type, right.type}
        if types <= {"integer"}:
            kind = "integer"
        elif types <= {"integer", "float"}:
            kind = "float"
        elif "datetime" in types:
            kind = "datetime"
        else:
            kind = UNKNOWN
        return Printed(
            f"{fn}({left.sql}, {right.sql})",
            left.nullable or right.nullable,
            left.datetime or right.datetime,
            kind,
        )

    def _BetweenExpr(self, node: dict[str, Any], scope: Scope) -> Printed:
        e = self.expr(node["expr"], scope).sql
        low = self.expr(node["low"], scope).sql
        high = self.expr(node["high"], scope).sql
        neg = "NOT " if node.get("negated") else ""
        return Printed(f"{e} {neg}BETWEEN {low} AND {high}", True)

    def _OrderExpr(self, node: dict[str, Any], scope: Scope) -> Printed:
        return Printed(f"{self.expr(node['expr'], scope).sql} {node['order']}")

    def _SelectQuery(self, node: dict[str, Any], scope: Scope) -> Printed:
        return Printed("(" + self.print_query(node, scope) + ")", True)

    def _WindowFunction(self, node: dict[str, Any], scope: Scope) -> Printed:
        """`name(exprs) OVER (...)`, as PostHog's printer prints it (visit_window_function): a
        window function of ClickHouse's (lagInFrame, row_number, ...) or an aggregate."""
        name = node["name"]
        if name not in WINDOW_FUNCTIONS and not (name in FUNCTIONS and FUNCTIONS[name].aggregate):
            raise HogQLError(f"Unsupported function call '{name}(...)'")
        fn = FUNCTIONS[name].ch if name in FUNCTIONS else name
        exprs = [self.expr(e, scope) for e in node.get("exprs") or []]
        args = node.get("args") or []
        over = node.get("over_expr")
        if name in ("lag", "lead"):
            # printer/base.py _transform_window_function: lagInFrame/leadInFrame of toNullable(x),
            # with the whole partition as the frame when the window gives an ORDER BY but no frame
            # (or no window at all)
            fn = f"{name}InFrame"
            if exprs:
                first = exprs[0]
                exprs[0] = Printed(f"toNullable({first.sql})", True, first.datetime, first.type)
            if over is None or (over.get("order_by") and not over.get("frame_method")):
                exprs_nodes = node.get("exprs") or []
                default_order = (
                    [{"node": "OrderExpr", "expr": exprs_nodes[0], "order": "ASC"}]
                    if exprs_nodes
                    else None
                )
                over = {
                    **(over or {}),
                    "order_by": (over or {}).get("order_by") or default_order,
                    "frame_method": "ROWS",
                    "frame_start": {"frame_type": "PRECEDING", "frame_value": None},
                    "frame_end": {"frame_type": "FOLLOWING", "frame_value": None},
                }
            name = fn
        head = fn + (f"({', '.join(self.expr(a, scope).sql for a in args)})" if args else "")
        if over is None:
            return Printed(
                f"{head}({', '.join(e.sql for e in exprs)}) OVER {node['over_identifier']}"
            )
        parts = []
        if over.get("partition_by"):
            parts.append(
                "PARTITION BY " + ", ".join(self.expr(e, scope).sql for e in over["partition_by"])
            )
        if over.get("order_by"):
            parts.append("ORDER BY " + ", ".join(self.expr(e, scope).sql for e in over["order_by"]))
        if over.get("frame_method"):
            ends = [self._frame(over["frame_start"], scope)]
            if over.get("frame_end"):
                ends.append(self._frame(over["frame_end"], scope))
            frame = ends[0] if len(ends) == 1 else f"BETWEEN {ends[0]} AND {ends[1]}"
            parts.append(f"{over['frame_method']} {frame}")
        nullable = name not in ("row_number", "rank", "dense_rank", "count", "sum")
        dt = bool(exprs) and exprs[0].datetime and name in ("lagInFrame", "leadInFrame")
        return Printed(
            f"{head}({', '.join(e.sql for e in exprs)}) OVER ({' '.join(parts)})", nullable, dt
        )

    def _frame(self, node: dict[str, Any], scope: Scope) -> str:
        kind = node["frame_type"]
        if kind == "CURRENT ROW":
            return kind
        value = node.get("frame_value")
        return f"{'UNBOUNDED' if value is None else self.expr(value, scope).sql} {kind}"

    _SelectSetQuery = _SelectQuery

    def _CompareOperation(self, node: dict[str, Any], scope: Scope) -> Printed:
        op = node["op"]
        left = self.expr(node["left"], scope)
        right = self.expr(node["right"], scope)
        rnode = node["right"]
        if op in ("in", "not in"):
            fn = _COMPARE[op]
            if rnode["node"] in ("SelectQuery", "SelectSetQuery"):
                text = f"{fn}({left.sql}, {right.sql})"
            else:
                text = f"{fn}({left.sql}, {right.sql})"
            return Printed(text, False)  # never wrapped; ClickHouse runs with transform_null_in
        # `x = NULL` / `x != NULL`
        if rnode["node"] == "Constant" and rnode["value"] is None:
            if op == "==":
                return Printed(f"isNull({left.sql})", False)
            if op == "!=":
                return Printed(f"isNotNull({left.sql})", False)
        if node["left"]["node"] == "Constant" and node["left"]["value"] is None:
            if op == "==":
                return Printed(f"isNull({right.sql})", False)
            if op == "!=":
                return Printed(f"isNotNull({right.sql})", False)
        fn = _COMPARE[op]
        text = f"{fn}({left.sql}, {right.sql})"
        if op in ("!~", "!~*"):
            text = f"not({text})"
        if op in ("=~*", "!~*"):
            text = text.replace(f"match({left.sql}, ", f"match({left.sql}, concat('(?i)', ", 1)
            text = text[:-1] + "))" if op == "=~*" else text[:-2] + ")))"
        if self.in_join_constraint or (not left.nullable and not right.nullable):
            return Printed(text, False)
        lnode, constant_side = node["left"], None
        if rnode["node"] in ("Constant", "Placeholder"):
            constant_side = "right"
        elif lnode["node"] in ("Constant", "Placeholder"):
            constant_side = "left"
        if op in ("==", "like", "ilike"):
            if constant_side:
                return Printed(f"ifNull({text}, 0)", False)
            return Printed(f"ifNull({text}, and(isNull({left.sql}), isNull({right.sql})))", False)
        if op in ("!=", "not like", "not ilike"):
            if constant_side:
                return Printed(f"ifNull({text}, 1)", False)
            return Printed(
                f"ifNull({text}, or(isNotNull({left.sql}), isNotNull({right.sql})))", False
            )
        if op in ("=~", "=~*"):
            return Printed(f"ifNull({text}, and(isNull({left.sql}), isNull({right.sql})))", False)
        if op in ("!~", "!~*"):
            return Printed(
                f"ifNull({text}, or(isNotNull({left.sql}), isNotNull({right.sql})))", False
            )
        return Printed(f"ifNull({text}, 0)", False)

    # --------------------------------------------------------------- fields

    def _Field(self, node: dict[str, Any], scope: Scope) -> Printed:
        chain = [str(c) for c in node["chain"]]
        if chain == ["*"]:
            return Printed("*")
        resolved = self._resolve(chain, scope, node)
        return resolved

    def _resolve(self, chain: list[str], scope: Scope, node: dict[str, Any]) -> Printed:
        """A field, found as PostHog's resolver finds it (resolver.py visit_field): first a table
        of this SELECT by its name or alias when the chain has more parts
        (lookup_table_by_name), then the SELECT's aliases BEFORE any table's columns
        (resolver_utils.py lookup_field_by_name: `scope.aliases[name]` first), so an alias shadows
        a column in every clause; a lambda's scope goes on to the enclosing SELECT."""
        head = chain[0]
        s: Scope | None = scope
        while s is not None:
            if len(chain) > 1:
                for src in s.sources:
                    if src.alias is not None and src.alias == head:
                        return self._from_source(src, chain[1:], node)
            if head in s.aliases:
                named = s.aliases[head]
                if len(chain) == 1:
                    return Printed(
                        escape_identifier(head), named.nullable, named.datetime, named.type
                    )
                return self._alias_child(head, named, chain[1:])
            for src in s.sources:
                if src.table is not None and (
                    head in src.table.columns or (head == "person" and src.table.name == "events")
                ):
                    return self._from_source(src, chain, node)
                if src.table is None and head in src.columns:
                    return self._from_source(src, chain, node)
            s = s.parent if s.is_lambda else None
        if self.globals is not None and head in self.globals:
            return self._global(chain)
        raise HogQLError(f"Unable to resolve field: {head}")

    def _global(self, chain: list[str]) -> Printed:
        """A field found in the request's `globals` (a HogQLMetadata request's): resolver.py
        visit_field, when nothing else resolves the name, walks the chain through dicts (a
        missing key is null) and lists (an index) to a constant; a chain through anything else,
        or past a list's end, is "Cannot resolve field: <the chain so far>"."""
        value: Any = self.globals
        walked: list[str] = []
        for link in chain:
            walked.append(link)
            if isinstance(value, dict):
                value = value.get(link)
            elif isinstance(value, list):
                try:
                    value = value[int(link)]
                except (ValueError, IndexError):
                    raise HogQLError(f"Cannot resolve field: {'.'.join(walked)}") from None
            else:
                raise HogQLError(f"Cannot resolve field: {'.'.join(walked)}")
        return Printed(constant(value, self.tz), value is None, type=constant_type(value))

    def _alias_child(self, alias: str, named: Printed, rest: list[str]) -> Printed:
        """`alias.x`: the child of what the alias names (resolver.py visit_field's chain loop).
        A JSON column's alias reads a property; a plain column's refuses as FieldType.get_child
        (ast.py) does; anything else, person_id included (an expression field on events), as
        the resolver turns get_child's NotImplementedError into."""
        if named.type == "json":
            return self._property(escape_identifier(alias), rest, person=False)
        if named.column is not None and named.column != "person_id":
            raise HogQLError(f'Can not access property "{rest[0]}" on field "{named.column}"')
        raise HogQLError(
            f"Cannot access property '{rest[0]}' on '{alias}'. This can happen when a column"
            " alias shadows a table field. Try renaming the alias."
        )

    def _from_source(self, src: Source, chain: list[str], node: dict[str, Any]) -> Printed:
        qual = src.alias
        if src.table is None:
            col = chain[0]
            text = (
                escape_identifier(col)
                if qual is None
                else f"{escape_identifier(qual)}.{escape_identifier(col)}"
            )
            named = src.columns.get(col)
            if named is None:
                return Printed(text, True)
            if len(chain) > 1:
                if named.type == "json":
                    return self._property(text, chain[1:], person=False)
                raise HogQLError(f'Can not access property "{chain[1]}" on field "{col}"')
            # nullable as before: a subquery's column is wrapped as a Nullable one would be
            return Printed(text, True, named.datetime, named.type)
        table = src.table
        q = escape_identifier(qual or table.name)
        head = chain[0]
        if table.name == "events" and head == "person":
            if len(chain) >= 3 and chain[1] == "properties":
                return self._property(f"{q}.person_properties", chain[2:], person=True)
            if chain[1:] == ["properties"]:
                return Printed(f"{q}.person_properties", False, type="json")
            if chain[1:] == ["id"]:
                return Printed(f"{q}.person_id", False, type="uuid", column="person_id")
            raise HogQLError(f"Unsupported field person.{'.'.join(chain[1:])}")
        kind = table.columns.get(head)
        if kind is None:
            raise HogQLError(f"Field not found: {head}")
        col = f"{q}.{escape_identifier(head)}"
        if kind == JSON_COL:
            if len(chain) == 1:
                return Printed(col, False, type="json", column=head)
            return self._property(
                col, chain[1:], person=table.name == "persons", group=table.name == "groups"
            )
        if len(chain) > 1:
            # ast.py FieldType.get_child
            raise HogQLError(f'Can not access property "{chain[1]}" on field "{head}"')
        if kind == DATETIME:
            if self.convert:
                text = f"toTimeZone({col}, {escape_string(self.project_tz)})"
                return Printed(text, False, True, "datetime", head)
            return Printed(col, False, True, "datetime", head)
        return Printed(col, False, type=_COLUMN_TYPES.get(head, "string"), column=head)

    def _property(
        self, column: str, keys: list[str], *, person: bool, group: bool = False
    ) -> Printed:
        args = ", ".join(escape_string(k) for k in keys)
        raw = (
            f"replaceRegexpAll(nullIf(nullIf(JSONExtractRaw({column}, {args}), ''), 'null'),"
            " '^\"|\"$', '')"
        )
        prefix = "group:" if group else "person:" if person else "event:"
        kind = self.property_types.get(prefix + keys[0])
        if len(keys) == 1 and kind == "Numeric":
            return Printed(f"accurateCastOrNull({raw}, 'Float64')", True, type="float")
        if len(keys) == 1 and kind == "Boolean":
            return Printed(
                f"accurateCastOrNull(transform(toString({raw}), ['true', 'false'], [1, 0], NULL),"
                " 'Bool')",
                True,
                type="boolean",
            )
        return Printed(raw, True, type="string")

    # --------------------------------------------------------------- calls

    def _Call(self, node: dict[str, Any], scope: Scope) -> Printed:
        name = node["name"]
        fn = FUNCTIONS.get(name)
        if fn is None and name.lower() in CASE_INSENSITIVE:
            name = name.lower()
            fn = FUNCTIONS.get(name)
        if fn is None:
            raise HogQLError(f"Unsupported function call '{name}(...)'")
        args_nodes = node.get("args") or []
        n = len(args_nodes)
        validate_function_args(name, n, fn.low, fn.high)
        args = [self.expr(a, scope) for a in args_nodes]
        texts = [a.sql for a in args]
        ret = call_type(name, [a.type for a in args])
        params = node.get("params")
        distinct = "DISTINCT " if node.get("distinct") else ""
        if fn.aggregate:
            head = fn.ch
            if params:
                head += "(" + ", ".join(self.expr(p, scope).sql for p in params) + ")"
            nullable = name not in {
                "count",
                "countIf",
                "uniq",
                "uniqExact",
                "uniqIf",
                "sum",
                "sumIf",
                "groupArray",
                "groupUniqArray",
            }
            if name in (
                "min",
                "max",
                "minIf",
                "maxIf",
                "argMax",
                "argMin",
                "argMaxIf",
                "argMinIf",
                "any",
            ):
                nullable = any(a.nullable for a in args)
            dt = (
                bool(args)
                and args[0].datetime
                and name in ("min", "max", "minIf", "maxIf", "any", "argMax", "argMin")
            )
            return Printed(f"{head}({distinct}{', '.join(texts)})", nullable, dt)
        if fn.ch == "accurateCastOrNull":
            # suffix_args (conversions.py): toInt64(x) is accurateCastOrNull(x, 'Int64')
            target = _CAST_TARGETS[name]
            return Printed(f"accurateCastOrNull({texts[0]}, {escape_string(target)})", True)
        if name == "trim" and n == 2:
            return Printed(f"trim(BOTH {texts[1]} FROM {texts[0]})", args[0].nullable)
        if name == "toDateTime":
            return self._to_date_time(args_nodes, args, ret)
        if name == "now":
            return Printed(f"now64(6, {escape_string(self.tz)})", False, True)
        if name == "today":
            return Printed("today()", False)
        if name == "toTimeZone":
            tz = texts[1] if n == 2 else escape_string(self.tz)
            return Printed(f"toTimeZone({texts[0]}, {tz})", args[0].nullable, True, ret)
        if name == "toDateTime64" and n < 3:
            texts = [texts[0], texts[1] if n == 2 else "6", escape_string(self.tz)]
        if name == "toStartOfWeek" and n == 1:
            texts.append("0")  # the project's week start: Sunday unless it says Monday
        if name == "toDate":
            # overloads (conversions.py DATE_CONVERSION_FUNCTIONS): toDate of a DateTime or a Date
            # is toDate, of anything else (a String, or a type the resolver could not tell)
            # toDateOrNull, which ClickHouse refuses for a DateTime
            if args[0].type in _OVERLOADS["toDate"][0]:
                return Printed(f"toDate({texts[0]})", args[0].nullable, False, ret)
            return Printed(f"toDateOrNull({texts[0]})", True, False, ret)
        nullable = any(a.nullable for a in args)
        if name in ("coalesce",):
            nullable = all(a.nullable for a in args)
        if name in (
            "notEmpty",
            "empty",
            "isNull",
            "isNotNull",
            "count",
            "length",
            "has",
            "indexOf",
            "toString",
            "match",
            "startsWith",
            "endsWith",
        ):
            nullable = name == "toString" and nullable
            if name in ("match", "startsWith", "endsWith", "notEmpty", "empty", "has", "indexOf"):
                nullable = any(a.nullable for a in args)
        if name in (
            "JSONExtractString",
            "JSONExtractRaw",
            "JSONHas",
            "JSONType",
            "JSONExtractKeys",
        ):
            nullable = False
        if name in (
            "toFloatOrNull",
            "toIntOrNull",
            "nullif",
            "nullIf",
            "multiIf",
            "if",
            "arrayElement",
        ):
            nullable = True
        dt = name in _DATETIME_FUNCS or (
            name in ("if", "multiIf", "coalesce", "greatest", "least", "plus", "minus")
            and any(a.datetime for a in args)
        )
        return Printed(f"{fn.ch}({', '.join(texts)})", nullable, dt, ret)

    def _to_date_time(self, nodes: list[dict[str, Any]], args: list[Printed], ret: str) -> Printed:
        """toDateTime as printer/base.py visit_call prints it: the overload `toDateTime` for a
        DateTime, Date or Integer first argument, else parseDateTime64BestEffortOrNull; a second
        argument is the timezone (has_tz_override), else the project's (UTC when the modifiers
        say convertToProjectTimezone: false); a lone constant string in a plain format is read
        by toDateTime64/toDateTime; the parse functions get the precision 6 before the zone."""
        tz = args[1].sql if len(args) == 2 else escape_string(self.tz)
        first = nodes[0]
        if args[0].type in _OVERLOADS["toDateTime"][0]:
            return Printed(f"toDateTime({args[0].sql}, {tz})", args[0].nullable, True, ret)
        name = "parseDateTime64BestEffortOrNull"
        value = (
            first["value"]
            if first["node"] == "Constant"
            else self.values.get(first["expr"]["chain"][0])
            if first["node"] == "Placeholder"
            else None
        )
        if len(args) == 1 and isinstance(value, str):
            name = "parseDateTime64BestEffort"
            if re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{1,6}$", value):
                name = "toDateTime64"
            elif re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", value) or re.match(
                r"^\d{4}-\d{2}-\d{2}$", value
            ):
                return Printed(f"toDateTime({args[0].sql}, {tz})", False, True, ret)
        return Printed(f"{name}({args[0].sql}, 6, {tz})", name.endswith("OrNull"), True, ret)

    def _is_string(self, node: dict[str, Any], printed: Printed) -> bool:
        if node["node"] == "Constant":
            return isinstance(node["value"], str)
        if node["node"] == "Placeholder":
            return isinstance(self.values.get(node["expr"]["chain"][0]), str)
        return not printed.datetime and printed.sql.startswith(("replaceRegexpAll(", "toString("))


def print_hogql(text: str, values: Mapping[str, Any], **options: Any) -> str:
    """ClickHouse SQL for a HogQL SELECT, printed as PostHog prints it (see the module's doc);
    `options` are Printer's (timezone, convert_to_project_timezone, property_types, database,
    default_limit, max_limit)."""
    return Printer(values, **options).print_query(parse_select(text), top=True)
