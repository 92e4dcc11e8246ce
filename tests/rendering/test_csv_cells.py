"""CSV cells a stranger wrote: no line break inside a value starts a spreadsheet row, and no
line of a value starts a formula. A `$device_type` planted in a real events export goes through
`trends --by` to a `-f csv` file, read back as spreadsheets read it: Python's csv reader over the
file opened with universal newlines, and LibreOffice headless when it is installed."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from usertrack.core import style

FORMULA = ("=", "+", "-", "@", "\t", "\r")
# A value per kind of line break, and one that starts with a tab: each hides a formula.
HOSTILE = {
    "cr": "x\r=1+1",
    "lf": "x\n=1+1",
    "crlf": "x\r\n=1+1",
    "tab": "\t=1+1",
    "lines": "Tablet\u2028=21*2\u2029@SUM(A1)\x85-2+3\x0b=4\x0c+5\x1c=6",
}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _formula_cells(rows: list[list[str]]) -> list[str]:
    return [c for row in rows for c in row if c.startswith(FORMULA) and not _is_number(c)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x\r=1+1", "x\n'=1+1"),  # a bare CR is a line break the writer quotes
        ("x\n=1+1", "x\n'=1+1"),
        ("x\r\n=1+1", "x\n'=1+1"),
        ("\t=1+1", "'\t=1+1"),
        ("a\u2028-b\u2029+c", "a\n'-b\n'+c"),
        ("a\n\n@b", "a\n\n'@b"),  # an empty line is kept
        ("two\nlines\tand a tab", "two\nlines\tand a tab"),
        ("a\x0b=b\x0c\x1c\x1d\x1e\x85", r"a\x0b=b\x0c\x1c\x1d\x1e\x85"),  # shown, not breaks
        (["ok", "x\r-1"], "ok;x\n'-1"),
        (-5, "-5"),
        (-2.5, "-2.5"),
    ],
)
def test_csv_cell_line_breaks(value: Any, expected: str) -> None:
    assert style.csv_cell(value) == expected


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_csv_text_keeps_each_value_in_its_cell(value: str) -> None:
    from usertrack.rendering.export import csv_text

    text = csv_text(["device", "count"], [[value, -3], ["next", 1]])
    rows = list(csv.reader(text.splitlines(keepends=True)))
    assert [r[1] for r in rows] == ["count", "-3", "1"], rows
    assert not _formula_cells(rows), rows
    # A reader that splits lines before it reads quotes starts no formula either.
    assert not [ln for ln in text.splitlines() if ln.startswith(FORMULA)], text


def _export(path: Path) -> Path:
    records = []
    for i, (kind, device) in enumerate([*HOSTILE.items(), ("plain", "Desktop")]):
        records.append(
            {
                "uuid": f"00000000-0000-0000-0000-{i + 1:012d}",
                "event": "$pageview",
                "distinct_id": f"d-{kind}",
                "person_id": f"p-{kind}",
                "timestamp": "2026-11-10T10:00:00Z",
                "properties": {"$pathname": "/", "$device_type": device},
                "person_properties": {"email": f"{kind}@example.com"},
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trends_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("csv-cells")
    export = _export(tmp / "events.jsonl")
    out = tmp / "trends.csv"
    args = ["trends", "$pageview", "--by", "$device_type", "--top", "20", "--as-of",
            "2026-11-16", "--days", "7", "-f", "csv", "--out", str(out)]  # fmt: skip
    result = run(args, tmp / "home", USERTRACK_EVENTS=str(export))
    assert result.exit_code == 0, result.stderr
    return out


def test_trends_csv_read_with_universal_newlines(trends_csv: Path) -> None:
    with trends_csv.open(encoding="utf-8") as f:  # newline=None: \r, \n and \r\n end lines
        rows = list(csv.reader(f))
    header = rows[0]
    assert not _formula_cells(rows), rows
    assert all(len(row) == len(header) for row in rows), rows  # no row split inside a value
    breakdown = {row[header.index("breakdown")] for row in rows[1:]}
    assert {"x\n'=1+1", "'\t=1+1"} <= breakdown, breakdown
    lines = trends_csv.read_text(encoding="utf-8").splitlines()
    assert not [ln for ln in lines if ln.startswith(FORMULA)], lines


def _office() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(_office() is None, reason="LibreOffice (soffice) is not installed")
def test_trends_csv_in_libreoffice(trends_csv: Path, tmp_path: Path) -> None:
    """LibreOffice reads the csv and writes it back with every formula computed: a cell that
    had become a formula would come back as its result (2), a new row as a short one."""
    office = _office()
    assert office is not None
    subprocess.run(
        [office, "--headless", f"-env:UserInstallation=file://{tmp_path / 'profile'}",
         "--infilter=CSV:44,34,76,1", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76",
         "--outdir", str(tmp_path / "out"), str(trends_csv)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    back = (tmp_path / "out" / trends_csv.name).read_text(encoding="utf-8")
    rows = list(csv.reader(back.splitlines(keepends=True)))
    header = rows[0]
    assert all(len(row) == len(header) for row in rows), rows
    breakdown = [row[header.index("breakdown")] for row in rows[1:]]
    assert not [c for c in breakdown if c in ("2", "42", "8")], breakdown
    assert any("=1+1" in c for c in breakdown), breakdown
