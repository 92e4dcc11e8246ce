"""The translation itself: a statement checked, its CTEs and scopes, and every expression
translated over the token tree, with the function tables for calls.
"""

from __future__ import annotations

import re

from usertrack.errors import HogQLTranslationError
from usertrack.sources.eventstore import (
    HOT_PERSON_PROPERTIES,
    HOT_PROPERTIES,
)
from usertrack.sources.hogql.aggregates import AGGREGATES
from usertrack.sources.hogql.calls import Agg, Call, Scope
from usertrack.sources.hogql.functions import FUNCTIONS
from usertrack.sources.hogql.tokens import (
    AFTER_TABLE,
    CLAUSES_AFTER_ON,
    FROM_LIST_END,
    KEYWORDS,
    PLAIN_IDENT,
    SELECT_END,
    TYPES,
    UNITS,
    Group,
    Node,
    Tok,
    bracket_tree,
    has_select,
    is_id,
    is_operand,
    json_path,
    line_col,
    quote_ident,
    significant,
    source_text,
    sql_string,
    starts_query,
    tokenize,
)

TABLES = ("events", "persons", "sessions", "person_distinct_ids")


class Translator:
    _in_join_on = False  # inside a JOIN's ON condition (comparisons stay SQL's)

    def __init__(self, text: str) -> None:
        self.text = text
        self.params: list[str] = []
        self.ctes: set[str] = set()

    # ---- entry
    def run(self) -> str:
        tree = bracket_tree(tokenize(self.text), self.text)
        sig = significant(tree)
        while sig and isinstance(sig[-1], Tok) and sig[-1].kind == "op" and sig[-1].text == ";":
            tree.remove(sig[-1])
            sig.pop()
        self._check_statement(sig)
        self._collect_ctes(tree)
        return self._seq(tree, Scope("events", {})).strip()

    def _check_statement(self, sig: list[Node]) -> None:
        """One SELECT, or WITH name AS (...) [, ...] SELECT: never COPY, ATTACH, SET, INSTALL,
        PRAGMA or another statement that DuckDB would run just as readily."""
        if not sig:
            raise HogQLTranslationError("the query is empty")
        k = 0
        if is_id(sig[0], "WITH"):
            k = 2 if is_id(sig[1] if len(sig) > 1 else None, "RECURSIVE") else 1
            while True:
                name = sig[k] if k < len(sig) else None
                if not (isinstance(name, Tok) and name.kind in ("id", "qid")):
                    break
                k += 1
                if k < len(sig) and isinstance(sig[k], Group):  # name(col, ...)
                    k += 1
                if not is_id(sig[k] if k < len(sig) else None, "AS"):
                    break
                k += 1
                while is_id(sig[k] if k < len(sig) else None, "NOT", "MATERIALIZED"):
                    k += 1
                body = sig[k] if k < len(sig) else None
                if not (isinstance(body, Group) and body.open == "(" and starts_query(body)):
                    raise self.error("a WITH query's body must be a SELECT", body or sig[k - 1])
                k += 1
                if k < len(sig) and isinstance(sig[k], Tok) and sig[k].kind == ",":  # type: ignore[union-attr]
                    k += 1
                    continue
                break
        head = sig[k] if k < len(sig) else sig[-1]
        if not is_id(head, "SELECT"):
            word = head.text if isinstance(head, Tok) else head.open
            raise self.error(
                f"only a SELECT query (or WITH ... SELECT) runs on the local engine, not {word!r}",
                head,
            )

    def _collect_ctes(self, items: list[Node]) -> None:
        sig = significant(items)
        for k, node in enumerate(sig):
            if isinstance(node, Group):
                self._collect_ctes(node.items)
                if (
                    k >= 2
                    and is_id(sig[k - 1], "AS")
                    and isinstance(sig[k - 2], Tok)
                    and sig[k - 2].kind in ("id", "qid")  # type: ignore[union-attr]
                    and has_select(node.items)
                ):
                    self.ctes.add(sig[k - 2].value.lower())  # type: ignore[union-attr]

    def error(self, message: str, node: Node | None = None) -> HogQLTranslationError:
        where = f" ({line_col(self.text, node.pos)})" if node is not None else ""
        return HogQLTranslationError(message + where)

    # ---- scopes
    def _scope_for(self, sig: list[Node], outer: Scope) -> Scope:
        primary: str | None = None
        first = True
        aliases: dict[str, str | None] = {}
        for k, node in enumerate(sig):
            if not (is_id(node, "FROM", "JOIN") or self._comma_join(sig, k)):
                continue
            target = sig[k + 1] if k + 1 < len(sig) else None
            kind: str | None
            after = sig[k + 2] if k + 2 < len(sig) else None
            if isinstance(target, Group):
                if not (target.open == "(" and starts_query(target)):
                    raise self.error("a subquery in FROM or JOIN must be a SELECT", target)
                kind = None
            elif isinstance(target, Tok) and target.kind in ("str", "ph"):
                raise self.error(
                    f"{target.text} in table position: the local engine reads only the tables"
                    f" {', '.join(TABLES)} (and CTE names), never a file or a string",
                    target,
                )
            elif (
                isinstance(target, Tok)
                and target.kind in ("id", "qid")
                and isinstance(after, Group)
                and after.open == "("
            ):
                raise self.error(
                    f"table function {target.value}(...) is not supported by the local engine"
                    f" (tables: {', '.join(TABLES)} and CTE names)",
                    target,
                )
            elif isinstance(target, Tok) and target.kind in ("id", "qid"):
                name = target.value
                if name.lower() in self.ctes:
                    kind = None
                elif name.lower() in TABLES:
                    kind = name.lower()
                    aliases.setdefault(name, kind)
                else:
                    raise self.error(
                        f"HogQL table {name!r} is not supported by the local engine"
                        f" (supported: {', '.join(TABLES)})",
                        target,
                    )
            else:
                continue
            j = k + 2
            if j < len(sig) and is_id(sig[j], "AS"):
                j += 1
            if (
                j < len(sig)
                and isinstance(sig[j], Tok)
                and sig[j].kind in ("id", "qid")  # type: ignore[union-attr]
                and not is_id(sig[j], *AFTER_TABLE)
            ):
                aliases[sig[j].value] = kind  # type: ignore[union-attr]
            if first:
                primary, first = kind, False
        if first:  # SELECT without FROM
            return Scope(outer.table, dict(outer.aliases))
        merged = dict(outer.aliases)
        merged.update(aliases)
        return Scope(primary, merged)

    @staticmethod
    def _comma_join(sig: list[Node], k: int) -> bool:
        """Is sig[k] the comma of `FROM a [AS x], b`, so that sig[k + 1] is a table too?"""
        if not (isinstance(sig[k], Tok) and sig[k].kind == ","):  # type: ignore[union-attr]
            return False
        for j in range(k - 1, -1, -1):
            node = sig[j]
            if is_id(node, "FROM", "JOIN"):
                return True
            if is_id(node, *FROM_LIST_END):
                return False
        return False

    # ---- sequences
    def _seq(self, items: list[Node], scope: Scope) -> str:
        sig = significant(items)
        if sig and is_id(sig[0], "FROM"):
            raise self.error(
                "a query must start with SELECT (DuckDB's FROM-first form is not HogQL)", sig[0]
            )
        if has_select(items):
            # Split at UNION/INTERSECT/EXCEPT so that each SELECT resolves its own FROM.
            out: list[str] = []
            part: list[Node] = []
            for node in items:
                if is_id(node, "UNION", "INTERSECT", "EXCEPT"):
                    out.append(self._select_part(part, scope))
                    out.append(node.text)  # type: ignore[union-attr]
                    part = []
                else:
                    part.append(node)
            out.append(self._select_part(part, scope))
            return "".join(out)
        return self._items(items, scope, select_level=False)

    def _select_part(self, items: list[Node], outer: Scope) -> str:
        if not has_select(items):
            # after UNION [ALL]: only a bracketed query (never DuckDB's `FROM 'file.csv'`)
            rest = significant(items)
            while rest and is_id(rest[0], "ALL", "DISTINCT"):
                rest = rest[1:]
            if rest and not (
                len(rest) == 1 and isinstance(rest[0], Group) and starts_query(rest[0])
            ):
                raise self.error(
                    "UNION, INTERSECT and EXCEPT must be followed by a SELECT", rest[0]
                )
            return self._items(items, outer, select_level=False)
        scope = self._scope_for(significant(items), outer)
        # Translate the select list item by item, so that an item without an alias can be named
        # as HogQL names it (the field name, or the expression text) rather than as DuckDB would
        # name its translation (`prop_pathname`, `count_star()`).
        start = next(k for k, x in enumerate(items) if is_id(x, "SELECT")) + 1
        while start < len(items) and (
            is_id(items[start], "DISTINCT")
            or (isinstance(items[start], Tok) and items[start].kind in ("ws", "comment"))  # type: ignore[union-attr]
        ):
            start += 1
        end = next(
            (k for k in range(start, len(items)) if is_id(items[k], *SELECT_END)), len(items)
        )
        out = [self._items(items[:start], scope, select_level=True)]
        for n, part in enumerate(self._split_args(items[start:end]) or [[]]):
            if n:
                out.append(",")
            text = self._items(part, scope, select_level=True)
            name = self._column_name(part)
            if name is not None:
                text = f"{text.rstrip()} AS {quote_ident(name)}" + text[len(text.rstrip()) :]
            out.append(text)
        out.append(self._items(items[end:], scope, select_level=True))
        return "".join(out)

    def _column_name(self, part: list[Node]) -> str | None:
        """The HogQL name of a select item without an alias, or None to keep DuckDB's name."""
        sig = significant(part)
        if not sig:
            return None
        if len(sig) >= 2 and (
            is_id(sig[-2], "AS")
            or (
                isinstance(sig[-1], Tok)
                and sig[-1].kind in ("id", "qid")
                and not is_id(sig[-1], *KEYWORDS)
                and not (isinstance(sig[-2], Tok) and sig[-2].kind in (".", "op"))
                and not is_id(sig[-2], *KEYWORDS)
            )
        ):
            return None  # explicit or implicit alias
        if all(isinstance(x, Tok) and x.kind in ("id", "qid", ".") for x in sig):
            names = [x.value for x in sig if isinstance(x, Tok) and x.kind in ("id", "qid")]
            if len(names) >= 2 and ("properties" in names[:-1] or "person_properties" in names):
                return names[-1]  # properties.$browser -> $browser
            return None  # a column: DuckDB names it as HogQL does
        if len(sig) == 2 and isinstance(sig[1], Group) and sig[1].open == "[":
            return None
        if len(sig) == 1 and isinstance(sig[0], Tok) and sig[0].kind == "op":
            return None  # *
        text = "".join(source_text(x) for x in part).strip()
        return re.sub(r"\s+", " ", text)

    def _items(self, items: list[Node], scope: Scope, *, select_level: bool) -> str:
        out: list[str] = []
        idx = [
            k
            for k, x in enumerate(items)
            if not (isinstance(x, Tok) and x.kind in ("ws", "comment"))
        ]
        pos_in_sig = {k: n for n, k in enumerate(idx)}
        sig = [items[k] for k in idx]
        consumed: set[int] = set()  # indices into `items`

        def nxt(k: int, step: int = 1) -> Node | None:
            n = pos_in_sig[k] + step
            return sig[n] if 0 <= n < len(sig) else None

        def item_index(node_sig_pos: int) -> int:
            return idx[node_sig_pos]

        k = 0
        while k < len(items):
            if k in consumed:
                k += 1
                continue
            node = items[k]
            if isinstance(node, Group):
                on_before = self._in_join_on
                if starts_query(node):
                    self._in_join_on = False
                inner = self._seq(node.items, scope)
                self._in_join_on = on_before
                out.append(f"({inner})" if node.open == "(" else f"[{inner}]")
                k += 1
                continue
            if select_level and isinstance(node, Tok) and node.kind == "id":
                word = node.value.upper()
                if word == "ON":
                    self._in_join_on = True
                elif word in CLAUSES_AFTER_ON:
                    self._in_join_on = False
            kind = node.kind
            if kind == "ws":
                out.append(node.text)
            elif kind == "comment":
                out.append(" ")
            elif kind in ("str", "ph") and self._before_interval(sig, pos_in_sig[k]):
                # '2024-01-01 00:00:00' - INTERVAL 7 DAY: ClickHouse (since 23.10) reads the string
                # as a date and time; DuckDB needs the cast spelled out.
                text = sql_string(node.value) if kind == "str" else self._placeholder(node.value)
                out.append(f"CAST(CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP)")
            elif kind == "str":
                out.append(sql_string(node.value))
                prev = nxt(k, -1)
                if is_id(prev, "LIKE", "ILIKE") and "\\" in node.value:
                    out.append(" ESCAPE '\\'")
            elif kind == "num":
                out.append(node.text)
            elif kind == "ph":
                out.append(self._placeholder(node.value))
            elif kind == "op" and node.text == "::":
                after = nxt(k)
                if not is_id(after):
                    raise self.error("'::' must be followed by a type name", node)
                n = pos_in_sig[k] + 1
                type_items: list[Node] = [sig[n]]
                consumed.add(item_index(n))
                if (
                    n + 1 < len(sig)
                    and isinstance(sig[n + 1], Group)
                    and item_index(n + 1) == item_index(n) + 1
                ):
                    type_items.append(sig[n + 1])
                    consumed.add(item_index(n + 1))
                out.append("::" + self._cast_type(type_items, node))
            elif kind == "op":
                out.append(self._op(node))
            elif kind in (",", "."):
                out.append(node.text)
            elif kind == "qid" or kind == "id":
                word = node.value.upper() if kind == "id" else ""
                after = nxt(k)
                if word == "INTERVAL":
                    text, used = self._interval(sig, pos_in_sig[k], scope)
                    out.append(text)
                    k = item_index(pos_in_sig[k] + used) + 1
                    continue
                elif word == "LIMIT" and self._limit_comma(sig, pos_in_sig[k]):
                    off, cnt = sig[pos_in_sig[k] + 1], sig[pos_in_sig[k] + 3]
                    out.append(f"LIMIT {cnt.text} OFFSET {off.text}")  # type: ignore[union-attr]
                    k = item_index(pos_in_sig[k] + 3) + 1
                    continue
                elif (
                    select_level
                    and word in ("FROM", "JOIN")
                    and isinstance(after, Tok)
                    and after.kind in ("id", "qid")
                ):
                    out.append(node.text)
                    # the table name itself: emitted as written (checked in _scope_for)
                    t_idx = item_index(pos_in_sig[k] + 1)
                    out.extend(self._items_plain(items[k + 1 : t_idx]))
                    out.append(quote_ident(after.value))
                    k = t_idx + 1
                    continue
                elif (
                    kind == "id"
                    and isinstance(after, Group)
                    and after.open == "("
                    and (
                        word not in KEYWORDS
                        # like(a, b), and(a, b): told from `x LIKE (b)` by what comes before
                        or (
                            word in ("LIKE", "ILIKE", "AND", "OR")
                            and len(self._split_args(after.items)) >= 2
                            and not is_operand(nxt(k, -1))
                        )
                    )
                ):
                    param_group: Group | None = None
                    args_group = after
                    used = 1
                    after2 = nxt(k, 2)
                    if (
                        isinstance(after2, Group)
                        and after2.open == "("
                        and item_index(pos_in_sig[k] + 2) == k + 2
                    ):
                        param_group, args_group, used = after, after2, 2
                    before = nxt(k, -1)
                    if isinstance(before, Tok) and before.kind == ".":
                        raise self._method_call(node)
                    out.append(self._call(node, args_group, param_group, scope))
                    for n in range(pos_in_sig[k] + 1, pos_in_sig[k] + 1 + used):
                        consumed.add(item_index(n))
                else:
                    text, used_items = self._chain(items, k, scope)
                    rest = significant(items[k + used_items :])
                    if (
                        rest
                        and isinstance(rest[0], Group)
                        and rest[0].open == "("
                        and (kind == "qid" or text.count(".") or used_items > 1)
                        and not is_id(node, *KEYWORDS)
                    ):
                        raise self._method_call(node)
                    out.append(text)
                    k += used_items
                    continue
            else:  # pragma: no cover - tokenizer kinds are closed
                raise self.error(f"unexpected token {node.text!r}", node)
            k += 1
        return "".join(out)

    def _method_call(self, node: Tok) -> HogQLTranslationError:
        """`x.md5()` is DuckDB's method-call form of md5(x) and "md5"(x) a quoted name: both
        would call a function without the allow-list of SUPPORTED_FUNCTIONS seeing it."""
        return self.error(
            'a call written as x.f() or "f"(x) is not supported by the local engine;'
            " write f(x) with a supported function",
            node,
        )

    @staticmethod
    def _items_plain(items: list[Node]) -> list[str]:
        return [x.text if isinstance(x, Tok) and x.kind == "ws" else " " for x in items]

    def _placeholder(self, name: str) -> str:
        if name == "filters":
            return "TRUE"
        if name not in self.params:
            self.params.append(name)
        return f"${name}"

    def _op(self, node: Tok) -> str:
        op = node.text
        if op in ("=", "==", "!=", "<>") and not self._in_join_on:
            # PostHog's comparisons are two-valued: it wraps them in ifNull() by the operands'
            # nullability, so `NULL != 'x'` is true and `NULL = NULL` true (printer/clickhouse.py
            # visit_compare_operation); JOIN ON conditions are left as they are.
            return " IS NOT DISTINCT FROM " if op in ("=", "==") else " IS DISTINCT FROM "
        if op == "==":
            return "="
        if op in ("?", ":"):
            raise self.error(
                "the ternary operator 'cond ? a : b' is not supported by the local engine;"
                " use if(cond, a, b)",
                node,
            )
        if op == ";":
            raise self.error("only one statement per query is supported", node)
        if op == "->":
            raise self.error("a lambda '->' is only supported as a function argument", node)
        return op

    def _type_name(self, name: str, inner: str | None, node: Node) -> str:
        low = name.lower()
        if low in ("nullable", "lowcardinality") and inner:
            return inner
        if low in TYPES:
            return TYPES[low]
        raise self.error(f"type {name!r} is not supported by the local engine", node)

    def _cast_type(self, items: list[Node], node: Node) -> str:
        """A ClickHouse type written as tokens: String, Nullable(String), DateTime64(3, 'UTC')."""
        sig = significant(items)
        if sig and isinstance(sig[0], Tok) and sig[0].kind == "str":
            return self._cast_type(
                significant(bracket_tree(tokenize(sig[0].value), sig[0].value)), node
            )
        if not sig or not is_id(sig[0]):
            raise self.error("CAST needs a type name", node)
        name = sig[0].value  # type: ignore[union-attr]
        inner = None
        if (
            len(sig) > 1
            and isinstance(sig[1], Group)
            and name.lower()
            in (
                "nullable",
                "lowcardinality",
            )
        ):
            inner = self._cast_type(sig[1].items, node)
        return self._type_name(name, inner, node)

    @staticmethod
    def _before_interval(sig: list[Node], n: int) -> bool:
        """Is sig[n] followed by `+ INTERVAL` or `- INTERVAL`?"""
        op = sig[n + 1] if n + 1 < len(sig) else None
        return (
            isinstance(op, Tok)
            and op.kind == "op"
            and op.text in ("+", "-")
            and n + 2 < len(sig)
            and is_id(sig[n + 2], "INTERVAL")
        )

    def _limit_comma(self, sig: list[Node], n: int) -> bool:
        part = sig[n + 1 : n + 4]
        return (
            len(part) == 3
            and isinstance(part[0], Tok)
            and part[0].kind == "num"
            and isinstance(part[1], Tok)
            and part[1].kind == ","
            and isinstance(part[2], Tok)
            and part[2].kind == "num"
        )

    def _interval(self, sig: list[Node], n: int, scope: Scope) -> tuple[str, int]:
        """INTERVAL <value> <unit>: returns the DuckDB text and the number of sig nodes used."""
        value = sig[n + 1] if n + 1 < len(sig) else None
        unit = sig[n + 2] if n + 2 < len(sig) else None
        if isinstance(value, Tok) and value.kind == "str":
            if is_id(unit) and unit.value.lower() in UNITS:  # type: ignore[union-attr]
                num = value.value.strip()
                return f"INTERVAL ({sql_string(num)}) {UNITS[unit.value.lower()]}", 2  # type: ignore[union-attr]
            return f"INTERVAL {sql_string(value.value)}", 1
        if value is None or not (is_id(unit) and unit.value.lower() in UNITS):  # type: ignore[union-attr]
            raise self.error("INTERVAL must be written INTERVAL <number> <unit>", sig[n])
        unit_sql = UNITS[unit.value.lower()]  # type: ignore[union-attr]
        if isinstance(value, Tok) and value.kind == "num":
            return f"INTERVAL {value.text} {unit_sql}", 2
        if isinstance(value, Tok) and value.kind == "ph":
            return f"INTERVAL ({self._placeholder(value.value)}) {unit_sql}", 2
        if isinstance(value, Group) and value.open == "(":
            return f"INTERVAL ({self._seq(value.items, scope)}) {unit_sql}", 2
        raise self.error("INTERVAL must be written INTERVAL <number> <unit>", sig[n])

    # ---- field access
    def _chain(self, items: list[Node], k: int, scope: Scope) -> tuple[str, int]:
        """Read `a.b."c"['d']` starting at items[k]; return (DuckDB text, items consumed)."""
        first = items[k]
        assert isinstance(first, Tok)
        parts = [first.value]
        quoted = [first.kind == "qid"]
        j = k + 1
        while j < len(items):
            node = items[j]
            if (
                isinstance(node, Tok)
                and node.kind == "."
                and j + 1 < len(items)
                and isinstance(items[j + 1], Tok)
                and items[j + 1].kind in ("id", "qid")  # type: ignore[union-attr]
            ):
                nxt = items[j + 1]
                assert isinstance(nxt, Tok)
                parts.append(nxt.value)
                quoted.append(nxt.kind == "qid")
                j += 2
                continue
            if (
                isinstance(node, Group)
                and node.open == "["
                and ("properties" in parts or "person_properties" in parts)
                and len(significant(node.items)) == 1
                and isinstance(significant(node.items)[0], Tok)
                and significant(node.items)[0].kind == "str"  # type: ignore[union-attr]
            ):
                parts.append(significant(node.items)[0].value)  # type: ignore[union-attr]
                quoted.append(True)
                j += 1
                continue
            break
        return self._resolve(parts, quoted, scope, first), j - k

    def _resolve(self, parts: list[str], quoted: list[bool], scope: Scope, node: Tok) -> str:
        if len(parts) == 1 and not quoted[0]:
            name = parts[0]
            if name == "$session_id" and scope.table == "events":
                return HOT_PROPERTIES["$session_id"]
            return name if PLAIN_IDENT.fullmatch(name) else quote_ident(name)
        qual = ""
        table = scope.table
        rest = parts
        if len(parts) > 1 and parts[0] in scope.aliases:
            qual = quote_ident(parts[0]) + "."
            table = scope.aliases[parts[0]]
            rest = parts[1:]
        head = rest[0]
        if head == "properties" and len(rest) >= 2:
            keys = rest[1:]
            if table == "events" and len(keys) == 1 and keys[0] in HOT_PROPERTIES:
                return qual + HOT_PROPERTIES[keys[0]]
            return f"json_extract_string({qual}properties, {json_path(keys)})"
        if head in ("person", "poe") and len(rest) >= 2:
            if rest[1] == "properties" and len(rest) >= 3:
                return self._person_prop(qual, table, rest[2:])
            if rest[1] == "properties" and table == "events":
                return qual + "person_properties"  # the JSON text, for JSONExtract*()
            if rest[1] == "id" and len(rest) == 2:
                return qual + "person_id"
            raise self.error(
                f"HogQL field {'.'.join(rest)!r} is not supported by the local engine"
                " (person.properties.* and person.id are)",
                node,
            )
        if head == "person_properties" and len(rest) >= 2:
            return self._person_prop(qual, table, rest[1:])
        if head == "pdi" and len(rest) == 2 and rest[1] in ("person_id", "distinct_id"):
            return qual + rest[1]
        if head == "session" and len(rest) >= 2 and table == "events":
            raise self.error(
                f"HogQL field {'.'.join(rest)!r} (the events-to-sessions lazy join) is not"
                " supported by the local engine; join the sessions table on"
                " events.$session_id = sessions.session_id instead",
                node,
            )
        if len(rest) == 1 and rest[0] == "$session_id" and table == "events":
            return qual + HOT_PROPERTIES["$session_id"]
        return qual + ".".join(quote_ident(p) for p in rest)

    @staticmethod
    def _person_prop(qual: str, table: str | None, keys: list[str]) -> str:
        if table == "events" and len(keys) == 1 and keys[0] in HOT_PERSON_PROPERTIES:
            return qual + HOT_PERSON_PROPERTIES[keys[0]]
        return f"json_extract_string({qual}person_properties, {json_path(keys)})"

    # ---- function calls
    def _split_args(self, items: list[Node]) -> list[list[Node]]:
        args: list[list[Node]] = [[]]
        for node in items:
            if isinstance(node, Tok) and node.kind == ",":
                args.append([])
            else:
                args[-1].append(node)
        if len(args) == 1 and not significant(args[0]):
            return []
        return args

    def arg(self, items: list[Node], scope: Scope) -> str:
        sig = significant(items)
        # lambda: x -> expr, or (x, y) -> expr
        if (
            len(sig) >= 3
            and isinstance(sig[1], Tok)
            and sig[1].kind == "op"
            and sig[1].text == "->"
        ):
            head = sig[0]
            if is_id(head):
                names = [head.value]  # type: ignore[union-attr]
            elif isinstance(head, Group) and all(
                is_id(x) or (isinstance(x, Tok) and x.kind == ",") for x in significant(head.items)
            ):
                names = [x.value for x in significant(head.items) if is_id(x)]  # type: ignore[union-attr]
            else:
                raise self.error("malformed lambda", sig[1])
            body_start = items.index(sig[1]) + 1
            body = self._seq(items[body_start:], scope).strip()
            return f"lambda {', '.join(names)}: {body}"
        return self._seq(items, scope).strip()

    @staticmethod
    def literal(items: list[Node]) -> str | None:
        sig = significant(items)
        if len(sig) == 1 and isinstance(sig[0], Tok) and sig[0].kind in ("str", "num"):
            return sig[0].value
        if len(sig) == 1 and is_id(sig[0]):  # a bare unit keyword: dateDiff(day, a, b)
            return sig[0].value  # type: ignore[union-attr]
        return None

    @staticmethod
    def is_text_value(items: list[Node]) -> bool:
        """A string literal or a placeholder: a value that arrives as text."""
        sig = significant(items)
        return len(sig) == 1 and isinstance(sig[0], Tok) and sig[0].kind in ("str", "ph")

    def _call(self, name_tok: Tok, group: Group, params: Group | None, scope: Scope) -> str:
        name = name_tok.value
        low = name.lower()
        raw = self._split_args(group.items)
        distinct = False
        if raw and significant(raw[0]) and is_id(significant(raw[0])[0], "DISTINCT"):
            distinct = True
            first = raw[0]
            raw[0] = first[first.index(significant(first)[0]) + 1 :]
        if low == "cast":
            return self._cast(raw, group, scope, name_tok)
        if low == "extract" and any(is_id(x, "FROM") for x in significant(group.items)):
            return f"extract({self._seq(group.items, scope)})"
        if low in ("if", "multiif"):
            return self._if(raw, scope, name_tok)
        call = Call(self, name, low, raw, scope, name_tok)
        param_args = [self.arg(a, scope) for a in self._split_args(params.items)] if params else []
        agg = self._aggregate(call, distinct, param_args)
        if agg is not None:
            text = agg.expr
            if agg.conds:
                text += " FILTER (WHERE " + " AND ".join(agg.conds) + ")"
            return agg.wrap(text) if agg.wrap else text
        if params is not None:
            raise self.error(
                f"the parametric form of HogQL function {name!r} is not supported", name_tok
            )
        if distinct:
            raise self.error(
                f"DISTINCT is only supported inside aggregate functions, not {name!r}", name_tok
            )
        handler = FUNCTIONS.get(low)
        if handler is None:
            raise self.error(
                f"HogQL function {name!r} is not supported by the local engine", name_tok
            )
        return handler(call)

    def _cast(self, raw: list[list[Node]], group: Group, scope: Scope, node: Tok) -> str:
        if len(raw) == 2:  # CAST(x, 'Type')
            return f"CAST({self.arg(raw[0], scope)} AS {self._cast_type(raw[1], node)})"
        if len(raw) == 1:
            items = raw[0]
            sig = significant(items)
            as_pos = [n for n, x in enumerate(sig) if is_id(x, "AS")]
            if as_pos:
                cut = items.index(sig[as_pos[-1]])
                expr = self._seq(items[:cut], scope).strip()
                return f"CAST({expr} AS {self._cast_type(items[cut + 1 :], node)})"
        raise self.error("CAST must be written CAST(x AS Type)", node)

    def _if(self, raw: list[list[Node]], scope: Scope, node: Tok) -> str:
        args = [self.arg(a, scope) for a in raw]
        if len(args) < 3 or len(args) % 2 == 0:
            raise self.error(f"{node.value} needs condition/value pairs and an else value", node)
        whens = " ".join(f"WHEN {args[n]} THEN {args[n + 1]}" for n in range(0, len(args) - 1, 2))
        return f"(CASE {whens} ELSE {args[-1]} END)"

    def _aggregate(self, call: Call, distinct: bool, params: list[str]) -> Agg | None:
        low = call.low
        builder = AGGREGATES.get(low)
        cond: str | None = None
        if builder is None and low.endswith("if") and low[:-2] in AGGREGATES:
            builder = AGGREGATES[low[:-2]]
            if not call.args:
                raise self.error(f"{call.name} needs a condition argument", call.node)
            cond = call.args[-1]
            call = Call(self, call.name, low[:-2], call.raw[:-1], call.scope, call.node)
            call.conditional = True
        if builder is None:
            return None
        agg = builder(call, distinct, params)
        if cond is not None:
            agg.conds.append(cond)
        return agg
