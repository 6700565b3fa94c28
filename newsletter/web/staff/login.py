"""Logging in and out of the staff area.

GET /login starts an anonymous session (account 0) so the form can carry a CSRF token;
a successful POST replaces it with a new session (a new nonce: a session id fixed before
login is worth nothing after it). Failed logins are limited per client address and slowed
down per account and address (see `newsletter.store.staff`); a refused try gets 429 with
Retry-After, right password or wrong. The password is checked between two short
transactions, never inside one. Logout raises the account's session generation, which
ends every session of the account, not only this browser's.
"""

from __future__ import annotations

from datetime import timedelta

import anyio
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from newsletter.store.staff import (
    LoginCandidate,
    begin_login,
    check_password,
    end_sessions,
    finish_login,
    login_wait,
    retry_after,
)
from newsletter.web.context import WebContext, client_ip, get_context
from newsletter.web.db import reading, writing
from newsletter.web.staff import session as cookies
from newsletter.web.staff.context import (
    STAFF_HEADERS,
    Staff,
    checked_form,
    clear_cookie,
    cookie_session,
    login_limits,
    read_form,
    render,
    safe_next,
    set_cookie,
    staff,
)

router = APIRouter()

MAX_EMAIL = 320
MAX_PASSWORD = 1024


@router.get("/login")
def login_page(request: Request, next: str = "") -> HTMLResponse:
    ctx = get_context(request)
    current = cookie_session(request)
    if current is None:
        current = cookies.new_session(0, "", cookies.ANONYMOUS_SECONDS)
    response = _form(request, current, next_=next)
    set_cookie(response, ctx, cookies.encode(ctx.key, current))
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    ctx = get_context(request)
    current = cookie_session(request)
    form = await read_form(request)
    if current is None or not cookies.csrf_valid(ctx.key, current, form.get("csrf")):
        raise HTTPException(403, "The form had expired or did not come from this site.")
    email = form.get("email").strip()[:MAX_EMAIL]
    password = form.get("password")[:MAX_PASSWORD]
    next_ = form.get("next")
    # A flood of refused tries must not slow the one-click unsubscribes sharing this server:
    # a refusal the store gave is answered from memory, with no thread or database, until
    # it runs out.
    outcome: tuple[int, str, int] | int | None = ctx.login_refusals.retry_after(
        client_ip(request), email, ctx.clock()
    )
    if outcome is None:
        outcome = await run_in_threadpool(_check, request, email, password)
    if isinstance(outcome, int):
        # A timer, not a thread: a client flooding the form in a loop now waits here, and
        # its tries cost the server next to nothing (issue 9, item 4).
        await anyio.sleep(ctx.settings.staff_login_refused_delay)
        return _form(
            request,
            current,
            next_=next_,
            email=email,
            error=f"Too many failed logins. Please try again in {_seconds(outcome)}.",
            status_code=429,
            headers={"Retry-After": str(outcome)},
        )
    if outcome is None:
        return _form(
            request,
            current,
            next_=next_,
            email=email,
            error="The email address or the password is wrong.",
            status_code=401,
        )
    user_id, print_, generation = outcome
    fresh = cookies.new_session(
        user_id, print_, ctx.settings.staff_session_hours * 3600, generation
    )
    response = RedirectResponse(safe_next(ctx, next_), status_code=303, headers=STAFF_HEADERS)
    set_cookie(response, ctx, cookies.encode(ctx.key, fresh))
    return response


def _check(request: Request, email: str, password: str) -> tuple[int, str, int] | int | None:
    """(account id, fingerprint, generation) for a right password, the seconds to wait
    when the limits refuse the try, or None for a wrong password or unknown account."""
    ctx = get_context(request)
    ip = client_ip(request)
    now = ctx.clock()
    # A refusal is found by a read, which takes no writer's lock; begin_login checks again,
    # writing, when the read lets the try through.
    with reading(ctx) as session:
        wait = login_wait(session, email, ip, login_limits(ctx), now)
    if wait <= timedelta(0):
        with writing(ctx) as session:
            began = begin_login(session, email, ip, login_limits(ctx), now)
        if not isinstance(began, timedelta):
            return _verify(ctx, began, password)
        wait = began
    ctx.login_refusals.remember(ip, email, now, wait)
    return retry_after(wait)


def _verify(ctx: WebContext, began: LoginCandidate, password: str) -> tuple[int, str, int] | None:
    # argon2 with no transaction open: the writers' lock is free for one-click unsubscribes.
    checked = check_password(began, password)
    if not checked.ok:
        return None
    with writing(ctx) as session:
        user = finish_login(session, began, checked, ctx.clock())
        if user is None:
            return None
        return user.id, cookies.fingerprint(user.password_hash), user.session_generation


def _seconds(count: int) -> str:
    return "1 second" if count == 1 else f"{count} seconds"


@router.post("/logout")
async def logout(request: Request, who: Staff = Depends(staff)) -> Response:
    ctx = get_context(request)
    await checked_form(request, who)
    await run_in_threadpool(_end_sessions, request, who.user_id)
    response = RedirectResponse(f"{ctx.prefix}/staff/login", status_code=303, headers=STAFF_HEADERS)
    clear_cookie(response, ctx)
    return response


def _end_sessions(request: Request, user_id: int) -> None:
    with writing(get_context(request)) as session:
        end_sessions(session, user_id)


def _form(
    request: Request,
    current: cookies.StaffSession,
    *,
    next_: str,
    email: str = "",
    error: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    ctx = get_context(request)
    return render(
        request,
        "login.html",
        {
            "title": "Staff login",
            "csrf": cookies.csrf_token(ctx.key, current),
            "next": next_,
            "email": email,
            "error": error,
        },
        status_code=status_code,
        headers=headers,
    )
