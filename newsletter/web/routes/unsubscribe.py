"""Leaving: the unsubscribe link (`/u/{token}`) and the preferences page (`/p/{token}`).

`/u/{token}`:
- GET shows what the button would do and changes nothing (mail scanners prefetch links);
- POST with `List-Unsubscribe=One-Click` (RFC 8058; urlencoded or multipart, no cookie,
  no CSRF token) unsubscribes and answers 200 with a short text, never a redirect;
- POST with `action=unsubscribe` (our page's button) unsubscribes and shows the page
  again, now offering `action=resubscribe`, which comes back to the list with a new
  membership version: every older link stops working, so it redirects (303) to the page
  under the new link;
- POST with neither changes nothing and answers 400 with the page and its button. The
  signed token is what authorises leaving, so no CSRF token is needed; requiring one
  of the two fields only keeps a stray or garbled POST from unsubscribing anyone.
Coming back is consent to be mailed again, so it must come from a page the subscriber
saw: `action=resubscribe` counts only with the page's form token (newsletter.web.form_tokens,
bound to the link and valid for an hour). Without one (a bare POST to the mail's link) it
changes nothing and answers 403 with the page, whose button then works.
Repeating any of them is harmless: the store changes nothing the second time.

Unsubscribing records an event with its source ("one-click" or "web") and the client IP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from newsletter.core.errors import TokenError
from newsletter.core.tokens import Token
from newsletter.i18n import N_
from newsletter.store.errors import SuppressedError
from newsletter.store.models import MailingList, Membership, MembershipStatus
from newsletter.store.oneclick import unsubscribe_list_token
from newsletter.store.subscriptions import TokenTarget, resubscribe, unsubscribe
from newsletter.web.access import current, fresh_token, list_of, suppression_reason, verified
from newsletter.web.context import WebContext, client_ip, get_context
from newsletter.web.db import (
    ATTEMPT_BUSY_MS,
    reading,
    retry_when_locked,
    writing,
    writing_core,
)
from newsletter.web.form_tokens import form_token, form_token_valid
from newsletter.web.forms import Form, read_form, row_id
from newsletter.web.languages import of_target
from newsletter.web.pages import PRIVATE_HEADERS, BadLink, render

router = APIRouter()

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"
RESUBSCRIBE_FORM = "resubscribe"
PREFERENCES_FORM = "preferences"


@router.get("/u/{token}")
def unsubscribe_page(
    token: str, back: str = "", ctx: WebContext = Depends(get_context)
) -> HTMLResponse:
    parsed = verified(ctx, token, "u")
    with reading(ctx) as session:
        target = current(session, parsed)
        # `back` only chooses the wording after a resubscription's redirect.
        subscribed_state = "back" if back else "confirm"
        state = subscribed_state if _subscribed(session, target) else "left"
        return _unsubscribe_view(ctx, session, target, state)


@router.post("/u/{token}")
async def unsubscribe_post(request: Request, token: str) -> Response:
    ctx = get_context(request)
    parsed = verified(ctx, token, "u")
    form = await read_form(request)
    ip = client_ip(request)
    if form.get(ONE_CLICK_FIELD) == ONE_CLICK_VALUE:
        await run_in_threadpool(_one_click, ctx, parsed, ip)
        return PlainTextResponse("You are unsubscribed.\n", headers=PRIVATE_HEADERS)
    action = form.get("action")
    # Coming back needs the form token of a page we showed (see newsletter.web.form_tokens).
    from_our_page = form_token_valid(ctx.key, RESUBSCRIBE_FORM, token, form.get("form_token"))
    return await run_in_threadpool(_page_action, ctx, parsed, action, ip, from_our_page)


def _one_click(ctx: WebContext, token: Token, ip: str) -> None:
    # RFC 8058 senders do not retry: a locked database is waited out here, not answered 500.
    retry_when_locked(lambda: _one_click_once(ctx, token, ip), what="one-click")


def _one_click_once(ctx: WebContext, token: Token, ip: str) -> None:
    if token.list_id:
        with writing_core(ctx, busy_ms=ATTEMPT_BUSY_MS) as connection:
            try:
                unsubscribe_list_token(connection, token, source="one-click", detail=ip)
            except TokenError:
                raise BadLink from None
        return
    with writing(ctx) as session:
        target = current(session, token)
        unsubscribe(session, target.subscriber.id, None, source="one-click", detail=ip)


def _page_action(
    ctx: WebContext, token: Token, action: str, ip: str, from_our_page: bool
) -> HTMLResponse:
    if action not in ("unsubscribe", "resubscribe"):
        # Neither the one-click field nor one of our buttons: change nothing.
        with reading(ctx) as session:
            target = current(session, token)
            state = "unclear" if _subscribed(session, target) else "left"
            return _unsubscribe_view(ctx, session, target, state, status_code=400)
    with writing(ctx) as session:
        target = current(session, token)
        if action == "unsubscribe":
            unsubscribe(
                session, target.subscriber.id, token.list_id or None, source="web", detail=ip
            )
            return _unsubscribe_view(ctx, session, target, "done")
        if target.membership is None:
            # A token for everything: coming back is chosen list by list.
            return _preferences_redirect(ctx, target)
        if not from_our_page:
            # A bare POST to the link (or a page too old): nothing changes; the page
            # offers the button again, with a form token that works.
            state = "unclear" if _subscribed(session, target) else "left"
            return _unsubscribe_view(ctx, session, target, state, status_code=403, again=True)
        try:
            resubscribe(
                session, target.subscriber.id, target.membership.list_id, source="web", detail=ip
            )
        except SuppressedError:
            return _unsubscribe_view(ctx, session, target, "refused")
        # The old token stopped working: redirected to the new one, so the address bar
        # (and a reload) holds a link that works.
        return _see_other(ctx.paths.unsubscribe(fresh_token(ctx, target, "u")) + "?back=1")


def _subscribed(session: Session, target: TokenTarget) -> bool:
    if target.membership is not None:
        return target.membership.status != MembershipStatus.UNSUBSCRIBED
    return _suppression_reason(session, target) is None


def _suppression_reason(session: Session, target: TokenTarget) -> str | None:
    return suppression_reason(session, target.subscriber)


def _unsubscribe_view(
    ctx: WebContext,
    session: Session,
    target: TokenTarget,
    state: str,
    *,
    status_code: int = 200,
    again: bool = False,
) -> HTMLResponse:
    mailing_list = list_of(session, target)
    lang = of_target(session, target)
    reason = _suppression_reason(session, target)
    # The token of the membership as it is now: new after a resubscription.
    token = fresh_token(ctx, target, "u")
    return render(
        ctx,
        "unsubscribe.html",
        {
            "title": lang.gettext(_TITLES[state]),
            "state": state,
            "email": target.subscriber.email,
            "list_name": mailing_list.shown_name if mailing_list is not None else "",
            "token": token,
            "preferences_token": fresh_token(ctx, target, "p"),
            "can_resubscribe": target.membership is not None and reason in (None, "unsubscribed"),
            "resubscribe_token": form_token(ctx.key, RESUBSCRIBE_FORM, token),
            # A resubscription refused for want of a form token: nothing was changed.
            "again": again,
        },
        lang=lang,
        status_code=status_code,
    )


_TITLES = {
    "confirm": N_("Unsubscribe"),
    "unclear": N_("Unsubscribe"),
    "done": N_("You are unsubscribed"),
    "left": N_("You are unsubscribed"),
    "back": N_("You are subscribed again"),
    "refused": N_("We cannot subscribe you again"),
}


# ---- preferences -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Choice:
    id: int
    name: str
    description: str
    checked: bool
    unconfirmed: bool


@router.get("/p/{token}")
def preferences_page(token: str, ctx: WebContext = Depends(get_context)) -> HTMLResponse:
    parsed = verified(ctx, token, "p")
    with reading(ctx) as session:
        target = current(session, parsed)
        return _preferences_view(ctx, session, target)


@router.post("/p/{token}")
async def preferences_post(request: Request, token: str) -> Response:
    ctx = get_context(request)
    parsed = verified(ctx, token, "p")
    form = await read_form(request)
    # Joining a list is consent to be mailed, as on the unsubscribe page: only with the
    # form token of a page we showed. Leaving needs no more than the signed link.
    from_our_page = form_token_valid(ctx.key, PREFERENCES_FORM, token, form.get("form_token"))
    return await run_in_threadpool(
        _save_preferences, ctx, parsed, form, client_ip(request), from_our_page
    )


def _save_preferences(
    ctx: WebContext, token: Token, form: Form, ip: str, from_our_page: bool
) -> HTMLResponse:
    action = form.get("action")
    with writing(ctx) as session:
        target = current(session, token)
        subscriber_id = target.subscriber.id
        if action == "leave":
            unsubscribe(session, subscriber_id, None, source="web", detail=ip)
            return _preferences_view(
                ctx, session, target, notice=N_("You are unsubscribed from everything.")
            )
        if action != "save":
            return _preferences_view(ctx, session, target, status_code=400)
        wanted = {number for value in form.all("list") if (number := row_id(value)) is not None}
        memberships = _memberships(session, subscriber_id)
        suppressed = _suppression_reason(session, target) is not None
        if not from_our_page:
            # A bare POST (a scanner, a forged form, a page too old): nothing changes,
            # and the page offers the form again with a token that works.
            return _preferences_view(ctx, session, target, status_code=403)
        # Leaving first, so a refused comeback (below) cannot undo a choice to leave.
        for membership, _ in memberships:
            if (
                membership.list_id not in wanted
                and membership.status != MembershipStatus.UNSUBSCRIBED
            ):
                unsubscribe(session, subscriber_id, membership.list_id, source="web", detail=ip)
        refused = False
        for membership, _ in memberships:
            joining = membership.status != MembershipStatus.ACTIVE or suppressed
            if membership.list_id in wanted and joining:
                try:
                    resubscribe(session, subscriber_id, membership.list_id, source="web", detail=ip)
                except SuppressedError:
                    refused = True
                    break
                suppressed = False
        return _preferences_view(
            ctx, session, target, notice=N_("Your choices are saved."), refused=refused
        )


def _memberships(session: Session, subscriber_id: int) -> list[tuple[Membership, MailingList]]:
    rows = session.execute(
        select(Membership, MailingList)
        .join(MailingList, MailingList.id == Membership.list_id)
        .where(Membership.subscriber_id == subscriber_id)
        .order_by(MailingList.name)
    )
    return [(membership, mailing_list) for membership, mailing_list in rows]


def _preferences_view(
    ctx: WebContext,
    session: Session,
    target: TokenTarget,
    *,
    notice: str = "",
    refused: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    """`notice`: a msgid, shown in the page's language."""
    lang = of_target(session, target)
    if not notice and status_code in (400, 403):
        notice = N_("Nothing was changed.")
    suppressed = _suppression_reason(session, target) is not None
    choices = [
        _Choice(
            id=mailing_list.id,
            name=mailing_list.shown_name,
            description=mailing_list.description,
            checked=membership.status == MembershipStatus.ACTIVE and not suppressed,
            unconfirmed=membership.status == MembershipStatus.UNCONFIRMED,
        )
        for membership, mailing_list in _memberships(session, target.subscriber.id)
    ]
    token = fresh_token(ctx, target, "p")
    values: dict[str, Any] = {
        "title": lang.gettext("Your subscriptions"),
        "email": target.subscriber.email,
        "lists": choices,
        "token": token,
        "form_token": form_token(ctx.key, PREFERENCES_FORM, token),
        "notice": lang.gettext(notice) if notice else "",
        "refused": refused,
    }
    return render(ctx, "preferences.html", values, lang=lang, status_code=status_code)


def _preferences_redirect(ctx: WebContext, target: TokenTarget) -> HTMLResponse:
    return _see_other(ctx.paths.preferences(fresh_token(ctx, target, "p")))


def _see_other(location: str) -> HTMLResponse:
    response = HTMLResponse("", status_code=303, headers=PRIVATE_HEADERS)
    # Only our own paths with tokens we sign: nothing from the request goes into it.
    response.headers["Location"] = location
    return response
