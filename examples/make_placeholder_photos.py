"""Draw a placeholder photo (initials on a coloured square) for each speaker of a record.

The example records ship these instead of real portraits. Run from the repository root:

    .venv/bin/python examples/make_placeholder_photos.py [RECORD ...]

With no argument every examples/*/record.yaml is done. Each speaker's local `photo` path
is (over)written; https photos are left alone.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import yaml
from PIL import Image, ImageDraw, ImageFont

SIZE = 240
# Muted, dark enough that white initials pass WCAG AA contrast on every one.
PALETTE = ("#1f4e79", "#7a2e39", "#2e6b4f", "#6b4c9a", "#8a5a00", "#34495e", "#a0364b")
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "DejaVuSans-Bold.ttf",
)
HONORIFICS = {"h.e.", "mr.", "mrs.", "ms.", "dr.", "prof."}


def initials(name: str) -> str:
    words = [w for w in name.split() if w.lower() not in HONORIFICS and w[:1].isalpha()]
    if not words:
        return "?"
    picked = [words[0], words[-1]] if len(words) > 1 else words[:1]
    return "".join(w[0].upper() for w in picked)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in FONT_CANDIDATES:
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def draw(name: str) -> Image.Image:
    # The colour follows the name, so re-running gives the same picture.
    colour = PALETTE[hashlib.sha256(name.encode()).digest()[0] % len(PALETTE)]
    image = Image.new("RGB", (SIZE, SIZE), colour)
    ImageDraw.Draw(image).text(
        (SIZE / 2, SIZE / 2), initials(name), fill="white", font=_font(96), anchor="mm"
    )
    return image


def make_photos(record: Path) -> list[Path]:
    data = yaml.safe_load(record.read_text(encoding="utf-8"))
    written: list[Path] = []
    for speaker in data.get("speakers", []):
        photo = speaker.get("photo")
        if not photo or "://" in photo:
            continue
        target = record.parent / photo
        target.parent.mkdir(parents=True, exist_ok=True)
        draw(speaker["name"]).save(target, "JPEG", quality=85, optimize=True)
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    records = [Path(a) for a in argv] or sorted(Path(__file__).parent.glob("*/record.yaml"))
    for record in records:
        for path in make_photos(record):
            print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
