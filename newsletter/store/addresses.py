"""Email address checking and normalisation, via email-validator (syntax only, no DNS).

email-validator costs about 60 µs an address, most of it on the domain (IDNA). An import
of a million rows would spend a minute on that alone, yet a real list has a few thousand
distinct domains. So `normalise` checks each distinct domain once with email-validator
(through its public API, cached), and accepts an address without another full call only
when its local part is plain ASCII dot-atom text, which email-validator returns unchanged.
Everything else (quoted or internationalised local parts, display names, role mailboxes
it lower-cases, overlong addresses) goes through the full `validate_email` call, so the
result is always exactly what email-validator says; tests/store/test_addresses.py
compares the two paths.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import (
    CASE_INSENSITIVE_MAILBOX_NAMES,
    DOT_ATOM_TEXT,
    EMAIL_MAX_LENGTH,
)

from newsletter.store.errors import StoreError

_ROLE_MAILBOXES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


class InvalidAddress(StoreError):
    """email-validator's verdict, as one sentence."""


class Address(NamedTuple):
    email: str  # normalised: what we store and mail
    key: str  # lower-cased: the case-insensitive identity


def normalise(text: str) -> Address:
    """The normalised address and its key, or InvalidAddress with the reason."""
    text = text.strip()
    email = _fast(text) or _full(text)
    return Address(email, email_key(email))


def email_key(email: str) -> str:
    return email.lower()


def lookup_key(text: str) -> str:
    """The key to look `text` up by, even when it is not a valid address."""
    try:
        return normalise(text).key
    except InvalidAddress:
        return email_key(text.strip())


def _full(text: str) -> str:
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from exc


def _fast(text: str) -> str | None:
    local, at, domain = text.partition("@")
    if not at or "@" in domain or local.lower() in _ROLE_MAILBOXES:
        return None
    if not DOT_ATOM_TEXT.match(local):
        return None
    # An ASCII domain's case changes neither its validity nor its lengths, so one cache
    # entry serves every spelling (lists often carry upper-cased copies of addresses).
    forms = _domain_forms(domain.lower() if domain.isascii() else domain)
    if forms is None:
        return None
    normalised, longest = forms
    # email-validator's length check, on the address as given, normalised and IDNA-encoded
    # (the local part matched ASCII-only dot-atom text, so its length is its byte count).
    if len(local) + 1 + longest > EMAIL_MAX_LENGTH:
        return None
    return f"{local}@{normalised}"


@lru_cache(maxsize=16_384)
def _domain_forms(domain: str) -> tuple[str, int] | None:
    """A domain email-validator accepts: its normalised form and the UTF-8 length of its
    longest form (as given, normalised, ASCII); None for any other domain."""
    try:
        result = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    longest = max(len(form.encode()) for form in (domain, result.domain, result.ascii_domain))
    return result.domain, longest
