from __future__ import annotations

from collections.abc import Sequence

import pytest

from newsletter.transports.base import (
    NULL_JOURNAL,
    NULL_LIMITER,
    Content,
    HandOver,
    NullJournal,
    NullLimiter,
    Outcome,
    OutgoingMessage,
    Status,
    Transport,
    TransportError,
)
from tests.transports.conftest import make_message
from tests.transports.journals import CountingLimiter, RecordingJournal


class _Order:
    """A journal and a limiter that write what is asked of them into one list."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def acquire(self, n: int = 1) -> None:
        self.calls.append(("acquire", (n,)))

    def point_of_no_return(self, *keys: int, final: bool = False) -> None:
        self.calls.append(("point_of_no_return" + (" final" if final else ""), keys))

    def handed_over(self, *keys: int) -> None:
        self.calls.append(("handed_over", keys))

    def not_accepted(self, *keys: int) -> None:
        self.calls.append(("not_accepted", keys))


def test_the_null_objects_take_every_call_and_do_nothing() -> None:
    NullJournal().point_of_no_return(1, 2, 3)
    NullJournal().not_accepted()
    NullLimiter().acquire()
    NullLimiter().acquire(1000)


def test_what_is_not_given_is_a_null_object() -> None:
    hand_over = HandOver.of("smtp", None, None)
    assert hand_over.journal is NULL_JOURNAL
    assert hand_over.limiter is NULL_LIMITER
    # All steps run against them without a journal or a limiter behind.
    hand_over.wait(5)
    hand_over.before([make_message(1, "ana@example.net")])
    hand_over.answered([make_message(1, "ana@example.net")], [Outcome(Status.REJECTED)])


def test_what_is_given_is_used() -> None:
    journal, limiter = RecordingJournal(), CountingLimiter()
    hand_over = HandOver.of("smtp", journal, limiter)
    hand_over.wait()
    hand_over.wait(3)
    hand_over.commit(7, 8)
    hand_over.take_back(8)
    assert limiter.requests == [1, 3]
    assert journal.handed_over == [7, 8]
    assert journal.taken_back == [8]


def test_a_journal_that_cannot_record_is_a_transport_error_naming_the_transport() -> None:
    journal = RecordingJournal()
    journal.fail_for = {2}
    hand_over = HandOver.of("outbox", journal, None)
    with pytest.raises(TransportError) as error:
        hand_over.commit(1, 2)
    assert str(error.value) == "outbox: not sent, the hand-over could not be recorded: disk full"
    assert not error.value.permanent
    assert isinstance(error.value.__cause__, OSError)


def test_a_request_waits_for_all_its_messages_then_marks_them() -> None:
    order = _Order()
    messages = [make_message(key, f"r{key}@example.net") for key in (4, 5, 6)]
    HandOver.of("postmark", order, order).before(messages)
    # For good: only the provider knows whether a request in flight at a crash arrived.
    assert order.calls == [("acquire", (3,)), ("point_of_no_return final", (4, 5, 6))]


def test_an_answer_takes_back_what_it_did_not_accept() -> None:
    order = _Order()
    hand_over = HandOver.of("sendgrid", order, None)
    messages = [make_message(key, f"r{key}@example.net") for key in (1, 2, 3, 4)]
    outcomes = [
        Outcome(Status.SENT),
        Outcome(Status.REJECTED),
        Outcome(Status.SENT),
        Outcome(Status.RETRY),
    ]
    hand_over.answered(messages, outcomes)
    assert order.calls == [("not_accepted", (2, 4))]


def test_nothing_to_take_back_does_not_reach_the_journal() -> None:
    order = _Order()
    hand_over = HandOver.of("sendgrid", order, None)
    hand_over.answered([make_message(1, "ana@example.net")], [Outcome(Status.SENT)])
    hand_over.take_back()
    assert order.calls == []


class _Noting(Transport):
    name = "noting"
    max_batch = 10
    wants_raw = True

    def __init__(self) -> None:
        self.handed: list[HandOver] = []

    def deliver(
        self, content: Content, messages: Sequence[OutgoingMessage], hand_over: HandOver
    ) -> list[Outcome]:
        self.handed.append(hand_over)
        return [Outcome(Status.SENT)] * len(messages)

    def close(self) -> None:
        pass


def test_send_batch_hands_every_transport_a_hand_over(content: Content) -> None:
    transport = _Noting()
    journal, limiter = RecordingJournal(), CountingLimiter()
    assert transport.send_batch(content, [make_message(1, "ana@example.net")]) == [
        Outcome(Status.SENT)
    ]
    transport.send_batch(content, [make_message(2, "raj@example.net")], journal, limiter)
    assert transport.handed == [
        HandOver("noting", NULL_JOURNAL, NULL_LIMITER),
        HandOver("noting", journal, limiter),
    ]


def test_an_empty_batch_reaches_no_transport(content: Content) -> None:
    transport = _Noting()
    assert transport.send_batch(content, []) == []
    assert transport.handed == []
