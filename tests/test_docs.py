"""The documentation site stays true: its command reference is what the CLI's help says, and
the worked example of adding a column runs as written on the demo."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from usertrack.cli import app

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "gen_commands", REPO / "scripts" / "gen_commands.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_command_reference_is_the_clis_help() -> None:
    """docs/commands.md is regenerated from the CLI: an option added, renamed or described
    differently without `uv run python scripts/gen_commands.py` fails here."""
    gen = _generator()
    page = (DOCS / "commands.md").read_text(encoding="utf-8")
    assert page == gen.render(), "run `uv run python scripts/gen_commands.py` and commit it"
    assert gen.main(["--check"]) == 0


def test_the_command_reference_has_every_command() -> None:
    import typer.main

    group = typer.main.get_command(app)
    page = (DOCS / "commands.md").read_text(encoding="utf-8")
    for name in group.commands:  # type: ignore[attr-defined]
        assert f"## `usertrack {name}`" in page, name
        assert f"Usage: usertrack {name} " in page, name


def _section(page: Path, heading: str) -> str:
    text = page.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_adding_a_column_end_to_end_works_as_written(
    demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The three edits of docs/query-files.md ("Adding a column end to end"), applied to copies
    of the shipped files: the new column reaches every user's JSON and the new segment's rule."""
    section = _section(DOCS / "query-files.md", "Adding a column end to end")
    sql = re.findall(r"```sql\n(.*?)```", section, re.S)
    yaml = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert len(sql) == 2 and len(yaml) == 1
    query, profile_line = sql
    name = re.search(r"^-- name: (\w+)$", query, re.M)
    assert name is not None
    column = re.search(r"\bAS (\w+),\s*$", profile_line)
    assert column is not None
    segment = re.search(r"^\s*- id: (\w+)$", yaml[0], re.M)
    assert segment is not None

    shutil.copytree(REPO / "queries", tmp_path / "queries")
    shutil.copyfile(REPO / "segments.yaml", tmp_path / "segments.yaml")
    (tmp_path / "queries" / "posthog" / f"{name.group(1)}.sql").write_text(query)
    profile = tmp_path / "queries" / "join" / "profile.sql"
    anchor = "END AS events_total,\n"
    text = profile.read_text()
    assert anchor in text  # "beside events_total", as the page says
    profile.write_text(text.replace(anchor, anchor + profile_line, 1))
    with (tmp_path / "segments.yaml").open("a") as rules:
        rules.write("\n" + yaml[0])

    monkeypatch.setenv("USERTRACK_HOME", str(demo_home))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["-q", "segments", "--no-save", "-f", "json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    counts = {s["id"]: s["count"] for s in doc["segments"]}
    assert counts[segment.group(1)] > 0
    values = [u[column.group(1)] for u in doc["users"]]
    assert any(v and v >= 20 for v in values)
    assert all(u[column.group(1)] is not None for u in doc["users"] if u["in_posthog"])


def test_the_mcp_pages_tool_list_is_what_the_server_serves(tmp_path: Path) -> None:
    """docs/mcp.md names every tool `usertrack mcp --allow-act` lists, and no other: asked of
    the real server over stdio, so a tool added to the server is a failing test until it is
    documented."""
    from tests.mcp.test_mcp import with_client

    page = (DOCS / "mcp.md").read_text()
    listing = re.search(r"\*\*Tools\.\*\*(.*?)\(below\)\.", page, re.S)
    assert listing is not None, "docs/mcp.md: no **Tools.** list ending '(below).'"
    documented = set(re.findall(r"`([a-z_]+)`", listing.group(1)))

    async def names(client: object) -> set[str]:
        return {t.name for t in (await client.list_tools()).tools}  # type: ignore[attr-defined]

    served = with_client(tmp_path / "home", names, "--allow-act")
    assert documented == served, (
        f"undocumented: {sorted(served - documented)}; not served: {sorted(documented - served)}"
    )


_OVERFLOW_PROBE = """<script>
window.addEventListener("load", () => {
  const blocks = [...document.querySelectorAll(".highlight pre > code")]
    .filter((code) => code.textContent.startsWith("Usage: "));
  const cut = blocks.filter((code) => code.scrollWidth > code.clientWidth + 1).length;
  const out = document.createElement("div");
  out.id = "overflow-probe";
  out.textContent = `help=${blocks.length} cut=${cut}`;
  document.body.appendChild(out);
});
</script></body>"""


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="the docs group is not installed (uv run --only-group docs mkdocs build installs it)",
)
def test_help_blocks_on_the_built_site_wrap_instead_of_being_cut(tmp_path: Path) -> None:
    """The command reference's 100-column help, on the built site in headless Chromium at a
    laptop's and a narrow window's width: no help block is wider than its box (cut at the right
    edge, behind a scrollbar)."""
    from tests.dashboards.test_dashboard_browser import CHROMIUM, chromium

    if CHROMIUM is None:
        pytest.skip("no chromium binary on this machine")
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--strict",
         "--site-dir", str(site)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=os.environ | {"NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    page = site / "commands" / "probe.html"
    html = (site / "commands" / "index.html").read_text(encoding="utf-8")
    page.write_text(html.replace("</body>", _OVERFLOW_PROBE, 1), encoding="utf-8")
    for width in (1280, 800):
        shown = chromium(page, f"--window-size={width},900", "--dump-dom")
        assert shown.returncode == 0, shown.stderr[-2000:]
        probe = re.search(r'id="overflow-probe">help=(\d+) cut=(\d+)<', shown.stdout)
        assert probe is not None, shown.stdout[-2000:]
        assert int(probe.group(1)) >= 20 and probe.group(2) == "0", (width, probe.groups())


def test_the_pictures_are_small_pngs_and_recompressing_keeps_every_pixel() -> None:
    """Every picture the README and the pages load is a PNG under scripts/pictures.py's
    MAX_BYTES, and its recompression changes the bytes of the image data, never the pixels."""
    import zlib

    spec = importlib.util.spec_from_file_location("pictures", REPO / "scripts" / "pictures.py")
    assert spec is not None and spec.loader is not None
    pictures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pictures)
    shown = set(re.findall(r"img/([\w-]+\.png)", (REPO / "README.md").read_text()))
    for page in DOCS.glob("*.md"):
        shown |= set(re.findall(r"\]\(img/([\w-]+\.png)\)", page.read_text()))
    assert shown and shown <= set(pictures.PICTURES), shown - set(pictures.PICTURES)

    def pixels(png: bytes) -> bytes:
        parts, at = b"", 8
        while at < len(png):
            length = int.from_bytes(png[at : at + 4], "big")
            if png[at + 4 : at + 8] == b"IDAT":
                parts += png[at + 8 : at + 8 + length]
            at += 12 + length
        return zlib.decompress(parts)

    for name in shown:
        png = (DOCS / "img" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) <= pictures.MAX_BYTES, name
        assert pixels(pictures.recompressed(png)) == pixels(png)
