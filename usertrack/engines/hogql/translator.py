"""The translation of a whole statement: SELECTs, their scopes (FROM, JOIN, aliases), UNIONs and
subqueries, over the layers below (`Expressions` < `Calls` < `Fields` < `Checks`).
"""

from __future__ import annotations

import re

from usertrack.engines.hogql.calls import Scope
from usertrack.engines.hogql.expressions import Expressions
from usertrack.engines.hogql.tokens import (
    AFTER_TABLE,
    FROM_LIST_END,
    KEYWORDS,
    SELECT_END,
    Group,
    Node,
    Tok,
    bracket_tree,
    has_select,
    is_id,
    quote_ident,
    significant,
    source_text,
    starts_query,
    tokenize,
)

TABLES = ("events", "persons", "sessions", "person_distinct_ids", "groups")


class Translator(Expressions):
    """HogQL to DuckDB SQL: `run()` translates the statement given to `__init__`."""

    def run(self) -> str:
        tree = bracket_tree(tokenize(self.text), self.text)
        sig = significant(tree)
        while sig and isinstance(sig[-1], Tok) and sig[-1].kind == "op" and sig[-1].text == ";":
            tree.remove(sig[-1])
            sig.pop()
        self._check_statement(sig)
        self._collect_ctes(tree)
        return self._seq(tree, Scope("events", {})).strip()

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
