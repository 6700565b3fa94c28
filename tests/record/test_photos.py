from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFile

from newsletter.core.errors import NewsletterError
from newsletter.issue.model import Asset
from newsletter.record.assets import BUDGET_BYTES, AssetError
from newsletter.record.photos import LOGO_WIDTH, MAX_PIXELS, PHOTO_WIDTH, prepare_image

RED = (220, 20, 20)
BLUE = (20, 20, 220)
ORIENTATION, GPS_IFD = 0x0112, 0x8825


def prepare(data: bytes, *, width: int = PHOTO_WIDTH, budget: int = BUDGET_BYTES) -> Asset:
    return prepare_image(
        data, "speaker-1-ada", shown="photos/ada", width=width, budget_bytes=budget
    )


def opened(asset: Asset) -> Image.Image:
    image = Image.open(io.BytesIO(asset.data))
    image.load()
    return image


def textured(size: tuple[int, int], colour: tuple[int, int, int]) -> Image.Image:
    """A flat colour with a photo's grain, so that it weighs what a photo weighs."""
    grain = Image.effect_noise((size[0] // 4, size[1] // 4), 40).resize(size)
    return Image.merge("RGB", [Image.blend(grain, Image.new("L", size, c), 0.6) for c in colour])


def save(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def close(pixel: object, colour: tuple[int, ...], within: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= within for a, b in zip(pixel, colour, strict=False))


def hue(pixel: object) -> str:
    """Which of red and blue a grainy pixel is."""
    assert isinstance(pixel, tuple)
    red, _, blue = pixel
    return "red" if red > blue + 60 else "blue" if blue > red + 60 else "neither"


@pytest.fixture(scope="module")
def phone_photo() -> bytes:
    """A 4032x3024 photo as a phone stores it: sideways, with EXIF orientation 6 (turn it
    a quarter clockwise to view), the camera's make and where it was taken. Its left
    quarter is red, so that upright its top quarter is."""
    image = textured((4032, 3024), BLUE)
    image.paste(textured((1008, 3024), RED), (0, 0))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (33.0, 41.0, 3.0), 3: "E", 4: (73.0, 3.0, 4.0)})
    data = save(image, "JPEG", quality=90, exif=exif, comment=b"taken at home")
    assert len(data) > 1_000_000
    return data


# --- a phone's photo ---------------------------------------------------------------------


def test_a_phone_photo_becomes_a_small_upright_progressive_jpeg(phone_photo: bytes) -> None:
    asset = prepare(phone_photo)
    image = opened(asset)

    assert (asset.filename, asset.content_type) == ("speaker-1-ada.jpg", "image/jpeg")
    assert image.format == "JPEG" and image.info.get("progressive")
    # Turned upright: portrait, 2x the 140 px the templates show it at, aspect kept.
    assert image.size == (PHOTO_WIDTH, round(4032 * PHOTO_WIDTH / 3024))
    assert hue(image.getpixel((PHOTO_WIDTH // 2, 20))) == "red"
    assert hue(image.getpixel((PHOTO_WIDTH // 2, image.height - 20))) == "blue"
    assert len(asset.data) <= BUDGET_BYTES


def test_a_phone_photo_loses_its_metadata(phone_photo: bytes) -> None:
    assert Image.open(io.BytesIO(phone_photo)).getexif().get_ifd(GPS_IFD)

    image = opened(prepare(phone_photo))

    assert not image.getexif()
    assert not {"exif", "icc_profile", "xmp", "comment"} & set(image.info)
    assert [marker for marker, _ in image.applist] == ["APP0"]  # JFIF only
    assert b"PhoneMaker" not in prepare(phone_photo).data


# How a camera held each way stores an upright picture: the inverse of what the tag asks.
STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_every_exif_orientation_is_applied(orientation: int) -> None:
    upright = Image.new("RGB", (600, 400), BLUE)
    upright.paste(Image.new("RGB", (600, 100), RED))  # red on top
    turn = STORED[orientation]
    stored = upright if turn is None else upright.transpose(turn)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation

    image = opened(prepare(save(stored, "JPEG", exif=exif)))

    assert image.size == (PHOTO_WIDTH, round(400 * PHOTO_WIDTH / 600))
    assert close(image.getpixel((PHOTO_WIDTH // 2, 5)), RED)
    assert close(image.getpixel((PHOTO_WIDTH // 2, image.height - 5)), BLUE)


def test_a_12_megapixel_photo_takes_well_under_a_second(phone_photo: bytes) -> None:
    prepare(phone_photo)  # Pillow's first use loads its codecs
    started = time.perf_counter()
    prepare(phone_photo)
    # About 35 ms here: the JPEG is decoded at 1/8 of its size, still wider than needed.
    assert time.perf_counter() - started < 1.0


# --- transparency and colour ----------------------------------------------------------------


def test_a_png_with_real_transparency_stays_a_transparent_png() -> None:
    image = Image.new("RGBA", (1200, 1200), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((100, 100, 1100, 1100), fill=(*RED, 255))

    asset = prepare(save(image, "PNG"))
    out = opened(asset).convert("RGBA")

    assert (asset.filename, asset.content_type) == ("speaker-1-ada.png", "image/png")
    assert out.size == (PHOTO_WIDTH, PHOTO_WIDTH)
    assert out.getpixel((2, 2))[3] == 0
    assert out.getpixel((PHOTO_WIDTH // 2, PHOTO_WIDTH // 2)) == (*RED, 255)
    assert len(asset.data) <= BUDGET_BYTES


def test_a_transparent_photo_over_budget_is_cut_to_256_colours() -> None:
    image = textured((600, 600), RED).convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize((600, 600)))
    full = prepare(save(image, "PNG"), budget=10**9)

    asset = prepare(save(image, "PNG"), budget=len(full.data) - 1)

    assert asset.content_type == "image/png"
    assert len(asset.data) < len(full.data)
    assert opened(asset).mode == "P"


def test_an_alpha_channel_that_is_opaque_everywhere_becomes_a_jpeg() -> None:
    image = textured((800, 600), BLUE).convert("RGBA")

    assert prepare(save(image, "PNG")).content_type == "image/jpeg"


def test_a_flat_logo_stays_png_when_that_is_smaller() -> None:
    logo = Image.new("RGB", (1600, 400), "white")
    ImageDraw.Draw(logo).rectangle((100, 100, 700, 300), fill=RED)

    asset = prepare(save(logo, "PNG"), width=LOGO_WIDTH)

    assert asset.content_type == "image/png"
    assert opened(asset).size == (LOGO_WIDTH, 100)


def test_a_colour_profile_is_applied_then_dropped() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = save(Image.new("RGB", (600, 400), RED), "JPEG", icc_profile=srgb)

    image = opened(prepare(data))

    assert "icc_profile" not in image.info
    assert close(image.getpixel((10, 10)), RED, within=8)


def test_a_cmyk_jpeg_becomes_rgb() -> None:
    data = save(Image.new("RGB", (600, 400), RED).convert("CMYK"), "JPEG")

    image = opened(prepare(data))

    assert image.mode == "RGB"
    assert close(image.getpixel((10, 10)), RED, within=30)


def test_16_bit_greys_are_scaled_not_clipped_to_white() -> None:
    grey = Image.new("I;16", (600, 400), 128 * 256)

    image = opened(prepare(save(grey, "PNG")))

    assert close(image.convert("RGB").getpixel((10, 10)), (128, 128, 128), within=4)


# --- formats ------------------------------------------------------------------------------


def test_webp_is_converted() -> None:
    asset = prepare(save(textured((1000, 750), BLUE), "WEBP"))

    assert (asset.filename, asset.content_type) == ("speaker-1-ada.jpg", "image/jpeg")
    assert opened(asset).size == (PHOTO_WIDTH, 210)


def test_avif_is_converted() -> None:
    asset = prepare(save(textured((640, 480), BLUE), "AVIF"))

    assert asset.content_type == "image/jpeg"
    assert opened(asset).size == (PHOTO_WIDTH, 210)


def test_an_animated_gif_keeps_its_first_frame() -> None:
    frames = [Image.new("RGB", (400, 400), colour) for colour in (RED, BLUE)]
    data = save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)

    image = opened(prepare(data))

    assert image.format in ("PNG", "JPEG") and not getattr(image, "is_animated", False)
    assert close(image.convert("RGB").getpixel((10, 10)), RED)


def test_a_gif_with_a_transparent_colour_becomes_a_transparent_png() -> None:
    image = Image.new("P", (600, 600), 0)
    image.putpalette([255, 255, 255, *RED])
    ImageDraw.Draw(image).rectangle((150, 150, 450, 450), fill=1)

    asset = prepare(save(image, "GIF", transparency=0))
    out = opened(asset).convert("RGBA")

    assert asset.content_type == "image/png"
    assert out.getpixel((2, 2))[3] == 0
    assert out.getpixel((PHOTO_WIDTH // 2, PHOTO_WIDTH // 2)) == (*RED, 255)


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'
# The start of an iPhone photo: an ISO base media file whose brand is HEIC.
HEIC = struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + b"\0" * 64


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (SVG, "photos/ada is an SVG image, which Gmail and Outlook do not show: "),
        (HEIC, "photos/ada is a HEIC photo, which most mail clients do not show "),
        (b"just some notes", "photos/ada is not an image that can be read: "),
        (save(Image.new("RGB", (8, 8)), "BMP"), "photos/ada is not an image that can be read: "),
    ],
    ids=["svg", "heic", "text", "bmp"],
)
def test_formats_that_cannot_be_shown_or_converted_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(AssetError) as caught:
        prepare(data)

    assert str(caught.value).startswith(message)
    assert str(caught.value).endswith("save it as JPEG or PNG")
    assert isinstance(caught.value, NewsletterError)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("truncated_allowed", [False, True], ids=["pillow", "weasyprint"])
def test_a_photo_cut_short_is_refused(
    phone_photo: bytes, fmt: str, truncated_allowed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Importing WeasyPrint sets LOAD_TRUNCATED_IMAGES for the process: still refused.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", truncated_allowed)
    data = phone_photo if fmt == "JPEG" else save(textured((800, 600), RED), "PNG")

    with pytest.raises(AssetError, match=r"^photos/ada is damaged or cut short: save it as JPEG"):
        prepare(data[: len(data) // 2])


# --- decompression bombs ------------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels in a few dozen bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))


def test_an_image_claiming_too_many_pixels_is_refused_before_decoding() -> None:
    assert MAX_PIXELS < 9000 * 8000
    with pytest.raises(AssetError) as caught:
        prepare(_png_header(9000, 8000))

    assert str(caught.value) == (
        "photos/ada has too many pixels (9,000 × 8,000); the limit is 64 megapixels: "
        "save a smaller copy as JPEG or PNG"
    )


def test_a_bomb_past_pillows_own_limit_is_refused_too() -> None:
    with pytest.raises(AssetError, match=r"^photos/ada has too many pixels; the limit is 64 "):
        prepare(_png_header(50_000, 50_000))


# --- what is kept as it is ----------------------------------------------------------------


def test_a_photo_already_fit_for_mail_is_kept_byte_for_byte() -> None:
    data = save(textured((240, 240), BLUE), "JPEG", quality=80)

    assert prepare(data).data == data


def test_preparing_twice_changes_nothing(phone_photo: bytes) -> None:
    once = prepare(phone_photo)

    assert prepare(once.data) == once


def _camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    return exif


@pytest.mark.parametrize(
    "options",
    [{"exif": _camera_exif()}, {"comment": b"hi"}, {"icc_profile": b"not a profile" * 20}],
    ids=["exif", "comment", "broken-icc"],
)
def test_a_small_photo_with_metadata_is_still_reencoded(options: dict[str, object]) -> None:
    data = save(textured((240, 240), BLUE), "JPEG", **options)

    asset = prepare(data)

    assert asset.data != data
    assert not {"exif", "icc_profile", "comment"} & set(opened(asset).info)


def test_a_small_photo_is_not_enlarged() -> None:
    assert opened(prepare(save(textured((120, 90), RED), "PNG"))).size == (120, 90)


def test_over_budget_the_smallest_encoding_is_returned_for_the_checks_to_report(
    phone_photo: bytes,
) -> None:
    asset = prepare(phone_photo, budget=1000)

    assert asset.content_type == "image/jpeg"
    assert 1000 < len(asset.data) < len(prepare(phone_photo).data)
