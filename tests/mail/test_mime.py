from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage
from typing import Any

import pytest

from newsletter.core.links import Links
from newsletter.issue.model import Asset, Issue, placeholder
from newsletter.mail.mime import MessageError, MessageTemplate
from newsletter.mail.personalize import Recipient, personal_fields
from tests.mail.oracle import build_reference_message

FROM = "MUSLIM Institute <newsletter@muslim-institute.example>"
LIST_ID = "MUSLIM Institute <newsletter.muslim-institute.example>"
KEY = b"message-test-key-0123456789"
LINKS = Links("https://news.example.org")
DATE = datetime(2022, 2, 24, 10, 30, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def make_issue(**changes: Any) -> Issue:
    values: dict[str, Any] = {
        "slug": "2022-02-24-seminar",
        "subject": "Seminar: Genocide and Ethnic Cleansing",
        "preheader": "A crime against humanity",
        "language": "en",
        "direction": "ltr",
        "html": (
            '<!doctype html><html lang="en"><body><p>Dear '
            f"{placeholder('name')},</p><p>Caf\u00e9 = 100%</p>"
            f'<a href="{placeholder("unsubscribe_url")}">Unsubscribe</a> '
            f'<a href="{placeholder("forward_url")}">Send to a friend</a> '
            f'<a href="{placeholder("preferences_url")}">Preferences</a>'
            f"<p>Sent to {placeholder('email')}</p></body></html>"
        ),
        "text": (
            f"Dear {placeholder('name')},\n\nCaf\u00e9 = 100%   \n\n"
            f"Unsubscribe: {placeholder('unsubscribe_url')}\n"
            f"Send to a friend: {placeholder('forward_url')}\n"
        ),
        "web_html": "<html></html>",
        "print_html": "<html></html>",
    }
    values.update(changes)
    return Issue(**values)


def fields_for(name: str = "Ana Reader", email_address: str = "ana@example.org") -> dict[str, str]:
    recipient = Recipient(email_address, name, subscriber_id=42, list_id=7, version=1)
    return personal_fields(recipient, key=KEY, links=LINKS)


def render(
    issue: Issue | None = None,
    *,
    name: str = "Ana Reader",
    address: str = "ana@example.org",
    mailto: str | None = None,
    **kwargs: Any,
) -> bytes:
    template = MessageTemplate.build(
        issue or make_issue(),
        from_address=FROM,
        reply_to="Comms <comms@muslim-institute.example>",
        list_id=LIST_ID,
        unsubscribe_mailto=mailto,
    )
    return template.render(fields_for(name, address), to=address, to_name=name, **kwargs)


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def assert_wire_format(data: bytes) -> None:
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    head, _, _ = data.partition(b"\r\n\r\n")
    assert head.isascii()


def test_structure_is_alternative_with_text_first_and_html_last() -> None:
    message = parse(render())
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"


def test_wire_format_is_crlf_and_lines_fit() -> None:
    data = render()
    assert_wire_format(data)
    # Inside the quoted-printable bodies no line exceeds 76 characters.
    for line in data.split(b"\r\n"):
        if not line.startswith((b"Content-Type", b"List-Unsubscribe:", b"Message-ID", b"--")):
            assert len(line) <= 76, line


def test_required_headers() -> None:
    fields = fields_for()
    message = parse(render(mailto="unsubscribe@muslim-institute.example"))
    assert message["MIME-Version"] == "1.0"
    assert message["From"].addresses[0].addr_spec == "newsletter@muslim-institute.example"
    assert message["Reply-To"].addresses[0].addr_spec == "comms@muslim-institute.example"
    assert message["To"].addresses[0].addr_spec == "ana@example.org"
    assert message["To"].addresses[0].display_name == "Ana Reader"
    assert message["Subject"] == "Seminar: Genocide and Ethnic Cleansing"
    assert message["List-Id"] == LIST_ID
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"] == (
        f"<{fields['unsubscribe_url']}>, "
        "<mailto:unsubscribe@muslim-institute.example?subject=unsubscribe>"
    )
    assert message["Date"].datetime.tzinfo is not None
    assert re.fullmatch(r"<[0-9a-f]{32}@muslim-institute\.example>", message["Message-ID"])


def test_list_unsubscribe_without_mailto_is_the_https_url_only() -> None:
    message = parse(render())
    assert message["List-Unsubscribe"] == f"<{fields_for()['unsubscribe_url']}>"


def test_message_id_is_unique_per_message() -> None:
    ids = {parse(render())["Message-ID"] for _ in range(20)}
    assert len(ids) == 20


def test_given_message_id_and_date_are_used() -> None:
    message = parse(render(message_id="<fixed@muslim-institute.example>", date=DATE))
    assert message["Message-ID"] == "<fixed@muslim-institute.example>"
    assert message["Date"].datetime == DATE


def test_bodies_and_headers_equal_the_reference_builder() -> None:
    issue = make_issue()
    fields = fields_for()
    options: dict[str, Any] = {
        "from_address": FROM,
        "reply_to": "Comms <comms@muslim-institute.example>",
        "list_id": LIST_ID,
        "unsubscribe_mailto": "mailto:u@muslim-institute.example",
        "extra_headers": {"X-Campaign": "7"},
    }
    fast = parse(
        MessageTemplate.build(issue, **options).render(
            fields,
            to="ana@example.org",
            to_name="Ana Reader",
            message_id="<a@b.example>",
            date=DATE,
        )
    )
    reference = parse(
        build_reference_message(
            issue,
            fields,
            to="ana@example.org",
            to_name="Ana Reader",
            message_id="<a@b.example>",
            date=DATE,
            **options,
        ).as_bytes(policy=email.policy.SMTP)
    )
    assert sorted(fast.keys()) == sorted(reference.keys())
    for name in reference:
        if name != "Content-Type":  # the boundaries differ
            assert str(fast[name]) == str(reference[name]), name
    assert fast.get_content_type() == reference.get_content_type()
    for subtype in ("plain", "html"):
        assert body(fast, subtype) == body(reference, subtype)
    assert "Dear Ana Reader," in body(fast, "plain")
    assert "Caf\u00e9 = 100%   " in body(fast, "plain")
    assert f'href="{fields["forward_url"]}"' in body(fast, "html")


def test_a_long_single_line_html_is_wrapped() -> None:
    long_html = "<html><body>" + "<td>caf\u00e9 &amp; = x</td>" * 12_000 + "</body></html>"
    assert len(long_html) > 200_000
    issue = make_issue(html=long_html + placeholder("unsubscribe_url"))
    data = render(issue)
    assert_wire_format(data)
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert body(parse(data), "html") == long_html + fields_for()["unsubscribe_url"] + "\r\n"


@pytest.mark.parametrize("length", [1, 74, 75, 76, 77, 151, 152, 400])
def test_values_and_literals_of_any_length_round_trip(length: int) -> None:
    name = ("\u00e9=" * length)[:length]
    literal = ("a=" * length)[:length]
    issue = make_issue(text=f"{literal}{placeholder('name')}{literal}\n")
    data = render(issue, name=name)
    for line in data.split(b"\r\n"):
        if b"=" in line and not line.startswith((b"Content-", b"List-", b"--", b"To:")):
            assert len(line) <= 76
    assert body(parse(data), "plain") == f"{literal}{name}{literal}\r\n"


def test_non_ascii_subject_and_name_round_trip() -> None:
    subject = "Séminaire : génocide — کرائم " * 4
    message = parse(render(make_issue(subject=subject), name="Zoë Ağaoğlu"))
    assert message["Subject"] == subject
    assert message["To"].addresses[0].display_name == "Zoë Ağaoğlu"
    assert "Dear Zoë Ağaoğlu," in body(message, "plain")


def test_a_long_non_ascii_name_is_folded_into_several_encoded_words() -> None:
    name = ("Zoë Ağaoğlu-Ω " * 12).strip()
    data = render(name=name)
    assert_wire_format(data)
    # RFC 2047 drops the folding between adjacent encoded words; Python's address parser
    # wrongly keeps a space there, so decode the raw words the RFC way.
    raw = email.message_from_bytes(data, policy=email.policy.compat32)["To"]
    raw, address = raw.rsplit(" <", 1)
    assert address == "ana@example.org>"
    assert str(make_header(decode_header(raw))) == name
    assert all(len(word) <= 75 for word in raw.split())


def test_name_with_quotes_and_commas_stays_one_address() -> None:
    name = 'Reader, "The" Ana'
    message = parse(render(name=name))
    addresses = message["To"].addresses
    assert len(addresses) == 1
    assert addresses[0].display_name == name
    assert addresses[0].addr_spec == "ana@example.org"


def test_name_with_encoded_word_syntax_is_decoded_before_it_is_written() -> None:
    # What a reader would have seen is what goes out, and in the body too
    # (tests/security/test_header_injection.py has the attacks).
    message = parse(render(name="=?utf-8?q?Admin?="))
    assert message["To"].addresses[0].display_name == "Admin"
    assert "Dear Admin," in body(message, "plain")


def test_a_literal_that_does_not_decode_is_kept_as_written() -> None:
    name = "Ana =?not a word"
    assert parse(render(name=name))["To"].addresses[0].display_name == name


def test_script_and_quotes_escaped_in_html_and_raw_in_text() -> None:
    name = '<script>alert("x")</script> & co'
    message = parse(render(name=name))
    html = body(message, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in html
    assert f"Dear {name}," in body(message, "plain")


@pytest.mark.parametrize(
    "name", ["Eve\r\nBcc: victim@example.org", "Eve\nBcc: victim@example.org", "Eve\rX-Evil: 1"]
)
def test_line_breaks_in_a_name_cannot_inject_headers(name: str) -> None:
    data = render(name=name)
    assert_wire_format(data)
    message = parse(data)
    assert message["Bcc"] is None
    assert message["X-Evil"] is None
    assert len(message["To"].addresses) == 1
    assert "\n" not in message["To"].addresses[0].display_name


@pytest.mark.parametrize(
    "address", ["a@b.example\r\nBcc: x@y.example", "two words@example.org", "no-at-sign", "<a@b.c>"]
)
def test_bad_recipient_addresses_are_refused(address: str) -> None:
    with pytest.raises(MessageError):
        render(address=address)


def test_international_domain_is_idna_encoded() -> None:
    message = parse(render(address="ana@bücher.example"))
    assert message["To"].addresses[0].addr_spec == "ana@xn--bcher-kva.example"


def test_missing_field_is_a_clear_error() -> None:
    template = MessageTemplate.build(make_issue(), from_address=FROM, list_id=LIST_ID)
    with pytest.raises(MessageError, match="name"):
        template.render({"unsubscribe_url": "https://x.example/u/t"}, to="a@b.example", to_name="")


def test_header_values_with_line_breaks_are_refused() -> None:
    with pytest.raises(MessageError):
        MessageTemplate.build(make_issue(), from_address=FROM, list_id="a\r\nBcc: x@y.example")
    with pytest.raises(MessageError):
        MessageTemplate.build(
            make_issue(), from_address=FROM, list_id=LIST_ID, extra_headers={"Bad Name": "x"}
        )


def test_subject_with_a_placeholder_is_personal() -> None:
    issue = make_issue(subject=f"News for {placeholder('name')}")
    assert parse(render(issue, name="Ana"))["Subject"] == "News for Ana"


def test_inline_images_are_related_parts_referenced_by_content_id() -> None:
    photo = Asset("speaker-1.png", "image/png", PNG)
    html = (
        f'<html><body><img src="cid:{photo.cid}" alt="Speaker">{placeholder("name")}</body></html>'
    )
    issue = make_issue(html=html, images="inline", assets=(photo,))
    data = render(issue)
    assert_wire_format(data)
    message = parse(data)
    assert message.get_content_type() == "multipart/related"
    alternative, image = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert image.get_content_type() == "image/png"
    assert image["Content-Transfer-Encoding"] == "base64"
    assert image.get_content_disposition() == "inline"
    assert image["Content-ID"] == f"<{photo.cid}>"
    assert image.get_content() == PNG
    cids = re.findall(r'src="cid:([^"]+)"', body(message, "html"))
    assert cids == [image["Content-ID"].strip("<>")]


def test_hosted_images_add_no_parts() -> None:
    photo = Asset("speaker-1.png", "image/png", PNG)
    message = parse(render(make_issue(assets=(photo,))))
    assert message.get_content_type() == "multipart/alternative"
    assert len(list(message.iter_parts())) == 2


def test_inline_message_equals_the_reference_builder() -> None:
    photo = Asset("speaker-1.png", "image/png", PNG)
    issue = make_issue(images="inline", assets=(photo,))
    fields = fields_for()
    options: dict[str, Any] = {"from_address": FROM, "list_id": LIST_ID}
    fast = parse(
        MessageTemplate.build(issue, **options).render(fields, to="a@b.example", to_name="A")
    )
    reference = parse(
        build_reference_message(issue, fields, to="a@b.example", to_name="A", **options).as_bytes()
    )
    assert [p.get_content_type() for p in fast.walk()] == [
        p.get_content_type() for p in reference.walk()
    ]
    for subtype in ("plain", "html"):
        assert body(fast, subtype) == body(reference, subtype)
