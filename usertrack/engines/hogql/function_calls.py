"""Function calls: arguments split and translated, casts, `if`, aggregates and their `-If`
combinators, every other call looked up in `functions.FUNCTIONS`.
"""

from __future__ import annotations

from usertrack.engines.hogql.aggregates import AGGREGATES
from usertrack.engines.hogql.calls import Agg, Call, Scope
from usertrack.engines.hogql.fields import Fields
from usertrack.engines.hogql.functions import FUNCTIONS
from usertrack.engines.hogql.tokens import (
    TYPES,
    Group,
    Node,
    Tok,
    bracket_tree,
    is_id,
    significant,
    tokenize,
)


class Calls(Fields):
    """Function calls and casts."""

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
