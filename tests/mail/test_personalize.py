from __future__ import annotations

import email
import email.policy

import pytest

from newsletter.core import tokens
from newsletter.core.errors import TokenError
from newsletter.core.links import Links
from newsletter.issue.model import PERSONAL_FIELDS, Issue, placeholder
from newsletter.mail.mime import MessageTemplate
from newsletter.mail.personalize import Recipient, clean_value, personal_fields

KEY = b"personalize-test-key-0123"
LINKS = Links("https://news.example.org")
RECIPIENT = Recipient(
    "ana@example.org", "Ana", subscriber_id=42, list_id=7, version=3, campaign_id=9
)


def _token(url: str, prefix: str) -> str:
    assert url.startswith(prefix)
    return url.removeprefix(prefix)


def test_fields_cover_every_personal_field() -> None:
    fields = personal_fields(RECIPIENT, key=KEY, links=LINKS)
    assert set(fields) == set(PERSONAL_FIELDS)
    assert fields["email"] == "ana@example.org"
    assert fields["name"] == "Ana"


@pytest.mark.parametrize(
    ("field", "prefix", "purpose", "campaign"),
    [
        ("unsubscribe_url", "https://news.example.org/u/", "u", 0),
        ("preferences_url", "https://news.example.org/p/", "p", 0),
        ("forward_url", "https://news.example.org/f/", "f", 9),
    ],
)
def test_links_carry_verifiable_tokens_with_the_recipient_ids(
    field: str, prefix: str, purpose: tokens.Purpose, campaign: int
) -> None:
    fields = personal_fields(RECIPIENT, key=KEY, links=LINKS)
    token = tokens.verify(KEY, _token(fields[field], prefix), purpose)
    assert token == tokens.Token(purpose, 42, 7, 3, campaign)


def test_a_link_token_does_not_verify_for_another_purpose_or_key() -> None:
    fields = personal_fields(RECIPIENT, key=KEY, links=LINKS)
    token = _token(fields["unsubscribe_url"], "https://news.example.org/u/")
    with pytest.raises(TokenError):
        tokens.verify(KEY, token, "p")
    with pytest.raises(TokenError):
        tokens.verify(b"another-key-0123456789", token, "u")


def test_recipients_get_different_links() -> None:
    other = Recipient("bo@example.org", "Bo", subscriber_id=43, list_id=7, version=3)
    first = personal_fields(RECIPIENT, key=KEY, links=LINKS)
    second = personal_fields(other, key=KEY, links=LINKS)
    for field in ("unsubscribe_url", "preferences_url", "forward_url"):
        assert first[field] != second[field]


def test_control_characters_in_a_name_become_spaces() -> None:
    recipient = Recipient("ana@example.org", "Ana\r\nBcc: x@evil.test\t", subscriber_id=1)
    assert personal_fields(recipient, key=KEY, links=LINKS)["name"] == "Ana Bcc: x@evil.test"
    assert clean_value("plain") == "plain"


def test_personal_fields_fill_the_recipients_message() -> None:
    issue = Issue(
        slug="s",
        subject="Subject",
        preheader="",
        language="en",
        direction="ltr",
        html=f'<a href="{placeholder("unsubscribe_url")}">Unsubscribe</a>',
        text=f"Dear {placeholder('name')}\n",
        web_html="",
        print_html="",
    )
    template = MessageTemplate.build(
        issue, from_address="News <news@example.org>", list_id="News <news.example.org>"
    )
    fields = personal_fields(RECIPIENT, key=KEY, links=LINKS)
    data = template.render(fields, to=RECIPIENT.email, to_name=RECIPIENT.name)
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "ana@example.org"
    unsubscribe = str(message["List-Unsubscribe"]).strip("<>")
    token = tokens.verify(KEY, _token(unsubscribe, "https://news.example.org/u/"), "u")
    assert token.subscriber_id == 42
    text = message.get_body(("plain",))
    assert text is not None
    assert text.get_content() == "Dear Ana\r\n"
