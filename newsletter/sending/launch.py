"""Starting a send, shared by `newsletter send` and the staff area.

A test message is made by the factory a campaign uses, for a campaign that does not
exist (id 0), and is not recorded anywhere. A real send is a campaign created with one
pending delivery per eligible recipient, then run by a `Runner` made here.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from newsletter.core.settings import Settings
from newsletter.issue.model import Issue
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.mime import new_message_id
from newsletter.sending.messages import (
    RAW_TRANSPORTS,
    Addressee,
    CampaignMessages,
    MessageFactory,
    envelope_sender,
)
from newsletter.sending.ratelimit import RateLimiter
from newsletter.sending.runner import Runner
from newsletter.store.addresses import normalise
from newsletter.store.campaigns import Sender, create_campaign
from newsletter.transports.base import Outcome, Transport

# What a test message is addressed to: no subscriber is.
TEST_NAME = "Test Recipient"


def sender_of(settings: Settings) -> Sender:
    return Sender(
        from_address=settings.from_address,
        reply_to=settings.reply_to,
        return_path=envelope_sender(settings.from_address, settings.return_path),
        unsubscribe_mailto=settings.unsubscribe_mailto,
        public_url=settings.public_url,
    )


def sample_factory(
    settings: Settings, issue: Issue, list_id: int, list_name: str, transport_name: str
) -> MessageFactory:
    """Messages as the campaign will make them, for a sample or a test message."""
    signer = DkimSigner.from_settings(settings) if transport_name in RAW_TRANSPORTS else None
    source = CampaignMessages(
        campaign_id=0,
        token="test",
        list_id=list_id,
        list_name=list_name,
        issue=issue,
        sender=sender_of(settings),
    )
    return MessageFactory(source, key=settings.signing_key(), signer=signer)


def send_test(factory: MessageFactory, transport: Transport, address: str) -> tuple[str, Outcome]:
    """One message to `address` (InvalidAddress if it is not one); its address and outcome."""
    email = normalise(address).email
    message = factory.build(
        Addressee(0, 0, email, TEST_NAME, 0), message_id=new_message_id(factory.domain)
    )
    return email, transport.send_batch(factory.content, [message])[0]


def create_send(
    session: Session,
    settings: Settings,
    issue: Issue,
    *,
    list_id: int,
    list_name: str,
    transport_name: str,
) -> int:
    """A new campaign with its deliveries, in the caller's write transaction; its id."""
    campaign = create_campaign(
        session,
        list_id=list_id,
        list_name=list_name,
        issue=issue,
        transport=transport_name,
        sender=sender_of(settings),
    )
    return campaign.id


def campaign_runner(settings: Settings, campaign_id: int, transport: Transport) -> Runner:
    """The runner for a campaign, rate-limited and signed as configured."""
    return Runner(
        campaign_id,
        transport,
        settings=settings,
        limiter=RateLimiter.from_settings(settings),
        signer=DkimSigner.from_settings(settings),
    )
