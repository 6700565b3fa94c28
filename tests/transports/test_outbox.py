from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from newsletter.core.settings import Settings
from newsletter.transports import make_transport
from newsletter.transports.base import Content, OutgoingMessage, Status, TransportError
from newsletter.transports.outbox import OutboxTransport, file_name
from tests.transports.conftest import make_message
from tests.transports.journals import CountingLimiter, RecordingJournal


def test_each_message_becomes_a_file_that_parses(tmp_path: Path, content: Content) -> None:
    transport = OutboxTransport(tmp_path / "outbox")
    batch = [make_message(1, "ana@example.net"), make_message(2, "raj@example.net")]
    outcomes = transport.send_batch(content, batch)
    assert [o.status for o in outcomes] == [Status.SENT] * 2
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [
        "1-ana@example.net.eml",
        "2-raj@example.net.eml",
    ]
    for message, outcome in zip(batch, outcomes, strict=True):
        path = tmp_path / "outbox" / str(outcome.provider_id)
        assert path.read_bytes() == message.data
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert parsed["To"] == message.recipient
        assert parsed["Message-ID"] == message.headers["Message-ID"]


def test_sending_again_replaces_the_file_and_leaves_no_temporary(
    tmp_path: Path, content: Content
) -> None:
    transport = OutboxTransport(tmp_path)
    first = make_message(5, "ana@example.net", data=b"Subject: one\r\n\r\nfirst\r\n")
    again = make_message(5, "ana@example.net", data=b"Subject: two\r\n\r\nsecond\r\n")
    transport.send_batch(content, [first])
    transport.send_batch(content, [again])
    assert [p.name for p in tmp_path.iterdir()] == ["5-ana@example.net.eml"]
    assert (tmp_path / "5-ana@example.net.eml").read_bytes() == again.data


@pytest.mark.parametrize(
    ("recipient", "expected"),
    [
        ("ana@example.net", "7-ana@example.net.eml"),
        ("../../etc/passwd", "7-etc_passwd.eml"),
        ("a b/c\\d@x.org", "7-a_b_c_d@x.org.eml"),
        ("...", "7-recipient.eml"),
    ],
)
def test_file_names_are_safe(recipient: str, expected: str) -> None:
    message = OutgoingMessage(key=7, recipient=recipient, sender="b@example.org", data=b"")
    assert file_name(message) == expected


def test_an_unwritable_folder_is_a_transport_error(tmp_path: Path, content: Content) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TransportError, match="cannot create"):
        OutboxTransport(blocker / "outbox").send_batch(content, [make_message(1, "a@b.org")])


def test_the_default_folder_is_in_the_data_dir(tmp_path: Path) -> None:
    transport = make_transport(Settings(transport="outbox", data_dir=tmp_path / "data"))
    assert isinstance(transport, OutboxTransport)
    assert transport.folder == tmp_path / "data" / "outbox"


def test_each_file_is_journalled_before_it_appears(tmp_path: Path, content: Content) -> None:
    folder = tmp_path / "outbox"

    def not_yet_written(key: int) -> None:
        assert not list(folder.glob(f"{key}-*.eml"))

    journal = RecordingJournal(check=not_yet_written)
    limiter = CountingLimiter()
    batch = [make_message(1, "ana@example.net"), make_message(2, "zoe@example.net")]
    outcomes = OutboxTransport(folder).send_batch(content, batch, journal, limiter)
    assert [o.status for o in outcomes] == [Status.SENT, Status.SENT]
    assert journal.handed_over == [1, 2]
    assert limiter.requests == [1, 1]


def test_a_file_the_journal_cannot_record_is_not_written(tmp_path: Path, content: Content) -> None:
    journal = RecordingJournal()
    journal.fail_for = {1}
    transport = OutboxTransport(tmp_path)
    with pytest.raises(TransportError, match="outbox: not sent, the hand-over could not be"):
        transport.send_batch(content, [make_message(1, "ana@example.net")], journal)
    assert list(tmp_path.iterdir()) == []
    batch = [make_message(2, "raj@example.net"), make_message(1, "ana@example.net")]
    outcomes = transport.send_batch(content, batch, journal)
    assert [o.status for o in outcomes] == [Status.SENT, Status.RETRY]
    assert "could not be recorded: disk full" in outcomes[1].detail
    assert [p.name for p in tmp_path.iterdir()] == ["2-raj@example.net.eml"]
