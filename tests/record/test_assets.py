from __future__ import annotations

import io
import os
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from newsletter.core.errors import NewsletterError
from newsletter.record.assets import AssetError, read_asset
from tests.conftest import EXAMPLE, ROOT


def _image_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_raster_types_are_read_from_the_bytes(tmp_path: Path, fmt: str, content_type: str) -> None:
    # A misleading extension must not matter: the bytes decide.
    path = tmp_path / "photo.txt"
    path.write_bytes(_image_bytes(fmt))

    asset = read_asset(path, "speaker-1-a.bin")

    assert asset.content_type == content_type
    assert asset.filename == "speaker-1-a.bin"
    assert asset.data == path.read_bytes()


@pytest.mark.parametrize(
    "text",
    [
        '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>',
        '\ufeff<?xml version="1.0"?>\n<!-- logo -->\n<svg xmlns="http://www.w3.org/2000/svg">\n</svg>',
    ],
)
def test_svg_is_recognised(tmp_path: Path, text: str) -> None:
    path = tmp_path / "logo.svg"
    path.write_text(text, encoding="utf-8")

    assert read_asset(path, "logo.svg").content_type == "image/svg+xml"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("not a picture"), "is not a JPEG, PNG, GIF, WebP or SVG image"),
        (lambda p: p.write_text("<html><body>svg</body></html>"), "is not a JPEG"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.mkdir(), "is a folder, not an image file"),
        (lambda p: None, "does not exist"),
    ],
)
def test_bad_files_raise_a_clear_error(
    tmp_path: Path, make: Callable[[Path], Any], message: str
) -> None:
    path = tmp_path / "photo.jpg"
    make(path)

    with pytest.raises(AssetError) as caught:
        read_asset(path, "photo.jpg")

    assert str(caught.value).startswith(f"{path} ")
    assert message in str(caught.value)
    assert isinstance(caught.value, NewsletterError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(_image_bytes("JPEG"))
    path.chmod(0)

    with pytest.raises(AssetError, match="cannot be read: permission denied"):
        read_asset(path, "photo.jpg")


def test_shipped_placeholder_photos_are_small_square_jpegs() -> None:
    photos = sorted((EXAMPLE.parent / "photos").glob("*.jpg"))

    assert len(photos) == 6
    for path in photos:
        assert read_asset(path, path.name).content_type == "image/jpeg"
        assert path.stat().st_size < 15_000
        with Image.open(path) as image:
            assert image.size == (240, 240)


def _script() -> dict[str, Any]:
    return runpy.run_path(str(ROOT / "examples" / "make_placeholder_photos.py"))


def test_placeholder_script_draws_local_photos_only(tmp_path: Path) -> None:
    record = tmp_path / "record.yaml"
    record.write_text(
        "speakers:\n"
        "  - {name: Ada Lovelace, photo: pics/ada.jpg}\n"
        "  - {name: Alan Turing, photo: 'https://example.org/alan.jpg'}\n"
        "  - {name: Grace Hopper}\n",
        encoding="utf-8",
    )

    written = _script()["make_photos"](record)

    assert written == [tmp_path / "pics" / "ada.jpg"]
    with Image.open(written[0]) as image:
        assert (image.format, image.size) == ("JPEG", (240, 240))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Sahibzada Sultan Ahmed Ali", "SA"),
        ("H.E. Khazar Farhadove", "KF"),
        ("Plato", "P"),
        ("", "?"),
    ],
)
def test_initials(name: str, expected: str) -> None:
    assert _script()["initials"](name) == expected
