"""Which records the staff may preview: files in NEWSLETTER_RECORDS_DIR, and uploads.

A record is named by an id, never by a path from the request: `dir:<path inside the
folder>` or `upload:<name>` (uploads live in <data_dir>/uploads). Resolving an id checks
that the file is inside its folder and is a record file, so no request can read anything
else on the server.

An upload is staged in a hidden folder and kept only once it has loaded without problems:
a record that fails (a YAML bomb, say) is never offered to the next staff member to open.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from newsletter.core.errors import NewsletterError
from newsletter.core.settings import Settings

SUFFIXES = (".yaml", ".yml", ".json")
# Deep enough for examples/<seminar>/record.yaml; a records folder is not a file system walk.
MAX_DEPTH = 3
MAX_RECORDS = 500
MAX_UPLOAD = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UnknownRecord(NewsletterError):
    """The id does not name a record file that may be previewed."""


@dataclass(frozen=True)
class RecordChoice:
    id: str
    label: str


def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / "uploads"


def available(settings: Settings) -> list[RecordChoice]:
    choices: list[RecordChoice] = []
    root = settings.records_dir
    if root.is_dir():
        for path in sorted(_walk(root, 1)):
            relative = path.relative_to(root).as_posix()
            choices.append(RecordChoice(f"dir:{relative}", relative))
    uploads = uploads_dir(settings)
    if uploads.is_dir():
        for path in sorted(uploads.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
            if path.is_file() and path.suffix.lower() in SUFFIXES:
                choices.append(RecordChoice(f"upload:{path.name}", f"uploaded: {path.name}"))
    return choices[:MAX_RECORDS]


def _walk(folder: Path, depth: int) -> list[Path]:
    found: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return found
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix.lower() in SUFFIXES:
            found.append(entry)
        elif entry.is_dir() and depth < MAX_DEPTH:
            found.extend(_walk(entry, depth + 1))
    return found


def resolve(settings: Settings, record_id: str) -> Path:
    kind, _, name = record_id.partition(":")
    if kind == "dir":
        root = settings.records_dir
    elif kind == "upload":
        root = uploads_dir(settings)
        if "/" in name:
            raise UnknownRecord(record_id)
    else:
        raise UnknownRecord(record_id)
    if not name or "\x00" in name:
        raise UnknownRecord(record_id)
    base = root.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base) or path.suffix.lower() not in SUFFIXES or not path.is_file():
        raise UnknownRecord(record_id)
    return path


@dataclass(frozen=True)
class StagedUpload:
    """An uploaded record written where no page offers it, until `keep` moves it."""

    path: Path
    folder: Path

    def keep(self) -> str:
        """Offer the upload for preview; its id."""
        os.replace(self.path, self.folder / self.path.name)
        return f"upload:{self.path.name}"


@contextmanager
def staged_upload(settings: Settings, filename: str, data: bytes) -> Iterator[StagedUpload]:
    """Write an uploaded record under its final name in a hidden staging folder, removed
    on leaving whether or not it was kept. Photos it names relative to itself will be
    missing."""
    stem = Path(filename.replace("\\", "/")).name
    suffix = Path(stem).suffix.lower()
    if suffix not in SUFFIXES:
        raise UnknownRecord(filename)
    safe = _UNSAFE.sub("-", Path(stem).stem).strip(".-")[:60] or "record"
    folder = uploads_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    # Inside the uploads folder so keeping it is a rename; a folder, so `available` skips it.
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    try:
        path = staging / f"{safe}-{secrets.token_hex(4)}{suffix}"
        path.write_bytes(data)
        yield StagedUpload(path, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def version(path: Path) -> str:
    """Changes whenever the file is written: what the preview page polls for."""
    stat = path.stat()
    return f"{stat.st_mtime_ns}-{stat.st_size}"
