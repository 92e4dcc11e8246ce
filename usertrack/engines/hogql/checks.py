"""The translator's ground floor: its state, its errors (with line and column), the checks on a
statement before any translation (one statement, nothing but SELECT), and the CTE names.
"""

from __future__ import annotations

from usertrack.core.errors import HogQLTranslationError
from usertrack.engines.hogql.calls import Scope
from usertrack.engines.hogql.tokens import (
    Group,
    Node,
    Tok,
    has_select,
    is_id,
    line_col,
    significant,
    starts_query,
)


class Checks:
    """State, errors and the statement checks; `_seq` is the statements' (see `Translator`)."""

    _in_join_on = False  # inside a JOIN's ON condition (comparisons stay SQL's)

    def __init__(self, text: str) -> None:
        self.text = text
        self.params: list[str] = []
        self.ctes: set[str] = set()

    def error(self, message: str, node: Node | None = None) -> HogQLTranslationError:
        where = f" ({line_col(self.text, node.pos)})" if node is not None else ""
        return HogQLTranslationError(message + where)

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

    def _seq(self, items: list[Node], scope: Scope) -> str:
        """A sequence of tokens translated: the statements' (`Translator._seq`)."""
        raise NotImplementedError
