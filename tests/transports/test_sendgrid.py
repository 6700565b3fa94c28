from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from newsletter.core.errors import ConfigError
from newsletter.core.settings import Settings
from newsletter.mail.placeholders import personalize_html, personalize_text
from newsletter.transports import make_transport, sendgrid
from newsletter.transports.base import Content, Status, TransportError
from newsletter.transports.sendgrid import SendGridTransport, html_key
from tests.transports.conftest import IMAGES, inline_content, make_content, make_message
from tests.transports.fakes import Reply, SendGridFake, json_reply
from tests.transports.journals import RecordingJournal
from tests.transports.smtp_servers import free_port

KEY = "SG.test-key"


@pytest.fixture
def fake() -> Iterator[SendGridFake]:
    server = SendGridFake(KEY, invalid={"broken@example.net"}).start()
    yield server
    server.stop()


@pytest.fixture
def transport(fake: SendGridFake) -> Iterator[SendGridTransport]:
    sender = SendGridTransport(KEY, base_url=fake.url, timeout=5)
    yield sender
    sender.close()


def test_each_recipient_gets_the_issue_with_their_own_values(
    fake: SendGridFake, transport: SendGridTransport, content: Content
) -> None:
    batch = [
        make_message(1, "ana@example.net"),
        make_message(2, "zoe@example.net", name='Zoë "Z" <O\'Brien> & Co'),
        make_message(3, "raj@example.net", name="Raj"),
    ]
    outcomes = transport.send_batch(content, batch)

    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert request.path == "/v3/mail/send"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    message_id = outcomes[0].provider_id
    assert message_id
    assert outcomes == [outcomes[0]] * 3
    assert outcomes[0].status is Status.SENT

    delivered = {d.to: d for d in fake.delivered}
    assert sorted(delivered) == sorted(m.recipient for m in batch)
    for message in batch:
        got = delivered[message.recipient]
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
        assert got.extra["custom_args"] == {"newsletter_key": str(message.key)}
        assert got.extra["from"] == {"email": "newsletter@example.org", "name": "Muslim Institute"}
        assert got.extra["reply_to"] == {"email": "office@example.org"}
    # The HTML has the escaped value, the text and subject the raw one.
    zoe = delivered["zoe@example.net"]
    assert "Zoë &quot;Z&quot; &lt;O&#x27;Brien&gt; &amp; Co" in zoe.html
    assert "?list=7&amp;v=3" in zoe.html
    assert 'Dear Zoë "Z" <O\'Brien> & Co,' in zoe.text
    assert "?list=7&v=3" in zoe.text
    # SendGrid documents that names may not contain ";" or ","; quotes are dropped too.
    assert delivered["raj@example.net"].extra["to_name"] == "Raj"
    assert zoe.extra["to_name"] is None


def test_the_payload_renames_html_placeholders_and_keeps_text_ones(
    transport: SendGridTransport, content: Content
) -> None:
    payload = transport.build_payload(content, [make_message(7, "ana@example.net")])
    body = json.loads(payload.body)
    text, html = (part["value"] for part in body["content"])
    assert "__NL_NAME__" in text and html_key("name") not in text
    assert html_key("name") in html and "__NL_NAME__" not in html
    substitutions = body["personalizations"][0]["substitutions"]
    assert substitutions["__NL_UNSUBSCRIBE_URL__"].endswith("?list=7&v=3")
    assert substitutions[html_key("unsubscribe_url")].endswith("?list=7&amp;v=3")
    assert (
        "substitutions"
        not in transport.build_payload(
            make_content(html="<p>Hi</p>", text="Hi", subject="News"),
            [make_message(8, "raj@example.net")],
        ).body.decode()
    )


def test_large_batches_and_repeated_addresses_go_in_separate_requests(
    fake: SendGridFake, transport: SendGridTransport, content: Content
) -> None:
    batch = [make_message(i, f"r{i}@example.net") for i in range(1500)]
    batch.append(make_message(9999, "R1@example.net"))
    outcomes = transport.send_batch(content, batch)
    assert {o.status for o in outcomes} == {Status.SENT}
    sizes = [len(json.loads(r.body)["personalizations"]) for r in fake.requests]
    assert sizes == [1000, 501]
    assert len(fake.delivered) == 1501
    assert fake.connections == 1  # one kept-alive connection for every request


def test_a_recipient_named_in_a_400_is_rejected_and_the_others_sent_at_once(
    fake: SendGridFake, transport: SendGridTransport, content: Content
) -> None:
    batch = [make_message(i, f"r{i}@example.net") for i in range(4)]
    batch.insert(2, make_message(99, "broken@example.net"))
    outcomes = transport.send_batch(content, batch)
    assert [o.status for o in outcomes] == [
        Status.SENT,
        Status.SENT,
        Status.REJECTED,
        Status.SENT,
        Status.SENT,
    ]
    assert "personalizations.2.to.0.email: Does not contain a valid address." in outcomes[2].detail
    assert len(fake.requests) == 2
    assert sorted(d.to for d in fake.delivered) == [f"r{i}@example.net" for i in range(4)]


def test_a_400_about_the_request_itself_stops_the_batch(
    fake: SendGridFake, transport: SendGridTransport, content: Content
) -> None:
    fake.script(
        json_reply(
            400,
            {
                "errors": [
                    {
                        "field": "from.email",
                        "message": "The from email does not contain a valid address.",
                        "help": None,
                    }
                ]
            },
        )
    )
    with pytest.raises(TransportError, match=r"from\.email") as error:
        transport.send_batch(content, [make_message(1, "ana@example.net")])
    assert error.value.permanent is True


def test_a_bad_key_is_a_permanent_error(fake: SendGridFake, content: Content) -> None:
    transport = SendGridTransport("SG.wrong", base_url=fake.url, timeout=5)
    with pytest.raises(TransportError, match="NEWSLETTER_SENDGRID_API_KEY") as error:
        transport.send_batch(content, [make_message(1, "ana@example.net")])
    assert error.value.permanent is True
    assert fake.delivered == []


@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [
        (json_reply(429, {"errors": [{"message": "too many"}]}, {"Retry-After": "30"}), 30.0),
        (Reply(503, b"Service Unavailable"), None),
        (Reply(500, b"oops", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), 0.0),
    ],
)
def test_throttling_and_server_errors_are_retry(
    fake: SendGridFake,
    transport: SendGridTransport,
    content: Content,
    reply: Reply,
    retry_after: float | None,
) -> None:
    fake.script(reply)
    batch = [make_message(1, "ana@example.net"), make_message(2, "raj@example.net")]
    outcomes = transport.send_batch(content, batch)
    assert [o.status for o in outcomes] == [Status.RETRY] * 2
    assert outcomes[0].retry_after == retry_after
    assert str(reply.status) in outcomes[0].detail
    assert fake.delivered == []
    # The next attempt goes through.
    assert {o.status for o in transport.send_batch(content, batch)} == {Status.SENT}


def test_a_payload_too_large_is_split(
    fake: SendGridFake, transport: SendGridTransport, content: Content
) -> None:
    fake.script(json_reply(413, {"errors": [{"message": "Payload too large"}]}))
    batch = [make_message(i, f"r{i}@example.net") for i in range(4)]
    assert {o.status for o in transport.send_batch(content, batch)} == {Status.SENT}
    assert [len(json.loads(r.body)["personalizations"]) for r in fake.requests] == [4, 2, 2]


def test_sandbox_mode_is_refused(
    fake: SendGridFake, transport: SendGridTransport, content: Content
) -> None:
    fake.script(Reply(200))
    with pytest.raises(TransportError, match="sandbox"):
        transport.send_batch(content, [make_message(1, "ana@example.net")])


def test_no_answer_in_time_is_unconfirmed_and_not_sent_again(
    fake: SendGridFake, content: Content
) -> None:
    fake.script(Reply(202, delay=1.0))
    transport = SendGridTransport(KEY, base_url=fake.url, timeout=0.2)
    batch = [make_message(1, "ana@example.net"), make_message(2, "zoe@example.net")]
    outcomes = transport.send_batch(content, batch)
    assert [o.status for o in outcomes] == [Status.UNCONFIRMED, Status.UNCONFIRMED]
    assert "may have been accepted" in outcomes[0].detail
    # One request: the batch was not handed over a second time.
    assert len(fake.requests) == 1


def test_an_unreachable_api_is_an_outage_and_nothing_counts_as_sent(content: Content) -> None:
    transport = SendGridTransport(KEY, base_url=f"http://127.0.0.1:{free_port()}", timeout=5)
    journal = RecordingJournal()
    batch = [make_message(1, "ana@example.net"), make_message(2, "zoe@example.net")]
    with pytest.raises(TransportError, match="cannot reach") as error:
        transport.send_batch(content, batch, journal)
    assert error.value.permanent is False
    # The runner waits an outage out without using up the messages' attempts.
    assert error.value.unreachable is True
    # Marked as final before the request, and taken back: no connection was ever made.
    assert journal.final == [1, 2] and journal.taken_back == [1, 2]


def test_a_connection_that_breaks_after_the_request_is_no_outage(content: Content) -> None:
    """The request may have reached the provider: not taken for one that never left."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def read_and_hang_up() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)

        thread = threading.Thread(target=read_and_hang_up)
        thread.start()
        transport = SendGridTransport(KEY, base_url=f"http://127.0.0.1:{port}", timeout=5)
        journal = RecordingJournal()
        with pytest.raises(TransportError) as error:
            transport.send_batch(content, [make_message(1, "ana@example.net")], journal)
        thread.join()
    assert error.value.unreachable is False and journal.taken_back == []


def test_a_message_without_a_needed_value_stops_the_batch_before_sending(
    fake: SendGridFake, transport: SendGridTransport, content: Content
) -> None:
    message = make_message(1, "ana@example.net")
    incomplete = type(message)(
        key=1, recipient=message.recipient, sender=message.sender, data=b"", fields={}
    )
    with pytest.raises(TransportError, match="no value for forward_url, name") as error:
        transport.send_batch(content, [incomplete])
    assert error.value.permanent is True
    assert fake.requests == []


def test_settings(fake: SendGridFake) -> None:
    with pytest.raises(ConfigError, match="NEWSLETTER_SENDGRID_API_KEY"):
        make_transport(Settings(transport="sendgrid"))
    with pytest.raises(ConfigError, match="NEWSLETTER_SENDGRID_BASE_URL"):
        make_transport(
            Settings(transport="sendgrid", sendgrid_api_key=KEY, sendgrid_base_url="ftp://x")
        )
    transport = make_transport(
        Settings(transport="sendgrid", sendgrid_api_key=KEY, sendgrid_base_url=fake.url + "/")
    )
    assert isinstance(transport, SendGridTransport)
    assert transport.max_batch == 1000
    transport.close()


def test_an_issue_without_text_part_sends_html_only(
    fake: SendGridFake, transport: SendGridTransport
) -> None:
    content = make_content(text="")
    outcomes = transport.send_batch(content, [make_message(1, "ana@example.net")])
    assert outcomes[0].status is Status.SENT
    assert [part["type"] for part in json.loads(fake.requests[0].body)["content"]] == ["text/html"]


def test_inline_images_go_once_per_request_as_inline_attachments(
    fake: SendGridFake, transport: SendGridTransport
) -> None:
    content = inline_content()
    batch = [make_message(1, "ana@example.net"), make_message(2, "raj@example.net")]

    outcomes = transport.send_batch(content, batch)

    assert [o.status for o in outcomes] == [Status.SENT] * 2
    assert len(fake.requests) == 1
    attachments = json.loads(fake.requests[0].body)["attachments"]
    assert [(a["filename"], a["disposition"]) for a in attachments] == [
        (image.filename, "inline") for image in IMAGES
    ]
    for delivered in fake.delivered:
        assert delivered.extra["images"] == {
            image.cid: (image.content_type, image.data) for image in IMAGES
        }
        for image in IMAGES:
            assert f'src="cid:{image.cid}"' in delivered.html


def test_hosted_images_send_no_attachment(
    fake: SendGridFake, transport: SendGridTransport, content: Content
) -> None:
    assert content.images == ()
    transport.send_batch(content, [make_message(1, "ana@example.net")])
    assert "attachments" not in json.loads(fake.requests[0].body)
    assert fake.delivered[0].extra["images"] == {}


def test_the_images_are_encoded_once_for_every_request(
    fake: SendGridFake, transport: SendGridTransport
) -> None:
    sendgrid.inline_attachments.cache_clear()
    content = inline_content()
    # One address twice: two requests.
    transport.send_batch(
        content, [make_message(1, "ana@example.net"), make_message(2, "ana@example.net")]
    )
    assert len(fake.requests) == 2
    assert all(d.extra["images"] for d in fake.delivered)
    assert sendgrid.inline_attachments.cache_info().misses == 1
