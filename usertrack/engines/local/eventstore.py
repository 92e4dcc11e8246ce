"""A local store of PostHog events in one DuckDB file, queried by the local PostHog source.

Tables of the store:

- `events`: the raw export columns `uuid, event, distinct_id, person_id, timestamp (naive UTC),
  properties JSON, person_properties JSON`, plus materialized "hot" columns read from the JSON once
  at build time (`HOT_PROPERTIES`, `HOT_PERSON_PROPERTIES`, and `person_email_norm` = the
  normalized email of usertrack.core.emails), sorted by timestamp so that time windows skip whole
  row groups (zone maps).
- `persons`: `id` (= person_id), `properties` (the latest non-null person_properties), `created_at`
  (first event).
- `sessions`: one row per `$session_id`, with HogQL's field names: `session_id`, `distinct_id`,
  `person_id`, `$start_timestamp`, `$end_timestamp`, `$session_duration` (seconds, boundaries as
  ClickHouse's dateDiff counts them), `duration`, `event_count`, `$pageview_count`,
  `$autocapture_count`, `$entry_pathname`, `$end_pathname`/`$exit_pathname`, `$entry_current_url`,
  `$end_current_url`/`$exit_current_url`, `$entry_referring_domain`, `$is_bounce` (PostHog's,
  posthog/hogql/database/schema/sessions_v2.py: NULL without a `$pageview`, else exactly one
  `$pageview`, no `$autocapture` and a `$session_duration` under 10; docs/metrics.md).
- `person_distinct_ids` (view): `distinct_id`, `person_id` (the latest person of each distinct id).
- `person_hours`, `person_days`: the events per person, normalized email and UTC hour, and per
  day (the local engine's own materialisation, usertrack.engines.local.rollups: `activity` reads
  them instead of the events).
- `person_day_spans`, `person_day_events`: per person, normalized email and UTC day, the first
  and last event's time, and the events per name (usertrack.engines.local.churn_rollups: `churn`
  reads them instead of the events).
- `session_spans`, `path_steps`, `path_node_names`: each $session_id's facts, and the events paths
  keeps as node codes in each person's time order with where a sequence opens
  (usertrack.engines.local.rollups: `sessions` and `paths` read them instead of the events).
- `usertrack_meta`: key/value facts about the build (version, fingerprint of imported files,
  counts).

A store is always replaced atomically: built in a temporary file beside it, then `os.replace`d,
so a reader never sees half a store.

Import of PostHog batch exports (`import_events`): rows without an `event` name or a `timestamp` are
skipped and counted per file in `ImportStats.skipped_by_file` (PostHog never produces them; one bad
row should not block the other millions, and the count is always reported). Anything else that
cannot be read -- malformed JSON, CSV or Parquet, a timestamp that does not parse, a `properties`
value that is not JSON -- is a `DataError` naming the file (and the line or record).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
import uuid as uuidlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.core.emails import email_key_sql
from usertrack.core.errors import DataError, first_line
from usertrack.engines.local.saved import FLAGS_TABLE

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "HOT_PERSON_PROPERTIES",
    "HOT_PROPERTIES",
    "RAW_COLUMNS",
    "ImportStats",
    "import_events",
    "open_store",
    "store_info",
    "write_events",
]

# 2: the email key trims tabs, CR and LF too; 3: prop_feature; 4: person_hours, person_days;
# 5: session_spans, path_steps, path_node_names; 6: person_day_spans, person_day_events;
# 7: an export's groups and group types; 8: the session tables' picks at one moment by uuid;
# 9: path_node_names drops a pageview's trailing slash
STORE_VERSION = "9"

# Event properties materialized as columns of `events` (property name -> column). The HogQL
# translator reads `properties.<name>` from these columns instead of parsing JSON per row.
HOT_PROPERTIES: dict[str, str] = {
    "$pathname": "prop_pathname",
    "$session_id": "prop_session_id",
    "$referring_domain": "prop_referring_domain",
    "$current_url": "prop_current_url",
    "template_name": "prop_template_name",
    "template_id": "prop_template_id",
    "$exception_message": "prop_exception_message",
    "$geoip_country_code": "prop_geoip_country_code",
    "$browser": "prop_browser",
    "$device_type": "prop_device_type",
    "$referrer": "prop_referrer",
    "feature": "prop_feature",  # feature_used's: `features` would otherwise read every JSON
}
# Person properties materialized likewise, from each event's person_properties (as written).
HOT_PERSON_PROPERTIES: dict[str, str] = {"email": "person_email"}
# The join key of usertrack (usertrack.core.emails), materialized too: per-user queries group and
# filter on it, and a stored column lets DuckDB work once per distinct email (dictionary vectors)
# instead of once per event. The translator maps
# `lowerUTF8(trim(person.properties.email, ' \t\r\n'))` here.
NORMALIZED_EMAIL_COLUMN = "person_email_norm"
RAW_COLUMNS = (
    "uuid", "event", "distinct_id", "person_id", "timestamp", "properties", "person_properties",
)  # fmt: skip
META_TABLE = "usertrack_meta"
# PostHog's group analytics (HogQL's `groups` table, and the project's group types as its API
# lists them): a store has them when its events came with them (the demo's do); an events
# export has `$group_0` as a column of each event, '' when the event has no group of type 0.
GROUPS_TABLE = "groups"
GROUP_TYPES_TABLE = "group_type_mapping"
GROUP_0 = "$group_0"
STORE_TABLES = (
    "events", "persons", "sessions", "person_distinct_ids", "person_hours", "person_days",
    "person_emails",
    "person_day_spans", "person_day_events", "session_spans", "path_steps", "path_node_names",
    GROUPS_TABLE, GROUP_TYPES_TABLE, FLAGS_TABLE, META_TABLE,
)  # fmt: skip

# HogQL's groups table has these fields. Where `load` gives no groups of its own (an events
# export), they are read from the events as PostHog's ingestion writes them
# (plugin-server/src/worker/ingestion/groups.ts, group-type-manager.ts, groups/group-update.ts):
# a group type gets the next free index (0-4, at most 5 types) when an event first names it, in
# `$groups` (type -> key) or as a `$groupidentify`'s `$group_type`; a group exists once a
# `$groupidentify` names its `$group_key`, and each `$group_set` property overrides the group's
# earlier value of it (the latest wins, the others are kept). A key seen only in `$groups` has no
# group row: no properties, as in PostHog. Empty where the events name no groups.
_GROUPS_SQL = f"""
CREATE TABLE IF NOT EXISTS {GROUPS_TABLE} (index INTEGER, key VARCHAR, created_at TIMESTAMP,
    updated_at TIMESTAMP, properties VARCHAR);
CREATE TABLE IF NOT EXISTS {GROUP_TYPES_TABLE} (group_type VARCHAR, group_type_index INTEGER);
"""
_GROUP_TYPES_FROM_EVENTS_SQL = f"""
CREATE TABLE {GROUP_TYPES_TABLE} AS
WITH named AS (
    SELECT unnest(json_keys(properties->'$."$groups"')) AS group_type, timestamp
    FROM events
    WHERE contains(CAST(properties AS VARCHAR), '"$groups"')
      AND json_type(properties->'$."$groups"') = 'OBJECT'
    UNION ALL
    SELECT properties->>'$."$group_type"', timestamp
    FROM events
    WHERE event = '$groupidentify'
), firsts AS (
    SELECT group_type, min(timestamp) AS first_seen
    FROM named WHERE group_type IS NOT NULL AND group_type <> ''
    GROUP BY group_type
)
SELECT group_type,
       CAST(row_number() OVER (ORDER BY first_seen, group_type) - 1 AS INTEGER)
           AS group_type_index
FROM firsts
QUALIFY group_type_index < 5
ORDER BY group_type_index
"""
_GROUPS_FROM_EVENTS_SQL = f"""
CREATE TABLE {GROUPS_TABLE} AS
WITH identified AS (
    SELECT m.group_type_index AS index, e.properties->>'$."$group_key"' AS key, e.timestamp,
           CASE WHEN json_type(e.properties->'$."$group_set"') = 'OBJECT'
                THEN e.properties->'$."$group_set"' END AS group_set
    FROM events AS e
    JOIN {GROUP_TYPES_TABLE} AS m ON m.group_type = e.properties->>'$."$group_type"'
    WHERE e.event = '$groupidentify'
), kept AS (
    SELECT * FROM identified WHERE key IS NOT NULL AND key <> ''
), latest AS (
    SELECT k.index, k.key, j.key AS name, arg_max(j.value, k.timestamp) AS value
    FROM kept AS k, json_each(k.group_set) AS j
    GROUP BY k.index, k.key, j.key
)
SELECT k.index, k.key, k.created_at, k.updated_at,
       CAST(coalesce(p.properties, json_object()) AS VARCHAR) AS properties
FROM (SELECT index, key, min(timestamp) AS created_at, max(timestamp) AS updated_at
      FROM kept GROUP BY index, key) AS k
LEFT JOIN (SELECT index, key,
                  to_json(map_from_entries(list(struct_pack(k := name, v := value) ORDER BY name)))
                      AS properties
           FROM latest GROUP BY index, key) AS p USING (index, key)
ORDER BY k.index, k.key
"""

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --------------------------------------------------------------------------------------------
# Building a store


def write_events(
    path: Path,
    load: Callable[[duckdb.DuckDBPyConnection], str],
    settings: Mapping[str, Any] | None = None,
    *,
    in_order: bool = False,
    load_settings: Mapping[str, Any] | None = None,
) -> int:
    """Create or replace the event store at `path` atomically; return the number of events.

    `load(con)` may register or create tables on `con` (a connection to the new store; TEMP tables
    are not kept) and returns a SELECT producing the 7 raw columns `uuid, event, distinct_id,
    person_id, timestamp, properties, person_properties`. `timestamp` may be TIMESTAMP (taken as
    UTC), TIMESTAMPTZ or ISO 8601 text; properties may be JSON, JSON text, STRUCT or MAP.
    It may also give materialized columns (those of HOT_PROPERTIES, `person_email`) read from
    the same data as its JSON: they are stored as given instead of read out of the JSON.
    With `in_order`, the SELECT promises its rows in timestamp order, and they are stored as they
    come instead of sorted: DuckDB keeps the order of a scan through projections, not through a
    join (see the demo's generator), and a sort of millions of wide rows costs seconds and memory.
    The connection is sandboxed (usertrack.checks.sandbox): it reads no file, and `settings` (such
    as memory_limit) are set when it opens, as its configuration is locked afterwards.
    The events table is written on a connection of its own (with `load_settings` if given),
    closed, so that what `load` registered or staged is let go before the other tables are built.
    """
    return _write_store(Path(path), load, {}, settings, in_order, load_settings)


def _write_store(
    path: Path,
    load: Callable[[duckdb.DuckDBPyConnection], str],
    meta: dict[str, str],
    settings: Mapping[str, Any] | None = None,
    in_order: bool = False,
    load_settings: Mapping[str, Any] | None = None,
    *,
    read_paths: Sequence[Path] = (),
) -> int:
    from usertrack.checks.sandbox import connect

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuidlib.uuid4().hex[:8]}.tmp")
    try:
        con = connect(tmp, settings=load_settings or settings, read_paths=read_paths)
        try:
            _build_events(con, load(con), in_order)
        finally:
            con.close()
        con = connect(tmp, settings=settings)
        try:
            count = _build(con)
            facts = {
                "version": STORE_VERSION,
                "built_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                "event_count": str(count),
                **meta,
            }
            con.execute(f"CREATE TABLE {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)")
            con.executemany(f"INSERT INTO {META_TABLE} VALUES (?, ?)", sorted(facts.items()))
            con.execute("CHECKPOINT")
        finally:
            con.close()
        # A WAL left beside the old store by a crashed writer must not be replayed onto the new one.
        Path(f"{path}.wal").unlink(missing_ok=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    return count


def _json_expr(col: str, type_: str) -> str:
    t = type_.upper()
    if t == "JSON":
        return col
    if t.startswith(("STRUCT", "MAP")) or t.endswith("[]"):
        return f"to_json({col})"
    return f"CAST(NULLIF(CAST({col} AS VARCHAR), '') AS JSON)"


def _timestamp_expr(col: str, type_: str) -> str:
    t = type_.upper()
    if t == "TIMESTAMP":
        return col
    if t.startswith("TIMESTAMP") and "TIME ZONE" not in t:  # TIMESTAMP_S/_MS/_NS
        return f"CAST({col} AS TIMESTAMP)"
    if t == "DATE":
        return f"CAST({col} AS TIMESTAMP)"
    # TIMESTAMPTZ, or text that may carry an offset: an instant, expressed in UTC (session TZ).
    return f"CAST(CAST({col} AS TIMESTAMPTZ) AS TIMESTAMP)"


def _build_events(con: duckdb.DuckDBPyConnection, select_sql: str, in_order: bool) -> None:
    import duckdb

    try:
        described = con.execute(f"DESCRIBE SELECT * FROM ({select_sql}) AS src").fetchall()
    except duckdb.Error as e:
        raise DataError(f"cannot read the events to store: {first_line(e)}") from None
    types = {str(row[0]).lower(): str(row[1]) for row in described}
    missing = [c for c in RAW_COLUMNS if c not in types]
    if missing:
        which = "column" if len(missing) == 1 else "columns"
        raise DataError(f"the events to store lack the {which} {', '.join(missing)}")

    # A materialized column the SELECT gives itself (read from the same data as its JSON) is
    # taken as given; the others are read out of the JSON here, which costs a parse per event.
    given = [
        col for col in (*HOT_PROPERTIES.values(), *HOT_PERSON_PROPERTIES.values()) if col in types
    ]
    extracted = [key for key, col in HOT_PROPERTIES.items() if col not in given]
    prop_paths = ", ".join(_sql_str(f'$."{key}"') for key in extracted)
    hot_cols = ",\n".join(
        col if col in given else f"_p[{extracted.index(key) + 1}] AS {col}"
        for key, col in HOT_PROPERTIES.items()
    )
    extract = f", json_extract_string(properties, [{prop_paths}]) AS _p" if extracted else ""
    person_cols = ",\n".join(
        col
        if col in given
        else f"json_extract_string(person_properties, {_sql_str(f'$.{chr(34)}{key}{chr(34)}')})"
        f" AS {col}"
        for key, col in HOT_PERSON_PROPERTIES.items()
    )
    given_cols = "".join(f",\n CAST(src.{col} AS VARCHAR) AS {col}" for col in given)
    group_0 = f"coalesce(CAST(src.\"{GROUP_0}\" AS VARCHAR), '')" if GROUP_0 in types else "''"
    given_cols += f',\n {group_0} AS "{GROUP_0}"'
    email_col = HOT_PERSON_PROPERTIES["email"]

    # Stored in timestamp order so that time windows skip whole row groups (zone maps).
    order_by = "" if in_order else "ORDER BY timestamp"

    events_sql = f"""
        SELECT uuid, event, distinct_id, person_id, timestamp, properties, person_properties,
               {person_cols},
               {email_key_sql("duckdb", email_col)} AS {NORMALIZED_EMAIL_COLUMN},
               {hot_cols},
               "{GROUP_0}"
        FROM (
            SELECT *{extract}
            FROM (
                SELECT CAST(src.uuid AS VARCHAR) AS uuid,
                       CAST(src.event AS VARCHAR) AS event,
                       CAST(src.distinct_id AS VARCHAR) AS distinct_id,
                       CAST(src.person_id AS VARCHAR) AS person_id,
                       {_timestamp_expr("src.timestamp", types["timestamp"])} AS timestamp,
                       {_json_expr("src.properties", types["properties"])} AS properties,
                       {_json_expr("src.person_properties", types["person_properties"])}
                           AS person_properties{given_cols}
                FROM ({select_sql}) AS src
            )
        )
        {order_by}
    """

    try:
        con.execute(f"CREATE TABLE events AS {events_sql}")
    except duckdb.Error as e:
        raise DataError(f"cannot build the events store: {first_line(e)}") from None


def _build(con: duckdb.DuckDBPyConnection) -> int:
    import duckdb

    from usertrack.engines.local import churn_rollups, person_emails, rollups

    try:
        con.execute(_PERSONS_SQL)
        con.execute(_SESSIONS_SQL)
        con.execute(_PDI_SQL)
        con.execute(rollups.BUILD_SQL)
        con.execute(person_emails.BUILD_SQL)
        con.execute(churn_rollups.BUILD_SQL)
        rollups.build_journeys(con)
        if not _has_table(con, GROUPS_TABLE):  # not given by `load` (the demo's are)
            con.execute(_GROUP_TYPES_FROM_EVENTS_SQL)
            con.execute(_GROUPS_FROM_EVENTS_SQL)
        con.execute(_GROUPS_SQL)
    except duckdb.Error as e:
        raise DataError(f"cannot build the events store: {first_line(e)}") from None
    # Drop whatever `load` created, so the store holds only its own tables.
    for name, kind in con.execute(
        "SELECT table_name, table_type FROM information_schema.tables"
        " WHERE table_schema = 'main' AND table_catalog = current_database()"
    ).fetchall():
        if name not in STORE_TABLES:
            con.execute(f'DROP {"VIEW" if kind == "VIEW" else "TABLE"} IF EXISTS "{name}"')
    row = con.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main'"
        " AND table_catalog = current_database() AND table_name = ?",
        [name],
    ).fetchone()
    return bool(row and row[0])


_PERSONS_SQL = """
CREATE TABLE persons AS
SELECT person_id AS id,
       arg_max(person_properties, timestamp) FILTER (
           WHERE person_properties IS NOT NULL AND CAST(person_properties AS VARCHAR) <> 'null'
       ) AS properties,
       min(timestamp) AS created_at
FROM events
WHERE person_id IS NOT NULL
GROUP BY person_id
ORDER BY id
"""

_SESSIONS_SQL = """
CREATE TABLE sessions AS
SELECT prop_session_id AS session_id,
       arg_min(distinct_id, row(timestamp, uuid)) AS distinct_id,
       arg_min(person_id, row(timestamp, uuid)) AS person_id,
       min(timestamp) AS "$start_timestamp",
       max(timestamp) AS "$end_timestamp",
       date_diff('second', min(timestamp), max(timestamp)) AS "$session_duration",
       date_diff('second', min(timestamp), max(timestamp)) AS duration,
       count(*) AS event_count,
       count(*) FILTER (WHERE event = '$pageview') AS "$pageview_count",
       count(*) FILTER (WHERE event = '$autocapture') AS "$autocapture_count",
       arg_min(prop_pathname, row(timestamp, uuid)) FILTER (WHERE prop_pathname IS NOT NULL)
           AS "$entry_pathname",
       arg_max(prop_pathname, row(timestamp, uuid)) FILTER (WHERE prop_pathname IS NOT NULL)
           AS "$end_pathname",
       arg_max(prop_pathname, row(timestamp, uuid)) FILTER (WHERE prop_pathname IS NOT NULL)
           AS "$exit_pathname",
       arg_min(prop_current_url, row(timestamp, uuid)) FILTER (WHERE prop_current_url IS NOT NULL)
           AS "$entry_current_url",
       arg_max(prop_current_url, row(timestamp, uuid)) FILTER (WHERE prop_current_url IS NOT NULL)
           AS "$end_current_url",
       arg_max(prop_current_url, row(timestamp, uuid)) FILTER (WHERE prop_current_url IS NOT NULL)
           AS "$exit_current_url",
       arg_min(prop_referring_domain, row(timestamp, uuid))
           FILTER (WHERE prop_referring_domain IS NOT NULL)
           AS "$entry_referring_domain",
       CASE WHEN count(*) FILTER (WHERE event = '$pageview') = 0 THEN NULL
            ELSE count(*) FILTER (WHERE event = '$pageview') = 1
                 AND count(*) FILTER (WHERE event = '$autocapture') = 0
                 AND date_diff('second', min(timestamp), max(timestamp)) < 10
       END AS "$is_bounce"
FROM events
WHERE prop_session_id IS NOT NULL AND prop_session_id <> ''
GROUP BY prop_session_id
ORDER BY "$start_timestamp"
"""

_PDI_SQL = """
CREATE VIEW person_distinct_ids AS
SELECT distinct_id, arg_max(person_id, timestamp) AS person_id
FROM events
WHERE distinct_id IS NOT NULL
GROUP BY distinct_id
"""


# --------------------------------------------------------------------------------------------
# Reading a store


def open_store(path: Path) -> duckdb.DuckDBPyConnection:
    """Open the store read-only and sandboxed (usertrack.checks.sandbox: no file access beyond the
    store and its feature times, time zone UTC, configuration locked): HogQL query files run
    on this connection, as the translator writes them (no table function, no statement but a
    SELECT: usertrack.engines.hogql), with usertrack's own statements."""
    import duckdb

    path = Path(path)
    if not path.is_file():
        raise DataError(f"events store {path} does not exist")
    try:
        return _connect_store(path)
    except duckdb.Error as e:
        raise DataError(f"cannot open events store {path}: {first_line(e)}") from None


def _connect_store(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the store that may read and write (DuckDB's allowed_paths:
    no read-only allowance) its feature times (usertrack.engines.local.feature_times), the one file
    beside it usertrack's own SQL reads; it writes none. No SQL of a user's reaches a file
    from it (the HogQL translator writes no table function and no COPY), and that file is
    usertrack's own (0600 in the store's folder), rebuilt when its key is not the store's.
    Every connection to a store is opened alike, as DuckDB shares one database among them."""
    from usertrack.checks.sandbox import connect
    from usertrack.engines.local.feature_times import side_of

    return connect(path, read_only=True, read_paths=[side_of(path)])


def store_info(path: Path) -> dict[str, str]:
    """The `usertrack_meta` facts of a store ({} if it has none or cannot be read)."""
    import duckdb

    path = Path(path)
    if not path.is_file():
        return {}
    try:
        con = _connect_store(path)
    except duckdb.Error:
        return {}
    try:
        rows = con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall()
        return {str(k): str(v) for k, v in rows}
    except duckdb.Error:
        return {}
    finally:
        con.close()


# --------------------------------------------------------------------------------------------
# Importing PostHog batch exports


@dataclass(frozen=True)
class ImportStats:
    """What `import_events` did. `unchanged` means the files matched the store: no work was done."""

    source: Path
    store: Path
    files: int
    events: int
    skipped: int = 0
    skipped_by_file: dict[str, int] = field(default_factory=dict)
    unchanged: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        from usertrack.core.style import counted

        events, files = counted(self.events, "event"), counted(self.files, "file")
        if self.unchanged:
            return (
                f"events store {self.store} is up to date with {self.source}"
                f" ({events} from {files}); nothing imported"
            )
        text = f"imported {events} from {files} of {self.source} into {self.store}"
        text += f" in {self.seconds:.1f}s"
        if self.skipped:
            detail = ", ".join(f"{name}: {n}" for name, n in sorted(self.skipped_by_file.items()))
            rows = counted(self.skipped, "row")
            text += f"; skipped {rows} without event or timestamp ({detail})"
        return text


def _kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(JSON_SUFFIXES):
        return "json"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES) and not path.name.lower().endswith(".gz"):
        return "parquet"
    return None


def _list_files(source: Path) -> list[Path]:
    if not source.exists():
        raise DataError(f"events export {source} does not exist")
    if source.is_file():
        if _kind_of(source) is None:
            raise DataError(
                f"{source}: not an events export (expected .jsonl, .ndjson, .json, .csv,"
                " optionally .gz, or .parquet)"
            )
        return [source]
    files = sorted(
        p
        for p in source.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(source).parts)
        and _kind_of(p) is not None
    )
    if not files:
        raise DataError(
            f"{source}: no events export files in this folder (expected .jsonl, .ndjson, .json,"
            " .csv, optionally .gz, or .parquet)"
        )
    return files


def _fingerprint(source: Path, files: list[Path]) -> str:
    items = []
    for f in files:
        st = f.stat()
        items.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    blob = json.dumps(
        {"version": STORE_VERSION, "source": str(source.resolve()), "files": items},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def import_events(source: Path, store_path: Path) -> ImportStats:
    """Import a PostHog events export (a file or a folder of files) into the store, once.

    A second call with unchanged files (same paths, sizes, modification times) does no work and
    returns stats with `unchanged=True`.
    """
    started = time.monotonic()
    source, store_path = Path(source), Path(store_path)
    files = _list_files(source)
    fingerprint = _fingerprint(source, files)
    info = store_info(store_path)
    if info.get("fingerprint") == fingerprint and info.get("version") == STORE_VERSION:
        return ImportStats(
            source=source,
            store=store_path,
            files=len(files),
            events=int(info.get("event_count", "0")),
            skipped=int(info.get("skipped", "0")),
            skipped_by_file=json.loads(info.get("skipped_by_file", "{}")),
            unchanged=True,
            seconds=time.monotonic() - started,
        )

    skipped_by_file: dict[str, int] = {}

    def load(con: duckdb.DuckDBPyConnection) -> str:
        con.execute(
            """CREATE TEMP TABLE _stage (
                uuid VARCHAR, event VARCHAR, distinct_id VARCHAR, person_id VARCHAR,
                ts_raw VARCHAR, timestamp TIMESTAMP, properties VARCHAR,
                person_properties VARCHAR, file_no INTEGER, record BIGINT)"""
        )
        for n, f in enumerate(files):
            _stage_file(con, f, n)
            skipped = _check_staged(con, f, n)
            if skipped:
                skipped_by_file[_display(f, source)] = skipped
        return """
            SELECT uuid, event, distinct_id, person_id, timestamp,
                   CAST(properties AS JSON) AS properties,
                   CAST(person_properties AS JSON) AS person_properties
            FROM temp._stage
            WHERE event IS NOT NULL AND event <> '' AND timestamp IS NOT NULL
        """

    total_skipped = 0
    meta = {
        "fingerprint": fingerprint,
        "source": str(source.resolve()),
        "files": str(len(files)),
    }

    def load_with_meta(con: duckdb.DuckDBPyConnection) -> str:
        nonlocal total_skipped
        sql = load(con)
        total_skipped = sum(skipped_by_file.values())
        meta["skipped"] = str(total_skipped)
        meta["skipped_by_file"] = json.dumps(skipped_by_file, sort_keys=True)
        return sql

    # The one connection that reads files: usertrack's own SQL (read_json, read_csv,
    # read_parquet in _stage_file) over exactly the export files listed above, never the text of
    # a query or rule file; every other path stays closed to it.
    count = _write_store(store_path, load_with_meta, meta, read_paths=files)
    return ImportStats(
        source=source,
        store=store_path,
        files=len(files),
        events=count,
        skipped=total_skipped,
        skipped_by_file=dict(skipped_by_file),
        unchanged=False,
        seconds=time.monotonic() - started,
    )


def _display(f: Path, source: Path) -> str:
    if source.is_dir():
        try:
            return str(f.relative_to(source))
        except ValueError:
            return str(f)
    return f.name


def _stage_file(con: duckdb.DuckDBPyConnection, f: Path, n: int) -> None:
    """Copy one export file into the staging table, as text, with parsed timestamps."""
    import duckdb

    kind = _kind_of(f)
    lit = _sql_str(str(f))
    if kind == "json":
        fmt = (
            "auto" if f.name.lower().removesuffix(".gz").endswith(".json") else "newline_delimited"
        )
        columns = (
            "{uuid: 'VARCHAR', event: 'VARCHAR', distinct_id: 'VARCHAR', person_id: 'VARCHAR',"
            " timestamp: 'VARCHAR', properties: 'JSON', person_properties: 'JSON'}"
        )
        reader = f"read_json({lit}, format='{fmt}', columns={columns})"
    elif kind == "csv":
        reader = f"read_csv({lit}, header=true, all_varchar=true)"
    else:
        reader = f"read_parquet({lit})"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    except duckdb.Error as e:
        raise DataError(_read_error(f, kind, e)) from None
    types = {str(r[0]).lower(): str(r[1]) for r in described}
    names = {str(r[0]).lower(): str(r[0]) for r in described}
    for required in ("event", "timestamp"):
        if required not in types:
            raise DataError(f"{f}: no {required!r} column (columns: {', '.join(names.values())})")

    def col(name: str) -> str:
        return f'src."{names[name]}"' if name in names else "NULL"

    def text(name: str) -> str:
        return f"CAST({col(name)} AS VARCHAR)" if name in names else "CAST(NULL AS VARCHAR)"

    def props(name: str) -> str:
        if name not in names:
            return "CAST(NULL AS VARCHAR)"
        t = types[name].upper()
        c = col(name)
        if t == "JSON":  # an object, or a JSON-encoded string holding the object
            return (
                f"CASE WHEN json_type({c}) = 'VARCHAR' THEN {c}->>'$' ELSE CAST({c} AS VARCHAR) END"
            )
        if t.startswith(("STRUCT", "MAP")):
            return f"CAST(to_json({c}) AS VARCHAR)"
        v = f"NULLIF(CAST({c} AS VARCHAR), '')"
        return (
            f"CASE WHEN json_valid({v}) AND json_type({v}) = 'VARCHAR' THEN {v}->>'$' ELSE {v} END"
        )

    ts = text("timestamp")
    sql = f"""
        INSERT INTO temp._stage
        SELECT {text("uuid")}, {text("event")}, {text("distinct_id")}, {text("person_id")},
               {ts}, CAST(TRY_CAST({ts} AS TIMESTAMPTZ) AS TIMESTAMP),
               {props("properties")}, {props("person_properties")},
               {n}, row_number() OVER ()
        FROM {reader} AS src
    """
    try:
        con.execute(sql)
    except duckdb.Error as e:
        raise DataError(_read_error(f, kind, e)) from None


def _read_error(f: Path, kind: str | None, err: BaseException) -> str:
    """One line naming the file, and the line for malformed JSON lines (found in Python)."""
    if kind == "json":
        line = _first_bad_json_line(f)
        if line is not None:
            return f"{f}:{line[0]}: malformed JSON ({line[1]})"
    return f"{f}: cannot read {kind or 'file'}: {first_line(err)}"


def _first_bad_json_line(f: Path) -> tuple[int, str] | None:
    opener: Callable[..., Any] = gzip.open if f.name.lower().endswith(".gz") else open
    try:
        with opener(f, "rt", encoding="utf-8") as fh:
            first = fh.read(1)
            if first == "[":  # a JSON array document, not JSON lines
                return None
            fh.seek(0)
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    json.loads(line)
                except json.JSONDecodeError as e:
                    return lineno, e.msg
    except (OSError, UnicodeDecodeError, EOFError) as e:
        return 0, str(e)
    return None


def _check_staged(con: duckdb.DuckDBPyConnection, f: Path, n: int) -> int:
    """Fail on unparseable timestamps or properties; return the rows to skip (no event/ts)."""
    bad = con.execute(
        """SELECT record, ts_raw FROM temp._stage
           WHERE file_no = ? AND timestamp IS NULL AND nullif(trim(ts_raw), '') IS NOT NULL
           ORDER BY record LIMIT 1""",
        [n],
    ).fetchone()
    if bad:
        raise DataError(
            f"{f}: record {bad[0]}: timestamp {bad[1]!r} is not an ISO 8601 date and time"
        )
    for column in ("properties", "person_properties"):
        bad = con.execute(
            f"""SELECT record FROM temp._stage
                WHERE file_no = ? AND {column} IS NOT NULL AND NOT json_valid({column})
                ORDER BY record LIMIT 1""",
            [n],
        ).fetchone()
        if bad:
            raise DataError(f"{f}: record {bad[0]}: {column} is not valid JSON")
    row = con.execute(
        """SELECT count(*) FROM temp._stage
           WHERE file_no = ? AND (event IS NULL OR event = '' OR timestamp IS NULL)""",
        [n],
    ).fetchone()
    return int(row[0]) if row else 0
