"""Real keys and certificates, and requests signed with them the way each provider does.

Each signer follows the provider's documentation on its own (the string SNS signs is
spelled out here again, not taken from newsletter.webhooks), so the tests check our
verification against the documented format rather than against itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"


def now() -> datetime:
    return datetime.now(UTC)


def sns_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


@dataclass
class SnsSigner:
    """An RSA key with a self-signed certificate, like the one SNS publishes per region."""

    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    valid_from: datetime = field(default_factory=lambda: now() - timedelta(days=1))
    valid_until: datetime = field(default_factory=lambda: now() + timedelta(days=30))

    def certificate_pem(self) -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.valid_from)
            .not_valid_after(self.valid_until)
            .sign(self.key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, message: dict[str, str], cert_url: str, version: str = "1") -> dict[str, str]:
        """`message` with SignatureVersion, SigningCertURL and Signature added."""
        if message["Type"] == "Notification":
            names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            names = [
                "Message",
                "MessageId",
                "SubscribeURL",
                "Timestamp",
                "Token",
                "TopicArn",
                "Type",
            ]
        signed = "".join(f"{name}\n{message[name]}\n" for name in names if name in message)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(signed.encode(), padding.PKCS1v15(), algorithm)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": cert_url,
        }


def sns_notification(
    ses_notification: dict[str, Any],
    *,
    topic: str = TOPIC,
    at: datetime | None = None,
    subject: str | None = "Amazon SES Email Event Notification",
) -> dict[str, str]:
    message = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(ses_notification),
        "Timestamp": sns_time(at or now()),
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }
    if subject is not None:
        message["Subject"] = subject
    return message


def sns_subscription_confirmation(
    subscribe_url: str, *, topic: str = TOPIC, at: datetime | None = None
) -> dict[str, str]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd",
        "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": subscribe_url,
        "Timestamp": sns_time(at or now()),
    }


def ses_bounce(
    *emails: str, bounce_type: str = "Permanent", sub_type: str = "General"
) -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": [
                {
                    "emailAddress": email,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": f"smtp; 550 5.1.1 <{email}>... User unknown",
                }
                for email in emails
            ],
            "timestamp": "2016-01-27T14:59:38.237Z",
            "feedbackId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000",
            "reportingMTA": "dsn; email.example.com",
        },
        "mail": {
            "timestamp": "2016-01-27T14:59:38.237Z",
            "source": "newsletter@example.org",
            "messageId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
            "destination": list(emails),
        },
    }


def ses_complaint(*emails: str, feedback_type: str = "abuse") -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {
            "userAgent": "AnyCompany Feedback Loop (V0.01)",
            "complainedRecipients": [{"emailAddress": email} for email in emails],
            "complaintFeedbackType": feedback_type,
            "arrivalDate": "2016-01-27T14:59:38.237Z",
            "timestamp": "2016-01-27T14:59:38.237Z",
            "feedbackId": "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000",
        },
        "mail": {
            "timestamp": "2016-01-27T14:59:38.237Z",
            "source": "newsletter@example.org",
            "messageId": "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000",
            "destination": list(emails),
        },
    }


@dataclass
class SendGridSigner:
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def public_key(self) -> str:
        """As SendGrid shows it under Mail Settings: base64 of the DER public key."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def headers(self, body: bytes, at: datetime | None = None) -> dict[str, str]:
        timestamp = str(int((at or now()).timestamp()))
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        }


def sendgrid_event(event: str, email: str, **fields: Any) -> dict[str, Any]:
    return {
        "email": email,
        "timestamp": int(now().timestamp()),
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": event,
        "category": "newsletter",
        "sg_event_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **fields,
    }


MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def mailgun_payload(
    event_data: dict[str, Any], *, key: str = MAILGUN_KEY, at: datetime | None = None
) -> dict[str, Any]:
    timestamp = str(int((at or now()).timestamp()))
    token = uuid.uuid4().hex + uuid.uuid4().hex[:18]  # 50 characters, as Mailgun's
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": event_data,
    }


def mailgun_event(event: str, email: str, **fields: Any) -> dict[str, Any]:
    return {
        "event": event,
        "id": uuid.uuid4().hex[:22],
        "timestamp": now().timestamp(),
        "recipient": email,
        "message": {"headers": {"message-id": "20130503182626.18666.16540@example.org"}},
        **fields,
    }


def mailgun_failure(email: str, severity: str, **fields: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "severity": severity,
        "reason": "bounce" if severity == "permanent" else "generic",
        "delivery-status": {
            "code": 550 if severity == "permanent" else 452,
            "message": "5.1.1 The email account that you tried to reach does not exist",
            "description": "",
        },
    }
    return mailgun_event("failed", email, **{**defaults, **fields})


def postmark_bounce(email: str, bounce_type: str = "HardBounce", **fields: Any) -> dict[str, Any]:
    return {
        "RecordType": "Bounce",
        "ID": int(uuid.uuid4().int % 10**10),
        "Type": bounce_type,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": str(uuid.uuid4()),
        "ServerID": 23,
        "MessageStream": "broadcast",
        "Description": "The server was unable to deliver your message (ex: unknown user, "
        "mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "newsletter@example.org",
        "BouncedAt": sns_time(now()),
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Seminar report",
        **fields,
    }


def postmark_complaint(email: str) -> dict[str, Any]:
    return {
        **postmark_bounce(email, "SpamComplaint", TypeCode=512, Name="Spam complaint"),
        "RecordType": "SpamComplaint",
    }


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
