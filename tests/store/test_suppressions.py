from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from newsletter.store.models import Suppression, SuppressionReason
from newsletter.store.suppressions import address_hash, suppression_of
from newsletter.store.types import utcnow
from tests.store.databases import session_scope


def test_the_hash_is_stable_and_not_a_bare_sha256_of_the_address() -> None:
    digest = address_hash("ana@example.org")
    assert digest == address_hash("ana@example.org")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest != hashlib.sha256(b"ana@example.org").hexdigest()
    assert digest != address_hash("bo@example.org")


def test_a_suppression_is_found_by_its_address_or_by_its_hash(db: str) -> None:
    with session_scope(write=True) as session:
        session.add_all(
            [
                Suppression(
                    email_key="ana@example.org",
                    reason=SuppressionReason.BOUNCED,
                    created_at=utcnow(),
                ),
                Suppression(
                    email_hash=address_hash("bo@example.org"),
                    reason=SuppressionReason.ERASED,
                    created_at=utcnow(),
                ),
            ]
        )
    with session_scope() as session:
        found = {
            key: session.scalar(select(Suppression.reason).where(suppression_of(key)))
            for key in ("ana@example.org", "bo@example.org", "cy@example.org")
        }
    assert found == {
        "ana@example.org": SuppressionReason.BOUNCED,
        "bo@example.org": SuppressionReason.ERASED,
        "cy@example.org": None,
    }


def test_a_suppression_names_its_address_one_way_or_the_other(db: str) -> None:
    with pytest.raises(IntegrityError), session_scope(write=True) as session:
        session.add(Suppression(reason=SuppressionReason.ERASED, created_at=utcnow()))
        session.flush()
