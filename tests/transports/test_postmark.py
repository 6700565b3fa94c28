from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from newsletter.core.errors import ConfigError
from newsletter.core.settings import Settings
from newsletter.mail.placeholders import personalize_html, personalize_text
from newsletter.transports import make_transport, postmark
from newsletter.transports.base import Content, Status, TransportError
from newsletter.transports.postmark import PostmarkTransport
from tests.transports.conftest import IMAGES, inline_content, make_content, make_message
from tests.transports.fakes import PostmarkFake, Reply, json_reply

TOKEN = "server-token"


@pytest.fixture
def fake() -> Iterator[PostmarkFake]:
    server = PostmarkFake(TOKEN, inactive={"bounced@example.net"}).start()
    yield server
    server.stop()


@pytest.fixture
def transport(fake: PostmarkFake) -> Iterator[PostmarkTransport]:
    sender = PostmarkTransport(TOKEN, base_url=fake.url, timeout=5)
    yield sender
    sender.close()


def test_each_message_is_complete_and_personal(
    fake: PostmarkFake, transport: PostmarkTransport, content: Content
) -> None:
    batch = [
        make_message(1, "ana@example.net"),
        make_message(2, "zoe@example.net", name='Zoë "Z" <O\'Brien> & Co'),
    ]
    outcomes = transport.send_batch(content, batch)

    assert len(fake.requests) == 1
    assert fake.requests[0].path == "/email/batch"
    assert fake.requests[0].headers["x-postmark-server-token"] == TOKEN
    delivered = {d.to: d for d in fake.delivered}
    for message, outcome in zip(batch, outcomes, strict=True):
        got = delivered[message.recipient]
        assert outcome.status is Status.SENT
        assert outcome.provider_id == got.extra["message_id"]
        assert got.html == personalize_html(content.html, message.fields)
        assert got.text == personalize_text(content.text, message.fields)
        assert got.subject == f"Seminar news for {message.fields['name']}"
        assert got.headers == {
            "List-Id": "Seminars <seminars.example.org>",
            "X-Campaign-ID": "9",
            "Message-ID": message.headers["Message-ID"],
            "List-Unsubscribe": message.headers["List-Unsubscribe"],
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        assert got.extra["stream"] == "broadcast"
        assert got.extra["metadata"] == {"newsletter_key": str(message.key)}
        assert got.extra["from"] == "Muslim Institute <newsletter@example.org>"
        assert got.extra["reply_to"] == "office@example.org"
    assert delivered["zoe@example.net"].extra["to"] == (
        '"Zoë \\"Z\\" <O\'Brien> & Co" <zoe@example.net>'
    )


def test_the_joined_json_survives_any_character(
    fake: PostmarkFake, transport: PostmarkTransport
) -> None:
    awkward = 'quote " backslash \\ tab \t nl \n ctrl \x01 sep \u2028 emoji 🎉 </script> اردو'
    content = make_content(
        html=f"<p>{awkward} __NL_NAME__ {awkward}</p>", text=f"{awkward}__NL_NAME__{awkward}"
    )
    batch = [make_message(1, "ana@example.net", name=awkward)]
    payload = transport.build_payload(content, batch)
    (message,) = json.loads(payload.body)
    assert message["HtmlBody"] == personalize_html(content.html, batch[0].fields)
    assert message["TextBody"] == personalize_text(content.text, batch[0].fields)
    assert transport.send_batch(content, batch)[0].status is Status.SENT


def test_inactive_and_invalid_recipients_are_rejected_and_the_rest_sent(
    fake: PostmarkFake, transport: PostmarkTransport, content: Content
) -> None:
    batch = [
        make_message(1, "ana@example.net"),
        make_message(2, "bounced@example.net"),
        make_message(3, "not-an-address", name=""),
        make_message(4, "raj@example.net"),
    ]
    outcomes = transport.send_batch(content, batch)
    assert [o.status for o in outcomes] == [
        Status.SENT,
        Status.REJECTED,
        Status.REJECTED,
        Status.SENT,
    ]
    assert outcomes[1].detail.startswith("postmark error 406: You tried to send")
    assert outcomes[2].detail.startswith("postmark error 300: Error parsing 'To'")
    assert sorted(d.to for d in fake.delivered) == ["ana@example.net", "raj@example.net"]


def test_a_failure_shared_by_the_whole_batch_stops_it(content: Content) -> None:
    fake = PostmarkFake(TOKEN, senders={"someone@example.org"}).start()
    try:
        transport = PostmarkTransport(TOKEN, base_url=fake.url)
        batch = [make_message(i, f"r{i}@example.net") for i in range(3)]
        with pytest.raises(TransportError, match="error 400: The 'From' address") as error:
            transport.send_batch(content, batch)
        assert error.value.permanent
    finally:
        fake.stop()


def test_the_same_300_for_every_message_is_a_batch_problem(
    fake: PostmarkFake, transport: PostmarkTransport, content: Content
) -> None:
    same = {"ErrorCode": 300, "Message": "Invalid 'From' address: 'x' is not valid."}
    fake.script(json_reply(200, [same, same]))
    batch = [make_message(1, "ana@example.net"), make_message(2, "raj@example.net")]
    with pytest.raises(TransportError, match="Invalid 'From' address") as error:
        transport.send_batch(content, batch)
    assert error.value.permanent


def test_transient_codes_per_message_are_retry(
    fake: PostmarkFake, transport: PostmarkTransport, content: Content
) -> None:
    fake.script(
        json_reply(
            200,
            [
                {"ErrorCode": 0, "Message": "OK", "MessageID": "m-1"},
                {"ErrorCode": 429, "Message": "Rate limit exceeded"},
                {"ErrorCode": 100, "Message": "Maintenance"},
            ],
        )
    )
    batch = [make_message(i, f"r{i}@example.net") for i in range(3)]
    outcomes = transport.send_batch(content, batch)
    assert [o.status for o in outcomes] == [Status.SENT, Status.RETRY, Status.RETRY]
    assert outcomes[0].provider_id == "m-1"


def test_a_bad_token_is_permanent(fake: PostmarkFake, content: Content) -> None:
    transport = PostmarkTransport("wrong", base_url=fake.url)
    with pytest.raises(TransportError, match="NEWSLETTER_POSTMARK_SERVER_TOKEN") as error:
        transport.send_batch(content, [make_message(1, "ana@example.net")])
    assert error.value.permanent


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [
        (json_reply(422, {"ErrorCode": 410, "Message": "Too many batch messages."}), True),
        (json_reply(422, {"ErrorCode": 402, "Message": "Received invalid JSON input."}), True),
        (Reply(404, b"Not found"), True),
    ],
)
def test_request_level_errors_stop_the_batch(
    fake: PostmarkFake,
    transport: PostmarkTransport,
    content: Content,
    reply: Reply,
    permanent: bool,
) -> None:
    fake.script(reply)
    with pytest.raises(TransportError) as error:
        transport.send_batch(content, [make_message(1, "ana@example.net")])
    assert error.value.permanent is permanent


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_outages_are_retry(
    fake: PostmarkFake, transport: PostmarkTransport, content: Content, status: int
) -> None:
    fake.script(
        json_reply(status, {"ErrorCode": 429, "Message": "slow down"}, {"Retry-After": "5"})
    )
    outcomes = transport.send_batch(content, [make_message(1, "ana@example.net")])
    assert outcomes[0].status is Status.RETRY
    assert outcomes[0].retry_after == 5.0


def test_batches_are_cut_at_500(
    fake: PostmarkFake, transport: PostmarkTransport, content: Content
) -> None:
    batch = [make_message(i, f"r{i}@example.net") for i in range(501)]
    assert {o.status for o in transport.send_batch(content, batch)} == {Status.SENT}
    assert [len(json.loads(r.body)) for r in fake.requests] == [500, 1]
    assert fake.connections == 1


def test_settings(fake: PostmarkFake) -> None:
    with pytest.raises(ConfigError, match="NEWSLETTER_POSTMARK_SERVER_TOKEN"):
        make_transport(Settings(transport="postmark"))
    transport = make_transport(
        Settings(
            transport="postmark",
            postmark_server_token=TOKEN,
            postmark_base_url=fake.url,
            postmark_message_stream="newsletters",
        )
    )
    assert isinstance(transport, PostmarkTransport)
    assert transport.message_stream == "newsletters"
    transport.close()


def test_inline_images_go_with_every_message_as_attachments_with_content_ids(
    fake: PostmarkFake, transport: PostmarkTransport
) -> None:
    content = inline_content()
    batch = [make_message(1, "ana@example.net"), make_message(2, "raj@example.net")]

    outcomes = transport.send_batch(content, batch)

    assert [o.status for o in outcomes] == [Status.SENT] * 2
    assert len(fake.requests) == 1
    assert [d.to for d in fake.delivered] == ["ana@example.net", "raj@example.net"]
    for delivered in fake.delivered:
        assert delivered.extra["images"] == {
            f"cid:{image.cid}": (image.content_type, image.data) for image in IMAGES
        }
        for image in IMAGES:
            assert f'src="cid:{image.cid}"' in delivered.html
    # The rest of each message is as without images.
    assert fake.delivered[0].html == personalize_html(content.html, batch[0].fields)


def test_inline_images_count_towards_the_request_size(transport: PostmarkTransport) -> None:
    content = inline_content()
    without = transport.request_limit(make_content(html=content.html))
    assert transport.request_limit(content) < without


def test_hosted_images_send_no_attachment(
    fake: PostmarkFake, transport: PostmarkTransport, content: Content
) -> None:
    transport.send_batch(content, [make_message(1, "ana@example.net")])
    assert "Attachments" not in json.loads(fake.requests[0].body)[0]
    assert fake.delivered[0].extra["images"] == {}


def test_the_images_are_encoded_once_for_all_the_messages(
    fake: PostmarkFake, transport: PostmarkTransport
) -> None:
    postmark.encoded_attachments.cache_clear()
    batch = [make_message(key, f"r{key}@example.net") for key in range(5)]
    transport.send_batch(inline_content(), batch)
    assert len(fake.delivered) == 5 and all(d.extra["images"] for d in fake.delivered)
    assert postmark.encoded_attachments.cache_info().misses == 1
