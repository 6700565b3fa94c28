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

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from newsletter.store.staff import (
    begin_login,
    check_password,
    end_sessions,
    finish_login,
    retry_after,
)
from newsletter.web.context import client_ip, get_context
from newsletter.web.db import writing
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
    outcome = await run_in_threadpool(_check, request, email, password)
    if isinstance(outcome, int):
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
    with writing(ctx) as session:
        began = begin_login(session, email, ip, login_limits(ctx), ctx.clock())
    if isinstance(began, timedelta):
        return retry_after(began)
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
