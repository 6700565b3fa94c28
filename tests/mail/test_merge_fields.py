"""Merge fields from subscriber attributes: the syntax staff write, the values each reader
gets (escaped in HTML, safe in headers, plain in text), through every transport."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from newsletter.compose import compose_issue
from newsletter.compose.checks import check_issue
from newsletter.core.settings import Settings
from newsletter.issue import merge_fields
from newsletter.issue.merge_fields import MergeField, value_of, with_placeholders
from newsletter.issue.model import Issue, placeholder
from newsletter.mail.factory import Addressee, CampaignMessages, MessageFactory
from newsletter.mail.placeholders import Substituter, personalize_html, personalize_text
from newsletter.mail.sample import sample_copy
from newsletter.mail.sender import Sender
from newsletter.record.loader import load_record
from newsletter.sending.runner import Runner
from newsletter.store.campaigns import CampaignStatus
from newsletter.store.lists import create_list
from newsletter.store.subscriptions import subscribe
from newsletter.transports.base import Transport
from newsletter.transports.mailgun import MailgunTransport
from newsletter.transports.postmark import PostmarkTransport
from newsletter.transports.sendgrid import SendGridTransport
from tests.sending.helpers import (
    FROM,
    Audience,
    new_campaign,
    sending_settings,
    small_issue,
    smtp_transport,
)
from tests.store.databases import current_engine, session_scope
from tests.transports.fakes import FakeServer, MailgunFake, PostmarkFake, SendGridFake
from tests.transports.smtp_servers import Mailbox, smtp_server

KEY = b"test-secret-key-0123456789"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "khojaly-seminar-2022" / "record.yaml"

GREETING = '{{ first_name | default("friend") }}'
CITY = "{{ City }}"


def merged_issue() -> Issue:
    """A small issue whose subject, HTML and text carry merge fields, as composing leaves them."""
    greeting, city = with_placeholders(GREETING), with_placeholders(CITY)
    return small_issue(
        subject=f"News for {greeting}",
        html=(
            f"<html><head><title>News for {greeting}</title></head><body>"
            f'<p title="{greeting}">Dear {greeting} from {city}.</p>'
            '<a href="__NL_UNSUBSCRIBE_URL__">Unsubscribe</a></body></html>'
        ),
        text=f"Dear {greeting} from {city}.\nUnsubscribe: __NL_UNSUBSCRIBE_URL__\n",
    )


def sender() -> Sender:
    return Sender(
        from_address=FROM,
        reply_to=None,
        return_path="bounces@example.org",
        unsubscribe_mailto=None,
        public_url="https://news.example.org",
    )


def factory(issue: Issue, *, raw: bool = True) -> MessageFactory:
    source = CampaignMessages(
        campaign_id=3, token="5eed", list_id=1, list_name="members", issue=issue, sender=sender()
    )
    return MessageFactory(source, key=KEY, raw=raw)


def reader(number: int, **attributes: object) -> Addressee:
    return Addressee(
        key=100 + number,
        subscriber_id=number,
        email=f"r{number}@example.net",
        name=f"Reader {number}",
        version=1,
        attributes=attributes,
    )


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.SMTP)
    assert isinstance(message, EmailMessage)
    return message


def parts(data: bytes) -> tuple[str, str]:
    """The (text, html) bodies of a message, decoded, LF line ends."""
    message = parsed(data)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return (
        str(text.get_content()).replace("\r\n", "\n"),
        str(html.get_content()).replace("\r\n", "\n"),
    )


# The syntax


@pytest.mark.parametrize(
    ("written", "field"),
    [
        ("{{ first_name }}", MergeField("first_name")),
        ("{{first_name}}", MergeField("first_name")),
        ('{{ first_name | default("friend") }}', MergeField("first_name", "friend")),
        ("{{ First Name | default('dear reader') }}", MergeField("first_name", "dear reader")),
        ('{{ first-name | default: "friend" }}', MergeField("first_name", "friend")),
        (
            '{{ city | default("Lahore, \u067e\u0627\u06a9\u0633\u062a\u0627\u0646") }}',
            MergeField("city", "Lahore, \u067e\u0627\u06a9\u0633\u062a\u0627\u0646"),
        ),
        ('{{ x | default("") }}', MergeField("x", "")),
    ],
)
def test_the_syntax_staff_write(written: str, field: MergeField) -> None:
    assert merge_fields.fields_in(f"Dear {written},") == [field]
    replaced = with_placeholders(f"Dear {written},")
    token = merge_fields.placeholder(field)
    assert replaced == f"Dear {token},"
    # Letters and underscores only, so every stage of composing leaves it as it is.
    assert re.fullmatch(r"[A-Za-z_]+", token)
    assert merge_fields.field_of(token) == field
    assert placeholder(token) == token
    assert Substituter(replaced).names == (token,)
    assert merge_fields.with_fallbacks(f"Dear {written},") == f"Dear {field.fallback},"


def test_staff_pages_show_a_stored_subject_as_written() -> None:
    subject = with_placeholders('{{ first_name | default("friend") }}, news from {{ City }}')
    assert (
        merge_fields.as_written(subject)
        == '{{ first_name | default("friend") }}, news from {{ city }}'
    )
    quoted = with_placeholders("""{{ x | default('say "hi"') }}""")
    assert merge_fields.as_written(quoted) == """{{ x | default('say "hi"') }}"""
    assert merge_fields.fields_of(subject) == [
        MergeField("first_name", "friend"),
        MergeField("city"),
    ]
    assert merge_fields.unfilled(merge_fields.fields_of(subject), {"First Name"}) == [
        MergeField("city")
    ]


def test_no_placeholder_contains_another() -> None:
    # SendGrid replaces keys wherever they occur: its upper-cased HTML key must not hold
    # the plain placeholder, nor a shorter field's placeholder a longer one's.
    short = merge_fields.placeholder(MergeField("a"))
    long = merge_fields.placeholder(MergeField("ab"))
    assert short not in long and long not in short
    assert short not in f"__NL_HTML_{short.upper()}__"


def test_malformed_syntax_is_reported() -> None:
    assert merge_fields.malformed("Dear {{ first_name }}, all well.") == []
    assert merge_fields.malformed("no fields at all") == []
    for broken in (
        "Dear {{ first_name, welcome",
        'Dear {{ first_name | default("friend }}',
        'Dear {{ first_name | default("friend }}, see you") }}',
        'Dear {{ first_name | default("friend\nof ours") }}',
        "Dear {{ 1st }}",
        "Dear first_name }}",
    ):
        problems = merge_fields.malformed(broken)
        assert problems, broken
        assert "is not a merge field" in problems[0]
    long = "{{ x | default(" + '"' + "y" * 201 + '"' + ") }}"
    assert "fallback over 200" in merge_fields.malformed(long)[0]


def test_the_composer_checks_warn_about_malformed_fields() -> None:
    issue = small_issue(text=small_issue().text + "Hello {{ first_name\n")
    problems = check_issue(issue)
    assert [p.code for p in problems if p.code == "merge-field"] == ["merge-field"]
    assert not [p for p in check_issue(merged_issue()) if p.code == "merge-field"]


# The values


def test_a_missing_attribute_takes_the_fallback_and_never_prints_none() -> None:
    field = MergeField("first_name", "friend")
    assert value_of(field, {"first_name": "Amina"}) == "Amina"
    assert value_of(field, {"First Name": "Amina"}) == "Amina"
    assert value_of(field, {}) == "friend"
    assert value_of(field, {"first_name": None}) == "friend"
    assert value_of(field, {"first_name": "   "}) == "friend"
    assert value_of(field, {"first_name": ["a"]}) == "friend"
    assert value_of(field, {"first_name": True}) == "friend"
    assert value_of(field, {"first_name": 7}) == "7"
    assert value_of(MergeField("first_name"), {}) == ""
    assert value_of(MergeField("first_name"), {"first_name": None}) == ""
    assert value_of(MergeField("name", "friend"), {}, name="Amina Rahman") == "Amina Rahman"
    assert value_of(MergeField("name", "friend"), {}, name="") == "friend"
    assert value_of(MergeField("email"), {}, email="a@example.org") == "a@example.org"


def test_values_are_escaped_in_html_and_plain_in_text() -> None:
    hostile = '<script>alert("x")</script> & Co'
    made = factory(merged_issue()).build(reader(1, first_name=hostile, city=None))
    text, html = parts(made.data)
    assert 'Dear <script>alert("x")</script> & Co from .' in text
    assert "<script>" not in html
    assert "Dear &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co from ." in html
    assert 'title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co"' in html
    assert "None" not in text + html + str(parsed(made.data)["Subject"])


def test_a_reader_without_the_attribute_gets_the_fallback() -> None:
    made = factory(merged_issue()).build(reader(2))
    text, html = parts(made.data)
    assert "Dear friend from ." in text
    assert "Dear friend from ." in html
    assert parsed(made.data)["Subject"] == "News for friend"
    assert "None" not in made.data.decode("ascii")


@pytest.mark.parametrize(
    "hostile",
    [
        "Ana\r\nBcc: victim@example.com",
        "Ana\nBcc: victim@example.com",
        "Ana\rBcc: victim@example.com",
        "=?utf-8?b?" + base64.b64encode(b"Ana\r\nBcc: victim@example.com").decode() + "?=",
        "=?utf-8?q?Ana=0D=0ABcc:_victim@example.com?=",
        "Ana\u2028Bcc: victim@example.com",
        "=?utf-8?b?" + base64.b64encode(b"=?utf-8?q?Ana=0D=0ABcc:_x@example.com?=").decode() + "?=",
    ],
)
def test_an_attribute_cannot_add_headers_through_the_subject(hostile: str) -> None:
    made = factory(merged_issue()).build(reader(3, first_name=hostile))
    message = parsed(made.data)
    assert message["Bcc"] is None
    subject = str(message["Subject"])
    assert "\r" not in subject and "\n" not in subject
    # The text is kept, as a reader would see it, inside the subject.
    assert subject.startswith("News for Ana ")
    assert "Bcc: " in subject
    # Every header line of the message is one line: the value was cleaned, then encoded.
    head = made.data.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"^Bcc:", head, re.MULTILINE | re.IGNORECASE)
    assert b"\n" not in head.replace(b"\r\n", b"")
    # The fields an HTTP API gets are the cleaned ones too.
    assert "\n" not in made.fields[with_placeholders(GREETING)]


def test_the_sample_and_the_preview_reader() -> None:
    settings = Settings(_env_file=None, from_address=FROM)
    issue = merged_issue()
    sample = sample_copy(settings, issue)
    assert sample.subject == "News for friend"
    assert "Dear friend from ." in sample.text
    chosen = sample_copy(settings, issue, reader(4, first_name="Amina", City="Lahore"))
    assert chosen.subject == "News for Amina"
    assert "Dear Amina from Lahore." in chosen.text
    assert "Dear Amina from Lahore." in chosen.html
    # Whoever is chosen, the links open nobody's subscription (subscriber 0).
    assert parsed(chosen.message)["To"] == "Reader 4 <r4@example.net>"


def test_copies_without_a_reader_show_the_fallbacks() -> None:
    issue = merged_issue()
    assert personalize_text(issue.subject, {}) == "News for friend"
    html = personalize_html(issue.html.replace("__NL_UNSUBSCRIBE_URL__", ""), {})
    assert "Dear friend from ." in html


# Through the composer


def test_merge_fields_survive_markdown_mjml_premailer_and_quoted_printable() -> None:
    settings = Settings(_env_file=None, from_address=FROM)
    loaded = load_record(EXAMPLE)
    record = loaded.record
    speakers = [
        record.speakers[0].model_copy(update={"remarks": "Thanks, _{{ first_name }}_!"}),
        *record.speakers[1:],
    ]
    record = record.model_copy(
        update={
            "summary": f"Dear **{GREETING}** of {CITY},\n\n{record.summary}",
            "subject": f"{GREETING}, the seminar's report",
            "footer": 'Sent to {{ email }} because {{ reason | default("you asked") }}.',
            "speakers": speakers,
        }
    )
    issue = compose_issue(
        loaded.model_copy(update={"record": record}),
        brand=settings.brand,
        public_url=settings.public_url,
    )
    assert "{{" not in issue.html + issue.text + issue.subject
    # The web version and the PDF are nobody's: they show the fallbacks.
    assert "Dear <strong>friend</strong> of ," in issue.web_html
    assert "you asked" in issue.print_html and merge_fields.PREFIX not in issue.print_html
    assert not [p for p in check_issue(issue) if p.code == "merge-field"]

    amina = reader(5, first_name="Amina & Ali", City="Lahore")
    text, html = parts(factory(issue).build(amina).data)
    assert "Dear **" not in html
    assert "Dear <strong>Amina &amp; Ali</strong> of Lahore," in html
    assert "Dear Amina & Ali of Lahore," in " ".join(text.split())
    assert "Thanks, <em>Amina &amp; Ali</em>!" in html
    assert "Sent to r5@example.net because you asked." in html
    assert "None" not in text + html
    made = factory(issue).build(reader(6))
    assert parsed(made.data)["Subject"] == "friend, the seminar's report"
    text, html = parts(made.data)
    assert "Dear <strong>friend</strong> of ," in html


# Every transport substitutes the same values


@pytest.fixture(params=["sendgrid", "mailgun", "postmark"])
def api(request: pytest.FixtureRequest) -> Iterator[tuple[FakeServer, Transport]]:
    server: FakeServer
    transport: Transport
    if request.param == "sendgrid":
        server = SendGridFake("SG.key").start()
        transport = SendGridTransport("SG.key", base_url=server.url, timeout=5)
    elif request.param == "mailgun":
        server = MailgunFake("key-1", "mg.example.org").start()
        transport = MailgunTransport("key-1", domain="mg.example.org", base_url=server.url)
    else:
        server = PostmarkFake("token").start()
        transport = PostmarkTransport("token", base_url=server.url, timeout=5)
    yield server, transport
    transport.close()
    server.stop()


def test_the_http_apis_carry_the_same_substitution(
    api: tuple[FakeServer, Transport],
) -> None:
    server, transport = api
    issue = merged_issue()
    readers = [
        reader(7, first_name='Zoë "Z" <O\'Brien>', city="Multan"),
        reader(8, first_name=None),
        reader(9, first_name="Ana\r\nBcc: x@example.com", City="Lahore"),
    ]
    over_api = factory(issue, raw=False)
    messages = [over_api.build(r) for r in readers]
    transport.send_batch(over_api.content, messages)
    delivered = {d.to: d for d in server.delivered}
    assert sorted(delivered) == sorted(r.email for r in readers)
    smtp = factory(issue)
    for one in readers:
        got = delivered[one.email]
        text, html = parts(smtp.render(one))
        assert got.text == text
        assert got.html == html.removesuffix("\n")
        assert got.subject == str(parsed(smtp.render(one))["Subject"])
        assert "None" not in got.text + got.html + got.subject
    assert "Dear friend from ." in delivered["r8@example.net"].text
    assert "&lt;O&#x27;Brien&gt;" in delivered["r7@example.net"].html
    assert "Bcc" not in delivered["r9@example.net"].headers


# End to end: a campaign to two subscribers with different attributes


def test_a_campaign_fills_each_subscribers_fields(db: str) -> None:
    with session_scope(write=True) as session:
        list_id = create_list(session, "members").id
        subscribe(
            session,
            list_id,
            "amina@example.net",
            name="Amina Rahman",
            attributes={"First Name": "Amina", "city": "Lahore"},
            source="test",
        )
        subscribe(session, list_id, "james@example.net", name="James Okafor", source="test")
    audience = Audience(list_id, "members", ["amina@example.net", "james@example.net"], [])
    campaign_id = new_campaign(audience, issue=merged_issue())
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        transport = smtp_transport(port)
        try:
            result = Runner(
                campaign_id, transport, settings=sending_settings(), engine=current_engine()
            ).run()
        finally:
            transport.close()
    assert result.status is CampaignStatus.DONE
    got = {m.rcpt_tos[0]: m.data for m in mailbox.accepted}
    assert sorted(got) == audience.eligible
    text, html = parts(got["amina@example.net"])
    assert parsed(got["amina@example.net"])["Subject"] == "News for Amina"
    assert "Dear Amina from Lahore." in text and "Dear Amina from Lahore." in html
    text, html = parts(got["james@example.net"])
    assert parsed(got["james@example.net"])["Subject"] == "News for friend"
    assert "Dear friend from ." in text and "Dear friend from ." in html
    assert all(b"None" not in data for data in got.values())
