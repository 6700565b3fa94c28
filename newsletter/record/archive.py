"""A record and its photos in one zip file: what staff import into the editor and export.

Importing unpacks the zip into a private folder and loads the record there with
`load_record`, so a record from a zip meets every rule a record file does (its size and
YAML limits, photos inside its folder, photo preparation). The zip itself is bounded before
anything is unpacked: its size, its number of entries, each entry's unpacked size (counted
as it is read, whatever its header claims) and the whole; names that would leave the folder
are refused.

Exporting writes `record.yaml` with the photos under `photos/`, which imports back as the
same record.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from newsletter.core.errors import NewsletterError, RecordError
from newsletter.issue.model import Asset
from newsletter.record.assets import BUDGET_BYTES, MAX_IMAGE_BYTES
from newsletter.record.loader import FORMATS, MAX_RECORD_BYTES, load_record
from newsletter.record.model import Record

MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
MAX_ENTRIES = 200
# A zip of photos barely compresses; a much higher ratio is a zip bomb, not photos.
MAX_RATIO = 100
RECORD_NAMES = ("record.yaml", "record.yml", "record.json")


class ArchiveError(NewsletterError):
    """The zip cannot be imported as a whole (not a zip, too large, no record in it)."""


def import_archive(
    data: bytes,
    *,
    max_photo_bytes: int = MAX_IMAGE_BYTES,
    photo_budget_bytes: int = BUDGET_BYTES,
) -> tuple[Record, dict[str, Asset]]:
    """The record in the zip `data` and its prepared photos, each speaker's `photo` renamed
    to its photo's file name (the key of the photos returned).

    Raises ArchiveError for the zip as a whole, RecordError for the record's problems
    (named as the file in the zip)."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"the zip is larger than the limit of {MAX_ARCHIVE_BYTES >> 20} MB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ArchiveError("the file is not a zip archive") from None
    with archive, tempfile.TemporaryDirectory(prefix="newsletter-import-") as folder:
        root = Path(folder)
        names = _unpack(archive, root, max_photo_bytes)
        record_name = _record_name(names)
        try:
            loaded = load_record(
                root / record_name,
                max_photo_bytes=max_photo_bytes,
                photo_budget_bytes=photo_budget_bytes,
            )
        except RecordError as exc:
            raise RecordError(
                [p.replace(f"{root}/", "").replace(str(root), "") for p in exc.problems]
            ) from None
    photos: dict[str, Asset] = {}
    speakers = []
    for speaker in loaded.record.speakers:
        asset = loaded.photos.get(speaker.photo or "")
        if asset is not None:
            photos[asset.filename] = asset
            speaker = speaker.model_copy(update={"photo": asset.filename})
        speakers.append(speaker)
    return loaded.record.model_copy(update={"speakers": speakers}), photos


def _unpack(archive: zipfile.ZipFile, root: Path, max_photo_bytes: int) -> list[str]:
    entries = [info for info in archive.infolist() if not info.is_dir()]
    if len(entries) > MAX_ENTRIES:
        raise ArchiveError(f"the zip holds more than {MAX_ENTRIES} files")
    budget = MAX_ARCHIVE_BYTES
    names: list[str] = []
    for info in entries:
        name = info.filename.replace("\\", "/")
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or ":" in path.parts[0]:
            raise ArchiveError(f"{info.filename!r} would be unpacked outside the import's folder")
        if any(part.startswith(".") for part in path.parts) or path.parts[0] == "__MACOSX":
            continue  # a Mac's resource forks and hidden files: not part of the record
        limit = MAX_RECORD_BYTES if path.suffix.lower() in FORMATS else max_photo_bytes
        limit = min(limit, budget, max(info.compress_size, 1) * MAX_RATIO)
        try:
            with archive.open(info) as handle:
                content = handle.read(limit + 1)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError):
            raise ArchiveError(f"{info.filename!r} in the zip cannot be read") from None
        if len(content) > limit:
            raise ArchiveError(
                f"{info.filename!r} unpacks larger than allowed (a record is at most "
                f"{MAX_RECORD_BYTES >> 10} KB, a photo {max_photo_bytes >> 20} MB)"
            )
        budget -= len(content)
        target = root.joinpath(*path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        names.append(path.as_posix())
    return names


def _record_name(names: list[str]) -> str:
    """The record file: record.yaml (or .yml, .json) at the top or in the one folder that
    holds everything, else the only record file there is."""
    for name in RECORD_NAMES:
        for found in names:
            if found == name or (found.count("/") == 1 and found.endswith(f"/{name}")):
                return found
    candidates = [n for n in names if PurePosixPath(n).suffix.lower() in FORMATS]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ArchiveError("the zip holds no record.yaml (nor .yml, .json)")
    raise ArchiveError("the zip holds several records; put one record.yaml in it")


def export_archive(record: Record, photos: Mapping[str, Asset]) -> bytes:
    """A zip of `record.yaml` and its photos under `photos/`."""
    data = record_data(record)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for speaker in data.get("speakers", []):
            photo = speaker.get("photo")
            if photo in photos:
                speaker["photo"] = f"photos/{photo}"
        archive.writestr("record.yaml", record_yaml(data))
        for name, asset in sorted(photos.items()):
            # Photos are JPEG or PNG already: compressing them again gains nothing.
            archive.writestr(f"photos/{name}", asset.data, compress_type=zipfile.ZIP_STORED)
    return out.getvalue()


def record_data(record: Record) -> dict[str, Any]:
    """The record as stored and exported: JSON values, without the fields left unset."""
    return record.model_dump(mode="json", exclude_defaults=True)


def record_yaml(data: Mapping[str, Any]) -> str:
    """YAML as staff would write it: fields in the record's order, text as it is."""
    return yaml.safe_dump(dict(data), allow_unicode=True, sort_keys=False, width=88)
