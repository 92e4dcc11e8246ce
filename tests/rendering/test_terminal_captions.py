"""A table's title and caption show a stranger's text as its cells do: on one line, control,
bidi and zero-width characters shown escaped. The columns a narrow terminal hides are named in
the caption, and `trends --by` names its columns by breakdown values, which anyone who sends
events writes: the caption printed such a value's raw line break (and, after another caption,
its raw ESC and U+202E)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from tests.cli_runner import run
from usertrack.rendering.terminal import Col, fitted_table

HOSTILE = "evil\nline2\rcr\x1b[31mred\u202eabc\u200b"
SHOWN = "evil ⏎ line2 ⏎ cr\\x1b[31mred\\u202eabc\\u200b"
# Raw: any C0 or C1 control but the newline that ends a printed line, bidi and zero-width ones.
RAW_CONTROL = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069]"
)


def _printed(table: object, width: int) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, legacy_windows=False).print(table)
    return buf.getvalue()


@pytest.mark.parametrize("caption", [None, "2 rows"])
def test_a_hidden_columns_name_is_one_safe_line_in_the_caption(caption: str | None) -> None:
    columns = [Col("Point"), Col("a" * 30, drop=2), Col(HOSTILE, drop=1)]
    table = fitted_table(40, columns, [["x", "1", "2"]], caption=caption)
    assert table.caption is not None and not isinstance(table.caption, str)
    text = table.caption.plain
    assert "\n" not in text and not RAW_CONTROL.search(text), repr(text)
    assert "hidden: " in text and text.endswith(f", {SHOWN}"), repr(text)
    assert not RAW_CONTROL.search(_printed(table, 40))


def test_a_title_or_caption_with_a_line_break_stays_one_line() -> None:
    table = fitted_table(80, [Col("x")], [["1"]], title=HOSTILE, caption=HOSTILE)
    for text in (table.title, table.caption):
        assert text is not None and not isinstance(text, str)
        assert text.plain == SHOWN, repr(text.plain)


def test_stacked_fields_label_a_hostile_header_safely() -> None:
    table = fitted_table(20, [Col(HOSTILE), Col("b" * 30)], [["x" * 30, "y"]])
    printed = _printed(table, 20)
    assert "narrow terminal: one" in printed and "evil ⏎" in printed, printed
    assert not RAW_CONTROL.search(printed), printed


def _export(path: Path) -> Path:
    records = []
    devices = ["Desktop"] * 3 + ["Mobile"] * 2 + ["Tablet"] * 2 + [HOSTILE]
    for i, device in enumerate(devices):
        records.append(
            {
                "uuid": f"00000000-0000-0000-0000-{i + 1:012d}",
                "event": "$pageview",
                "distinct_id": f"d-{i}",
                "person_id": f"p-{i}",
                "timestamp": "2026-11-10T10:00:00Z",
                "properties": {"$pathname": "/", "$device_type": device},
                "person_properties": {"email": f"u{i}@example.com"},
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_trends_by_on_a_narrow_terminal_names_hidden_values_safely(tmp_path: Path) -> None:
    export = _export(tmp_path / "events.jsonl")
    args = ["trends", "$pageview", "--by", "$device_type", "--as-of", "2026-11-16",
            "--days", "7"]  # fmt: skip
    result = run(args, tmp_path / "home", USERTRACK_EVENTS=str(export), COLUMNS="60")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert not RAW_CONTROL.search(out), repr(out)
    start = out.index("narrow terminal:")
    caption = " ".join(out[start:].split())  # the caption, wrapped at the table's width
    assert f"$pageview / {SHOWN}" in caption, repr(caption)
