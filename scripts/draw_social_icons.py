"""Draw the small social-network icons the newsletter's "Follow Us" line shows
(newsletter/compose/icons/*.png). Run once after changing a drawing; the PNGs are shipped.

Plain glyph-like marks on a round badge in each network's colour, not the networks' logos:
a mail client shows them at 28 px (drawn at twice that for sharp screens), and the alt text
names the network. Letters are DejaVu Sans Bold, which Debian ships.

    .venv/bin/python scripts/draw_social_icons.py
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SIZE = 56
SCALE = 4  # drawn large, then reduced: smooth edges without anti-aliased primitives
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
OUT = Path(__file__).resolve().parent.parent / "newsletter" / "compose" / "icons"
WHITE = (255, 255, 255, 255)

# Draws the white mark on a badge `side` pixels wide of colour `colour`.
Draw = Callable[[ImageDraw.ImageDraw, int, tuple[int, int, int]], None]


def _letters(text: str, size: float) -> Draw:
    def draw(pen: ImageDraw.ImageDraw, side: int, colour: tuple[int, int, int]) -> None:
        font = ImageFont.truetype(str(FONT), int(side * size))
        pen.text((side / 2, side / 2), text, font=font, fill=WHITE, anchor="mm")

    return draw


def _play(pen: ImageDraw.ImageDraw, side: int, colour: tuple[int, int, int]) -> None:
    u = side / 100
    pen.rounded_rectangle((22 * u, 30 * u, 78 * u, 70 * u), radius=12 * u, fill=WHITE)
    pen.polygon([(43 * u, 40 * u), (43 * u, 60 * u), (61 * u, 50 * u)], fill=(*colour, 255))


def _camera(pen: ImageDraw.ImageDraw, side: int, colour: tuple[int, int, int]) -> None:
    u = side / 100
    pen.rounded_rectangle(
        (26 * u, 26 * u, 74 * u, 74 * u), radius=14 * u, outline=WHITE, width=int(6 * u)
    )
    pen.ellipse((38 * u, 38 * u, 62 * u, 62 * u), outline=WHITE, width=int(6 * u))
    pen.ellipse((62 * u, 33 * u, 68 * u, 39 * u), fill=WHITE)


def _bubble(pen: ImageDraw.ImageDraw, side: int, colour: tuple[int, int, int]) -> None:
    u = side / 100
    pen.ellipse((24 * u, 24 * u, 76 * u, 76 * u), outline=WHITE, width=int(6 * u))
    pen.polygon([(24 * u, 80 * u), (30 * u, 62 * u), (42 * u, 72 * u)], fill=WHITE)


def _note(pen: ImageDraw.ImageDraw, side: int, colour: tuple[int, int, int]) -> None:
    u = side / 100
    pen.rectangle((52 * u, 24 * u, 60 * u, 66 * u), fill=WHITE)
    pen.ellipse((34 * u, 56 * u, 60 * u, 76 * u), fill=WHITE)
    pen.pieslice((44 * u, 12 * u, 76 * u, 44 * u), 90, 180, fill=WHITE)


# network: (badge colour, mark)
ICONS: dict[str, tuple[tuple[int, int, int], Draw]] = {
    "facebook": ((24, 119, 242), _letters("f", 0.62)),
    "twitter": ((29, 155, 240), _letters("t", 0.58)),
    "x": ((20, 20, 20), _letters("X", 0.5)),
    "linkedin": ((10, 102, 194), _letters("in", 0.44)),
    "youtube": ((230, 0, 0), _play),
    "instagram": ((193, 53, 132), _camera),
    "tiktok": ((20, 20, 20), _note),
    "whatsapp": ((37, 211, 102), _bubble),
}


def icon(colour: tuple[int, int, int], mark: Draw) -> bytes:
    side = SIZE * SCALE
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.ellipse((0, 0, side - 1, side - 1), fill=(*colour, 255))
    mark(pen, side, colour)
    small = image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for network, (colour, mark) in ICONS.items():
        data = icon(colour, mark)
        (OUT / f"{network}.png").write_bytes(data)
        print(f"{network}.png: {len(data)} bytes")


if __name__ == "__main__":
    main()
