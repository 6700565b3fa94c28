from __future__ import annotations

import re
import shutil
import subprocess
import zlib
from functools import lru_cache
from pathlib import Path

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


def _fonts(pdf: bytes, tmp_path: Path) -> list[tuple[str, bool]]:
    """(font name, embedded) for every font of the PDF, as poppler's pdffonts lists them."""
    pdffonts = shutil.which("pdffonts")
    assert pdffonts, "pdffonts is missing: scripts/system-deps installs poppler-utils"
    path = tmp_path / "issue.pdf"
    path.write_bytes(pdf)
    listing = subprocess.run(
        [pdffonts, str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()[2:]
    fonts = []
    for line in listing:
        name, *_, emb, _sub, _uni, _object, _generation = line.split()
        fonts.append((name.split("+", 1)[-1], emb == "yes"))
    return fonts


@pytest.mark.parametrize(
    ("language", "title", "face"),
    [
        ("ur", "پانی اور امن: دریاؤں کی تقسیم", "Noto-Nastaliq-Urdu"),
        ("ar", "الماء والسلام: تقاسم الأنهار", "Noto-Naskh-Arabic"),
    ],
)
def test_an_arabic_script_pdf_embeds_a_font_for_its_script(
    language: str, title: str, face: str, tmp_path: Path
) -> None:
    """The glyphs come from a face that has them (installed by scripts/system-deps), not
    from a Latin font showing empty boxes; and it travels inside the PDF."""
    issue = compose(make_record(language=language, title=title, summary="متن " * 20))
    fonts = _fonts(render_pdf(issue), tmp_path)
    assert (face, True) in fonts, fonts
    assert all(embedded for _, embedded in fonts), fonts
