"""The message a friend receives: the issue, who sent it, and how to subscribe.

Built from the campaign's email HTML and text. The footer's part that is the recipient's
own (their unsubscribe, forward and preferences links, "you received this because ADDRESS
is subscribed") gives way to the friend's footer: subscribe, web version, PDF, and who sent
it, without the forwarder's address. The composed issue marks that part: in the HTML
between `<!--nl:personal-->` and `<!--/nl:personal-->`, in the text from the unsubscribe
line to the end (newsletter/compose/templates). A template without the marks (an override
of the packaged ones) keeps its footer, and the recipient fields are filled so that none
of the forwarder's personal links survive: "unsubscribe" and "send to a friend" lead to the
web version, "manage preferences" to the sign-up page; the fields that name a person name
the forwarder. A note from the forwarder is shown as text, escaped, and the friend is told
they are not subscribed. No List-Unsubscribe header: there is nothing to leave.
"""

from __future__ import annotations

import re

from newsletter.i18n import language
from newsletter.i18n.fonts import font_stack
from newsletter.issue.model import Issue, placeholder
from newsletter.mail.factory import Letter
from newsletter.mail.personalize import clean_value
from newsletter.mail.placeholders import personalize_html, personalize_text
from newsletter.store.models import Subscriber
from newsletter.web.context import WebContext
from newsletter.web.pages import environment

_BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_PERSONAL_HTML = re.compile(r"<!--nl:personal-->.*?<!--/nl:personal-->", re.DOTALL)
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
        "pdf_url": ctx.links.pdf(issue.slug),
    }
    env = environment(lang.tag)
    banner_html = env.get_template("mail/forward_banner.html").render(values)
    banner_text = env.get_template("mail/forward_banner.txt").render(values)
    footer_html = env.get_template("mail/forward_footer.html").render(values)
    footer_text = env.get_template("mail/forward_footer.txt").render(values)
    html = personalize_html(_friends_html(issue.html, footer_html), fields)
    text = personalize_text(_friends_text(issue.text, footer_text), fields)
    opening = _BODY.search(html)
    at = opening.end() if opening else 0
    subject = " ".join(personalize_text(issue.subject, fields).split())
    return Letter(
        to=friend,
        to_name="",
        subject=f"Fwd: {subject}",
        html=html[:at] + banner_html + html[at:],
        text=banner_text + "\n" + text,
        inline=issue.assets if issue.images == "inline" else (),
    )


def _friends_html(html: str, footer: str) -> str:
    # A function as the replacement: the footer is HTML, not a pattern with back references.
    return _PERSONAL_HTML.sub(lambda _: footer, html, count=1)


def _friends_text(text: str, footer: str) -> str:
    at = text.find(placeholder("unsubscribe_url"))
    if at < 0:
        return text
    line_start = text.rfind("\n", 0, at) + 1
    return text[:line_start] + footer.strip("\n") + "\n"


def clean_note(note: str) -> str:
    """The note as typed, with line breaks kept and other control characters removed."""
    lines = note.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(clean_value(line) for line in lines).strip()
