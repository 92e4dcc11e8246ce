"""The stand-in's answers are the bytes PostHog's API writes (tests/posthog_json.py).

PostHog renders a query's rows from the Python values its ClickHouse client gives (datetimes in
their column's timezone, Decimals, UUIDs, NaN floats ...) with orjson (posthog/renderers.py
SafeJSONRenderer); the stand-in reads ClickHouse's JSON and converts each value as its type says
(tests/clickhouse_engine.py) before the same renderer: the two must give the same bytes.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.clickhouse_engine import run_answer
from tests.edge_events import write_raw_events
from tests.hogql_printer import warm_parser
from tests.posthog_json import render, render_status
from tests.posthog_server import DEFAULT_KEY, serve

LA = ZoneInfo("America/Los_Angeles")
KOLKATA = ZoneInfo("Asia/Kolkata")
TEXT = 'é€😀 "q" \\ </script>\n'

# (ClickHouse expression, the value PostHog's ClickHouse client gives for it)
CASES: list[tuple[str, Any]] = [
    ("toDateTime64('2026-11-10 09:30:15.123456', 6, 'UTC')",
     datetime(2026, 11, 10, 9, 30, 15, 123456, tzinfo=UTC)),
    ("toDateTime64('2026-11-10 09:30:15', 6, 'UTC')",
     datetime(2026, 11, 10, 9, 30, 15, tzinfo=UTC)),
    ("toDateTime64('2026-11-10 09:30:15.120', 3, 'UTC')",
     datetime(2026, 11, 10, 9, 30, 15, 120000, tzinfo=UTC)),
    ("toDateTime('2026-07-01 01:02:03', 'America/Los_Angeles')",
     datetime(2026, 7, 1, 1, 2, 3, tzinfo=LA)),
    ("toDateTime('2026-01-01 01:02:03', 'America/Los_Angeles')",
     datetime(2026, 1, 1, 1, 2, 3, tzinfo=LA)),
    ("toDateTime64('2026-01-01 00:00:00.000005', 6, 'Asia/Kolkata')",
     datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=KOLKATA)),
    ("toDate('2026-11-10')", date(2026, 11, 10)),
    ("nan", math.nan),
    ("inf", math.inf),
    ("-inf", -math.inf),
    ("1e16", 1e16),
    ("1e-7", 1e-7),
    ("0.1", 0.1),
    ("1 / 3", 1 / 3),
    ("toFloat64(3)", 3.0),
    ("toDecimal64(1.25, 2)", Decimal("1.25")),
    ("toInt64(-9223372036854775808)", -9223372036854775808),
    ("toUInt64(18446744073709551615)", 18446744073709551615),
    ("'é€😀 \"q\" \\\\ </script>\\n'", TEXT),
    ("true", True),
    ("CAST(NULL AS Nullable(Float64))", None),
    ("[tuple(toDateTime64('2026-11-10 09:30:15.5', 6, 'UTC'), 'x')]",
     [(datetime(2026, 11, 10, 9, 30, 15, 500000, tzinfo=UTC), "x")]),
    ("[1.5, nan]", [1.5, math.nan]),
    ("[tuple('a', toUInt64(2)), tuple('b', toUInt64(18446744073709551615))]",
     [("a", 2), ("b", 18446744073709551615)]),
    ("CAST(tuple(1, toDateTime64('2026-11-10 09:30:15', 6, 'UTC')),"
     " 'Tuple(n UInt8, at DateTime64(6, \\'UTC\\'))')",
     (1, datetime(2026, 11, 10, 9, 30, 15, tzinfo=UTC))),
    ("CAST(tuple(1, 'x'), 'Tuple(n UInt8, s String)')", (1, "x")),
    ("toUUID('01890000-0000-7000-8000-000000000001')",
     uuid.UUID("01890000-0000-7000-8000-000000000001")),
]  # fmt: skip


def test_posthogs_renderer_writes_orjsons_bytes() -> None:
    """What PostHog's renderer writes, byte for byte: compact, UTF-8 as it is, NaN and the
    infinities null, UTC datetimes with Z and microseconds only when there are some."""
    row = [value for _, value in CASES]
    assert render(row) == (
        b'["2026-11-10T09:30:15.123456Z","2026-11-10T09:30:15Z","2026-11-10T09:30:15.120000Z",'
        b'"2026-07-01T01:02:03-07:00","2026-01-01T01:02:03-08:00",'
        b'"2026-01-01T00:00:00.000005+05:30","2026-11-10",null,null,null,1e+16,1e-7,0.1,'
        b"0.3333333333333333,3.0,1.25,-9223372036854775808,18446744073709551615,"
        + json.dumps(TEXT, ensure_ascii=False).encode()
        + b',true,null,[["2026-11-10T09:30:15.500000Z","x"]],[1.5,null],'
        b'[["a",2],["b",18446744073709551615]],[1,"2026-11-10T09:30:15Z"],[1,"x"],'
        b'"01890000-0000-7000-8000-000000000001"]'
    )
    assert b"\\u" not in render(row)  # non-ASCII text is not escaped
    # a query's status is Django's JsonResponse: json.dumps' separators and escapes
    assert render_status({"a": ["é", 1]}) == b'{"a": ["\\u00e9", 1]}'


def test_the_stand_ins_rows_render_as_posthogs() -> None:
    """ClickHouse's JSON as the stand-in reads it gives the bytes of the values PostHog holds."""
    sql = "SELECT " + ", ".join(f"{expr} AS c{i}" for i, (expr, _) in enumerate(CASES))
    columns, types, rows = run_answer(sql)
    assert columns == [f"c{i}" for i in range(len(CASES))]
    assert len(rows) == 1
    for i, (expr, value) in enumerate(CASES):
        assert render(rows[0][i]) == render(value), (expr, types[i], rows[0][i])
    assert render(rows) == render([[value for _, value in CASES]])


def test_a_query_is_answered_in_posthogs_bytes(tmp_path: Path) -> None:
    """Over HTTP, a query's answer is what PostHog's renderer writes: compact, UTF-8."""
    store = tmp_path / "events.duckdb"
    write_raw_events(
        store,
        [
            (
                "01890000-0000-7000-8000-000000000001",
                "signed_up",
                "d1",
                "01890000-0000-7000-8000-0000000000aa",
                datetime(2026, 11, 10, 9, 30, 15, 123456),
                '{"city": "Zürich"}',
                "{}",
            )
        ],
    )
    with serve(store) as fake:
        assert not warm_parser()  # the stand-in started with PostHog's parser warm
        response = httpx.post(
            f"{fake.url}/api/projects/{fake.project_id}/query/",
            headers={"Authorization": f"Bearer {DEFAULT_KEY}"},
            json={
                "query": {
                    "kind": "HogQLQuery",
                    "query": "SELECT properties.city AS city, timestamp, 1e16 AS big FROM events",
                }
            },
        )
        record = fake.requests[-1]
    assert response.status_code == 200
    # the stand-in's own CPU (bench/live_analytics.py's "stand-in CPU s"): its thread's, less
    # ClickHouse's call
    assert 0 < record["cpu"] <= record["took"]
    body = response.content
    assert b'[["Z\xc3\xbcrich","2026-11-10T09:30:15.123456Z",1e+16]]' in body
    assert b'"results":' in body and b'", "' not in body  # compact, as orjson writes
    assert response.json()["results"] == [["Zürich", "2026-11-10T09:30:15.123456Z", 1e16]]


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1])
def test_an_integer_past_64_bits_is_refused_as_posthogs_renderer_refuses_it(value: int) -> None:
    with pytest.raises(TypeError):
        render([value])
