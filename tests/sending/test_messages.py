from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from newsletter.core import tokens
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.mime import MessageError
from newsletter.sending.messages import (
    Addressee,
    CampaignMessages,
    MessageFactory,
    envelope_sender,
    list_id_header,
    list_label,
)
from newsletter.store.campaigns import Sender
from tests.sending.helpers import FROM, small_issue

KEY = b"test-secret-key-0123456789"


def source(**changes: object) -> CampaignMessages:
    values: dict[str, object] = {
        "campaign_id": 42,
        "token": "5eed",
        "list_id": 7,
        "list_name": "Institute members",
        "issue": small_issue(),
        "sender": Sender(
            from_address=FROM,
            reply_to="office@example.org",
            return_path="bounces@example.org",
            unsubscribe_mailto="unsubscribe@example.org",
            public_url="https://news.example.org",
        ),
    }
    values.update(changes)
    return CampaignMessages(**values)  # type: ignore[arg-type]


def reader(number: int, version: int = 3) -> Addressee:
    return Addressee(
        key=1000 + number,
        subscriber_id=number,
        email=f"r{number}@example.net",
        name=f"Reader {number}",
        version=version,
    )


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.SMTP)
    assert isinstance(message, EmailMessage)
    return message


def test_every_message_carries_the_campaign_headers() -> None:
    factory = MessageFactory(source(), key=KEY)
    message = factory.build(reader(5))
    headers = parsed(message.data)
    assert headers["Message-ID"] == "<5eed.1005@example.org>"
    assert headers["Date"]
    assert headers["To"] == "Reader 5 <r5@example.net>"
    assert headers["List-Id"] == '"Institute members" <institute-members.example.org>'
    assert headers["X-Newsletter-Campaign"] == "42"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = re.findall(r"<([^>]+)>", str(headers["List-Unsubscribe"]))
    assert links[1] == "mailto:unsubscribe@example.org?subject=unsubscribe"
    # The recipient's own signed token, for this list and membership version.
    token = links[0].removeprefix("https://news.example.org/u/")
    assert tokens.verify(KEY, token, "u") == tokens.Token("u", 5, 7, 3)
    # The same headers for the HTTP APIs, which build the message themselves.
    assert message.headers == {
        "Message-ID": "<5eed.1005@example.org>",
        "List-Unsubscribe": str(headers["List-Unsubscribe"]).replace("\r\n", ""),
    }
    assert factory.content.headers == {
        "List-Id": headers["List-Id"],
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "X-Newsletter-Campaign": "42",
    }
    assert (message.recipient, message.sender, message.key) == (
        "r5@example.net",
        "bounces@example.org",
        1005,
    )


def test_the_message_id_is_the_same_on_every_attempt_and_differs_between_deliveries() -> None:
    factory = MessageFactory(source(), key=KEY)
    first, again, other = (
        factory.build(reader(5)),
        factory.build(reader(5)),
        factory.build(reader(6)),
    )
    ids = [parsed(m.data)["Message-ID"] for m in (first, again, other)]
    assert ids[0] == ids[1] != ids[2]


def test_dkim_signs_both_list_unsubscribe_headers() -> None:
    signer = DkimSigner("example.org", "news", Ed25519PrivateKey.generate())
    factory = MessageFactory(source(), key=KEY, signer=signer)
    data = factory.build(reader(5)).data
    assert data.startswith(b"DKIM-Signature:")
    signature = parsed(data)["DKIM-Signature"]
    signed = re.search(r"h=([^;]+)", str(signature).replace("\r\n", "").replace(" ", ""))
    assert signed is not None
    names = signed.group(1).lower().split(":")
    assert {"list-unsubscribe", "list-unsubscribe-post", "list-id", "message-id"} <= set(names)
    record = signer.dns_record().encode()

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"news._domainkey.example.org." else None

    assert dkim.verify(data, dnsfunc=lookup)
    # A List-Unsubscribe added in transit breaks the signature.
    forged = data.replace(
        b"List-Unsubscribe-Post:",
        b"List-Unsubscribe: <https://evil.example/u>\r\nList-Unsubscribe-Post:",
    )
    assert not dkim.verify(forged, dnsfunc=lookup)


def test_a_recipient_that_cannot_go_into_a_header_is_an_error_for_that_message() -> None:
    factory = MessageFactory(source(), key=KEY)
    broken = Addressee(key=1, subscriber_id=1, email="ünï@example.net", name="", version=1)
    with pytest.raises(MessageError, match="non-ASCII local part"):
        factory.build(broken)


def test_inline_images_travel_with_the_message() -> None:
    factory = MessageFactory(source(issue=small_issue(images="inline")), key=KEY)
    message = parsed(factory.build(reader(1)).data)
    assert message.get_content_type() == "multipart/related"
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert [part["Content-ID"] for part in images] == ["<photo.png@newsletter>"]


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("members", "members"),
        ("Institute Members 2024", "institute-members-2024"),
        ("Üyeler listesi", "uyeler-listesi"),
        ("  --press & media--  ", "press-media"),
        ("اخبار", "list-7"),
    ],
)
def test_list_labels_are_dns_labels(name: str, label: str) -> None:
    assert list_label(name, 7) == label


def test_a_list_name_outside_ascii_is_written_as_encoded_words() -> None:
    assert (
        list_id_header("Üyeler", 3, "example.org")
        == "=?utf-8?b?w5x5ZWxlcg==?= <uyeler.example.org>"
    )
    assert list_id_header('say "hi"', 3, "example.org") == '"say \\"hi\\"" <say-hi.example.org>'


def test_the_envelope_sender_is_the_return_path_or_the_from_address() -> None:
    assert envelope_sender(FROM, None) == "newsletter@example.org"
    assert envelope_sender(FROM, "bounces@example.org") == "bounces@example.org"
