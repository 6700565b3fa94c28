from __future__ import annotations

import base64
import email
import email.policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest

from newsletter.mail.headers import (
    MessageError,
    address_header,
    ascii_address,
    checked_text,
    clean_text,
    encoded_words,
    envelope_address,
    feedback_id,
    fold,
    list_id,
    mailbox,
    structured,
)


def word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


CRLF_WORD = word("x\r\nBcc: victim@example.org")


def headers_of(*lines: bytes) -> EmailMessage:
    message = email.message_from_bytes(
        b"".join(lines) + b"\r\nbody\r\n", policy=email.policy.default
    )
    assert isinstance(message, EmailMessage)
    assert not message.defects
    return message


# clean_text: names and personal fields


@pytest.mark.parametrize(
    ("value", "cleaned"),
    [
        ("Ana Reader", "Ana Reader"),
        ("Ana\r\nBcc: x@y.example", "Ana Bcc: x@y.example"),
        ("\tAna\x00\x85Reader\u2028 ", "Ana Reader"),
        ("Ana\x9bReader", "Ana Reader"),
        (word("Zoë"), "Zoë"),
        (CRLF_WORD, "x Bcc: victim@example.org"),
        # Nested: a word that decodes to another word is decoded again.
        (word(word("a\r\nb")), "a b"),
        ("Ana =?not a word", "Ana =?not a word"),
        # A wrong charset leaves no lone surrogates behind.
        ("=?utf-8?q?a=FFb?=", "a\ufffdb"),
    ],
)
def test_clean_text_decodes_words_and_removes_control_characters(value: str, cleaned: str) -> None:
    assert clean_text(value) == cleaned
    cleaned.encode("utf-8")


def test_a_plain_value_is_returned_as_it_is() -> None:
    value = "Ana Reader"
    assert clean_text(value) is value


@pytest.mark.parametrize("value", ["a\r\nb", "a\nb", "a\x00b", CRLF_WORD, word(word("a\nb"))])
def test_checked_text_refuses_control_characters_before_or_after_decoding(value: str) -> None:
    with pytest.raises(MessageError, match=r"Subject header .* control characters"):
        checked_text("Subject", value)


# fold: unstructured headers


def test_fold_decodes_an_encoded_word_and_never_writes_its_line_breaks() -> None:
    with pytest.raises(MessageError):
        fold("Subject", f"Hello {CRLF_WORD}")
    assert headers_of(fold("Subject", f"Hello {word('Zoë')}"))["Subject"] == "Hello Zoë"


def test_fold_writes_a_literal_word_marker_as_its_own_encoded_words() -> None:
    value = "Why =?utf-8?q?not a word and a very long subject that needs folding twice over"
    data = fold("Subject", value)
    assert data.isascii()
    assert all(len(line) <= 76 for line in data.split(b"\r\n"))
    assert headers_of(data)["Subject"] == value


def test_fold_refuses_a_bad_header_name() -> None:
    with pytest.raises(MessageError, match="header name"):
        fold("Bad Name", "x")


# mailbox and address headers


@pytest.mark.parametrize(
    "name",
    [
        "Ana Reader",
        'Reader, "The" Ana',
        "Reader: Ana, the <boss> of everything, Dept. of Very Long Names; and more more x",
        "x" * 250,
        ("Zoë Ağaoğlu-Ω " * 12).strip(),
        "a=?b?c?=d",
    ],
)
def test_a_mailbox_is_always_exactly_one_address(name: str) -> None:
    line = f"To: {mailbox(name, 'ana@example.org')}\r\n".encode("ascii")
    addresses = headers_of(line)["To"].addresses
    assert len(addresses) == 1
    assert addresses[0].addr_spec == "ana@example.org"
    # RFC 2047 drops the folding between adjacent encoded words; Python's address parser
    # wrongly keeps a space there, so decode the raw words the RFC way.
    raw = email.message_from_bytes(line + b"\r\n", policy=email.policy.compat32)["To"]
    phrase = raw.rsplit(" <", 1)[0]
    shown = str(make_header(decode_header(phrase))) if "=?" in phrase else addresses[0].display_name
    assert shown == name


def test_a_mailbox_name_is_cleaned_and_an_empty_one_leaves_the_bare_address() -> None:
    assert mailbox(CRLF_WORD, "a@example.org") == '"x Bcc: victim@example.org" <a@example.org>'
    assert mailbox(" \r\n", "a@example.org") == "a@example.org"


def test_an_address_header_is_parsed_and_rewritten() -> None:
    data = address_header("From", f"{word('Zoë, Ana')} <news@bücher.example>")
    addresses = headers_of(data)["From"].addresses
    assert [(a.display_name, a.addr_spec) for a in addresses] == [
        ("Zoë, Ana", "news@xn--bcher-kva.example")
    ]
    for value in (f"{CRLF_WORD} <news@example.org>", f'"{CRLF_WORD}" <news@example.org>'):
        with pytest.raises(MessageError, match="From header"):
            address_header("From", value)
    with pytest.raises(MessageError, match="no address"):
        address_header("Reply-To", "")
    data = address_header("Reply-To", "Office <office@bücher.example>, b@example.org")
    addresses = headers_of(data)["Reply-To"].addresses
    assert [a.addr_spec for a in addresses] == ["office@xn--bcher-kva.example", "b@example.org"]


# List-Id


def test_list_id_is_ascii_quoted_or_encoded_and_one_line() -> None:
    assert list_id("Members", "members.example.org") == '"Members" <members.example.org>'
    assert list_id("", "x.example.org") == "<x.example.org>"
    value = list_id(CRLF_WORD, "x.example.org")
    assert value == '"x Bcc: victim@example.org" <x.example.org>'
    long_value = list_id("Séminaires " * 20, "x.example.org")
    assert long_value.isascii() and "\r" not in long_value and "\n" not in long_value
    data = structured("List-Id", long_value)
    assert all(len(line) <= 78 for line in data.split(b"\r\n"))
    assert str(headers_of(data)["List-Id"]).endswith("<x.example.org>")


def test_structured_refuses_non_ascii_and_words_that_decode_to_line_breaks() -> None:
    with pytest.raises(MessageError, match="ASCII"):
        structured("List-Id", "Üyeler <u.example.org>")
    with pytest.raises(MessageError, match="control characters"):
        structured("List-Id", f'"{CRLF_WORD}" <u.example.org>')


# Encoded words


@pytest.mark.parametrize("indent", [1, 4, 9, 20])
def test_encoded_words_fit_76_columns_from_the_first_line(indent: int) -> None:
    text = "ğ" * 100
    lines = (" " * (indent - 1) + encoded_words(text, indent)).split("\r\n")
    assert all(len(line) <= 76 for line in lines)


# Addresses: IDNA domains


def test_addresses_get_their_domain_in_idna_form() -> None:
    assert ascii_address("ana@bücher.example", "to") == "ana@xn--bcher-kva.example"
    # IDNA 2008, as email-validator checks it: ß is not mapped to ss.
    assert ascii_address("ana@straße.example", "to") == "ana@xn--strae-oqa.example"
    with pytest.raises(MessageError, match="non-ASCII local part"):
        ascii_address("ünï@bücher.example", "to")
    assert envelope_address("ana@bücher.example") == "ana@xn--bcher-kva.example"
    assert envelope_address("ünï@bücher.example") == "ünï@xn--bcher-kva.example"
    assert envelope_address("") == ""


def test_feedback_id_is_identifiers_then_the_sender() -> None:
    assert feedback_id("42", "members", sender="newsletter") == "42:members:newsletter"
    assert feedback_id(sender="newsletter") == "newsletter"


@pytest.mark.parametrize(
    ("identifiers", "sender", "problem"),
    [
        (("42",), "news", "5 to 15 characters"),
        (("42",), "a-much-too-long-sender", "5 to 15 characters"),
        (("1", "2", "3", "4"), "newsletter", "at most 3 identifiers"),
        (("a:b",), "newsletter", "without ':'"),
        (("two words",), "newsletter", "without ':' or spaces"),
        (("",), "newsletter", "printable ASCII"),
        (("42\r\nBcc: x@example.org",), "newsletter", "printable ASCII"),
        (("k\u00f6ln",), "newsletter", "printable ASCII"),
    ],
)
def test_feedback_id_refuses_what_gmail_would_not_read(
    identifiers: tuple[str, ...], sender: str, problem: str
) -> None:
    with pytest.raises(MessageError, match=problem):
        feedback_id(*identifiers, sender=sender)
