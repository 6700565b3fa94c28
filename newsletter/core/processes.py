"""Which process holds something: a name ("host:pid") and whether its process is gone.

Campaign leases (newsletter.sending.lease) and the import slot (newsletter.store.staged)
both name their holder this way, so that a holder killed on this host is recognised at
once, while one on another host can only time out.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def this_runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def process_is_gone(pid: int) -> bool:
    """Whether no process `pid` runs on this host (a zombie counts as gone)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        # Field 3 of /proc/PID/stat is the state; Z is a zombie: dead but not yet reaped.
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def owner_is_gone(owner: str) -> bool:
    """Whether `owner` ("host:pid") ran on this host and its process no longer exists."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return process_is_gone(int(pid))
