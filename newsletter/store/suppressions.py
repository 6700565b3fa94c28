"""Finding an address on the suppression list, in clear or (once erased) as its hash.

An erased subscriber's address is kept only as `address_hash` of its key: enough to
recognise it when it comes back in an import or a sign-up, not enough to read it back.
The hash is unkeyed on purpose: a keyed one would forget every erasure when the key
changed, and the address would then be imported again.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from newsletter.store.models import Suppression

# Keeps these digests apart from any other SHA-256 of an address (a mail tool's, a
# provider's), so one list cannot be matched against another by equality.
_DOMAIN = b"newsletter-erased-address:"


def address_hash(key: str) -> str:
    """The hash kept of an address; `key` is its lookup key (lower-cased)."""
    return hashlib.sha256(_DOMAIN + key.encode("utf-8")).hexdigest()


def suppression_of(key: str) -> ColumnElement[bool]:
    """Matches the suppression of the address whose lookup key is `key`, if any."""
    return or_(Suppression.email_key == key, Suppression.email_hash == address_hash(key))


def suppression_for(session: Session, key: str) -> Suppression | None:
    """The suppression of the address with lookup key `key` (or of its hash), if any."""
    return session.scalar(select(Suppression).where(suppression_of(key)))
