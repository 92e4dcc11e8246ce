"""Expressions over the token tree: operators, placeholders, intervals, method-style calls,
`LIMIT a, b`, each token translated in its context.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from usertrack.core.errors import HogQLTranslationError
from usertrack.engines.hogql.calls import Scope
from usertrack.engines.hogql.function_calls import Calls
from usertrack.engines.hogql.functions import email_column_of
from usertrack.engines.hogql.tokens import (
    CLAUSES_AFTER_ON,
    KEYWORDS,
    UNITS,
    Group,
    Node,
    Tok,
    is_id,
    is_operand,
    quote_ident,
    significant,
    sql_string,
    starts_query,
)

# What stands around `a IN (...)` when the test is a whole operand (as the bracketed test that
# may replace it is): before it, the start of a condition, clause or item; after it, a looser
# operator or the end of one. Anything else (`x || a IN ...`, `a IN ... = 1`) keeps it as it is.
_OPERAND_BEFORE = {"AND", "OR", "NOT", "WHERE", "PREWHERE", "HAVING", "ON", "WHEN", "THEN"}
_OPERAND_BEFORE |= {"ELSE", "SELECT"}
_OPERAND_AFTER = {"AND", "OR", "WHEN", "THEN", "ELSE", "END", "AS", "GROUP", "ORDER", "HAVING"}
_OPERAND_AFTER |= {"LIMIT", "UNION", "WINDOW", "SETTINGS"}


def _is_comma(node: Node) -> bool:
    return isinstance(node, Tok) and node.kind == ","


def _lists_empty(group: Group) -> bool:
    """Is `group` `(SELECT arrayJoin(arrayConcat([''], {name})))`: the rows of a bound list
    with '' ahead of it?"""
    sig = significant(group.items)
    if not (len(sig) == 3 and is_id(sig[0], "SELECT") and is_id(sig[1], "ARRAYJOIN")):
        return False
    call = sig[2]
    if not (isinstance(call, Group) and call.open == "("):
        return False
    inner = significant(call.items)
    if not (len(inner) == 2 and is_id(inner[0], "ARRAYCONCAT") and isinstance(inner[1], Group)):
        return False
    args = significant(inner[1].items)
    if not (len(args) == 3 and isinstance(args[0], Group) and args[0].open == "["):
        return False
    empty = significant(args[0].items)
    return (
        len(empty) == 1
        and isinstance(empty[0], Tok)
        and empty[0].kind == "str"
        and empty[0].value == ""
        and _is_comma(args[1])
        and isinstance(args[2], Tok)
        and args[2].kind == "ph"
    )


@dataclass
class _Cursor:
    """A list of items seen through its significant ones (not whitespace or comments), and the
    items already written by the item before them (a cast's type, a call's argument groups)."""

    items: list[Node]
    idx: list[int]  # the significant items' indices into `items`
    pos_in_sig: dict[int, int]  # index into `items` -> position among the significant ones
    sig: list[Node]
    consumed: set[int] = field(default_factory=set)  # indices into `items`

    @classmethod
    def over(cls, items: list[Node]) -> _Cursor:
        idx = [
            k
            for k, x in enumerate(items)
            if not (isinstance(x, Tok) and x.kind in ("ws", "comment"))
        ]
        return cls(items, idx, {k: n for n, k in enumerate(idx)}, [items[k] for k in idx])

    def nxt(self, k: int, step: int = 1) -> Node | None:
        """The significant item `step` places from the item at `k`, if any."""
        n = self.pos_in_sig[k] + step
        return self.sig[n] if 0 <= n < len(self.sig) else None

    def item_index(self, node_sig_pos: int) -> int:
        return self.idx[node_sig_pos]


class Expressions(Calls):
    """Every token of an expression in its context."""

    def _items(self, items: list[Node], scope: Scope, *, select_level: bool) -> str:
        out: list[str] = []
        cur = _Cursor.over(items)
        k = 0
        while k < len(items):
            if k in cur.consumed:
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
            if select_level and node.kind == "id":
                word = node.value.upper()
                if word == "ON":
                    self._in_join_on = True
                elif word in CLAUSES_AFTER_ON:
                    self._in_join_on = False
            if node.kind in ("qid", "id"):
                k = self._word(cur, k, node, scope, out, select_level=select_level)
                continue
            out.append(self._token(cur, k, node))
            k += 1
        return "".join(out)

    def _token(self, cur: _Cursor, k: int, node: Tok) -> str:
        """A token that is not a name: text, numbers, placeholders, operators, punctuation."""
        kind = node.kind
        if kind == "ws":
            return node.text
        if kind == "comment":
            return " "
        if kind in ("str", "ph") and self._before_interval(cur.sig, cur.pos_in_sig[k]):
            # '2024-01-01 00:00:00' - INTERVAL 7 DAY: ClickHouse (since 23.10) reads the string
            # as a date and time; DuckDB needs the cast spelled out.
            text = sql_string(node.value) if kind == "str" else self._placeholder(node.value)
            return f"CAST(CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP)"
        if kind == "str":
            prev = cur.nxt(k, -1)
            if is_id(prev, "LIKE", "ILIKE") and "\\" in node.value:
                return sql_string(node.value) + " ESCAPE '\\'"
            return sql_string(node.value)
        if kind == "num":
            return node.text
        if kind == "ph":
            return self._placeholder(node.value)
        if kind == "op" and node.text == "::":
            return "::" + self._cast_type(self._cast_items(cur, k, node), node)
        if kind == "op":
            return self._op(node)
        if kind in (",", "."):
            return node.text
        raise self.error(f"unexpected token {node.text!r}", node)  # pragma: no cover

    def _cast_items(self, cur: _Cursor, k: int, node: Tok) -> list[Node]:
        """The type after `::` (a name, and its parenthesised arguments when they touch it),
        consumed."""
        if not is_id(cur.nxt(k)):
            raise self.error("'::' must be followed by a type name", node)
        sig = cur.sig
        n = cur.pos_in_sig[k] + 1
        type_items: list[Node] = [sig[n]]
        cur.consumed.add(cur.item_index(n))
        if (
            n + 1 < len(sig)
            and isinstance(sig[n + 1], Group)
            and cur.item_index(n + 1) == cur.item_index(n) + 1
        ):
            type_items.append(sig[n + 1])
            cur.consumed.add(cur.item_index(n + 1))
        return type_items

    def _word(
        self, cur: _Cursor, k: int, node: Tok, scope: Scope, out: list[str], *, select_level: bool
    ) -> int:
        """A name or keyword at `k`, written to `out`: INTERVAL, `LIMIT a, b`, the table after
        FROM/JOIN, a function call, or a chain of names. Returns the index of the next item."""
        items, sig, pos = cur.items, cur.sig, cur.pos_in_sig[k]
        kind = node.kind
        word = node.value.upper() if kind == "id" else ""
        after = cur.nxt(k)
        if word == "INTERVAL":
            text, used = self._interval(sig, pos, scope)
            out.append(text)
            return cur.item_index(pos + used) + 1
        if word == "LIMIT" and self._limit_comma(sig, pos):
            off, cnt = sig[pos + 1], sig[pos + 3]
            out.append(f"LIMIT {cnt.text} OFFSET {off.text}")  # type: ignore[union-attr]
            return cur.item_index(pos + 3) + 1
        if (
            select_level
            and word in ("FROM", "JOIN")
            and isinstance(after, Tok)
            and after.kind in ("id", "qid")
        ):
            out.append(node.text)
            # the table name itself: emitted as written (checked in _scope_for)
            t_idx = cur.item_index(pos + 1)
            out.extend(self._items_plain(items[k + 1 : t_idx]))
            out.append(quote_ident(after.value))
            return t_idx + 1
        if (
            kind == "id"
            and isinstance(after, Group)
            and after.open == "("
            and (
                word not in KEYWORDS
                # like(a, b), and(a, b): told from `x LIKE (b)` by what comes before
                or (
                    word in ("LIKE", "ILIKE", "AND", "OR")
                    and len(self._split_args(after.items)) >= 2
                    and not is_operand(cur.nxt(k, -1))
                )
            )
        ):
            param_group: Group | None = None
            args_group = after
            used = 1
            after2 = cur.nxt(k, 2)
            if (
                isinstance(after2, Group)
                and after2.open == "("
                and cur.item_index(pos + 2) == k + 2
            ):
                param_group, args_group, used = after, after2, 2
            before = cur.nxt(k, -1)
            if isinstance(before, Tok) and before.kind == ".":
                raise self._method_call(node)
            text = self._call(node, args_group, param_group, scope)
            for n in range(pos + 1, pos + 1 + used):
                cur.consumed.add(cur.item_index(n))
            tested = self._email_in_list(cur, pos, used, text, scope)
            if tested is not None:
                out.append(tested)
                return cur.item_index(pos + used + 2) + 1
            out.append(text)
            return k + 1
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
        return k + used_items

    def _email_in_list(
        self, cur: _Cursor, pos: int, used: int, text: str, scope: Scope
    ) -> str | None:
        """`lowerUTF8(<the email>) IN (SELECT arrayJoin(arrayConcat([''], {list})))`, the call
        (`text`, its name at sig[pos], its groups after) a whole operand of IN: the test on the
        store's email column itself, or None for anything else. The email key reads '' where
        the event has no email (coalesce(e, '')), and '' is in the list: coalesce(e, '') IN L
        is e IN L OR e IS NULL, and on the bare column DuckDB's join skips the events whose
        email is not in the list (the per-user files kept to a cell's emails: activity.sql)."""
        column = email_column_of(text)
        sig = cur.sig
        end = pos + used
        listed = sig[end + 2] if end + 2 < len(sig) else None
        before = sig[pos - 1] if pos > 0 else None
        after = sig[end + 3] if end + 3 < len(sig) else None
        if not (
            column is not None
            and is_id(sig[end + 1] if end + 1 < len(sig) else None, "IN")
            and isinstance(listed, Group)
            and _lists_empty(listed)
            and (before is None or is_id(before, *_OPERAND_BEFORE) or _is_comma(before))
            and (after is None or is_id(after, *_OPERAND_AFTER) or _is_comma(after))
            and not any(is_id(x, "BETWEEN") for x in sig[:pos])
        ):
            return None
        inner = self._seq(listed.items, scope)  # type: ignore[union-attr]
        return f"({column} IN ({inner}) OR {column} IS NULL)"

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
