"""A function call as the function tables see it (`Call`), an aggregate's parts (`Agg`) and a
SELECT's scope (`Scope`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from usertrack.core.errors import HogQLTranslationError
from usertrack.engines.hogql.tokens import Node, Tok


@dataclass
class Scope:
    table: str | None  # the first FROM table of this SELECT: events/persons/sessions, or None
    aliases: dict[str, str | None]


@dataclass
class Agg:
    expr: str
    conds: list[str]
    wrap: Callable[[str], str] | None = None


class Host(Protocol):
    """What a call needs of the translator translating it (`translator.Translator`)."""

    def arg(self, items: list[Node], scope: Scope) -> str: ...

    def literal(self, items: list[Node]) -> str | None: ...

    def is_text_value(self, items: list[Node]) -> bool: ...

    def error(self, message: str, node: Node | None = None) -> HogQLTranslationError: ...


class Call:
    """One function call: name, raw argument nodes and their translations."""

    def __init__(
        self, tr: Host, name: str, low: str, raw: list[list[Node]], scope: Scope, node: Tok
    ) -> None:
        self.tr = tr
        self.name = name
        self.low = low
        self.raw = raw
        self.scope = scope
        self.node = node
        self.args = [tr.arg(a, scope) for a in raw]
        self.conditional = False

    def need(self, low: int, high: int | None = None) -> list[str]:
        high = low if high is None else high
        if not low <= len(self.args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            noun = "argument" if low == high == 1 else "arguments"
            raise self.tr.error(
                f"HogQL function {self.name!r} takes {want} {noun}, got {len(self.args)}",
                self.node,
            )
        return self.args

    def literal(self, n: int) -> str | None:
        return self.tr.literal(self.raw[n]) if n < len(self.raw) else None

    def text_value(self, n: int) -> bool:
        return self.tr.is_text_value(self.raw[n])

    def err(self, message: str) -> HogQLTranslationError:
        return self.tr.error(message, self.node)
