"""`usertrack report weekly` on a small demo with a fixed anchor (real embedded PostgreSQL, local
PostHog engine, no mocks): a golden file, byte-identical re-runs, --template, --out errors.

The golden report is tests/data/weekly-golden.md. When a change to the report is intended,
regenerate it and review the diff:

    USERTRACK_UPDATE_GOLDEN=1 uv run pytest tests/reports/test_report.py -k golden
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from usertrack.core.errors import EXIT_USAGE
from usertrack.reports.weekly import METRICS, WEEKLY_TEMPLATE, ReportWeek, metric_status
from usertrack.segments.history import History, history_path

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data" / "weekly-golden.md"
ANCHOR = date(2026, 11, 16)
NAME = "usertrack-2026-W46.md"
WORKSPACE = "demo:300u:2026-11-16"


@pytest.fixture
def home(fixed_demo_home: Path) -> Path:
    """The fixed demo with an empty history."""
    history_path(fixed_demo_home).unlink(missing_ok=True)
    return fixed_demo_home


def report(home: Path, out: Path, *extra: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    result = run(["report", "weekly", "--as-of", "2026-11-16", "--out", str(out), *extra], home)
    assert result.exit_code == 0, result.stderr
    path = out / NAME
    assert result.stdout.strip() == str(path)
    return path


@pytest.fixture(scope="module")
def shipped_report(fixed_demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shipped weekly report of the fixed demo as of 2026-11-16, from an empty history, as
    `report` writes it: made once for the tests that only read it."""
    history_path(fixed_demo_home).unlink(missing_ok=True)
    return report(fixed_demo_home, tmp_path_factory.mktemp("weekly")).read_text(encoding="utf-8")


def test_weekly_report_matches_the_golden_file(shipped_report: str) -> None:
    text = shipped_report
    if os.environ.get("USERTRACK_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
        pytest.skip(f"regenerated {GOLDEN}")
    assert GOLDEN.exists(), "no golden file: run with USERTRACK_UPDATE_GOLDEN=1 once"
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_weekly_report_content(shipped_report: str) -> None:
    text = shipped_report
    assert text.startswith("# usertrack weekly report 2026-W46\n")
    assert "The 7 days from Mon 2026-11-09 to Sun 2026-11-15 (UTC)" in text
    for metric in METRICS:
        row = next(line for line in text.splitlines() if line.startswith(f"| {metric.name} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[4] in ("Excellent", "Good", "Below target", "n/a"), row
        assert cells[5] == metric.good_text and cells[6] == metric.excellent_text
    assert text.count("```mermaid") == 2
    assert "xychart-beta" in text and "line [" in text and "bar [" in text
    for heading in (
        "## Key metrics",
        "## Segments",
        "### Who moved",
        "## Top users by segment",
        "### Failing users (",
        "### Top failing tools",
        "### Failing runs by error",
        "### Failure categories",
        "## UX issues (last 7 days)",
        "## Traffic sources (last 7 days)",
    ):
        assert heading in text, heading
    assert "Last week is computed as of 2026-11-09 00:00 UTC" in text
    assert "@datagen.dev" not in text
    assert not re.search(r"\b(nan|None)\b", text)


def test_weekly_report_is_byte_identical_across_runs(home: Path, tmp_path: Path) -> None:
    first = report(home, tmp_path / "a").read_bytes()
    second = report(home, tmp_path / "b").read_bytes()
    assert first == second
    with History(history_path(home), WORKSPACE) as history:
        assert history.moments() == [datetime(2026, 11, 16, tzinfo=UTC)]  # saved, replaced


def test_weekly_report_uses_last_weeks_snapshot(home: Path, tmp_path: Path) -> None:
    saved = run(["segments", "--as-of", "2026-11-09", "-f", "json"], home)
    assert saved.exit_code == 0, saved.stderr
    text = report(home, tmp_path / "out", "--no-save").read_text(encoding="utf-8")
    assert "Last week is the snapshot saved as of 2026-11-09 00:00 UTC." in text
    with History(history_path(home), WORKSPACE) as history:
        assert history.moments() == [datetime(2026, 11, 9, tzinfo=UTC)]  # --no-save


def test_weekly_report_with_a_custom_template(home: Path, tmp_path: Path) -> None:
    template = tmp_path / "mine.md.j2"
    template.write_text(
        "Week {{ week.label }} ({{ week.first_day }}..{{ week.last_day }})\n"
        "{% for m in metrics %}{{ m.id }}={{ m.status }}\n{% endfor %}"
        "{% for s in segments %}{{ s.id }}: {{ s.count }} (+{{ s.entered_count }}"
        " -{{ s.left_count }})\n{% endfor %}",
        encoding="utf-8",
    )
    text = report(home, tmp_path / "out", "--template", str(template)).read_text()
    lines = text.splitlines()
    assert lines[0] == "Week 2026-W46 (2026-11-09..2026-11-15)"
    assert [line.split("=")[0] for line in lines[1:6]] == [m.id for m in METRICS]
    assert [line.split(":")[0] for line in lines[6:]] == [
        "failing",
        "frustrated",
        "high_intent",
        "at_risk",
        "power_user",
    ]
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_a_template_cannot_reach_into_python(home: Path, tmp_path: Path) -> None:
    """A template is shared like a query file: jinja's sandbox stops the usual escape through
    attributes (here to os.environ, where DATABASE_URL lives)."""
    template = tmp_path / "evil.md.j2"
    template.write_text(
        "# {{ week.label }}\n\n{{ cycler.__init__.__globals__.os.environ['USERTRACK_CANARY'] }}\n",
        encoding="utf-8",
    )
    args = ["report", "weekly", "--as-of", "2026-11-16", "--out", "-", "--template", str(template)]
    result = run(args, home, USERTRACK_CANARY="canary-value-42")
    assert result.exit_code == EXIT_USAGE, result.stdout
    assert f"{template}:3: template error" in result.stderr
    assert "canary-value-42" not in result.stdout + result.stderr


def test_a_broken_template_names_its_line(home: Path, tmp_path: Path) -> None:
    template = tmp_path / "bad.md.j2"
    template.write_text("# {{ week.label }}\n\n{{ no_such_thing.value }}\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    result = run(
        [
            "report",
            "weekly",
            "--as-of",
            "2026-11-16",
            "--out",
            str(out),
            "--template",
            str(template),
        ],
        home,
    )
    assert result.exit_code == EXIT_USAGE
    assert f"{template}:3: template error" in result.stderr
    assert list(out.iterdir()) == []
    missing = run(["report", "weekly", "--template", str(tmp_path / "nope.j2")], home)
    assert missing.exit_code == EXIT_USAGE and "no such template file" in missing.stderr


def test_a_missing_out_folder_is_created(home: Path, tmp_path: Path) -> None:
    """The recipes' `usertrack report weekly --out reports/` in a fresh clone."""
    missing = tmp_path / "reports" / "weekly"
    result = run(["report", "weekly", "--as-of", "2026-11-16", "--out", str(missing)], home)
    assert result.exit_code == 0, result.stderr
    assert (missing / NAME).read_text(encoding="utf-8").startswith("# usertrack weekly report")


def test_out_naming_a_md_file_writes_that_file_not_a_folder(home: Path, tmp_path: Path) -> None:
    """`--out report.md` made a folder named report.md and wrote the report inside it; it is the
    Markdown file now (a dashboard's --out names a file by its extension), its charts beside."""
    out = tmp_path / "report.md"
    result = run(["report", "weekly", "--as-of", "2026-11-16", "--out", str(out)], home)
    assert result.exit_code == 0, result.stderr
    assert out.is_file() and result.stdout.strip() == str(out)
    assert out.read_text(encoding="utf-8").startswith("# usertrack weekly report 2026-W46\n")
    folder = tmp_path / "weekly.md"  # an existing folder of that name is still a folder
    folder.mkdir()
    ok = run(["report", "weekly", "--as-of", "2026-11-16", "--out", str(folder)], home)
    assert ok.exit_code == 0, ok.stderr
    assert (folder / NAME).exists()


def test_an_unwritable_out_fails_before_any_query(home: Path, tmp_path: Path) -> None:
    """Tests run as root, which a read-only folder does not stop: a folder under a regular file
    can never be made, by anyone."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for out in (blocker / "reports", blocker):
        result = run(["report", "weekly", "--as-of", "2026-11-16", "--out", str(out)], home)
        assert result.exit_code == EXIT_USAGE, result.stderr
        assert f"usertrack: error: cannot write {out}" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1  # before the demo was even opened
        assert result.stdout == ""
        assert not history_path(home).exists()  # it stopped before doing anything
    assert blocker.read_text() == "not a folder"


def test_report_week_is_one_iso_week_monday_to_monday() -> None:
    week = ReportWeek.containing(datetime(2026, 11, 16, tzinfo=UTC))  # Monday 00:00 closes W46
    assert (week.start, week.end) == (
        datetime(2026, 11, 9, tzinfo=UTC),
        datetime(2026, 11, 16, tzinfo=UTC),
    )
    assert (week.first_day, week.last_day) == (date(2026, 11, 9), date(2026, 11, 15))
    assert week.label == "2026-W46" and week.file_name == NAME
    assert week.previous().label == "2026-W45"
    for moment in (
        datetime(2026, 11, 16, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 11, 18, 12, tzinfo=UTC),
        datetime(2026, 11, 23, tzinfo=UTC),
    ):
        w = ReportWeek.containing(moment)
        assert (w.label, w.first_day, w.last_day) == (
            "2026-W47",
            date(2026, 11, 16),
            date(2026, 11, 22),
        )
    new_year = ReportWeek.containing(datetime(2027, 1, 1, 9, tzinfo=UTC))  # a Friday
    assert (new_year.first_day, new_year.last_day) == (date(2026, 12, 28), date(2027, 1, 3))
    assert new_year.label == "2026-W53"
    assert ReportWeek.last_complete(datetime(2026, 11, 22, tzinfo=UTC)).label == "2026-W46"
    assert ReportWeek.last_complete(datetime(2026, 11, 23, tzinfo=UTC)).label == "2026-W47"
    for day in range(1, 400, 3):  # every week starts on a Monday and is named by itself
        w = ReportWeek.containing(datetime(2026, 1, 1, 7, tzinfo=UTC) + timedelta(days=day))
        assert w.start.weekday() == 0 and w.end - w.start == timedelta(days=7)
        assert w.label == "{}-W{:02d}".format(*w.first_day.isocalendar()[:2])


def test_as_of_values_in_one_week_write_that_weeks_file(home: Path, tmp_path: Path) -> None:
    """Three --as-of values in one week give one report, not three overwriting each other."""
    out = tmp_path / "out"
    first = report(home, out).read_bytes()
    for as_of in ("2026-11-10", "2026-11-12T13:30:00"):
        result = run(["report", "weekly", "--as-of", as_of, "--out", str(out)], home)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip() == str(out / NAME)
        assert f"usertrack: unchanged {out / NAME}" in result.stderr
    assert (out / NAME).read_bytes() == first
    earlier = run(["report", "weekly", "--as-of", "2026-11-03", "--out", str(out)], home)
    assert earlier.exit_code == 0, earlier.stderr
    reports = sorted(p.name for p in out.iterdir() if p.suffix == ".md")  # charts are .svg
    assert reports == ["usertrack-2026-W45.md", NAME]
    w45 = (out / "usertrack-2026-W45.md").read_text(encoding="utf-8")
    assert w45.startswith("# usertrack weekly report 2026-W45\n")
    assert "from Mon 2026-11-02 to Sun 2026-11-08 (UTC)" in w45


def test_default_week_is_the_last_complete_one(demo_home: Path, tmp_path: Path) -> None:
    """The demo's data ends at its anchor (today, any weekday): the report is the last whole
    ISO week before it, Monday to Sunday, and named by it."""
    from usertrack.demo.generator import read_manifest

    manifest = read_manifest(demo_home)
    assert manifest is not None
    anchor = date.fromisoformat(manifest["anchor"])
    monday = anchor - timedelta(days=anchor.weekday())  # the Monday ending the last whole week
    first, last = monday - timedelta(days=7), monday - timedelta(days=1)
    label = "{}-W{:02d}".format(*first.isocalendar()[:2])
    result = run(["report", "weekly", "--out", str(tmp_path), "--no-save"], demo_home)
    assert result.exit_code == 0, result.stderr
    path = tmp_path / f"usertrack-{label}.md"
    assert result.stdout.strip() == str(path)
    text = path.read_text(encoding="utf-8")
    assert f"from Mon {first.isoformat()} to Sun {last.isoformat()} (UTC)" in text


def test_a_different_report_is_replaced_only_with_force(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    mine = out / NAME
    mine.write_text("my edited copy\n", encoding="utf-8")
    args = ["report", "weekly", "--as-of", "2026-11-16", "--out", str(out)]
    kept = run(args, home)
    assert kept.exit_code == EXIT_USAGE
    assert f"{mine} already exists" in kept.stderr and "--force" in kept.stderr
    assert kept.stdout == "" and mine.read_text(encoding="utf-8") == "my edited copy\n"
    left = [p.name for p in out.iterdir() if not p.name.endswith(".svg")]  # charts are .svg
    assert left == [NAME]  # no temp file left either
    forced = run([*args, "--force"], home)
    assert forced.exit_code == 0, forced.stderr
    assert f"usertrack: replaced {mine}" in forced.stderr
    assert mine.read_text(encoding="utf-8") == GOLDEN.read_text(encoding="utf-8")


def test_out_dash_prints_the_report(home: Path) -> None:
    result = run(["report", "weekly", "--as-of", "2026-11-16", "--out", "-"], home)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == GOLDEN.read_text(encoding="utf-8")


def test_failing_runs_keep_status_and_exit_codes(shipped_report: str) -> None:
    text = shipped_report
    section = text.split("### Failing runs by error", 1)[1].split("\n### ", 1)[0]
    section = re.sub(r"\\(.)", r"\1", section)  # as it reads rendered (md escapes punctuation)
    assert "returned 401 Unauthorized" in section
    assert "(429 Too Many Requests)" in section
    assert "exited rc=137 (OOM)" in section
    assert "returned N" not in section and "rc=N" not in section
    assert "concurrent sandboxes (N)" in section  # other numbers still group together


def test_a_template_cannot_reach_python_internals(home: Path, tmp_path: Path) -> None:
    """A template is code, but jinja's sandbox keeps it to the report's data: the classic walk
    from a string to every Python class (and on to os.system) is refused, naming the line."""
    template = tmp_path / "evil.md.j2"
    template.write_text(
        "# {{ week.label }}\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    result = run(
        ["report", "weekly", "--as-of", "2026-11-16", "--out", str(out), "--template",
         str(template)],
        home,
    )  # fmt: skip
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert f"{template}:2: template error" in result.stderr
    assert "unsafe" in result.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_print_template_prints_the_shipped_one() -> None:
    result = run(["report", "weekly", "--print-template"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == WEEKLY_TEMPLATE.read_text(encoding="utf-8")
    assert "{{ week.label }}" in result.stdout
    ignored = run(["report", "weekly", "--print-template", "--out", "mine"])
    assert ignored.exit_code == EXIT_USAGE and ignored.stdout == ""  # not silently to stdout
    assert "--print-template prints to stdout" in ignored.stderr
    dash = run(["report", "weekly", "--print-template", "--out", "-"])
    assert dash.exit_code == 0 and dash.stdout == result.stdout


def test_a_template_syntax_error_stops_before_any_query(home: Path, tmp_path: Path) -> None:
    template = tmp_path / "bad.md.j2"
    template.write_text(
        "# {{ week.label }}\n{% for s in segments %}\n{{ s.id }\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    args = ["report", "weekly", "--as-of", "2026-11-16", "--out", str(out)]
    result = run([*args, "--template", str(template)], home)
    assert result.exit_code == EXIT_USAGE
    assert f"usertrack: error: {template}:3: template error" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # not even the demo was opened
    assert not history_path(home).exists()
    assert not out.exists()  # not even the --out folder was made


def test_as_of_after_the_demos_data_is_an_error(home: Path) -> None:
    result = run(["report", "weekly", "--as-of", "2026-11-18"], home)
    assert result.exit_code == EXIT_USAGE
    assert "after the end of the demo's data" in result.stderr
    assert not history_path(home).exists()


def test_metric_status_follows_the_analyst_workflows_thresholds() -> None:
    by_id = {m.id: m for m in METRICS}
    assert [metric_status(by_id["dau"], v) for v in (5, 10, 10.1, 50, 51)] == [
        "Below target",
        "Below target",
        "Good",
        "Good",
        "Excellent",
    ]
    mcp = by_id["mcp_connect_rate"]
    assert [metric_status(mcp, v) for v in (4.9, 5, 10, 10.5)] == [
        "Below target",
        "Good",
        "Good",
        "Excellent",
    ]
    days = by_id["signup_to_first_run"]
    assert [metric_status(days, v) for v in (0.5, 1, 6.9, 7, None)] == [
        "Excellent",
        "Good",
        "Good",
        "Below target",
        "n/a",
    ]
    # Rated as shown: 0.958 days shows "1.0 d", which is not "< 1 day".
    assert [metric_status(days, v) for v in (0.94, 0.958, 6.96)] == [
        "Excellent",
        "Good",
        "Below target",
    ]
    assert metric_status(by_id["run_success_rate"], 95.5) == "Excellent"
    assert metric_status(by_id["credit_utilization"], 20) == "Below target"


# --------------------------------------------------------------------------------------------
# A week that is not over


@pytest.fixture(scope="module")
def friday_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo whose data ends on Friday 2026-11-20 00:00 UTC: W47 has begun 4 days."""
    from usertrack.demo.generator import ensure_demo

    home = tmp_path_factory.mktemp("friday-demo")
    ensure_demo(home, users=300, anchor=date(2026, 11, 20))
    return home


def _chart(text: str) -> tuple[list[str], list[int]]:
    block = text.split("DAU (any event) per day, last", 1)[1]
    labels = re.findall(r'"([A-Z][a-z]{2} \d\d)"', block.split("y-axis", 1)[0])
    values = [int(v) for v in re.search(r"line \[([^\]]*)\]", block)[1].split(", ")]  # type: ignore[index]
    return labels, values


def test_a_week_not_over_is_reported_to_date(friday_home: Path) -> None:
    """`report weekly --as-of` a day of a week that is not over: the DAU was divided by 7 when 4
    days had data, the chart ended with zeros, and the header said "as of" the next Monday,
    after the data. Now: to date, averaged over the days begun, nothing after the data."""
    result = run(["report", "weekly", "--as-of", "2026-11-19", "--out", "-"], friday_home)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.startswith("# usertrack weekly report 2026-W47 (to date)\n")
    assert (
        "The week so far, 4 of its 7 days: from Mon 2026-11-16 (UTC) to 2026-11-20 00:00 UTC"
        in text
    )
    assert "as of 2026-11-20 00:00 UTC" in text and "2026-11-23 00:00" not in text
    labels, values = _chart(text)
    assert labels[-1] == "Nov 19" and len(labels) == len(values) == 35 - 3
    row = r"^\| Average DAU \| ([\d,.]+) \|.*\| ([\d,]+) person-days in 4 days \|$"
    dau = re.search(row, text, re.M)
    assert dau is not None, text
    assert sum(values[-4:]) == int(dau[2].replace(",", ""))
    assert float(dau[1]) == round(sum(values[-4:]) / 4, 1)
    # One definition of DAU: the report's days are `usertrack activity`'s.
    activity = run(["activity", "--as-of", "2026-11-20", "--days", "7", "-f", "json"], friday_home)
    assert activity.exit_code == 0, activity.stderr
    daily = {
        date.fromisoformat(d["date"]).strftime("%b %d"): d["dau"]
        for d in json.loads(activity.stdout)["daily"]
    }
    shown = dict(zip(labels, values, strict=True))
    assert {day: shown[day] for day in daily} == daily and len(daily) == 7


# --------------------------------------------------------------------------------------------
# A template is one file, bounded in time and size


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "home" / "config.toml"
    path.parent.mkdir()
    path.write_text('personal_api_key = "phx_hunter2_secret"\n')
    return path


@pytest.mark.parametrize(
    "tag",
    [
        '{% include "root{secret}" %}',
        '{% include ".env" %}',
        '{% import "root{secret}" as m %}',
        '{% from ".env" import x %}',
        '{% extends "root{secret}" %}',
        '{% include ["nope", "root{secret}"] %}',
    ],
)
def test_a_template_reads_no_other_file(home: Path, tmp_path: Path, secret: Path, tag: str) -> None:
    """`{% include "root/home/…/config.toml" %}` beside a `root -> /` symlink printed the
    PostHog key: the loader served every file under the template's folder, symlinks followed."""
    folder = tmp_path / "clone"
    folder.mkdir()
    (folder / "root").symlink_to("/")
    (folder / ".env").write_text("SECRET=phx_hunter2_secret\n")
    template = folder / "mine.md.j2"
    template.write_text("# {{ week.label }}\n\n" + tag.replace("{secret}", str(secret)) + "\n")
    args = ["report", "weekly", "--as-of", "2026-11-16", "--out", "-", "--template", str(template)]
    result = run(args, home)
    assert result.exit_code == EXIT_USAGE, result.stdout + result.stderr
    assert f"usertrack: error: {template}:3: template error: {{% " in result.stderr
    assert "is not allowed: a template is one file and reads no other" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert result.stdout == ""


def test_a_template_that_is_a_symlink_is_refused(home: Path, tmp_path: Path, secret: Path) -> None:
    template = tmp_path / "mine.md.j2"
    template.symlink_to(secret)
    args = ["report", "weekly", "--as-of", "2026-11-16", "--out", "-", "--template", str(template)]
    result = run(args, home)
    assert result.exit_code == EXIT_USAGE, result.stdout + result.stderr
    assert f"--template {template}: is a symlink" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def _render(tmp_path: Path, body: str) -> str:
    from usertrack.reports.weekly import render_weekly

    template = tmp_path / "t.md.j2"
    template.write_text(body)
    return render_weekly({"n": 3}, template)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('{{ "a" * 3000000000 }}', "3,000,000,000 is more than"),
        ("{{ [0] * 3000000000 }}", "is more than"),
        ('{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}'
         "{% endfor %}{{ ns.s|length }}", "characters is larger than"),
        ('{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}'
         "{% endfor %}", "is larger than"),
        ('{{ "a"|center(3000000000) }}', "|center: an argument of 3,000,000,000"),
        ('{{ "a".ljust(3000000000) }}', "an argument of 3,000,000,000"),
        ('{{ "%3000000000d" % 1 }}', "a width or precision of 3,000,000,000"),
        ('{{ "{:>3000000000}".format(1) }}', "a width or precision of 3,000,000,000"),
        ("{{ 7 ** 100000000 }}", "too large a number"),
        ("{{ range(100000000)|list }}", "Range too big"),
        ("{% for i in range(4000) %}{% set _ = '%0100000d' % i %}{% endfor %}",
         "characters of text"),
        # The template's own text, repeated: values ({{ }}) are escaped for Markdown on the way
        # out, 3 s of CPU for 20 MB, which a loaded machine stretched past the 10 s limit.
        ("{% for i in range(100000) %}" + "x" * 1000 + "{% endfor %}", "the report is longer"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "calls nest too deep"),
        ("{% set x = [1] %}{% for i in range(40) %}{% set _ = x.extend(x) %}{% endfor %}",
         "items is larger than 5,000,000"),
    ],
)  # fmt: skip
def test_a_template_is_bounded_in_size(tmp_path: Path, body: str, fragment: str) -> None:
    from usertrack.core.errors import UsageError

    with pytest.raises(UsageError) as info:
        _render(tmp_path, "# report\n" + body + "\n")
    # The size meter stopped it (its own message below), not the time limit: no wall-clock
    # assertion, which a loaded machine fails. The line where it happened; the report's
    # length has none.
    line = "" if "report is longer" in fragment else ":2"
    assert str(info.value).startswith(f"{tmp_path / 't.md.j2'}{line}: template ")
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for c in 'x' * 100000 %}{% endfor %}{% endfor %}",
        "{% macro f(k) %}{% if k %}{{ f(k - 1) }}{{ f(k - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
    ],
)
def test_a_template_is_bounded_in_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    import time

    from usertrack.core.errors import UsageError
    from usertrack.reports import templating

    monkeypatch.setattr(templating, "RENDER_SECONDS", 1.0)
    started = time.monotonic()
    with pytest.raises(UsageError, match="rendering took longer than 1 s") as info:
        _render(tmp_path, "# report\n" + body + "\n")
    assert time.monotonic() - started < 20  # stopped, not run on (a loaded machine is slow)
    assert str(info.value).startswith(f"{tmp_path / 't.md.j2'}:2: template stopped")


def test_a_bounded_template_still_renders(tmp_path: Path) -> None:
    body = (
        "# {{ n }} {{ '%5d' % n }} {{ 'ab' * 2 }} {{ 2 ** 10 }} {{ 'x' ~ n }}\n"
        "{% for i in range(n) %}{{ i }}{% endfor %} {{ 'a'|center(5) }}|\n"
    )
    assert _render(tmp_path, body) == "# 3     3 abab 1024 x3\n012   a  |\n"


def test_what_no_meter_sees_is_stopped_by_the_rendering_process_limits(tmp_path: Path) -> None:
    """A `|join` of one long string repeated makes 5 GB in one C call, before any check could
    look at it: the child process that renders has 2 GiB of address space."""
    from usertrack.core.errors import UsageError

    body = '{% set s = "x" * 5000000 %}{{ ([s] * 1000)|join|length }}'
    with pytest.raises(UsageError, match="template stopped: ran out of memory"):
        _render(tmp_path, "# report\n" + body + "\n")


def test_a_c_loop_past_the_time_limit_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`|sum` of a million one-item lists copies 5 * 10**11 items inside one C call, where
    neither the meters nor SIGALRM run: the CPU limit of the rendering process ends it."""
    import time

    from usertrack.core.errors import UsageError
    from usertrack.reports import templating

    monkeypatch.setattr(templating, "RENDER_SECONDS", 1.0)
    started = time.monotonic()
    with pytest.raises(UsageError, match="template stopped: rendering took longer than 1 s"):
        _render(tmp_path, '# report\n{{ ([["x"]] * 1000000)|sum(start=[])|length }}\n')
    assert time.monotonic() - started < 30  # stopped, not run on (a loaded machine is slow)


def test_the_rendering_process_gets_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from usertrack.reports.templating import render_isolated

    monkeypatch.setenv("POSTHOG_PERSONAL_API_KEY", "phx_hunter2_secret")
    assert render_isolated("os:getenv", "POSTHOG_PERSONAL_API_KEY") == "None"
    assert render_isolated("os:getenv", "PATH") == str(__import__("os").environ["PATH"])


def test_only_markdown_parses_the_shipped_template(home: Path, tmp_path: Path) -> None:
    """-f html and -f json never render the weekly template: the shipped one is not parsed
    (jinja2 not even imported) before their panels; a user's --template is checked as ever."""
    import subprocess
    import sys

    env = {**os.environ, "USERTRACK_HOME": str(home)}
    args = ["-q", "report", "weekly", "--as-of", "2026-11-16", "--no-save"]
    page = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "usertrack", *args, "-f", "html",
         "--out", str(tmp_path / "page.html")],
        env=env, capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert page.returncode == 0, page.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in page.stderr.splitlines() if "|" in line}
    assert "usertrack.dashboards.render" in imported and "jinja2" not in imported
    missing = run([*args, "-f", "json", "--out", "-", "--template", str(tmp_path / "nope.j2")],
                  home)  # fmt: skip
    assert missing.exit_code == EXIT_USAGE and "no such template file" in missing.stderr
    text = report(home, tmp_path / "md", "-f", "md").read_text()  # the shipped one, rendered
    assert text.startswith("# ")


def test_the_failure_report_waits_for_the_reports_answers_from_the_copy(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key metrics' failure report runs beside the classification and the report's other
    queries, but starts once the report's answers from the app tables' copy are done: those
    check the copy for both weeks, the failure report's among them (checked at once, each
    would read the week's rows from the database)."""
    import time

    from usertrack.reports import weekly, weekly_copy

    seen: list[str] = []
    from_copy, failure_categories = weekly_copy.from_copy, weekly.failure_categories

    def copied(*args: Any) -> Any:
        time.sleep(0.3)  # a slow check: the failure report, started at once, would come first
        try:
            return from_copy(*args)
        finally:
            seen.append("copied")

    def categorized(*args: Any) -> Any:
        seen.append("failures")
        return failure_categories(*args)

    monkeypatch.setattr(weekly_copy, "from_copy", copied)
    monkeypatch.setattr(weekly, "failure_categories", categorized)
    text = report(home, tmp_path / "out").read_text(encoding="utf-8")
    assert seen == ["copied", "failures"]
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_the_printed_template_writes_the_shipped_report_as_the_recipe_runs(
    home: Path, tmp_path: Path
) -> None:
    """docs/recipes.md's `report` lines, in their order, in one fresh folder (a `>` writes
    stdout to its file): each exits 0, so the report `--template` writes from the printed
    template is the one the shipped template wrote there, byte for byte, charts included."""
    import shlex

    from typer.testing import CliRunner

    from tests.test_readme import page_commands
    from usertrack.cli import app

    lines = [c for c in page_commands(REPO / "docs" / "recipes.md") if c.args[:1] == ("report",)]
    texts = [c.text for c in lines]
    assert any("--print-template" in t for t in texts) and any("--template" in t for t in texts)
    cwd = tmp_path / "clone"
    cwd.mkdir()
    written: dict[str, str] = {}
    mp = pytest.MonkeyPatch()
    mp.setenv("USERTRACK_HOME", str(home))
    mp.chdir(cwd)
    try:
        for command in lines:
            words = shlex.split(command.text, comments=True)
            target = words[words.index(">") + 1] if ">" in words else None
            result = CliRunner().invoke(app, list(command.args))
            assert result.exit_code == 0, f"{command.text}\n{result.stderr}"
            if target is not None:
                (cwd / target).write_text(result.stdout, encoding="utf-8")
            if "--force" in command.args:  # the shipped template's report, in the folder
                written = {p.name: p.read_text(encoding="utf-8") for p in cwd.glob("usertrack-*")}
    finally:
        mp.undo()
    after = {p.name: p.read_text(encoding="utf-8") for p in cwd.glob("usertrack-*")}
    assert after == written
    assert sum(name.endswith(".svg") for name in after) >= 8  # every chart beside it
    report_md = next(text for name, text in after.items() if name.endswith(".md"))
    assert "## Retention" in report_md and report_md.count("](usertrack-") >= 8
