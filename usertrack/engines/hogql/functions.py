"""ClickHouse scalar functions in DuckDB: handler(call) -> DuckDB text, by lower-case name
(`FUNCTIONS`); an unknown function is an error, never passed through.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from usertrack.core.emails import TRIM_CHARS as EMAIL_TRIM_CHARS
from usertrack.engines.hogql.aggregates import AGGREGATES
from usertrack.engines.hogql.calls import Call
from usertrack.engines.hogql.dates import (
    FLOAT_OR_NULL,
    binary_call,
    check_tz,
    date_part,
    fn_add,
    fn_date_add,
    fn_date_diff,
    fn_date_trunc,
    fn_now,
    fn_to_date,
    fn_to_datetime,
    fn_to_day_of_week,
    fn_to_interval,
    fn_to_monday,
    fn_to_start_of_interval,
    fn_to_start_of_week,
    fn_to_timezone,
    fn_today,
    fn_yesterday,
    fn_yyyymm,
    fn_yyyymmdd,
    truncate_to,
    unary,
)
from usertrack.engines.hogql.tokens import is_id, json_path, quote_ident, significant, sql_string
from usertrack.engines.local.eventstore import (
    HOT_PERSON_PROPERTIES,
    HOT_PROPERTIES,
    NORMALIZED_EMAIL_COLUMN,
)

_EMAIL = re.escape(HOT_PERSON_PROPERTIES["email"])
# usertrack's email key, lowerUTF8(trim(person.properties.email, ' \t\r\n'))
# (usertrack.core.emails), is a materialized column of the store, as translated below.
_NORMALIZED_EMAIL = re.compile(
    rf"trim\((\w+\.|)({_EMAIL}), {re.escape(sql_string(EMAIL_TRIM_CHARS))}\)"
)
# ... and with coalesce(..., '') inside: '' where the event has no email, the column otherwise.
_NORMALIZED_EMAIL_OR_EMPTY = re.compile(
    rf"trim\(coalesce\((\w+\.|)({_EMAIL}), ''\), {re.escape(sql_string(EMAIL_TRIM_CHARS))}\)"
)
# The email key or '' as _fn_lower_utf8 writes it: the column, qualified or not.
_EMAIL_KEY_OR_EMPTY = re.compile(rf"coalesce\((\w+\.|){re.escape(NORMALIZED_EMAIL_COLUMN)}, ''\)")
_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def email_column_of(text: str) -> str | None:
    """The store's email key column (`e.person_email_norm`) when `text` is lowerUTF8's
    translation of the normalized email or '' (the column's coalesce to ''), else None."""
    m = _EMAIL_KEY_OR_EMPTY.fullmatch(text)
    return m.group(1) + NORMALIZED_EMAIL_COLUMN if m else None


def _fn_lower(c: Call) -> str:
    """ClickHouse's lower() changes the ASCII letters A-Z only ('É' stays 'É'); DuckDB's lower()
    is Unicode, so it is spelled as a translate() of A-Z."""
    (x,) = c.need(1)
    return f"translate({x}, '{_ASCII_UPPER}', '{_ASCII_UPPER.lower()}')"


def _fn_lower_utf8(c: Call) -> str:
    (x,) = c.need(1)
    m = _NORMALIZED_EMAIL.fullmatch(x)
    if m:
        return m.group(1) + NORMALIZED_EMAIL_COLUMN
    m = _NORMALIZED_EMAIL_OR_EMPTY.fullmatch(x)
    if m:
        return f"coalesce({m.group(1)}{NORMALIZED_EMAIL_COLUMN}, '')"
    return f"lower({x})"


def _rename(fn: str, low: int = 1, high: int | None = 16) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        return f"{fn}({', '.join(c.need(low, high))})"

    return handle


def _fn_to_int(c: Call) -> str:
    (x,) = c.need(1)
    # ClickHouse truncates toward zero (DuckDB's CAST rounds); HogQL's toInt is toInt64OrNull.
    return f"TRY_CAST(trunc(TRY_CAST({x} AS DOUBLE)) AS BIGINT)"


def _fn_round(c: Call) -> str:
    c.need(1, 2)
    digits = c.args[1] if len(c.args) > 1 else "0"
    # ClickHouse rounds floats half to even ("banker's rounding").
    return f"round_even({c.args[0]}, {digits})"


def _fn_floor(fn: str) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        c.need(1, 2)
        if len(c.args) == 1:
            return f"{fn}({c.args[0]})"
        n = c.args[1]
        return f"({fn}({c.args[0]} * pow(10, {n})) / pow(10, {n}))"

    return handle


def _fn_like(op: str) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        a, b = c.need(2)
        pattern = c.literal(1)
        escape = " ESCAPE '\\'" if pattern is not None and "\\" in pattern else ""
        return f"({a} {op} {b}{escape})"

    return handle


def _fn_extract(c: Call) -> str:
    s, pattern = c.need(2)
    lit = c.literal(1)
    if lit is None:
        raise c.err("extract(haystack, pattern) needs a literal pattern")
    group = 1 if re.search(r"(?<!\\)\((?!\?)", lit) else 0
    return f"regexp_extract({s}, {pattern}, {group})"


def _fn_split(c: Call) -> str:
    sep, s = c.need(2)
    return f"string_split({s}, {sep})"


def _fn_array_map(fn: str) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        f, arr = c.need(2)
        return f"{fn}({arr}, {f})"

    return handle


def _fn_array_string_concat(c: Call) -> str:
    c.need(1, 2)
    sep = c.args[1] if len(c.args) > 1 else "''"
    return f"array_to_string({c.args[0]}, {sep})"


def _fn_index_of(c: Call) -> str:
    arr, x = c.need(2)
    return f"coalesce(list_position({arr}, {x}), 0)"


def _json_pointer(key_sql: str) -> str:
    """A JSON pointer (RFC 6901) built at run time from a key expression: `/` + the key with `~`
    and `/` escaped, so any key a row holds (a column, a bound value) is read exactly."""
    return f"('/' || replace(replace(CAST({key_sql} AS VARCHAR), '~', '~0'), '/', '~1'))"


def _json_key_path(c: Call, args: list[str]) -> str | None:
    """One non-literal key (JSONType(properties, key) with `key` a column): its pointer path."""
    if len(args) == 2 and (c.literal(1) is None or is_id(significant(c.raw[1])[0])):
        return _json_pointer(args[1])
    return None


def _literal_keys(c: Call, end: int) -> list[str]:
    """The keys of a JSON call, its arguments 1 to `end` (excluded): each a literal."""
    keys = []
    for n in range(1, end):
        key = c.literal(n)
        if key is None or (c.raw[n] and is_id(significant(c.raw[n])[0])):
            raise c.err(f"{c.name} needs literal keys")
        keys.append(key)
    return keys


def _fn_json_extract(cast: str | None, fn: str = "json_extract_string") -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        args = c.need(1, 8)
        dynamic = _json_key_path(c, args)
        if dynamic is not None:
            text = f"{fn}({args[0]}, {dynamic})"
            return f"TRY_CAST({text} AS {cast})" if cast else text
        keys = _literal_keys(c, len(args))
        path = json_path(keys) if keys else "'$'"
        text = f"{fn}({args[0]}, {path})"
        return f"TRY_CAST({text} AS {cast})" if cast else text

    return handle


_PERSON_JSON = re.compile(r"(\w+\.|)person_properties")
_json_extract_text = _fn_json_extract(None)


def _fn_json_extract_string(c: Call) -> str:
    """ClickHouse's JSONExtractString: the decoded string, '' when the key is missing or null.
    A person's email from `person.properties`, and an event property the store materializes
    (eventstore.HOT_PROPERTIES), read the store's column: decoded from the same JSON by the same
    function (json_extract_string) when the store was built, so the same text without a parse
    per event. A key that is not a literal ({by}, a bound value) picks the column by its value
    (a CASE over the materialized keys: DuckDB evaluates only the branch a row takes), else
    reads the JSON."""
    args = c.need(1, 8)
    m = _PERSON_JSON.fullmatch(args[0])
    key = c.literal(1) if len(args) == 2 else None
    if m and key in HOT_PERSON_PROPERTIES:
        return f"coalesce({m.group(1)}{HOT_PERSON_PROPERTIES[key]}, '')"
    qual = _events_properties(c, args[0]) if len(args) == 2 else None
    if qual is not None:
        dynamic = _json_key_path(c, args)
        if dynamic is None and key in HOT_PROPERTIES:
            return f"coalesce({qual}{HOT_PROPERTIES[key]}, '')"
        if dynamic is not None:
            columns = " ".join(
                f"WHEN {sql_string(name)} THEN {qual}{column}"
                for name, column in HOT_PROPERTIES.items()
            )
            json = f"json_extract_string({args[0]}, {dynamic})"
            return f"coalesce(CASE CAST({args[1]} AS VARCHAR) {columns} ELSE {json} END, '')"
    return f"coalesce({_json_extract_text(c)}, '')"


_PROPERTIES = re.compile(r"(\w+\.|)properties")


def _events_properties(c: Call, arg: str) -> str | None:
    """The qualifier ('' or 'alias.') when `arg` is the events table's own `properties` column
    (where the store's materialized columns are), else None."""
    m = _PROPERTIES.fullmatch(arg)
    if m is None:
        return None
    qual = m.group(1)
    table = c.scope.aliases.get(qual[:-1]) if qual else c.scope.table
    return qual if table == "events" else None


# ClickHouse's JSONExtract(json[, key...], 'T'): the types the local engine reads, `String` and
# `Nullable(String)`, alone or as the elements of a named `Tuple(name T, ...)` (several keys of
# one event read at once on ClickHouse); a name may be quoted with backticks.
_JSON_TEXT_TYPES = {"String": False, "Nullable(String)": True}
_TUPLE_TYPE = re.compile(r"\s*Tuple\s*\((.*)\)\s*", re.S)
_TUPLE_ELEMENT = re.compile(r"\s*(?:`((?:[^`\\]|\\.)+)`|([A-Za-z_$][\w$]*))\s+(\S.*?)\s*", re.S)


def _split_top(text: str) -> list[str]:
    """`text` split at its commas outside parentheses and backticks."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, ch in enumerate(text):
        if ch == "`":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _json_text(doc: str, path: str, nullable: bool) -> str:
    """ClickHouse's JSONExtract(doc, path..., '[Nullable(]String[)]'): a string decoded, any other
    value its JSON text, a number as ClickHouse writes it (`1.0` and `1e3` are `1` and `1000`,
    DuckDB's text without its `.0`); a missing key, a JSON null and a text that is not JSON are
    NULL (Nullable) or ''. Not followed: a whole float inside an array or object (`[2.0]`: DuckDB
    keeps `2.0`, ClickHouse writes `[2]`)."""
    text = f"json_extract_string({doc}, {path})"
    value = (
        f"CASE WHEN json_valid({doc}) THEN CASE json_type({doc}, {path}) WHEN 'DOUBLE'"
        f" THEN regexp_replace({text}, '\\.0$', '') ELSE {text} END END"
    )
    return value if nullable else f"coalesce({value}, '')"


def _fn_json_extract_typed(c: Call) -> str:
    """JSONExtract(json[, key...], 'T') for the types of `_JSON_TEXT_TYPES`, or a named Tuple of
    them (a DuckDB struct, its fields read with tupleElement(t, 'name'))."""
    args = c.need(2, 8)
    kind = c.literal(len(args) - 1)
    if kind is None or not c.text_value(len(args) - 1):
        raise c.err(f"{c.name} needs its type as a string literal, last")
    keys = _literal_keys(c, len(args) - 1)
    doc = args[0]
    if kind.strip() in _JSON_TEXT_TYPES:
        return _json_text(doc, json_path(keys) if keys else "'$'", _JSON_TEXT_TYPES[kind.strip()])
    m = _TUPLE_TYPE.fullmatch(kind)
    fields: list[str] = []
    base = "$" + "".join(f'."{k}"' for k in keys)  # keys checked by json_path below
    for i, part in enumerate(_split_top(m.group(1)) if m else []):
        e = _TUPLE_ELEMENT.fullmatch(part)
        if e is None or e.group(3) not in _JSON_TEXT_TYPES:
            fields = []
            break
        name = e.group(1).replace("\\`", "`") if e.group(1) is not None else e.group(2)
        nullable = _JSON_TEXT_TYPES[e.group(3)]
        # an object's element by name, an array's by position (ClickHouse's rule)
        by_name = _json_text(doc, json_path([*keys, name]), nullable)
        by_place = _json_text(doc, sql_string(f"{base}[{i}]"), nullable)
        kind_at = f"json_type({doc}, {sql_string(base)})"
        value = (
            f"CASE WHEN json_valid({doc}) THEN CASE {kind_at} WHEN 'ARRAY' THEN {by_place}"
            f" ELSE {by_name} END ELSE {by_name} END"
        )
        fields.append(f"{quote_ident(name)} := {value}")
    if not fields:
        raise c.err(
            f"{c.name} type {kind!r} is not supported by the local engine (String,"
            " Nullable(String), or a named Tuple of them, are)"
        )
    return f"struct_pack({', '.join(fields)})"


def _fn_tuple_element(c: Call) -> str:
    """tupleElement(t, 'name') of a named tuple, tupleElement(t, n) (from 1) of any."""
    t, _ = c.need(2)
    which = c.literal(1)
    if which is not None and c.text_value(1):
        return f"struct_extract({t}, {sql_string(which)})"
    if which is None or not which.isdigit() or int(which) < 1:
        raise c.err(f"{c.name} needs a literal element name or index")
    return f"struct_extract_at({t}, {int(which)})"


# ClickHouse's JSONType names for DuckDB's json_type(); a missing key is 'Null' there too.
_JSON_TYPES = (
    "MAP {'VARCHAR': 'String', 'BIGINT': 'Int64', 'UBIGINT': 'UInt64', 'DOUBLE': 'Double',"
    " 'BOOLEAN': 'Bool', 'ARRAY': 'Array', 'OBJECT': 'Object', 'NULL': 'Null'}"
)


def _fn_json_type(c: Call) -> str:
    args = c.need(1, 8)
    path = _json_key_path(c, args)
    if path is None and len(args) > 1:
        keys = [c.literal(n) for n in range(1, len(args))]
        if any(k is None for k in keys):
            raise c.err(f"{c.name} needs literal keys, or one key expression")
        path = json_path([k for k in keys if k is not None])
    kind = f"json_type({args[0]}, {path})" if path else f"json_type({args[0]})"
    return f"coalesce({_JSON_TYPES}[{kind}], 'Null')"


def _fn_json_keys(c: Call) -> str:
    (x,) = c.need(1)
    return f"coalesce(json_keys(CAST({x} AS JSON)), [])"


def _fn_empty(negate: bool) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        (x,) = c.need(1)
        return f"(coalesce(length({x}), 0) {'>' if negate else '='} 0)"

    return handle


def _fn_variadic_op(op: str) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        args = c.need(2, 64)
        return "(" + f" {op} ".join(args) + ")"

    return handle


def _fn_lag(fn: str) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        return f"{fn}({', '.join(c.need(1, 3))})"

    return handle


def _fn_parse_best_effort(c: Call) -> str:
    c.need(1, 2)
    check_tz(c, 1)
    return f"CAST(CAST({c.args[0]} AS TIMESTAMPTZ) AS TIMESTAMP)"


def _unsupported(reason: str) -> Callable[[Call], str]:
    def handle(c: Call) -> str:
        raise c.err(f"HogQL function {c.name!r} is not supported by the local engine: {reason}")

    return handle


FUNCTIONS: dict[str, Callable[[Call], str]] = {
    # null handling and conditionals
    "coalesce": _rename("coalesce"),
    "ifnull": _rename("coalesce", 2, 2),
    "nullif": _rename("nullif", 2, 2),
    "isnull": unary("(({x}) IS NULL)"),
    "isnotnull": unary("(({x}) IS NOT NULL)"),
    "assumenotnull": unary("{x}"),
    "tonullable": unary("{x}"),
    "greatest": _rename("greatest", 1),
    "least": _rename("least", 1),
    # strings
    "lower": _fn_lower,
    "upper": _rename("upper", 1, 1),
    "lowerutf8": _fn_lower_utf8,
    "upperutf8": _rename("upper", 1, 1),
    "length": _rename("length", 1, 1),
    "lengthutf8": _rename("length", 1, 1),
    "concat": _rename("concat", 1),
    "substring": _rename("substring", 2, 3),
    "substr": _rename("substring", 2, 3),
    "left": _rename("left", 2, 2),
    "right": _rename("right", 2, 2),
    # ClickHouse's trimBoth(s[, chars]) (HogQL: trim, btrim) trims spaces only unless given the
    # characters, as DuckDB's trim(s[, chars]) does.
    "trim": _rename("trim", 1, 2),
    "btrim": _rename("trim", 1, 2),
    "trimboth": _rename("trim", 1, 2),
    "trimleft": _rename("ltrim", 1, 1),
    "trimright": _rename("rtrim", 1, 1),
    "reverse": _rename("reverse", 1, 1),
    "replace": _rename("replace", 3, 3),
    "replaceall": _rename("replace", 3, 3),
    "replaceregexpone": _rename("regexp_replace", 3, 3),
    "position": _rename("strpos", 2, 2),
    "positioncaseinsensitive": binary_call("strpos(lower({a}), lower({b}))"),
    "startswith": _rename("starts_with", 2, 2),
    "endswith": _rename("ends_with", 2, 2),
    "like": _fn_like("LIKE"),
    "ilike": _fn_like("ILIKE"),
    "notlike": _fn_like("NOT LIKE"),
    "notilike": _fn_like("NOT ILIKE"),
    "match": _rename("regexp_matches", 2, 2),  # RE2 in both engines, unanchored
    "extract": _fn_extract,
    "splitbychar": _fn_split,
    "splitbystring": _fn_split,
    "empty": _fn_empty(False),
    "notempty": _fn_empty(True),
    "tostring": unary("CAST({x} AS VARCHAR)"),
    "formatdatetime": _rename("strftime", 2, 2),
    # numbers
    "toint": _fn_to_int,
    "toint8": _fn_to_int,
    "toint16": _fn_to_int,
    "toint32": _fn_to_int,
    "toint64": _fn_to_int,
    "touint8": _fn_to_int,
    "touint16": _fn_to_int,
    "touint32": _fn_to_int,
    "touint64": _fn_to_int,
    "tointornull": _fn_to_int,
    "toint64ornull": _fn_to_int,
    "toint32ornull": _fn_to_int,
    "tofloat": unary(FLOAT_OR_NULL),
    "tofloat32": unary("TRY_CAST({x} AS DOUBLE)"),
    "tofloat64": unary("TRY_CAST({x} AS DOUBLE)"),
    "tofloatornull": unary(FLOAT_OR_NULL),
    "tofloat64ornull": unary(FLOAT_OR_NULL),
    "tobool": unary("TRY_CAST({x} AS BOOLEAN)"),
    "round": _fn_round,
    "floor": _fn_floor("floor"),
    "ceil": _fn_floor("ceil"),
    "ceiling": _fn_floor("ceil"),
    "abs": _rename("abs", 1, 1),
    "sqrt": _rename("sqrt", 1, 1),
    "exp": _rename("exp", 1, 1),
    "log": _rename("ln", 1, 1),
    "ln": _rename("ln", 1, 1),
    "log2": _rename("log2", 1, 1),
    "log10": _rename("log10", 1, 1),
    "pow": _rename("pow", 2, 2),
    "power": _rename("pow", 2, 2),
    "intdiv": binary_call("(CAST({a} AS BIGINT) // CAST({b} AS BIGINT))"),
    "modulo": binary_call("({a} % {b})"),
    # ClickHouse's cityHash64 as DuckDB's 64-bit hash: other values, but as stable and as well
    # spread, which is what partitioning by it needs (usertrack.engines.posthog).
    "cityhash64": _rename("hash", 1),
    "plus": binary_call("({a} + {b})"),
    "minus": binary_call("({a} - {b})"),
    "multiply": binary_call("({a} * {b})"),
    "divide": binary_call("({a} / {b})"),
    "equals": binary_call("({a} IS NOT DISTINCT FROM {b})"),
    "notequals": binary_call("({a} IS DISTINCT FROM {b})"),
    "greater": binary_call("({a} > {b})"),
    "greaterorequals": binary_call("({a} >= {b})"),
    "less": binary_call("({a} < {b})"),
    "lessorequals": binary_call("({a} <= {b})"),
    "and": _fn_variadic_op("AND"),
    "or": _fn_variadic_op("OR"),
    # dates and times
    "now": fn_now,
    "today": fn_today,
    "yesterday": fn_yesterday,
    "todate": fn_to_date,
    "todatetime": fn_to_datetime,
    "todatetime64": fn_to_datetime,
    "totimezone": fn_to_timezone,
    "parsedatetimebesteffort": _fn_parse_best_effort,
    "parsedatetime64besteffort": _fn_parse_best_effort,
    "parsedatetimebesteffortornull": _fn_parse_best_effort,
    "tostartofminute": truncate_to("minute"),
    "tostartofhour": truncate_to("hour"),
    "tostartofday": truncate_to("day"),
    "tostartofweek": fn_to_start_of_week,
    "tomonday": fn_to_monday,
    "tostartofmonth": truncate_to("month", as_date=True),
    "tostartofquarter": truncate_to("quarter", as_date=True),
    "tostartofyear": truncate_to("year", as_date=True),
    "tostartofinterval": fn_to_start_of_interval,
    "datetrunc": fn_date_trunc,
    "date_trunc": fn_date_trunc,
    "toyyyymm": fn_yyyymm,
    "toyyyymmdd": fn_yyyymmdd,
    "toyear": date_part("year"),
    "toquarter": date_part("quarter"),
    "tomonth": date_part("month"),
    "todayofmonth": date_part("day"),
    "todayofyear": date_part("dayofyear"),
    "tohour": date_part("hour"),
    "tominute": date_part("minute"),
    "tosecond": date_part("second"),
    "toisoweek": date_part("weekofyear"),
    "todayofweek": fn_to_day_of_week,
    "tounixtimestamp": unary("CAST(epoch(CAST({x} AS TIMESTAMP)) AS BIGINT)"),
    "datediff": fn_date_diff,
    "date_diff": fn_date_diff,
    "dateadd": fn_date_add("+"),
    "date_add": fn_date_add("+"),
    "datesub": fn_date_add("-"),
    "date_sub": fn_date_add("-"),
    "addseconds": fn_add("SECOND", "+"),
    "addminutes": fn_add("MINUTE", "+"),
    "addhours": fn_add("HOUR", "+"),
    "adddays": fn_add("DAY", "+"),
    "addweeks": fn_add("WEEK", "+"),
    "addmonths": fn_add("MONTH", "+"),
    "addyears": fn_add("YEAR", "+"),
    "subtractseconds": fn_add("SECOND", "-"),
    "subtractminutes": fn_add("MINUTE", "-"),
    "subtracthours": fn_add("HOUR", "-"),
    "subtractdays": fn_add("DAY", "-"),
    "subtractweeks": fn_add("WEEK", "-"),
    "subtractmonths": fn_add("MONTH", "-"),
    "subtractyears": fn_add("YEAR", "-"),
    "tointervalsecond": fn_to_interval("SECOND"),
    "tointervalminute": fn_to_interval("MINUTE"),
    "tointervalhour": fn_to_interval("HOUR"),
    "tointervalday": fn_to_interval("DAY"),
    "tointervalweek": fn_to_interval("WEEK"),
    "tointervalmonth": fn_to_interval("MONTH"),
    "tointervalyear": fn_to_interval("YEAR"),
    # arrays
    "has": _rename("list_contains", 2, 2),
    "hasany": _rename("list_has_any", 2, 2),
    "hasall": _rename("list_has_all", 2, 2),
    "indexof": _fn_index_of,
    "arrayjoin": _rename("unnest", 1, 1),
    "arraymap": _fn_array_map("list_transform"),
    "arrayfilter": _fn_array_map("list_filter"),
    "arraysort": _rename("list_sort", 1, 1),
    "arrayreversesort": _rename("list_reverse_sort", 1, 1),
    "arraydistinct": _rename("list_distinct", 1, 1),
    "arrayconcat": _rename("list_concat", 2),
    "arraystringconcat": _fn_array_string_concat,
    "arrayelement": binary_call("{a}[{b}]"),
    "array": _rename("list_value", 0),
    # range(end) / range(start, end): the integers from start (0) up to end, exclusive, in both
    "range": _rename("range", 1, 2),
    "tuple": _rename("row", 1),
    "tupleelement": _fn_tuple_element,
    # JSON
    "jsonextract": _fn_json_extract_typed,
    "jsonextractstring": _fn_json_extract_string,
    "jsonextractraw": _fn_json_extract(None, "json_extract"),
    "jsonextractint": _fn_json_extract("BIGINT"),
    "jsonextractuint": _fn_json_extract("UBIGINT"),
    "jsonextractfloat": _fn_json_extract("DOUBLE"),
    "jsonextractbool": _fn_json_extract("BOOLEAN"),
    "jsonhas": _fn_json_extract(None, "json_exists"),
    "jsontype": _fn_json_type,
    "jsonextractkeys": _fn_json_keys,
    # window functions
    "row_number": _rename("row_number", 0, 0),
    "rank": _rename("rank", 0, 0),
    "dense_rank": _rename("dense_rank", 0, 0),
    "laginframe": _fn_lag("lag"),
    "leadinframe": _fn_lag("lead"),
    "lag": _fn_lag("lag"),
    "lead": _fn_lag("lead"),
    "first_value": _rename("first_value", 1, 1),
    "last_value": _rename("last_value", 1, 1),
    # not available locally, with a reason
    "windowfunnel": _unsupported("funnels need PostHog's ClickHouse; run this query live"),
    "retention": _unsupported("retention() is not available in HogQL either"),
}


def _fn_replace_one(c: Call) -> str:
    s, _needle, b = c.need(3)
    # regexp_replace without 'g' replaces the first match; escape the needle into a pattern.
    lit = c.literal(1)
    if lit is None:
        raise c.err("replaceOne needs a literal needle")
    return f"regexp_replace({s}, {sql_string(re.escape(lit))}, {b})"


def _fn_array_slice(c: Call) -> str:
    args = c.need(2, 3)
    arr, offset = args[0], args[1]
    if len(args) == 2:
        return f"list_slice({arr}, {offset}, length({arr}))"
    return f"list_slice({arr}, {offset}, ({offset}) + ({args[2]}) - 1)"


def _fn_array_split(c: Call) -> str:
    """arraySplit(x -> cond, arr): arr cut before each element (but the first) whose cond holds."""
    f, arr = c.need(2)
    names, _, body = f.removeprefix("lambda ").partition(": ")
    if not f.startswith("lambda ") or "," in names:
        raise c.err(f"{c.name} needs a lambda of one argument")
    split = (
        f"list_filter(range(1, len({arr}) + 1), lambda _split_i: _split_i = 1"
        f" OR list_transform([{arr}[_split_i]], lambda {names}: {body})[1])"
    )
    return (
        f"list_transform(range(1, len({split}) + 1), lambda _split_k:"
        f" {arr}[{split}[_split_k] : coalesce({split}[_split_k + 1] - 1, len({arr}))])"
    )


def _fn_regexp_all(c: Call) -> str:
    s, pattern, repl = c.need(3)
    return f"regexp_replace({s}, {pattern}, {repl}, 'g')"


FUNCTIONS["replaceone"] = _fn_replace_one
FUNCTIONS["arrayslice"] = _fn_array_slice
FUNCTIONS["arraysplit"] = _fn_array_split
FUNCTIONS["arrayzip"] = _rename("list_zip", 2)
FUNCTIONS["replaceregexpall"] = _fn_regexp_all

SUPPORTED_FUNCTIONS: tuple[str, ...] = tuple(
    sorted(
        {*(AGGREGATES), *(f"{a}if" for a in AGGREGATES), "cast", "if", "multiif"}
        | {k for k, v in FUNCTIONS.items() if k not in ("windowfunnel", "retention")}
    )
)
