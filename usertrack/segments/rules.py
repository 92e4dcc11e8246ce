"""segments.yaml: who is in which segment and what to do about them.

Each segment has an id, a name, an action, a rule (one SQL boolean expression over the profile
columns, evaluated by DuckDB) and an order (how its users are sorted). A user can match several
segments; their `primary` segment is the first match in file order. A rule that evaluates to NULL
(a column a source did not report) does not match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.checks.sandbox import time_limit
from usertrack.checks.sql_checks import (
    UnsafeSQLError,
    check_expression,
    check_order,
    expression_columns,
)
from usertrack.core.clock import naive_utc
from usertrack.core.errors import SegmentsFileError, first_line
from usertrack.core.filecache import parsed
from usertrack.core.rulefiles import did_you_mean, read_rule_mapping, reject_unknown_keys

if TYPE_CHECKING:
    import duckdb

_TOP_KEYS = {"exclude", "segments", "account_segments"}
_SEGMENT_KEYS = {"id", "name", "action", "rule", "order", "description", "show", "type"}
# A segment's kind (`type:`), as the user-activity specification classifies segments: where a
# user is in their life with the product, how engaged they are, a risk to act on, or value to
# grow. `segments --type` shows the segments of one.
SEGMENT_TYPES = ("lifecycle", "engagement", "risk", "value")
# An account segment: a rule over `usertrack accounts`' columns (usertrack.segments.account_rules)
_ACCOUNT_SEGMENT_KEYS = {"id", "name", "action", "rule", "description"}
_REQUIRED = ("id", "name", "action", "rule")
DEFAULT_EXCLUDE = ("datagen.dev",)


@dataclass(frozen=True)
class Segment:
    id: str
    name: str
    action: str
    rule: str
    order: str = "email"
    description: str = ""
    show: tuple[str, ...] = ()
    line: int = 0
    type: str | None = None  # one of SEGMENT_TYPES, or None when the file gives none
    # Where its messages say it is (default: the file, line and id): a rule given on the
    # command line (`--who`) names its option instead.
    label: str = ""

    def place(self, path: Path) -> str:
        return self.label or f"{path}:{self.line}: segment {self.id!r}"


@dataclass(frozen=True)
class SegmentsFile:
    path: Path
    segments: tuple[Segment, ...]
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    account_segments: tuple[Segment, ...] = ()

    def get(self, segment_id: str) -> Segment:
        for seg in self.segments:
            if seg.id == segment_id:
                return seg
        known = ", ".join(s.id for s in self.segments)
        raise SegmentsFileError(f"no segment {segment_id!r} in {self.path} (known: {known})")

    def of_type(self, kind: str) -> SegmentsFile:
        """These rules with only the segments of type `kind` (`--type`); a SegmentsFileError
        names an unknown type, or a type no segment here has."""
        if kind not in SEGMENT_TYPES:
            raise SegmentsFileError(
                f"--type {kind!r} is not a segment type{did_you_mean(kind, SEGMENT_TYPES)}"
                f" (known: {', '.join(SEGMENT_TYPES)})"
            )
        kept = tuple(s for s in self.segments if s.type == kind)
        if not kept:
            have = sorted({s.type for s in self.segments if s.type})
            listed = f"types there: {', '.join(have)}" if have else "none there has a type"
            raise SegmentsFileError(f"--type {kind!r}: no segment of that type in {self.path}"
                                    f" ({listed})")  # fmt: skip
        return replace(self, segments=kept)

    def check_segment(self, segment: str) -> None:
        """`--segment` names one of these segments; else a SegmentsFileError naming the closest
        ids and every one."""
        ids = [s.id for s in self.segments]
        if segment not in ids:
            raise SegmentsFileError(
                f"--segment {segment!r}: no such segment in {self.path}"
                f"{did_you_mean(segment, ids)} (known: {', '.join(ids)})"
            )


# The order of every listing of users: by email (the row number only parts a profile query that
# returns an email twice, the same way every time).
EMAIL_ORDER = "email, __row"
# What `classify` writes: each user's rule results and segments, one row per row of `profile`,
# in its order; the view `classified` puts them beside the profile's columns.
FLAGS_TABLE = "usertrack_segment_flags"
# How many of each segment's members `classify` orders: the first ones, which a table or an md
# summary shows (5 by default, `-n` more). Finding them still evaluates the order over every
# member (an order that fails on the data fails in `classify`, as a full sort would), but
# keeps a heap of this many instead of sorting and fetching every member (at 100,000 users,
# 92,000 rowids in five sorts). The full order is made when something asks for more.
ORDERED_AHEAD = 100


@dataclass
class Classification:
    """Every user's segments: rows of profile columns plus `segments` and `primary`.

    The rows stay in DuckDB (the `classified` table of `con`) until something asks for them: a
    terminal summary shows a few users per segment and fetches only those, where fetching all
    100,000 users into Python costs a second. `rows` fetches them all, once, in email order;
    `users` (one dict per user) is built from them on first use.

    The table is written in no particular order (sorting every user costs 0.04 s at 100,000,
    and a terminal summary needs no order but each segment's): a user is known by their rowid
    there (`_order`), and whatever lists every user sorts by email then (EMAIL_ORDER). A user's
    row number is `__row`, the rowid of their row of `profile`.
    """

    as_of: datetime
    segments: tuple[Segment, ...]
    columns: list[str]  # the profile columns
    names: list[str]  # the row layout: the profile columns, then "segments" and "primary"
    con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)
    user_count: int = 0
    segmented_count: int = 0  # users in at least one segment
    counts: dict[str, int] = field(default_factory=dict)
    # Each segment's first members (rowids) in its order: all of them for a segment in
    # `_complete`, else the first ORDERED_AHEAD (see `_ordered`).
    _order: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _complete: set[str] = field(default_factory=set, repr=False)
    _order_sql: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    current_only: tuple[str, ...] = ()  # profile columns holding only today's values
    warnings: tuple[str, ...] = ()  # e.g. a past as_of whose rules read current-only columns
    # Per segment id, its figures over its members (`avg_engagement`, `avg_revenue`: set by
    # usertrack.analytics.segment_figures where an answer shows them); empty: none made.
    figures: dict[str, dict[str, float | None]] = field(default_factory=dict)
    _place: dict[int, int] = field(default_factory=dict, init=False, repr=False)  # rowid: row

    @cached_property
    def rows(self) -> list[tuple[Any, ...]]:
        fetched = self._fetch(f"ORDER BY {EMAIL_ORDER}", with_row=True)
        self._place = {row[-1]: i for i, row in enumerate(fetched)}
        return [row[:-1] for row in fetched]

    @cached_property
    def users(self) -> list[dict[str, Any]]:
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in self.rows]

    def _row(self, rowid: int) -> tuple[Any, ...]:
        """A user's row in `rows` (fetched) by their row number (`__row`) in `classified`."""
        return self.rows[self._place[rowid]]

    def memberships(self) -> Iterator[tuple[str, list[str], str | None]]:
        """(email, segments, primary) of every user in at least one segment, without fetching
        or building every row (what a history snapshot keeps)."""
        if "rows" in self.__dict__:
            email, segs, primary = (self.names.index(n) for n in ("email", "segments", "primary"))
            for row in self.rows:
                if row[segs]:
                    yield row[email], row[segs], row[primary]
            return
        # The ids travel as one text (they are lower_snake_case, so a space separates them):
        # a list per row is the slow part of DuckDB's fetch.
        found = self._connection().execute(
            "SELECT email, array_to_string(__segments, ' ') FROM classified"
            f" WHERE len(__segments) > 0 ORDER BY {EMAIL_ORDER}"
        )
        lists: dict[str, list[str]] = {}
        for email, ids in found.fetchall():
            segments = lists.get(ids) or lists.setdefault(ids, ids.split(" "))
            yield email, segments, segments[0]

    def in_segment(self, segment_id: str) -> set[str]:
        """The emails of one segment's members (as a history Snapshot's `in_segment`), asked of
        DuckDB: no Python value for every member of every segment (0.2 s at 100,000 users)."""
        if self.con is None or "rows" in self.__dict__:
            return {email for email, segs, _ in self.memberships() if segment_id in segs}
        found = self._connection().execute(
            "SELECT email FROM classified WHERE list_contains(__segments, $id)", {"id": segment_id}
        )
        return {email for (email,) in found.fetchall()}

    def snapshot_json(self) -> str:
        """The members of a history snapshot as JSON made by DuckDB: `[[segment ids, primary,
        [emails in order]], ...]`, one entry per distinct segment list (see history.py). On a
        cursor of its own, so that a snapshot can be saved while the output is rendered."""
        with self._connection().cursor() as cur:
            found = cur.execute(
                "SELECT to_json(list(json_array(s, s[1], e) ORDER BY s)) FROM ("
                "SELECT __segments AS s, list(email ORDER BY email) AS e FROM classified"
                " WHERE len(__segments) > 0 GROUP BY __segments)"
            ).fetchone()
        return found[0] if found and found[0] is not None else "[]"

    def unsegmented_accounts_json(self) -> str | None:
        """The emails of the app's accounts in no segment as a JSON list made by DuckDB,
        sorted: the rows of the accounts query (queries/neon/accounts.sql) as this run loaded
        them, keyed by normalized email, the excluded domains already left out; None when the
        run loaded no such rows (no accounts query). What a history snapshot keeps so that
        `--by-segment` tells an account in no segment from a person without one."""
        from usertrack.segments.profiles import ACCOUNTS_TABLE

        with self._connection().cursor() as cur:
            known = cur.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = $name",
                {"name": ACCOUNTS_TABLE},
            ).fetchone()
            if not known or not known[0]:
                return None
            found = cur.execute(
                f'SELECT to_json(list(DISTINCT a.email ORDER BY a.email)) FROM "{ACCOUNTS_TABLE}" a'
                " WHERE a.email IS NOT NULL AND a.email <> '' AND NOT EXISTS ("
                " SELECT 1 FROM classified c WHERE c.email = a.email AND len(c.__segments) > 0)"
            ).fetchone()
        return found[0] if found and found[0] is not None else "[]"

    def members(self, segment_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The users of one segment, in the segment's order (the first `limit` of them)."""
        return self.members_of([segment_id], limit)[segment_id]

    def members_of(
        self, segment_ids: Iterable[str], limit: int | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """The users of each segment, in its order (the first `limit` of each), fetched in one
        query: a user in several segments is one dict, shared."""
        picks = {sid: self._ordered(sid, limit) for sid in segment_ids}
        if "users" in self.__dict__:  # already built: share the dicts
            built = self.users
            return {sid: [built[self._place[i]] for i in picked] for sid, picked in picks.items()}
        wanted = sorted({i for picked in picks.values() for i in picked})
        if "rows" in self.__dict__:
            found = {i: self._row(i) for i in wanted}
        elif wanted:
            fetched = self._fetch("WHERE list_contains($picked, __row)", {"picked": wanted}, True)
            found = {row[-1]: row[:-1] for row in fetched}
        else:
            found = {}
        users = {i: dict(zip(self.names, row, strict=True)) for i, row in found.items()}
        return {sid: [users[i] for i in picked] for sid, picked in picks.items()}

    def json_columns(self, segment_id: str | None = None) -> dict[str, list[Any]]:
        """The users (all, or one segment's in its order) column by column, keyed by `names`,
        with TIMESTAMP values as JSON writes them (`2026-11-21T04:59:00Z`, made by DuckDB:
        a Python datetime per value is most of the JSON time at 100,000 users) and DATE values
        as `2026-11-21`; once every row was fetched, from `rows`, with their datetimes (which
        export.column_records writes the same). Other values are as in `rows`."""
        if self.con is None or "rows" in self.__dict__:
            users = self.members(segment_id) if segment_id else self.users
            return {name: [u[name] for u in users] for name in self.names}
        types = {
            d[0]: str(d[1])
            for d in self.con.execute("SELECT * FROM classified LIMIT 0").description
        }
        text = {"TIMESTAMP": "%Y-%m-%dT%H:%M:%SZ", "DATE": "%Y-%m-%d"}
        selected = []
        for c in self.columns:
            quoted = '"' + c.replace('"', '""') + '"'
            fmt = text.get(types[c])
            selected.append(f"strftime({quoted}, '{fmt}')" if fmt else quoted)
        select = ", ".join(selected) + ", __segments, __segments[1], __row"
        if segment_id is None:
            rows = self.con.execute(
                f"SELECT {select} FROM classified ORDER BY {EMAIL_ORDER}"
            ).fetchall()
        else:
            picked = self._ordered(segment_id)
            found = (
                self._connection()
                .execute(
                    f"SELECT {select} FROM classified WHERE list_contains($picked, __row)",
                    {"picked": picked},
                )
                .fetchall()
            )
            by_row = {row[-1]: row for row in found}
            rows = [by_row[i] for i in picked]
        if not rows:
            return {name: [] for name in self.names}
        return dict(zip(self.names, (list(col) for col in zip(*rows, strict=True)), strict=False))

    def segment_means(
        self, expressions: dict[str, str], scores: list[tuple[str, float]] | Any
    ) -> dict[str, dict[str, float | None]]:
        """Per segment id, the mean (one decimal) over its members of each SQL expression (a
        name: its text), over the profile's columns as `c.NAME` and `s.score`, the member's
        value in `scores` ((email, value) pairs, or an Arrow table of columns `email` and
        `score`; an email's highest; NULL without one). NULLs are left out of a mean, and a
        segment with no value has None."""
        # Summed exactly (DECIMAL, a 128-bit sum): a sum of doubles depends on the rows' order,
        # which threads and the way the profile was loaded (rows or Arrow) change, and a mean
        # at a half (38.55) then rounded either way from one run to the next.
        means = ", ".join(
            f"round(avg(CAST(({sql}) AS DECIMAL(18, 6))), 1)" for sql in expressions.values()
        )
        con = self._connection()
        if isinstance(scores, list):
            given = "SELECT unnest($emails) AS email, unnest($scores) AS score"
            values: dict[str, Any] = {
                "emails": [e for e, _ in scores],
                "scores": [float(v) for _, v in scores],
            }
        else:  # Arrow columns, scanned in place (a cursor's registration is its own)
            con.register("usertrack_scores", scores)
            given, values = "SELECT email, CAST(score AS DOUBLE) AS score FROM usertrack_scores", {}
        query = f"""
            WITH s AS (
                SELECT email, max(score) AS score
                FROM ({given})
                GROUP BY email)
            SELECT u.id, {means}
            FROM (SELECT {self._named} FROM classified) AS c
            CROSS JOIN unnest(c.segments) AS u(id)
            LEFT JOIN s ON s.email = c.email
            GROUP BY u.id"""
        try:
            found = con.execute(query, values).fetchall()
        finally:
            con.close()
        by_id = {row[0]: row[1:] for row in found}
        return {
            seg.id: {
                name: None if by_id.get(seg.id) is None or by_id[seg.id][i] is None
                else float(by_id[seg.id][i])
                for i, name in enumerate(expressions)
            }
            for seg in self.segments
        }  # fmt: skip

    def column_types(self) -> dict[str, str]:
        """The DuckDB type of each of `names` (e.g. "VARCHAR", "TIMESTAMP", "VARCHAR[]")."""
        found = self._connection().execute(f"SELECT {self._named} FROM classified LIMIT 0")
        return {d[0]: str(d[1]) for d in found.description}

    def select(
        self, expressions: list[str], segment_id: str | None = None
    ) -> list[tuple[Any, ...]]:
        """SQL `expressions` over `names` evaluated in DuckDB, one row per user: every user in
        the order of `rows`, or one segment's members in the segment's order. What a renderer
        computes there (JSON text, say) crosses into Python as one value per user."""
        named = f"SELECT {self._named}, __row FROM classified"
        selected = ", ".join(expressions)
        if segment_id is None:
            query = f"SELECT {selected} FROM ({named}) ORDER BY email, __row"
            return self._connection().execute(query).fetchall()
        # The members' rows, numbered in the segment's order.
        picked = "SELECT unnest($picked) AS __row, unnest(range(len($picked))) AS __place"
        query = f"SELECT {selected} FROM ({named}) JOIN ({picked}) USING (__row) ORDER BY __place"
        return self._connection().execute(query, {"picked": self._ordered(segment_id)}).fetchall()

    def arrow(self, expressions: list[str]) -> Any:
        """SQL `expressions` over `names` evaluated in DuckDB, one row per user in no order, as
        an Arrow table (pyarrow imported): for another DuckDB connection to read without a
        Python value per user."""
        query = f"SELECT {', '.join(expressions)} FROM (SELECT {self._named} FROM classified)"
        con = self._connection()
        try:
            return con.sql(query).to_arrow_table()
        finally:
            con.close()

    def _ordered(self, segment_id: str, limit: int | None = None) -> list[int]:
        """The rowids of a segment's members in its order (the first `limit`): from those
        `classify` ordered when they are enough, else by ordering every member now (once)."""
        held = self._order[segment_id]
        if segment_id in self._complete or (limit is not None and limit <= len(held)):
            return held if limit is None else held[:limit]
        import duckdb

        query, where = self._order_sql[segment_id]
        try:
            ranked = self._connection().execute(query).fetchall()
        except duckdb.Error as e:
            raise SegmentsFileError(f"{where}: order fails on the data: {first_line(e)}") from None
        self._order[segment_id] = [r for (r,) in ranked]
        self._complete.add(segment_id)
        held = self._order[segment_id]
        return held if limit is None else held[:limit]

    @property
    def _named(self) -> str:
        """The classified table's columns under the names of `names`."""
        columns = ", ".join('"' + c.replace('"', '""') + '"' for c in self.columns)
        return f'{columns}, __segments AS segments, __segments[1] AS "primary"'

    def _fetch(
        self, tail: str, values: dict[str, Any] | None = None, with_row: bool = False
    ) -> list[tuple[Any, ...]]:
        extra = ", __row" if with_row else ""
        query = f"SELECT {self._named}{extra} FROM classified {tail}"
        return self._connection().execute(query, values or {}).fetchall()

    def _connection(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own for one read: `segments` saves the snapshot on one thread while
        it writes the answer on another, and DuckDB refuses a second call on a connection
        that is running one ("connection is busy") instead of waiting."""
        con = self.con
        if con is None:
            raise RuntimeError("this classification's rows were not kept")
        return con.cursor()

    def close(self) -> None:
        """Let go of the DuckDB connection (`sandbox.release`: the MCP server empties it and uses
        it again); rows already fetched stay."""
        from usertrack.checks.sandbox import release

        con, self.con = self.con, None
        if con is not None:
            release(con)


def load_segments(path: Path) -> SegmentsFile:
    """Read and check segments.yaml's shape; `check_rules` checks rules against the profile.

    Parsed once while the file is unchanged (`usertrack.core.filecache`: the MCP server's calls)."""
    return parsed("segments", path, _load_segments)


def _load_segments(path: Path) -> SegmentsFile:
    doc, top_line = read_rule_mapping(
        path, SegmentsFileError, "segments file", "a mapping with a 'segments' list", _TOP_KEYS
    )
    exclude = doc.get("exclude", list(DEFAULT_EXCLUDE))
    if exclude is None:
        exclude = []
    if not isinstance(exclude, list) or not all(isinstance(d, str) for d in exclude):
        raise SegmentsFileError(f"{path}: 'exclude' must be a list of email domains")
    raw_segments = doc.get("segments")
    if not isinstance(raw_segments, list) or not raw_segments:
        raise SegmentsFileError(f"{path}:{top_line}: 'segments' must be a non-empty list")
    raw_accounts = doc.get("account_segments") or []
    if not isinstance(raw_accounts, list):
        raise SegmentsFileError(f"{path}: 'account_segments' must be a list")
    return SegmentsFile(
        path=path,
        segments=_segments_of(path, raw_segments, _SEGMENT_KEYS, "segment"),
        exclude=tuple(exclude),
        account_segments=_segments_of(path, raw_accounts, _ACCOUNT_SEGMENT_KEYS, "account segment"),
    )


def _segments_of(
    path: Path, raw_segments: list[Any], keys: set[str], list_kind: str
) -> tuple[Segment, ...]:
    """The segments of one list of the file (`segments` or `account_segments`), checked."""
    segments: list[Segment] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_segments, start=1):
        if not isinstance(raw, dict):
            raise SegmentsFileError(
                f"{path}: {list_kind} #{i} must be a mapping with id, name, action, rule"
            )
        line = raw.pop("__line__", 0)
        label = f"{list_kind} {raw.get('id')!r}" if raw.get("id") else f"{list_kind} #{i}"
        where = f"{path}:{line}: {label}"
        reject_unknown_keys(raw, keys, where, SegmentsFileError)
        for key in _REQUIRED:
            value = raw.get(key)
            if not isinstance(value, str) or not value.strip():
                raise SegmentsFileError(f"{where}: '{key}' is required and must be text")
        seg_id = raw["id"].strip()
        if not re.fullmatch(r"[a-z][a-z0-9_]*", seg_id):
            raise SegmentsFileError(f"{where}: id must be lower_snake_case letters, digits and _")
        if seg_id in seen:
            raise SegmentsFileError(
                f"{where}: duplicate id {seg_id!r} (first defined at line {seen[seg_id]})"
            )
        seen[seg_id] = line
        order = raw.get("order", "email")
        if not isinstance(order, str) or not order.strip():
            raise SegmentsFileError(f"{where}: 'order' must be text such as 'run_count DESC'")
        show = raw.get("show", [])
        if not isinstance(show, list) or not all(isinstance(c, str) for c in show):
            raise SegmentsFileError(f"{where}: 'show' must be a list of profile columns")
        kind = raw.get("type")
        if kind is not None and (not isinstance(kind, str) or kind.strip() not in SEGMENT_TYPES):
            lines = getattr(raw, "lines", None) or {}
            at = f"{path}:{lines.get('type', line)}: {label}"
            raise SegmentsFileError(
                f"{at}: unknown type {kind!r}{did_you_mean(str(kind), SEGMENT_TYPES)}"
                f" (known: {', '.join(SEGMENT_TYPES)})"
            )
        segments.append(
            Segment(
                id=seg_id,
                name=raw["name"].strip(),
                action=raw["action"].strip(),
                rule=raw["rule"].strip(),
                order=order.strip(),
                description=str(raw.get("description") or "").strip(),
                show=tuple(show),
                line=line,
                type=kind.strip() if kind is not None else None,
                label=where if list_kind != "segment" else "",
            )
        )
    return tuple(segments)


def _rules_relation(as_of: datetime) -> str:
    # Rules see the profile columns plus `as_of`, the moment the run looks from.
    return (
        f"(SELECT *, TIMESTAMP '{naive_utc(as_of).isoformat(sep=' ')}' AS as_of FROM profile) AS p"
    )


def check_rules(spec: SegmentsFile, con: duckdb.DuckDBPyConnection, as_of: datetime) -> None:
    """Bind each rule and order against the profile; name the segment of the first failure."""
    import duckdb

    described = con.execute("SELECT * FROM profile LIMIT 0").description
    key = (spec, tuple((d[0], str(d[1])) for d in described))
    if key in _rules_checked:  # the same rules against the same columns passed before
        return
    columns = [d[0] for d in described] + ["as_of"]
    available = ", ".join(columns)
    relation = _rules_relation(as_of)
    for seg in spec.segments:
        where = seg.place(spec.path)
        for column in seg.show:
            if column not in columns:
                raise SegmentsFileError(
                    f"{where}: unknown column {column!r} in show{did_you_mean(column, columns)}"
                    f" (available: {available})"
                )
        # Parsed before anything runs: a rule or order is one expression over the profile,
        # never a statement, a subquery or a file read (usertrack.checks.sandbox).
        try:
            check_expression(seg.rule, con, what="rule")
            check_order(seg.order, con, what="order")
        except UnsafeSQLError as e:
            raise SegmentsFileError(f"{where}: {e}") from None
        try:
            # binding folds a rule's constant parts, which DuckDB evaluates then: as bounded as
            # the classification itself
            with time_limit(con, f"{spec.path}: the rules"):
                bound = con.execute(f"SELECT (\n{seg.rule}\n) AS m FROM {relation} LIMIT 0")
                desc = bound.description
        except duckdb.BinderException as e:
            close = 3 if seg.label else 1
            raise SegmentsFileError(
                binder_message(where, "rule", e, columns, available, close)
            ) from None
        except duckdb.Error as e:
            raise SegmentsFileError(
                f"{where}: rule is not a single SQL boolean expression: {first_line(e)}"
            ) from None
        if len(desc) != 1:
            raise SegmentsFileError(f"{where}: rule is not a single SQL boolean expression")
        if str(desc[0][1]) != "BOOLEAN":
            raise SegmentsFileError(
                f"{where}: rule is a {desc[0][1]} expression, not a boolean one"
                " (compare it: run_count > 5)"
            )
        try:
            with time_limit(con, f"{spec.path}: the rules"):
                con.execute(f"SELECT * FROM {relation} ORDER BY {seg.order}\n LIMIT 0")
        except duckdb.BinderException as e:
            raise SegmentsFileError(binder_message(where, "order", e, columns, available)) from None
        except duckdb.Error as e:
            raise SegmentsFileError(f"{where}: order is not valid: {first_line(e)}") from None
    if len(_rules_checked) >= 64:
        _rules_checked.clear()
    _rules_checked.add(key)


# Rules that passed check_rules, with the profile's columns and types they were checked
# against: what the checks read (the rules' text and the profile's shape, never its rows or the
# moment), so a process that classifies again (the MCP server) checks each version once.
_rules_checked: set[tuple[Any, ...]] = set()


def binder_message(
    where: str, what: str, e: BaseException, columns: list[str], available: str, close: int = 1
) -> str:
    """An unknown column named with up to `close` of the closest known ones, and all of them."""
    m = re.search(r'column "?([^"\s]+)"? not found', str(e))
    if m:
        column = m.group(1)
        return (
            f"{where}: unknown column {column!r} in {what}{did_you_mean(column, columns, close)}"
            f" (available: {available})"
        )
    return f"{where}: {what} is not valid: {first_line(e)}"


def classify(spec: SegmentsFile, con: duckdb.DuckDBPyConnection, as_of: datetime) -> Classification:
    """Evaluate every rule over `profile` in one DuckDB query; order each segment's members."""
    check_rules(spec, con, as_of)
    relation = _rules_relation(as_of)
    flags = ", ".join(
        f'coalesce((\n{seg.rule}\n), false) AS "__seg_{i}"' for i, seg in enumerate(spec.segments)
    )
    profile_cols = [d[0] for d in con.execute("SELECT * FROM profile LIMIT 0").description]
    for reserved in ("segments", "primary"):
        if reserved in profile_cols:
            raise SegmentsFileError(f"the profile has a column {reserved!r}, a name usertrack uses")
    # Ids are lower_snake_case (checked on load), so they are safe as SQL literals.
    matches = ", ".join(
        f"CASE WHEN \"__seg_{i}\" THEN '{seg.id}' END" for i, seg in enumerate(spec.segments)
    )
    import duckdb

    stamp = naive_utc(as_of).isoformat(sep=" ")
    try:
        # Only the rules' results are written, one row per row of `profile` in its order (a
        # table made from one table's scan keeps its order); the view puts them beside the
        # profile's columns by position. Writing every profile column again besides them was
        # two thirds of the classification's time (at 100,000 users 0.07 s instead of 0.02 s,
        # one core, after the last query).
        with time_limit(con, f"{spec.path}: the rules"):
            con.execute(
                f'CREATE OR REPLACE TABLE "{FLAGS_TABLE}" AS'
                f" SELECT *, list_filter([{matches}], lambda x: x IS NOT NULL) AS __segments"
                f" FROM (SELECT {flags} FROM {relation})"
            )
        con.execute(
            f"CREATE OR REPLACE VIEW classified AS SELECT p.*, TIMESTAMP '{stamp}' AS as_of,"
            f' f.*, p.rowid AS __row FROM profile AS p POSITIONAL JOIN "{FLAGS_TABLE}" AS f'
        )
    except duckdb.Error as e:
        # A rule that binds may still fail on a value (a cast of 'abc' to INT): the rules file's
        # mistake, named with its segment and line, not an internal error.
        _raise_for_failing_rule(spec, con, relation)
        raise SegmentsFileError(
            f"{spec.path}: the rules failed on the data: {first_line(e)}"
        ) from None
    per_segment = "".join(
        f', count(*) FILTER (WHERE "__seg_{i}")' for i in range(len(spec.segments))
    )
    counted = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE len(__segments) > 0){per_segment} FROM classified"
    ).fetchone()
    assert counted is not None
    names = [*profile_cols, "segments", "primary"]

    order: dict[str, list[int]] = {}
    counts: dict[str, int] = {}
    complete: set[str] = set()
    order_sql: dict[str, tuple[str, str]] = {}
    for i, seg in enumerate(spec.segments):
        query = (
            f'SELECT __row FROM classified WHERE "__seg_{i}" ORDER BY {seg.order}\n, {EMAIL_ORDER}'
        )
        where = seg.place(spec.path)
        counts[seg.id] = counted[2 + i]
        try:
            # The first ORDERED_AHEAD: a top-N, which evaluates the order on every member.
            ranked = con.execute(f"{query}\nLIMIT {ORDERED_AHEAD}").fetchall()
        except duckdb.Error as e:
            raise SegmentsFileError(f"{where}: order fails on the data: {first_line(e)}") from None
        order[seg.id] = [r for (r,) in ranked]
        order_sql[seg.id] = (query, where)
        if len(ranked) >= counts[seg.id]:
            complete.add(seg.id)
    return Classification(
        as_of=as_of,
        segments=spec.segments,
        columns=profile_cols,
        names=names,
        con=con,
        user_count=counted[0],
        segmented_count=counted[1],
        counts=counts,
        _order=order,
        _complete=complete,
        _order_sql=order_sql,
    )


def _raise_for_failing_rule(
    spec: SegmentsFile, con: duckdb.DuckDBPyConnection, relation: str
) -> None:
    """Run each rule alone to name the first one the data makes fail."""
    import duckdb

    for seg in spec.segments:
        try:
            con.execute(f"SELECT count(*) FROM {relation} WHERE coalesce((\n{seg.rule}\n), false)")
        except duckdb.Error as e:
            raise SegmentsFileError(
                f"{seg.place(spec.path)}: rule fails on the data: {first_line(e)}"
            ) from None


def rule_columns(segment: Segment, columns: list[str]) -> list[str]:
    """The columns to show beside a segment's users: its `show`, else the profile columns its
    rule uses, in the order they appear (read from DuckDB's parse tree of the rule)."""
    if segment.show:
        return list(segment.show)
    return why_columns(segment, columns)


def why_columns(segment: Segment, columns: list[str]) -> list[str]:
    """The profile columns a segment's rule actually uses, in order of appearance: the values
    that explain why a user is in the segment (never `show`, which may leave some out)."""
    try:
        used = expression_columns(segment.rule)
    except UnsafeSQLError:  # check_rules reports it with the file and line
        return []
    return [c for c in used if c in columns and c != "email"]
