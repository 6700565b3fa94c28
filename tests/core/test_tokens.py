from __future__ import annotations

import pytest

from newsletter.core.errors import TokenError
from newsletter.core.tokens import Token, sign, verify
from newsletter.store.subscriptions import (
    check_token,
    resubscribe,
    subscribe,
    token_for,
    unsubscribe,
)
from tests.store.databases import session_scope
from tests.store.helpers import new_list

KEY = b"token-test-key-0123456789"
TOKEN = Token("u", subscriber_id=1234, list_id=7, version=3, campaign_id=99)


@pytest.mark.parametrize(
    "token",
    [
        TOKEN,
        Token("p", 1),
        Token("f", 2**40, 2**20, 2**31, 2**33),
        Token("c", 0),
    ],
)
def test_roundtrip(token: Token) -> None:
    text = sign(KEY, token)
    assert verify(KEY, text) == token
    assert verify(KEY, text, token.purpose) == token
    assert len(text) < 100  # fits a URL comfortably
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_signing_is_deterministic() -> None:
    assert sign(KEY, TOKEN) == sign(KEY, TOKEN)


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.parametrize("token", [TOKEN, Token("p", 1), Token("f", 300, 2, 1)])
def test_every_single_character_change_is_rejected(token: Token) -> None:
    """Including the unused low bits of the last character of each part."""
    text = sign(KEY, token)
    for index, original in enumerate(text):
        if original == ".":
            continue
        for replacement in ALPHABET.replace(original, ""):
            with pytest.raises(TokenError):
                verify(KEY, text[:index] + replacement + text[index + 1 :])


def test_a_token_for_another_subscriber_cannot_be_made_by_editing_the_body() -> None:
    _, mac = sign(KEY, TOKEN).split(".")
    other_body, _ = sign(KEY, Token("u", 1235, 7, 3, 99)).split(".")
    with pytest.raises(TokenError):
        verify(KEY, f"{other_body}.{mac}")


def test_wrong_key_is_rejected() -> None:
    with pytest.raises(TokenError):
        verify(b"another-key-0123456789", sign(KEY, TOKEN))


def test_purpose_mismatch_is_rejected() -> None:
    text = sign(KEY, TOKEN)  # an unsubscribe token
    for purpose in ("p", "f", "c"):
        with pytest.raises(TokenError):
            verify(KEY, text, purpose)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", ".", "abc", "a.b.c", "!!!.???", "x" * 300, "AA.AA"])
def test_malformed_tokens_are_rejected(text: str) -> None:
    with pytest.raises(TokenError):
        verify(KEY, text)


def test_negative_fields_cannot_be_signed() -> None:
    with pytest.raises(ValueError):
        sign(KEY, Token("u", -1))


def test_resubscribing_invalidates_tokens_issued_before(db: str) -> None:
    members = new_list("members")
    with session_scope(write=True) as session:
        membership = subscribe(session, members, "anna@example.org", source="test")
        old = sign(KEY, token_for(membership, "u", campaign_id=5))
    with session_scope(write=True) as session:
        target = check_token(session, verify(KEY, old, "u"))
        assert target.membership is not None
        unsubscribe(session, target.subscriber.id, members, source="test")
        new = sign(
            KEY, token_for(resubscribe(session, target.subscriber.id, members, source="test"), "u")
        )
    with session_scope() as session:
        # The old token still carries a valid signature, but no longer matches the store.
        with pytest.raises(TokenError):
            check_token(session, verify(KEY, old, "u"))
        assert check_token(session, verify(KEY, new, "u")).subscriber.email == "anna@example.org"


def test_a_test_token_is_never_a_real_one_and_back() -> None:
    real, test = TOKEN, Token("u", 1234, 7, 3, 99, test=True)
    test_text = sign(KEY, test)

    assert verify(KEY, test_text, "u", test=True) == test
    assert test_text != sign(KEY, real)
    # The same ids, a MAC under another domain: no real link accepts it, and no real
    # token passes for a test one.
    with pytest.raises(TokenError):
        verify(KEY, test_text)
    with pytest.raises(TokenError):
        verify(KEY, sign(KEY, real), test=True)
    with pytest.raises(TokenError):
        verify(KEY, test_text, "p", test=True)
