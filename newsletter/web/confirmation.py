"""The double opt-in mail: one signed link that confirms one membership."""

from __future__ import annotations

from newsletter.core import tokens
from newsletter.core.tokens import Token
from newsletter.store.optin import Confirmation
from newsletter.web.context import WebContext
from newsletter.web.mail import Mail
from newsletter.web.pages import environment


def confirmation_mail(ctx: WebContext, confirmation: Confirmation, list_name: str) -> Mail:
    token = tokens.sign(
        ctx.key,
        Token("c", confirmation.subscriber_id, confirmation.list_id, confirmation.version),
    )
    values = {
        "brand": ctx.settings.brand,
        "list_name": list_name,
        "confirm_url": ctx.links.confirm(token),
        "email": confirmation.email,
    }
    env = environment()
    return Mail(
        to=confirmation.email,
        to_name=confirmation.name,
        subject=f"Please confirm your subscription to {ctx.settings.brand.name}",
        html=env.get_template("mail/confirm.html").render(values),
        text=env.get_template("mail/confirm.txt").render(values),
    )
