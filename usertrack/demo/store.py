"""The demo's events store: the event frame handed to `eventstore.write_events` as one scan.

Writing the store is the last use of the frames: each frame leaves `DemoData` as it is
registered, so the write holds little beside DuckDB's own memory.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from usertrack.core.bounds import return_freed_memory
from usertrack.demo.events import in_time_order
from usertrack.demo.flags import flags_table

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pyarrow as pa

    from usertrack.demo.layout import DemoData

# DuckDB's memory caps for the store write (past them DuckDB spills to disk). The events table,
# written beside the Arrow table of every event, has nothing to sort and no hash table to build:
# DuckDB fills its cap with blocks it has written. The store's other tables are built once that
# Arrow table is gone, and their aggregates need more: at 100,000 users (5.3 M events) the
# sessions ran out of 200 MB ("failed to allocate data"), not of 512 MB.
EVENT_MEMORY_LIMIT = "200MB"
STORE_MEMORY_LIMIT = "512MB"


def events_select(con: duckdb.DuckDBPyConnection, data: DemoData) -> str:
    """Register `demo_events` on con, every event's columns in the frame's (time) order, and
    return the events SELECT over it (data.sql["events"]).

    The strings events share (a person's ids and properties, a session's id, the words of a
    vocabulary) are rendered once each by DuckDB and handed back as Arrow dictionaries indexed
    per event, which DuckDB scans as dictionary vectors: the SELECT is then one scan and
    projections, which DuckDB keeps in the frame's order, where a join would not (see table_sql).
    The store's materialized columns (eventstore.HOT_PROPERTIES, the person's email) are given
    the same way, from the fragments the JSON is made of, so the store reads no JSON back.
    """
    import numpy as np
    import pyarrow as pa

    from usertrack.engines.local.eventstore import HOT_PERSON_PROPERTIES, HOT_PROPERTIES

    # The last use of the frames: they leave `data` (and the connection, but for the events) and
    # every index array is int32, so that the write holds little beside DuckDB's own memory.
    for name, frame in data.frames.items():
        if name.startswith("v_") or name in ("pers", "sess"):
            con.register(f"demo_{name}", frame)
    frames = data.frames
    events, sessions = frames.pop("ev"), frames.pop("sess")
    in_time_order(events)
    n_persons = len(frames.pop("pers")["pid"])
    groups_table(con, frames.pop("groups"))
    flags_table(con, data.anchor)
    group_of_person = frames.pop("pers_group")["key"]
    persons = con.sql(data.sql["events_persons"]).to_arrow_table()

    def strings(sql: str) -> pa.Array:
        return con.sql(sql).to_arrow_table().column(0).combine_chunks()

    def joined(*names: str) -> pa.Array:
        return pa.concat_arrays([persons[name].combine_chunks() for name in names])

    def coded(codes: np.ndarray, words: Any) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(words))

    columns: dict[str, Any] = {}

    def fragments(name: str, codes: np.ndarray, words: Any) -> None:
        """A column of JSON fragments by code, and the hot properties they hold, as the
        store would read them out of the JSON (json_extract_string: text as is, other values
        as JSON text)."""
        columns[name] = coded(codes, words)
        parsed = [json.loads("{" + str(word).lstrip(",") + "}") for word in words]
        for key, col in HOT_PROPERTIES.items():
            if any(key in props for props in parsed):
                values = [props.get(key) for props in parsed]
                texts = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
                columns[col] = coded(codes, texts)

    sid = events["sid"]
    pid = sessions["pid"][sid]
    # A session's slot: 0, 1 or 2 for its person's first, second or third distinct_id; the
    # third is a phone.
    slot = sessions["slot"][sid].astype(np.int32)
    columns.update(hi=events["hi"], lo=events["lo"], ts=events["ts"])
    columns["event"] = coded(events["type"], frames["v_event"]["value"])
    fragments("path", events["path"], frames["v_path"]["json"])
    fragments("extra", events["x"], frames["v_extra"]["value"])
    fragments("referrer", sessions["ref"][sid], strings(data.sql["events_referrers"]).to_pylist())
    columns["session_id"] = columns[HOT_PROPERTIES["$session_id"]] = coded(
        sid, strings(data.sql["events_sessions"])
    )
    con.unregister("demo_sess")
    con.unregister("demo_pers")
    for name in ("person_id", "person_properties", "$geoip_country_code", "email"):
        column = coded(pid, joined(name))
        columns[HOT_PROPERTIES.get(name) or HOT_PERSON_PROPERTIES.get(name) or name] = column
    device = np.where(slot == 2, pid + n_persons, pid)
    for name in ("device", "$browser", "$device_type"):
        column = coded(device, joined(name, f"phone {name}"))
        columns[HOT_PROPERTIES.get(name, name)] = column
    slot *= n_persons
    slot += pid
    columns["distinct_id"] = coded(slot, joined("did0", "did1", "did2"))
    columns["$group_0"] = coded(pid, group_of_person)
    con.register("demo_events", pa.table(columns))
    return_freed_memory()  # the frame's columns before their time order, among others
    return data.sql["events"]


def groups_table(con: duckdb.DuckDBPyConnection, frame: dict[str, np.ndarray]) -> None:
    """The store's `groups` (PostHog's HogQL `groups`: index, key, created_at, updated_at,
    properties) and `group_type_mapping` (group_type, group_type_index) from the demo's
    organizations (usertrack.demo.teams.group_frame): every organization a group of type 0."""
    import pyarrow as pa

    from usertrack.demo.teams import GROUP_TYPE, PLANS

    con.register(
        "demo_groups",
        pa.table(
            {
                "key": pa.array(frame["key"]),
                "name": pa.array(frame["name"].tolist(), pa.string()),
                "plan": pa.array([PLANS[p] for p in frame["plan"]], pa.string()),
                "seats": pa.array(frame["seats"]),
                "created": pa.array(frame["created"]),
            }
        ),
    )
    con.execute(
        "CREATE TABLE groups AS SELECT 0 AS index, CAST(key AS VARCHAR) AS key,"
        " make_timestamp(created) AS created_at, make_timestamp(created) AS updated_at,"
        " CAST(json_object('name', name, 'plan', plan, 'seats', seats) AS VARCHAR) AS properties"
        " FROM demo_groups ORDER BY key"
    )
    con.unregister("demo_groups")
    con.execute(
        "CREATE TABLE group_type_mapping AS SELECT $t AS group_type, 0 AS group_type_index",
        {"t": GROUP_TYPE},
    )
