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

Two ways to misbehave, for the tests of lost replies and outages:
- `drop_every=N`: every N-th end of data read gets no reply, the connection is closed
  instead; the odd ones of those are kept (accepted), the even ones discarded, as by a
  server that dies after or before committing the message;
- `stop()` and `start()`: a restart on the same port. A message is accepted exactly when
  its 250 reply goes out (a dot read while stopping is discarded), so a restart by
  itself never makes a copy the client does not know of.
"""

from __future__ import annotations

import contextlib
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
    drop_every: int = 0
    # Offer PIPELINING, as Postfix does: the client then writes MAIL, RCPT and DATA at
    # once, which this server, reading line by line, answers one after another.
    pipelining: bool = True
    # The ends of data that got no reply: (recipient, Message-ID, kept).
    dropped: list[tuple[str, str, bool]] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        # Held while a message is taken and answered, and while stopping.
        self._gate = threading.Lock()
        self._dots = 0
        self._sessions: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = False

    def __enter__(self) -> Mta:
        self._listen()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop listening and cut every open connection, as a server going down does."""
        with self._gate:
            self._closing = True
            # shutdown() wakes the accept() blocked on it; close() alone would not.
            for sock in (self._listener, *self._sessions):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._listener.close()

    def start(self) -> None:
        """Listen again on the same port after `stop()`."""
        with self._gate:
            self._listener = socket.create_server(("127.0.0.1", self.port))
            self._closing = False
        self._listen()

    def _listen(self) -> None:
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._closing:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with self._gate:
                if self._closing:
                    connection.close()
                    return
                self._sessions.add(connection)
            threading.Thread(target=self._session, args=(connection,), daemon=True).start()

    def _event(self, kind: str) -> None:
        if self.on_event is not None:
            self.on_event(kind)

    def _session(self, connection: socket.socket) -> None:
        try:
            self._converse(connection)
        finally:
            with self._gate:
                self._sessions.discard(connection)

    def _converse(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as reader:
            send = connection.sendall
            try:
                send(b"220 mta.test ESMTP\r\n")
                recipient = ""
                while line := reader.readline():
                    command = line[:4].upper()
                    if command in (b"EHLO", b"HELO"):
                        offer = b"250-PIPELINING\r\n" if self.pipelining else b""
                        send(b"250-mta.test\r\n" + offer + b"250-8BITMIME\r\n250 SMTPUTF8\r\n")
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
        received = Received(recipient, found.group(1).decode() if found else "", data)
        self._event("dot")
        if self.reply_delay:
            time.sleep(self.reply_delay)
        with self._gate:
            if self._closing:
                with self._lock:
                    self.unfinished.append((recipient, data))
                return False
            self._dots += 1
            drop = bool(self.drop_every) and self._dots % self.drop_every == 0
            keep = not drop or (self._dots // self.drop_every) % 2 == 1
            with self._lock:
                if keep:
                    self.accepted.append(received)
                if drop:
                    self.dropped.append((recipient, received.message_id, keep))
                number = len(self.accepted)
            if drop:
                # Closed by the caller, without a word about the message.
                return False
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
