"""Write usertrack/engines/hogql/shipped_texts.json: each shipped PostHog query file's text as
sent, printed from PostHog's parse tree, so that a first command live does not parse it.

    uv run python scripts/gen_printed.py           # rewrite the file
    uv run python scripts/gen_printed.py --check   # exit 1 when it differs

Keyed by the SHA-256 of the text the live source prints (sent_texts: the file's `{filters}`
slot filled as without --where and as in a --by-segment group, and as a bundle holds it),
under the printer's key (its source, the parser module's and hogql-parser's version): a text
or printer edited since is parsed as before. tests/engines/test_hogql_printer.py checks every entry.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def sent_texts() -> list[str]:
    """The texts the live source prints for the shipped PostHog files: each file's `{filters}`
    slot filled as Workspace.bind fills it without --where (`true`), and with a --by-segment
    group's filter (usertrack.analytics.by_segment), as strip_sql leaves it; and each as a
    bundle of several files holds it (usertrack.engines.posthog.bundle.body)."""
    from usertrack.analytics.by_segment import _KEEP
    from usertrack.analytics.where import spliced
    from usertrack.engines.posthog import bundle
    from usertrack.engines.posthog.values import strip_sql
    from usertrack.queries.library import load_queries

    library = load_queries(REPO / "queries")
    texts: list[str] = []
    for query in sorted(library.queries.values(), key=lambda q: q.id):
        if query.folder != "posthog" or not query.sql.strip():
            continue
        for where in ((), (_KEEP,), (f"NOT {_KEEP}",)):
            text = strip_sql(spliced(query.sql, where))
            part = bundle.body(text)  # as a bundle holds it: bundle.printed
            for made in (text, *(part[:1] if part else ())):
                if made not in texts:
                    texts.append(made)
    return texts


def build() -> str:
    from usertrack.engines.hogql.printer import _key_prefix, sent_text

    texts = {hashlib.sha256(t.encode()).hexdigest(): sent_text(t) for t in sent_texts()}
    data = {"key": _key_prefix().hex(), "texts": dict(sorted(texts.items()))}
    return json.dumps(data, indent=0, ensure_ascii=False) + "\n"


def main() -> int:
    from usertrack.engines.hogql.printer import SHIPPED_TEXTS

    made = build()
    if "--check" in sys.argv[1:]:
        current = SHIPPED_TEXTS.read_text(encoding="utf-8") if SHIPPED_TEXTS.exists() else ""
        if current != made:
            print(f"{SHIPPED_TEXTS} is out of date: run scripts/gen_printed.py", file=sys.stderr)
            return 1
        return 0
    SHIPPED_TEXTS.write_text(made, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
