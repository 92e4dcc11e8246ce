"""An inline `--sql` query checked on PostgreSQL's own parse tree, by an allowlist.

PostgreSQL runs text handed to some functions as a query of its own (`query_to_xml`,
`ts_stat`, `ts_rewrite`, `dblink`), and others reach past the database's tables: the server's
files (`pg_read_file`, `pg_ls_dir`, `lo_import`), other sessions and locks (`pg_advisory_lock`,
`pg_notify`), settings (`set_config`), catalogs a read-only transaction does not protect
(`pg_replication_origin_create`), sequences (`nextval`). A list of those would always miss one,
so the check goes the other way:

- The text is parsed by PostgreSQL's own parser (libpg_query, through `pglast`), so it is read
  exactly as the server reads it: strings, quoted and Unicode-escaped names, comments.
- It must be one SELECT (a WITH, VALUES or TABLE too), with no INTO, no FOR UPDATE/SHARE, and
  no data-modifying WITH.
- Every node of the tree, at any depth, must be of a type on `NODES` (expressions, joins,
  subqueries, CTEs, window and JSON clauses); anything else is refused by its type.
- Every function called, in an expression or in FROM, must be on `FUNCTIONS`: functions that
  only compute on their arguments (maths, text, dates, aggregates, window functions, JSON,
  arrays, ranges). A name qualified by a schema other than pg_catalog is refused, as is an
  operator so qualified (`OPERATOR(s.op)`; PostgreSQL's own operators compute only).
- A cast to an object-identifier type (`'x'::regclass`) looks names up in the catalogs: refused.
- A system catalog relation (in pg_catalog, or any unqualified `pg_*` name, which PostgreSQL
  looks up in pg_catalog first) must be on `CATALOG_RELATIONS`: those that describe the
  database's own tables, columns, types and statistics. Others hold the server's files or
  secrets (`pg_authid`, `pg_file_settings`, `pg_largeobject`) or other sessions' query texts
  (`pg_stat_activity`); a schema of the server's own (`pg_toast`, `pg_temp`) is refused too.

Placeholders `%(name)s` are not PostgreSQL's: they are rewritten to its own `$1..$n` first, and
that text is the one parsed, checked and sent (usertrack.engines.postgres.source binds the values to
`$n` with psycopg's RawCursor, which sends the text untouched). Nothing else changes it, so a
`%` in a string is a literal one, with placeholders or without.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from usertrack.core.errors import UsageError


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Functions that only compute on their arguments (and a clock or random numbers): PostgreSQL's
# documentation, chapter 9, "Functions and Operators". What the grammar itself writes as a call
# (TRIM, SUBSTRING ... FROM, EXTRACT, AT TIME ZONE, SIMILAR TO) is here under its pg_catalog name.
FUNCTIONS = _words(
    """
    abs cbrt ceil ceiling degrees div erf erfc exp factorial floor gamma gcd lcm lgamma ln log
    log10 min_scale mod pi pow power radians round scale sign sqrt trim_scale trunc width_bucket
    random random_normal acos acosd asin asind atan atan2 atan2d atand cos cosd cot cotd sin sind
    tan tand sinh cosh tanh asinh acosh atanh
    ascii bit_length btrim casefold char_length character_length chr concat concat_ws format
    initcap left length lower lpad ltrim md5 normalize is_normalized octet_length overlay position
    quote_ident quote_literal quote_nullable regexp_count regexp_instr regexp_like regexp_match
    regexp_matches regexp_replace regexp_split_to_array regexp_split_to_table regexp_substr
    repeat replace reverse right rpad rtrim split_part starts_with string_to_array
    string_to_table strpos substr substring similar_to_escape translate unistr upper to_hex
    to_bin to_oct to_char to_number to_date to_timestamp encode decode convert convert_from
    convert_to sha224 sha256 sha384 sha512 crc32 crc32c get_bit get_byte bit_count
    gen_random_uuid uuidv4 uuidv7 uuid_extract_timestamp uuid_extract_version
    age date_add date_bin date_part date_subtract date_trunc extract isfinite justify_days
    justify_hours justify_interval make_date make_interval make_time make_timestamp
    make_timestamptz now clock_timestamp statement_timestamp transaction_timestamp timeofday
    timezone overlaps
    array_agg avg bit_and bit_or bit_xor bool_and bool_or count every max min sum any_value
    string_agg json_agg json_agg_strict jsonb_agg jsonb_agg_strict json_object_agg
    json_object_agg_strict json_object_agg_unique json_object_agg_unique_strict jsonb_object_agg
    jsonb_object_agg_strict jsonb_object_agg_unique jsonb_object_agg_unique_strict range_agg
    range_intersect_agg corr covar_pop covar_samp regr_avgx regr_avgy regr_count regr_intercept
    regr_r2 regr_slope regr_sxx regr_sxy regr_syy stddev stddev_pop stddev_samp variance var_pop
    var_samp mode percentile_cont percentile_disc
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
    nth_value
    to_json to_jsonb array_to_json row_to_json json_build_array jsonb_build_array
    json_build_object jsonb_build_object json_object jsonb_object json_array_elements
    jsonb_array_elements json_array_elements_text jsonb_array_elements_text json_array_length
    jsonb_array_length json_each jsonb_each json_each_text jsonb_each_text json_extract_path
    jsonb_extract_path json_extract_path_text jsonb_extract_path_text json_object_keys
    jsonb_object_keys json_populate_record jsonb_populate_record jsonb_populate_record_valid
    json_populate_recordset jsonb_populate_recordset json_to_record jsonb_to_record
    json_to_recordset jsonb_to_recordset json_strip_nulls jsonb_strip_nulls jsonb_set
    jsonb_set_lax jsonb_insert jsonb_path_exists jsonb_path_match jsonb_path_query
    jsonb_path_query_array jsonb_path_query_first jsonb_path_exists_tz jsonb_path_match_tz
    jsonb_path_query_tz jsonb_path_query_array_tz jsonb_path_query_first_tz jsonb_pretty
    json_typeof jsonb_typeof
    array_append array_cat array_dims array_fill array_length array_lower array_ndims
    array_position array_positions array_prepend array_remove array_replace array_reverse
    array_sample array_shuffle array_sort array_to_string array_upper cardinality trim_array
    unnest generate_series generate_subscripts
    isempty lower_inc upper_inc lower_inf upper_inf range_merge int4range int8range numrange
    tsrange tstzrange daterange int4multirange int8multirange nummultirange tsmultirange
    tstzmultirange datemultirange multirange
    num_nulls num_nonnulls pg_typeof
    to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank
    ts_rank_cd ts_headline setweight strip numnode querytree ts_delete ts_filter
    tsvector_to_array array_to_tsvector
    text date int2 int4 int8 float4 float8 numeric bool
    """
)

# The node types a checked SELECT may hold (pglast.ast's names, PostgreSQL's raw parse tree).
NODES = _words(
    """
    RawStmt SelectStmt WithClause CommonTableExpr CTESearchClause CTECycleClause ResTarget
    RangeVar RangeSubselect RangeFunction JoinExpr Alias ColumnDef ColumnRef A_Star A_Const
    String Integer Float Boolean BitString ParamRef A_Expr BoolExpr NullTest BooleanTest SubLink
    CaseExpr CaseWhen CoalesceExpr MinMaxExpr RowExpr A_ArrayExpr A_Indices A_Indirection
    TypeCast TypeName CollateClause FuncCall SQLValueFunction SortBy WindowDef GroupingSet
    GroupingFunc
    JsonAggConstructor JsonArgument JsonArrayAgg JsonArrayConstructor JsonArrayQueryConstructor
    JsonBehavior JsonFormat JsonFuncExpr JsonIsPredicate JsonKeyValue JsonObjectAgg
    JsonObjectConstructor JsonOutput JsonParseExpr JsonReturning JsonScalarExpr
    JsonSerializeExpr JsonTable JsonTableColumn JsonTablePathSpec JsonValueExpr
    """
)

# Casts to these look names up in the catalogs (and regclass takes locks on what it names).
LOOKUP_TYPES = _words(
    "regclass regcollation regconfig regdictionary regnamespace regoper regoperator regproc"
    " regprocedure regrole regtype"
)

# The system catalog relations an inline query may read: what describes the database's own
# tables, columns, types, constraints and statistics (chapters 51 and 52 of PostgreSQL's
# documentation, "System Catalogs" and "System Views"; the statistics views, 27.2). Not on it,
# among others: password hashes (pg_authid, pg_shadow), user mappings' and subscriptions'
# connection strings, large objects, the unfiltered sampled values of every table
# (pg_statistic), the configuration files as read from disk (pg_file_settings,
# pg_hba_file_rules), other sessions' query texts (pg_stat_activity).
CATALOG_RELATIONS = _words(
    """
    pg_tables pg_views pg_matviews pg_indexes pg_sequences pg_class pg_namespace pg_attribute
    pg_attrdef pg_type pg_index pg_constraint pg_description pg_enum pg_inherits pg_depend
    pg_am pg_collation pg_database pg_roles pg_proc pg_operator pg_cast pg_language pg_range
    pg_extension pg_trigger pg_policy pg_policies pg_rewrite pg_rules
    pg_sequence pg_partitioned_table pg_settings pg_timezone_names pg_timezone_abbrevs
    pg_stats pg_stats_ext pg_stat_user_tables pg_stat_all_tables pg_stat_sys_tables
    pg_stat_user_indexes pg_stat_all_indexes pg_stat_sys_indexes pg_statio_user_tables
    pg_statio_all_tables pg_statio_user_indexes pg_statio_all_indexes pg_stat_database
    pg_stat_user_functions pg_locks
    """
)

_WRITES = {"InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE",
           "MergeStmt": "MERGE"}  # fmt: skip
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*|[-+*/<>=~!@#%^&|`?]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FUNCTIONS_NOTE = "functions that compute on their arguments: docs/trust.md"


def placeholder_names(body: str) -> list[str]:
    """The `%(name)s` placeholders of `body` outside its strings, quoted names and comments,
    each once, in their order."""
    return list(dict.fromkeys(m[1] for m in _PLACEHOLDER.finditer(sql_code(body))))


def positional(body: str, order: Sequence[str]) -> str:
    """`body` with each `%(name)s` (outside strings, quoted names and comments) written as
    PostgreSQL's `$n`, n its name's place in `order` (from 1)."""
    numbers = {name: i + 1 for i, name in enumerate(order)}
    parts: list[str] = []
    last = 0
    for m in _PLACEHOLDER.finditer(sql_code(body)):
        before = body[m.start() - 1] if m.start() else " "
        after = body[m.end()] if m.end() < len(body) else " "
        pad_before = " " if before.isalnum() or before in "_$" else ""
        pad_after = " " if after.isalnum() or after in "_$" else ""
        parts += [body[last : m.start()], f"{pad_before}${numbers[m[1]]}{pad_after}"]
        last = m.end()
    parts.append(body[last:])
    return "".join(parts)


def check_sql(text: str, option: str, params: int) -> None:
    """Refuse `text` with a UsageError (exit 2) in one line naming `option` and what it holds,
    unless it is one SELECT of the allowlist's nodes and functions (see the module), whose
    parameters are `$1..$params`."""
    from pglast import ast
    from pglast.parser import ParseError, parse_sql

    try:
        stmts = parse_sql(text)
    except ParseError as e:
        raise UsageError(f"{option} is not valid PostgreSQL: {_line(str(e.args[0]))}") from None
    except RecursionError:
        raise UsageError(f"{option} nests too deep") from None
    if not stmts:
        raise UsageError(f"{option} holds no statement: give one SELECT")
    if len(stmts) > 1:
        raise UsageError(f"{option} holds more than one statement: give one SELECT")
    stmt = stmts[0].stmt
    if not isinstance(stmt, ast.SelectStmt):
        raise UsageError(
            f"{option} is {_statement(text, stmt)}, not a SELECT: usertrack never writes to"
            " your database"
        )
    used: set[int] = set()
    stack: list[Any] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            stack.extend(node)
            continue
        if not isinstance(node, ast.Node):
            continue
        _check_node(node, option, used)
        stack.extend(getattr(node, a) for a in node)
    if used - set(range(1, params + 1)):
        extra = min(used - set(range(1, params + 1)))
        raise UsageError(
            f"{option} holds ${extra}: write a placeholder as %(name)s and give -p name=VALUE"
        )


def select_names(body: str) -> list[str] | None:
    """The names of the columns a query file's SELECT (`body`, its placeholders `%(name)s`)
    answers, read off PostgreSQL's parse tree without asking a database: each item's alias, a
    column's own name, a function's; None where an item is another expression or a `*`, or
    the text does not parse as one SELECT (a dashboard's first rehearsal,
    usertrack.dashboards.prefetch, answers the database's queries empty with these columns)."""
    from pglast import ast
    from pglast.parser import ParseError, parse_sql

    try:
        stmts = parse_sql(positional(body, placeholder_names(body)))
    except (ParseError, RecursionError):
        return None
    stmt = stmts[0].stmt if len(stmts) == 1 else None
    while isinstance(stmt, ast.SelectStmt) and stmt.larg is not None:  # a UNION: its first
        stmt = stmt.larg
    if not isinstance(stmt, ast.SelectStmt) or not stmt.targetList:
        return None
    names: list[str] = []
    for target in stmt.targetList:
        value = target.val
        while isinstance(value, ast.TypeCast) and target.name is None:
            value = value.arg  # PostgreSQL names a cast column by what it casts
        last: Any = (
            value.fields[-1] if isinstance(value, ast.ColumnRef) and value.fields
            else value.funcname[-1] if isinstance(value, ast.FuncCall) and value.funcname
            else None
        )  # fmt: skip
        if target.name is not None:
            names.append(target.name)
        elif isinstance(last, ast.String) and last.sval:
            names.append(last.sval)
        else:
            return None
    return names


def _check_node(node: Any, option: str, used: set[int]) -> None:
    kind = type(node).__name__
    if kind not in NODES:
        raise UsageError(_refused_node(node, kind, option))
    if kind == "FuncCall":
        names = [s.sval for s in node.funcname]
        catalog = len(names) == 1 or (len(names) == 2 and names[0] == "pg_catalog")
        if not catalog or names[-1] not in FUNCTIONS:
            raise UsageError(
                f"{option} calls {_shown(names)}(), which is not on the list of functions an"
                f" inline query may call ({_FUNCTIONS_NOTE})"
            )
    elif kind in ("A_Expr", "SortBy", "SubLink"):
        name = {"A_Expr": "name", "SortBy": "useOp", "SubLink": "operName"}[kind]
        names = [getattr(s, "sval", "") for s in getattr(node, name) or ()]
        if len(names) > 1 and names[0] != "pg_catalog":
            raise UsageError(
                f"{option} uses the operator {_shown(names)}, outside pg_catalog: an inline query"
                " may use PostgreSQL's own operators only"
            )
    elif kind == "TypeName":
        names = [getattr(s, "sval", "") for s in node.names or ()]
        if len(names) > 1 and names[0] != "pg_catalog":
            raise UsageError(
                f"{option} names the type {_shown(names)}, outside pg_catalog: an inline query"
                " may use PostgreSQL's own types and unqualified ones only"
            )
        if names and names[-1] in LOOKUP_TYPES:
            raise UsageError(
                f"{option} casts to {_shown(names[-1:])}, which looks names up in the database's"
                " catalogs: an inline query may not"
            )
    elif kind == "RangeVar":
        _check_relation(node.schemaname, node.relname, option)
    elif kind == "ParamRef":
        used.add(node.number)


def _check_relation(schema: str | None, name: str, option: str) -> None:
    """A relation of the server's own schemas only when it is on CATALOG_RELATIONS."""
    if schema is not None and schema.lower() != "pg_catalog" and schema.lower().startswith("pg_"):
        raise UsageError(
            f"{option} reads {_shown([schema, name])}, in a schema of the server's own: an"
            " inline query reads the database's tables and the catalogs that describe them"
        )
    catalog = schema == "pg_catalog" or (schema is None and name.startswith("pg_"))
    if catalog and name not in CATALOG_RELATIONS:
        raise UsageError(
            f"{option} reads {_shown([name])}, a system catalog relation not on the list an inline"
            " query may read (those that describe tables, columns and statistics: docs/trust.md;"
            " a table of your own named pg_...: write its schema, public.pg_...)"
        )


def _refused_node(node: Any, kind: str, option: str) -> str:
    writes = "usertrack never writes to your database"
    if kind in _WRITES:
        word = _WRITES[kind]
        return (
            f"{option} writes ({'an' if word[0] in 'AEIOU' else 'a'} {word} in its WITH): {writes}"
        )
    if kind == "IntoClause":
        return f"{option} writes (INTO a new table): {writes}"
    if kind == "LockingClause":
        strength = str(getattr(node.strength, "name", "")).removeprefix("LCS_FOR")
        what = {"UPDATE": "UPDATE", "NOKEYUPDATE": "NO KEY UPDATE", "SHARE": "SHARE",
                "KEYSHARE": "KEY SHARE"}.get(strength, "UPDATE")  # fmt: skip
        return f"{option} writes (FOR {what} locks the rows it reads): {writes}"
    article = "an" if kind[:1] in "AEIOU" else "a"
    return (
        f"{option} holds {article} {kind} node, which is not on the list of what an inline query"
        " may hold (one SELECT that computes on its tables' rows: docs/trust.md)"
    )


def _statement(text: str, stmt: Any) -> str:
    """'a DELETE statement', 'an UPDATE statement': by the statement's first word."""
    first = re.match(r"\s*\(*\s*([A-Za-z]+)", sql_code(text))
    word = first[1].upper() if first else type(stmt).__name__
    article = "an" if word[:1] in "AEIOU" else "a"
    return f"{article} {word} statement"


def _shown(names: Sequence[str]) -> str:
    """A dotted name as one safe line, without pg_catalog: plain names as they are, others
    quoted as JSON strings (a newline or a control character in a quoted name stays escaped)."""
    if len(names) > 1 and names[0] == "pg_catalog":
        names = names[1:]
    return ".".join(n if _NAME.fullmatch(n) else json.dumps(n)[:80] for n in names)


def _line(message: str) -> str:
    first = message.splitlines()[0] if message else "syntax error"
    first = _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", first)
    return first if len(first) <= 160 else first[:157] + "..."


def sql_code(sql: str) -> str:
    """`sql` with the contents of its strings, quoted names and comments blanked (same length),
    as PostgreSQL's lexer delimits them: '' inside a string, backslash escapes in E'...', a
    dollar-quoted body up to its own tag, nested /* */ comments. An unterminated one runs to the
    end (PostgreSQL refuses it anyway)."""
    out = list(sql)
    i, n = 0, len(sql)

    def blank(start: int, end: int) -> None:
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j == -1 else j
            blank(i, j)
            i = j
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c in "'\"":
            escapes = c == "'" and i > 0 and sql[i - 1] in "eE" and not _word_before(sql, i - 1)
            j = i + 1
            while j < n:
                if escapes and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            blank(i + 1, j)
            i = j + 1
        elif c == "$" and not _word_before(sql, i):
            tag = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])
            if tag is None:
                i += 1
                continue
            end = sql.find(tag[0], i + len(tag[0]))
            end = n if end == -1 else end
            blank(i + len(tag[0]), end)
            i = end + len(tag[0])
        else:
            i += 1
    return "".join(out)


def _word_before(sql: str, i: int) -> bool:
    """Whether a letter, digit or _ is just before position `i` (a name goes on there)."""
    return i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")
