"""Reading image files (speaker photos, the brand logo) into `Asset`s, within a size limit
and as the bytes really are. `newsletter.record.photos` then makes them fit for mail."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from newsletter.core.errors import NewsletterError
from newsletter.issue.model import Asset

SUPPORTED = "JPEG, PNG, GIF, WebP or SVG"

_SVG_ROOT = re.compile(r"<svg[\s>]")
# ISO base media files (ftyp box) by brand: AVIF, which Pillow reads, and HEIC (an
# iPhone's usual format), which it cannot.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})

# NEWSLETTER_MAX_PHOTO_BYTES's default; also the bound for the brand's logo.
MAX_IMAGE_BYTES = 10 * 1024 * 1024
# NEWSLETTER_PHOTO_BUDGET_BYTES's default: what one prepared image may weigh in a message.
BUDGET_BYTES = 60 * 1024


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
    if data[4:8] == b"ftyp":
        # The major brand, then (after a version) the compatible ones; a real box lists
        # a handful, and a huge size claimed by a crafted file is not believed.
        box = data[8 : min(int.from_bytes(data[:4], "big"), 256)]
        brands = {box[:4]} | {box[i : i + 4] for i in range(8, len(box) - 3, 4)}
        if brands & _AVIF_BRANDS:
            return "image/avif"
        if brands & _HEIF_BRANDS:
            return "image/heic"
    # SVG has no magic number: accept XML text whose root element is <svg>.
    head = data[:4096].decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    if head.startswith("<") and _SVG_ROOT.search(head):
        return "image/svg+xml"
    return None


# Still an OSError: the record loader catches every read failure as one, and callers of
# `read_regular_file` are promised one.
class NotRegularFile(OSError, NewsletterError):
    """The path is a device, fifo or socket: reading it could block or never end."""


def read_regular_file(path: Path, limit: int, *, follow_symlinks: bool = True) -> bytes:
    """At most `limit + 1` bytes of the regular file at `path`, so a caller can tell that
    it is larger than `limit` without reading it all.

    Raises FileNotFoundError, IsADirectoryError, NotRegularFile or another OSError.
    """
    # Checked before opening (opening some devices does something) and again on the open
    # file, in case the path was swapped in between.
    _regular(os.stat(path, follow_symlinks=follow_symlinks).st_mode, path)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    with open(os.open(path, flags), "rb") as handle:
        _regular(os.fstat(handle.fileno()).st_mode, path)
        return handle.read(limit + 1)


def _regular(mode: int, path: Path) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if stat.S_ISLNK(mode):  # only when not following: swapped in, or a loop
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
    if not stat.S_ISREG(mode):
        raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))


def read_asset(path: Path, filename: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> Asset:
    """Read an image file into an Asset named `filename`, typed by its content."""
    return _read(path, path, filename, max_bytes, follow_symlinks=True)


def read_photo(folder: Path, photo: str, filename: str, *, max_bytes: int) -> Asset:
    """Read `photo`, a path relative to `folder`, which it must not leave (symlinks
    resolved). Errors name the photo as `folder / photo`.

    Whether a path outside the folder exists is never told: it is refused before it is
    looked at, with the same message either way.
    """
    shown = folder / photo
    base = Path(os.path.realpath(folder))
    # realpath, not Path.resolve: resolve raises on a symlink loop, which would tell.
    target = Path(os.path.realpath(base / photo))
    if not target.is_relative_to(base):
        raise AssetError(
            f"{shown} is outside the record's folder; a photo must be a file in that folder "
            "or an https:// URL"
        )
    return _read(target, shown, filename, max_bytes, follow_symlinks=False)


def _read(
    path: Path, shown: Path, filename: str, max_bytes: int, *, follow_symlinks: bool
) -> Asset:
    try:
        data = read_regular_file(path, max_bytes, follow_symlinks=follow_symlinks)
    except IsADirectoryError:
        raise AssetError(f"{shown} is a folder, not an image file") from None
    except FileNotFoundError:
        raise AssetError(f"{shown} does not exist") from None
    except NotRegularFile:
        raise AssetError(f"{shown} is not a regular file (a device, fifo or socket)") from None
    except OSError as exc:
        raise AssetError(f"{shown} cannot be read: {(exc.strerror or str(exc)).lower()}") from None
    if len(data) > max_bytes:
        raise AssetError(f"{shown} is larger than the limit of {_size(max_bytes)}")
    if not data:
        raise AssetError(f"{shown} is empty")
    content_type = sniff_image_type(data)
    if content_type is None:
        raise AssetError(f"{shown} is not a {SUPPORTED} image")
    return Asset(filename=filename, content_type=content_type, data=data)


def _size(count: int) -> str:
    if count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MB"
    if count % 1024 == 0:
        return f"{count // 1024} KB"
    return f"{count:,} bytes"
