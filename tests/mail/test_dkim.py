from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dkim.canonicalization import Relaxed

from newsletter.compose import compose_issue
from newsletter.core.errors import ConfigError
from newsletter.core.links import Links
from newsletter.core.settings import Brand, Settings
from newsletter.mail.dkim import DkimError, DkimSigner, load_private_key, relaxed_body
from newsletter.mail.headers import ascii_domain
from newsletter.mail.mime import MessageTemplate, default_list_id
from newsletter.mail.personalize import Recipient, personal_fields
from newsletter.record.loader import load_record
from tests.conftest import EXAMPLE

DOMAIN = "muslim-institute.example"
SELECTOR = "news2024"
FROM = f"MUSLIM Institute <newsletter@{DOMAIN}>"
# Two primes of a throwaway 512-bit key: too small for DKIM, and cryptography will not
# generate one.
P512 = 0xC9BD1C11D0629652637804D2AEE6ECA8424F8D5102822E74C41C9E03E8D2BED9
Q512 = 0xC96EE71F58025BA77874E23D786E9FFE06D9215BD69567C41801DF5E3D914F91

PLAIN = (
    f"From: {FROM}\r\n"
    "To: Ana <ana@example.org>\r\n"
    "Subject: Seminar\r\n"
    "Date: Thu, 24 Feb 2022 10:30:00 +0000\r\n"
    f"Message-ID: <1@{DOMAIN}>\r\n"
    "\r\n"
    "Hello  Ana,\r\n\tsee you there. \r\n\r\n\r\n"
).encode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def newsletter_message() -> bytes:
    """The example newsletter for one recipient, as the sender builds it (about 74 KB)."""
    brand = Brand()
    issue = compose_issue(load_record(EXAMPLE), brand=brand, public_url="https://news.example")
    template = MessageTemplate.build(
        issue,
        from_address=FROM,
        list_id=default_list_id(brand.name, DOMAIN),
        unsubscribe_mailto=f"unsubscribe@{DOMAIN}",
    )
    recipient = Recipient("ana@example.org", "Ana Reader", subscriber_id=7, list_id=1)
    fields = personal_fields(
        recipient, key=b"dkim-test-key-0123456789", links=Links("https://news.example")
    )
    return template.render(fields, to=recipient.email, to_name=recipient.name)


def dns_for(signer: DkimSigner) -> Callable[..., bytes | None]:
    """A resolver that knows only the signer's published key."""
    record = signer.dns_record().encode()
    expected = f"{SELECTOR}._domainkey.{DOMAIN}.".encode()

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == expected else None

    return lookup


def signature_tags(signed: bytes) -> dict[bytes, bytes]:
    first = dkim.rfc822_parse(signed)[0][0]
    assert first[0] == b"DKIM-Signature"
    return {
        name: re.sub(rb"\s+", b"", value)
        for name, value in dkim.util.parse_tag_value(first[1]).items()
    }


def signed_header_names(signed: bytes) -> list[str]:
    return signature_tags(signed)[b"h"].decode().split(":")


def test_signed_newsletter_verifies_with_the_published_rsa_key(
    rsa_key: rsa.RSAPrivateKey, newsletter_message: bytes
) -> None:
    signer = DkimSigner(DOMAIN, SELECTOR, rsa_key)
    signed = signer.sign(newsletter_message)

    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert signed.endswith(newsletter_message)
    assert dkim.verify(signed, dnsfunc=dns_for(signer))


def test_signature_covers_both_list_unsubscribe_headers(
    rsa_key: rsa.RSAPrivateKey, newsletter_message: bytes
) -> None:
    names = signed_header_names(DkimSigner(DOMAIN, SELECTOR, rsa_key).sign(newsletter_message))

    assert "list-unsubscribe" in names
    assert "list-unsubscribe-post" in names
    for name in ("from", "to", "subject", "date", "message-id", "mime-version"):
        assert name in names
    for name in ("content-type", "list-id"):
        assert name in names
    # Only headers the message has, each once more than it occurs.
    assert "cc" not in names and "reply-to" not in names
    assert names.count("list-unsubscribe") == 2


def test_changing_list_unsubscribe_after_signing_breaks_the_signature(
    rsa_key: rsa.RSAPrivateKey, newsletter_message: bytes
) -> None:
    signer = DkimSigner(DOMAIN, SELECTOR, rsa_key)
    signed = signer.sign(newsletter_message)
    assert b"List-Unsubscribe: <https://news.example/" in signed

    redirected = signed.replace(
        b"List-Unsubscribe: <https://news.example/", b"List-Unsubscribe: <https://evil.example/"
    )
    assert not dkim.verify(redirected, dnsfunc=dns_for(signer))

    no_one_click = signed.replace(
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: No"
    )
    assert not dkim.verify(no_one_click, dnsfunc=dns_for(signer))


def test_a_header_added_in_transit_breaks_the_signature(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = DkimSigner(DOMAIN, SELECTOR, rsa_key)
    signed = signer.sign(PLAIN)
    assert dkim.verify(b"Received: from relay\r\n" + signed, dnsfunc=dns_for(signer))

    # Some readers show the first of two Subjects; the signature covers the absent copy.
    assert not dkim.verify(b"Subject: Act now\r\n" + signed, dnsfunc=dns_for(signer))
    assert not dkim.verify(signed.replace(b"see you", b"pay us"), dnsfunc=dns_for(signer))


def test_relaxed_canonicalization_survives_refolding(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = DkimSigner(DOMAIN, SELECTOR, rsa_key)
    signed = signer.sign(PLAIN)

    refolded = signed.replace(b"Subject: Seminar", b"Subject:\r\n \t Seminar  ")
    respaced = refolded.replace(b"Hello  Ana,", b"Hello \t Ana,")
    assert dkim.verify(respaced, dnsfunc=dns_for(signer))


def test_ed25519_key_signs_ed25519_sha256(newsletter_message: bytes) -> None:
    pytest.importorskip("nacl", reason="dkimpy verifies Ed25519 with PyNaCl")
    signer = DkimSigner(DOMAIN, SELECTOR, Ed25519PrivateKey.generate())
    signed = signer.sign(newsletter_message)

    assert signature_tags(signed)[b"a"] == b"ed25519-sha256"
    assert signer.dns_record().startswith("v=DKIM1; k=ed25519; p=")
    assert dkim.verify(signed, dnsfunc=dns_for(signer))
    tampered = signed.replace(b"List-Unsubscribe: <https://", b"List-Unsubscribe: <http://")
    assert not dkim.verify(tampered, dnsfunc=dns_for(signer))


def test_output_lines_are_crlf_and_at_most_998_octets(
    rsa_key: rsa.RSAPrivateKey, newsletter_message: bytes
) -> None:
    signed = DkimSigner(DOMAIN, SELECTOR, rsa_key).sign(newsletter_message)

    assert signed.endswith(b"\r\n")
    lines = signed.split(b"\r\n")
    assert not any(b"\r" in line or b"\n" in line for line in lines)
    assert max(map(len, lines)) <= 998
    dkim_lines = signed[: signed.index(b"\r\n" + newsletter_message[:5])].split(b"\r\n")
    assert dkim_lines[0].startswith(b"DKIM-Signature:")
    assert all(line.startswith(b" ") for line in dkim_lines[1:])
    assert max(map(len, dkim_lines)) <= 78


def test_bare_lf_line_ends_become_crlf(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = DkimSigner(DOMAIN, SELECTOR, rsa_key)
    signed = signer.sign(PLAIN.replace(b"\r\n", b"\n"))

    assert signed.count(b"\n") == signed.count(b"\r\n")
    assert signed.endswith(PLAIN)
    assert dkim.verify(signed, dnsfunc=dns_for(signer))


def test_signature_time_comes_from_the_clock(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = DkimSigner(DOMAIN, SELECTOR, rsa_key, clock=lambda: 1_700_000_000.9)

    assert signature_tags(signer.sign(PLAIN))[b"t"] == b"1700000000"


def test_a_message_without_from_cannot_be_signed(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = DkimSigner(DOMAIN, SELECTOR, rsa_key)

    with pytest.raises(DkimError, match="without a From header"):
        signer.sign(b"To: ana@example.org\r\nSubject: x\r\n\r\nbody\r\n")
    with pytest.raises(DkimError, match="malformed header"):
        signer.sign(b"From: a@example.org\r\nnot a header\r\n\r\nbody\r\n")


def test_relaxed_body_matches_dkimpy() -> None:
    rng = random.Random(8058)
    pieces = [b"a", b"xyz", b" ", b"  ", b"\t", b"\r\n", b"=20", b"\r\n\r\n"]
    for _ in range(5000):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 25)))
        assert relaxed_body(body) == Relaxed.canonicalize_body(body), body


# Configuration


def write_pem(
    path: Path,
    key: rsa.RSAPrivateKey | Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
    encryption: serialization.KeySerializationEncryption | None = None,
) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, fmt, encryption or serialization.NoEncryption()
        )
    )
    return path


def dkim_settings(monkeypatch: pytest.MonkeyPatch, **values: str) -> Settings:
    for name, value in values.items():
        monkeypatch.setenv(f"NEWSLETTER_DKIM_{name.upper()}", value)
    return Settings()


def test_no_domain_means_no_signing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DkimSigner.from_settings(Settings()) is None
    assert DkimSigner.from_settings(dkim_settings(monkeypatch, domain="", selector="x")) is None


def test_signer_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    key_file = write_pem(tmp_path / "dkim.pem", rsa_key, serialization.PrivateFormat.PKCS8)
    settings = dkim_settings(
        monkeypatch, domain=DOMAIN.upper() + ".", selector=SELECTOR, key_file=str(key_file)
    )

    signer = DkimSigner.from_settings(settings)

    assert signer is not None
    assert (signer.domain, signer.selector, signer.algorithm) == (DOMAIN, SELECTOR, "rsa-sha256")
    assert dkim.verify(signer.sign(PLAIN), dnsfunc=dns_for(signer))


def test_traditional_rsa_and_dknewkey_ed25519_files_load(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    pkcs1 = write_pem(tmp_path / "rsa.pem", rsa_key, serialization.PrivateFormat.TraditionalOpenSSL)
    assert pkcs1.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert DkimSigner.from_key_file(DOMAIN, SELECTOR, pkcs1).algorithm == "rsa-sha256"

    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    dknewkey = tmp_path / "ed25519.key"
    dknewkey.write_bytes(base64.b64encode(seed) + b"\n")
    assert DkimSigner.from_key_file(DOMAIN, SELECTOR, dknewkey).algorithm == "ed25519-sha256"


@pytest.mark.parametrize(
    ("missing", "present"),
    [("selector", {"key_file": "dkim.pem"}), ("key_file", {"selector": SELECTOR})],
)
def test_domain_without_selector_or_key_file_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, missing: str, present: dict[str, str]
) -> None:
    settings = dkim_settings(monkeypatch, domain=DOMAIN, **present)

    with pytest.raises(ConfigError, match=f"needs NEWSLETTER_DKIM_{missing.upper()}"):
        DkimSigner.from_settings(settings)


def test_missing_and_unreadable_key_files_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = dkim_settings(
        monkeypatch, domain=DOMAIN, selector=SELECTOR, key_file=str(tmp_path / "nope.pem")
    )
    with pytest.raises(ConfigError, match=r"NEWSLETTER_DKIM_KEY_FILE '.*nope\.pem' does not exist"):
        DkimSigner.from_settings(settings)

    with pytest.raises(ConfigError, match="cannot be read"):
        DkimSigner.from_key_file(DOMAIN, SELECTOR, tmp_path)


def make_small_rsa_key() -> rsa.RSAPrivateKey:
    public = rsa.RSAPublicNumbers(65537, P512 * Q512)
    d = pow(65537, -1, (P512 - 1) * (Q512 - 1))
    numbers = rsa.RSAPrivateNumbers(
        P512,
        Q512,
        d,
        rsa.rsa_crt_dmp1(d, P512),
        rsa.rsa_crt_dmq1(d, Q512),
        rsa.rsa_crt_iqmp(P512, Q512),
        public,
    )
    return numbers.private_key()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not a key at all\n", "holds no private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a valid PEM"),
        ("encrypted", "is encrypted"),
        ("ec", "is an EC key; DKIM signs with RSA or Ed25519 keys only"),
        ("small", "is a 512-bit RSA key; DKIM needs at least 1024 bits"),
    ],
)
def test_bad_keys_are_config_errors_at_construction(
    tmp_path: Path, content: bytes | str, problem: str
) -> None:
    path = tmp_path / "dkim.pem"
    if content == "encrypted":
        write_pem(
            path,
            Ed25519PrivateKey.generate(),
            encryption=serialization.BestAvailableEncryption(b"passphrase"),
        )
    elif content == "ec":
        write_pem(path, ec.generate_private_key(ec.SECP256R1()))
    elif content == "small":
        write_pem(path, make_small_rsa_key())
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)

    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        DkimSigner.from_key_file(DOMAIN, SELECTOR, path)
    assert "NEWSLETTER_DKIM_KEY_FILE" in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("domain", "selector", "setting"),
    [
        ("not a domain", SELECTOR, "NEWSLETTER_DKIM_DOMAIN"),
        ("-bad-.example", SELECTOR, "NEWSLETTER_DKIM_DOMAIN"),
        (DOMAIN, "has space", "NEWSLETTER_DKIM_SELECTOR"),
        (DOMAIN, "a..b", "NEWSLETTER_DKIM_SELECTOR"),
    ],
)
def test_invalid_domain_or_selector_is_a_config_error(
    domain: str, selector: str, setting: str
) -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(ConfigError, match=f"{setting}=.* is not a valid"):
        DkimSigner(domain, selector, key)


def test_internationalized_domain_signs_with_its_a_label() -> None:
    signer = DkimSigner("bücher.example", SELECTOR, Ed25519PrivateKey.generate())

    assert signer.domain == "xn--bcher-kva.example"


def test_the_signing_domain_is_encoded_as_the_from_address_is() -> None:
    """IDNA 2008, as email-validator and the headers use: IDNA 2003 would sign "faß" as
    "fass", a domain of its own, and DMARC would find d= and From out of alignment."""
    signer = DkimSigner("faß.example", SELECTOR, Ed25519PrivateKey.generate())

    assert signer.domain == ascii_domain("faß.example") == "xn--fa-hia.example"


def test_load_private_key_names_its_source() -> None:
    with pytest.raises(ConfigError, match=r"^the key in the vault holds no private key"):
        load_private_key(b"", "the key in the vault")
