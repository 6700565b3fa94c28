"""Building subscribers, tokens and campaigns for the web tests, and reading pages back."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import functools
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, cast

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select, text
from sqlalchemy.orm import Session

from newsletter.core import tokens
from newsletter.core.settings import get_settings
from newsletter.core.tokens import Purpose, Token
from newsletter.issue.model import Asset, Issue
from newsletter.mail.sender import Sender
from newsletter.store.campaigns import Campaign, CampaignStatus, create_campaign
from newsletter.store.lists import create_list
from newsletter.store.models import Membership, MembershipStatus, Subscriber
from newsletter.store.subscriptions import subscribe
from newsletter.web.context import WebContext
from tests.compose.helpers import compose
from tests.store.databases import current_engine, session_scope

BAD_LINK_TITLE = "This link does not work"


@dataclass(frozen=True)
class Member:
    subscriber_id: int
    list_id: int
    email: str
    version: int = 1

    def token(self, purpose: Purpose, *, campaign_id: int = 0, version: int | None = None) -> str:
        return sign(
            Token(
                purpose,
                self.subscriber_id,
                self.list_id,
                self.version if version is None else version,
                campaign_id,
            )
        )


def sign(token: Token) -> str:
    return tokens.sign(get_settings().signing_key(), token)


def new_list(name: str = "members", description: str = "") -> int:
    with session_scope(write=True) as session:
        return create_list(session, name, description).id


def new_member(
    email_address: str,
    list_id: int,
    *,
    name: str = "",
    status: MembershipStatus = MembershipStatus.ACTIVE,
) -> Member:
    with session_scope(write=True) as session:
        membership = subscribe(
            session, list_id, email_address, name=name, source="test", status=status
        )
        subscriber = session.get(Subscriber, membership.subscriber_id)
        assert subscriber is not None
        return Member(membership.subscriber_id, list_id, subscriber.email, membership.version)


def membership(member: Member) -> tuple[str, int]:
    """The membership's (status, version) now."""
    with session_scope() as session:
        found = session.get(Membership, (member.list_id, member.subscriber_id))
        assert found is not None
        return found.status.value, found.version


def new_campaign(
    list_id: int,
    *,
    list_name: str = "members",
    issue: Issue | None = None,
    status: CampaignStatus = CampaignStatus.SENDING,
) -> Campaign:
    issue = issue or example_issue()
    settings = get_settings()
    with session_scope(write=True) as session:
        campaign = create_campaign(
            session,
            list_id=list_id,
            list_name=list_name,
            issue=issue,
            transport="smtp",
            sender=Sender(
                from_address=settings.from_address,
                reply_to=None,
                return_path="bounces@example.org",
                unsubscribe_mailto=None,
                public_url=settings.public_url,
            ),
        )
        campaign.status = status
        return campaign


@functools.cache
def example_issue() -> Issue:
    """The composed example (composing takes a while; the issue is immutable)."""
    return compose()


def with_assets(issue: Issue, *assets: Asset) -> Issue:
    return dataclasses.replace(issue, assets=tuple(assets))


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: to show that a request changed nothing."""
    engine = current_engine()
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return {
            name: [tuple(row) for row in connection.execute(select(table).order_by(*table.c))]
            for name, table in sorted(metadata.tables.items())
        }


def count(session: Session, sql: str, **params: Any) -> int:
    return int(session.execute(text(sql), params).scalar_one())


def rows(sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with session_scope() as session:
        return [tuple(row) for row in session.execute(text(sql), params)]


def form_action(html: str, value: str | None = None) -> str:
    """The action of the (first) form, or of the one with a hidden action=`value`."""
    for match in re.finditer(r'<form method="post" action="([^"]+)"(.*?)</form>', html, re.S):
        if value is None or f'name="action" value="{value}"' in match.group(2):
            return match.group(1)
    raise AssertionError(f"no form with action {value!r} in the page")


def form_fields(html: str, value: str) -> dict[str, str]:
    """The hidden fields of the form with a hidden action=`value`: what its button posts."""
    for match in re.finditer(r'<form method="post" action="[^"]+"(.*?)</form>', html, re.S):
        if f'name="action" value="{value}"' in match.group(1):
            return dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', match.group(1)))
    raise AssertionError(f"no form with action {value!r} in the page")


def mail_settled(client: TestClient, timeout: float = 10.0) -> None:
    """Wait until the app has sent (or failed to send) every mail it queued: pages
    answer before their mail goes (newsletter.web.outbox)."""
    context = cast(FastAPI, client.app).state.context
    assert isinstance(context, WebContext)
    assert context.outbox.wait_idle(timeout), f"the app's mail was not sent within {timeout} s"


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content
