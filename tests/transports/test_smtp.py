from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from newsletter.core.errors import ConfigError
from newsletter.core.settings import Settings
from newsletter.transports import make_transport
from newsletter.transports.base import Content, OutgoingMessage, Status, TransportError
from newsletter.transports.smtp import SmtpEndpoint, SmtpTransport, parse_smtp_url, tls_context
from tests.transports.conftest import make_message
from tests.transports.journals import CountingLimiter, RecordingJournal
from tests.transports.smtp_servers import (
    PASSWORD,
    USER,
    Mailbox,
    TlsFiles,
    authenticator,
    free_port,
    smtp_server,
)


@pytest.fixture(autouse=True, params=["one command at a time", "pipelining"])
def server_pipelining(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Every test here against a server without PIPELINING, then one that offers it."""
    pipelining = request.param == "pipelining"
    monkeypatch.setattr(Mailbox, "pipelining", pipelining)
    return pipelining


@contextmanager
def transport_for(url: str, **options: object) -> Iterator[SmtpTransport]:
    transport = SmtpTransport(parse_smtp_url(url), timeout=5, **options)  # type: ignore[arg-type]
    try:
        yield transport
    finally:
        transport.close()


def messages(count: int, start: int = 1) -> list[OutgoingMessage]:
    return [make_message(key, f"r{key}@example.net") for key in range(start, start + count)]


# URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:1025", SmtpEndpoint("plain", "127.0.0.1", 1025)),
        ("smtp://mail.example.org", SmtpEndpoint("plain", "mail.example.org", 25)),
        ("smtp+starttls://mail.example.org", SmtpEndpoint("starttls", "mail.example.org", 587)),
        ("SMTPS://mail.example.org", SmtpEndpoint("tls", "mail.example.org", 465)),
        ("smtp://[::1]:2525/", SmtpEndpoint("plain", "::1", 2525)),
        (
            f"smtps://{quote('a@b.org', safe='')}:{quote(PASSWORD, safe='')}@mx.example.org:4650",
            SmtpEndpoint("tls", "mx.example.org", 4650, "a@b.org", PASSWORD),
        ),
    ],
)
def test_urls_are_parsed(url: str, expected: SmtpEndpoint) -> None:
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://mail.example.org", "must start with smtp://"),
        ("mail.example.org:25", "must start with smtp://"),
        ("smtp://", "names no host"),
        ("smtp://mail.example.org:99999", "invalid port"),
        ("smtp://mail.example.org/inbox", "path"),
        ("smtp://user@mail.example.org", "no password"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_smtp_url(url)


def test_the_password_never_appears_in_the_endpoint_text() -> None:
    endpoint = parse_smtp_url("smtps://me:secret@mx.example.org")
    assert str(endpoint) == "smtps://me@mx.example.org:465"


def test_a_missing_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="NEWSLETTER_SMTP_CA_FILE"):
        tls_context(tmp_path / "missing.pem")


# Sending


def test_a_batch_is_spread_over_the_pool_and_each_message_arrives_once(content: Content) -> None:
    mailbox = Mailbox()
    batch = messages(40)
    with (
        smtp_server(mailbox) as port,
        transport_for(f"smtp://127.0.0.1:{port}", connections=4) as t,
    ):
        assert mailbox.sessions == 0  # connections open on first use
        outcomes = t.send_batch(content, batch)
        assert mailbox.sessions == 4
        # A second batch reuses the open connections.
        more = messages(8, start=41)
        assert {o.status for o in t.send_batch(content, more)} == {Status.SENT}
        assert mailbox.sessions == 4
    assert [o.status for o in outcomes] == [Status.SENT] * 40
    assert outcomes[0].provider_id is not None and "queued as Q" in outcomes[0].provider_id
    assert outcomes[0].detail.startswith("250 ")
    assert sorted(mailbox.recipients()) == sorted(m.recipient for m in batch + more)
    by_recipient = {a.rcpt_tos[0]: a for a in mailbox.accepted}
    for message in batch:
        accepted = by_recipient[message.recipient]
        assert accepted.mail_from == "bounces@example.org"
        assert accepted.data.rstrip(b"\r\n") == message.data.rstrip(b"\r\n")
    # close() says goodbye on every connection.
    assert mailbox.quits == 4


def test_lines_starting_with_a_dot_arrive_as_they_were(content: Content) -> None:
    # A lone "." would end the data early; "..x" would lose a dot if not stuffed again.
    body = b".\r\n.starts\r\n..two\r\nmid.dle\r\n\r\n.\r\n.last"
    data = b"From: newsletter@example.org\r\nSubject: Dots\r\n\r\n" + body
    mailbox = Mailbox()
    with (
        smtp_server(mailbox) as port,
        transport_for(f"smtp://127.0.0.1:{port}", connections=1) as t,
    ):
        outcomes = t.send_batch(content, [make_message(1, "r1@example.net", data=data)])
    assert [o.status for o in outcomes] == [Status.SENT]
    assert [a.data.rstrip(b"\r\n") for a in mailbox.accepted] == [data]


def test_421_reconnects_and_sends_the_message_once_more(content: Content) -> None:
    mailbox = Mailbox({"r2@example.net": [("rcpt", "421 4.3.2 Service shutting down")]})
    with (
        smtp_server(mailbox) as port,
        transport_for(f"smtp://127.0.0.1:{port}", connections=1) as t,
    ):
        outcomes = t.send_batch(content, messages(3))
    assert [o.status for o in outcomes] == [Status.SENT] * 3
    assert sorted(mailbox.recipients()) == ["r1@example.net", "r2@example.net", "r3@example.net"]
    assert mailbox.sessions == 2


def test_421_twice_is_an_unreachable_retry(content: Content) -> None:
    reply = "421 4.3.2 Service shutting down"
    mailbox = Mailbox({"r1@example.net": [("rcpt", reply), ("rcpt", reply)]})
    with (
        smtp_server(mailbox) as port,
        transport_for(f"smtp://127.0.0.1:{port}", connections=1) as t,
    ):
        outcomes = t.send_batch(content, messages(2))
    assert outcomes[0].status is Status.RETRY
    assert outcomes[0].detail == reply
    assert outcomes[0].unreachable
    assert outcomes[1].status is Status.SENT
    assert mailbox.recipients() == ["r2@example.net"]


def test_4xx_is_retry_and_5xx_is_rejected_with_the_servers_words(content: Content) -> None:
    mailbox = Mailbox(
        {
            "r2@example.net": [("rcpt", "451 4.7.1 Greylisted, try again later")],
            "r3@example.net": [("rcpt", "550 5.1.1 <r3@example.net>: no such user")],
            "r4@example.net": [("data", "552 5.3.4 Message too big")],
            "r5@example.net": [("data", "452 4.3.1 Insufficient storage")],
        }
    )
    with (
        smtp_server(mailbox) as port,
        transport_for(f"smtp://127.0.0.1:{port}", connections=2) as t,
    ):
        outcomes = t.send_batch(content, messages(6))
    assert [o.status for o in outcomes] == [
        Status.SENT,
        Status.RETRY,
        Status.REJECTED,
        Status.REJECTED,
        Status.RETRY,
        Status.SENT,
    ]
    assert outcomes[1].detail == "451 4.7.1 Greylisted, try again later"
    assert outcomes[2].detail == "550 5.1.1 <r3@example.net>: no such user"
    assert outcomes[3].detail == "552 5.3.4 Message too big"
    assert sorted(mailbox.recipients()) == ["r1@example.net", "r6@example.net"]


def test_a_dropped_connection_mid_batch_is_reopened_and_nothing_is_lost(content: Content) -> None:
    mailbox = Mailbox({"r3@example.net": [("rcpt", "drop")]})
    with (
        smtp_server(mailbox) as port,
        transport_for(f"smtp://127.0.0.1:{port}", connections=1) as t,
    ):
        outcomes = t.send_batch(content, messages(5))
    assert [o.status for o in outcomes] == [Status.SENT] * 5
    assert sorted(mailbox.recipients()) == [f"r{i}@example.net" for i in range(1, 6)]
    assert mailbox.sessions == 2


def test_a_connection_dropped_twice_for_one_message_is_retry(content: Content) -> None:
    mailbox = Mailbox({"r1@example.net": [("rcpt", "drop"), ("rcpt", "drop")]})
    with (
        smtp_server(mailbox) as port,
        transport_for(f"smtp://127.0.0.1:{port}", connections=1) as t,
    ):
        outcomes = t.send_batch(content, messages(2))
    assert outcomes[0].status is Status.RETRY
    assert "connection lost" in outcomes[0].detail
    assert outcomes[0].unreachable
    assert outcomes[1].status is Status.SENT
    assert mailbox.recipients() == ["r2@example.net"]


def test_a_drop_after_the_end_of_data_is_unanswered_and_taken_back(content: Content) -> None:
    # A server accepts a message only with its reply (RFC 5321, 6.1): without one the
    # message is to be sent again (by the runner, later), so the journal's mark is taken
    # back and the outcome says a copy may already be there.
    mailbox = Mailbox({"r2@example.net": [("data", "drop")]})
    journal = RecordingJournal()
    with (
        smtp_server(mailbox) as port,
        transport_for(f"smtp://127.0.0.1:{port}", connections=1) as t,
    ):
        outcomes = t.send_batch(content, messages(3), journal)
    assert [o.status for o in outcomes] == [Status.SENT, Status.RETRY, Status.SENT]
    assert outcomes[1].unanswered and not outcomes[1].unreachable
    assert "after the end of data, before the reply" in outcomes[1].detail
    assert journal.taken_back == [2]
    # Not tried again within the batch: that is the runner's job, after a backoff.
    assert mailbox.recipients() == ["r1@example.net", "r3@example.net"]
    assert mailbox.sessions == 2


def test_the_journal_hears_of_each_message_before_its_end_of_data(content: Content) -> None:
    mailbox = Mailbox({"r3@example.net": [("data", "552 5.3.4 Message too big")]})

    def not_yet_accepted(key: int) -> None:
        assert f"r{key}@example.net" not in mailbox.recipients()

    journal = RecordingJournal(check=not_yet_accepted)
    limiter = CountingLimiter()
    with (
        smtp_server(mailbox) as port,
        transport_for(f"smtp://127.0.0.1:{port}", connections=2) as t,
    ):
        outcomes = t.send_batch(content, messages(4), journal, limiter)
    assert [o.status for o in outcomes] == [Status.SENT, Status.SENT, Status.REJECTED, Status.SENT]
    assert sorted(journal.handed_over) == [1, 2, 3, 4]
    # Refused at the dot: taken back at once, so it is never settled as sent.
    assert journal.taken_back == [3]
    assert limiter.requests == [1, 1, 1, 1]


def test_a_message_the_journal_cannot_record_is_not_sent(content: Content) -> None:
    mailbox = Mailbox()
    journal = RecordingJournal()
    journal.fail_for = {2}
    with (
        smtp_server(mailbox) as port,
        transport_for(f"smtp://127.0.0.1:{port}", connections=1) as t,
    ):
        outcomes = t.send_batch(content, messages(3), journal)
        later = t.send_batch(content, messages(1, start=4), journal)
    assert [o.status for o in outcomes] == [Status.SENT, Status.RETRY, Status.RETRY]
    assert "could not be recorded: disk full" in outcomes[1].detail
    # The server discarded the unfinished DATA; the connection is replaced for later.
    assert later[0].status is Status.SENT
    assert mailbox.recipients() == ["r1@example.net", "r4@example.net"]


def test_a_drop_before_the_end_of_data_is_sent_again_on_a_new_connection(
    content: Content,
) -> None:
    mailbox = Mailbox()
    dropped: list[int] = []
    transport = SmtpTransport(parse_smtp_url("smtp://127.0.0.1:1"), connections=1, timeout=5)

    def cut_the_line(key: int) -> None:
        # The connection dies after the content, before the dot: nothing was delivered.
        if key == 2 and not dropped:
            dropped.append(key)
            slot = transport._slots[0]
            assert slot is not None and slot.sock is not None
            slot.sock.shutdown(socket.SHUT_RDWR)

    journal = RecordingJournal(check=cut_the_line)
    with smtp_server(mailbox) as port:
        transport.endpoint = parse_smtp_url(f"smtp://127.0.0.1:{port}")
        try:
            outcomes = transport.send_batch(content, messages(3), journal)
        finally:
            transport.close()
    assert [o.status for o in outcomes] == [Status.SENT] * 3
    assert sorted(mailbox.recipients()) == ["r1@example.net", "r2@example.net", "r3@example.net"]
    assert mailbox.sessions == 2
    assert journal.handed_over == [1, 2, 2, 3]


def test_an_idle_connection_closed_by_the_server_is_replaced(content: Content) -> None:
    mailbox = Mailbox()
    with (
        smtp_server(mailbox) as port,
        transport_for(f"smtp://127.0.0.1:{port}", connections=1) as t,
    ):
        t.send_batch(content, messages(1))
        # The server goes away between batches (restart, idle timeout).
        slot = t._slots[0]
        assert slot is not None
        slot.sock.close()  # type: ignore[union-attr]
        assert [o.status for o in t.send_batch(content, messages(2, start=2))] == [Status.SENT] * 2
    assert len(mailbox.recipients()) == 3


def test_a_refused_connection_raises_a_transient_transport_error(content: Content) -> None:
    with (
        transport_for(f"smtp://127.0.0.1:{free_port()}") as t,
        pytest.raises(TransportError, match="cannot connect") as error,
    ):
        t.send_batch(content, messages(2))
    assert error.value.permanent is False
    assert error.value.unreachable is True


def test_a_server_going_away_mid_batch_leaves_the_rest_for_later(content: Content) -> None:
    mailbox = Mailbox({"r2@example.net": [("data", "drop")]})
    server = smtp_server(mailbox)
    port = server.__enter__()
    t = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{port}"), connections=1, timeout=5)
    try:
        t.send_batch(content, messages(1))
        server.__exit__(None, None, None)  # the server stops while our connection is open
        outcomes = t.send_batch(content, messages(3, start=2))
    finally:
        t.close()
    assert [o.status for o in outcomes] == [Status.RETRY] * 3
    assert all("cannot connect" in o.detail for o in outcomes)
    assert all(o.unreachable for o in outcomes)


# Authentication and TLS


def test_login_with_url_encoded_credentials(content: Content) -> None:
    mailbox = Mailbox()
    url = "smtp://{}:{}@127.0.0.1:{}"
    with smtp_server(mailbox, authenticator=authenticator, auth_require_tls=False) as port:
        with transport_for(url.format(quote(USER), quote(PASSWORD, safe=""), port)) as t:
            assert [o.status for o in t.send_batch(content, messages(2))] == [Status.SENT] * 2
        with (
            transport_for(url.format(USER, "wrong", port)) as t,
            pytest.raises(TransportError, match="refused the login") as error,
        ):
            t.send_batch(content, messages(1, start=3))
    assert error.value.permanent is True
    assert len(mailbox.accepted) == 2


def test_a_non_ascii_password_is_a_permanent_error(content: Content) -> None:
    mailbox = Mailbox()
    with (
        smtp_server(mailbox, authenticator=authenticator, auth_require_tls=False) as port,
        transport_for(f"smtp://{USER}:p%C3%BC@127.0.0.1:{port}") as t,
        pytest.raises(TransportError, match="must be ASCII") as error,
    ):
        t.send_batch(content, messages(1))
    assert error.value.permanent is True


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_server_requiring_auth_refuses_an_anonymous_sender(content: Content) -> None:
    mailbox = Mailbox()
    with (
        smtp_server(
            mailbox, authenticator=authenticator, auth_require_tls=False, auth_required=True
        ) as port,
        transport_for(f"smtp://127.0.0.1:{port}", connections=2) as t,
        pytest.raises(TransportError, match="requires a login: 530") as error,
    ):
        t.send_batch(content, messages(3))
    assert error.value.permanent is True
    assert mailbox.accepted == []


def test_starttls_with_a_trusted_ca(content: Content, tls_files: TlsFiles) -> None:
    mailbox = Mailbox()
    with (
        smtp_server(
            mailbox,
            tls_context=tls_files.server_context(),
            require_starttls=True,
            authenticator=authenticator,
        ) as port,
        transport_for(
            f"smtp+starttls://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}",
            context=tls_context(tls_files.ca),
        ) as t,
    ):
        outcomes = t.send_batch(content, messages(3))
    # The server refuses MAIL and AUTH before STARTTLS, so acceptance proves TLS was used.
    assert [o.status for o in outcomes] == [Status.SENT] * 3
    assert len(mailbox.accepted) == 3


def test_implicit_tls_with_a_trusted_ca(content: Content, tls_files: TlsFiles) -> None:
    mailbox = Mailbox()
    with (
        smtp_server(mailbox, ssl_context=tls_files.server_context()) as port,
        transport_for(f"smtps://127.0.0.1:{port}", context=tls_context(tls_files.ca)) as t,
    ):
        outcomes = t.send_batch(content, messages(2))
    assert [o.status for o in outcomes] == [Status.SENT] * 2
    assert "queued as Q" in str(outcomes[0].provider_id)
    assert len(mailbox.accepted) == 2


@pytest.mark.parametrize("scheme", ["smtps", "smtp+starttls"])
def test_an_untrusted_certificate_is_refused(
    content: Content, tls_files: TlsFiles, scheme: str
) -> None:
    mailbox = Mailbox()
    options = (
        {"ssl_context": tls_files.server_context()}
        if scheme == "smtps"
        else {"tls_context": tls_files.server_context()}
    )
    with (
        smtp_server(mailbox, **options) as port,
        transport_for(f"{scheme}://127.0.0.1:{port}", context=tls_context(tls_files.other_ca)) as t,
        pytest.raises(TransportError, match="not trusted") as error,
    ):
        t.send_batch(content, messages(1))
    assert error.value.permanent is True
    assert mailbox.accepted == []


def test_the_default_context_does_not_trust_a_private_ca(
    content: Content, tls_files: TlsFiles
) -> None:
    mailbox = Mailbox()
    with (
        smtp_server(mailbox, ssl_context=tls_files.server_context()) as port,
        transport_for(f"smtps://127.0.0.1:{port}") as t,
        pytest.raises(TransportError, match="not trusted"),
    ):
        t.send_batch(content, messages(1))
    assert mailbox.accepted == []
    assert tls_context().verify_mode is ssl.CERT_REQUIRED


def test_starttls_missing_from_the_server_is_refused(content: Content) -> None:
    mailbox = Mailbox()
    with (
        smtp_server(mailbox) as port,
        transport_for(f"smtp+starttls://127.0.0.1:{port}") as t,
        pytest.raises(TransportError, match="does not offer STARTTLS") as error,
    ):
        t.send_batch(content, messages(1))
    assert error.value.permanent is True
    assert mailbox.accepted == []


def test_settings_build_the_pool(content: Content, tls_files: TlsFiles) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, ssl_context=tls_files.server_context()) as port:
        settings = Settings(
            transport="smtp",
            smtp_url=f"smtps://127.0.0.1:{port}",
            smtp_connections=2,
            smtp_ca_file=tls_files.ca,
            smtp_timeout=5,
        )
        transport = make_transport(settings)
        try:
            assert isinstance(transport, SmtpTransport)
            assert transport.max_batch == 50
            assert {o.status for o in transport.send_batch(content, messages(4))} == {Status.SENT}
        finally:
            transport.close()
    assert mailbox.sessions == 2


# PIPELINING, against a server that reads exactly what the client wrote


class ScriptedSmtp:
    """An SMTP server in a thread that offers PIPELINING and answers nothing to MAIL, RCPT
    and DATA until all three have arrived: a client that waited for each reply would get
    none. `envelope_replies` are its answers to the three."""

    def __init__(self, envelope_replies: tuple[str, str, str]) -> None:
        self.envelope_replies = envelope_replies
        self.commands: list[str] = []
        self.messages: list[bytes] = []
        self.failure: BaseException | None = None
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.close()
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        try:
            connection, _ = self._server.accept()
        except OSError:
            return
        try:
            with connection:
                connection.settimeout(10)
                self._session(connection, connection.makefile("rb"))
        except BaseException as exc:
            self.failure = exc

    def _session(self, connection: socket.socket, lines: Any) -> None:
        def read() -> str:
            line: bytes = lines.readline()
            if not line:
                raise ConnectionError("the client closed the connection")
            command = line.decode().rstrip("\r\n")
            self.commands.append(command)
            return command

        connection.sendall(b"220 scripted ESMTP\r\n")
        read()
        connection.sendall(b"250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        while True:
            command = read()
            if command.upper() == "QUIT":
                connection.sendall(b"221 bye\r\n")
                return
            if command.upper() == "RSET":
                connection.sendall(b"250 reset\r\n")
                continue
            # Two more lines must already be on their way: read them before any reply.
            read(), read()
            mail, rcpt, data = self.envelope_replies
            connection.sendall(f"{mail}\r\n{rcpt}\r\n{data}\r\n".encode())
            if not data.startswith("354"):
                continue
            body = b""
            while (line := lines.readline()) not in (b".\r\n", b""):
                body += line
            self.messages.append(body)
            connection.sendall(b"250 queued\r\n" if body else b"554 no valid recipients\r\n")


@contextmanager
def scripted(envelope_replies: tuple[str, str, str]) -> Iterator[ScriptedSmtp]:
    server = ScriptedSmtp(envelope_replies)
    try:
        yield server
    finally:
        server.close()
    if server.failure is not None and not isinstance(server.failure, ConnectionError):
        raise server.failure


def test_mail_rcpt_and_data_go_in_one_write_to_a_pipelining_server(content: Content) -> None:
    journal = RecordingJournal()
    with (
        scripted(("250 sender ok", "250 recipient ok", "354 go ahead")) as server,
        transport_for(f"smtp://127.0.0.1:{server.port}") as transport,
    ):
        outcomes = transport.send_batch(content, messages(2), journal)
    assert [o.status for o in outcomes] == [Status.SENT, Status.SENT]
    assert [c.split(":")[0].upper() for c in server.commands[1:7]] == [
        "MAIL FROM",
        "RCPT TO",
        "DATA",
    ] * 2
    assert len(server.messages) == 2 and journal.handed_over == [1, 2]


def test_a_pipelined_refusal_of_the_recipient_is_its_outcome(content: Content) -> None:
    with (
        scripted(
            ("250 sender ok", "550 5.1.1 no such user", "503 5.5.1 no valid recipients")
        ) as server,
        transport_for(f"smtp://127.0.0.1:{server.port}") as transport,
    ):
        outcomes = transport.send_batch(content, messages(1))
    assert outcomes[0].status is Status.REJECTED
    assert outcomes[0].detail == "550 5.1.1 no such user"
    # The transaction was reset before the connection was used again.
    assert "RSET" in [command.upper() for command in server.commands]
    assert server.messages == []


def test_a_server_that_takes_data_after_refusing_the_recipient_gets_no_content(
    content: Content,
) -> None:
    journal = RecordingJournal()
    with (
        scripted(("250 sender ok", "550 5.1.1 no such user", "354 go ahead")) as server,
        transport_for(f"smtp://127.0.0.1:{server.port}") as transport,
    ):
        outcomes = transport.send_batch(content, messages(1), journal)
    assert outcomes[0].status is Status.REJECTED
    assert outcomes[0].detail == "550 5.1.1 no such user"
    # Only the lone dot that ends an empty DATA: the message itself never went.
    assert server.messages == [b""] and journal.handed_over == []
