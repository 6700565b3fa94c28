"""Reading image files (speaker photos, the brand logo) into `Asset`s."""

from __future__ import annotations

import re
from pathlib import Path

from newsletter.compose.issue import Asset
from newsletter.errors import NewsletterError

SUPPORTED = "JPEG, PNG, GIF, WebP or SVG"

# The file name extension that goes with each content type we accept.
EXTENSIONS: dict[str, str] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/svg+xml": ".svg",
}

_SVG_ROOT = re.compile(r"<svg[\s>]")


class AssetError(NewsletterError):
    """An image file is missing, unreadable or not in a format mail clients show."""


def sniff_image_type(data: bytes) -> str | None:
    """The content type the bytes really are, whatever the file name claims."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    # SVG has no magic number: accept XML text whose root element is <svg>.
    head = data[:4096].decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    if head.startswith("<") and _SVG_ROOT.search(head):
        return "image/svg+xml"
    return None


def read_asset(path: Path, filename: str) -> Asset:
    """Read an image file into an Asset named `filename`, typed by its content."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise AssetError(f"{path} is a folder, not an image file") from None
    except FileNotFoundError:
        raise AssetError(f"{path} does not exist") from None
    except OSError as exc:
        raise AssetError(f"{path} cannot be read: {(exc.strerror or str(exc)).lower()}") from None
    if not data:
        raise AssetError(f"{path} is empty")
    content_type = sniff_image_type(data)
    if content_type is None:
        raise AssetError(f"{path} is not a {SUPPORTED} image")
    return Asset(filename=filename, content_type=content_type, data=data)
