from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from newsletter.store.addresses import InvalidAddress, lookup_key, normalise

# Addresses on both sides of every rule the fast path relies on.
CORPUS = [
    "anna@example.org",
    "Anna.Smith@Example.ORG",
    "anna+news@example.org",
    "a.b-c_d@sub.example.co.uk",
    "o'connor@example.com",
    "x@example.org",
    "Info@Example.org",  # a role mailbox email-validator lower-cases
    "POSTMASTER@example.org",
    "josé@example.org",  # internationalised local part
    "anna@bücher.example",  # internationalised domain
    "anna@xn--bcher-kva.example",  # the same, as IDNA
    '"anna smith"@example.org',  # quoted local part
    '"anna"@example.org',
    "Anna <anna@example.org>",  # display name
    "anna@example",  # no dot in the domain
    "anna@localhost",
    "anna@example.local",  # special-use domain
    "anna@example..org",
    "anna.@example.org",
    ".anna@example.org",
    "an..na@example.org",
    "anna@-example.org",
    "anna@example.org.",
    "anna@@example.org",
    "anna@",
    "@example.org",
    "anna",
    "anna@[192.0.2.1]",
    "anna@exa mple.org",
    "an na@example.org",
    "anna@example.org>",
    "a" * 64 + "@example.org",
    "a" * 65 + "@example.org",
    "a" * 240 + "@example.org",  # 252 characters
    "a" * 243 + "@example.org",  # 255 characters: too long
    "a@" + ".".join(["b" * 63] * 4),
    "a@" + "b" * 64 + ".org",
    # Other spellings of domains above: one cache entry serves all of an ASCII domain's.
    "anna@EXAMPLE.LOCAL",
    "anna@EXAMPLE",
    "anna@LOCALHOST",
    "ANNA@SUB.EXAMPLE.CO.UK",
    "a@" + ".".join(["B" * 63] * 4),
    "a" * 243 + "@EXAMPLE.ORG",
]


@pytest.mark.parametrize("address", CORPUS)
def test_normalise_agrees_with_email_validator(address: str) -> None:
    try:
        expected = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        with pytest.raises(InvalidAddress) as raised:
            normalise(address)
        assert str(raised.value) == str(exc)
    else:
        assert normalise(address).email == expected
        # And a second time, with the domain now cached.
        assert normalise(address).email == expected


def test_key_is_the_lower_cased_normalised_address() -> None:
    assert normalise(" Anna.Smith@Example.ORG ") == (
        "Anna.Smith@example.org",
        "anna.smith@example.org",
    )


def test_lookup_key_works_for_invalid_input_too() -> None:
    assert lookup_key("ANNA@Example.org") == "anna@example.org"
    assert lookup_key(" Not An Address ") == "not an address"
