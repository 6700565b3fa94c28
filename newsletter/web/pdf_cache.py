"""Each issue's PDF, rendered once and kept in the data folder.

Rendering takes a second or more, so the first request renders and every later one is
served from `<data_dir>/pdf/`. Concurrent first requests, in threads or in other server
processes, wait on an exclusive lock on a lock file beside the PDF, and the one that
renders writes a temporary file and renames it into place: a reader sees either no PDF or
a complete one, and the PDF is rendered once.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_-]")
# flock() orders processes; this orders the threads of one process without holding a file
# descriptor per waiting thread.
_thread_lock = threading.Lock()


def cached_pdf(folder: Path, name: str, render: Callable[[], bytes]) -> Path:
    """The path of the cached PDF `name`, rendering it with `render()` the first time."""
    path = folder / f"{_SAFE.sub('_', name)}.pdf"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with _thread_lock, open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if path.exists():  # rendered by another process while we waited
                return path
            data = render()
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                with open(temporary, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            finally:
                temporary.unlink(missing_ok=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path
