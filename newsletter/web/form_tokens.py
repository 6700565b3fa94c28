"""CSRF tokens for the public pages' forms that must be posted from a page we showed.

The public pages have no session: the signed link token in the URL says whose page it is,
and that is enough to leave. Coming back is different: a bare POST to the link in a mail
(a scanner, a script, a forged form elsewhere) must not resubscribe anyone. So the page
puts a form token in the form, and the POST must bring it back.

A form token is `EXPIRES.MAC`: the MAC is HMAC-SHA256 with the project's signing key,
under a domain string of its own (no link token or staff cookie can pass for one), over
the form's purpose, the link token the page was shown for and the expiry (Unix seconds).
It needs no storage and no cookie, and works only for that form of that link (so only
for the membership version the page showed), until it expires `FORM_SECONDS` later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

_DOMAIN = b"newsletter-form/v1\x00"
_MAC_BYTES = 16
_MAX_TOKEN = 64
# An hour to press the button on a page: long enough to read it, short enough that a
# page copied from the browser's history is of no use later.
FORM_SECONDS = 3600


def form_token(key: bytes, purpose: str, bound_to: str, *, now: float | None = None) -> str:
    expires = int(time.time() if now is None else now) + FORM_SECONDS
    return f"{expires}.{_mac(key, purpose, bound_to, expires)}"


def form_token_valid(
    key: bytes, purpose: str, bound_to: str, token: str, *, now: float | None = None
) -> bool:
    """Whether `token` is one `form_token` made for this purpose and link, not expired."""
    if not token or len(token) > _MAX_TOKEN or not token.isascii() or token.count(".") != 1:
        return False
    expires_text, mac = token.split(".")
    if not expires_text.isdigit():
        return False
    expires = int(expires_text)
    if not hmac.compare_digest(mac, _mac(key, purpose, bound_to, expires)):
        return False
    return (time.time() if now is None else now) < expires


def _mac(key: bytes, purpose: str, bound_to: str, expires: int) -> str:
    # NUL cannot occur in a purpose or a link token: the fields cannot run into each other.
    message = _DOMAIN + f"{purpose}\x00{bound_to}\x00{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
