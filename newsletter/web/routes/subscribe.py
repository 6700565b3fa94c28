"""Joining a list with double opt-in: `/subscribe/{list}` and the confirmation link `/c/{token}`.

The sign-up page answers the same whatever the store knows about the address (see
`newsletter.store.optin` for who gets a confirmation mail), and as soon: up to the answer
every address gets the same work (its request is recorded); whether it gets a mail is
decided, and the mail sent, after the answer by the app's outbox (`newsletter.web.outbox`).
The membership stays `unconfirmed`, and so is never mailed by a campaign, until the
link's button is pressed.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from newsletter.core.tokens import Token
from newsletter.i18n import N_, Language
from newsletter.mail.headers import MessageError
from newsletter.mail.personalize import clean_value
from newsletter.store.addresses import InvalidAddress, normalise
from newsletter.store.errors import SuppressedError
from newsletter.store.models import MailingList, MembershipStatus
from newsletter.store.optin import (
    Signup,
    SignupLimits,
    TooManySignups,
    confirm,
    mail_failed,
    prepare_confirmation,
    record_signup,
)
from newsletter.store.subscriptions import TokenTarget
from newsletter.web.access import current, fresh_token, list_of, suppression_reason, verified
from newsletter.web.confirmation import confirmation_mail
from newsletter.web.context import WebContext, client_ip, get_context
from newsletter.web.db import reading, writing
from newsletter.web.forms import Form, read_form
from newsletter.web.languages import of_list
from newsletter.web.mail import send, to_header
from newsletter.web.pages import error_page, render

router = APIRouter()
log = logging.getLogger(__name__)

MAX_NAME = 200
MAX_EMAIL = 320


@router.get("/subscribe/{list_name}")
def subscribe_page(list_name: str, ctx: WebContext = Depends(get_context)) -> HTMLResponse:
    mailing_list = _find_list(ctx, list_name)
    if mailing_list is None:
        return _no_such_list(ctx)
    return _form(ctx, mailing_list)


@router.post("/subscribe/{list_name}")
async def subscribe_post(request: Request, list_name: str) -> Response:
    ctx = get_context(request)
    form = await read_form(request)
    return await run_in_threadpool(_subscribe, ctx, list_name, form, client_ip(request))


def _subscribe(ctx: WebContext, list_name: str, form: Form, ip: str) -> HTMLResponse:
    mailing_list = _find_list(ctx, list_name)
    if mailing_list is None:
        return _no_such_list(ctx)
    # Not cut to length: a cut address could be someone else's; email-validator refuses it.
    email = form.get("email").strip()
    name = clean_value(form.get("name"))[:MAX_NAME]
    if form.get("website"):
        # Only a robot fills the hidden field: answer as usual, do nothing.
        return _thanks(ctx, mailing_list, email[:MAX_EMAIL])
    problem = _unmailable(email, name, of_list(mailing_list))
    if problem is not None:
        return _form(
            ctx, mailing_list, email=email[:MAX_EMAIL], name=name, error=problem, status_code=400
        )
    limits = ctx.limits
    signup_limits = SignupLimits(
        per_ip=limits.signups_per_ip,
        interval=limits.confirmation_interval,
        window=limits.window,
    )
    try:
        with writing(ctx) as session:
            signup = record_signup(
                session, mailing_list.id, email, name=name, ip=ip, limits=signup_limits
            )
    except InvalidAddress:
        return _form(
            ctx,
            mailing_list,
            email=email[:MAX_EMAIL],
            name=name,
            error=of_list(mailing_list).gettext(
                "Please enter a valid email address, like name@example.org."
            ),
            status_code=400,
        )
    except TooManySignups:
        lang = of_list(mailing_list)
        return error_page(
            ctx,
            429,
            lang.gettext("Too many requests"),
            lang.gettext(
                "There were too many sign-ups from your network in the last hour. "
                "Please try again later."
            ),
            retry_after=limits.window_seconds,
            lang=lang,
        )
    # Whether the address is new, active or suppressed is looked at only after the answer.
    list_name, lang = mailing_list.shown_name, of_list(mailing_list)
    ctx.outbox.submit(
        f"confirm the sign-up of {signup.email}",
        lambda: _confirm_later(ctx, signup, signup_limits, list_name, lang),
    )
    return _thanks(ctx, mailing_list, email[:MAX_EMAIL])


def _unmailable(email: str, name: str, lang: Language) -> str | None:
    """Why no mail could be written to this address, if none could: said before anything
    is recorded (the mail itself goes later). An invalid address is record_signup's."""
    try:
        to_header(normalise(email).email, name)
    except InvalidAddress:
        return None
    except MessageError as exc:
        # The reason is the mail code's, in English.
        return lang.gettext("We cannot send mail to this address: %(reason)s.") % {"reason": exc}
    return None


def _confirm_later(
    ctx: WebContext, signup: Signup, limits: SignupLimits, list_name: str, lang: Language
) -> None:
    """After the answer (in the outbox): the membership and the confirmation mail, if the
    address gets one. Failures are logged (by `send`, or by the outbox with a traceback)."""
    try:
        with writing(ctx) as session:
            confirmation = prepare_confirmation(session, signup, limits=limits)
    except IntegrityError:
        # A concurrent request (another process) for the same new address won; it mails.
        log.info("a concurrent sign-up of %s sends the confirmation", signup.email)
        return
    if confirmation is None:
        return
    if not send(ctx.settings, confirmation_mail(ctx, confirmation, list_name, lang)):
        # The mail did not go: the next request for the address may send one at once.
        with writing(ctx) as session:
            mail_failed(session, confirmation.request_id)


@router.get("/c/{token}")
def confirm_page(token: str, ctx: WebContext = Depends(get_context)) -> HTMLResponse:
    parsed = verified(ctx, token, "c")
    with reading(ctx) as session:
        target = current(session, parsed, needs_list=True)
        assert target.membership is not None
        done = (
            target.membership.status == MembershipStatus.ACTIVE
            and suppression_reason(session, target.subscriber) is None
        )
        mailing_list = list_of(session, target)
        return _confirm_view(ctx, target, mailing_list, "done" if done else "ask", token)


@router.post("/c/{token}")
async def confirm_post(request: Request, token: str) -> Response:
    ctx = get_context(request)
    parsed = verified(ctx, token, "c")
    return await run_in_threadpool(_confirm, ctx, parsed, token, client_ip(request))


def _confirm(ctx: WebContext, token: Token, token_text: str, ip: str) -> HTMLResponse:
    with writing(ctx) as session:
        target = current(session, token, needs_list=True)
        assert target.membership is not None
        mailing_list = list_of(session, target)
        try:
            confirm(session, target.membership, ip=ip)
        except SuppressedError:
            return _confirm_view(ctx, target, mailing_list, "refused", token_text)
        return _confirm_view(ctx, target, mailing_list, "done", token_text)


def _find_list(ctx: WebContext, name: str) -> MailingList | None:
    with reading(ctx) as session:
        return session.scalar(select(MailingList).where(MailingList.name == name))


def _no_such_list(ctx: WebContext) -> HTMLResponse:
    # No list, so no language but English.
    return error_page(
        ctx, 404, "No such newsletter", "There is no newsletter by that name to subscribe to."
    )


def _form(
    ctx: WebContext,
    mailing_list: MailingList,
    *,
    email: str = "",
    name: str = "",
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    lang = of_list(mailing_list)
    return render(
        ctx,
        "subscribe.html",
        {
            "title": lang.gettext("Subscribe to %(list)s") % {"list": mailing_list.shown_name},
            "state": "form",
            "list_key": mailing_list.name,
            "list_name": mailing_list.shown_name,
            "list_description": mailing_list.description,
            "email": email,
            "name": name,
            "error": error,
        },
        lang=lang,
        status_code=status_code,
    )


def _thanks(ctx: WebContext, mailing_list: MailingList, email: str) -> HTMLResponse:
    lang = of_list(mailing_list)
    return render(
        ctx,
        "subscribe.html",
        {
            "title": lang.gettext("Please check your inbox"),
            "state": "thanks",
            "list_name": mailing_list.shown_name,
            "email": email,
        },
        lang=lang,
    )


def _confirm_view(
    ctx: WebContext,
    target: TokenTarget,
    mailing_list: MailingList | None,
    state: str,
    token: str,
) -> HTMLResponse:
    titles = {
        "ask": N_("Confirm your subscription"),
        "done": N_("You are subscribed"),
        "refused": N_("We cannot subscribe you"),
    }
    lang = of_list(mailing_list)
    return render(
        ctx,
        "confirm.html",
        {
            "title": lang.gettext(titles[state]),
            "state": state,
            "email": target.subscriber.email,
            "list_name": mailing_list.shown_name if mailing_list is not None else "",
            "token": token,
            "preferences_token": fresh_token(ctx, target, "p"),
        },
        lang=lang,
    )
