"""How one recipient's message is produced. This is the only place that says so.

Per issue (once, however many recipients):

1. `compose_issue` renders the record through Jinja, MJML and CSS inlining into an `Issue`
   whose HTML, text and (possibly) subject carry placeholders for `PERSONAL_FIELDS`.
2. `MessageTemplate.build` (newsletter.mail.mime) splits the HTML and text at those
   placeholders with `Substituter` (newsletter.mail.placeholders), quoted-printable-encodes
   the literal parts, folds the shared headers and base64-encodes inline images.

Per recipient (cheap: no templates, no CSS, no MIME objects):

3. `personal_fields` signs the recipient's unsubscribe, preferences and forward tokens and
   returns the values of `PERSONAL_FIELDS`.
4. `MessageTemplate.render` HTML-escapes those values for the HTML part (the text part takes
   them as they are), encodes only them, joins them with the pre-encoded literal parts and
   adds the recipient's headers (To, Date, Message-ID, List-Unsubscribe). A transport that
   builds the message itself (an HTTP API) gets the values instead and substitutes them in
   its own syntax, and nothing is rendered for it.

`MessageFactory` (newsletter.mail.factory) runs steps 3 and 4 for every recipient; sends,
test messages, previews and `newsletter build` all go through it, so every copy of an
issue differs only in recipient fields and links.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.core import tokens
from newsletter.core.links import Links
from newsletter.mail.headers import clean_text


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    subscriber_id: int
    list_id: int = 0
    version: int = 0
    campaign_id: int = 0
    # A test message's: its links carry test tokens, which open a page saying so.
    test: bool = False


def clean_value(value: str) -> str:
    """`value` on one line as a reader sees it (`newsletter.mail.headers.clean_text`): encoded
    words decoded, every run of control characters (CR, LF, tab, ...) a space. Once per
    recipient field here, so the headers and the body show the same text."""
    return clean_text(value)


def personal_fields(recipient: Recipient, *, key: bytes, links: Links) -> dict[str, str]:
    """The values of `PERSONAL_FIELDS` for one recipient, unescaped."""
    subscriber, list_id, version = recipient.subscriber_id, recipient.list_id, recipient.version
    test = recipient.test
    return {
        "email": clean_value(recipient.email),
        "name": clean_value(recipient.name),
        "unsubscribe_url": links.unsubscribe(
            tokens.sign(key, tokens.Token("u", subscriber, list_id, version, test=test))
        ),
        "preferences_url": links.preferences(
            tokens.sign(key, tokens.Token("p", subscriber, list_id, version, test=test))
        ),
        "forward_url": links.forward(
            tokens.sign(
                key,
                tokens.Token("f", subscriber, list_id, version, recipient.campaign_id, test=test),
            )
        ),
    }
