"""The copy of an issue that a made-up sample reader would get: what `newsletter build`
writes and the staff preview shows, produced by the same per-recipient path as a send."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsletter.core.links import Links
from newsletter.mail.mime import MessageTemplate, default_list_id, sender_domain_of
from newsletter.mail.personalize import Personalizer, Recipient, personalize_html, personalize_text

if TYPE_CHECKING:
    from newsletter.core.settings import Settings
    from newsletter.issue.model import Issue

SAMPLE_NAME = "Sample Reader"
SAMPLE_EMAIL = "reader@example.org"


@dataclass(frozen=True)
class SampleCopy:
    html: str
    text: str
    # The complete RFC 5322 message.
    message: bytes


def sample_copy(settings: Settings, issue: Issue) -> SampleCopy:
    template = MessageTemplate.build(
        issue,
        from_address=settings.from_address,
        reply_to=settings.reply_to,
        list_id=default_list_id(settings.brand.name, sender_domain_of(settings.from_address)),
        unsubscribe_mailto=settings.unsubscribe_mailto,
    )
    personalizer = Personalizer(
        template, key=settings.signing_key(), links=Links(settings.public_url)
    )
    # Subscriber 0 exists in no store, so the sample's links open nobody's subscription.
    sample = Recipient(SAMPLE_EMAIL, SAMPLE_NAME, subscriber_id=0)
    fields = personalizer.fields(sample)
    return SampleCopy(
        html=personalize_html(issue.html, fields),
        text=personalize_text(issue.text, fields),
        message=personalizer.message(sample),
    )
