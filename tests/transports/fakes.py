"""Local HTTP servers that speak the providers' documented APIs, for tests and benchmarks.

Each is a stdlib ThreadingHTTPServer on 127.0.0.1 (port 0) with HTTP/1.1 keep-alive. It
checks the credential the way the provider does, validates the request shape, answers with
the provider's documented status codes and JSON, and records what each recipient would get
after the provider's own substitution (`Delivered`), so tests assert on the result and not
on our request. `script()` queues one-off answers (429 with Retry-After, 500, ...).

With `record=False` (benchmarks) a server only counts messages and skips rendering, so the
figures measure the client.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl

JSON = "application/json"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    # Seconds to wait before answering (a slow provider).
    delay: float = 0.0


def json_reply(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(payload).encode(), {"Content-Type": JSON, **(headers or {})})


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Delivered:
    """One message as the provider would send it, after its substitutions."""

    to: str
    subject: str
    html: str
    text: str
    headers: Mapping[str, str]
    extra: Mapping[str, Any] = field(default_factory=dict)


class FakeServer:
    def __init__(self, *, record: bool = True) -> None:
        self.record = record
        self.requests: list[Received] = []
        self.delivered: list[Delivered] = []
        self.connections = 0
        self.messages = 0
        self._scripted: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these, before any normal processing."""
        with self._lock:
            self._scripted.extend(replies)

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        raise NotImplementedError

    def deliver(self, delivered: Delivered) -> None:
        with self._lock:
            self.messages += 1
            if self.record:
                self.delivered.append(delivered)

    def count(self, messages: int) -> None:
        with self._lock:
            self.messages += messages

    def _dispatch(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        with self._lock:
            if self.record:
                self.requests.append(Received(method, path, headers, body))
            scripted = self._scripted.popleft() if self._scripted else None
        return scripted or self.handle(method, path, headers, body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in one write, and without Nagle: otherwise every
            # answer waits for the client's delayed ACK (40 ms), which no real API does.
            wbufsize = -1
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake.connections += 1

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                reply = fake._dispatch("POST", self.path, headers, body)
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _replace_all(text: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


class SendGridFake(FakeServer):
    """`POST /v3/mail/send` (v3 Mail Send)."""

    def __init__(self, api_key: str, *, invalid: set[str] | None = None, record: bool = True):
        super().__init__(record=record)
        self.api_key = api_key
        self.invalid = invalid or set()

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if path != "/v3/mail/send":
            return json_reply(404, {"errors": [{"field": None, "message": "not found"}]})
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return json_reply(
                401,
                {
                    "errors": [
                        {
                            "field": None,
                            "message": "The provided authorization grant is invalid, "
                            "expired, or revoked",
                            "help": None,
                        }
                    ]
                },
            )
        if not self.record:
            self.count(body.count(b'"custom_args":'))
            return Reply(202, headers={"X-Message-Id": uuid.uuid4().hex})
        try:
            mail = json.loads(body)
        except ValueError:
            return json_reply(400, {"errors": [{"field": None, "message": "Bad Request"}]})
        errors = self._errors(mail)
        if errors:
            return json_reply(400, {"errors": errors})
        images, problems = self._inline_images(mail.get("attachments", []))
        if problems:
            return json_reply(400, {"errors": problems})
        for personalization in mail["personalizations"]:
            subs = personalization.get("substitutions", {})
            content = {part["type"]: part["value"] for part in mail["content"]}
            self.deliver(
                Delivered(
                    to=personalization["to"][0]["email"],
                    subject=_replace_all(personalization.get("subject", mail["subject"]), subs),
                    html=_replace_all(content.get("text/html", ""), subs),
                    text=_replace_all(content.get("text/plain", ""), subs),
                    headers={**mail.get("headers", {}), **personalization.get("headers", {})},
                    extra={
                        "from": mail["from"],
                        "reply_to": mail.get("reply_to"),
                        "custom_args": personalization.get("custom_args", {}),
                        "to_name": personalization["to"][0].get("name"),
                        "images": images,
                    },
                )
            )
        return Reply(202, headers={"X-Message-Id": uuid.uuid4().hex})

    @staticmethod
    def _inline_images(
        attachments: Any,
    ) -> tuple[dict[str, tuple[str, bytes]], list[dict[str, Any]]]:
        """`attachments` as {content_id: (type, bytes)}, or SendGrid's errors for them:
        content and filename are required, content is base64, and an inline one needs a
        content_id (Mail Send, "attachments")."""
        images: dict[str, tuple[str, bytes]] = {}
        errors: list[dict[str, Any]] = []
        for index, attachment in enumerate(attachments):
            field = f"attachments.{index}"
            if not attachment.get("content") or not attachment.get("filename"):
                errors.append({"field": field, "message": "content and filename are required"})
                continue
            try:
                data = base64.b64decode(attachment["content"], validate=True)
            except ValueError:
                errors.append({"field": f"{field}.content", "message": "must be base64"})
                continue
            if attachment.get("disposition") == "inline":
                if not attachment.get("content_id"):
                    errors.append(
                        {"field": f"{field}.content_id", "message": "required when inline"}
                    )
                    continue
                images[attachment["content_id"]] = (attachment.get("type", ""), data)
        return images, errors

    def _errors(self, mail: Any) -> list[dict[str, Any]]:
        help_url = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
        personalizations = mail.get("personalizations") if isinstance(mail, dict) else None
        if not isinstance(personalizations, list) or not personalizations:
            return [
                {
                    "field": "personalizations",
                    "message": "You must have at least one personalization.",
                    "help": help_url,
                }
            ]
        if len(personalizations) > 1000:
            return [
                {
                    "field": "personalizations",
                    "message": "The personalization block is "
                    f"limited to 1000 personalizations per API request. You have provided "
                    f"{len(personalizations)} personalizations.",
                    "help": help_url,
                }
            ]
        errors: list[dict[str, Any]] = []
        if "@" not in str(mail.get("from", {}).get("email", "")):
            errors.append(
                {
                    "field": "from.email",
                    "message": "The from email does not contain a valid address.",
                    "help": help_url,
                }
            )
        seen: set[str] = set()
        for index, personalization in enumerate(personalizations):
            for position, to in enumerate(personalization.get("to", [])):
                address = str(to.get("email", ""))
                if "@" not in address or address in self.invalid:
                    errors.append(
                        {
                            "field": f"personalizations.{index}.to.{position}.email",
                            "message": "Does not contain a valid address.",
                            "help": help_url,
                        }
                    )
                elif address.lower() in seen:
                    errors.append(
                        {
                            "field": "personalizations",
                            "message": "Each unique email "
                            "address in the personalizations array should only be "
                            f"included once. You have included {address} more than "
                            "once.",
                            "help": help_url,
                        }
                    )
                seen.add(address.lower())
        return errors


_RECIPIENT_VARIABLE = re.compile(r"%recipient\.([^%]+)%")


def parse_form(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """Fields of an urlencoded or multipart/form-data body, in order (Mailgun takes both)."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        return parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)
    match = re.match(r"multipart/form-data;\s*boundary=(\S+)$", content_type)
    if not match:
        raise ValueError(f"unsupported content type {content_type!r}")
    delimiter = b"--" + match.group(1).encode()
    chunks = body.split(delimiter)
    if chunks[0] != b"" or chunks[-1] != b"--\r\n":
        raise ValueError("malformed multipart body")
    fields = []
    for chunk in chunks[1:-1]:
        head, _, value = chunk.partition(b"\r\n\r\n")
        name = re.search(rb'Content-Disposition: form-data; name="([^"]*)"', head)
        if not (head.startswith(b"\r\n") and name and value.endswith(b"\r\n")):
            raise ValueError("malformed multipart part")
        fields.append((name.group(1).decode(), value[:-2].decode()))
    return fields


@dataclass(frozen=True)
class FormFile:
    name: str
    filename: str
    content_type: str
    data: bytes


def parse_multipart(content_type: str, body: bytes) -> tuple[list[tuple[str, str]], list[FormFile]]:
    """The fields (text) and files (bytes) of a multipart/form-data body, each in order."""
    match = re.match(r"multipart/form-data;\s*boundary=(\S+)$", content_type)
    if not match:
        raise ValueError(f"unsupported content type {content_type!r}")
    delimiter = b"--" + match.group(1).encode()
    chunks = body.split(b"\r\n" + delimiter)
    if not chunks[0].startswith(delimiter) or chunks[-1] != b"--\r\n":
        raise ValueError("malformed multipart body")
    chunks[0] = chunks[0][len(delimiter) :]
    fields: list[tuple[str, str]] = []
    files: list[FormFile] = []
    for chunk in chunks[:-1]:
        head, separator, value = chunk.partition(b"\r\n\r\n")
        name = re.search(rb'Content-Disposition: form-data; name="([^"]*)"', head)
        if not (head.startswith(b"\r\n") and separator and name):
            raise ValueError("malformed multipart part")
        filename = re.search(rb'; filename="([^"]*)"', head)
        if filename is None:
            fields.append((name.group(1).decode(), value.decode()))
            continue
        part_type = re.search(rb"\r\nContent-Type: ([^\r]+)", head)
        files.append(
            FormFile(
                name.group(1).decode(),
                filename.group(1).decode(),
                part_type.group(1).decode() if part_type else "application/octet-stream",
                value,
            )
        )
    return fields, files


class MailgunFake(FakeServer):
    """`POST /v3/{domain}/messages` (Messages API, batch sending)."""

    def __init__(
        self, api_key: str, domain: str, *, invalid: set[str] | None = None, record: bool = True
    ):
        super().__init__(record=record)
        self.api_key = api_key
        self.domain = domain
        self.invalid = invalid or set()

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        match = re.fullmatch(r"/v3/([^/]+)/messages", path)
        if not match:
            return Reply(404, b"404 page not found", {"Content-Type": "text/plain"})
        expected = "Basic " + base64.b64encode(f"api:{self.api_key}".encode()).decode()
        if headers.get("authorization") != expected:
            return Reply(401, b"Forbidden", {"Content-Type": "text/plain"})
        if match.group(1) != self.domain:
            return json_reply(404, {"message": f"Domain not found: {match.group(1)}"})
        queued = {"id": f"<{uuid.uuid4().hex}@{self.domain}>", "message": "Queued. Thank you."}
        if not self.record:
            self.count(body.count(b'name="to"'))
            return json_reply(200, queued)
        try:
            kind = headers.get("content-type", "")
            if kind.startswith("multipart/"):
                form, files = parse_multipart(kind, body)
            else:
                form, files = parse_form(kind, body), []
        except ValueError as exc:
            return json_reply(400, {"message": f"bad form: {exc}"})
        # Mailgun names an `inline` file's part by its filename: its Content-ID.
        images = {f.filename: (f.content_type, f.data) for f in files if f.name == "inline"}
        recipients = [value for name, value in form if name == "to"]
        if not recipients:
            return json_reply(400, {"message": "'to' parameter is missing"})
        if len(recipients) > 1000:
            return json_reply(400, {"message": "Too many recipients: max 1000"})
        addresses = [self._address(recipient) for recipient in recipients]
        if any("@" not in address or address in self.invalid for address in addresses):
            return json_reply(
                400,
                {"message": "'to' parameter is not a valid address. please check documentation"},
            )
        fields = dict(form)
        variables = json.loads(fields.get("recipient-variables", "{}"))
        for recipient, address in zip(recipients, addresses, strict=True):
            mine = variables.get(address, {})

            def fill(text: str, mine: Mapping[str, Any] = mine) -> str:
                return _RECIPIENT_VARIABLE.sub(lambda m: str(mine.get(m.group(1), "")), text)

            self.deliver(
                Delivered(
                    to=address,
                    subject=fill(fields.get("subject", "")),
                    html=fill(fields.get("html", "")),
                    text=fill(fields.get("text", "")),
                    headers={n[2:]: fill(v) for n, v in form if n.startswith("h:")},
                    extra={
                        "to": recipient,
                        "from": fields.get("from"),
                        "variables": {n[2:]: fill(v) for n, v in form if n.startswith("v:")},
                        "images": images,
                    },
                )
            )
        return json_reply(200, queued)

    @staticmethod
    def _address(recipient: str) -> str:
        match = re.search(r"<([^>]*)>\s*$", recipient)
        return match.group(1) if match else recipient.strip()


class PostmarkFake(FakeServer):
    """`POST /email/batch` (Email API, batch)."""

    def __init__(
        self,
        token: str,
        *,
        inactive: set[str] | None = None,
        senders: set[str] | None = None,
        record: bool = True,
    ):
        super().__init__(record=record)
        self.token = token
        self.inactive = inactive or set()
        self.senders = senders

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if path != "/email/batch":
            return json_reply(404, {"ErrorCode": 404, "Message": "Not found"})
        if headers.get("x-postmark-server-token") != self.token:
            return json_reply(
                401,
                {
                    "ErrorCode": 10,
                    "Message": "The Server Token you provided in the X-Postmark-Server-Token "
                    "request header was invalid.",
                },
            )
        if not self.record:
            count = body.count(b'"MessageStream":')
            self.count(count)
            return json_reply(200, [{"ErrorCode": 0, "Message": "OK", "MessageID": "x"}] * count)
        try:
            messages = json.loads(body)
        except ValueError:
            return json_reply(422, {"ErrorCode": 402, "Message": "Received invalid JSON input."})
        if not isinstance(messages, list):
            return json_reply(422, {"ErrorCode": 403, "Message": "Incompatible JSON input."})
        if len(messages) > 500:
            return json_reply(
                422, {"ErrorCode": 410, "Message": "Too many batch messages (max 500)."}
            )
        return json_reply(200, [self._one(message) for message in messages])

    def _one(self, message: Mapping[str, Any]) -> dict[str, Any]:
        to = str(message.get("To", ""))
        address = MailgunFake._address(to)
        sender = MailgunFake._address(str(message.get("From", "")))
        if self.senders is not None and sender not in self.senders:
            return {
                "ErrorCode": 400,
                "Message": f"The 'From' address you supplied ({sender}) is not a Sender "
                "Signature on your account.",
            }
        if "@" not in address:
            return {
                "ErrorCode": 300,
                "Message": f"Error parsing 'To': Illegal email address '{address}'. It must "
                "contain the '@' symbol.",
            }
        if address in self.inactive:
            return {
                "ErrorCode": 406,
                "Message": "You tried to send to recipient(s) that have been marked as "
                f"inactive. Found inactive addresses: {address}. Inactive recipients are ones "
                "that have generated a hard bounce, a spam complaint, or a manual suppression.",
            }
        images: dict[str, tuple[str, bytes]] = {}
        for attachment in message.get("Attachments", []):
            # Kept as given: Postmark documents it written "cid:NAME".
            content_id = str(attachment.get("ContentID") or "")
            if not attachment.get("Name") or "Content" not in attachment:
                return {"ErrorCode": 300, "Message": "Invalid attachment: Name and Content."}
            if content_id:
                data = base64.b64decode(attachment["Content"], validate=True)
                images[content_id] = (attachment.get("ContentType", ""), data)
        message_id = str(uuid.uuid4())
        self.deliver(
            Delivered(
                to=address,
                subject=str(message.get("Subject", "")),
                html=str(message.get("HtmlBody", "")),
                text=str(message.get("TextBody", "")),
                headers={h["Name"]: h["Value"] for h in message.get("Headers", [])},
                extra={
                    "to": to,
                    "from": message.get("From"),
                    "reply_to": message.get("ReplyTo"),
                    "stream": message.get("MessageStream"),
                    "metadata": message.get("Metadata", {}),
                    "message_id": message_id,
                    "images": images,
                },
            )
        )
        return {
            "ErrorCode": 0,
            "Message": "OK",
            "MessageID": message_id,
            "SubmittedAt": "2024-05-01T10:00:00.0000000-04:00",
            "To": to,
        }


class ScriptedServer(FakeServer):
    """Answers only what was scripted (e.g. AWS JSON errors); 500 when the script is empty."""

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        return json_reply(500, {"message": "nothing scripted"})


# Running a fake in another process, so a benchmark measures the client alone.

FACTORIES: dict[str, Callable[..., FakeServer]] = {
    "sendgrid": SendGridFake,
    "mailgun": MailgunFake,
    "postmark": PostmarkFake,
}


def _serve(kind: str, kwargs: dict[str, Any], pipe: Any) -> None:
    server = FACTORIES[kind](**kwargs).start()
    pipe.send(server.url)
    pipe.recv()  # any message, or the parent going away, stops the server
    pipe.send(server.messages)
    server.stop()


class ServerProcess:
    def __init__(self, kind: str, **kwargs: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(kind, kwargs, child), daemon=True)
        self._process.start()
        self.url: str = self._pipe.recv()

    def stop(self) -> int:
        """Stop the server; the number of messages it accepted."""
        self._pipe.send("stop")
        messages: int = self._pipe.recv()
        self._process.join(timeout=10)
        return messages
