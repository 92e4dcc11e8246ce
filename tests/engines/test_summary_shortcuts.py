"""The summary files PostHog counts `retention`, `activity`, `sessions` and `paths` with, live,
and the files it counts a --by-segment run's groups of `paths` and `trends` with: on the local
engine each analysis's own count is the shortcut declared against its file
(usertrack/engines/local/summaries.py), so a copy of the file in a library of one's own runs
as written, and the analysis's answer is then what the copy computes: the same for a copy
that only adds a comment, another for an edit that changes what it counts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli_runner import query_listing, run_json
from usertrack.core.shipped import shipped_path
from usertrack.engines.local import shortcuts, summaries

# Each summary file: the analysis that reads it, its options on the demo, and an edit that
# changes what the file counts (every occurrence).
EXCLUSION = (", {exclude_pattern})", ", concat({exclude_pattern}, '-never'))")  # internal too
ASKED: dict[str, tuple[list[str], tuple[str, str]]] = {
    "posthog/retention_summary": (
        ["retention", "--period", "day", "--periods", "7"],
        ("count() AS persons", "2 * count() AS persons"),
    ),
    "posthog/activity_summary": (["activity", "--days", "14"], EXCLUSION),
    "posthog/session_summary": (["sessions", "--days", "14"], EXCLUSION),
    "posthog/paths_summary": (
        ["paths", "--days", "7", "--to", "/settings"],
        ("toIntervalMinute(30)", "toIntervalMinute(1)"),  # sequences cut at a minute's gap
    ),
    "posthog/path_sequences": (
        ["paths", "--days", "7", "--by-segment"],
        ("toIntervalMinute(30)", "toIntervalMinute(1)"),
    ),
    "posthog/trends_person_points": (
        ["trends", "$pageview", "--days", "14", "--by-segment"],
        ("count() AS events", "2 * count() AS events"),
    ),
}
SAID = {
    summaries.ENTRY: "local shortcut: on the local engine the analysis counts this file's figures",
    summaries.GROUPS: "local shortcut: on the local engine a --by-segment run counts its groups",
}
AS_OF = "2026-11-15T10:30:00"


def _library(tmp_path: Path, query_id: str, edit: tuple[str, str] | None) -> Path:
    """A copy of the shipped library with `query_id` given a comment of its own, and `edit`
    made in it (every occurrence) where given."""
    folder = tmp_path / "queries"
    shutil.copytree(shipped_path("queries"), folder)
    path = folder / f"{query_id}.sql"
    text = path.read_text(encoding="utf-8") + "\n-- a copy of my own\n"
    if edit is not None:
        assert edit[0] in text, f"{query_id}: the edit no longer fits the file"
        text = text.replace(*edit)
    path.write_text(text, encoding="utf-8")
    return folder


def _answer(home: Path, query_id: str, *extra: str) -> dict[str, object]:
    doc = run_json(home, *ASKED[query_id][0], "--as-of", AS_OF, *extra)
    doc.pop("timing", None)
    return doc


def test_every_summary_shortcut_is_asked_here() -> None:
    """Each is tested below, and `usertrack query --list` says which analysis answers it."""
    declared = {q: cut.entry for q, cut in shortcuts.REGISTRY.items() if cut.entry in SAID}
    assert set(declared) == set(ASKED)
    listed = query_listing(shipped_path("queries"))
    for query_id, entry in declared.items():
        assert any(line.startswith(SAID[entry]) for line in listed[query_id]), query_id


@pytest.mark.parametrize("query_id", sorted(ASKED))
def test_an_edited_summary_file_is_what_the_analysis_answers(
    fixed_demo_home: Path, tmp_path: Path, query_id: str
) -> None:
    shipped = _answer(fixed_demo_home, query_id)
    copied = _answer(
        fixed_demo_home, query_id, "--queries", str(_library(tmp_path, query_id, None))
    )
    assert copied == shipped  # the file run as written counts what the shortcut counts
    edited = tmp_path / "edited"
    edited.mkdir()
    changed = _answer(
        fixed_demo_home, query_id, "--queries", str(_library(edited, query_id, ASKED[query_id][1]))
    )
    assert changed != shipped  # the edit is what is answered


def test_a_copied_paths_summary_counts_the_top_paths_prefixes_as_the_shortcut(
    fixed_demo_home: Path, tmp_path: Path
) -> None:
    """Without --to, paths_summary.sql counts the top paths' prefixes itself (its rows of kind
    6, no path_prefixes.sql after it): run as written, its completion and drop-off are the
    shortcut's."""
    args = ["paths", "--days", "7", "--as-of", AS_OF]
    shipped = run_json(fixed_demo_home, *args)
    library = _library(tmp_path, "posthog/paths_summary", None)
    copied = run_json(fixed_demo_home, *args, "--queries", str(library))
    for doc in (shipped, copied):
        doc.pop("timing", None)
    assert any(p["dropoff"] for p in shipped["paths"])  # prefixes past the first were counted
    assert copied == shipped
