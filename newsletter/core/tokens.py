"""Signed tokens for unsubscribe, preferences and forward-to-a-friend links.

Format (all base64url without padding)::

    TOKEN   = BODY "." MAC
    BODY    = b64(purpose-byte || uvarint(subscriber_id) || uvarint(list_id)
                  || uvarint(version) || uvarint(campaign_id))
    MAC     = b64(HMAC-SHA256(key, b"newsletter-token/v1\\x00" || BODY-bytes)[:16])

- `purpose` is one ASCII letter ("u" unsubscribe, "p" preferences, "f" forward,
  "c" confirm a subscription), so a token minted for one link cannot be used for another.
- `version` is the subscriber's membership version; resubscribing bumps it, so links from
  before an unsubscribe/resubscribe cycle stop working while newer ones keep working.
- `list_id` and `campaign_id` are 0 when they do not apply.
- Tokens do not expire: old newsletters keep working. A tampered token fails the MAC check,
  which is compared in constant time.
- A test message's links carry test tokens: the same body under a MAC with another domain
  (`newsletter-test-token/v1`), so a test token never verifies as a real one (it cannot
  touch a subscriber, whatever ids it names) and a real one never as a test one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from newsletter.core.errors import TokenError

Purpose = Literal["u", "p", "f", "c"]
_PURPOSES = frozenset("upfc")
_DOMAIN = b"newsletter-token/v1\x00"
_TEST_DOMAIN = b"newsletter-test-token/v1\x00"
_MAC_BYTES = 16
_MAX_TOKEN = 200


@dataclass(frozen=True)
class Token:
    purpose: Purpose
    subscriber_id: int
    list_id: int = 0
    version: int = 0
    campaign_id: int = 0
    # From a test message: the ids name nobody's subscription (see the module docstring).
    test: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("token is not base64url") from exc
    # The last character can carry unused bits; without this check several spellings
    # of one token would verify, so an edited token could still be accepted.
    if _b64(data) != text:
        raise TokenError("token is not canonical base64url")
    return data


def _uvarint(value: int) -> bytes:
    if value < 0:
        raise ValueError("token fields must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            break
    raise TokenError("token body is malformed")


def _mac(key: bytes, body: bytes, *, test: bool = False) -> bytes:
    domain = _TEST_DOMAIN if test else _DOMAIN
    return hmac.new(key, domain + body, hashlib.sha256).digest()[:_MAC_BYTES]


def sign(key: bytes, token: Token) -> str:
    if token.purpose not in _PURPOSES:
        raise ValueError(f"unknown token purpose {token.purpose!r}")
    body = token.purpose.encode("ascii") + b"".join(
        _uvarint(v) for v in (token.subscriber_id, token.list_id, token.version, token.campaign_id)
    )
    return f"{_b64(body)}.{_b64(_mac(key, body, test=token.test))}"


def verify(key: bytes, text: str, purpose: Purpose | None = None, *, test: bool = False) -> Token:
    """Return the token's content, or raise TokenError. Never says which part was wrong.
    `test`: accept a test message's token instead, and only such a one."""
    if len(text) > _MAX_TOKEN or text.count(".") != 1:
        raise TokenError("invalid token")
    body_text, mac_text = text.split(".")
    body, mac = _unb64(body_text), _unb64(mac_text)
    if not hmac.compare_digest(mac, _mac(key, body, test=test)):
        raise TokenError("invalid token")
    if not body or chr(body[0]) not in _PURPOSES:
        raise TokenError("invalid token")
    found: Purpose = chr(body[0])  # type: ignore[assignment]
    if purpose is not None and found != purpose:
        raise TokenError("invalid token")
    values: list[int] = []
    pos = 1
    for _ in range(4):
        value, pos = _read_uvarint(body, pos)
        values.append(value)
    if pos != len(body):
        raise TokenError("invalid token")
    return Token(found, values[0], values[1], values[2], values[3], test=test)
