"""What composing produces: an issue rendered once, with placeholders for recipient fields.

Per recipient only the placeholders change (see `newsletter.mail.personalize`). A placeholder is
made of ASCII letters and underscores only, so HTML escaping, URL contexts, MJML, premailer
and quoted-printable encoding all leave it intact. Besides PERSONAL_FIELDS, an issue may hold
merge fields from the subscriber's attributes (newsletter.issue.merge_fields), whose name is
their placeholder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from newsletter.issue.merge_fields import is_merge_name

# The fields that differ between recipients. Everything else is the same for all of them.
PERSONAL_FIELDS: tuple[str, ...] = (
    "email",
    "name",
    "unsubscribe_url",
    "preferences_url",
    "forward_url",
)


def placeholder(name: str) -> str:
    if name not in PERSONAL_FIELDS:
        if is_merge_name(name):
            return name
        raise KeyError(name)
    return f"__NL_{name.upper()}__"


@dataclass(frozen=True)
class Asset:
    """A file the issue refers to (a speaker photo, the logo)."""

    filename: str
    content_type: str
    data: bytes

    @property
    def cid(self) -> str:
        return f"{self.filename}@newsletter"


@dataclass(frozen=True)
class Issue:
    slug: str
    subject: str
    preheader: str
    language: str
    direction: Literal["ltr", "rtl"]
    # The email HTML and text part, with placeholders for PERSONAL_FIELDS.
    html: str
    text: str
    # The web version: the same content without any personal link.
    web_html: str
    # The web version laid out for A4 print, images embedded, for the PDF.
    print_html: str
    images: Literal["hosted", "inline"] = "hosted"
    assets: tuple[Asset, ...] = field(default_factory=tuple)
    # The day of the event the issue reports on (the record's date), which the archive
    # shows; None for an issue kept from before it was recorded.
    date: dt.date | None = None
