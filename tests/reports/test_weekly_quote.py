"""The weekly template's `quote` filter (a mermaid chart's labels): a name's control and bidi
characters are shown as the rest of the page shows them, never written as they are."""

from __future__ import annotations

from pathlib import Path


def test_a_quoted_label_shows_its_hidden_characters(tmp_path: Path) -> None:
    from usertrack.reports.weekly import render_weekly

    template = tmp_path / "t.md.j2"
    template.write_text("{{ name | quote }}", encoding="utf-8")
    name = 'Fail \u202egnp.exe \x01 "q" `x`\n</script>'
    text = render_weekly({"name": name}, template)
    assert text.strip() == "\"Fail \\u202egnp.exe \\x01 'q' 'x' </script>\""
    assert "\u202e" not in text and "\x01" not in text
