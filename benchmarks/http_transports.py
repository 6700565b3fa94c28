"""Print how many recipients per second each HTTP batch transport hands to its provider.

Run from the repository root:  .venv/bin/python benchmarks/http_transports.py [--recipients N]

For SendGrid, Mailgun and Postmark in turn: a local fake of the provider's API (the one the
tests use, tests/transports/fakes.py) runs in a separate process, so its parsing does not
compete with the client for the GIL, and in benchmark mode it only counts the messages it
is given instead of rendering them. The client sends N recipients of a ~40 KB HTML issue
with placeholders (the composed example when it composes, a generated page otherwise) in
batches of the transport's max_batch through `send_batch`, as the campaign runner would.
Messages and their field values are prepared before the clock starts; timed is
build_payload + POST + parse_status. Target: at least 5,000 recipients/s for each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.issue.model import placeholder  # noqa: E402
from newsletter.transports.base import Content, OutgoingMessage, Status  # noqa: E402
from newsletter.transports.http_api import HttpBatchTransport  # noqa: E402
from newsletter.transports.mailgun import MailgunTransport  # noqa: E402
from newsletter.transports.postmark import PostmarkTransport  # noqa: E402
from newsletter.transports.sendgrid import SendGridTransport  # noqa: E402
from tests.transports.fakes import ServerProcess  # noqa: E402

EXAMPLE = ROOT / "examples" / "khojaly-seminar-2022" / "record.yaml"
TARGET = 5_000.0
KEY = "benchmark-key"
DOMAIN = "mg.example.org"


def _example_issue() -> tuple[str, str, str, str] | None:
    """(source, subject, html, text) of the composed example, if this checkout composes it."""
    try:
        from newsletter.compose import compose_issue
        from newsletter.core.settings import Settings
        from newsletter.record.loader import load_record

        settings = Settings(_env_file=None)
        issue = compose_issue(
            load_record(EXAMPLE), brand=settings.brand, public_url=settings.public_url
        )
    except Exception as exc:  # any failure: fall back to a generated page
        print(f"(example not composed: {type(exc).__name__}: {exc})")
        return None
    return str(EXAMPLE.relative_to(ROOT)), issue.subject, issue.html, issue.text


def _generated_issue(size: int = 40_000) -> tuple[str, str, str, str]:
    paragraph = (
        '<tr><td style="padding:12px 24px;font-family:Georgia,serif;font-size:16px;'
        'line-height:1.5;color:#222222">Speakers discussed the seminar’s themes &amp; '
        'recommendations in detail, with "quotes" and <a href="https://example.org/x?a=1&amp;b=2"'
        ' style="color:#0b5d3b">links</a>.</td></tr>\n'
    )
    footer = (
        f'<p>Sent to {placeholder("email")}. <a href="{placeholder("unsubscribe_url")}">'
        f'Unsubscribe</a> · <a href="{placeholder("preferences_url")}">Preferences</a> · '
        f'<a href="{placeholder("forward_url")}">Forward</a></p>'
    )
    body = paragraph * (size // len(paragraph))
    html = (
        f"<html><body><p>Dear {placeholder('name')},</p><table>{body}</table>{footer}</body></html>"
    )
    text = (
        f"Dear {placeholder('name')},\n\n"
        + "Speakers discussed the seminar's themes.\n" * 200
        + f"Unsubscribe: {placeholder('unsubscribe_url')}\n"
    )
    return "generated page", "Seminar news", html, text


def _messages(count: int) -> list[OutgoingMessage]:
    messages = []
    for n in range(count):
        address = f"reader{n}@example.net"
        token = f"{n:08d}.signature-{n * 7919:012d}"
        messages.append(
            OutgoingMessage(
                key=n + 1,
                recipient=address,
                sender="bounces@example.org",
                data=b"",
                fields={
                    "email": address,
                    "name": f"Reader Number {n}",
                    "unsubscribe_url": f"https://news.example.org/u/{token}",
                    "preferences_url": f"https://news.example.org/p/{token}",
                    "forward_url": f"https://news.example.org/f/{token}",
                },
                headers={
                    "Message-ID": f"<{n + 1}.c1@example.org>",
                    "List-Unsubscribe": f"<https://news.example.org/u/{token}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            )
        )
    return messages


def _transport(kind: str, url: str) -> HttpBatchTransport:
    if kind == "sendgrid":
        return SendGridTransport(KEY, base_url=url)
    if kind == "mailgun":
        return MailgunTransport(KEY, domain=DOMAIN, base_url=url)
    return PostmarkTransport(KEY, base_url=url)


def _server(kind: str) -> ServerProcess:
    if kind == "sendgrid":
        return ServerProcess("sendgrid", api_key=KEY, record=False)
    if kind == "mailgun":
        return ServerProcess("mailgun", api_key=KEY, domain=DOMAIN, record=False)
    return ServerProcess("postmark", token=KEY, record=False)


def _run(kind: str, content: Content, messages: list[OutgoingMessage]) -> tuple[float, int, int]:
    """Seconds for all messages, how many the client saw SENT, how many the server counted."""
    server = _server(kind)
    transport = _transport(kind, server.url)
    try:
        transport.send_batch(content, messages[:10])  # warm-up: connection, imports
        sent = 0
        start = time.perf_counter()
        for first in range(0, len(messages), transport.max_batch):
            outcomes = transport.send_batch(content, messages[first : first + transport.max_batch])
            sent += sum(outcome.status is Status.SENT for outcome in outcomes)
        elapsed = time.perf_counter() - start
    finally:
        transport.close()
        received = server.stop()
    return elapsed, sent, received - 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20_000, help="default 20,000")
    args = parser.parse_args()

    source, subject, html, text = _example_issue() or _generated_issue()
    content = Content(
        subject=subject,
        html=html,
        text=text,
        from_address="Muslim Institute <newsletter@example.org>",
        reply_to="office@example.org",
        headers={"List-Id": "Seminars <seminars.example.org>", "X-Campaign-ID": "1"},
    )
    messages = _messages(args.recipients)
    python = sys.version.split()[0]
    print(f"issue: {source}  ({os.cpu_count()} CPUs, Python {python})")
    print(f"  HTML {len(html.encode()) / 1024:.1f} KB, text {len(text.encode()) / 1024:.1f} KB")
    print(f"{args.recipients:,} recipients per provider, fake provider in its own process:")
    failed = False
    for kind in ("sendgrid", "mailgun", "postmark"):
        elapsed, sent, received = _run(kind, content, messages)
        rate = args.recipients / elapsed
        ok = rate >= TARGET and sent == received == args.recipients
        failed = failed or not ok
        print(
            f"  {kind:9} {rate:9,.0f} recipients/s  ({elapsed:.2f} s, sent {sent:,}, "
            f"provider counted {received:,})  target >= {TARGET:,.0f}  "
            f"{'PASS' if ok else 'FAIL'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
