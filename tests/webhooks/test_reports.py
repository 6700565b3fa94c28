from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsletter.webhooks.reports import (
    MAX_EVENT_ID,
    Malformed,
    Stale,
    address,
    check_fresh,
    event_id,
    iso_time,
    text,
    unix_time,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_freshness_is_symmetric_and_inclusive() -> None:
    window = timedelta(minutes=5)
    check_fresh(NOW - window, NOW, window)
    check_fresh(NOW + window, NOW, window)
    for signed_at in (NOW - window - timedelta(seconds=1), NOW + window + timedelta(seconds=1)):
        with pytest.raises(Stale):
            check_fresh(signed_at, NOW, window)


def test_times() -> None:
    assert unix_time("1714564800") == NOW
    assert unix_time(1714564800.0) == NOW
    assert iso_time("2024-05-01T12:00:00.000Z") == NOW
    for bad in ("soon", None, "1e999", [1]):
        with pytest.raises(Malformed):
            unix_time(bad)


def test_addresses() -> None:
    assert address("ana@example.org") == "ana@example.org"
    assert address('"Ana" <ana@example.org>') == "ana@example.org"
    assert address("nobody") is None
    assert address(None) is None
    assert address(42) is None


def test_event_ids() -> None:
    assert event_id("abc", {}) == "abc"
    assert event_id(123, {}) == "123"
    long = "x" * (MAX_EVENT_ID + 1)
    assert len(event_id(long, {})) == 64
    assert event_id(long, {}) == event_id(long, {"other": 1})
    assert event_id(None, {"a": 1, "b": 2}) == event_id("", {"b": 2, "a": 1})
    assert event_id(True, {"a": 1}) != event_id(True, {"a": 2})
    assert all(len(event_id(None, {"n": n})) <= MAX_EVENT_ID for n in range(3))


def test_text_is_one_bounded_line() -> None:
    assert text(" 550  5.1.1\n user\tunknown ") == "550 5.1.1 user unknown"
    assert text(None) == ""
    assert len(text("x" * 1000)) == 500
