"""Every row of a query past PostHog's 50,000-row cap. A query whose rows are one per person
(grouped by person_id or email, values.py `per_person_columns`) is sent packed at once: the whole
result in at most a page of rows, one request, one execution. Any other query is probed first (a
page of its rows) and packed only when that comes back full. Should PostHog refuse the packed
request: the probe, then OFFSET pages ordered by every column, keyset pages when OFFSET is
refused, and per-user queries as partitions by a hash of the email, at most 3 at once, a full
one split in two."""

from __future__ import annotations

import math
from collections import deque
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import QueryError
from usertrack.engines.base import CancelToken, cancel_scope, current_token
from usertrack.engines.posthog.polling import OffsetRefused, QueryRequests
from usertrack.engines.posthog.transport import MAX_CONCURRENT_QUERIES, RunStats
from usertrack.engines.posthog.values import (
    packed_types,
    per_person_columns,
    quote_ident,
    sorted_rows,
    top_level_limit,
    top_level_order,
    type_name,
)

if TYPE_CHECKING:
    from usertrack.queries.library import Query

_AFTER = "usertrack_keyset_after"  # the keyset placeholder; cannot clash with a file's params
# A per-user partition aims at this share of the page (the cap), so that hash skew rarely brings
# one to the cap (which costs splitting it and asking again).
PARTITION_SHARE = 0.4
# Splitting stops here: rows still at the cap with this many partitions share one email.
MAX_PARTITIONS = 1 << 16
_PARTS = "usertrack_partitions"  # the partition placeholders
_PART = "usertrack_partition"
_BUCKET = "usertrack_bucket"  # the packed request's columns
_ROWS = "usertrack_packed"


class Paging(QueryRequests):
    """Pages, keyset pages and partitions, each page one `_query_page`."""

    def _fetch_all(
        self, query: Query, sql: str, values: dict[str, Any], stats: RunStats
    ) -> tuple[list[str], list[list[Any]], Any]:
        where = self._where(query)
        page = self.page_size
        own_limit = top_level_limit(sql)
        if own_limit is not None and own_limit <= page:
            # The query's own LIMIT fits one request under the cap: send it as written.
            cols, rows, types = self._query_page(query, sql, values, stats, expect=own_limit)
            stats.pages = 1
            return cols, rows, types

        first = self._packed_first(query, sql, values, stats)
        if first is not None:
            return first
        # A probe: most results fit one page, and then no ordering or OFFSET is needed.
        probe = f"SELECT * FROM (\n{sql}\n) LIMIT {page}"
        cols, rows, types = self._query_page(query, probe, values, stats, expect=page)
        stats.pages += 1
        if len(rows) < page:
            return cols, rows, types
        if not cols:
            raise QueryError(f"{where}: PostHog returned a full page without column names")
        if not stats.packed_failed:
            packed = self._packed(query, sql, values, cols, stats)
            if packed is not None:
                return cols, packed[0], types
        try:
            stats.paging = "offset"
            return self._offset_pages(query, sql, values, cols, stats)
        except OffsetRefused:
            stats.paging = "keyset"
            stats.notes.append("OFFSET refused for this API key: paged by keyset")
            return self._keyset_pages(query, sql, values, cols, stats)

    def _fetch_per_user(
        self, query: Query, sql: str, values: dict[str, Any], stats: RunStats
    ) -> tuple[list[str], list[list[Any]], Any]:
        """Every row of a per-user query: one request when it fits a page, else partitions by a
        hash of the email, each one execution of the query over a share of the people."""
        where = self._where(query)
        page = self.page_size
        first = self._packed_first(query, sql, values, stats)
        if first is not None:
            return first
        probe = f"SELECT * FROM (\n{sql}\n) LIMIT {page}"
        cols, rows, types = self._query_page(query, probe, values, stats, expect=page)
        stats.pages += 1
        if len(rows) < page:
            return cols, rows, types
        if "email" not in cols:
            raise QueryError(
                f"{where}: a per-user query must return an 'email' column"
                f" (it returned: {', '.join(cols) or 'nothing'})"
            )
        if not stats.packed_failed:
            packed = self._packed(query, sql, values, cols, stats)
            if packed is not None:
                return cols, packed[0], types
        count = f"SELECT count() AS usertrack_rows FROM (\n{sql}\n)"
        _c, counted, _t = self._query_page(query, count, values, stats, expect=1)
        stats.pages += 1
        total = int(counted[0][0]) if counted and counted[0] else page
        n = max(2, math.ceil(total / max(1, int(page * PARTITION_SHARE))))
        stats.paging = "partitions"
        # The probe's types: a partition may come back empty, with nothing to tell a type by.
        return cols, self._partitions(query, sql, values, cols, n, stats), types

    def _packed_first(
        self, query: Query, sql: str, values: dict[str, Any], stats: RunStats
    ) -> tuple[list[str], list[list[Any]], Any] | None:
        """The whole result in one packed request, sent first, for a query whose rows are one
        per person (values.py `per_person_columns`: grouped by person_id or email, no ORDER BY
        or LIMIT of its own, every column named): such a result is expected past the row cap,
        and a probe that came back full would run the query once more for nothing. A short
        result comes back whole too (the buckets bound the answer's rows, not the result's).
        The columns are the query's own names, their types read from the packed column's.
        None when the query is not of that kind, or PostHog refused the packed request or
        answered it with types that cannot be read: the caller probes and pages as before."""
        cols = per_person_columns(sql)
        if not cols:
            return None
        packed = self._packed(query, sql, values, cols, stats)
        if packed is None:
            return None
        rows, types = packed
        if types is None:
            stats.notes.append("the packed answer's types could not be read: probed instead")
            stats.paging = "single"
            stats.packed_failed = True
            return None
        return cols, rows, types

    def _packed(
        self, query: Query, sql: str, values: dict[str, Any], cols: list[str], stats: RunStats
    ) -> tuple[list[list[Any]], list[list[str]] | None] | None:
        """Every row of a result longer than a page, in one request: the rows go as tuples in
        arrays, grouped into at most a page of buckets by a hash of their first column, so the
        answer fits PostHog's row cap whatever its length and the query runs once. (Pages and
        partitions each run the whole query again: 12 executions for a per-user query at
        200,000 persons.) The rows, and their columns' types read from the packed column's
        (None when they cannot be read). None when PostHog refuses the request (a memory or time
        limit of the packed answer): the caller pages instead."""
        where = self._where(query)
        page = self.page_size
        fields = ", ".join(quote_ident(c) for c in cols)
        text = (
            f"SELECT ifNull(cityHash64({quote_ident(cols[0])}), 0) % {page} AS {_BUCKET},"
            f" groupArray(tuple({fields})) AS {_ROWS}\nFROM (\n{sql}\n)\nGROUP BY {_BUCKET}"
            f" LIMIT {page}"
        )
        try:
            _c, buckets, ptypes = self._query_page(query, text, values, stats, expect=page)
        except QueryError as e:
            stats.packed_failed = True
            stats.notes.append(f"the packed request was refused ({e}): paged instead")
            return None
        stats.pages += 1
        stats.paging = "packed"
        out: list[list[Any]] = []
        for bucket in buckets:
            items = bucket[1] if len(bucket) == 2 else None
            if not isinstance(items, list):
                raise QueryError(f"{where}: PostHog answered a packed page without its rows")
            out += items
        # Each row a JSON list of the columns' values (a tuple with named elements comes as an
        # object): checked in one pass, each made a list only when it is not one already (at
        # 200,000 rows a loop making every row costs 0.3 s of CPU).
        width = len(cols)
        if not all(type(row) is list and len(row) == width for row in out):
            out = [packed_row(item, width, where) for item in out]
        self._note(f"{query.id}: {len(out):,} rows in one packed request")
        # The buckets come in no order. A query that orders its rows gets them as OFFSET pages
        # give them past the cap, sorted by every column; facts queries (no ORDER BY) as they are.
        return (sorted_rows(out) if top_level_order(sql) else out), packed_types(ptypes, cols)

    def _partitions(
        self,
        query: Query,
        sql: str,
        values: dict[str, Any],
        cols: list[str],
        n: int,
        stats: RunStats,
    ) -> list[list[Any]]:
        """The rows of partitions 0..n-1, at most MAX_CONCURRENT_QUERIES at a time."""
        from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

        where = self._where(query)
        page = self.page_size
        text = (
            f"SELECT * FROM (\n{sql}\n) WHERE cityHash64(coalesce({quote_ident('email')}, ''))"
            f" % {{{_PARTS}}} = {{{_PART}}} LIMIT {page}"
        )
        # The partitions' own token: a failing partition stops the others' waits, and so does
        # the command's token (another source failed, or Ctrl-C).
        token = CancelToken()
        outer = current_token()

        def fetch(k: int, of: int) -> tuple[int, int, list[str], list[list[Any]], RunStats]:
            own = RunStats()
            with cancel_scope(token):
                part_values = {**values, _PARTS: of, _PART: k}
                pcols, prows, _t = self._query_page(query, text, part_values, own, expect=page)
            return k, of, pcols, prows, own

        todo = deque((k, n) for k in range(n))
        out: list[list[Any]] = []
        running: set[Future[tuple[int, int, list[str], list[list[Any]], RunStats]]] = set()
        pool = ThreadPoolExecutor(MAX_CONCURRENT_QUERIES, thread_name_prefix="usertrack-part")
        try:
            with outer.on_cancel(token.cancel) if outer else nullcontext():
                while todo or running:
                    while todo and len(running) < MAX_CONCURRENT_QUERIES:
                        running.add(pool.submit(fetch, *todo.popleft()))
                    finished, running = wait(running, timeout=0.25, return_when=FIRST_COMPLETED)
                    for future in finished:
                        k, of, pcols, prows, own = future.result()
                        stats.add(own)
                        stats.pages += 1
                        stats.partitions += 1
                        if len(prows) >= page:
                            # At the cap: rows may have been cut. Ask for its two halves instead.
                            if of * 2 > MAX_PARTITIONS:
                                raise QueryError(
                                    f"{where}: cannot split this result: {page:,} rows still"
                                    f" share one of {of:,} partitions by email; a per-user"
                                    " query must return one row per email"
                                )
                            stats.splits += 1
                            todo.extend([(k, of * 2), (k + of, of * 2)])
                            continue
                        self._check_columns(query, cols, pcols)
                        out.extend(prows)
                        self._note(
                            f"{query.id}: {len(out):,} rows so far"
                            f" ({stats.partitions} of {n + stats.splits} partitions)"
                        )
        except BaseException:
            token.cancel()
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return out

    def _order_by(self, cols: list[str]) -> str:
        return ", ".join(quote_ident(c) for c in cols)

    def _offset_pages(
        self, query: Query, sql: str, values: dict[str, Any], cols: list[str], stats: RunStats
    ) -> tuple[list[str], list[list[Any]], Any]:
        page = self.page_size
        order = self._order_by(cols)
        out: list[list[Any]] = []
        types: Any = None
        offset = 0
        while True:
            text = f"SELECT * FROM (\n{sql}\n) ORDER BY {order} LIMIT {page} OFFSET {offset}"
            pcols, rows, ptypes = self._query_page(
                query, text, values, stats, expect=page, offset_page=True
            )
            stats.pages += 1
            self._check_columns(query, cols, pcols)
            types = ptypes if types is None else types
            out.extend(rows)
            self._note(f"{query.id}: {len(out):,} rows so far ({stats.pages} pages)")
            if len(rows) < page:
                return cols, out, types
            offset += page

    def _keyset_pages(
        self, query: Query, sql: str, values: dict[str, Any], cols: list[str], stats: RunStats
    ) -> tuple[list[str], list[list[Any]], Any]:
        where = self._where(query)
        page = self.page_size
        key = quote_ident(cols[0])
        order = self._order_by(cols)
        out: list[list[Any]] = []
        types: Any = None
        after: Any = None
        held: list[list[Any]] = []
        while True:
            cond = f"{key} IS NOT NULL" + (f" AND {key} >= {{{_AFTER}}}" if held else "")
            text = f"SELECT * FROM (\n{sql}\n) WHERE {cond} ORDER BY {order} LIMIT {page}"
            page_values = {**values, _AFTER: after} if held else values
            pcols, rows, ptypes = self._query_page(query, text, page_values, stats, expect=page)
            stats.pages += 1
            self._check_columns(query, cols, pcols)
            types = ptypes if types is None else types
            if types is not None and "DateTime" in type_name(_index(types, 0)):
                raise QueryError(
                    f"{where}: cannot page this result: PostHog refuses OFFSET for this API key"
                    f" and the first column ({cols[0]}) is a timestamp; make the first column a"
                    " text or number key (email for per-user queries)"
                )
            if len(rows) < page:
                out.extend(rows)  # this page re-brings every held-back row
                break
            last = rows[-1][0]
            if not isinstance(last, str | int | float) or isinstance(last, bool):
                raise QueryError(
                    f"{where}: cannot page this result: PostHog refuses OFFSET for this API key"
                    f" and the first column ({cols[0]}) is not text or a number"
                )
            keep = [r for r in rows if r[0] != last]
            if not keep:
                raise QueryError(
                    f"{where}: cannot page this result: more than {page:,} rows share the value"
                    f" {last!r} of its first column ({cols[0]}), and PostHog refuses OFFSET for"
                    " this API key; make the first column unique (one row per email)"
                )
            out.extend(keep)
            held = [r for r in rows if r[0] == last]
            after = last
            self._note(f"{query.id}: {len(out):,} rows so far ({stats.pages} pages)")
        # Rows whose key is NULL were left out by `IS NOT NULL` (keyset cannot reach them).
        text = f"SELECT * FROM (\n{sql}\n) WHERE {key} IS NULL ORDER BY {order} LIMIT {page}"
        _c, nulls, _t = self._query_page(query, text, values, stats, expect=page)
        stats.pages += 1
        if len(nulls) >= page:
            raise QueryError(
                f"{where}: cannot page this result: {page:,} or more rows have no value in its"
                f" first column ({cols[0]}), and PostHog refuses OFFSET for this API key"
            )
        out.extend(nulls)
        return cols, out, types

    def _check_columns(self, query: Query, expected: list[str], got: list[str]) -> None:
        if got and got != expected:
            raise QueryError(
                f"{self._where(query)}: the columns changed between pages"
                f" ({', '.join(expected)} then {', '.join(got)})"
            )


def packed_row(item: Any, width: int, where: str) -> list[Any]:
    """A packed answer's row as a list of its `width` values, else a QueryError."""
    row = list(item.values()) if isinstance(item, dict) else item
    if not isinstance(row, list | tuple) or len(row) != width:
        raise QueryError(f"{where}: PostHog answered a packed row that is not {width} values")
    return list(row)


def _index(seq: Any, i: int) -> Any:
    try:
        return seq[i]
    except (IndexError, TypeError, KeyError):
        return None
