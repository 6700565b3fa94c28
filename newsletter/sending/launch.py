"""What the campaign service (newsletter.sending.service) makes a send of: the messages
of a sample or a test, and the runner.

A test message is made by the factory a campaign uses, for a campaign that does not
exist (id 0), marked as a test (`MessageFactory.for_test`), and is not recorded anywhere.
A campaign is run by a `Runner` made here, rate-limited and signed as configured.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from newsletter.core.errors import ConfigError
from newsletter.core.settings import Settings, shared_redis_url
from newsletter.issue.model import Issue
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.factory import Addressee, CampaignMessages, MessageFactory
from newsletter.mail.mime import new_message_id
from newsletter.mail.sender import sender_of
from newsletter.sending.ratelimit import RateLimit, RateLimiter
from newsletter.sending.runner import Progress, Runner, StopRequest
from newsletter.store.addresses import normalise
from newsletter.transports.base import Outcome, Transport

# What a test message is addressed to: no subscriber is.
TEST_NAME = "Test Recipient"


def sample_factory(
    settings: Settings, issue: Issue, list_id: int, list_name: str, wants_raw: bool
) -> MessageFactory:
    """Messages as the campaign will make them, for a sample or a test message, for a
    transport that does (`wants_raw`) or does not send our bytes."""
    signer = DkimSigner.from_settings(settings) if wants_raw else None
    source = CampaignMessages(
        campaign_id=0,
        token="test",
        list_id=list_id,
        list_name=list_name,
        issue=issue,
        sender=sender_of(settings),
    )
    return MessageFactory(source, key=settings.signing_key(), raw=wants_raw, signer=signer)


def send_test(
    factory: MessageFactory, transport: Transport, address: str, reader: Addressee | None = None
) -> tuple[str, Outcome]:
    """One message to `address` (InvalidAddress if it is not one); its address and outcome.
    `reader`: the subscriber whose name and attributes fill it in (by default nobody's, so
    merge fields show their fallbacks); its links are still nobody's."""
    email = normalise(address).email
    factory = factory.for_test()
    addressee = Addressee(0, 0, email, TEST_NAME, 0)
    if reader is not None:
        addressee = Addressee(0, 0, email, reader.name, 0, attributes=reader.attributes)
    message = factory.build(addressee, message_id=new_message_id(factory.domain))
    return email, transport.send_batch(factory.content, [message])[0]


def limiter_for(settings: Settings, *, shared: bool) -> RateLimit:
    """The configured rate limit: this process's own, or for a worker the one all the
    workers share (ConfigError when there is a limit and no Redis to share it through)."""
    own = RateLimiter.from_settings(settings)
    if not shared or own.unlimited:
        return own
    url = shared_redis_url(settings)
    if url is None:
        raise ConfigError(
            "NEWSLETTER_RATE_LIMIT and NEWSLETTER_HOURLY_LIMIT hold for all the sending "
            "workers together, through Redis, and the broker is not Redis: set "
            "NEWSLETTER_RATE_REDIS_URL, e.g. redis://127.0.0.1:6379/0"
        )
    # Imported here: the Redis client adds 7 MB to every sender, and only workers with a
    # limit use it.
    from newsletter.sending.shared_rate import SharedRateLimiter

    return SharedRateLimiter.from_settings(settings, url)


def campaign_runner(
    settings: Settings,
    engine: Engine,
    campaign_id: int,
    transport: Transport,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    stop: StopRequest | None = None,
    shared: bool = False,
) -> Runner:
    """The runner for a campaign, rate-limited and signed as configured. `shared`: a
    worker's, beside others on the same campaign (newsletter.sending.lease), whose rate
    limit all the workers share through Redis."""
    return Runner(
        campaign_id,
        transport,
        settings=settings,
        engine=engine,
        limiter=limiter_for(settings, shared=shared),
        signer=DkimSigner.from_settings(settings),
        on_progress=on_progress,
        stop=stop,
        shared=shared,
    )
