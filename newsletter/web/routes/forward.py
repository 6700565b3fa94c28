"""Send to a friend: `/f/{token}`, the token naming the forwarder and the campaign.

GET shows the form (friend's address, an optional note). POST sends that issue to the
friend once (newsletter.store.forwards decides: send, already sent, over a limit) through
the configured transport, as a one-message batch. The friend is not subscribed.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from newsletter.core.tokens import Token
from newsletter.i18n import Language
from newsletter.store.addresses import InvalidAddress, normalise
from newsletter.store.forwards import (
    ForwardLimits,
    ForwardOutcome,
    claim_forward,
    mark_sent,
    release,
)
from newsletter.store.models import Subscriber
from newsletter.web import issues
from newsletter.web.access import current, list_of, verified
from newsletter.web.context import WebContext, client_ip, get_context
from newsletter.web.db import reading, writing
from newsletter.web.forms import Form, read_form
from newsletter.web.forwarding import MAX_NOTE, clean_note, forward_mail
from newsletter.web.languages import of_target
from newsletter.web.mail import send, to_header
from newsletter.web.pages import BadLink, error_page, render

router = APIRouter()

# The longest address shown back in the form (a longer one is refused anyway).
MAX_ADDRESS = 320


@dataclass(frozen=True)
class _Forwarding:
    forwarder: Subscriber
    issue: issues.Published
    # The list whose sign-up page the friend is offered.
    list_name: str
    # What the forwarder's pages speak: their list's language.
    lang: Language


@router.get("/f/{token}")
def forward_page(token: str, ctx: WebContext = Depends(get_context)) -> HTMLResponse:
    parsed = verified(ctx, token, "f")
    with reading(ctx) as session:
        forwarding = _load(session, parsed)
    return _form(ctx, token, forwarding)


@router.post("/f/{token}")
async def forward_post(request: Request, token: str) -> Response:
    ctx = get_context(request)
    parsed = verified(ctx, token, "f")
    form = await read_form(request)
    return await run_in_threadpool(_forward, ctx, parsed, token, form, client_ip(request))


def _forward(ctx: WebContext, token: Token, token_text: str, form: Form, ip: str) -> HTMLResponse:
    friend = form.get("email").strip()
    note = clean_note(form.get("note"))
    with reading(ctx) as session:
        forwarding = _load(session, token)
    lang = forwarding.lang
    if len(note) > MAX_NOTE:
        error = lang.ngettext(
            "Please keep the note to %(limit)s character (it has %(length)s).",
            "Please keep the note to %(limit)s characters (it has %(length)s).",
            MAX_NOTE,
        ) % {"limit": lang.number(MAX_NOTE), "length": lang.number(len(note))}
        return _form(
            ctx,
            token_text,
            forwarding,
            friend=friend[:MAX_ADDRESS],
            note=note,
            error=error,
        )
    _check_mailable(friend)
    limits = ctx.limits
    try:
        with writing(ctx) as session:
            # Checked again inside the write transaction: the link may have just expired.
            _load(session, token)
            claim = claim_forward(
                session,
                campaign_id=forwarding.issue.campaign_id,
                subscriber_id=forwarding.forwarder.id,
                friend=friend,
                ip=ip,
                limits=ForwardLimits(
                    per_subscriber=limits.forwards_per_subscriber,
                    per_ip=limits.forwards_per_ip,
                    window=limits.window,
                ),
            )
    except InvalidAddress:
        return _form(
            ctx,
            token_text,
            forwarding,
            friend=friend[:MAX_ADDRESS],
            note=note,
            error=lang.gettext("Please enter your friend's email address, like name@example.org."),
        )
    if claim.outcome == ForwardOutcome.LIMITED:
        return error_page(
            ctx,
            429,
            lang.gettext("Too many messages"),
            lang.gettext(
                "You have sent this newsletter to many friends in the last hour. "
                "Please try again later."
            ),
            retry_after=limits.window_seconds,
            lang=lang,
        )
    if claim.outcome == ForwardOutcome.SEND:
        assert claim.forward_id is not None
        if not _send(ctx, forwarding, claim.friend_email, note):
            with writing(ctx) as session:
                release(session, claim.forward_id)
            return error_page(
                ctx,
                503,
                lang.gettext("Not sent"),
                lang.gettext(
                    "We could not send the message just now. Please try again in a few minutes."
                ),
                lang=lang,
            )
        with writing(ctx) as session:
            mark_sent(session, claim.forward_id)
    return render(
        ctx,
        "forward.html",
        {
            "title": (
                lang.gettext("Already sent")
                if claim.outcome == ForwardOutcome.ALREADY
                else lang.gettext("Sent")
            ),
            "state": "already" if claim.outcome == ForwardOutcome.ALREADY else "sent",
            "issue": forwarding.issue,
            "friend": claim.friend_email,
            "token": token_text,
        },
        lang=lang,
    )


def _check_mailable(friend: str) -> None:
    """MessageError (a 400 page saying why) before anything is recorded, for an address
    no mail header can hold. An invalid address is claim_forward's to report."""
    try:
        address = normalise(friend).email
    except InvalidAddress:
        return
    to_header(address, "")


def _send(ctx: WebContext, forwarding: _Forwarding, friend: str, note: str) -> bool:
    with reading(ctx) as session:
        issue = issues.full_issue(session, forwarding.issue)
    mail = forward_mail(
        ctx,
        issue,
        forwarder=forwarding.forwarder,
        friend=friend,
        note=note,
        list_name=forwarding.list_name,
    )
    return send(ctx.settings, mail)


def _load(session: Session, token: Token) -> _Forwarding:
    target = current(session, token)
    published = issues.by_campaign(session, token.campaign_id)
    if published is None:
        raise BadLink
    mailing_list = list_of(session, target)
    list_name = mailing_list.name if mailing_list is not None else published.list_name
    return _Forwarding(target.subscriber, published, list_name, of_target(session, target))


def _form(
    ctx: WebContext,
    token: str,
    forwarding: _Forwarding,
    *,
    friend: str = "",
    note: str = "",
    error: str = "",
) -> HTMLResponse:
    return render(
        ctx,
        "forward.html",
        {
            "title": forwarding.lang.gettext("Send to a friend"),
            "state": "form",
            "issue": forwarding.issue,
            "token": token,
            "friend": friend,
            "note": note,
            "error": error,
            "max_note": MAX_NOTE,
        },
        lang=forwarding.lang,
        status_code=400 if error else 200,
    )
