"""SMTP: a pool of persistent connections, each sending its share of a batch in turn.

`smtp://host:port` talks plain SMTP, `smtp+starttls://` upgrades with STARTTLS (and refuses
a server that does not offer it), `smtps://` is TLS from the first byte. `user:password@`
(URL-encoded) logs in. Certificates are verified with `ssl.create_default_context()`;
`NEWSLETTER_SMTP_CA_FILE` adds CAs to trust, verification is never turned off.

Connections open on first use and stay open across batches. Each message goes as
`sendmail(sender, [recipient], data)`, one recipient per transaction, so every reply
belongs to exactly one message. Where the server offers PIPELINING (RFC 2920), MAIL, RCPT
and DATA go in one write, and their replies are read together: one round trip before the
content rather than three, which is most of what a message waits for on a fast link.
- 2xx to DATA → SENT, the server's reply (often "queued as ID") kept as provider_id;
- 4xx → RETRY, 5xx → REJECTED, with the reply as detail;
- 421, or a connection dropped before the end-of-data dot went out → the connection is
  replaced and the message tried once more on the fresh one, then RETRY marked
  `unreachable` (an outage: the runner retries with backoff for NEWSLETTER_OUTAGE_WINDOW).
  A server keeps nothing of a DATA that never ended, so sending again cannot duplicate it.
  A connection that cannot be opened again is `unreachable` too.
- a connection dropped after the dot went out, before the reply → RETRY marked
  `unanswered`, and the journal's mark taken back (`not_accepted`): a server accepts
  responsibility only with its reply (RFC 5321, 6.1), so the message goes back to the
  queue and is sent again later, with the same Message-ID, and may arrive twice (as
  Postfix's client does: "message may be sent more than once"). Only a sender killed
  between the dot and the reply counts it as sent (newsletter.sending.journal).

DATA is written here rather than by smtplib, in two steps: the dot-stuffed content, then,
once `journal.point_of_no_return(key)` has returned, the final ".\r\n". The sockets have
TCP_NODELAY, so that short last write is not held back waiting for an acknowledgement.
`limiter.acquire()` runs before each message's MAIL FROM, in whichever connection's thread
sends it.
Before anything is sent, the batch's connections are opened; if none can be, the batch
raises TransportError: permanent for an authentication failure or an untrusted
certificate, not permanent (and `unreachable`) for a refused or timed-out connection.
"""

from __future__ import annotations

import contextlib
import functools
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast
from urllib.parse import unquote, urlsplit

from newsletter.core.errors import ConfigError
from newsletter.mail.headers import envelope_address
from newsletter.transports.base import (
    Content,
    HandOver,
    Outcome,
    OutgoingMessage,
    Status,
    Transport,
    TransportError,
)

if TYPE_CHECKING:
    from typing_extensions import Buffer

Security = Literal["plain", "starttls", "tls"]
_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}
MESSAGES_PER_CONNECTION = 25


@dataclass(frozen=True)
class SmtpEndpoint:
    security: Security
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        """The URL without the password, for messages and logs."""
        scheme = {"plain": "smtp", "starttls": "smtp+starttls", "tls": "smtps"}[self.security]
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpEndpoint:
    """An `smtp://`, `smtp+starttls://` or `smtps://` URL as an endpoint, or ConfigError."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"NEWSLETTER_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://, "
            f"got {parts.scheme + '://' if parts.scheme else url!r}"
        )
    security, default_port = _SCHEMES[scheme]
    if not parts.hostname:
        raise ConfigError("NEWSLETTER_SMTP_URL names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("NEWSLETTER_SMTP_URL must not have a path, query or fragment")
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise ConfigError(f"NEWSLETTER_SMTP_URL has an invalid port: {exc}") from exc
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if username and password is None:
        raise ConfigError("NEWSLETTER_SMTP_URL names a user but no password (user:password@)")
    return SmtpEndpoint(security, parts.hostname, port, username, password)


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"NEWSLETTER_SMTP_CA_FILE {ca_file}: {exc}") from exc
    return context


def _dot_stuffed(content: bytes) -> bytes:
    """Another dot before each line that starts with one (RFC 5321, 4.5.2)."""
    stuffed = _DOT_AFTER_NEWLINE.sub(b"\n..", content)
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


# A literal: the regex engine jumps from one newline to the next. `(?m)^\.` would try `^`
# at each of a message's ~75,000 positions, most of a millisecond holding the GIL that
# the other connections' threads wait for (bytes.replace takes several times longer too).
_DOT_AFTER_NEWLINE = re.compile(rb"\n\.")


class _DataState:
    """Per connection: the reply to DATA (sendmail() drops it), the hooks to call right
    before and right after the end of data, and whether the current message's end of data
    was written."""

    def __init__(self) -> None:
        self.reply: tuple[int, bytes] = (0, b"")
        self.before_dot: Callable[[], None] = lambda: None
        self.after_dot: Callable[[], None] = lambda: None
        self.dot_sent = False


def _data(connection: smtplib.SMTP, state: _DataState, msg: Buffer | str) -> tuple[int, bytes]:
    """smtplib's DATA, with `state.before_dot` called between the content and the dot,
    and `state.after_dot` between the dot and the reply."""
    state.dot_sent = False
    connection.putcmd("data")
    code, reply = connection.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    return _content(connection, state, msg)


def _content(connection: smtplib.SMTP, state: _DataState, msg: Buffer | str) -> tuple[int, bytes]:
    """After the server's 354: the content, `state.before_dot`, the dot, `state.after_dot`,
    and the server's reply."""
    content = msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)
    content = _dot_stuffed(content)
    if not content.endswith(b"\r\n"):
        content += b"\r\n"
    connection.send(content)
    sock = connection.sock
    if sock is None:
        raise smtplib.SMTPServerDisconnected("connection lost before end of data")
    try:
        state.before_dot()
    except TransportError:
        # Closing mid-DATA makes the server discard what it got.
        connection.close()
        raise
    # Nothing but this write between the journal's return and the dot leaving: the
    # shorter that gap, the smaller the window a crash can fall into.
    try:
        sock.sendall(b".\r\n")
    except OSError as exc:
        # Three bytes are taken whole or not at all: the server did not get the dot.
        connection.close()
        raise smtplib.SMTPServerDisconnected(f"connection lost before end of data: {exc}") from exc
    state.dot_sent = True
    # Recorded while the server reads the dot and answers, so it costs no wait of its own.
    state.after_dot()
    state.reply = connection.getreply()
    return state.reply


def _refusal(
    step: int, reply: tuple[int, bytes], sender: str, recipient: str
) -> smtplib.SMTPException:
    """The exception smtplib raises for a refused MAIL (step 0), RCPT (1) or DATA (2)."""
    if step == 0:
        return smtplib.SMTPSenderRefused(reply[0], reply[1], sender)
    if step == 1:
        return smtplib.SMTPRecipientsRefused({recipient: reply})
    return smtplib.SMTPDataError(reply[0], reply[1])


def _reset(connection: smtplib.SMTP) -> None:
    """RSET, as smtplib does after a refusal; a server gone meanwhile is found later."""
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        connection.rset()


class _Pipelined:
    """DATA and sendmail as above, for both kinds of connection."""

    state: _DataState

    def data(self, msg: Buffer | str) -> tuple[int, bytes]:
        return _data(cast(smtplib.SMTP, self), self.state, msg)

    def sendmail(
        self,
        from_addr: str,
        to_addrs: str | Sequence[str],
        msg: Buffer | str,
        mail_options: Sequence[str] = (),
        rcpt_options: Sequence[str] = (),
    ) -> dict[str, tuple[int, bytes]]:
        """smtplib's sendmail, with MAIL, RCPT and DATA in one write when the server
        offers PIPELINING (RFC 2920): one round trip before the content instead of three.
        It raises what smtplib's would, so that callers read the outcome the same way."""
        connection = cast(smtplib.SMTP, self)
        state = self.state
        connection.ehlo_or_helo_if_needed()
        recipients = [to_addrs] if isinstance(to_addrs, str) else list(to_addrs)
        content = msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)
        if len(recipients) != 1 or rcpt_options or not connection.has_extn("pipelining"):
            return smtplib.SMTP.sendmail(
                connection, from_addr, recipients, content, list(mail_options), list(rcpt_options)
            )
        options = list(mail_options)
        if connection.has_extn("size"):
            options.insert(0, f"size={len(content)}")
        if any(option.lower() == "smtputf8" for option in options):
            if not connection.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
            connection.command_encoding = "utf-8"
        lines = [
            f"mail FROM:{smtplib.quoteaddr(from_addr)}{''.join(' ' + o for o in options)}",
            f"rcpt TO:{smtplib.quoteaddr(recipients[0])}",
            "data",
        ]
        if any("\r" in line or "\n" in line for line in lines):
            raise ValueError("command and arguments contain prohibited newline characters")
        state.dot_sent = False
        connection.send("".join(line + "\r\n" for line in lines))
        # Read one by one: after a 421 the server has closed and answers nothing more.
        replies: list[tuple[int, bytes]] = []
        for _ in lines:
            reply = connection.getreply()
            if reply[0] == 421:
                connection.close()
                raise _refusal(len(replies), reply, from_addr, recipients[0])
            replies.append(reply)
        mail, rcpt, data = replies
        envelope_taken = mail[0] == 250 and rcpt[0] in (250, 251)
        if data[0] == 354 and not envelope_taken:
            # A server that took DATA after refusing the envelope gets an empty message, which
            # it must refuse for want of a recipient (RFC 2920, 3.1).
            connection.send(b".\r\n")
            connection.getreply()
        if not envelope_taken or data[0] != 354:
            _reset(connection)
            step = 0 if mail[0] != 250 else 1 if rcpt[0] not in (250, 251) else 2
            raise _refusal(step, replies[step], from_addr, recipients[0])
        code, text = _content(connection, state, content)
        if code != 250:
            if code == 421:
                connection.close()
            else:
                _reset(connection)
            raise smtplib.SMTPDataError(code, text)
        return {}


class _Connection(_Pipelined, smtplib.SMTP):
    pass


class _TlsConnection(_Pipelined, smtplib.SMTP_SSL):
    pass


def _state(connection: smtplib.SMTP) -> _DataState:
    state = getattr(connection, "state", None)
    assert isinstance(state, _DataState), "connections are made by SmtpTransport._connect"
    return state


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}"


def _by_code(code: int, text: bytes | str) -> Outcome:
    reply = _reply(code, text)
    if 200 <= code < 300:
        return Outcome(Status.SENT, provider_id=reply[4:] or None, detail=reply)
    if 400 <= code < 500:
        return Outcome(Status.RETRY, detail=reply)
    return Outcome(Status.REJECTED, detail=reply)


class SmtpTransport(Transport):
    name = "smtp"
    wants_raw = True

    def __init__(
        self,
        endpoint: SmtpEndpoint,
        *,
        connections: int = 4,
        context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
    ) -> None:
        if connections < 1:
            raise ConfigError("NEWSLETTER_SMTP_CONNECTIONS must be at least 1")
        self.endpoint = endpoint
        self.max_batch = connections * MESSAGES_PER_CONNECTION
        self._context = context or ssl.create_default_context()
        self._timeout = timeout
        # socket.getfqdn(), smtplib's default, can stall on a reverse DNS lookup.
        self._local_hostname = local_hostname or socket.gethostname()
        self._slots: list[smtplib.SMTP | None] = [None] * connections
        self._pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="smtp")
        self._lock = threading.Lock()

    def deliver(
        self, content: Content, messages: Sequence[OutgoingMessage], hand_over: HandOver
    ) -> list[Outcome]:
        with self._lock:
            slots = self._open_slots(min(len(self._slots), len(messages)))
            outcomes: list[Outcome | None] = [None] * len(messages)
            # Round robin, so each connection gets an equal share.
            shares = [list(range(i, len(messages), len(slots))) for i in range(len(slots))]
            futures = [
                self._pool.submit(self._send_share, slot, [messages[i] for i in share], hand_over)
                for slot, share in zip(slots, shares, strict=True)
            ]
            failures: list[TransportError] = []
            for share, future in zip(shares, futures, strict=True):
                results, failure = future.result()
                if failure is not None:
                    failures.append(failure)
                for index, outcome in zip(share, results, strict=True):
                    outcomes[index] = outcome
        fatal = [failure for failure in failures if failure.permanent]
        if fatal and not any(o is not None and o.status is Status.SENT for o in outcomes):
            raise fatal[0]
        return [outcome for outcome in outcomes if outcome is not None]

    def close(self) -> None:
        with self._lock:
            for slot in range(len(self._slots)):
                self._drop(slot, polite=True)
        self._pool.shutdown(wait=True)

    # Opening

    def _open_slots(self, wanted: int) -> list[int]:
        """Indexes of up to `wanted` open connections, opening missing ones in parallel."""
        missing = [slot for slot in range(wanted) if self._slots[slot] is None]
        futures = {slot: self._pool.submit(self._connect, slot) for slot in missing}
        errors = [exc for future in futures.values() if (exc := future.exception()) is not None]
        usable = [slot for slot in range(wanted) if self._slots[slot] is not None]
        if usable:
            return usable
        assert errors, "no connection wanted"
        # An authentication or certificate failure says more than a timeout elsewhere.
        errors.sort(key=lambda exc: not (isinstance(exc, TransportError) and exc.permanent))
        first = errors[0]
        if isinstance(first, TransportError):
            raise first
        raise TransportError(
            f"smtp: cannot connect to {self.endpoint}: {first}", unreachable=True
        ) from first

    def _connect(self, slot: int) -> smtplib.SMTP:
        endpoint = self.endpoint
        connection: _Connection | _TlsConnection | None = None
        try:
            if endpoint.security == "tls":
                connection = _TlsConnection(
                    endpoint.host,
                    endpoint.port,
                    local_hostname=self._local_hostname,
                    timeout=self._timeout,
                    context=self._context,
                )
            else:
                connection = _Connection(
                    endpoint.host,
                    endpoint.port,
                    local_hostname=self._local_hostname,
                    timeout=self._timeout,
                )
            connection.state = _DataState()
            if connection.sock is not None:
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection.ehlo()
            if endpoint.security == "starttls":
                if not connection.has_extn("starttls"):
                    raise TransportError(
                        f"smtp: {endpoint} does not offer STARTTLS", permanent=True
                    )
                connection.starttls(context=self._context)
                connection.ehlo()
            if endpoint.username:
                connection.login(endpoint.username, endpoint.password or "")
        except TransportError:
            if connection is not None:
                connection.close()
            raise
        except Exception as exc:
            if connection is not None:
                connection.close()
            raise self._connect_error(exc) from exc
        self._slots[slot] = connection
        return connection

    def _connect_error(self, exc: Exception) -> Exception:
        where = str(self.endpoint)
        if isinstance(exc, UnicodeEncodeError):
            return TransportError(
                f"smtp: the user name and password for {where} must be ASCII (smtplib "
                "sends them as such)",
                permanent=True,
            )
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            reply = _reply(exc.smtp_code, exc.smtp_error)
            return TransportError(f"smtp: {where} refused the login: {reply}", permanent=True)
        if isinstance(exc, smtplib.SMTPNotSupportedError | smtplib.SMTPHeloError):
            return TransportError(f"smtp: {where}: {exc}", permanent=True)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return TransportError(
                f"smtp: the TLS certificate of {where} is not trusted ({exc.verify_message}); "
                "add its CA with NEWSLETTER_SMTP_CA_FILE",
                permanent=True,
            )
        if isinstance(exc, smtplib.SMTPConnectError):
            reply = _reply(exc.smtp_code, exc.smtp_error)
            return TransportError(
                f"smtp: {where} refused the session: {reply}",
                permanent=exc.smtp_code >= 500,
                unreachable=exc.smtp_code < 500,
            )
        if isinstance(exc, smtplib.SMTPException) and "authentication" in str(exc).lower():
            return TransportError(f"smtp: {where}: {exc}", permanent=True)
        if isinstance(exc, OSError | smtplib.SMTPException):
            return TransportError(f"smtp: cannot connect to {where}: {exc}", unreachable=True)
        return exc

    def _drop(self, slot: int, *, polite: bool = False) -> None:
        connection, self._slots[slot] = self._slots[slot], None
        if connection is None:
            return
        try:
            if polite:
                connection.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            connection.close()

    # Sending

    def _send_share(
        self, slot: int, messages: list[OutgoingMessage], hand_over: HandOver
    ) -> tuple[list[Outcome], TransportError | None]:
        """The messages of one connection, in turn, and what stopped it early, if anything."""
        outcomes: list[Outcome] = []
        failure: TransportError | None = None
        for message in messages:
            if failure is not None:
                # Reconnecting failed or the server refuses us; more tries would only stall.
                outcomes.append(
                    Outcome(Status.RETRY, detail=str(failure), unreachable=failure.unreachable)
                )
                continue
            try:
                outcomes.append(self._deliver_one(slot, message, hand_over))
            except TransportError as exc:
                failure = exc
                outcomes.append(
                    Outcome(
                        Status.RETRY,
                        detail=str(exc),
                        retry_after=exc.retry_after,
                        unreachable=exc.unreachable,
                    )
                )
        return outcomes, failure

    def _deliver_one(self, slot: int, message: OutgoingMessage, hand_over: HandOver) -> Outcome:
        """One message, tried once more on a fresh connection after 421 or a drop that
        came before the end of data went out."""
        code: int
        text: bytes | str
        for attempt in (1, 2):
            connection = self._slots[slot] or self._connect(slot)
            envelope = self._envelope(connection, message)
            if isinstance(envelope, Outcome):
                return envelope
            sender, recipient, options = envelope
            state = _state(connection)
            state.before_dot = functools.partial(hand_over.commit, message.key)
            state.after_dot = functools.partial(hand_over.handed_over, message.key)
            state.dot_sent = False
            hand_over.wait(1)
            try:
                connection.sendmail(sender, [recipient], message.data, mail_options=options)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
            except smtplib.SMTPResponseException as exc:
                code, text = exc.smtp_code, exc.smtp_error
                if state.dot_sent and not 200 <= code < 300:
                    self._not_accepted(slot, hand_over, message)
            except TransportError:
                # The journal could not record the hand-over; the dot was not sent.
                self._drop(slot)
                raise
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self._drop(slot)
                if state.dot_sent:
                    # Not accepted until the reply (RFC 5321, 6.1): sent again later.
                    self._not_accepted(slot, hand_over, message)
                    return Outcome(
                        Status.RETRY,
                        detail=f"connection lost after the end of data, before the reply: {exc}",
                        unanswered=True,
                    )
                if attempt == 1:
                    continue
                return Outcome(
                    Status.RETRY, detail=f"connection lost twice: {exc}", unreachable=True
                )
            else:
                code, text = state.reply
                return _by_code(code, text)
            if code == 530:
                # "Authentication required" (RFC 4954) concerns every message, not this one.
                raise TransportError(
                    f"smtp: {self.endpoint} requires a login: {_reply(code, text)}; "
                    "put user:password@ in NEWSLETTER_SMTP_URL",
                    permanent=True,
                )
            if code == 421:
                # The server is closing this session; smtplib has already closed our end.
                self._drop(slot)
                if attempt == 1:
                    continue
                return Outcome(Status.RETRY, detail=_reply(code, text), unreachable=True)
            return _by_code(code, text)
        raise AssertionError("unreachable")

    def _not_accepted(self, slot: int, hand_over: HandOver, message: OutgoingMessage) -> None:
        try:
            hand_over.take_back(message.key)
        except Exception as exc:
            self._drop(slot)
            raise TransportError(
                f"smtp: the refusal of message {message.key} could not be recorded: {exc}"
            ) from exc

    @staticmethod
    def _envelope(
        connection: smtplib.SMTP, message: OutgoingMessage
    ) -> tuple[str, str, list[str]] | Outcome:
        """MAIL FROM and RCPT TO addresses and MAIL options. Domains go as IDNA (punycode),
        so only a non-ASCII local part needs SMTPUTF8, which few servers offer."""
        try:
            sender = envelope_address(message.sender)
            recipient = envelope_address(message.recipient)
        except ValueError as exc:
            return Outcome(Status.REJECTED, detail=f"cannot address {message.recipient}: {exc}")
        options: list[str] = []
        if not (sender.isascii() and recipient.isascii()):
            if not connection.has_extn("smtputf8"):
                local = recipient if not recipient.isascii() else sender
                return Outcome(
                    Status.REJECTED,
                    detail=f"the server does not offer SMTPUTF8, needed for the non-ASCII "
                    f"local part of {local}",
                )
            options.append("SMTPUTF8")
        if not message.data.isascii() and connection.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        return sender, recipient, options
