from __future__ import annotations

import pytest

from newsletter.web.form_tokens import FORM_SECONDS, form_token, form_token_valid

KEY = b"k" * 32
NOW = 1_700_000_000.0


def test_a_token_is_valid_for_its_form_and_link_until_it_expires() -> None:
    token = form_token(KEY, "resubscribe", "LINK", now=NOW)

    assert token.startswith(f"{int(NOW) + FORM_SECONDS}.")
    assert form_token_valid(KEY, "resubscribe", "LINK", token, now=NOW)
    assert form_token_valid(KEY, "resubscribe", "LINK", token, now=NOW + FORM_SECONDS - 1)
    assert not form_token_valid(KEY, "resubscribe", "LINK", token, now=NOW + FORM_SECONDS)


@pytest.mark.parametrize(
    ("key", "purpose", "link"),
    [(b"other" * 8, "resubscribe", "LINK"), (KEY, "other", "LINK"), (KEY, "resubscribe", "LINK2")],
    ids=["another key", "another form", "another link"],
)
def test_a_token_is_worthless_elsewhere(key: bytes, purpose: str, link: str) -> None:
    token = form_token(KEY, "resubscribe", "LINK", now=NOW)

    assert not form_token_valid(key, purpose, link, token, now=NOW)


def test_the_expiry_cannot_be_moved_on() -> None:
    mac = form_token(KEY, "resubscribe", "LINK", now=NOW).split(".")[1]

    assert not form_token_valid(KEY, "resubscribe", "LINK", f"9999999999.{mac}", now=NOW)


@pytest.mark.parametrize(
    "token", ["", ".", "123", "1.2.3", "-1.abc", "１２.abc", "12.äbc", "1." + "A" * 100]
)
def test_malformed_tokens_are_refused_without_an_error(token: str) -> None:
    assert not form_token_valid(KEY, "resubscribe", "LINK", token, now=NOW)
