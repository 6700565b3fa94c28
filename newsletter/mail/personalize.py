"""How one recipient's message is produced. This is the only place that says so.

Per issue (once, however many recipients):

1. `compose_issue` renders the record through Jinja, MJML and CSS inlining into an `Issue`
   whose HTML, text and (possibly) subject carry placeholders for `PERSONAL_FIELDS`.
2. `MessageTemplate.build` (newsletter.mail.mime) splits the HTML and text at those
   placeholders with `Substituter`, quoted-printable-encodes the literal parts, folds the
   shared headers and base64-encodes inline images.

Per recipient (cheap: no templates, no CSS, no MIME objects):

3. `personal_fields` signs the recipient's unsubscribe, preferences and forward tokens and
   returns the values of `PERSONAL_FIELDS`.
4. `MessageTemplate.render` HTML-escapes those values for the HTML part (the text part takes
   them as they are), encodes only them, joins them with the pre-encoded literal parts and
   adds the recipient's headers (To, Date, Message-ID, List-Unsubscribe).

`Personalizer` runs steps 3 and 4 for a `Recipient`; senders, previews and `newsletter build`
all go through it, so every copy of an issue differs only in recipient fields and links.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from newsletter.core import tokens
from newsletter.core.links import Links
from newsletter.issue.model import PERSONAL_FIELDS, placeholder
from newsletter.mail.headers import clean_text

if TYPE_CHECKING:
    from newsletter.mail.mime import MessageTemplate

_FIELD_BY_PLACEHOLDER = {placeholder(name): name for name in PERSONAL_FIELDS}
# A capturing group makes re.split keep the placeholders between the literal parts.
_PLACEHOLDERS = re.compile("(" + "|".join(map(re.escape, _FIELD_BY_PLACEHOLDER)) + ")")


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    subscriber_id: int
    list_id: int = 0
    version: int = 0
    campaign_id: int = 0


def clean_value(value: str) -> str:
    """`value` on one line as a reader sees it (`newsletter.mail.headers.clean_text`): encoded
    words decoded, every run of control characters (CR, LF, tab, ...) a space. Once per
    recipient field here, so the headers and the body show the same text."""
    return clean_text(value)


def personal_fields(recipient: Recipient, *, key: bytes, links: Links) -> dict[str, str]:
    """The values of `PERSONAL_FIELDS` for one recipient, unescaped."""
    subscriber, list_id, version = recipient.subscriber_id, recipient.list_id, recipient.version
    return {
        "email": clean_value(recipient.email),
        "name": clean_value(recipient.name),
        "unsubscribe_url": links.unsubscribe(
            tokens.sign(key, tokens.Token("u", subscriber, list_id, version))
        ),
        "preferences_url": links.preferences(
            tokens.sign(key, tokens.Token("p", subscriber, list_id, version))
        ),
        "forward_url": links.forward(
            tokens.sign(key, tokens.Token("f", subscriber, list_id, version, recipient.campaign_id))
        ),
    }


def html_values(fields: Mapping[str, str]) -> dict[str, str]:
    """The fields as they must appear in HTML text and attribute values."""
    return {name: html.escape(value, quote=True) for name, value in fields.items()}


class Substituter:
    """A string split once at its placeholders, so filling it in is a single join.

    `literals` has one more element than `names`: literals[0], value of names[0],
    literals[1], ... literals[-1].
    """

    __slots__ = ("literals", "names")

    def __init__(self, source: str) -> None:
        parts = _PLACEHOLDERS.split(source)
        self.literals: tuple[str, ...] = tuple(parts[0::2])
        self.names: tuple[str, ...] = tuple(_FIELD_BY_PLACEHOLDER[p] for p in parts[1::2])

    @property
    def is_constant(self) -> bool:
        return not self.names

    def fill(self, values: Mapping[str, str]) -> str:
        """Join the literal parts with `values` as given (escape them first for HTML)."""
        literals = self.literals
        out = [literals[0]]
        for index, name in enumerate(self.names, start=1):
            out.append(values[name])
            out.append(literals[index])
        return "".join(out)


def personalize_html(source: str, fields: Mapping[str, str]) -> str:
    return Substituter(source).fill(html_values(fields))


def personalize_text(source: str, fields: Mapping[str, str]) -> str:
    return Substituter(source).fill(fields)


class Personalizer:
    """Steps 3 and 4 above for one issue: a recipient in, that recipient's message out."""

    def __init__(self, template: MessageTemplate, *, key: bytes, links: Links) -> None:
        self.template = template
        self.key = key
        self.links = links

    def fields(self, recipient: Recipient) -> dict[str, str]:
        return personal_fields(recipient, key=self.key, links=self.links)

    def message(
        self,
        recipient: Recipient,
        *,
        message_id: str | None = None,
        date: datetime | None = None,
    ) -> bytes:
        return self.template.render(
            self.fields(recipient),
            to=recipient.email,
            to_name=recipient.name,
            message_id=message_id,
            date=date,
        )
