from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from cryptography import x509

from newsletter.core.settings import Settings
from newsletter.webhooks import sns
from newsletter.webhooks.reports import Malformed, ReportKind, Stale, Unauthenticated
from tests.webhooks.signing import (
    TOPIC,
    SnsSigner,
    now,
    ses_bounce,
    ses_complaint,
    sns_notification,
    sns_subscription_confirmation,
)

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"
MAX_AGE = timedelta(minutes=5)
DEFAULT_PATTERN = re.compile(Settings().sns_url_pattern)


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner()


@pytest.fixture(scope="module")
def certificate(signer: SnsSigner) -> x509.Certificate:
    return x509.load_pem_x509_certificate(signer.certificate_pem())


def parsed(document: dict[str, str]) -> sns.SnsMessage:
    return sns.parse(json.dumps(document).encode())


def test_string_to_sign_is_the_documented_one() -> None:
    # The example in the SNS developer guide, "Verifying the signatures of SNS messages".
    message = parsed(
        {
            "Type": "Notification",
            "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
            "TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
            "Subject": "My subject",
            "Message": "My Test Message",
            "Timestamp": "2019-01-31T04:37:04.321Z",
            "SignatureVersion": "1",
            "Signature": "AAAA",
            "SigningCertURL": CERT_URL,
            "UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe",
        }
    )
    assert sns.string_to_sign(message) == (
        b"Message\nMy Test Message\n"
        b"MessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n"
        b"Subject\nMy subject\n"
        b"Timestamp\n2019-01-31T04:37:04.321Z\n"
        b"TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n"
        b"Type\nNotification\n"
    )
    confirmation = parsed(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "3d891288-136d-417f-bc05-901c108273ee",
            "Token": "233",
            "TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
            "Message": "My Test Message",
            "SubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription",
            "Timestamp": "2019-01-31T19:25:13.719Z",
            "SignatureVersion": "1",
            "Signature": "AAAA",
            "SigningCertURL": CERT_URL,
        }
    )
    assert sns.string_to_sign(confirmation) == (
        b"Message\nMy Test Message\n"
        b"MessageId\n3d891288-136d-417f-bc05-901c108273ee\n"
        b"SubscribeURL\nhttps://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription\n"
        b"Timestamp\n2019-01-31T19:25:13.719Z\n"
        b"Token\n233\n"
        b"TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n"
        b"Type\nSubscriptionConfirmation\n"
    )


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("subject", ["Amazon SES Email Event Notification", None])
def test_signatures_of_both_versions_verify(
    signer: SnsSigner, certificate: x509.Certificate, version: str, subject: str | None
) -> None:
    document = signer.sign(
        sns_notification(ses_bounce("ana@example.org"), subject=subject), CERT_URL, version
    )
    sns.verify(parsed(document), certificate, now=now(), max_age=MAX_AGE)


def test_a_subscription_confirmation_verifies(
    signer: SnsSigner, certificate: x509.Certificate
) -> None:
    document = signer.sign(sns_subscription_confirmation("https://sns.x/?a=1"), CERT_URL, "2")
    message = parsed(document)
    sns.verify(message, certificate, now=now(), max_age=MAX_AGE)
    assert message.subscribe_url == "https://sns.x/?a=1"


@pytest.mark.parametrize(
    "field, value",
    [
        ("Message", json.dumps(ses_bounce("someone-else@example.org"))),
        ("TopicArn", "arn:aws:sns:eu-west-1:123456789012:other"),
        ("Subject", "changed"),
        ("MessageId", "00000000-0000-0000-0000-000000000000"),
    ],
)
def test_any_change_to_a_signed_field_fails(
    signer: SnsSigner, certificate: x509.Certificate, field: str, value: str
) -> None:
    document = signer.sign(sns_notification(ses_bounce("ana@example.org")), CERT_URL, "2")
    document[field] = value
    with pytest.raises(Unauthenticated, match="signature does not match"):
        sns.verify(parsed(document), certificate, now=now(), max_age=MAX_AGE)


def test_a_signature_by_another_key_fails(certificate: x509.Certificate) -> None:
    document = SnsSigner().sign(sns_notification(ses_bounce("ana@example.org")), CERT_URL)
    with pytest.raises(Unauthenticated, match="signature does not match"):
        sns.verify(parsed(document), certificate, now=now(), max_age=MAX_AGE)


def test_a_sha1_signature_claimed_as_version_2_fails(
    signer: SnsSigner, certificate: x509.Certificate
) -> None:
    document = signer.sign(sns_notification(ses_bounce("ana@example.org")), CERT_URL, "1")
    document["SignatureVersion"] = "2"
    with pytest.raises(Unauthenticated):
        sns.verify(parsed(document), certificate, now=now(), max_age=MAX_AGE)


def test_unknown_signature_versions_and_garbage_signatures_fail(
    signer: SnsSigner, certificate: x509.Certificate
) -> None:
    document = signer.sign(sns_notification(ses_bounce("ana@example.org")), CERT_URL, "2")
    with pytest.raises(Unauthenticated, match="SignatureVersion"):
        sns.verify(
            parsed({**document, "SignatureVersion": "3"}), certificate, now=now(), max_age=MAX_AGE
        )
    with pytest.raises(Unauthenticated):
        sns.verify(
            parsed({**document, "Signature": "not base64!"}),
            certificate,
            now=now(),
            max_age=MAX_AGE,
        )


def test_an_expired_certificate_fails() -> None:
    signer = SnsSigner(valid_from=now() - timedelta(days=60), valid_until=now() - timedelta(days=1))
    certificate = x509.load_pem_x509_certificate(signer.certificate_pem())
    document = signer.sign(sns_notification(ses_bounce("ana@example.org")), CERT_URL, "2")
    with pytest.raises(Unauthenticated, match="not valid now"):
        sns.verify(parsed(document), certificate, now=now(), max_age=MAX_AGE)


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_timestamps_outside_the_window_are_stale(
    signer: SnsSigner, certificate: x509.Certificate, offset: timedelta
) -> None:
    document = signer.sign(
        sns_notification(ses_bounce("ana@example.org"), at=now() + offset), CERT_URL, "2"
    )
    with pytest.raises(Stale):
        sns.verify(parsed(document), certificate, now=now(), max_age=MAX_AGE)
    sns.verify(parsed(document), certificate, now=now(), max_age=timedelta(minutes=7))


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
    ],
)
def test_sns_certificate_urls_pass(url: str) -> None:
    sns.check_url(url, DEFAULT_PATTERN, certificate=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com.example.org/cert.pem",
        "https://example.org/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com@example.org/cert.pem",
        "https://example.org@sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://s3.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com/cert.txt",
        "file:///etc/passwd",
        "",
    ],
)
def test_other_certificate_urls_are_refused(url: str) -> None:
    with pytest.raises(Unauthenticated):
        sns.check_url(url, DEFAULT_PATTERN, certificate=True)


def test_subscribe_urls_need_the_host_but_not_a_pem_path() -> None:
    sns.check_url(
        "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=1", DEFAULT_PATTERN
    )
    with pytest.raises(Unauthenticated):
        sns.check_url("https://example.org/?Action=ConfirmSubscription", DEFAULT_PATTERN)


def test_only_configured_topics_pass(signer: SnsSigner) -> None:
    message = parsed(signer.sign(sns_notification(ses_bounce("a@example.org")), CERT_URL))
    sns.check_topic(message, {TOPIC})
    with pytest.raises(Unauthenticated, match="not a configured topic"):
        sns.check_topic(message, {"arn:aws:sns:eu-west-1:123456789012:other"})


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"Type": "Other"}',
        b'{"Type": "Notification", "MessageId": "1"}',
    ],
)
def test_malformed_messages(body: bytes) -> None:
    with pytest.raises(Malformed):
        sns.parse(body)


def test_a_timestamp_without_its_zone_is_malformed() -> None:
    for timestamp in ("yesterday", "2024-01-31T04:37:04"):
        document = {**sns_notification_signed({}), "Timestamp": timestamp}
        with pytest.raises(Malformed):
            parsed(document)


def sns_notification_signed(notification: dict[str, object]) -> dict[str, str]:
    document = sns_notification(notification)
    return {**document, "SignatureVersion": "1", "Signature": "AAAA", "SigningCertURL": CERT_URL}


def reports_of(notification: dict[str, object]) -> list[tuple[ReportKind, str, str]]:
    message = parsed(sns_notification_signed(notification))
    found = sns.reports(message)
    assert {report.event_id for report in found} <= {message.message_id}
    assert {report.provider for report in found} <= {"ses"}
    return [(report.kind, report.email, report.detail) for report in found]


def test_a_permanent_bounce_is_a_hard_bounce_for_each_recipient() -> None:
    found = reports_of(ses_bounce("ana@example.org", "Bo <bo@example.org>"))
    assert [(kind, email) for kind, email, _ in found] == [
        (ReportKind.HARD_BOUNCE, "ana@example.org"),
        (ReportKind.HARD_BOUNCE, "bo@example.org"),
    ]
    assert found[0][2] == "Permanent/General: smtp; 550 5.1.1 <ana@example.org>... User unknown"


@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined"])
def test_transient_and_undetermined_bounces_are_soft(bounce_type: str) -> None:
    found = reports_of(
        ses_bounce("ana@example.org", bounce_type=bounce_type, sub_type="MailboxFull")
    )
    assert [(kind, email) for kind, email, _ in found] == [
        (ReportKind.SOFT_BOUNCE, "ana@example.org")
    ]


def test_complaints_and_event_publishing_notifications() -> None:
    assert reports_of(ses_complaint("ana@example.org")) == [
        (ReportKind.COMPLAINT, "ana@example.org", "complaint (abuse)")
    ]
    published = ses_bounce("ana@example.org")
    published["eventType"] = published.pop("notificationType")
    assert [kind for kind, _, _ in reports_of(published)] == [ReportKind.HARD_BOUNCE]


def test_other_notifications_report_nothing() -> None:
    assert reports_of(ses_complaint("ana@example.org", feedback_type="not-spam")) == []
    assert reports_of({"notificationType": "Delivery", "delivery": {}}) == []
    assert reports_of({"notificationType": "Bounce", "bounce": "?"}) == []
    message = parsed({**sns_notification_signed({}), "Message": "plain text, not SES"})
    assert sns.reports(message) == []
