"""Query files: load `queries/<source>/*.sql`, parse their header, check their parameters.

A query file starts with a header of `-- key: value` comment lines (aiosql's and dbt's habit):

    -- name: runs
    -- description: Workflow runs per user, with success rate.
    -- returns: per-user            (one row per user keyed by `email`, or `table`)
    -- param as_of: now             (a parameter and its default; `now` is the run's as-of moment)
    -- param exclude_pattern:       (no default: the caller must supply it)

The folder names the source and so the dialect: `posthog/` holds HogQL with `{name}` placeholders,
`neon/` holds PostgreSQL with `%(name)s` placeholders (a literal `%` is written `%%`), `join/` holds
DuckDB SQL run over the joined per-user tables. Placeholders are always bound as values.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from usertrack.core.errors import NotFoundError, QueryFileError, UsageError, not_utf8
from usertrack.core.filecache import parsed

DIALECTS = {"posthog": "hogql", "neon": "postgres", "join": "duckdb"}
# The folders whose queries run alone (`usertrack query`); join/ runs inside `segments`.
STANDALONE_FOLDERS = ("posthog", "neon")
RETURNS = ("per-user", "table")
_HEADER_KEYS = {"name", "description", "returns", "param", "insight", "setting"}
# The PostgreSQL settings a neon/ query may ask for its own transaction (`-- setting NAME:
# VALUE`, applied with set_config(NAME, VALUE, true): SET LOCAL, which writes nothing), each
# with the values it takes. A query that runs beside others of the same command (`tools` runs
# nine at once) is better without parallel workers of its own: they only add to the load.
PG_SETTINGS = {
    "max_parallel_workers_per_gather": re.compile(r"[0-8]"),
    "work_mem": re.compile(r"[1-9][0-9]{0,3}MB"),
}

_HEADER_LINE = re.compile(
    r"^--\s*(?P<key>[a-z_]+)(?:\s+(?P<pname>[A-Za-z_]\w*))?\s*:\s?(?P<value>.*)$"
)
HOGQL_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_]\w*)\s*\}")
_PG_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_DUCKDB_PLACEHOLDER = re.compile(r"\$([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Param:
    name: str
    default: str | None  # None: required; "now": the run's as-of moment
    line: int
    # What its values are, when the header says so without a default (`-- param since:
    # <moment>`: required, a date or datetime): one of PARAM_KINDS; else the default tells.
    kind: str | None = None


@dataclass(frozen=True)
class Origin:
    """What a Query's text is: the file it was read from (`digest`, sha256 of the file's whole
    text as read; `body`, its SQL as the file has it), what fills its `{filters}` slot
    (`filters`: None while unfilled, () for `true`, else the expressions ANDed) and its `form`
    ("file", or "facts": a packed file's per-event form, usertrack.engines.local.packed). It holds
    for `sql` alone: a Query whose text was changed any other way (dataclasses.replace) has no
    origin, and so no shortcut (usertrack.engines.local.shortcuts)."""

    digest: str
    body: str
    filters: tuple[str, ...] | None = None
    form: str = "file"
    sql: str = ""


def text_digest(text: str) -> str:
    """The digest of a query file's text, as Origin and a shortcut's declaration hold it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fill_filters(sql: str, where: Sequence[str] | None) -> str:
    """`sql` with its `{filters}` slot holding the expressions `where`, ANDed, or `true` without
    one (usertrack.analytics.where.spliced)."""
    if not where:
        return sql.replace("{filters}", "true")
    return sql.replace("{filters}", "(" + " AND ".join(f"({w})" for w in where) + ")")


@dataclass(frozen=True)
class Query:
    """One query file. `id` is `<folder>/<name>`, e.g. `neon/runs`."""

    name: str
    folder: str
    path: Path
    sql: str
    description: str
    returns: str
    params: tuple[Param, ...] = ()
    sql_line: int = 1  # line of the file where the SQL body starts
    insight: str | None = None  # a saved PostHog insight this query names instead of HogQL
    # PostgreSQL settings of its own transaction (`-- setting NAME: VALUE`, PG_SETTINGS).
    settings: tuple[tuple[str, str], ...] = ()
    # what `sql` is, read through `origin` (None for a text not read from a file)
    made: Origin | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"{self.folder}/{self.name}"

    @property
    def origin(self) -> Origin | None:
        """The file `sql` comes from and what was done to it; None when `sql` is not (or no
        longer) the file's text as `filled` and `in_form` made it."""
        made = self.made
        return made if made is not None and made.sql == self.sql else None

    def filled(self, where: Sequence[str] | None) -> Query:
        """The query with its `{filters}` slot holding `where` (fill_filters), the origin
        saying so."""
        if "{filters}" not in self.sql:
            return self
        sql = fill_filters(self.sql, where or ())
        origin = self.origin
        made = None
        if origin is not None and origin.filters is None:
            made = dataclasses.replace(origin, filters=tuple(where or ()), sql=sql)
        return dataclasses.replace(self, sql=sql, made=made)

    def in_form(self, form: str, sql: str) -> Query:
        """The query as `sql`, the file's text in another `form` (Origin)."""
        origin = self.origin
        made = None if origin is None else dataclasses.replace(origin, form=form, sql=sql)
        return dataclasses.replace(self, sql=sql, made=made)

    @property
    def dialect(self) -> str:
        return DIALECTS[self.folder]

    @property
    def per_user(self) -> bool:
        return self.returns == "per-user"

    @property
    def param_names(self) -> set[str]:
        return {p.name for p in self.params}

    def defaults(self) -> dict[str, str | None]:
        return {p.name: p.default for p in self.params}


@dataclass
class QueryLibrary:
    """Every query of a `queries/` folder, by id."""

    root: Path
    queries: dict[str, Query] = field(default_factory=dict)

    def get(self, query_id: str) -> Query:
        try:
            return self.queries[query_id]
        except KeyError:
            known = ", ".join(sorted(self.queries)) or "none"
            close = did_you_mean_query(query_id, self.queries)
            raise NotFoundError(
                f"no query named {query_id!r} in {self.root}{close} (known: {known})",
                hint=self._shipped_hint(query_id),
                data={},  # the library's names: the files of the person who runs usertrack
            ) from None

    def _shipped_hint(self, query_id: str) -> str | None:
        """A library of your own (./queries, --queries) copied from an older usertrack lacks
        the files a newer one added: say where the shipped one is."""
        from usertrack.core.shipped import shipped_path

        shipped = shipped_path("queries")
        candidate = shipped / f"{query_id}.sql"
        if self.root.resolve() == shipped.resolve() or not candidate.is_file():
            return None
        return f"usertrack ships {candidate}: copy it into {self.root / query_id}.sql"

    def in_folder(self, folder: str, *, per_user: bool | None = None) -> list[Query]:
        out = [q for q in self.queries.values() if q.folder == folder]
        if per_user is not None:
            out = [q for q in out if q.per_user == per_user]
        return sorted(out, key=lambda q: q.name)

    def __iter__(self) -> Iterable[Query]:  # type: ignore[override]
        return iter(sorted(self.queries.values(), key=lambda q: q.id))

    def __len__(self) -> int:
        return len(self.queries)


def placeholders(sql: str, dialect: str) -> list[tuple[str, int]]:
    """Parameter names used in `sql`, with their 1-based line, ignoring strings and comments."""
    code = blank_strings_and_comments(sql, dialect)
    pattern = {
        "hogql": HOGQL_PLACEHOLDER,
        "postgres": _PG_PLACEHOLDER,
        "duckdb": _DUCKDB_PLACEHOLDER,
    }[dialect]
    found = []
    for m in pattern.finditer(code):
        found.append((m.group(1), code.count("\n", 0, m.start()) + 1))
    return found


# Where a comment or a string literal may start, by dialect: the scan jumps from one to the
# next (2.5 ms for the shipped library's 73 files; a step per character takes 18 ms).
_BLANK_STARTS = {
    "hogql": re.compile(r"--|//|/\*|['\"`]"),
    "postgres": re.compile(r"--|/\*"),
}
_BLANK_STARTS_OTHER = re.compile(r"--|/\*|['\"`]")
_NOT_NEWLINE = re.compile(r"[^\n]")


def blank_strings_and_comments(sql: str, dialect: str) -> str:
    """Replace the contents of string literals and comments with spaces, keeping offsets and lines.

    Postgres placeholders live outside strings too, so blanking strings never hides one; a `%(x)s`
    inside a string literal is still a psycopg placeholder, so for postgres strings are kept.
    """
    starts = _BLANK_STARTS.get(dialect, _BLANK_STARTS_OTHER)
    parts: list[str] = []
    done = 0  # sql[:done] is in parts
    i, n = 0, len(sql)
    while (m := starts.search(sql, i)) is not None:
        i = m.start()
        c = sql[i]
        if c == "-" or sql.startswith("//", i):  # `//` is a start in HogQL alone
            j = sql.find("\n", i)
            j = n if j == -1 else j
            parts += (sql[done:i], " " * (j - i))
            done = i = j
        elif c == "/":  # /* ... */
            j = sql.find("*/", i + 2)
            j = n if j == -1 else j + 2
            parts += (sql[done:i], _NOT_NEWLINE.sub(" ", sql[i:j]))
            done = i = j
        else:  # a quote: its string's contents
            j = i + 1
            while j < n:
                if sql[j] == "\\" and dialect == "hogql":
                    j += 2
                    continue
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            end = max(min(j, n), i + 1)
            parts += (sql[done : i + 1], _NOT_NEWLINE.sub(" ", sql[i + 1 : end]))
            done = end
            i = j + 1
    parts.append(sql[done:])
    return "".join(parts)


def shipped(query: Query) -> bool:
    """Whether `query` is the file usertrack ships under its id, read from its origin: its text
    is a file's as read (a text changed since has none), byte for byte the shipped one's (that
    file, or a copy of it). usertrack may then run a statement of its own that answers the
    same."""
    origin = query.origin
    return origin is not None and origin.digest == shipped_digest(query.id)


def shipped_digest(query_id: str) -> str | None:
    """The digest (text_digest) of the file usertrack ships as `query_id`; None for none."""
    from usertrack.core.shipped import shipped_path

    path = shipped_path("queries") / f"{query_id}.sql"
    try:
        stat = path.stat()
    except OSError:
        return None
    return _digest_of(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _digest_of(path: Path, mtime_ns: int, size: int) -> str | None:
    """text_digest of the file at `path` as it is at that time and size (read once)."""
    try:
        return text_digest(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def parse_query(path: Path, folder: str, text: str | None = None) -> Query:
    """Parse one query file; raise QueryFileError with `path:line:` on any problem.

    A file read from disk is read once while it is unchanged (`usertrack.core.filecache`: the MCP
    server loads the library for every call)."""
    if text is None:
        return parsed(f"query {folder}", path, lambda p: _read_and_parse(p, folder))
    return _parsed(path, folder, text)


def _read_and_parse(path: Path, folder: str) -> Query:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        line, why = not_utf8(e)
        raise QueryFileError(f"{path}:{line}: {why}") from None
    except OSError as e:
        raise QueryFileError(f"{path}: cannot read query file: {e}") from None
    return _parsed(path, folder, text)


# Keyed by the file's text, not its time: a process that loads the library for every command
# (the MCP server) parses each file once, and sees an edit at once. A Query is immutable.
@functools.lru_cache(maxsize=1024)
def _parsed(path: Path, folder: str, text: str) -> Query:
    lines = text.splitlines()
    header: dict[str, tuple[str, int]] = {}
    params: list[Param] = []
    settings: list[tuple[str, str]] = []
    body_start = len(lines)
    for idx, raw in enumerate(lines):
        lineno = idx + 1
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            body_start = idx
            break
        m = _HEADER_LINE.match(line)
        if not m or m["key"] not in _HEADER_KEYS:
            # A free comment in the header is fine; a `-- key:` line with an unknown key is a typo.
            if m and m["pname"] is None and re.fullmatch(r"[a-z_]+", m["key"]):
                known = ", ".join(sorted(_HEADER_KEYS))
                raise QueryFileError(
                    f"{path}:{lineno}: unknown header key {m['key']!r} (known: {known})"
                )
            continue
        key, value = m["key"], m["value"].strip()
        if key == "param":
            if not m["pname"]:
                raise QueryFileError(
                    f"{path}:{lineno}: a parameter is declared as '-- param NAME: DEFAULT'"
                )
            if any(p.name == m["pname"] for p in params):
                raise QueryFileError(f"{path}:{lineno}: parameter {m['pname']!r} declared twice")
            declared = re.fullmatch(r"<(\w+)>", value)
            if declared:
                if declared[1] not in PARAM_KINDS:
                    raise QueryFileError(
                        f"{path}:{lineno}: parameter {m['pname']!r} is declared"
                        f" <{declared[1]}>; the kinds are"
                        f" {', '.join(f'<{k}>' for k in PARAM_KINDS)}"
                    )
                params.append(Param(m["pname"], None, lineno, declared[1]))
            else:
                params.append(Param(m["pname"], value if value != "" else None, lineno))
            continue
        if key == "setting":
            settings.append(_setting(path, lineno, folder, m["pname"], value, settings))
            continue
        if m["pname"]:
            raise QueryFileError(f"{path}:{lineno}: unexpected word after {key!r}")
        if key in header:
            raise QueryFileError(f"{path}:{lineno}: header key {key!r} given twice")
        header[key] = (value, lineno)

    sql = "\n".join(lines[body_start:]).strip()
    first_line = 1
    if "name" not in header:
        raise QueryFileError(
            f"{path}:{first_line}: missing header: every query file starts with"
            " '-- name:', '-- description:' and '-- returns:' lines"
        )
    for key in ("description", "returns"):
        if key not in header:
            raise QueryFileError(f"{path}:{first_line}: missing header line '-- {key}: ...'")
    name, name_line = header["name"]
    if not re.fullmatch(r"[A-Za-z_][\w-]*", name):
        raise QueryFileError(f"{path}:{name_line}: query name {name!r} is not a plain identifier")
    if name != path.stem:
        raise QueryFileError(
            f"{path}:{name_line}: query name {name!r} differs from the file name {path.stem!r}"
        )
    returns, returns_line = header["returns"]
    if returns not in RETURNS:
        raise QueryFileError(
            f"{path}:{returns_line}: returns must be one of {', '.join(RETURNS)}, not {returns!r}"
        )
    insight = header.get("insight", (None, 0))[0] or None
    if insight is not None and folder != "posthog":
        raise QueryFileError(
            f"{path}:{header['insight'][1]}: only posthog/ queries can name a saved insight"
        )
    if not sql and insight is None:
        raise QueryFileError(f"{path}:{len(lines) or 1}: the query has a header but no SQL")

    query = Query(
        name=name,
        folder=folder,
        path=path,
        sql=sql,
        description=header["description"][0],
        returns=returns,
        params=tuple(params),
        sql_line=body_start + 1,
        insight=insight,
        settings=tuple(settings),
        made=Origin(text_digest(text), sql, sql=sql),
    )
    _check_params(query)
    return query


def _setting(
    path: Path,
    lineno: int,
    folder: str,
    name: str | None,
    value: str,
    earlier: list[tuple[str, str]],
) -> tuple[str, str]:
    """One `-- setting NAME: VALUE` line, checked against PG_SETTINGS."""
    if DIALECTS[folder] != "postgres":
        raise QueryFileError(f"{path}:{lineno}: only neon/ queries take a '-- setting' line")
    if name not in PG_SETTINGS:
        raise QueryFileError(
            f"{path}:{lineno}: '-- setting NAME: VALUE' names one of"
            f" {', '.join(sorted(PG_SETTINGS))}, not {name!r}"
        )
    if not PG_SETTINGS[name].fullmatch(value):
        raise QueryFileError(f"{path}:{lineno}: {value!r} is not a value usertrack sets {name} to")
    if any(n == name for n, _ in earlier):
        raise QueryFileError(f"{path}:{lineno}: setting {name!r} given twice")
    return name, value


def _check_params(query: Query) -> None:
    used = placeholders(query.sql, query.dialect)
    declared = {p.name: p for p in query.params}
    for name, line in used:
        # {filters} is PostHog's own filter slot (TRUE, or the --where expressions spliced in by
        # usertrack.analytics.where): never a parameter.
        if name not in declared and not (query.dialect == "hogql" and name == "filters"):
            raise QueryFileError(
                f"{query.path}:{query.sql_line + line - 1}: parameter {name!r} is used but not"
                f" declared (add '-- param {name}: DEFAULT' to the header)"
            )
    used_names = {name for name, _ in used}
    for p in query.params:
        if p.name not in used_names and query.insight is None:
            raise QueryFileError(
                f"{query.path}:{p.line}: parameter {p.name!r} is declared but never used"
            )
    if query.dialect == "postgres":
        stray = re.search(r"%(?![%(])", _PG_PLACEHOLDER.sub("", query.sql).replace("%%", ""))
        if stray:
            line = query.sql.count("\n", 0, stray.start()) + 1
            raise QueryFileError(
                f"{query.path}:{query.sql_line + line - 1}: a literal % in a Postgres query is"
                " written %% (psycopg reads % as the start of a parameter)"
            )


def load_queries(root: Path) -> QueryLibrary:
    """Load every `*.sql` below `root/<folder>/` for the known folders."""
    if not root.is_dir():
        # A folder given as an option, as a missing --segments or --plan file: a usage error.
        raise UsageError(f"query folder {root} does not exist")
    library = QueryLibrary(root=root)
    for folder in DIALECTS:
        sub = root / folder
        if not sub.is_dir():
            continue
        for path in sorted(sub.glob("*.sql")):
            query = parse_query(path, folder)
            library.queries[query.id] = query
    if not library.queries:
        # The folder named is not a query library: the same mistake as a missing one.
        raise UsageError(
            f"query folder {root} holds no query files (expected posthog/*.sql and neon/*.sql)"
        )
    return library


def resolve_params(query: Query, given: Mapping[str, Any], *, now_value: Any) -> dict[str, Any]:
    """The values to bind for `query`: given values win, then header defaults; `now` → as-of."""
    values: dict[str, Any] = {}
    for p in query.params:
        if p.name in given and given[p.name] is not None:
            values[p.name] = given[p.name]
        elif p.default is None:
            raise QueryFileError(
                f"{query.path}:{p.line}: parameter {p.name!r} has no default and no value was given"
            )
        elif p.default == "now":
            values[p.name] = now_value
        else:
            values[p.name] = coerce_default(p.default)
    return values


def coerce_default(text: str) -> Any:
    if text.strip() == "[]":  # an empty list (a list parameter no run need give)
        return []
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d*", text):
        return float(text)
    return text


# The kinds a header may declare for a parameter without a default (`-- param NAME: <kind>`).
PARAM_KINDS = ("moment", "date", "integer", "number", "boolean", "list", "text")


def param_kind(default: str | None) -> str:
    """What a parameter's header default says its values are."""
    if default is None:
        return "text"
    text = default.strip()
    if text == "now":
        return "moment"
    if text == "[]":
        return "list"
    if re.fullmatch(r"-?\d+", text):
        return "integer"
    if re.fullmatch(r"-?\d+\.\d*", text):
        return "number"
    if text.lower() in ("true", "false"):
        return "boolean"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return "date"
    return "text"


def convert_param(query: Query, name: str, text: str) -> Any:
    """A `--param NAME=VALUE` value typed like the default its header declares.

    The command line gives strings; `days=14` must bind as the integer 14 (`make_interval(days =>
    '14')` and HogQL comparisons treat text differently). A value that does not fit is a usage
    error naming the parameter.
    """
    from datetime import date

    param = next((p for p in query.params if p.name == name), None)
    kind = (param.kind if param else None) or param_kind(param.default if param else None)
    value = text.strip()
    try:
        if kind == "list":
            # A JSON list, or names separated by commas (`-p events=signup,$pageview`).
            if value.startswith("["):
                import json

                items = json.loads(value)
                if not isinstance(items, list):
                    raise ValueError(value)
                return [str(item) for item in items]
            return [item.strip() for item in value.split(",") if item.strip()]
        if kind == "integer":
            number = int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            lowered = value.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return lowered in ("true", "1", "yes")
        if kind == "date":
            return date.fromisoformat(value)
        if kind == "moment":
            from usertrack.core.clock import parse_as_of

            return parse_as_of(value)
    except (ValueError, UsageError):  # json's JSONDecodeError is a ValueError
        assert param is not None
        default = f" (its default is {param.default})" if param.default is not None else ""
        raise UsageError(
            f"--param {name}={text!r}: query {query.id} takes {_ARTICLE[kind]} here{default}"
        ) from None
    bounds = integer_bounds(name, param.default if param else None)
    if kind == "integer" and bounds is not None:
        low, high = bounds
        if not low <= number <= high:
            raise UsageError(
                f"--param {name}={text!r}: query {query.id} takes an integer from {low:,}"
                f" to {high:,} here"
                + (f" (its default is {param.default})" if param and param.default else "")
            )
    if kind == "integer":
        return number
    return text


# Every integer parameter of the library is a count (limit, top, ...) or a span whose name says
# its unit (days, *_minutes, *_seconds): a count is never below zero, a span is at least one unit
# and at most ten years, as --days (usertrack.cli.options.MAX_DAYS): what the engines' date
# arithmetic holds. Past these, PostgreSQL and DuckDB answer with their own errors ("LIMIT must
# not be negative", "out of range for INT32") or, for a negative span, silently nothing.
MAX_DAYS = 3660
_SPAN_UNITS = {"days": 1, "minutes": 24 * 60, "seconds": 24 * 60 * 60}
INT32_MAX = 2**31 - 1


def integer_bounds(name: str, default: str | None) -> tuple[int, int] | None:
    """The values an integer parameter of a query file may take; None for any (a parameter
    without a default, as an inline query's)."""
    if default is None:
        return None
    if default.strip().startswith("-"):
        return (-INT32_MAX, INT32_MAX)
    unit = _SPAN_UNITS.get(name.rsplit("_", 1)[-1])
    if unit is not None:
        return (1, MAX_DAYS * unit)
    return (0, INT32_MAX)


_ARTICLE = {
    "list": "a list (a,b or a JSON list)",
    "text": "text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "date": "a date (YYYY-MM-DD)",
    "moment": "a date or datetime",
}


def parse_params(items: Iterable[str] | None) -> dict[str, str]:
    """`query`'s `--param NAME=VALUE` values by name (as_of and exclude_pattern are usertrack's
    to set; an email is normalised as `usertrack user` matches it)."""
    given: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--param {item!r} is not NAME=VALUE")
        if name in ("as_of", "exclude_pattern"):
            raise UsageError(
                f"--param {name} is set by usertrack: use --as-of, or exclude: in segments.yaml"
            )
        if name == "email":
            from usertrack.core.emails import normalize_email

            value = normalize_email(value) or ""
        given[name] = value
    return given


def did_you_mean_query(query_id: str, ids: Iterable[str]) -> str:
    """' (did you mean 'posthog/activity'?)' for a query id not found, or ''. The names are
    compared without their folders, which every id of a folder shares: 'posthog/nosuch' is close
    to no file, not to every file in posthog/ ('posthog/plan_groups'). Of close names in
    several folders, the one in the id's own folder."""
    by_name: dict[str, list[str]] = {}
    for each in sorted(ids):
        by_name.setdefault(each.rpartition("/")[2], []).append(each)
    folder, _, name = query_id.rpartition("/")
    close = difflib.get_close_matches(name, sorted(by_name), n=1)
    if not close:
        return ""
    found = by_name[close[0]]
    best = next((each for each in found if each.rpartition("/")[0] == folder), found[0])
    return f" (did you mean {best!r}?)"


def runnable_query(library: Any, query_id: str) -> Query:
    """The query `query_id` of the library, one `usertrack query` can run alone."""
    if query_id not in library.queries:  # suggest and name only what `query` can run
        runnable = [q for q, v in library.queries.items() if v.folder in STANDALONE_FOLDERS]
        close = did_you_mean_query(query_id, runnable)
        raise NotFoundError(
            f"no query named {query_id!r} in {library.root}{close}",
            hint="`usertrack query --list` shows each query with its description and parameters",
            data={},  # the library's names: the files of the person who runs usertrack
        )
    target = library.get(query_id)
    if target.folder not in STANDALONE_FOLDERS:
        raise UsageError(
            f"query {query_id} runs over the joined per-user tables inside `usertrack segments`;"
            " it cannot run alone (see `usertrack query --list`)"
        )
    return target


def typed_params(target: Query, given: dict[str, str]) -> dict[str, Any]:
    """`given` values converted to the query's parameter types; unknown and missing ones fail."""
    unknown = sorted(set(given) - target.param_names)
    if unknown:
        raise UsageError(
            f"query {target.id} has no parameter {unknown[0]!r}"
            f" (it takes: {', '.join(sorted(target.param_names)) or 'none'})"
        )
    missing = [p.name for p in target.params if p.default is None and p.name not in given]
    if missing:  # the user's to give, not a fault of the query file
        raise UsageError(
            f"query {target.id} needs {' '.join(f'-p {m}=VALUE' for m in missing)}"
            " (it has no default; see `usertrack query --list`)"
        )
    return {name: convert_param(target, name, value) for name, value in given.items()}
