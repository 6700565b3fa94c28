"""Outbox: each message becomes an `.eml` file in a folder, for development and review.

Files are named `<key>-<recipient>.eml` (the address reduced to safe characters), written
to a temporary file in the same folder and renamed into place, so a reader never sees half
a message and sending the same delivery again replaces its file instead of adding one.
The journal is told each key right before its file is renamed into place.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from newsletter.transports.base import (
    Content,
    HandOver,
    Outcome,
    OutgoingMessage,
    Status,
    Transport,
    TransportError,
)

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def file_name(message: OutgoingMessage) -> str:
    address = _UNSAFE.sub("_", message.recipient).strip("._")[:120] or "recipient"
    return f"{message.key}-{address}.eml"


class OutboxTransport(Transport):
    name = "outbox"
    wants_raw = True
    max_batch = 500

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def deliver(
        self, content: Content, messages: Sequence[OutgoingMessage], hand_over: HandOver
    ) -> list[Outcome]:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportError(f"outbox: cannot create {self.folder}: {exc}") from exc
        outcomes: list[Outcome] = []
        for message in messages:
            name = file_name(message)
            hand_over.wait(1)
            try:
                self._write(self.folder / name, message.data, hand_over, message.key)
            except OSError as exc:
                if not outcomes:
                    raise TransportError(f"outbox: cannot write {name}: {exc}") from exc
                outcomes.append(Outcome(Status.RETRY, detail=f"cannot write {name}: {exc}"))
                continue
            except TransportError as exc:
                if not outcomes:
                    raise
                outcomes.append(Outcome(Status.RETRY, detail=str(exc)))
                continue
            outcomes.append(Outcome(Status.SENT, provider_id=name, detail=f"written to {name}"))
        return outcomes

    def close(self) -> None:
        pass

    @staticmethod
    def _write(path: Path, data: bytes, hand_over: HandOver, key: int) -> None:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            hand_over.commit(key)
            os.replace(temporary, path)
            hand_over.handed_over(key)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
