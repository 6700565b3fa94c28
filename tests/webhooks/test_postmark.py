from __future__ import annotations

import json

import pytest

from newsletter.webhooks import postmark
from newsletter.webhooks.reports import Malformed, ReportKind
from tests.webhooks.signing import basic_auth, postmark_bounce, postmark_complaint


def header(user: str, password: str) -> str:
    return basic_auth(user, password)["Authorization"]


def test_the_right_credentials_pass() -> None:
    postmark.check_credentials(
        header("postmark", "s3cret:with colon"), "postmark", "s3cret:with colon"
    )


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer abc",
        "Basic !!!",
        "Basic " + "bm9jb2xvbg==",  # "nocolon"
        header("postmark", "wrong"),
        header("other", "s3cret"),
        header("postmark", "s3cret2"),
    ],
)
def test_anything_else_is_unauthorised(authorization: str | None) -> None:
    with pytest.raises(postmark.Unauthorised):
        postmark.check_credentials(authorization, "postmark", "s3cret")


def kinds(record: dict[str, object]) -> list[tuple[ReportKind, str]]:
    return [(r.kind, r.email) for r in postmark.reports(json.dumps(record).encode())]


@pytest.mark.parametrize(
    "bounce_type, kind",
    [
        ("HardBounce", ReportKind.HARD_BOUNCE),
        ("BadEmailAddress", ReportKind.HARD_BOUNCE),
        ("SoftBounce", ReportKind.SOFT_BOUNCE),
        ("Transient", ReportKind.SOFT_BOUNCE),
        ("DnsError", ReportKind.SOFT_BOUNCE),
        ("Blocked", ReportKind.SOFT_BOUNCE),
    ],
)
def test_bounce_types(bounce_type: str, kind: ReportKind) -> None:
    assert kinds(postmark_bounce("a@example.org", bounce_type)) == [(kind, "a@example.org")]


@pytest.mark.parametrize("bounce_type", ["AutoResponder", "DMARCPolicy", "Unknown", "Subscribe"])
def test_other_bounce_types_are_ignored(bounce_type: str) -> None:
    assert kinds(postmark_bounce("a@example.org", bounce_type)) == []


def test_spam_complaints_and_other_records() -> None:
    assert kinds(postmark_complaint("a@example.org")) == [(ReportKind.COMPLAINT, "a@example.org")]
    assert kinds({"RecordType": "Delivery", "Email": "a@example.org", "ID": 1}) == []


def test_the_record_id_identifies_the_event() -> None:
    record = postmark_bounce("a@example.org")
    (report,) = postmark.reports(json.dumps(record).encode())
    assert report.event_id == f"Bounce:{record['ID']}"
    assert report.detail.startswith("HardBounce The server was unable to deliver your message")
    assert report.detail.endswith(
        ": smtp;550 5.1.1 The email account that you tried to reach does not exist."
    )


@pytest.mark.parametrize("body", [b"[]", b"nope"])
def test_bodies_that_are_not_records(body: bytes) -> None:
    with pytest.raises(Malformed):
        postmark.reports(body)
