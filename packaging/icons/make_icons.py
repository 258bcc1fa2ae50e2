"""Render Cairn's icon from `cairn.svg` into the bitmap formats the installers need.

    python packaging/icons/make_icons.py

Writes cairn-<size>.png (16…512), cairn.ico (Windows: 16–256 in one file) and cairn.icns
(macOS) next to this file. The outputs are committed, so builds need neither this script nor
its tools; run it again only after editing the SVG. Needs `rsvg-convert` (Debian:
librsvg2-bin; macOS: brew install librsvg) and Pillow (already in the venv via fastembed).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVG = HERE / "cairn.svg"
PNG_SIZES = (16, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def render_png(size: int, out: Path) -> None:
    subprocess.run(
        ["rsvg-convert", "-w", str(size), "-h", str(size), "-o", str(out), str(SVG)], check=True
    )


def main() -> int:
    if shutil.which("rsvg-convert") is None:
        print("rsvg-convert not found (apt-get install librsvg2-bin)", file=sys.stderr)
        return 2
    from PIL import Image

    for size in PNG_SIZES:
        render_png(size, HERE / f"cairn-{size}.png")
    big = Image.open(HERE / "cairn-512.png").convert("RGBA")
    big.save(HERE / "cairn.ico", sizes=[(s, s) for s in ICO_SIZES])
    big.save(HERE / "cairn.icns")
    print("wrote", ", ".join(sorted(p.name for p in HERE.iterdir() if p.suffix != ".py")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
