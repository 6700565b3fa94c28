"""Print what composing the example costs, once per issue and per recipient.

Run from the repository root:  .venv/bin/python benchmarks/compose.py [--runs N] [--recipients N]

Figures:
- build: compose_issue + MessageTemplate.build for the example (no PDF), median of N runs
  after a warm-up. Target < 200 ms.
- per recipient: personal_fields + MessageTemplate.render for distinct recipients.
  Target < 0.2 ms.
- per recipient with merge fields: the example with a greeting from the subscriber's
  attributes in its subject, summary and footer, through MessageFactory (signed links,
  attribute look-ups, message bytes). Target < 0.2 ms.
- ceiling: the same message built from scratch with email.message.EmailMessage per recipient
  (the slow path), measured in the same run, and how many times faster the fast path is.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.compose import compose_issue  # noqa: E402
from newsletter.core.links import Links  # noqa: E402
from newsletter.core.settings import Settings  # noqa: E402
from newsletter.issue.model import Issue  # noqa: E402
from newsletter.mail.factory import Addressee, CampaignMessages, MessageFactory  # noqa: E402
from newsletter.mail.mime import (  # noqa: E402
    MessageTemplate,
    default_list_id,
    sender_domain_of,
)
from newsletter.mail.personalize import Recipient, personal_fields  # noqa: E402
from newsletter.mail.sender import sender_of  # noqa: E402
from newsletter.record.loader import load_record  # noqa: E402
from newsletter.record.model import LoadedRecord  # noqa: E402
from tests.mail.oracle import build_reference_message  # noqa: E402

EXAMPLE = ROOT / "examples" / "khojaly-seminar-2022" / "record.yaml"
BUILD_TARGET_MS = 200.0
RECIPIENT_TARGET_MS = 0.2
KEY = b"benchmark-key-not-secret-0123456789"


def _verdict(value: float, target: float) -> str:
    return "PASS" if value < target else "FAIL"


def _list_id(settings: Settings) -> str:
    return default_list_id(settings.brand.name, sender_domain_of(settings.from_address))


def _build(loaded: LoadedRecord, settings: Settings) -> tuple[Issue, MessageTemplate]:
    issue = compose_issue(loaded, brand=settings.brand, public_url=settings.public_url)
    template = MessageTemplate.build(
        issue,
        from_address=settings.from_address,
        reply_to=settings.reply_to,
        list_id=_list_id(settings),
        unsubscribe_mailto=settings.unsubscribe_mailto,
    )
    return issue, template


def _slow_message(
    issue: Issue, recipient: Recipient, fields: dict[str, str], settings: Settings
) -> bytes:
    return build_reference_message(
        issue,
        fields,
        from_address=settings.from_address,
        reply_to=settings.reply_to,
        list_id=_list_id(settings),
        unsubscribe_mailto=settings.unsubscribe_mailto,
        to=recipient.email,
        to_name=recipient.name,
    ).as_bytes()


def _recipients(count: int) -> list[Recipient]:
    return [
        Recipient(f"reader{n}@example.org", f"Reader Number {n}", subscriber_id=n + 1, list_id=1)
        for n in range(count)
    ]


def _merged(loaded: LoadedRecord) -> LoadedRecord:
    """The example greeting each reader from their attributes."""
    greeting = '{{ first_name | default("friend") }}'
    record = loaded.record.model_copy(
        update={
            "subject": f"{greeting}, the Khojaly seminar report",
            "summary": f"Dear {greeting} of {{{{ city }}}},\n\n{loaded.record.summary}",
            "footer": 'Sent to {{ email }}, {{ organisation | default("a friend") }}.',
        }
    )
    return loaded.model_copy(update={"record": record})


def _merge_per_recipient_ms(loaded: LoadedRecord, settings: Settings, count: int) -> float:
    issue = compose_issue(_merged(loaded), brand=settings.brand, public_url=settings.public_url)
    source = CampaignMessages(
        campaign_id=1,
        token="bench",
        list_id=1,
        list_name="members",
        issue=issue,
        sender=sender_of(settings),
    )
    factory = MessageFactory(source, key=KEY)
    readers = [
        Addressee(
            key=n,
            subscriber_id=n + 1,
            email=f"reader{n}@example.org",
            name=f"Reader {n}",
            version=1,
            attributes={"First Name": f"Reader{n}", "City": "Lahore", "Organisation": "MI"}
            if n % 2
            else {},
        )
        for n in range(count)
    ]
    factory.render(readers[0])
    start = time.perf_counter()
    for reader in readers:
        factory.render(reader)
    return (time.perf_counter() - start) * 1000 / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed builds (default 15)")
    parser.add_argument("--recipients", type=int, default=10_000, help="default 10,000")
    parser.add_argument("--reference", type=int, default=300, help="slow-path messages")
    args = parser.parse_args()

    # Benchmark on embedded defaults, whatever the local .env says.
    settings = Settings(_env_file=None)
    links = Links(settings.public_url)
    loaded = load_record(EXAMPLE)

    _build(loaded, settings)  # warm-up: template compilation and imports happen once
    timings = []
    for _ in range(args.runs):
        start = time.perf_counter()
        issue, template = _build(loaded, settings)
        timings.append(time.perf_counter() - start)
    build_ms = statistics.median(timings) * 1000

    recipients = _recipients(args.recipients)
    template.render(
        personal_fields(recipients[0], key=KEY, links=links), to="a@b.example", to_name=""
    )
    start = time.perf_counter()
    size = 0
    for recipient in recipients:
        fields = personal_fields(recipient, key=KEY, links=links)
        size += len(template.render(fields, to=recipient.email, to_name=recipient.name))
    fast_ms = (time.perf_counter() - start) * 1000 / len(recipients)

    merge_ms = _merge_per_recipient_ms(loaded, settings, len(recipients))

    reference_count = min(args.reference, len(recipients))
    start = time.perf_counter()
    for recipient in recipients[:reference_count]:
        fields = personal_fields(recipient, key=KEY, links=links)
        _slow_message(issue, recipient, fields, settings)
    slow_ms = (time.perf_counter() - start) * 1000 / reference_count

    python = sys.version.split()[0]
    print(f"example: {EXAMPLE.relative_to(ROOT)}  ({os.cpu_count()} CPUs, Python {python})")
    print(
        f"  email HTML {len(issue.html) / 1024:.1f} KB, text {len(issue.text) / 1024:.1f} KB, "
        f"message {size / len(recipients) / 1024:.1f} KB"
    )
    print(f"build once (compose + message template, no PDF), median of {args.runs}:")
    print(
        f"  {build_ms:8.1f} ms    target < {BUILD_TARGET_MS:.0f} ms    "
        f"{_verdict(build_ms, BUILD_TARGET_MS)}"
    )
    print(f"per recipient (signed links + message bytes), {len(recipients):,} recipients:")
    print(
        f"  {fast_ms * 1000:8.1f} µs    target < {RECIPIENT_TARGET_MS * 1000:.0f} µs    "
        f"{_verdict(fast_ms, RECIPIENT_TARGET_MS)}"
    )
    print(f"per recipient with merge fields (factory, attributes), {len(recipients):,} recipients:")
    print(
        f"  {merge_ms * 1000:8.1f} µs    target < {RECIPIENT_TARGET_MS * 1000:.0f} µs    "
        f"{_verdict(merge_ms, RECIPIENT_TARGET_MS)}"
    )
    print(f"ceiling: EmailMessage from scratch per recipient, {reference_count} messages:")
    print(f"  {slow_ms * 1000:8.1f} µs    fast path is {slow_ms / fast_ms:.0f}x faster")
    ok = build_ms < BUILD_TARGET_MS and fast_ms < RECIPIENT_TARGET_MS
    ok = ok and merge_ms < RECIPIENT_TARGET_MS
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
