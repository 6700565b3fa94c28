"""From the token in a URL to what it refers to, or `BadLink` (one answer for every fault)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.core import tokens
from newsletter.core.errors import TokenError
from newsletter.core.tokens import Purpose, Token
from newsletter.store.models import MailingList, Subscriber, Suppression, SuppressionReason
from newsletter.store.subscriptions import TokenTarget, check_token, token_for
from newsletter.web.context import WebContext
from newsletter.web.pages import BadLink
from newsletter.web.test_links import LinkFromTest


def verified(ctx: WebContext, text: str, purpose: Purpose) -> Token:
    """The token's content if we signed it for `purpose`; no database needed. A test
    message's token for `purpose` raises LinkFromTest (newsletter.web.test_links)."""
    try:
        return tokens.verify(ctx.key, text, purpose)
    except TokenError:
        pass
    try:
        test = tokens.verify(ctx.key, text, purpose, test=True)
    except TokenError:
        raise BadLink from None
    raise LinkFromTest(test)


def current(session: Session, token: Token, *, needs_list: bool = False) -> TokenTarget:
    """What the token refers to, if it still exists and its version is current."""
    try:
        target = check_token(session, token)
    except TokenError:
        raise BadLink from None
    if needs_list and target.membership is None:
        raise BadLink
    return target


def list_of(session: Session, target: TokenTarget) -> MailingList | None:
    if target.membership is None:
        return None
    return session.get(MailingList, target.membership.list_id)


def fresh_token(ctx: WebContext, target: TokenTarget, purpose: Purpose) -> str:
    """A token of `purpose` for the membership as it is now (after a version bump, too)."""
    if target.membership is None:
        return tokens.sign(ctx.key, Token(purpose, target.subscriber.id))
    return tokens.sign(ctx.key, token_for(target.membership, purpose))


def suppression_reason(session: Session, subscriber: Subscriber) -> SuppressionReason | None:
    return session.scalar(
        select(Suppression.reason).where(Suppression.email_key == subscriber.email_key)
    )
