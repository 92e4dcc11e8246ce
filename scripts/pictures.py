"""Make the README's and the docs' pictures again from the demo, so they show what it gives.

    uv run python scripts/pictures.py            # rewrite docs/img/*.png
    uv run python scripts/pictures.py --as-of 2026-11-27   # the demo's answer at that moment

Each picture is a page usertrack writes (`report weekly -f html`) on a fresh demo workspace (a
temporary USERTRACK_HOME and an empty config, never yours), shot by headless Chromium (Debian's
`chromium`, as tests/dashboards/test_dashboard_browser.py drives it) at a fixed window, then its
image data compressed again at zlib's best level. Each must stay under MAX_BYTES: the README loads
it.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMG = REPO / "docs" / "img"
MAX_BYTES = 200_000

# name: (the usertrack command writing the page, Chromium's window as width,height)
PICTURES: dict[str, tuple[list[str], str]] = {
    "weekly-dashboard.png": (["report", "weekly", "-f", "html"], "1100,2200"),
}

FLAGS = [
    "--headless",
    "--no-sandbox",  # CI's container runs as root
    "--disable-gpu",
    "--no-first-run",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--virtual-time-budget=20000",  # the page's scripts draw every chart first
]


def recompressed(png: bytes) -> bytes:
    """The same PNG with its image data compressed again at zlib's best level (Chromium writes
    it fast, not small); every other chunk as it was."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    chunks, at, data = [], 8, b""
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, body = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        at += 12 + length
        if kind == b"IDAT":
            data += body
            if png[at + 4 : at + 8] != b"IDAT":  # the last of a run of IDAT chunks
                chunks.append((b"IDAT", zlib.compress(zlib.decompress(data), 9)))
        else:
            chunks.append((kind, body))
    out = [png[:8]]
    for kind, body in chunks:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        out.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc))
    return b"".join(out)


def main(argv: list[str]) -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("pictures: no chromium binary on PATH (apt-get install chromium)", file=sys.stderr)
        return 1
    as_of = argv[argv.index("--as-of") + 1 :][:1] if "--as-of" in argv else []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "config.toml").write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTHOG_", "USERTRACK_"))}
        env |= {"USERTRACK_HOME": str(work / "home"), "USERTRACK_CONFIG": str(work / "config.toml")}
        env.pop("DATABASE_URL", None)  # the demo, never a live source
        for name, (command, window) in PICTURES.items():
            page = work / f"{Path(name).stem}.html"
            args = [*command, *(["--as-of", as_of[0]] if as_of else []), "--out", str(page)]
            made = subprocess.run(
                [sys.executable, "-m", "usertrack", "-q", *args], cwd=work, env=env, check=False
            )
            if made.returncode != 0:
                print(f"pictures: usertrack {' '.join(args)} failed", file=sys.stderr)
                return 1
            shot = work / name
            taken = subprocess.run(
                [chromium, *FLAGS, f"--window-size={window}", f"--screenshot={shot}",
                 page.as_uri()],
                cwd=work, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            if taken.returncode != 0 or not shot.exists():
                print(f"pictures: chromium could not shoot {page.name}", file=sys.stderr)
                return 1
            png = recompressed(shot.read_bytes())
            if len(png) > MAX_BYTES:
                print(
                    f"pictures: {name} is {len(png):,} bytes, over {MAX_BYTES:,}", file=sys.stderr
                )
                return 1
            (IMG / name).write_bytes(png)
            print(f"wrote docs/img/{name} ({len(png):,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
