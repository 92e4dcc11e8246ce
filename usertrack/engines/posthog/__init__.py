"""The live PostHog source: HogQL query files run through PostHog's query API (httpx).

Facts this module relies on (PostHog's docs and source; see also ../shared/DESIGN.md):

- `POST {host}/api/projects/{id}/query/` with `{"query": {"kind": "HogQLQuery", "query", "values"}}`
  and `Authorization: Bearer <personal API key>` (scope `query:read`). `{name}` placeholders are
  replaced by the constants in `values` (posthog/hogql_queries/hogql_query_runner.py, `to_query`),
  so a value is never spliced into the text.
- A SELECT without LIMIT returns DEFAULT_RETURNED_ROWS = 100 rows and `hasMore`; any LIMIT is capped
  at MAX_SELECT_RETURNED_ROWS = 50,000 without a word (posthog/hogql/constants.py). So every request
  this module sends carries its own LIMIT <= the cap, and results are paged explicitly.
- A result longer than a page comes packed: `SELECT ifNull(cityHash64(c1), 0) % <page> AS
  usertrack_bucket, groupArray(tuple(c1, ...)) AS usertrack_packed FROM (<query>) GROUP BY
  usertrack_bucket LIMIT <page>`: at most a page of rows whatever the result's length (paging.py
  `_packed`); a tuple keeps the NULLs groupArray of a column would drop. A query whose rows are
  one per person (top-level GROUP BY of person_id or email, no ORDER BY, LIMIT or UNION of its
  own, every column named: values.py `per_person_columns`) is sent packed first, so it runs once;
  its columns are the SELECT's names and their types are read from the packed column's ClickHouse
  type (`Array(Tuple(T1, ...))`, elements named or not). Any other query is sent with a LIMIT
  of a page first and asked for packed only when that comes back full (two executions); its
  packed elements are typed as that first request's columns. Only where PostHog refuses the
  packed request is the result paged as follows.
- Pages are `SELECT * FROM (<query>) ORDER BY <every column> LIMIT n OFFSET k`: ClickHouse returns
  GROUP BY rows in no particular order, so OFFSET pages of an unordered query could overlap or miss
  rows. Ordering by every column makes the order total (rows equal in every column are
  interchangeable).
- Newer PostHog refuses OFFSET in queries made with a personal API key unless the organization is
  allow-listed (posthog/hogql/user_query_validator.py: 400 "OFFSET is not supported on queries made
  with a personal API key ... use keyset pagination"). On that answer this module pages by keyset
  on the first column instead (`WHERE c >= {after} ORDER BY c, ... LIMIT n`, holding back the rows
  that tie with a page's last key until the next page, which brings them all again).
- Per-user queries (`returns: per-user`) are not paged: each OFFSET or keyset page re-runs the
  whole aggregation in PostHog (twenty pages, twenty executions near the 10 s limit at a million
  persons). After the packed request is refused and a probe comes back full, one `count()`
  sizes them and they are pulled as independent partitions `WHERE cityHash64(coalesce(email, ''))
  % {n} = {k}` (n and k bound as values), each aimed well under the cap; a partition that comes
  back at the cap is split in two (k of 2n and k + n of 2n), never trusted. At most 3 run at once.
- Limits: 240 queries/minute, 2,400/hour per project (120/hour for some older teams), 3 queries at
  once; query requests are spaced in advance to stay within the per-minute and per-hour limits
  (`RequestPace`), rather than sent until PostHog answers 429
  `{"type": "throttled_error", "code": "throttled", "detail"}` with `Retry-After`.
  Queries over the concurrency limit are refused with 429 too (posthog/api/query.py turns
  ConcurrencyLimitExceeded into Throttled). A process-wide semaphore keeps at most 3 of our own
  queries running per host and project.
- A query running longer than about 10 s fails with 504; resubmitted with `"refresh": "async"` it
  answers a `query_status` (`id`, `complete`, `error`, `error_message`, `results`) to poll at
  `GET .../query/{id}/` (202 running, 200 complete, 400 error with a message, 500 internal error;
  the record expires after 10 minutes: 404). In PostHog's code `query_status.results` holds the
  whole query response (`{"results", "columns", "types", ...}`,
  posthog/clickhouse/client/execute_async.py); a bare row list with `query_status.columns` is
  accepted too.
- Errors are `{"type", "code", "detail", "attr"}`; bad HogQL is 400 `validation_error`.
- Saved insights: `GET .../insights/{id}/?refresh=force_blocking` (or
  `.../insights/?short_id=X&...`); the rows are in `result` (singular) and, for SQL insights, the
  names in `columns`.
- `refresh` (PostHog's ExecutionMode, schema.py RefreshType): "blocking" (the default) may answer
  from PostHog's own cache; "force_blocking" always recalculates, "force_async" likewise in the
  background. usertrack has its own cache, so `--refresh` sends force_blocking, a saved insight is
  always fetched with force_blocking (the command promises a refreshed result), and the async
  path (only taken after a synchronous attempt found nothing cached) sends force_async.

Result values: columns whose ClickHouse type (the response's `types`) is DateTime become naive UTC
`datetime`s and Date columns `date`s, the same values the local engine
(usertrack.engines.local.source) gives, so the segment rules see timestamps either way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import QueryError
from usertrack.engines.base import Result, Source
from usertrack.engines.posthog.insights import Insights, insight_table
from usertrack.engines.posthog.paging import Paging
from usertrack.engines.posthog.transport import (
    DEFAULT_HOST,
    MAX_CONCURRENT_QUERIES,
    MAX_SELECT_RETURNED_ROWS,
    RequestPace,
    RunStats,
)
from usertrack.engines.posthog.values import (
    arrow_table,
    convert_rows,
    strip_sql,
    top_level_limit,
    wire_values,
)

if TYPE_CHECKING:
    from usertrack.queries.library import Query

__all__ = [
    "DEFAULT_HOST",
    "MAX_CONCURRENT_QUERIES",
    "MAX_SELECT_RETURNED_ROWS",
    "PostHogHTTPSource",
    "RequestPace",
    "insight_table",
    "top_level_limit",
    "wire_values",
]


class PostHogHTTPSource(Paging, Insights, Source):
    """Runs HogQL query files (and saved insights) through the PostHog query API.

    Thread-safe: the CLI runs sources from threads; one httpx.Client is shared (it is thread-safe)
    and at most 3 queries per host+project run at once across every instance in the process.

    Built in layers, each a class the next extends: `Transport` (the client, its settings,
    requests with retries and pacing, PostHog's errors), `QueryRequests` (one query request,
    synchronous then async with polling), `Paging` (pages and partitions), `Insights` (saved
    insights); this class adds the Source interface on top.
    """

    kind = "posthog"
    dialect = "hogql"
    # How many of this source's queries a command runs side by side (segments' per-user queries:
    # usertrack.segments.profiles `lanes`): as many as PostHog runs of a project at once, which
    # the transport's slots hold to across every source of the process anyway. One query's
    # answer is then read, converted and loaded while PostHog runs the next.
    max_concurrent: int | None = MAX_CONCURRENT_QUERIES

    def __repr__(self) -> str:
        return f"PostHogHTTPSource({self.description!r})"

    @property
    def is_live(self) -> bool:
        return True

    @property
    def answers_bundles(self) -> bool:
        return True

    __str__ = __repr__

    # ---------------------------------------------------------------- public API

    # run(..., arrow_over=N) may answer an Arrow table (Result.arrow): values.arrow_table.
    arrow_results = True

    def run(
        self, query: Query, params: Mapping[str, Any], *, arrow_over: int | None = None
    ) -> Result:
        """Every row of `query` (or of the saved insight it names), as one Result. With
        `arrow_over`: a result of more rows than that as an Arrow table (`Result.arrow`) when
        its columns make one, read from PostHog's JSON without a Python value per datetime,
        for DuckDB to load (a per-user or facts query's hundreds of thousands of rows)."""
        if query.insight and not query.sql.strip():
            return self.fetch_insight(query.insight, where=self._where(query))
        started = time.monotonic()
        stats = RunStats()
        sql = self._printed(query, strip_sql(query.sql))
        values = self._values(query, sql, params)
        if query.per_user and top_level_limit(sql) is None:
            columns, rows, types = self._fetch_per_user(query, sql, values, stats)
        else:
            columns, rows, types = self._fetch_all(query, sql, values, stats)
        if arrow_over is not None and len(rows) > arrow_over:
            table = arrow_table(rows, types, columns)
            if table is not None:
                meta = self._meta(stats, started, len(rows))
                return Result(columns=columns, rows=[], meta=meta, arrow=table)
        return Result(
            columns=columns,
            rows=convert_rows(rows, types, len(columns)),
            meta=self._meta(stats, started, len(rows)),
        )

    def run_bundle(
        self,
        jobs: Sequence[tuple[Query, Mapping[str, Any]]],
        *,
        asynchronous: bool = True,
        arrow_over: int | None = None,
    ) -> list[Result | None]:
        """Several query files answered by one query request (bundle.py): each one's Result as
        `run` would give it, in order; None for a file that is to be sent alone (its columns
        not read from its text, a saved insight), and for every one when PostHog refuses the
        bundle (they are then sent alone, each counted). The bundle's text is read by PostHog's
        own parser (bundle.checked) and what is sent is printed from that tree: one parse for
        every file of it (PostHog's parser takes up to seconds a file), not one more per file;
        none when every file is shipped as made (bundle.printed: printed when the package was).
        `asynchronous`: submitted async and polled (a dashboard's bundles); else sent as any
        query is, resubmitted async only on a 504. `arrow_over`: as `run` takes it; the
        answer's rows are then read as they come, each part's made Arrow pieces a few
        thousand at a time (bundle.Gathered), never all Python values at once."""
        from usertrack.engines.hogql.printer import PrintError, kept_text, print_select
        from usertrack.engines.posthog import bundle

        parts: list[bundle.Part] = []
        placed: list[int | None] = []
        for query, params in jobs:
            found = None
            if query.sql.strip() and not query.insight:
                sql = strip_sql(query.sql)
                found = bundle.part(len(parts), sql, self._values(query, sql, params))
            placed.append(None if found is None else len(parts))
            if found is not None:
                parts.append(found)
        if not parts:
            return [None] * len(jobs)
        started = time.monotonic()
        stats = RunStats()
        ids = [q.id for (q, _), at in zip(jobs, placed, strict=True) if at is not None]
        named = replace(jobs[0][0], name=f"bundle of {len(parts)}", sql="", insight=None)
        self._note(f"{len(parts)} queries in one request: {', '.join(ids)}")

        def printed(built: str) -> str | None:
            tree = bundle.checked(built, len(parts))
            try:
                return print_select(tree) if tree is not None else None
            except PrintError:
                return None

        text = bundle.printed(parts, self.page_size) or kept_text(
            bundle.text(parts, self.page_size), self.printed_folder, printed
        )
        if text is None:
            self._note("the bundle did not parse as built: its queries are sent one by one")
            return [None] * len(jobs)
        # with `arrow_over`, each part's rows made Arrow pieces as they are read
        gather = None if arrow_over is None else partial(bundle.Gathered, parts, arrow_over)
        try:
            _c, rows, types = self._query_read(
                named,
                text,
                bundle.values(parts),
                stats,
                expect=self.page_size,
                asynchronous=asynchronous,
                rows=gather,
            )
            if isinstance(rows, bundle.Gathered):
                answers = rows.answers(types)
            else:
                answers = bundle.answers(bundle.split(parts, rows, types), arrow_over)
            del rows  # what was read: only the answers are kept
        except (QueryError, ValueError) as e:
            self._note(f"the bundle was refused ({e}): its queries are sent one by one")
            return [None] * len(jobs)
        stats.pages = 1
        stats.paging = "bundle"
        out: list[Result | None] = []
        for at in placed:
            answer = None if at is None else answers[at]
            if answer is None:
                out.append(None)  # its types could not be read: sent alone
                continue
            columns, count, converted, table = answer
            meta = {**self._meta(stats, started, count), "bundled": len(parts)}
            if table is not None:
                out.append(Result(columns, [], meta, arrow=table))
            else:
                out.append(Result(columns, converted, meta))
        return out

    def project(self) -> dict[str, str]:
        """The project's `name` and `timezone` (`GET /api/projects/{id}/`): checks host, key and
        project at once. The timezone is the one PostHog reads dates in unless told otherwise;
        usertrack tells it to stay in UTC (`convertToProjectTimezone: false`)."""
        stats = RunStats()
        label = f"project {self.project_id}"
        resp = self._send("GET", f"/api/projects/{self.project_id}/", stats, label)
        body = self._json(resp, label)
        if resp.status_code != 200:
            self._raise_for(resp, body, label)
        body = body if isinstance(body, dict) else {}
        return {k: str(body[k]) for k in ("name", "timezone") if body.get(k) is not None}

    def group_types(self) -> dict[str, int]:
        """The project's group types, name -> group_type_index (`GET /api/projects/{id}/
        groups_types/`, scope group:read: a list of group_type, group_type_index, ...)."""
        stats = RunStats()
        label = f"project {self.project_id}'s group types"
        path = f"/api/projects/{self.project_id}/groups_types/"
        resp = self._send("GET", path, stats, label)
        body = self._json(resp, label)
        if resp.status_code != 200:
            self._raise_for(resp, body, label)
        listed = body if isinstance(body, list) else []
        return {
            str(t["group_type"]): int(t["group_type_index"])
            for t in listed
            if isinstance(t, dict) and "group_type" in t and "group_type_index" in t
        }

    def check_hogql(self, query: Query, params: Mapping[str, Any]) -> list[str]:
        """PostHog's errors for a query file, from validating it without running it: the query
        kind `HogQLMetadata` its SQL editor uses (posthog/hogql/metadata.py get_hogql_metadata:
        the text parsed, resolved and printed for ClickHouse; the answer's `isValid` and
        `errors`). [] when PostHog accepts it. HogQLMetadata takes no `values`, so the text
        sent is the one a run builds: `{filters}` as a run without --where fills it, each
        parameter printed in as a constant (usertrack.engines.hogql.bound)."""
        from usertrack.engines.hogql.bound import bound_text, parsed
        from usertrack.engines.hogql.parser import ParseError
        from usertrack.engines.hogql.printer import PrintError, print_select

        stats = RunStats()
        where = self._where(query)
        sql = strip_sql(query.filled(None).sql)
        try:
            values = self._values(query, print_select(parsed(sql)), params)
            text = bound_text(sql, values)
        except ParseError as e:
            return [str(e)]  # what PostHog's parser says
        except PrintError as e:
            return [f"it holds {e}, which usertrack does not send"]
        body = {
            "query": {
                "kind": "HogQLMetadata",
                "language": "hogQL",
                "query": text,
                "modifiers": {"convertToProjectTimezone": False},
            }
        }
        path = f"/api/projects/{self.project_id}/query/"
        resp = self._send("POST", path, stats, where, json=body, slot=True)
        answer = self._json(resp, where)
        if resp.status_code != 200:
            self._raise_for(resp, answer, where)
        if not isinstance(answer, dict) or answer.get("isValid", True):
            return []
        errors = answer.get("errors") or []
        messages = [
            " ".join(str(e.get("message", "")).split())
            for e in errors
            if isinstance(e, dict) and e.get("message")
        ]
        return messages or ["PostHog says the query is not valid"]

    def __enter__(self) -> PostHogHTTPSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _printed(self, query: Query, sql: str) -> str:
        """The text sent for a query's HogQL: read by PostHog's own parser and printed from its
        tree (usertrack.engines.hogql.printer), never the file's text as written; a QueryError
        when PostHog's parser refuses it or its tree holds what usertrack does not print."""
        from usertrack.engines.hogql.parser import ParseError
        from usertrack.engines.hogql.printer import PrintError, kept_text, sent_text, shipped_text
        from usertrack.engines.inline import is_inline

        def make(text: str) -> str:
            # a shipped file's text printed when the package was made, else parsed now
            return shipped_text(text) or sent_text(text)

        folder = None if is_inline(query) else self.printed_folder  # typed texts: not written
        try:
            return kept_text(sql, folder, make) or sent_text(sql)
        except ParseError as e:
            raise QueryError(f"{self._where(query)}: PostHog's parser refuses it: {e}") from None
        except PrintError as e:
            raise QueryError(
                f"{self._where(query)}: it holds {e}, which usertrack does not send"
            ) from None

    def _values(self, query: Query, sql: str, params: Mapping[str, Any]) -> dict[str, Any]:
        from usertrack.queries.library import placeholders

        used = {name for name, _ in placeholders(sql, "hogql")}
        missing = sorted(n for n in used if n not in params and n != "filters")
        if missing:
            raise QueryError(
                f"{self._where(query)}: no value given for"
                f" {'parameter' if len(missing) == 1 else 'parameters'} {', '.join(missing)}"
            )
        return wire_values({k: v for k, v in params.items() if k in used})
