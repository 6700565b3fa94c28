"""Importing a record with its photos from one zip, and exporting it back."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import yaml
from PIL import Image

from newsletter.core.errors import RecordError
from newsletter.record import archive
from newsletter.record.archive import ArchiveError, export_archive, import_archive
from tests.conftest import EXAMPLE


def _zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as packed:
        for name, data in files.items():
            packed.writestr(name, data)
    return out.getvalue()


def _example_zip(prefix: str = "") -> bytes:
    folder = EXAMPLE.parent
    files = {f"{prefix}record.yaml": EXAMPLE.read_bytes()}
    for photo in (folder / "photos").iterdir():
        files[f"{prefix}photos/{photo.name}"] = photo.read_bytes()
    return _zip(files)


def _photo(width: int = 1200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, width * 3 // 4), (120, 60, 30)).save(out, "JPEG", quality=95)
    return out.getvalue()


def test_the_example_imports_with_its_photos_prepared() -> None:
    record, photos = import_archive(_example_zip())
    assert record.title == "Genocide and Ethnic cleansing: A Crime against Humanity"
    named = [speaker.photo for speaker in record.speakers if speaker.photo]
    assert named and set(named) == set(photos)
    for name, asset in photos.items():
        assert asset.filename == name and name.startswith("speaker-")
        assert asset.content_type in ("image/jpeg", "image/png")


def test_a_record_in_one_folder_of_the_zip() -> None:
    record, photos = import_archive(_example_zip("khojaly/"))
    assert record.speakers and photos


def test_export_then_import_gives_the_same_record() -> None:
    record, photos = import_archive(_example_zip())
    exported = export_archive(record, photos)
    with zipfile.ZipFile(io.BytesIO(exported)) as packed:
        names = packed.namelist()
        data = yaml.safe_load(packed.read("record.yaml"))
    assert names[0] == "record.yaml"
    assert {f"photos/{name}" for name in photos} <= set(names)
    assert data["title"] == record.title and data["date"] == "2022-02-24"
    again, photos_again = import_archive(exported)
    assert again == record
    assert {n: a.data for n, a in photos_again.items()} == {n: a.data for n, a in photos.items()}


def test_large_photos_are_prepared_on_import() -> None:
    text = (
        "title: T\ndate: 2024-01-01\norganiser: O\nsummary: S\n"
        "speakers:\n  - {name: Ada, role: Chair, remarks: Hi, photo: ada.jpg}\n"
    )
    record, photos = import_archive(_zip({"record.yaml": text.encode(), "ada.jpg": _photo()}))
    asset = photos[record.speakers[0].photo or ""]
    with Image.open(io.BytesIO(asset.data)) as image:
        assert image.width == 280


def test_the_record_problems_name_the_file_in_the_zip() -> None:
    text = "title: T\ndate: 2024-02-30\norganiser: O\nsummary: S\n"
    with pytest.raises(RecordError) as refused:
        import_archive(_zip({"record.yaml": text.encode()}))
    assert refused.value.problems == ["record.yaml:2 date: '2024-02-30' is not a real date"]


def test_a_missing_photo_is_a_record_problem() -> None:
    text = (
        "title: T\ndate: 2024-01-01\norganiser: O\nsummary: S\n"
        "speakers:\n  - {name: Ada, role: Chair, remarks: Hi, photo: ada.jpg}\n"
    )
    with pytest.raises(RecordError, match=r"ada.jpg does not exist"):
        import_archive(_zip({"record.yaml": text.encode()}))


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"notes.txt": b"hello"}, "no record.yaml"),
        ({"a.yaml": b"x: 1", "b.yaml": b"x: 2"}, "several records"),
        ({"../record.yaml": b"x: 1"}, "outside the import's folder"),
        ({"/etc/record.yaml": b"x: 1"}, "outside the import's folder"),
    ],
)
def test_zips_that_cannot_be_imported(files: dict[str, bytes], message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        import_archive(_zip(files))


def test_not_a_zip() -> None:
    with pytest.raises(ArchiveError, match="not a zip"):
        import_archive(b"title: plain yaml")


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    # 20 MB of zeros squeeze into about 20 KB: far past any photo's ratio.
    bomb = _zip({"record.yaml": b"title: T\n", "photo.jpg": bytes(20 * 1024 * 1024)})
    assert len(bomb) < 100_000
    with pytest.raises(ArchiveError, match="unpacks larger than allowed"):
        import_archive(bomb)


def test_too_many_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_ENTRIES", 3)
    with pytest.raises(ArchiveError, match="more than 3 files"):
        import_archive(_zip({f"{i}.jpg": b"x" for i in range(4)}))


def test_a_record_over_its_size_limit(tmp_path: Path) -> None:
    big = b"title: T\nsummary: " + b"word " * (300 * 1024) + b"\n"
    with pytest.raises(ArchiveError, match="record is at most 1024 KB"):
        import_archive(_zip({"record.yaml": big}, zipfile.ZIP_STORED))
