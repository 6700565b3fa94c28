"""The fast DATA command, against real clients: smtplib, and a raw socket for what smtplib
never sends (a split terminator, an empty message)."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Iterator

import pytest

from newsletter.devsmtp.capture import CaptureHandler, MessageStore
from newsletter.devsmtp.smtpd import MAX_LINE, CaptureController
from tests.browser import free_port, send_mail
from tests.devsmtp.messages import build


@pytest.fixture
def store() -> MessageStore:
    return MessageStore()


@pytest.fixture
def port(store: MessageStore) -> Iterator[int]:
    controller = CaptureController(
        CaptureHandler(store),
        hostname="127.0.0.1",
        port=free_port(),
        server_hostname="test",
        data_size_limit=200_000,
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def stored(store: MessageStore) -> bytes:
    [message] = list(store)
    return message.raw


class RawClient:
    """An SMTP client that writes exactly the bytes it is given."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")
        assert self.reply().startswith(b"220")

    def reply(self) -> bytes:
        lines = [self.file.readline()]
        while lines[-1][3:4] == b"-":
            lines.append(self.file.readline())
        return b"".join(lines)

    def command(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def raw_client(port: int) -> Iterator[RawClient]:
    client = RawClient(port)
    client.command(b"EHLO test")
    client.command(b"MAIL FROM:<a@x.org>")
    client.command(b"RCPT TO:<b@x.org>")
    assert client.command(b"DATA").startswith(b"354")
    try:
        yield client
    finally:
        client.close()


@pytest.mark.parametrize(
    "body",
    [
        "Plain line.\n",
        ".starts with a dot\n..two dots\n.\nabove was a lone dot\n",
        "ends with a dot.\n.\n",
        "\n".join(f"line {n} ends with a dot." for n in range(400)) + "\n",
        "\n".join("." * (n % 80) for n in range(2000)) + "\n",
        "x" * MAX_LINE + "\n",
    ],
    ids=["plain", "dots-at-line-start", "dot-line-last", "many-dot-ends", "big", "longest"],
)
def test_the_stored_message_is_byte_for_byte_what_was_sent(
    store: MessageStore, port: int, body: str
) -> None:
    raw = (
        build(text=None, html=None).rstrip(b"\r\n")
        + b"\r\n\r\n"
        + body.replace("\n", "\r\n").encode()
    )
    code, _ = send_mail(port, raw)
    assert code == 250
    assert stored(store) == raw


def test_a_newsletter_sized_message_arrives_whole(store: MessageStore, port: int) -> None:
    html = "<p>" + "word " * 20000 + "</p>"
    raw = build(html=html)
    assert len(raw) > 100_000
    send_mail(port, raw)
    assert stored(store) == raw


def test_a_line_longer_than_998_characters_is_refused(store: MessageStore, port: int) -> None:
    raw = b"Subject: long\r\n\r\n" + b"x" * (MAX_LINE + 1) + b"\r\n"
    with pytest.raises(smtplib.SMTPDataError) as refused, smtplib.SMTP("127.0.0.1", port) as client:
        client.sendmail("a@x.org", ["b@x.org"], raw)
    assert refused.value.smtp_code == 500
    assert b"Line too long" in refused.value.smtp_error
    assert len(store) == 0


def test_bare_line_feeds_are_refused_as_one_endless_line(store: MessageStore, port: int) -> None:
    # The mistake DESIGN.md warns about: bytes with LF line ends passed to smtplib.
    raw = b"Subject: lf\n\n" + b"a short line\n" * 100
    with (
        pytest.raises(smtplib.SMTPDataError, match="Line too long"),
        smtplib.SMTP("127.0.0.1", port) as client,
    ):
        client.sendmail("a@x.org", ["b@x.org"], raw)
    assert len(store) == 0


def test_too_much_data_is_refused_after_reading_it_all(
    store: MessageStore, raw_client: RawClient
) -> None:
    # Raw, because smtplib declares SIZE and is refused at MAIL already.
    data = b"Subject: big\r\n\r\n" + b"line\r\n" * 50_000 + b"."
    reply = raw_client.command(data)
    assert reply.startswith(b"552")
    # The connection is still in step: the next message goes through.
    raw_client.command(b"MAIL FROM:<a@x.org>")
    raw_client.command(b"RCPT TO:<b@x.org>")
    raw_client.command(b"DATA")
    assert raw_client.command(b"Subject: after\r\n\r\nok\r\n.").startswith(b"250")
    assert [message.summary.subject for message in store] == ["after"]


def test_an_empty_message_is_accepted(store: MessageStore, raw_client: RawClient) -> None:
    assert raw_client.command(b".").startswith(b"250")
    assert stored(store) == b""


def test_a_terminator_split_across_packets_is_found(
    store: MessageStore, raw_client: RawClient
) -> None:
    for piece in (b"Subject: split\r\n\r\nbody.", b"\r\n", b".", b"\r", b"\n"):
        raw_client.sock.sendall(piece)
        time.sleep(0.02)
    assert raw_client.reply().startswith(b"250")
    assert stored(store) == b"Subject: split\r\n\r\nbody.\r\n"


def test_a_dot_line_end_far_into_the_data_is_not_the_end(
    store: MessageStore, raw_client: RawClient
) -> None:
    # The first ".\r\n" lies past the reader's 1001-byte window and ends a sentence.
    lines = (b"y" * 900 + b"\r\n") * 6
    body = b"Subject: x\r\n\r\n" + lines + b"end.\r\n..\r\n" + b"z" * 900 + b"\r\n"
    assert raw_client.command(body + b".").startswith(b"250")
    assert stored(store) == b"Subject: x\r\n\r\n" + lines + b"end.\r\n.\r\n" + b"z" * 900 + b"\r\n"


def test_data_needs_a_recipient_and_no_argument(port: int) -> None:
    client = RawClient(port)
    try:
        client.command(b"EHLO test")
        assert client.command(b"DATA").startswith(b"503")
        client.command(b"MAIL FROM:<a@x.org>")
        client.command(b"RCPT TO:<b@x.org>")
        assert client.command(b"DATA now").startswith(b"501")
    finally:
        client.close()


def test_any_login_is_accepted(store: MessageStore) -> None:
    from newsletter.devsmtp.capture import accept_any_login

    controller = CaptureController(
        CaptureHandler(store),
        hostname="127.0.0.1",
        port=free_port(),
        server_hostname="test",
        authenticator=accept_any_login,
        auth_require_tls=False,
    )
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", controller.port) as client:
            client.login("someone", "any password")
            client.sendmail("a@x.org", ["b@x.org"], build("logged in"))
    finally:
        controller.stop()
    assert [message.summary.subject for message in store] == ["logged in"]
