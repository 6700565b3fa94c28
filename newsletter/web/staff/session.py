"""The staff session cookie and the CSRF token tied to it.

The cookie holds no secret, only a signed claim: the account id, a random session nonce,
the expiry, a fingerprint of the account's password hash and the account's session
generation. Every request compares the last two with the account's row, so raising the
generation (logout, `newsletter users passwd`, `newsletter users disable`) ends every
session of the account at once, copies of the cookie included. It is HMAC-SHA256 with
the project's signing key, under a domain string of its own so no other signed value (a
link token) can pass for it. Before login the cookie carries account 0: the login form's
CSRF token needs a session to be tied to.

The CSRF token is an HMAC of the nonce (a synchronizer token): a page of ours can put it
in a form, another site cannot read it, and a new login gets a new nonce, so a token seen
before login is worthless after it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE = "nl_staff"
_SESSION_DOMAIN = b"newsletter-staff-session/v2\x00"
_CSRF_DOMAIN = b"newsletter-staff-csrf/v1\x00"
_MAX_COOKIE = 512
# An anonymous session (the login form) lasts this long.
ANONYMOUS_SECONDS = 3600


@dataclass(frozen=True)
class StaffSession:
    user_id: int  # 0 before login
    nonce: str
    expires: int
    fingerprint: str
    generation: int = 0

    @property
    def logged_in(self) -> bool:
        return self.user_id > 0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, domain: bytes, body: bytes) -> bytes:
    return hmac.new(key, domain + body, hashlib.sha256).digest()


def fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def new_session(
    user_id: int, fingerprint_: str, seconds: float, generation: int = 0
) -> StaffSession:
    return StaffSession(
        user_id=user_id,
        nonce=secrets.token_urlsafe(16),
        expires=int(time.time() + seconds),
        fingerprint=fingerprint_,
        generation=generation,
    )


def encode(key: bytes, session: StaffSession) -> str:
    body = json.dumps(
        [session.user_id, session.nonce, session.expires, session.fingerprint, session.generation],
        separators=(",", ":"),
    ).encode()
    return f"{_b64(body)}.{_b64(_mac(key, _SESSION_DOMAIN, body))}"


def decode(key: bytes, text: str | None, *, now: float | None = None) -> StaffSession | None:
    """The session in a cookie value, if we signed it and it has not expired."""
    if not text or len(text) > _MAX_COOKIE or "." not in text:
        return None
    body_text, _, mac_text = text.partition(".")
    try:
        body = _unb64(body_text)
        mac = _unb64(mac_text)
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(mac, _mac(key, _SESSION_DOMAIN, body)):
        return None
    try:
        user_id, nonce, expires, print_, generation = json.loads(body)
    except (ValueError, TypeError):
        return None
    if not (
        isinstance(user_id, int)
        and isinstance(nonce, str)
        and isinstance(expires, int)
        and isinstance(print_, str)
        and isinstance(generation, int)
    ):
        return None
    if expires <= (time.time() if now is None else now):
        return None
    return StaffSession(user_id, nonce, expires, print_, generation)


def csrf_token(key: bytes, session: StaffSession) -> str:
    return _b64(_mac(key, _CSRF_DOMAIN, session.nonce.encode())[:24])


def csrf_valid(key: bytes, session: StaffSession, token: str) -> bool:
    return bool(token) and hmac.compare_digest(token, csrf_token(key, session))
