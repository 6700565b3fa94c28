"""Every message the project writes, made one way: through `MessageTemplate`
(newsletter.mail.mime), the expensive part once per issue, cheap substitution per recipient.

- `MessageFactory`: a campaign's messages. A test message is one of a campaign that does not
  exist (id 0), made by `for_test`: its subject marked "[Test]" in the issue's language,
  its links test tokens (newsletter.core.tokens), which open a page saying it was a test
  and touch nobody's subscription, its photos inline (`with_photos_inline`), and its web
  version and PDF links opening a page that says the issue is not published yet
  (`with_test_pages`). The sample that `newsletter build` writes is one for a made-up
  reader with the headers of no particular list (newsletter.mail.sample).
- `letter_message`: a one-off message from the web side (a confirmation, a forward), whose
  text is final and which belongs to no list.

Every campaign message carries, besides the issue: a Message-ID unique to its delivery and
the same on every attempt (`<token.delivery-id@sender-domain>`), Date, List-Unsubscribe with
the recipient's signed token and List-Unsubscribe-Post (RFC 8058), List-Id
(`Name <list-label.sender-domain>`, RFC 2919), `X-Newsletter-Campaign: ID` and
`Feedback-ID: ID:list-label:newsletter` (Gmail's feedback loop, which reports complaint
rates per campaign and per list to the DKIM domain's owner), and a DKIM signature over all
of them when DKIM is configured. A test message has no Feedback-ID: it belongs to no
campaign, and its few copies to the staff would only blur the figures of campaign 0.

A transport that builds the message itself (the HTTP APIs: `Transport.wants_raw` is false)
gets the recipient's fields and headers and no bytes, so no MIME is written for it; what
could not go into a header is refused all the same (`MessageTemplate.check`).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from newsletter.core.links import Links
from newsletter.i18n import N_, language
from newsletter.issue import merge_fields
from newsletter.issue.model import Asset, Issue
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.headers import feedback_id
from newsletter.mail.headers import list_id as list_id_value
from newsletter.mail.mime import MessageTemplate, mailto_url, sender_domain_of
from newsletter.mail.personalize import Recipient, clean_value, personal_fields
from newsletter.mail.sender import Sender
from newsletter.transports.base import Content, OutgoingMessage

CAMPAIGN_HEADER = "X-Newsletter-Campaign"
FEEDBACK_HEADER = "Feedback-ID"
# Feedback-ID's sender identifier: the same on every campaign, as Gmail asks. Gmail reports
# only to the owner of the DKIM domain, so it needs not name the sender; it names the
# stream, apart from the organisation's other mail signed for the same domain.
FEEDBACK_SENDER = "newsletter"
ONE_CLICK = "List-Unsubscribe=One-Click"
# Written by the template itself, not passed on as extra headers.
_LIST_HEADERS = frozenset({"List-Id", "List-Unsubscribe-Post"})

_LABEL_JUNK = re.compile(r"[^a-z0-9]+")


def list_label(name: str, list_id: int) -> str:
    """The list's name as a DNS label for List-Id: lower case, letters, digits, hyphens;
    `list-ID` when nothing of the name is left (a name in another script)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    label = _LABEL_JUNK.sub("-", ascii_name.lower()).strip("-")[:63].strip("-")
    return label or f"list-{list_id}"


def list_id_header(list_name: str, list_id: int, sender_domain: str) -> str:
    """The List-Id value, already in header form (newsletter.mail.headers writes the name)."""
    name = " ".join(list_name.split())
    return list_id_value(name, f"{list_label(list_name, list_id)}.{sender_domain}")


def message_id(token: str, delivery_id: int, sender_domain: str) -> str:
    return f"<{token}.{delivery_id}@{sender_domain}>"


@dataclass(frozen=True)
class CampaignMessages:
    """What a campaign's messages are made of (from the campaign row or, for a dry run or
    a test message, from the settings)."""

    campaign_id: int
    token: str
    list_id: int
    list_name: str
    issue: Issue
    sender: Sender
    # Test messages' (see `MessageFactory.for_test`).
    test: bool = False


def marked_as_test(issue: Issue) -> str:
    """The issue's subject marked as a test's, in the issue's language."""
    marked = language(issue.language).gettext(N_("[Test] %(subject)s"))
    return marked % {"subject": issue.subject}


def with_photos_inline(issue: Issue, links: Links) -> Issue:
    """The issue with its hosted images sent inline. A test message goes out before the
    issue is published, when the web side serves none of its images yet (they are the
    campaign's, newsletter.web.issues). An HTTP API gets them as its inline attachments
    (`Content.images`)."""
    if issue.images != "hosted" or not issue.assets:
        return issue
    html = issue.html
    for asset in issue.assets:
        html = html.replace(links.asset(issue.slug, asset.filename), f"cid:{asset.cid}")
    return dataclasses.replace(issue, html=html, images="inline")


def with_test_pages(issue: Issue, links: Links) -> Issue:
    """The issue with its web version and PDF links marked `?test=LANGUAGE`: until the
    issue is published, they open a page saying so (newsletter.web.test_links), in the
    issue's language, instead of "no such issue"."""
    marked = {
        url: f"{url}?test={quote(issue.language)}"
        for url in (links.web(issue.slug), links.pdf(issue.slug))
    }
    # The web version's address begins the PDF's and the photos': only whole addresses.
    pattern = re.compile("(" + "|".join(map(re.escape, marked)) + r')(?=["\s<]|$)')
    return dataclasses.replace(
        issue,
        html=pattern.sub(lambda match: marked[match[1]], issue.html),
        text=pattern.sub(lambda match: marked[match[1]], issue.text),
    )


@dataclass(frozen=True)
class Addressee:
    """One delivery's recipient, as the runner claimed it."""

    key: int
    subscriber_id: int
    email: str
    name: str
    version: int
    # The subscriber's attributes (CSV columns), for the issue's merge fields.
    attributes: Mapping[str, object] = field(default_factory=dict, hash=False, compare=False)


class MessageFactory:
    """A campaign's messages (a test message's, the sample's): the template built once,
    then per recipient the signed links made and, for a transport that sends our bytes
    (`raw`), the message rendered and signed."""

    def __init__(
        self,
        source: CampaignMessages,
        *,
        key: bytes,
        raw: bool = True,
        signer: DkimSigner | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """`headers`: those every message shares, List-Id and List-Unsubscribe-Post among
        them; by default the campaign's (List-Id from its list, X-Newsletter-Campaign)."""
        self.source = source
        self._headers = headers
        sender = source.sender
        self.domain = sender_domain_of(sender.from_address)
        self.raw = raw
        self.signer = signer
        shared = dict(headers) if headers is not None else self._campaign_headers()
        self.template = MessageTemplate.build(
            source.issue,
            from_address=sender.from_address,
            reply_to=sender.reply_to,
            list_id=shared["List-Id"],
            unsubscribe_mailto=sender.unsubscribe_mailto,
            extra_headers={k: v for k, v in shared.items() if k not in _LIST_HEADERS},
            sender_domain=self.domain,
        )
        # Decoded once here; per recipient only their values are looked up.
        self.merges = tuple(
            (name, merge_fields.field_of(name))
            for name in dict.fromkeys(
                (*(slot.field for slot in self.template.distinct), *self.template.subject.names)
            )
            if merge_fields.is_merge_name(name)
        )
        self.key = key
        self.links = Links(sender.public_url)
        self.mailto = mailto_url(sender.unsubscribe_mailto) if sender.unsubscribe_mailto else None
        self.content = Content(
            subject=source.issue.subject,
            html=source.issue.html,
            text=source.issue.text,
            from_address=sender.from_address,
            reply_to=sender.reply_to,
            headers=shared,
            # Once per campaign: an HTTP API attaches them to every request as they are.
            images=source.issue.assets if source.issue.images == "inline" else (),
        )

    def _campaign_headers(self) -> dict[str, str]:
        source = self.source
        headers = {
            "List-Id": list_id_header(source.list_name, source.list_id, self.domain),
            "List-Unsubscribe-Post": ONE_CLICK,
            CAMPAIGN_HEADER: str(source.campaign_id),
        }
        if not source.test:
            # The list by its label, not its number: a field's value must not recur in
            # another field ("7" the list and "7" a campaign), or Gmail adds them up.
            label = list_label(source.list_name, source.list_id)
            headers[FEEDBACK_HEADER] = feedback_id(
                str(source.campaign_id), label, sender=FEEDBACK_SENDER
            )
        return headers

    def for_test(self) -> MessageFactory:
        """This factory's messages as test messages (see the module docstring)."""
        if self.source.test:
            return self
        issue = dataclasses.replace(self.source.issue, subject=marked_as_test(self.source.issue))
        issue = with_photos_inline(issue, self.links)
        issue = with_test_pages(issue, self.links)
        return MessageFactory(
            dataclasses.replace(self.source, issue=issue, test=True),
            key=self.key,
            raw=self.raw,
            signer=self.signer,
            headers=self._headers,
        )

    def message_id(self, delivery_id: int) -> str:
        return message_id(self.source.token, delivery_id, self.domain)

    def fields(self, addressee: Addressee) -> dict[str, str]:
        """The recipient's values for the issue's placeholders, unescaped, merge fields
        included (their attribute or fallback)."""
        source = self.source
        recipient = Recipient(
            email=addressee.email,
            name=addressee.name,
            subscriber_id=addressee.subscriber_id,
            list_id=source.list_id,
            version=addressee.version,
            campaign_id=source.campaign_id,
            test=source.test,
        )
        values = personal_fields(recipient, key=self.key, links=self.links)
        if source.test:
            # A test is sent for no list, so its links' page cannot take the list's
            # language: the link names the issue's (no secret: it opens nothing private).
            for name in ("unsubscribe_url", "preferences_url", "forward_url"):
                values[name] += f"?lang={quote(source.issue.language)}"
        for name, merge in self.merges:
            values[name] = clean_value(
                merge_fields.value_of(
                    merge, addressee.attributes, name=addressee.name, email=addressee.email
                )
            )
        return values

    def build(self, addressee: Addressee, *, message_id: str | None = None) -> OutgoingMessage:
        """The message for one recipient, its bytes only when `raw`; MessageError (or
        DkimError) if it cannot be made."""
        fields = self.fields(addressee)
        mid = message_id or self.message_id(addressee.key)
        if self.raw:
            data = self._data(addressee, fields, mid)
        else:
            self.template.check(fields, to=addressee.email, to_name=addressee.name, message_id=mid)
            data = b""
        unsubscribe = f"<{fields['unsubscribe_url']}>"
        if self.mailto:
            unsubscribe += f", <{self.mailto}>"
        return OutgoingMessage(
            key=addressee.key,
            recipient=addressee.email,
            sender=self.source.sender.return_path,
            data=data,
            fields=fields,
            headers={"Message-ID": mid, "List-Unsubscribe": unsubscribe},
        )

    def render(self, addressee: Addressee, *, message_id: str | None = None) -> bytes:
        """The complete message for one recipient whatever `raw` says (a sample to show)."""
        mid = message_id or self.message_id(addressee.key)
        return self._data(addressee, self.fields(addressee), mid)

    def _data(self, addressee: Addressee, fields: dict[str, str], message_id: str) -> bytes:
        data = self.template.render(
            fields, to=addressee.email, to_name=addressee.name, message_id=message_id
        )
        return self.signer.sign(data) if self.signer is not None else data


@dataclass(frozen=True)
class Letter:
    """A one-off message to one person, its text final."""

    to: str
    to_name: str
    subject: str
    html: str
    text: str
    # Inline images the HTML refers to by cid: (an issue composed with images=inline).
    inline: Sequence[Asset] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


def letter_message(letter: Letter, *, from_address: str, reply_to: str | None = None) -> bytes:
    """The letter's bytes; MessageError when a header cannot be written safely."""
    template = MessageTemplate.letter(
        subject=letter.subject,
        text=letter.text,
        html=letter.html,
        inline=letter.inline,
        from_address=from_address,
        reply_to=reply_to,
        extra_headers=letter.headers,
    )
    return template.render({}, to=letter.to, to_name=letter.to_name)
