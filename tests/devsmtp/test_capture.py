from __future__ import annotations

import email
import smtplib
import threading
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest

from newsletter.devsmtp.capture import (
    CaptureHandler,
    DevSmtpError,
    Mailbox,
    MessageStore,
    parse_summary,
)
from newsletter.devsmtp.smtpd import CaptureController
from tests.browser import free_port, send_mail
from tests.devsmtp.messages import build


@pytest.fixture
def store() -> MessageStore:
    return MessageStore()


@pytest.fixture
def smtp_port(store: MessageStore) -> Iterator[int]:
    controller = CaptureController(
        CaptureHandler(store), hostname="127.0.0.1", port=free_port(), server_hostname="test"
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def test_a_sent_message_is_stored_with_its_envelope_and_bytes(
    store: MessageStore, smtp_port: int
) -> None:
    raw = build("Seminar: Genocide and Ethnic cleansing", message_id="<abc@example.org>")
    code, reply = send_mail(
        smtp_port, raw, sender="bounce@example.org", recipients=["ana@example.org", "b@x.org"]
    )

    [message] = store.newest_first()
    assert code == 250
    assert reply.decode() == f"2.0.0 Ok: queued as {message.id}"
    assert message.envelope_from == "bounce@example.org"
    assert message.envelope_to == ("ana@example.org", "b@x.org")
    assert message.raw == raw
    assert message.size == len(raw)
    summary = message.summary
    assert summary.subject == "Seminar: Genocide and Ethnic cleansing"
    assert summary.sender == (Mailbox("MUSLIM Institute", "newsletter@example.org"),)
    assert summary.to == (Mailbox("Ana Reader", "ana@example.org"),)
    assert summary.message_id == "<abc@example.org>"
    assert summary.date == "Thu, 24 Feb 2022 10:00:00 +0500"
    assert store.get(message.id) is message


def test_encoded_headers_are_decoded_for_display(store: MessageStore, smtp_port: int) -> None:
    raw = build("Über die Tagung — ein Bericht", to="Zoë Émile <zoe@example.org>, b@example.org")
    assert b"=?utf-8?" in raw
    send_mail(smtp_port, raw)

    summary = store.newest_first()[0].summary
    assert summary.subject == "Über die Tagung — ein Bericht"
    assert [str(box) for box in summary.to] == ["Zoë Émile <zoe@example.org>", "b@example.org"]


def test_messages_sent_on_one_connection_are_listed_newest_first(
    store: MessageStore, smtp_port: int
) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        for number in range(3):
            client.sendmail("a@example.org", ["b@example.org"], build(f"Issue {number}"))

    assert [m.summary.subject for m in store.newest_first()] == ["Issue 2", "Issue 1", "Issue 0"]
    assert [m.summary.subject for m in store] == ["Issue 0", "Issue 1", "Issue 2"]
    assert len({m.id for m in store}) == 3


def test_the_cap_drops_the_oldest_messages(smtp_port: int, store: MessageStore) -> None:
    store.limit = 3
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        for number in range(5):
            client.sendmail("a@example.org", ["b@example.org"], build(f"Issue {number}"))

    assert [m.summary.subject for m in store] == ["Issue 2", "Issue 3", "Issue 4"]
    assert len(store) == 3
    assert store.dropped == 2


def test_save_writes_every_message_as_a_parseable_eml(tmp_path: Path) -> None:
    folder = tmp_path / "captured" / "mail"
    store = MessageStore(limit=1, save_dir=folder)
    first = store.add("a@example.org", ["b@example.org"], build("First", message_id="<1@x>"))
    second = store.add("a@example.org", ["b@example.org"], build("Second", message_id="<2@x>"))

    files = sorted(folder.iterdir())
    assert [path.suffix for path in files] == [".eml", ".eml"]
    assert files[0].name.endswith(f"-{first.id}.eml")
    assert files[1].name.endswith(f"-{second.id}.eml")
    # Dropped from memory by the limit of 1, but still on disk.
    assert store.get(first.id) is None
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["Subject"] == "First"
    assert parsed["Message-ID"] == "<1@x>"
    assert files[0].read_bytes() == first.raw


def test_save_through_smtp(tmp_path: Path) -> None:
    store = MessageStore(save_dir=tmp_path)
    controller = CaptureController(
        CaptureHandler(store), hostname="127.0.0.1", port=free_port(), server_hostname="test"
    )
    controller.start()
    try:
        send_mail(controller.port, build("Saved"))
    finally:
        controller.stop()

    [path] = tmp_path.glob("*.eml")
    assert email.message_from_bytes(path.read_bytes())["Subject"] == "Saved"
    assert not list(tmp_path.glob(".*"))


def test_a_message_that_cannot_be_saved_is_refused_for_retry(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    store = MessageStore(save_dir=folder)
    folder.rmdir()
    controller = CaptureController(
        CaptureHandler(store), hostname="127.0.0.1", port=free_port(), server_hostname="test"
    )
    controller.start()
    try:
        code, reply = send_mail(controller.port, build())
    finally:
        controller.stop()
    assert code == 451
    assert b"cannot save the message" in reply
    assert len(store) == 0


def test_a_save_folder_that_cannot_be_created_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DevSmtpError, match=r"cannot create .*file/mail"):
        MessageStore(save_dir=blocker / "mail")


@pytest.mark.parametrize("limit", [0, -5])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    with pytest.raises(DevSmtpError, match="at least 1"):
        MessageStore(limit=limit)


def test_search_matches_subject_header_recipient_and_envelope_ignoring_case(
    store: MessageStore,
) -> None:
    store.add("a@x.org", ["ana@example.org"], build("Seminar report", to="Ana <ana@example.org>"))
    store.add("a@x.org", ["bob@example.org"], build("Invitation", to="Bob Stone <bob@example.org>"))
    store.add("a@x.org", ["list-7@lists.example.org"], build("Digest", to="Members <m@x.org>"))

    def subjects(query: str) -> list[str]:
        return [message.summary.subject for message in store.newest_first(query)]

    assert subjects("SEMINAR") == ["Seminar report"]
    assert subjects("bob stone") == ["Invitation"]
    assert subjects("lists.example") == ["Digest"]
    assert subjects("example.org") == ["Digest", "Invitation", "Seminar report"]
    assert subjects("  ") == ["Digest", "Invitation", "Seminar report"]
    assert subjects("nobody") == []


def test_clear_forgets_everything_and_counts(store: MessageStore) -> None:
    kept = store.add("a@x.org", ["b@x.org"], build())
    store.add("a@x.org", ["b@x.org"], build())
    assert store.clear() == 2
    assert len(store) == 0
    assert store.get(kept.id) is None
    assert store.clear() == 0


def test_concurrent_senders_lose_nothing(store: MessageStore, smtp_port: int) -> None:
    def sender(worker: int) -> None:
        with smtplib.SMTP("127.0.0.1", smtp_port) as client:
            for number in range(10):
                client.sendmail("a@x.org", [f"w{worker}@x.org"], build(f"{worker}-{number}"))

    threads = [threading.Thread(target=sender, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    subjects = sorted(message.summary.subject for message in store)
    assert subjects == sorted(f"{w}-{n}" for w in range(4) for n in range(10))


def test_a_summary_of_a_message_without_headers_is_empty() -> None:
    summary = parse_summary(b"just a body line\r\n")
    assert (summary.subject, summary.sender, summary.to, summary.message_id) == ("", (), (), "")


def test_a_summary_reads_only_the_header_block() -> None:
    raw = b"Subject: real\r\n\r\nSubject: in the body\r\nTo: nobody@x.org\r\n"
    summary = parse_summary(raw)
    assert summary.subject == "real"
    assert summary.to == ()


def test_folded_and_malformed_headers_still_summarise() -> None:
    raw = (
        b"Subject: a long subject\r\n folded onto a second line\r\n"
        b"To: undisclosed-recipients:;\r\n"
        b"From: =?unknown-charset?q?x?= <a@x.org>\r\n\r\nbody\r\n"
    )
    summary = parse_summary(raw)
    assert summary.subject == "a long subject folded onto a second line"
    assert summary.to == ()
    assert summary.sender[0].address == "a@x.org"
