"""The message a friend receives: the issue, who sent it, and how to subscribe.

Built from the campaign's email HTML and text. The recipient fields are filled so that
none of the forwarder's personal links survive: "unsubscribe" and "send to a friend" lead
to the web version, "manage preferences" to the sign-up page. The fields that name a
person name the forwarder, which is true of this copy ("you received this because ... is
subscribed"). A note from the forwarder is shown as text, escaped, and the friend is told
they are not subscribed. No List-Unsubscribe header: there is nothing to leave.
"""

from __future__ import annotations

import re

from newsletter.i18n import language
from newsletter.i18n.fonts import font_stack
from newsletter.issue.model import Issue
from newsletter.mail.factory import Letter
from newsletter.mail.personalize import clean_value
from newsletter.mail.placeholders import personalize_html, personalize_text
from newsletter.store.models import Subscriber
from newsletter.web.context import WebContext
from newsletter.web.pages import environment

_BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BANNER_FONTS = "Helvetica, Arial, sans-serif"
MAX_NOTE = 500


def forward_mail(
    ctx: WebContext,
    issue: Issue,
    *,
    forwarder: Subscriber,
    friend: str,
    note: str,
    list_name: str,
) -> Letter:
    web_url = ctx.links.web(issue.slug)
    subscribe_url = ctx.links.subscribe(list_name) if list_name else ctx.links.archive()
    fields = {
        "email": forwarder.email,
        "name": forwarder.name,
        "unsubscribe_url": web_url,
        "preferences_url": subscribe_url,
        "forward_url": web_url,
    }
    # The banner sits on top of the issue, so it speaks the issue's language.
    lang = language(issue.language)
    values = {
        "brand": ctx.settings.brand,
        "lang": lang,
        "font_family": font_stack(lang.tag, _BANNER_FONTS),
        "start": "right" if lang.text_direction == "rtl" else "left",
        "who": clean_value(forwarder.name),
        "email": forwarder.email,
        "note": note,
        "subscribe_url": subscribe_url,
        "web_url": web_url,
    }
    env = environment(lang.tag)
    banner_html = env.get_template("mail/forward_banner.html").render(values)
    banner_text = env.get_template("mail/forward_banner.txt").render(values)
    html = personalize_html(issue.html, fields)
    opening = _BODY.search(html)
    at = opening.end() if opening else 0
    subject = " ".join(personalize_text(issue.subject, fields).split())
    return Letter(
        to=friend,
        to_name="",
        subject=f"Fwd: {subject}",
        html=html[:at] + banner_html + html[at:],
        text=banner_text + "\n" + personalize_text(issue.text, fields),
        inline=issue.assets if issue.images == "inline" else (),
    )


def clean_note(note: str) -> str:
    """The note as typed, with line breaks kept and other control characters removed."""
    lines = note.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(clean_value(line) for line in lines).strip()
