"""The links of a test message (newsletter.mail.factory, `MessageFactory.for_test`).

Their tokens are test tokens (newsletter.core.tokens): no real link accepts one, so a test
link can never touch a subscription. Each opens, GET or POST, a page that says the message
was a test and what the link does in the issue as sent; nothing changes. The page speaks
the language of the list the test was sent for; for none, the issue's language, which
the link names (`?lang=`), or English.

Its web version and PDF links carry `?test=LANGUAGE` (not signed: they open nothing
private); until the issue is published they answer a 404 that says so in that language.
"""

from __future__ import annotations

from starlette.responses import HTMLResponse

from newsletter.core.errors import NewsletterError
from newsletter.core.tokens import Token
from newsletter.i18n import N_, language, shipped
from newsletter.store.models import MailingList
from newsletter.web.context import WebContext
from newsletter.web.db import reading
from newsletter.web.languages import of_list
from newsletter.web.pages import error_page, render


class LinkFromTest(NewsletterError):
    """A link from a test message: answered by the page saying so."""

    def __init__(self, token: Token) -> None:
        super().__init__("a link from a test message")
        self.token = token


# What the link does in the issue as sent.
_WHAT = {
    "u": N_("In the newsletter as sent, this link lets the reader unsubscribe."),
    "p": N_("In the newsletter as sent, this link lets the reader choose their lists."),
    "f": N_("In the newsletter as sent, this link lets the reader send it to a friend."),
}


def not_published_page(ctx: WebContext, language_tag: str) -> HTMLResponse:
    """A test message's web version or PDF link, before the issue is published: a 404
    that says why. The language is the link's own (no secret), one that ships or English."""
    primary = language_tag.split("-")[0].lower()
    lang = language(primary if primary in shipped() else None)
    return error_page(
        ctx,
        404,
        lang.gettext("This issue is not published yet"),
        lang.gettext(
            "This link comes from a test message. The web version and the PDF appear here "
            "once the issue is sent."
        ),
        lang=lang,
    )


def link_from_test_page(ctx: WebContext, token: Token, language_tag: str = "") -> HTMLResponse:
    """The page for a test link: in its list's language, else in the language the link
    names (the issue's, `?lang=`), else English."""
    primary = language_tag.split("-")[0].lower()
    lang = language(primary if primary in shipped() else None)
    if token.list_id:
        with reading(ctx) as session:
            lang = of_list(session.get(MailingList, token.list_id))
    return render(
        ctx,
        "test_link.html",
        {
            "title": lang.gettext("This was a test message"),
            "what": lang.gettext(_WHAT[token.purpose]) if token.purpose in _WHAT else "",
        },
        lang=lang,
    )
