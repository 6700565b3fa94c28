"""Amazon SES feedback through SNS: the message, its signature, and the SES notification.

SNS posts a JSON document and signs it with RSA: the base64 `Signature` is over a string
of selected name/value pairs (each name, a newline, its value, a newline, in byte order of
the names), hashed with SHA-1 (`SignatureVersion` 1) or SHA-256 (2). The certificate comes
from `SigningCertURL`, which must be an SNS URL (`check_url`): otherwise anyone could sign
with a certificate of their own. Checking the topic matters as much, since anyone with an
AWS account can have SNS sign messages: only the configured topics count.

A `SubscriptionConfirmation` is answered by fetching its `SubscribeURL` (an SNS URL too);
a `Notification` carries the SES notification as its `Message`: a `Bounce`
(`Permanent` is a hard bounce, `Transient` and `Undetermined` soft ones) or a `Complaint`,
each for one or more recipients. Its `MessageId` identifies a replay (SNS keeps it when it
retries).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from newsletter.webhooks.reports import (
    Malformed,
    Report,
    ReportKind,
    Unauthenticated,
    address,
    check_fresh,
    iso_time,
    json_body,
    loads,
    text,
)

PROVIDER = "ses"
NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

# The signed names of each type, in byte order; "Subject" only when the message has one.
_SIGNED = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED[UNSUBSCRIBE_CONFIRMATION] = _SIGNED[SUBSCRIPTION_CONFIRMATION]
_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

_BOUNCE_KINDS = {
    "Permanent": ReportKind.HARD_BOUNCE,
    "Transient": ReportKind.SOFT_BOUNCE,
    "Undetermined": ReportKind.SOFT_BOUNCE,
}


@dataclass(frozen=True)
class SnsMessage:
    type: str
    message_id: str
    topic_arn: str
    timestamp: datetime
    signing_cert_url: str
    fields: Mapping[str, str]

    @property
    def subscribe_url(self) -> str:
        return self.fields.get("SubscribeURL", "")

    @property
    def message(self) -> str:
        return self.fields["Message"]


def parse(body: bytes) -> SnsMessage:
    document = json_body(body)
    if not isinstance(document, dict):
        raise Malformed("expected a JSON object")
    kind = document.get("Type")
    if kind not in _SIGNED:
        raise Malformed(f"not an SNS message type: {str(kind)[:40]!r}")
    fields = {name: value for name, value in document.items() if isinstance(value, str)}
    required = [n for n in _SIGNED[kind] if n != "Subject"]
    required += ["Signature", "SignatureVersion", "SigningCertURL"]
    missing = [name for name in required if name not in fields]
    if missing:
        raise Malformed(f"missing {', '.join(missing)}")
    return SnsMessage(
        type=kind,
        message_id=fields["MessageId"],
        topic_arn=fields["TopicArn"],
        timestamp=iso_time(fields["Timestamp"]),
        signing_cert_url=fields["SigningCertURL"],
        fields=fields,
    )


def string_to_sign(message: SnsMessage) -> bytes:
    lines = []
    for name in _SIGNED[message.type]:
        if name in message.fields:
            lines += [name, message.fields[name]]
    return ("\n".join(lines) + "\n").encode()


def check_url(url: str, pattern: re.Pattern[str], *, certificate: bool = False) -> None:
    """Unauthenticated unless `url`'s scheme and host match `pattern` in full."""
    parts = urlsplit(url)
    # The pattern sees scheme and host; user info would let "sns...@elsewhere" through a
    # loose pattern, and is never part of an SNS URL.
    if "@" in parts.netloc or not pattern.fullmatch(f"{parts.scheme}://{parts.netloc}"):
        raise Unauthenticated(f"not an SNS URL: {url[:100]!r}")
    if certificate and not parts.path.endswith(".pem"):
        raise Unauthenticated(f"not an SNS certificate URL: {url[:100]!r}")


def check_topic(message: SnsMessage, topics: Collection[str]) -> None:
    if message.topic_arn not in topics:
        raise Unauthenticated(f"not a configured topic: {message.topic_arn[:200]!r}")


def verify(
    message: SnsMessage,
    certificate: x509.Certificate,
    *,
    now: datetime,
    max_age: timedelta,
) -> None:
    """Unauthenticated unless `certificate` signed this message, recently."""
    algorithm = _HASHES.get(message.fields["SignatureVersion"])
    if algorithm is None:
        raise Unauthenticated("unknown SignatureVersion")
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Unauthenticated("the signing certificate is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Unauthenticated("the signing certificate has no RSA key")
    try:
        signature = base64.b64decode(message.fields["Signature"], validate=True)
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm())
    except (binascii.Error, InvalidSignature):
        raise Unauthenticated("the signature does not match") from None
    check_fresh(message.timestamp, now, max_age)


def reports(message: SnsMessage) -> list[Report]:
    """The bounces and complaints in a Notification; nothing for any other content."""
    try:
        notification = loads(message.message)
    except ValueError:
        return []
    if not isinstance(notification, dict):
        return []
    # "notificationType" for feedback notifications, "eventType" for event publishing.
    kind = notification.get("notificationType") or notification.get("eventType")
    if kind == "Bounce":
        return _bounces(message.message_id, notification.get("bounce"))
    if kind == "Complaint":
        return _complaints(message.message_id, notification.get("complaint"))
    return []


def _bounces(message_id: str, bounce: Any) -> list[Report]:
    if not isinstance(bounce, dict):
        return []
    kind = _BOUNCE_KINDS.get(str(bounce.get("bounceType")))
    if kind is None:
        return []
    summary = f"{bounce.get('bounceType')}/{bounce.get('bounceSubType', '')}".rstrip("/")
    found = []
    for recipient in _list(bounce.get("bouncedRecipients")):
        email = address(recipient.get("emailAddress"))
        if email is None:
            continue
        reply = text(recipient.get("diagnosticCode") or recipient.get("status"))
        detail = f"{summary}: {reply}" if reply else summary
        found.append(Report(PROVIDER, message_id, kind, email, detail))
    return found


def _complaints(message_id: str, complaint: Any) -> list[Report]:
    if not isinstance(complaint, dict):
        return []
    feedback = text(complaint.get("complaintFeedbackType"), 40)
    # The recipient's own mail program telling the sender the message was not spam.
    if feedback == "not-spam":
        return []
    detail = f"complaint ({feedback})" if feedback else "complaint"
    return [
        Report(PROVIDER, message_id, ReportKind.COMPLAINT, email, detail)
        for recipient in _list(complaint.get("complainedRecipients"))
        if (email := address(recipient.get("emailAddress"))) is not None
    ]


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
