from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from newsletter.core import tokens
from newsletter.core.errors import TokenError
from newsletter.issue.model import Asset, placeholder
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.factory import (
    ONE_CLICK,
    Addressee,
    CampaignMessages,
    Letter,
    MessageFactory,
    letter_message,
    list_id_header,
    list_label,
)
from newsletter.mail.mime import MessageError
from newsletter.mail.sender import Sender
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
    # Gmail's feedback loop: campaign, list, then the sender's one identifier.
    assert headers["Feedback-ID"] == "42:institute-members:newsletter"
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
        "Feedback-ID": "42:institute-members:newsletter",
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
    # Gmail reads Feedback-ID only from mail signed after it was added: spoofing-proof.
    assert "feedback-id" in names
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
    # And so does a Feedback-ID changed in transit, to put our mail in another's figures.
    moved = data.replace(b"Feedback-ID: 42:", b"Feedback-ID: 43:")
    assert moved != data and not dkim.verify(moved, dnsfunc=lookup)


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


def test_an_http_api_gets_the_inline_images_once_with_the_content() -> None:
    issue = small_issue(images="inline")
    assert issue.assets
    factory = MessageFactory(source(issue=issue), key=KEY, raw=False)
    assert factory.content.images == issue.assets
    # Hosted images are the web side's to serve: nothing to attach.
    assert MessageFactory(source(), key=KEY, raw=False).content.images == ()


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


def test_a_transport_that_builds_its_own_message_gets_no_bytes_but_the_same_values() -> None:
    raw = MessageFactory(source(), key=KEY).build(reader(5))
    api = MessageFactory(source(), key=KEY, raw=False).build(reader(5))
    assert api.data == b""
    assert (api.key, api.recipient, api.sender) == (raw.key, raw.recipient, raw.sender)
    assert api.fields == raw.fields
    assert api.headers == raw.headers


def test_without_bytes_a_recipient_that_cannot_go_into_a_header_is_still_an_error() -> None:
    factory = MessageFactory(source(), key=KEY, raw=False)
    broken = Addressee(key=1, subscriber_id=1, email="ünï@example.net", name="", version=1)
    with pytest.raises(MessageError, match="non-ASCII local part"):
        factory.build(broken)


def test_render_writes_the_message_whatever_the_transport() -> None:
    signer = DkimSigner("example.org", "news", Ed25519PrivateKey.generate())
    factory = MessageFactory(source(), key=KEY, raw=False, signer=signer)
    data = factory.render(reader(5))
    assert data.startswith(b"DKIM-Signature:")
    headers = parsed(data)
    assert headers["Message-ID"] == "<5eed.1005@example.org>"
    assert headers["To"] == "Reader 5 <r5@example.net>"


def test_shared_headers_can_replace_the_campaigns() -> None:
    shared = {"List-Id": "<newsletter.example.org>", "List-Unsubscribe-Post": ONE_CLICK}
    factory = MessageFactory(source(), key=KEY, headers=shared)
    headers = parsed(factory.build(reader(5)).data)
    assert headers["List-Id"] == "<newsletter.example.org>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["X-Newsletter-Campaign"] is None
    assert headers["Feedback-ID"] is None
    assert factory.content.headers == shared


def letter(**changes: object) -> Letter:
    values: dict[str, object] = {
        "to": "friend@example.net",
        "to_name": "Zoë",
        "subject": "Fwd: News",
        "html": "<p>Hello</p>",
        "text": "Hello",
    }
    values.update(changes)
    return Letter(**values)  # type: ignore[arg-type]


def test_a_letter_has_no_list_headers() -> None:
    message = parsed(letter_message(letter(), from_address=FROM, reply_to="office@example.org"))
    assert message["To"] == "Zoë <friend@example.net>"
    assert message["From"] == FROM
    assert message["Reply-To"] == "office@example.org"
    assert message["Subject"] == "Fwd: News"
    assert message["Date"]
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.org>", message["Message-ID"])
    for name in ("List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert message[name] is None
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    assert text is not None and text.get_content() == "Hello\r\n"


def test_a_letters_text_is_final() -> None:
    typed = f"a note: {placeholder('email')}"
    data = letter_message(letter(subject=typed, text=typed, html=typed), from_address=FROM)
    message = parsed(data)
    assert message["Subject"] == typed
    for subtype in ("plain", "html"):
        part = message.get_body((subtype,))
        assert part is not None and part.get_content() == typed + "\r\n"


def test_a_letter_carries_its_inline_images() -> None:
    photo = Asset("photo.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(64))
    html = f'<img src="cid:{photo.cid}">'
    message = parsed(letter_message(letter(html=html, inline=(photo,)), from_address=FROM))
    assert message.get_content_type() == "multipart/related"
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert [part["Content-ID"] for part in images] == ["<photo.png@newsletter>"]


def test_a_test_factory_marks_the_subject_and_signs_test_tokens() -> None:
    factory = MessageFactory(source(), key=KEY)
    test = factory.for_test()

    assert test.for_test() is test
    assert factory.source.issue.subject == "A Small Seminar"
    assert test.content.subject == "[Test] A Small Seminar"
    headers = parsed(test.build(reader(5)).data)
    assert headers["Subject"] == "[Test] A Small Seminar"
    # A test belongs to no campaign: Gmail's complaint figures are the campaigns' alone.
    assert headers["Feedback-ID"] is None and "Feedback-ID" not in test.content.headers
    fields = test.fields(reader(5))
    for name, purpose in (("unsubscribe_url", "u"), ("preferences_url", "p"), ("forward_url", "f")):
        # The link names the issue's language: a test is sent for no list to take it from.
        text, _, query = fields[name].rsplit("/", 1)[1].partition("?")
        assert query == "lang=en"
        token = tokens.verify(KEY, text, purpose, test=True)  # type: ignore[arg-type]
        assert (token.subscriber_id, token.list_id, token.test) == (5, 7, True)
        with pytest.raises(TokenError):
            tokens.verify(KEY, text, purpose)  # type: ignore[arg-type]
    # The campaign's own factory is untouched: real tokens.
    real = factory.fields(reader(5))["unsubscribe_url"].rsplit("/", 1)[1]
    assert tokens.verify(KEY, real, "u").test is False


def test_a_test_subject_speaks_the_issues_language() -> None:
    issue = small_issue(subject="ندوة", language="ar", direction="rtl")
    test = MessageFactory(source(issue=issue), key=KEY).for_test()
    assert test.content.subject == "[اختبار] ندوة"


def test_a_test_message_carries_its_hosted_photos_inline() -> None:
    """Before the issue is published, its hosted photos are served nowhere yet."""
    url = "https://news.example.org/issues/2024-05-02-a-small-seminar/assets/photo.png"
    issue = small_issue(html=f'<html><body><img src="{url}" alt="photo"></body></html>')
    factory = MessageFactory(source(issue=issue), key=KEY)

    test = parsed(factory.for_test().build(reader(5)).data)
    sent = parsed(factory.build(reader(5)).data)

    images = [part for part in test.walk() if part.get_content_maintype() == "image"]
    assert [part["Content-ID"] for part in images] == ["<photo.png@newsletter>"]
    html = test.get_body(("html",))
    assert html is not None and 'src="cid:photo.png@newsletter"' in html.get_content()
    # The campaign's own messages link to the published photos, as composed.
    assert not any(part.get_content_maintype() == "image" for part in sent.walk())
    # An HTTP API builds the message itself: the photos go as its inline attachments.
    api = MessageFactory(source(issue=issue), key=KEY, raw=False).for_test()
    assert api.source.issue.images == "inline"
    assert [image.cid for image in api.content.images] == ["photo.png@newsletter"]
    assert 'src="cid:photo.png@newsletter"' in api.content.html


def test_a_test_messages_web_and_pdf_links_are_marked_and_nothing_else() -> None:
    base = "https://news.example.org/issues/2024-05-02-a-small-seminar/"
    issue = small_issue(
        html=(
            f'<a href="{base}">web</a> <a href="{base}newsletter.pdf">pdf</a> '
            f'<img src="{base}assets/photo.png"> <a href="{base}other/">other</a>'
        ),
        text=f"View online: {base}\nDownload PDF: {base}newsletter.pdf\n",
        language="ur",
    )
    api = MessageFactory(source(issue=issue), key=KEY, raw=False).for_test()
    marked = api.source.issue
    assert marked.html == (
        f'<a href="{base}?test=ur">web</a> <a href="{base}newsletter.pdf?test=ur">pdf</a> '
        # The photo goes inline (it is served nowhere before the issue is published).
        '<img src="cid:photo.png@newsletter"> '
        f'<a href="{base}other/">other</a>'
    )
    assert (
        marked.text == f"View online: {base}?test=ur\nDownload PDF: {base}newsletter.pdf?test=ur\n"
    )
