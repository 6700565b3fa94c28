"""No mail lost when a connection drops after the end-of-data dot, before the reply.

A server takes responsibility for a message only with its 250 reply (RFC 5321, 6.1). A
real SMTP server on loopback reads every tenth message's dot and then closes the
connection without a word: half of those it kept (as a server dying after its commit),
half it discarded (dying before). Counting such a message as sent lost the discarded ones;
now each goes back to the queue and is sent again with the same Message-ID, noted on the
delivery and counted in the campaign's figures.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.core.settings import get_settings
from newsletter.sending.policy import UNANSWERED
from newsletter.sending.progress import campaign_progress
from newsletter.store.campaigns import DeliveryState, campaign_summaries
from newsletter.store.types import utcnow
from tests.sending.helpers import campaign, new_campaign, populated_list, rows
from tests.sending.mta import Mta
from tests.store.databases import session_scope

RECIPIENTS = 300


def test_every_recipient_gets_the_newsletter_when_replies_are_lost(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    audience = populated_list(active=RECIPIENTS)
    campaign_id = new_campaign(audience)
    with Mta(drop_every=10) as mta:
        for name, value in {
            "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{mta.port}",
            "NEWSLETTER_SMTP_CONNECTIONS": "4",
            "NEWSLETTER_SEND_BATCH_SIZE": "25",
            "NEWSLETTER_SEND_RETRY_BASE": "0.01",
            "NEWSLETTER_SEND_RETRY_MAX": "0.05",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        sent = CliRunner().invoke(app, ["campaigns", "resume", str(campaign_id)])
        listed = CliRunner().invoke(app, ["campaigns", "list", "--json"])
        table = CliRunner().invoke(app, ["campaigns", "list"])
    assert sent.exit_code == 0, sent.output

    # The server never answered these; the discarded ones are what used to be lost.
    unanswered = Counter(recipient for recipient, _, _ in mta.dropped)
    assert len(mta.dropped) >= RECIPIENTS // 10
    assert any(not kept for _, _, kept in mta.dropped)

    # Everyone got it at least once, every copy of it with the delivery's Message-ID.
    token = campaign(campaign_id).token
    deliveries = rows(campaign_id)
    copies: dict[str, list[str]] = {}
    for message in mta.accepted:
        copies.setdefault(message.recipient, []).append(message.message_id)
    assert sorted(copies) == sorted(audience.eligible)
    for address, ids in copies.items():
        assert set(ids) == {f"<{token}.{deliveries[address].id}@example.org>"}, address
    for recipient, message_id, _ in mta.dropped:
        assert message_id == f"<{token}.{deliveries[recipient].id}@example.org>"
    # A copy too many only where a reply was lost, and only for the copies it kept.
    kept = Counter(recipient for recipient, _, was_kept in mta.dropped if was_kept)
    assert {a: len(ids) for a, ids in copies.items() if len(ids) > 1} == {
        a: n + 1 for a, n in kept.items()
    }

    # Noted on each delivery, and counted wherever the campaign's figures are shown.
    assert {row.state for row in deliveries.values()} == {DeliveryState.SENT}
    for address, row in deliveries.items():
        assert row.unanswered == unanswered[address], address
        assert (UNANSWERED in (row.detail or "")) == (address in unanswered), row.detail
        assert row.attempts == 1 + unanswered[address]
    with session_scope() as session:
        (summary,) = campaign_summaries(session)
        progress = campaign_progress(
            session,
            campaign_id,
            now=utcnow(),
            lease_timeout=60,
            runs_here=False,
            error=None,
        )
    assert summary.may_be_duplicated == progress.may_be_duplicated == len(unanswered)
    assert f"may be duplicated: {len(unanswered)} sent again" in sent.stdout
    assert json.loads(listed.stdout)[0]["may_be_duplicated"] == len(unanswered)
    assert f"{campaign_id} may be duplicated: {len(unanswered)}" in table.stdout
