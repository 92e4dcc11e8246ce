"""Field access: `properties.X`, `person.properties.X`, `e.properties.X`, `pdi.person_id` and
the other chains of names, resolved against the scope to store columns or JSON extraction.
"""

from __future__ import annotations

from usertrack.engines.hogql.calls import Scope
from usertrack.engines.hogql.checks import Checks
from usertrack.engines.hogql.tokens import (
    PLAIN_IDENT,
    Group,
    Node,
    Tok,
    json_path,
    quote_ident,
    significant,
)
from usertrack.engines.local.eventstore import (
    HOT_PERSON_PROPERTIES,
    HOT_PROPERTIES,
)


class Fields(Checks):
    """Chains of names resolved to columns."""

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
