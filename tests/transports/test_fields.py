from __future__ import annotations

import pytest

from newsletter.transports.base import Content, OutgoingMessage, TransportError
from newsletter.transports.fields import (
    field_values,
    personal_headers,
    recipient_display,
    shared_headers,
    split_address,
)
from tests.transports.conftest import make_content, make_message


def test_the_email_field_defaults_to_the_recipient() -> None:
    message = OutgoingMessage(key=1, recipient="a@x.org", sender="b@x.org", data=b"")
    assert field_values(message, ["email"]) == {"email": "a@x.org"}
    with pytest.raises(TransportError, match=r"message 1 to a@x\.org has no value for name"):
        field_values(message, ["email", "name"])


def test_headers_the_provider_writes_are_left_out() -> None:
    content = make_content(headers={"List-Id": "x", "From": "y", "DKIM-Signature": "z"})
    assert shared_headers(content) == {"List-Id": "x"}
    message = make_message(1, "a@x.org")
    assert set(personal_headers(message)) == {
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    }


@pytest.mark.parametrize("value", ["a\r\nBcc: victim@x.org", "a\nb"])
def test_header_injection_is_refused(value: str) -> None:
    with pytest.raises(TransportError, match="malformed") as error:
        shared_headers(make_content(headers={"X-Thing": value}))
    assert error.value.permanent


def test_addresses() -> None:
    assert split_address("Muslim Institute <n@x.org>") == ("Muslim Institute", "n@x.org")
    assert split_address("n@x.org") == ("", "n@x.org")
    with pytest.raises(TransportError, match="not an email address"):
        split_address("Muslim Institute")
    message = make_message(1, "a@x.org", name="Doe, Jane")
    assert recipient_display(message) == '"Doe, Jane" <a@x.org>'
    assert recipient_display(make_message(1, "a@x.org", name="")) == "a@x.org"


def test_content_is_untouched(content: Content) -> None:
    assert shared_headers(content) == dict(content.headers)


def test_recipient_display_decodes_an_encoded_word_name_first() -> None:
    # "=?utf-8?b?...?=" of "Eve\r\nBcc: x@y.example": one line, never a word to decode.
    message = make_message(1, "a@x.org", name="=?utf-8?b?RXZlDQpCY2M6IHhAeS5leGFtcGxl?=")
    assert recipient_display(message) == '"Eve Bcc: x@y.example" <a@x.org>'
