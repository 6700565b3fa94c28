from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from newsletter.core.errors import ConfigError
from newsletter.core.settings import Settings
from newsletter.mail.placeholders import personalize_html, personalize_text
from newsletter.transports import make_transport
from newsletter.transports.base import Content, OutgoingMessage, Status, TransportError
from newsletter.transports.mailgun import MailgunTransport, multipart_form
from tests.transports.conftest import IMAGES, inline_content, make_content, make_message
from tests.transports.fakes import MailgunFake, Received, Reply, json_reply, parse_form

KEY = "key-test"
DOMAIN = "mg.example.org"


@pytest.fixture
def fake() -> Iterator[MailgunFake]:
    server = MailgunFake(KEY, DOMAIN, invalid={"broken@example.net"}).start()
    yield server
    server.stop()


@pytest.fixture
def transport(fake: MailgunFake) -> Iterator[MailgunTransport]:
    sender = MailgunTransport(KEY, domain=DOMAIN, base_url=fake.url, timeout=5)
    yield sender
    sender.close()


def _form(request: Received) -> list[tuple[str, str]]:
    return parse_form(request.headers["content-type"], request.body)


def test_one_request_carries_every_recipient_with_their_variables(
    fake: MailgunFake, transport: MailgunTransport, content: Content
) -> None:
    batch = [
        make_message(1, "ana@example.net"),
        make_message(2, "zoe@example.net", name='Zoë "Z" <O\'Brien> & Co'),
    ]
    outcomes = transport.send_batch(content, batch)

    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert request.path == f"/v3/{DOMAIN}/messages"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(
        f"api:{KEY}".encode()
    ).decode("ascii")
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert [value for name, value in _form(request) if name == "to"] == [
        "Ana <ana@example.net>",
        '"Zoë \\"Z\\" <O\'Brien> & Co" <zoe@example.net>',
    ]
    assert [o.status for o in outcomes] == [Status.SENT] * 2
    assert outcomes[0].provider_id and outcomes[0].provider_id.endswith(f"@{DOMAIN}>")
    assert outcomes[0].detail == "Queued. Thank you."

    delivered = {d.to: d for d in fake.delivered}
    for message in batch:
        got = delivered[message.recipient]
        assert got.html == personalize_html(content.html, message.fields)
        assert got.text == personalize_text(content.text, message.fields)
        assert got.subject == f"Seminar news for {message.fields['name']}"
        assert got.headers == {
            "Reply-To": "office@example.org",
            "List-Id": "Seminars <seminars.example.org>",
            "X-Campaign-ID": "9",
            "Message-ID": message.headers["Message-ID"],
            "List-Unsubscribe": message.headers["List-Unsubscribe"],
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        assert got.extra["variables"] == {"newsletter-key": str(message.key)}
        assert got.extra["from"] == "Muslim Institute <newsletter@example.org>"
    assert "&lt;O&#x27;Brien&gt; &amp; Co" in delivered["zoe@example.net"].html


def test_an_invalid_address_is_found_by_halving_and_rejected_alone(
    fake: MailgunFake, transport: MailgunTransport, content: Content
) -> None:
    batch = [make_message(i, f"r{i}@example.net") for i in range(8)]
    batch[5] = make_message(5, "broken@example.net")
    outcomes = transport.send_batch(content, batch)
    assert [o.status for o in outcomes] == [Status.SENT] * 5 + [Status.REJECTED] + [Status.SENT] * 2
    assert "'to' parameter is not a valid address" in outcomes[5].detail
    assert sorted(d.to for d in fake.delivered) == sorted(
        m.recipient for m in batch if m.recipient != "broken@example.net"
    )
    # 8 → 4+4 → the bad 4 as 2+2 → the bad 2 as 1+1.
    assert len(fake.requests) == 7


def test_messages_with_different_personal_headers_go_apart(
    fake: MailgunFake, transport: MailgunTransport, content: Content
) -> None:
    plain = make_message(1, "ana@example.net")
    bare = OutgoingMessage(
        key=2, recipient="raj@example.net", sender=plain.sender, data=b"", fields=plain.fields
    )
    assert {o.status for o in transport.send_batch(content, [plain, bare])} == {Status.SENT}
    assert len(fake.requests) == 2
    raj = next(d for d in fake.delivered if d.to == "raj@example.net")
    assert "List-Unsubscribe" not in raj.headers


def test_a_bad_key_and_an_unknown_domain_are_permanent(fake: MailgunFake, content: Content) -> None:
    message = [make_message(1, "ana@example.net")]
    wrong_key = MailgunTransport("key-wrong", domain=DOMAIN, base_url=fake.url)
    with pytest.raises(TransportError, match="refused the credentials") as error:
        wrong_key.send_batch(content, message)
    assert error.value.permanent
    wrong_domain = MailgunTransport(KEY, domain="other.example.org", base_url=fake.url)
    with pytest.raises(TransportError, match="Domain not found") as error:
        wrong_domain.send_batch(content, message)
    assert error.value.permanent
    assert fake.delivered == []


def test_other_400s_stop_the_batch(
    fake: MailgunFake, transport: MailgunTransport, content: Content
) -> None:
    fake.script(json_reply(400, {"message": "from parameter is not a valid address"}))
    with pytest.raises(TransportError, match="from parameter") as error:
        transport.send_batch(content, [make_message(1, "ana@example.net")])
    assert error.value.permanent


def test_throttling_is_retry_with_the_servers_delay(
    fake: MailgunFake, transport: MailgunTransport, content: Content
) -> None:
    fake.script(json_reply(429, {"message": "rate limited"}, {"Retry-After": "12"}))
    outcomes = transport.send_batch(content, [make_message(1, "ana@example.net")])
    assert outcomes[0].status is Status.RETRY
    assert outcomes[0].retry_after == 12.0


def test_a_wrong_endpoint_answering_200_is_not_taken_for_success(
    fake: MailgunFake, transport: MailgunTransport, content: Content
) -> None:
    fake.script(Reply(200, b"Mailgun Magnificent API", {"Content-Type": "text/plain"}))
    with pytest.raises(TransportError, match="Magnificent"):
        transport.send_batch(content, [make_message(1, "ana@example.net")])


def test_settings(fake: MailgunFake) -> None:
    with pytest.raises(ConfigError, match="NEWSLETTER_MAILGUN_API_KEY"):
        make_transport(Settings(transport="mailgun", mailgun_domain=DOMAIN))
    with pytest.raises(ConfigError, match="NEWSLETTER_MAILGUN_DOMAIN"):
        make_transport(Settings(transport="mailgun", mailgun_api_key=KEY))
    transport = make_transport(
        Settings(
            transport="mailgun",
            mailgun_api_key=KEY,
            mailgun_domain=DOMAIN,
            mailgun_base_url=fake.url,
        )
    )
    assert isinstance(transport, MailgunTransport)
    assert transport.max_batch == 1000
    transport.close()


def test_the_form_carries_any_value_unchanged() -> None:
    fields = [
        ("html", '<p class="x">Zoë\r\n--boundary-like --\r\n\r\nend</p>'),
        ("text", "line\nline\r\n"),
        ("h:List-Unsubscribe", "<https://x.org/u?a=1&b=2>"),
        ("empty", ""),
    ]
    body, content_type = multipart_form(fields)
    assert parse_form(content_type, body) == fields


def test_an_issue_without_text_part_sends_html_only(
    fake: MailgunFake, transport: MailgunTransport
) -> None:
    content = make_content(text="")
    assert transport.send_batch(content, [make_message(1, "ana@example.net")])[0].status is (
        Status.SENT
    )
    assert "text" not in dict(_form(fake.requests[0]))


def test_inline_images_go_as_inline_files_named_by_their_content_ids(
    fake: MailgunFake, transport: MailgunTransport
) -> None:
    content = inline_content()
    batch = [make_message(1, "ana@example.net"), make_message(2, "raj@example.net")]

    outcomes = transport.send_batch(content, batch)

    assert [o.status for o in outcomes] == [Status.SENT] * 2
    assert len(fake.requests) == 1
    assert len(fake.delivered) == 2
    for delivered in fake.delivered:
        assert delivered.extra["images"] == {
            image.cid: (image.content_type, image.data) for image in IMAGES
        }
        for image in IMAGES:
            assert f'src="cid:{image.cid}"' in delivered.html


def test_hosted_images_send_no_file(
    fake: MailgunFake, transport: MailgunTransport, content: Content
) -> None:
    transport.send_batch(content, [make_message(1, "ana@example.net")])
    assert b"filename=" not in fake.requests[0].body
    assert fake.delivered[0].extra["images"] == {}
