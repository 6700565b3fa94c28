"""The copy of an issue that a made-up sample reader would get: what `newsletter build`
writes and the staff preview shows, made by the factory a campaign's messages come from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsletter.mail.factory import ONE_CLICK, Addressee, CampaignMessages, MessageFactory
from newsletter.mail.mime import default_list_id, new_message_id, sender_domain_of
from newsletter.mail.placeholders import personalize_html, personalize_text
from newsletter.mail.sender import sender_of

if TYPE_CHECKING:
    from newsletter.core.settings import Settings
    from newsletter.issue.model import Issue

SAMPLE_NAME = "Sample Reader"
SAMPLE_EMAIL = "reader@example.org"
# Subscriber 0 exists in no store, so the sample's links open nobody's subscription.
_READER = Addressee(key=0, subscriber_id=0, email=SAMPLE_EMAIL, name=SAMPLE_NAME, version=0)


@dataclass(frozen=True)
class SampleCopy:
    html: str
    text: str
    # The complete RFC 5322 message.
    message: bytes
    subject: str = ""
    preheader: str = ""


def sample_copy(settings: Settings, issue: Issue, reader: Addressee | None = None) -> SampleCopy:
    """`reader`: whose copy to show (their name, address and attributes fill the merge
    fields); by default a made-up reader, whose merge fields show their fallbacks. The links
    are subscriber 0's whoever it is, so a sample never opens a real subscription."""
    if reader is None:
        reader = _READER
    else:
        reader = Addressee(0, 0, reader.email, reader.name, 0, attributes=reader.attributes)
    source = CampaignMessages(
        campaign_id=0,
        token="sample",
        list_id=0,
        list_name="",
        issue=issue,
        sender=sender_of(settings),
    )
    # No list, no campaign: the List-Id of mail that belongs to no particular list.
    list_header = default_list_id(settings.brand.name, sender_domain_of(settings.from_address))
    factory = MessageFactory(
        source,
        key=settings.signing_key(),
        headers={"List-Id": list_header, "List-Unsubscribe-Post": ONE_CLICK},
    )
    fields = factory.fields(reader)
    return SampleCopy(
        html=personalize_html(issue.html, fields),
        text=personalize_text(issue.text, fields),
        message=factory.render(reader, message_id=new_message_id(factory.domain)),
        subject=personalize_text(issue.subject, fields),
        preheader=personalize_text(issue.preheader, fields),
    )
