"""The in-memory record of refused staff logins: it expires, and it stays bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newsletter.web.login_refusals import LoginRefusals

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_a_refusal_holds_until_its_end_in_whole_seconds_rounded_up() -> None:
    refusals = LoginRefusals()
    refusals.remember("192.0.2.1", "Staff@Example.org ", NOW, timedelta(seconds=4))
    assert refusals.retry_after("192.0.2.1", "staff@example.org", NOW) == 4
    assert refusals.retry_after("192.0.2.1", "staff@example.org", NOW + timedelta(seconds=2.5)) == 2
    assert (
        refusals.retry_after("192.0.2.1", "staff@example.org", NOW + timedelta(seconds=4)) is None
    )
    assert len(refusals) == 0


def test_a_refusal_is_for_its_address_and_account_only() -> None:
    refusals = LoginRefusals()
    refusals.remember("192.0.2.1", "a@example.org", NOW, timedelta(seconds=8))
    assert refusals.retry_after("192.0.2.2", "a@example.org", NOW) is None
    assert refusals.retry_after("192.0.2.1", "b@example.org", NOW) is None


def test_the_oldest_refusals_make_room_for_new_ones() -> None:
    refusals = LoginRefusals(max_entries=3)
    for number in range(5):
        refusals.remember(f"192.0.2.{number}", "a@example.org", NOW, timedelta(seconds=60))
    assert len(refusals) == 3
    assert refusals.retry_after("192.0.2.0", "a@example.org", NOW) is None
    assert refusals.retry_after("192.0.2.4", "a@example.org", NOW) == 60
