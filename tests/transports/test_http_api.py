from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from newsletter.core.errors import ConfigError
from newsletter.transports.base import Content, Status, TransportError
from newsletter.transports.http_api import checked_base_url, group_batches, retry_after_seconds
from newsletter.transports.postmark import PostmarkTransport
from tests.transports.conftest import make_message
from tests.transports.fakes import PostmarkFake
from tests.transports.journals import CountingLimiter, RecordingJournal


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("120", 120.0), (" 1.5 ", 1.5), ("-3", 0.0), ("soon", None)],
)
def test_retry_after_in_seconds(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value) == expected


def test_retry_after_as_a_date() -> None:
    now = datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2025, 5, 1, 12, 0, 45, tzinfo=UTC), usegmt=True)
    assert retry_after_seconds(later, now=now.timestamp()) == 45.0
    earlier = format_datetime(datetime(2025, 5, 1, 11, 0, 0, tzinfo=UTC), usegmt=True)
    assert retry_after_seconds(earlier, now=now.timestamp()) == 0.0


def test_batches_respect_size_unique_addresses_and_keys() -> None:
    messages = [
        make_message(0, "a@x.org"),
        make_message(1, "b@x.org"),
        make_message(2, "A@X.ORG"),
        make_message(3, "c@x.org"),
        make_message(4, "d@x.org"),
    ]
    assert group_batches(messages, 3) == [[0, 1, 3], [2, 4]]
    assert group_batches(messages, 10, key=lambda m: m.key % 2) == [[0, 4], [1, 3], [2]]
    assert group_batches([], 10) == []


def test_base_urls_must_be_http() -> None:
    assert checked_base_url("https://api.example.org/", "X") == "https://api.example.org"
    with pytest.raises(ConfigError, match="X must start with http"):
        checked_base_url("api.example.org", "X")


def test_a_request_is_journalled_before_it_goes_and_refusals_are_taken_back(
    content: Content,
) -> None:
    fake = PostmarkFake("token", inactive={"gone@example.net"}).start()
    transport = PostmarkTransport("token", base_url=fake.url, timeout=5)

    def not_yet_requested(key: int) -> None:
        assert fake.requests == []

    journal = RecordingJournal(check=not_yet_requested)
    limiter = CountingLimiter()
    batch = [
        make_message(1, "ana@example.net"),
        make_message(2, "gone@example.net"),
        make_message(3, "zoe@example.net"),
    ]
    try:
        outcomes = transport.send_batch(content, batch, journal, limiter)
    finally:
        transport.close()
        fake.stop()
    assert [o.status for o in outcomes] == [Status.SENT, Status.REJECTED, Status.SENT]
    assert journal.handed_over == [1, 2, 3]
    assert journal.taken_back == [2]
    # One request, so the limiter is asked once for all of its messages.
    assert limiter.requests == [3]


def test_a_request_the_journal_cannot_record_is_not_sent(content: Content) -> None:
    fake = PostmarkFake("token").start()
    transport = PostmarkTransport("token", base_url=fake.url, timeout=5)
    journal = RecordingJournal()
    journal.fail_for = {1}
    try:
        with pytest.raises(TransportError, match="could not be recorded"):
            transport.send_batch(content, [make_message(1, "ana@example.net")], journal)
    finally:
        transport.close()
        fake.stop()
    assert fake.requests == []
