"""A small SMTP server that behaves like a real MTA where the crash test needs it to.

aiosmtpd cancels a session as soon as the client's end of the connection closes, even
when the whole message, end-of-data dot included, is already in its buffer: it drops a
message that Postfix (which reads what it has been sent before it notices the close)
would have queued. A sender killed right after writing the dot would then look as if it
had lost a message. This server reads each connection in a thread with blocking reads,
so it always processes what arrived before the close: it accepts a message exactly when
it has read the dot, like an MTA, and keeps what a connection left unfinished.

It records every accepted message (recipient and Message-ID), can slow down its reply to
the dot, and calls `on_event(kind)` at two moments a test may want to kill the client in:
"data" (the 354 reply has gone out: the client is writing the content) and "dot" (the
dot has been read, the reply not yet sent).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Received:
    recipient: str
    message_id: str
    data: bytes


@dataclass
class Mta:
    # Seconds to wait before answering the dot: slows the client so kills land mid-batch.
    reply_delay: float = 0.0
    on_event: Callable[[str], None] | None = None
    accepted: list[Received] = field(default_factory=list)
    # DATA left unfinished by a closed connection: (recipient, bytes read so far).
    unfinished: list[tuple[str, bytes]] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Mta:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._closing = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(connection,), daemon=True).start()

    def _event(self, kind: str) -> None:
        if self.on_event is not None:
            self.on_event(kind)

    def _session(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as reader:
            send = connection.sendall
            try:
                send(b"220 mta.test ESMTP\r\n")
                recipient = ""
                while line := reader.readline():
                    command = line[:4].upper()
                    if command in (b"EHLO", b"HELO"):
                        send(b"250-mta.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                    elif command == b"MAIL":
                        recipient = ""
                        send(b"250 2.1.0 Ok\r\n")
                    elif command == b"RCPT":
                        recipient = line.split(b":", 1)[1].strip().strip(b"<>").decode()
                        send(b"250 2.1.5 Ok\r\n")
                    elif command == b"DATA":
                        send(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        self._event("data")
                        if not self._data(reader, send, recipient):
                            return
                    elif command == b"QUIT":
                        send(b"221 2.0.0 Bye\r\n")
                        return
                    else:
                        send(b"250 Ok\r\n")
            except OSError:
                return

    def _data(self, reader: object, send: Callable[[bytes], None], recipient: str) -> bool:
        """Read one message; False when the connection closed before its end."""
        lines: list[bytes] = []
        readline = reader.readline  # type: ignore[attr-defined]
        while True:
            line = readline()
            if not line or not line.endswith(b"\n"):
                with self._lock:
                    self.unfinished.append((recipient, b"".join(lines) + line))
                return False
            if line == b".\r\n":
                break
            lines.append(line[1:] if line.startswith(b".") else line)
        data = b"".join(lines)
        found = _MESSAGE_ID.search(data)
        with self._lock:
            self.accepted.append(
                Received(recipient, found.group(1).decode() if found else "", data)
            )
            number = len(self.accepted)
        self._event("dot")
        if self.reply_delay:
            time.sleep(self.reply_delay)
        send(f"250 2.0.0 Ok: queued as M{number:06d}\r\n".encode())
        return True

    def counts(self) -> dict[tuple[str, str], int]:
        """How often each (recipient, Message-ID) was accepted."""
        with self._lock:
            found: dict[tuple[str, str], int] = {}
            for message in self.accepted:
                key = (message.recipient, message.message_id)
                found[key] = found.get(key, 0) + 1
            return found
