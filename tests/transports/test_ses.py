"""SES v2 against moto in server mode (a real HTTP endpoint on loopback), plus a scripted
endpoint for the error answers moto cannot produce (throttling, suspension)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import (
    BotoCoreError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer
from moto.ses.models import ses_backends

from newsletter.core.errors import ConfigError
from newsletter.core.settings import Settings
from newsletter.transports import make_transport
from newsletter.transports.base import Content, Outcome, OutgoingMessage, Status, TransportError
from newsletter.transports.ses import SesTransport, classify_error, no_answer
from tests.transports.conftest import make_message
from tests.transports.fakes import Reply, ScriptedServer, json_reply
from tests.transports.journals import CountingLimiter, RecordingJournal
from tests.transports.smtp_servers import free_port

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def moto(moto_url: str, aws_env: None) -> Iterator[str]:
    requests.post(f"{moto_url}/moto-api/reset", timeout=5).raise_for_status()
    client = boto3.client("sesv2", region_name=REGION, endpoint_url=moto_url)
    client.create_email_identity(EmailIdentity="bounces@example.org")
    yield moto_url


def ses_transport(endpoint: str, **changes: object) -> SesTransport:
    values: dict[str, Any] = {
        "transport": "ses",
        "ses_region": REGION,
        "ses_endpoint_url": endpoint,
        "ses_concurrency": 4,
        "http_timeout": 5,
    }
    values.update(changes)
    transport = make_transport(Settings(**values))
    assert isinstance(transport, SesTransport)
    return transport


def test_raw_messages_arrive_as_built(moto: str, content: Content) -> None:
    batch = [make_message(i, f"r{i}@example.net") for i in range(6)]
    transport = ses_transport(moto)
    try:
        outcomes = transport.send_batch(content, batch)
    finally:
        transport.close()
    assert [o.status for o in outcomes] == [Status.SENT] * 6
    assert len({o.provider_id for o in outcomes}) == 6

    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert sorted(m.id for m in sent) == sorted(str(o.provider_id) for o in outcomes)
    by_id = {m.id: m for m in sent}
    for message, outcome in zip(batch, outcomes, strict=True):
        received = by_id[str(outcome.provider_id)]
        assert received.source == "bounces@example.org"
        assert message.recipient in received.destinations
        assert received.raw_data.encode() == message.data
        parsed = email.message_from_string(received.raw_data, policy=email.policy.default)
        assert parsed["Message-ID"] == message.headers["Message-ID"]


def test_an_unverified_sender_is_rejected_for_that_message(moto: str, content: Content) -> None:
    good = make_message(1, "ana@example.net")
    stranger = OutgoingMessage(
        key=2, recipient="raj@example.net", sender="someone@elsewhere.example", data=good.data
    )
    transport = ses_transport(moto)
    try:
        outcomes = transport.send_batch(content, [good, stranger])
    finally:
        transport.close()
    assert outcomes[0].status is Status.SENT
    assert outcomes[1].status is Status.REJECTED
    assert outcomes[1].detail.startswith("ses MessageRejected: Did not have authority")
    assert len(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages) == 1


def test_unknown_credentials_stop_the_batch(moto: str, content: Content) -> None:
    # moto checks credentials once told to; "testing" is no IAM user it knows.
    requests.post(f"{moto}/moto-api/reset-auth", data=b"0", timeout=5).raise_for_status()
    transport = ses_transport(moto)
    try:
        with pytest.raises(TransportError, match="InvalidClientTokenId") as error:
            transport.send_batch(content, [make_message(i, f"r{i}@example.net") for i in range(3)])
    finally:
        transport.close()
        requests.post(f"{moto}/moto-api/reset-auth", data=b"inf", timeout=5).raise_for_status()
    assert error.value.permanent
    assert ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages == []


def _aws_error(status: int, code: str, message: str) -> Reply:
    return json_reply(status, {"__type": code, "message": message}, {"x-amzn-ErrorType": code})


def test_throttling_is_retry_and_a_suspended_account_is_permanent(
    aws_env: None, content: Content
) -> None:
    server = ScriptedServer().start()
    transport = ses_transport(server.url)
    try:
        server.script(
            json_reply(200, {"MessageId": "first"}),
            _aws_error(429, "TooManyRequestsException", "Maximum sending rate exceeded."),
        )
        outcomes = transport.send_batch(
            content, [make_message(1, "ana@example.net"), make_message(2, "raj@example.net")]
        )
        assert [o.status for o in outcomes] == [Status.SENT, Status.RETRY]
        assert outcomes[0].provider_id == "first"
        assert "TooManyRequestsException" in outcomes[1].detail
        assert server.requests[0].path == "/v2/email/outbound-emails"

        server.script(_aws_error(400, "AccountSuspendedException", "Suspended."))
        with pytest.raises(TransportError, match="AccountSuspendedException") as error:
            transport.send_batch(content, [make_message(3, "zoe@example.net")])
        assert error.value.permanent
    finally:
        transport.close()
        server.stop()


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("TooManyRequestsException", 429, Status.RETRY),
        ("LimitExceededException", 400, Status.RETRY),
        ("Throttling", 400, Status.RETRY),
        ("ServiceUnavailable", 503, Status.RETRY),
        ("SomethingNew", 500, Status.RETRY),
        ("MessageRejected", 400, Status.REJECTED),
        ("MailFromDomainNotVerifiedException", 400, Status.REJECTED),
        ("BadRequestException", 400, Status.REJECTED),
        ("AccessDeniedException", 403, "permanent"),
        ("InvalidClientTokenId", 403, "permanent"),
        ("SignatureDoesNotMatch", 403, "permanent"),
        ("SendingPausedException", 400, "permanent"),
    ],
)
def test_error_codes(code: str, status: int, expected: Status | str) -> None:
    result = classify_error(code, "words", status)
    if expected == "permanent":
        assert isinstance(result, TransportError) and result.permanent
    else:
        assert not isinstance(result, TransportError)
        assert result.status is expected
        assert result.detail == f"ses {code}: words"


def test_an_unreachable_endpoint_is_an_outage(aws_env: None, content: Content) -> None:
    transport = ses_transport(f"http://127.0.0.1:{free_port()}")
    journal = RecordingJournal()
    try:
        with pytest.raises(TransportError, match="cannot reach") as error:
            transport.send_batch(content, [make_message(1, "ana@example.net")], journal)
    finally:
        transport.close()
    assert not error.value.permanent
    # The runner waits an outage out without using up the message's attempts.
    assert error.value.unreachable is True
    assert journal.taken_back == [1]


def test_a_region_is_required(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="NEWSLETTER_SES_REGION"):
        make_transport(Settings(transport="ses"))


def test_the_payload_is_the_message_as_built(content: Content) -> None:
    message = make_message(3, "ana@example.net")
    assert SesTransport.build_payload(content, message) == {
        "FromEmailAddress": "bounces@example.org",
        "Destination": {"ToAddresses": ["ana@example.net"]},
        "Content": {"Raw": {"Data": message.data}},
    }


def test_a_success_is_sent_with_its_message_id() -> None:
    answer = {"MessageId": "0100-abc", "ResponseMetadata": {"HTTPStatusCode": 200}}
    assert SesTransport.parse_status(answer) == Outcome(
        Status.SENT, provider_id="0100-abc", detail="accepted"
    )


def test_an_error_answer_is_classified_by_its_code_and_status() -> None:
    def answer(code: str, status: int) -> dict[str, Any]:
        error = {"Code": code, "Message": "Email  address\nis not verified."}
        return {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}

    rejected = SesTransport.parse_status(answer("MessageRejected", 400))
    assert rejected == Outcome(
        Status.REJECTED, detail="ses MessageRejected: Email address is not verified."
    )
    later = SesTransport.parse_status(answer("SomethingNew", 503))
    assert isinstance(later, Outcome) and later.status is Status.RETRY
    refused = SesTransport.parse_status(answer("SomethingNew", 403))
    assert isinstance(refused, TransportError) and refused.permanent
    # An error without a code: retried a bounded number of times rather than lost.
    bare = SesTransport.parse_status({"Error": {}})
    assert isinstance(bare, Outcome) and bare.status is Status.RETRY


def test_no_answer_at_all() -> None:
    timeout = no_answer(ReadTimeoutError(endpoint_url="http://ses.local"))
    assert isinstance(timeout, Outcome) and timeout.status is Status.UNCONFIRMED
    assert "it may have been accepted" in timeout.detail
    for error in (
        EndpointConnectionError(endpoint_url="http://ses.local"),
        ConnectTimeoutError(endpoint_url="http://ses.local"),
    ):
        unreachable = no_answer(error)
        assert isinstance(unreachable, TransportError) and not unreachable.permanent
        assert str(unreachable).startswith("ses: cannot reach the endpoint: ")
    credentials = no_answer(NoCredentialsError())
    assert isinstance(credentials, TransportError) and credentials.permanent
    assert str(credentials).endswith("(set AWS credentials)")
    other = no_answer(BotoCoreError())
    assert isinstance(other, TransportError) and not other.permanent


def test_each_call_is_journalled_and_a_refusal_taken_back(moto: str, content: Content) -> None:
    good = make_message(1, "ana@example.net")
    stranger = OutgoingMessage(
        key=2, recipient="raj@example.net", sender="someone@elsewhere.example", data=good.data
    )

    def not_yet_sent(key: int) -> None:
        assert len(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages) == 0

    journal = RecordingJournal(check=not_yet_sent)
    limiter = CountingLimiter()
    transport = ses_transport(moto)
    try:
        outcomes = transport.send_batch(content, [good], journal, limiter)
        journal.check = None
        outcomes += transport.send_batch(content, [stranger], journal, limiter)
    finally:
        transport.close()
    assert [o.status for o in outcomes] == [Status.SENT, Status.REJECTED]
    assert journal.handed_over == [1, 2]
    assert journal.taken_back == [2]
    assert limiter.requests == [1, 1]


def test_a_call_the_journal_cannot_record_is_not_made(moto: str, content: Content) -> None:
    journal = RecordingJournal()
    journal.fail_for = {1}
    transport = ses_transport(moto)
    try:
        with pytest.raises(TransportError, match=r"ses: not sent, .* could not be recorded"):
            transport.send_batch(content, [make_message(1, "ana@example.net")], journal)
        later = transport.send_batch(
            content,
            [make_message(2, "raj@example.net"), make_message(1, "ana@example.net")],
            journal,
        )
    finally:
        transport.close()
    assert [o.status for o in later] == [Status.SENT, Status.RETRY]
    assert "could not be recorded: disk full" in later[1].detail
    assert len(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages) == 1
