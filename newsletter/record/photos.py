"""Making an image fit for mail, as a mail tool does: upright, stripped of its metadata, in
sRGB, no wider than its slot needs, and re-encoded as progressive JPEG (PNG where it is
really transparent) within a size budget.

Pure: bytes in, an `Asset` out. Reading the file, within its size limit, is
`newsletter.record.assets`'s job.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable

from PIL import Image, ImageCms, ImageOps

from newsletter.issue.model import Asset
from newsletter.record.assets import AssetError, sniff_image_type

# Twice the width the templates show each image at, for high-density screens. A speaker
# photo is 140 px wide in the email and the web page (the phone rule's max-width: 160px
# only caps it) and 28 mm wide in print, which 280 px fill at 254 dpi. The logo is 200 px.
PHOTO_WIDTH = 280
LOGO_WIDTH = 400

# A bound on the pixels decoded, checked on the header before any is: a small file can
# claim a huge image (a "decompression bomb"). 64 megapixels is more than a phone or
# camera takes at its usual settings (12 to 50).
MAX_PIXELS = 64_000_000

# The decoders tried; Pillow's other ones (EPS runs Ghostscript) never see the bytes.
# JPEG's also reads many phones' photos as MPO (a photo followed by its previews).
_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF")
# Sources whose pixels are exact, so PNG may keep a logo's flat colours crisp.
_LOSSLESS = frozenset({"PNG", "GIF"})
# Tried from the top until one fits the budget; below 60 faces show blocks.
_JPEG_QUALITIES = (85, 80, 75, 70, 65, 60)
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png"}

# What a file may carry and still be used as it is: nothing that tells who or where, and
# nothing that changes how it shows (no EXIF orientation, no colour profile).
_PLAIN_JPEG_INFO = frozenset(
    {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "progressive", "progression"}
)
_PLAIN_PNG_INFO = frozenset({"dpi", "aspect", "transparency"})

_FIX = "save it as JPEG or PNG"
# A PNG's last chunk, with its (constant) checksum.
_PNG_END = b"IEND\xaeB`\x82"
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def prepare_image(data: bytes, stem: str, *, shown: str, width: int, budget_bytes: int) -> Asset:
    """`data` made fit for mail, as the Asset `stem` + ".jpg" or ".png".

    A JPEG or PNG that is already fit (no wider than `width`, within `budget_bytes`, and
    with no metadata) is kept byte for byte, so preparing twice changes nothing. When no
    encoding fits the budget the smallest is returned: the composer's checks report it.

    Raises AssetError, naming the file as `shown`, for an image that cannot be used.
    """
    kind = sniff_image_type(data)
    if kind == "image/svg+xml":
        raise AssetError(f"{shown} is an SVG image, which Gmail and Outlook do not show: {_FIX}")
    if kind == "image/heic":
        raise AssetError(
            f"{shown} is a HEIC photo, which most mail clients do not show and which cannot "
            f"be converted here: {_FIX}"
        )
    try:
        image = Image.open(io.BytesIO(data), formats=_FORMATS)
    except Image.DecompressionBombError:
        raise AssetError(_too_many_pixels(shown)) from None
    except (OSError, SyntaxError, ValueError):
        raise AssetError(f"{shown} is not an image that can be read: {_FIX}") from None
    with image:
        if image.width * image.height > MAX_PIXELS:
            raise AssetError(_too_many_pixels(shown, image.size))
        if _cut_short(data, image.format):
            raise AssetError(f"{shown} is damaged or cut short: {_FIX} again")
        try:
            if _already_fit(image, len(data), width, budget_bytes):
                return _asset(stem, "image/png" if image.format == "PNG" else "image/jpeg", data)
            return _reencode(image, stem, width, budget_bytes)
        except (OSError, SyntaxError, ValueError, EOFError, struct.error):
            raise AssetError(f"{shown} is damaged or cut short: {_FIX} again") from None


def _too_many_pixels(shown: str, size: tuple[int, int] | None = None) -> str:
    dimensions = f" ({size[0]:,} × {size[1]:,})" if size else ""
    return (
        f"{shown} has too many pixels{dimensions}; the limit is {MAX_PIXELS // 1_000_000} "
        f"megapixels: save a smaller copy as JPEG or PNG"
    )


def _cut_short(data: bytes, fmt: str | None) -> bool:
    """Whether a JPEG or PNG ends before its image data does. Pillow tells by itself only
    until a library sets ImageFile.LOAD_TRUNCATED_IMAGES for the whole process, as
    WeasyPrint does on import; the photo would then be used with its end painted grey."""
    if fmt == "PNG":
        return _PNG_END not in data
    if fmt in ("JPEG", "MPO"):
        # Within the compressed data, 0xFF is always followed by 0x00 or a restart marker,
        # so from the first scan on FF D9 can only be the end of the image.
        return data.find(b"\xff\xd9", _first_scan(data)) == -1
    return False


def _first_scan(data: bytes) -> int:
    """Where a JPEG's first scan starts: past its headers, an EXIF thumbnail (whose end
    marker is not the image's) included."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:
            return pos
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return len(data)


def _already_fit(image: Image.Image, size: int, width: int, budget: int) -> bool:
    if size > budget or image.width > width or getattr(image, "is_animated", False):
        return False
    if image.format == "JPEG":
        plain = set(image.info) <= _PLAIN_JPEG_INFO and all(
            marker == "APP0" and payload.startswith(b"JFIF")
            for marker, payload in getattr(image, "applist", [])
        )
        fit = plain and image.mode in ("L", "RGB")
    elif image.format == "PNG":
        fit = set(image.info) <= _PLAIN_PNG_INFO and image.mode in ("L", "LA", "P", "RGB", "RGBA")
    else:
        return False
    if fit:
        image.load()  # a file cut short is not kept as it is
    return fit


def _reencode(image: Image.Image, stem: str, width: int, budget: int) -> Asset:
    source_format = image.format
    _decode_small(image, width)
    image.load()
    icc = image.info.get("icc_profile")
    transparent = _has_alpha(image)
    picture = _to_srgb(ImageOps.exif_transpose(image), icc, "RGBA" if transparent else "RGB")
    if picture.width > width:
        height = max(1, round(picture.height * width / picture.width))
        picture = picture.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if transparent and _see_through(picture):
        return _asset(stem, "image/png", _smallest_png(picture, budget))
    picture = picture.convert("RGB")
    jpeg = _fitting(budget, (_jpeg(picture, quality) for quality in _JPEG_QUALITIES))
    if source_format in _LOSSLESS:
        png = _png(picture)
        if len(png) <= len(jpeg):
            return _asset(stem, "image/png", png)
    return _asset(stem, "image/jpeg", jpeg)


def _decode_small(image: Image.Image, width: int) -> None:
    """Let a JPEG decode at 1/2, 1/4 or 1/8 of its size when that is still at least
    `width` wide: a 12-megapixel photo then costs a fraction of the memory and time."""
    if image.format not in ("JPEG", "MPO") or image.width <= width:
        return
    turned = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # shown rotated by a quarter
    across, down = (image.height, image.width) if turned else image.size
    needed = (width, max(1, down * width // across))
    image.draft(None, needed[::-1] if turned else needed)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def _see_through(image: Image.Image) -> bool:
    """Whether any pixel of an RGBA image is not fully opaque."""
    return image.getchannel("A").histogram()[255] < image.width * image.height


def _to_srgb(image: Image.Image, icc: bytes | None, mode: str) -> Image.Image:
    """The pixels in sRGB as `mode` ("RGB" or "RGBA"), with no metadata left to carry over."""
    if image.mode.startswith("I"):
        # 16-bit greys: converting would clip everything above 255 to white.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    if image.mode in ("P", "PA", "LA", "La", "RGBa"):
        # A palette would be resampled by picking the nearest colours, not blending them.
        image = image.convert(mode)
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, profile, _SRGB, outputMode=mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # a broken profile, or one for other pixels: them as they are
        if converted is not None:
            image = converted
    picture = image.convert(mode)
    picture.info = {}
    return picture


def _fitting(budget: int, encodings: Iterable[bytes]) -> bytes:
    """The first encoding within the budget (later ones are never made), else the smallest."""
    smallest = b""
    for data in encodings:
        if len(data) <= budget:
            return data
        if not smallest or len(data) < len(smallest):
            smallest = data
    return smallest


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _smallest_png(image: Image.Image, budget: int) -> bytes:
    full = _png(image)
    if len(full) <= budget:
        return full
    # 256 colours, each with its alpha, look the same at this size and weigh far less.
    return min(full, _png(image.quantize(256, Image.Quantize.FASTOCTREE)), key=len)


def _asset(stem: str, content_type: str, data: bytes) -> Asset:
    return Asset(
        filename=f"{stem}{_EXTENSIONS[content_type]}", content_type=content_type, data=data
    )
