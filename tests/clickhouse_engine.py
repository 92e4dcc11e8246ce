"""Real ClickHouse (chdb, in process) holding an events store, running HogQL as PostHog does.

`ClickHouseEngine(store_path)` copies the store's events into ClickHouse tables shaped like
PostHog's (`events` with JSON `properties` and `person_properties` as String, timestamps as
DateTime64(6, 'UTC'), sorted and partitioned as PostHog's own events table, so that a filter on
the event skips what it skips on PostHog: posthog/models/event/sql.py, `PARTITION BY
toYYYYMM(timestamp) ORDER BY (team_id, toDate(timestamp), event, cityHash64(distinct_id),
cityHash64(uuid))`, one project here, so no team_id; `persons`; `person_distinct_ids`), types
the event and person properties as PostHog's property definitions would (a property whose values
are JSON numbers is Numeric, JSON booleans Boolean), and runs HogQL printed by
`tests.hogql_printer`. The answer's values are typed by ClickHouse's own result types, the way
PostHog's JSON carries them.

chdb allows one session per process: every engine shares it, each in a database of its own.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.hogql_printer import HogQLError, print_hogql

_LOCK = threading.Lock()
_SESSION: Any = None
_COUNTER = itertools.count(1)
# Every query's settings: 64-bit integers as JSON numbers (as PostHog's answers carry them), NaN
# and infinities as text (JSON has no literal for them).
SETTINGS = (
    "session_timezone = 'UTC', output_format_json_quote_64bit_integers = 0,"
    " output_format_json_quote_denormals = 1, transform_null_in = 1"
)


def _session() -> Any:
    global _SESSION
    if _SESSION is None:
        from chdb import session

        _SESSION = session.Session()
    return _SESSION


def clickhouse_version() -> str:
    with _LOCK:
        out = _session().query("SELECT version()", "TabSeparated")
    return str(out).strip()


def run_sql(sql: str) -> list[list[Any]]:
    """Rows of a ClickHouse SQL text without tables (the conformance tests' printed cases)."""
    with _LOCK:
        try:
            out = _session().query(f"{sql} SETTINGS session_timezone = 'UTC'", "JSONCompact")
        except Exception as e:
            raise ClickHouseError(str(e).strip().splitlines()[0]) from None
    return list(json.loads(out.bytes() if hasattr(out, "bytes") else str(out))["data"])


def run_answer(sql: str) -> tuple[list[str], list[str], list[list[Any]]]:
    """A ClickHouse SQL text without tables answered as a query's rows are: its columns, their
    ClickHouse types and its rows as PostHog holds them (`read_answer`)."""
    with _LOCK:
        try:
            out = _session().query(f"{sql} SETTINGS {SETTINGS}", "JSONCompact")
        except Exception as e:
            raise ClickHouseError(str(e).strip().splitlines()[0]) from None
    return read_answer(out)


def read_answer(out: Any) -> tuple[list[str], list[str], list[list[Any]]]:
    """ClickHouse's JSONCompact answer as PostHog's query runner holds its rows: each value
    converted as its ClickHouse type says (`_converter`), ready for PostHog's JSON renderer."""
    data = json.loads(out.bytes() if hasattr(out, "bytes") else str(out))
    meta = data["meta"]
    columns = [m["name"] for m in meta]
    types = [m["type"] for m in meta]
    converters = [(i, c) for i, c in enumerate(map(_converter, types)) if c is not None]
    rows = data["data"]
    for row in rows:
        for i, convert in converters:
            if row[i] is not None:
                row[i] = convert(row[i])
    return columns, types, rows


@dataclass
class CHResult:
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    sql: str
    # Seconds spent by phase (for the bench's live figures): "print" (PostHog's parser and
    # this printer), "wait" (for the one chdb session), "clickhouse" (the query; and
    # "clickhouse_cpu", the process's CPU seconds meanwhile), "convert" (ClickHouse's JSON read
    # into PostHog's values).
    timings: dict[str, float] = field(default_factory=dict)


class ClickHouseError(Exception):
    pass


def _top_level_split(text: str) -> list[str]:
    """`text` split at its commas outside parentheses and quotes."""
    parts: list[str] = []
    depth, start, quoted = 0, 0, False
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _element_type(text: str) -> str:
    """A tuple element's type without its name ("a DateTime64(6)" -> "DateTime64(6)")."""
    head = text.split("(", 1)[0]
    if " " in head.strip():
        return text.strip().split(" ", 1)[1].strip()
    return text.strip()


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@functools.lru_cache(maxsize=256)
def _converter(ch_type: str) -> Callable[[Any], Any] | None:
    """How a value of type `ch_type` in ClickHouse's JSONCompact output is carried in PostHog's
    JSON answer, worked out once per type (None: as ClickHouse gave it). Per element it is
    string work, not a datetime and a timezone built for each: the stand-in's own Python was
    most of a large answer's time (bench/live_analytics.py's "stand-in" column)."""
    t = ch_type
    while True:
        for wrap in ("Nullable(", "LowCardinality("):
            if t.startswith(wrap):
                t = t[len(wrap) : -1]
                break
        else:
            break
    if t.startswith("Array("):
        each = _converter(t[len("Array(") : -1])
        if each is None:
            return None
        return lambda v: None if v is None else [None if x is None else each(x) for x in v]
    if t.startswith("Tuple("):
        # Each element as its own type (PostHog's JSON renders a datetime in a tuple as any
        # other): "Tuple(T1, T2)" or, named, "Tuple(a T1, b T2)" (a JSON object, its values
        # in order). Only the elements with a conversion are gone over.
        elements = _top_level_split(t[len("Tuple(") : -1])
        named = any(_element_type(e) != e.strip() for e in elements)
        inner = [_converter(_element_type(e)) for e in elements]
        active = [(i, c) for i, c in enumerate(inner) if c is not None]
        if not active and not named:
            return None

        def tuple_(value: Any) -> Any:
            if value is None:
                return None
            items = list(value.values()) if isinstance(value, dict) else value
            if len(inner) != len(items):
                return items
            for i, convert in active:
                if items[i] is not None:
                    items[i] = convert(items[i])
            return items

        return tuple_
    if t == "DateTime64(6, 'UTC')":
        return _utc_micros
    if t.startswith("DateTime"):
        m = t.split("'")
        tz = m[1] if len(m) > 1 else "UTC"
        return functools.partial(_datetime_text, tz=tz)
    if t.startswith(("Float", "Decimal")):
        return _float
    # Integers come as JSON numbers (SETTINGS: output_format_json_quote_64bit_integers = 0)
    if t == "Bool":
        return lambda v: None if v is None else bool(v)
    return None


def _float(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(value, float(value))
    return float(value)


def _utc_micros(value: Any) -> Any:
    """_datetime_text of a DateTime64(6, 'UTC') (every event's timestamp), by slicing its text
    ("YYYY-MM-DD hh:mm:ss.ffffff"): most of the values of a large answer."""
    if not isinstance(value, str) or len(value) != 26 or value[10] != " " or value[19] != ".":
        return _datetime_text(value, "UTC")
    if value.endswith("000000"):
        return f"{value[:10]}T{value[11:19]}Z"
    return f"{value[:10]}T{value[11:]}Z"


def _datetime_text(value: Any, tz: str) -> Any:
    """PostHog answers datetimes as ISO text with the offset of their timezone: Python's
    isoformat (microseconds only when there are any), +00:00 written Z."""
    if value is None:
        return None
    text = str(value)
    if tz == "UTC" and len(text) >= 19 and text[10] == " " and text[19:20] in ("", "."):
        head, dot, fraction = text.partition(".")
        if dot and fraction.isdigit() and len(fraction) <= 6 and fraction.strip("0"):
            return f"{head[:10]}T{head[11:]}.{fraction.ljust(6, '0')}Z"
        if not dot or (fraction.isdigit() and not fraction.strip("0")):
            return f"{head[:10]}T{head[11:]}Z"
    moment = datetime.fromisoformat(text).replace(tzinfo=_zone(tz))
    return moment.isoformat().replace("+00:00", "Z")


class ClickHouseEngine:
    """An events store held by ClickHouse, answering HogQL as PostHog's query endpoint does."""

    def __init__(self, store_path: Path, *, timezone: str = "UTC") -> None:
        self.database = f"posthog_{next(_COUNTER)}"
        self.timezone = timezone
        self.property_types: dict[str, str] = {}
        self.group_types: list[tuple[str, int]] = []  # (group_type, group_type_index)
        # The longest query ClickHouse parses: its default, said explicitly as PostHog's servers
        # set theirs (MAX_QUERY_SIZE_BYTES, value not public); a bound list is printed into it.
        self.max_query_size = 262_144
        self._load(Path(store_path))

    # ----------------------------------------------------------------- loading

    def _load(self, store_path: Path) -> None:
        import duckdb

        db = self.database
        with tempfile.TemporaryDirectory(prefix="ch-load-") as tmp:
            events = Path(tmp) / "events.parquet"
            groups = Path(tmp) / "groups.parquet"
            con = duckdb.connect(str(store_path), read_only=True)
            try:
                columns = {r[0] for r in con.execute("DESCRIBE events").fetchall()}
                group_0 = '"$group_0"' if "$group_0" in columns else "''"
                con.execute(
                    f"""COPY (
                        SELECT CAST(uuid AS VARCHAR) AS uuid, event, distinct_id,
                               CAST(person_id AS VARCHAR) AS person_id,
                               CAST(timestamp AS TIMESTAMP) AS timestamp,
                               coalesce(CAST(properties AS VARCHAR), '') AS properties,
                               coalesce(CAST(person_properties AS VARCHAR), '')
                                   AS person_properties,
                               {group_0} AS group_0
                        FROM events ORDER BY timestamp
                    ) TO '{events}' (FORMAT parquet)"""
                )
                has_groups = self._has_table(con, "groups")
                if has_groups:
                    con.execute(
                        f"""COPY (SELECT index, key, CAST(created_at AS TIMESTAMP) AS created_at,
                                         CAST(updated_at AS TIMESTAMP) AS updated_at,
                                         properties FROM groups
                        ) TO '{groups}' (FORMAT parquet)"""
                    )
                    self.group_types = con.execute(
                        "SELECT group_type, group_type_index FROM group_type_mapping"
                        " ORDER BY group_type_index"
                    ).fetchall()
                self.property_types = self._property_types(con)
            finally:
                con.close()
            statements = [
                f"CREATE DATABASE {db}",
                f"""CREATE TABLE {db}.events (
                        uuid String, event String, properties String,
                        timestamp DateTime64(6, 'UTC'), distinct_id String, person_id String,
                        person_properties String, elements_chain String,
                        created_at DateTime64(6, 'UTC'),
                        `$session_id` String, `$window_id` String, `$group_0` String
                    ) ENGINE = MergeTree PARTITION BY toYYYYMM(timestamp)
                    ORDER BY (toDate(timestamp), event, cityHash64(distinct_id),
                              cityHash64(uuid))""",
                f"""INSERT INTO {db}.events
                    SELECT uuid, event, properties, timestamp, distinct_id, person_id,
                           person_properties, '', timestamp,
                           replaceRegexpAll(JSONExtractRaw(properties, '$session_id'),
                                            '^"|"$', ''),
                           replaceRegexpAll(JSONExtractRaw(properties, '$window_id'),
                                            '^"|"$', ''),
                           group_0
                    FROM file('{events}', Parquet)
                    SETTINGS session_timezone = 'UTC'""",
                # persons: the latest non-empty person properties, created at the first event
                f"""CREATE TABLE {db}.persons ENGINE = MergeTree ORDER BY id AS
                    SELECT person_id AS id,
                           argMaxIf(person_properties, timestamp,
                                    person_properties NOT IN ('', 'null')) AS properties,
                           min(timestamp) AS created_at,
                           1 AS is_identified
                    FROM {db}.events WHERE person_id != '' GROUP BY person_id""",
                f"""CREATE TABLE {db}.person_distinct_ids ENGINE = MergeTree
                    ORDER BY distinct_id AS
                    SELECT distinct_id, argMax(person_id, timestamp) AS person_id
                    FROM {db}.events GROUP BY distinct_id""",
                # groups: HogQL's fields (posthog/hogql/database/schema/groups.py) as columns
                f"""CREATE TABLE {db}.groups (
                        `index` Int64, key String, created_at DateTime64(6, 'UTC'),
                        updated_at DateTime64(6, 'UTC'), properties String
                    ) ENGINE = MergeTree ORDER BY (index, key)""",
            ]
            if has_groups:
                statements.append(
                    f"""INSERT INTO {db}.groups SELECT * FROM file('{groups}', Parquet)
                        SETTINGS session_timezone = 'UTC'"""
                )
            with _LOCK:
                sess = _session()
                for sql in statements:
                    sess.query(sql)

    @staticmethod
    def _has_table(con: Any, name: str) -> bool:
        row = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = $n", {"n": name}
        ).fetchone()
        return bool(row and row[0])

    @staticmethod
    def _property_types(con: Any) -> dict[str, str]:
        """PostHog types a property by the values it has seen (property definitions): numbers are
        Numeric, booleans Boolean, anything else String. Keys as 'event:NAME' / 'person:NAME'."""
        types: dict[str, str] = {}
        kinds_of = [("event", "properties", "events"), ("person", "person_properties", "events")]
        if ClickHouseEngine._has_table(con, "groups"):
            kinds_of.append(("group", "properties", "groups"))
        for prefix, column, table in kinds_of:
            rows = con.execute(
                f"""SELECT k,
                           list_distinct(list(json_type(CAST({column} AS JSON), '$."' || k || '"')))
                    FROM (SELECT {column}, unnest(json_keys(CAST({column} AS JSON))) AS k
                          FROM {table} WHERE {column} IS NOT NULL
                            AND json_type(CAST({column} AS JSON)) = 'OBJECT')
                    GROUP BY k"""
            ).fetchall()
            for key, kinds in rows:
                kinds = {k for k in kinds if k not in (None, "NULL")}
                if kinds and kinds <= {"BIGINT", "UBIGINT", "DOUBLE"}:
                    types[f"{prefix}:{key}"] = "Numeric"
                elif kinds == {"BOOLEAN"}:
                    types[f"{prefix}:{key}"] = "Boolean"
        return types

    # ----------------------------------------------------------------- running

    def print(
        self,
        text: str,
        values: Mapping[str, Any],
        modifiers: Mapping[str, Any] | None = None,
        **limits: int,
    ) -> str:
        """The ClickHouse SQL of a HogQL text; `limits`: default_limit and max_limit (the query
        runner's LIMIT without one, and its cap)."""
        convert = (modifiers or {}).get("convertToProjectTimezone", True)
        return print_hogql(
            text,
            values,
            timezone=self.timezone,
            convert_to_project_timezone=bool(convert),
            property_types=self.property_types,
            database=self.database,
            **limits,
        )

    def run(
        self,
        text: str,
        values: Mapping[str, Any],
        modifiers: Mapping[str, Any] | None = None,
        **limits: int,
    ) -> CHResult:
        started = time.perf_counter()
        sql = self.print(text, values, modifiers, **limits)
        full = f"{sql} SETTINGS {SETTINGS}, max_query_size = {int(self.max_query_size)}"
        printed = time.perf_counter()
        with _LOCK:
            locked, cpu = time.perf_counter(), time.process_time()
            own = time.thread_time()
            try:
                out = _session().query(full, "JSONCompact")
            except Exception as e:  # chdb raises its own error type with ClickHouse's message
                raise ClickHouseError(str(e).strip().splitlines()[0]) from None
            ran, cpu = time.perf_counter(), time.process_time() - cpu
            own = time.thread_time() - own
        columns, types, rows = read_answer(out)
        timings = {
            "print": printed - started,
            "wait": locked - printed,
            "clickhouse": ran - locked,
            # the process's CPU meanwhile: ClickHouse's threads, and any other request's Python
            "clickhouse_cpu": cpu,
            "convert": time.perf_counter() - ran,
            # this thread's CPU inside ClickHouse's call (its query may run partly on it)
            "clickhouse_thread_cpu": own,
        }
        return CHResult(columns, types, rows, sql, timings)

    def close(self) -> None:
        with _LOCK, contextlib.suppress(Exception):
            _session().query(f"DROP DATABASE IF EXISTS {self.database}")


__all__ = ["CHResult", "ClickHouseEngine", "ClickHouseError", "HogQLError", "clickhouse_version"]
_ = UTC
