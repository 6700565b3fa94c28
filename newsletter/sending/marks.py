"""Point-of-no-return marks in a memory-mapped file: the journal's last step before the dot.

One byte per delivery of the campaign (1: about to be handed over; 2: handed over, the
end of data written), in a file that the runner maps into memory.
Setting a mark is a single store into the page cache: it survives the process being
killed the instant after (the kernel owns the page), it takes well under a microsecond,
and, unlike a database commit, it does not release and re-take Python's GIL, which is
where other threads could slip in and hold it for tens of microseconds. So the gap
between the mark and the dot's write() is a few bytecodes, about a microsecond.

The file is named after the campaign and the runner ("host:pid"), lives in
`<data dir>/journal/`, and is only of use to a runner that resumes on the same host: it is
read when that runner settles the deliveries the dead one left in flight, then deleted.
A runner on another host goes by the database's `committed_at` instead (see
newsletter.sending.journal).
"""

from __future__ import annotations

import functools
import mmap
import os
import re
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsletter.core.settings import Settings

_MAGIC = b"NLMARKS1"
_HEADER = struct.Struct("<8sqq")  # magic, first delivery id, number of ids
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

# A mark's values (0: nothing handed over).
COMMITTED = 1
HANDED_OVER = 2


def marks_folder(settings: Settings) -> Path:
    return settings.data_dir / "journal"


def marks_path(folder: Path, campaign_id: int, owner: str) -> Path:
    return folder / f"campaign-{campaign_id}--{_UNSAFE.sub('_', owner)}.marks"


class MarkFile:
    """Marks for the delivery ids first … first + count - 1. Thread-safe: each store is
    one byte, and no two threads send the same delivery."""

    def __init__(self, path: Path, first: int, count: int) -> None:
        self.path = path
        self.first = first
        self.count = max(count, 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            size = _HEADER.size + max(self.count, 1)
            os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._map[: _HEADER.size] = _HEADER.pack(_MAGIC, first, self.count)

    def set(self, key: int, value: int = COMMITTED) -> None:
        self._map[self._offset(key)] = value

    def setter(self, key: int, value: int = COMMITTED) -> Callable[[], None]:
        """`set(key)` prepared beforehand: the call then does the store and nothing else."""
        return functools.partial(self._map.__setitem__, self._offset(key), value)

    def handed_over(self, key: int) -> None:
        self._map[self._offset(key)] = HANDED_OVER

    def clear(self, key: int) -> None:
        self._map[self._offset(key)] = 0

    def close(self, *, delete: bool = False) -> None:
        if not self._map.closed:
            self._map.close()
        if delete:
            self.path.unlink(missing_ok=True)

    def _offset(self, key: int) -> int:
        index = key - self.first
        if not 0 <= index < self.count:
            raise KeyError(f"delivery {key} is not one of this campaign's")
        return _HEADER.size + index


@dataclass(frozen=True)
class Marks:
    """What a gone runner's mark file says: the deliveries about to be handed over, and
    those handed over."""

    committed: frozenset[int]
    handed_over: frozenset[int] = frozenset()


def read_marks(path: Path) -> Marks:
    """The marks of a mark file (of a runner that is gone)."""
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        raise ValueError(f"{path} is not a mark file")
    magic, first, count = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise ValueError(f"{path} is not a mark file")
    body = data[_HEADER.size : _HEADER.size + count]
    return Marks(
        frozenset(first + index for index, value in enumerate(body) if value == COMMITTED),
        frozenset(first + index for index, value in enumerate(body) if value == HANDED_OVER),
    )


def discard_marks(folder: Path, campaign_id: int, owner: str | None = None) -> None:
    """Delete the mark file of the campaign's runner `owner` (None: every one of the
    campaign's, when none lives): once settled, they say nothing any more."""
    if owner is not None:
        marks_path(folder, campaign_id, owner).unlink(missing_ok=True)
        return
    for path in folder.glob(f"campaign-{campaign_id}--*.marks"):
        path.unlink(missing_ok=True)


def previous_marks(folder: Path, campaign_id: int, previous_owner: str | None) -> Marks | None:
    """The marks of the runner that last held the campaign, when it ran on this host and
    left its file; None when the database's `committed_at` must decide instead."""
    if previous_owner is None:
        return None
    host, _, _ = previous_owner.rpartition(":")
    if host != socket.gethostname():
        return None
    try:
        return read_marks(marks_path(folder, campaign_id, previous_owner))
    except (OSError, ValueError):
        return None
