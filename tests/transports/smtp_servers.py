"""Real SMTP servers on loopback for the SMTP transport's tests (aiosmtpd, in-process).

`Mailbox` records what the server really accepted and can be told to misbehave for chosen
recipients: answer 421/451/550 at RCPT or DATA, or drop the connection during DATA. Each
rule fires once, so a retried message goes through afterwards. `make_tls_files` creates a
throwaway CA and a server certificate for 127.0.0.1 with the `cryptography` package.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER = "mailer"
PASSWORD = "p@ss word/%:x"


@dataclass(frozen=True)
class Accepted:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    peer: str
    # When the server accepted it (time.monotonic()).
    at: float = 0.0


class Mailbox:
    """An aiosmtpd handler that stores accepted messages and applies one-shot rules.

    With `pipelining` it offers PIPELINING (RFC 2920), as Postfix and the big relays do;
    aiosmtpd reads pipelined commands in order, one at a time, whatever it announces.
    """

    pipelining = False

    def __init__(self, rules: dict[str, list[tuple[str, str]]] | None = None) -> None:
        # recipient -> [(stage, reply)], stage "rcpt" or "data", reply "drop" or an SMTP line
        self.rules = {address: list(steps) for address, steps in (rules or {}).items()}
        self.accepted: list[Accepted] = []
        self.sessions = 0
        self.quits = 0
        self._lock = threading.Lock()
        # When set, the message after this many accepted ones waits for `released`: a
        # test can then look at a send caught half-way, whatever the machine's speed.
        self.hold_after: int | None = None
        self.released = threading.Event()

    def _rule(self, address: str, stage: str) -> str | None:
        with self._lock:
            steps = self.rules.get(address, [])
            if steps and steps[0][0] == stage:
                return steps.pop(0)[1]
        return None

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self._lock:
            self.sessions += 1
        session.host_name = hostname
        if self.pipelining:
            return [responses[0], "250-PIPELINING", *responses[1:]]
        return responses

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.quits += 1
        return "221 Bye"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self._rule(address, "rcpt")
        if reply == "drop":
            server.transport.close()
            return "421 closing"
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = self._rule(envelope.rcpt_tos[0], "data")
        if reply == "drop":
            server.transport.close()
            return "421 closing"
        if reply:
            return reply
        if self.hold_after is not None and len(self.accepted) >= self.hold_after:
            await asyncio.get_running_loop().run_in_executor(None, self.released.wait, 60)
        with self._lock:
            self.accepted.append(
                Accepted(
                    envelope.mail_from,
                    tuple(envelope.rcpt_tos),
                    envelope.original_content,
                    str(session.peer),
                    time.monotonic(),
                )
            )
            number = len(self.accepted)
        return f"250 2.0.0 Ok: queued as Q{number:05d}"

    def recipients(self) -> list[str]:
        with self._lock:
            return [address for message in self.accepted for address in message.rcpt_tos]


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server(handler: Mailbox, **options: Any) -> Iterator[int]:
    """An aiosmtpd server on 127.0.0.1 for the duration; yields its port."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_tls_files(folder: Path) -> TlsFiles:
    ca_key, ca_cert = _ca("Newsletter Test CA")
    _, other_cert = _ca("Some Other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(
        ca=folder / "ca.pem",
        cert=folder / "server.pem",
        key=folder / "server.key",
        other_ca=folder / "other-ca.pem",
    )
    pem = serialization.Encoding.PEM
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    files.other_ca.write_bytes(other_cert.public_bytes(pem))
    files.cert.write_bytes(cert.public_bytes(pem))
    files.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files
