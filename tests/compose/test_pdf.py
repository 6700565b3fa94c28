from __future__ import annotations

import re
import zlib
from functools import lru_cache

import pytest

from newsletter.compose import compose_issue
from newsletter.compose.pdf import DataOnlyFetcher, render_pdf
from newsletter.core.settings import Brand
from newsletter.record.loader import load_record
from newsletter.record.model import Speaker
from tests.compose.helpers import PUBLIC_URL, compose, make_record
from tests.conftest import EXAMPLE


def pdf_objects(pdf: bytes) -> bytes:
    """The PDF with every Flate stream inflated, so object-stream contents can be searched."""
    parts = [pdf]
    for match in re.finditer(rb"stream\r?\n", pdf):
        try:
            parts.append(zlib.decompressobj().decompress(pdf[match.end() :]))
        except zlib.error:
            continue
    return b"\n".join(parts)


@lru_cache(maxsize=1)
def example_pdf() -> tuple[list[str], bytes]:
    loaded = load_record(EXAMPLE)
    issue = compose_issue(loaded, brand=Brand(), public_url=PUBLIC_URL)
    return [s.display_name for s in loaded.record.speakers], render_pdf(issue)


def test_example_pdf_has_several_pages_and_every_speaker() -> None:
    names, pdf = example_pdf()
    assert pdf.startswith(b"%PDF-")
    objects = pdf_objects(pdf)
    assert len(re.findall(rb"/Type\s*/Page\b", objects)) > 1
    # WeasyPrint turns headings into PDF bookmarks, whose titles are stored as text.
    for name in names:
        assert name.encode() in objects


def test_pages_are_a4() -> None:
    _, pdf = example_pdf()
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf_objects(pdf))
    assert boxes
    for width, height in boxes:
        assert abs(float(width) - 595.28) < 1 and abs(float(height) - 841.89) < 1


def test_pdf_with_an_https_photo_renders_without_fetching_it() -> None:
    record = make_record(
        speakers=[
            Speaker(
                name="Remote Photo",
                role="Keynote Speech",
                remarks="Hi.",
                photo="https://example.invalid/photo.jpg",
            )
        ]
    )
    pdf = render_pdf(compose(record))
    assert pdf.startswith(b"%PDF-") and b"Remote Photo" in pdf_objects(pdf)


def test_fetcher_serves_data_uris() -> None:
    response = DataOnlyFetcher().fetch("data:text/plain;base64,aGVsbG8=")
    assert response.read() == b"hello"


@pytest.mark.parametrize(
    "url",
    ["https://example.org/a.png", "http://127.0.0.1:8000/a.png", "file:///etc/passwd"],
)
def test_fetcher_refuses_everything_else(url: str) -> None:
    with pytest.raises(ValueError, match="only data: URIs"):
        DataOnlyFetcher().fetch(url)
