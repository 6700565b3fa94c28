"""The double opt-in mail: one signed link that confirms one membership."""

from __future__ import annotations

from newsletter.core import tokens
from newsletter.core.tokens import Token
from newsletter.i18n import Language, language
from newsletter.i18n.fonts import font_stack
from newsletter.mail.factory import Letter
from newsletter.store.optin import Confirmation
from newsletter.web.context import WebContext
from newsletter.web.pages import environment


def confirmation_mail(
    ctx: WebContext, confirmation: Confirmation, list_name: str, lang: Language | None = None
) -> Letter:
    """`lang`: the list's language (English when not given)."""
    lang = lang or language()
    brand = ctx.settings.brand
    token = tokens.sign(
        ctx.key,
        Token("c", confirmation.subscriber_id, confirmation.list_id, confirmation.version),
    )
    values = {
        "brand": brand,
        "lang": lang,
        "font_family": font_stack(lang.tag, brand.font_family),
        "heading_font_family": font_stack(lang.tag, brand.heading_font_family),
        "list_name": list_name,
        "confirm_url": ctx.links.confirm(token),
        "email": confirmation.email,
    }
    env = environment(lang.tag)
    subject = lang.gettext("Please confirm your subscription to %(brand)s")
    return Letter(
        to=confirmation.email,
        to_name=confirmation.name,
        subject=subject % {"brand": brand.name},
        html=env.get_template("mail/confirm.html").render(values),
        text=env.get_template("mail/confirm.txt").render(values),
    )
