"""Logging in and out of the staff area.

GET /login starts an anonymous session (account 0) so the form can carry a CSRF token;
a successful POST replaces it with a new session (a new nonce: a session id fixed before
login is worth nothing after it). Failed logins are counted per client address and per
account; past either limit every login is refused, right or wrong, until the window ends.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from newsletter.store.staff import authenticate, login_limited
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
    if outcome == "limited":
        return _form(
            request,
            current,
            next_=next_,
            email=email,
            error="Too many failed logins. Please wait a few minutes and try again.",
            status_code=429,
            headers={"Retry-After": str(ctx.settings.staff_login_window)},
        )
    if isinstance(outcome, str):
        return _form(
            request,
            current,
            next_=next_,
            email=email,
            error="The email address or the password is wrong.",
            status_code=401,
        )
    user_id, print_ = outcome
    fresh = cookies.new_session(user_id, print_, ctx.settings.staff_session_hours * 3600)
    response = RedirectResponse(safe_next(ctx, next_), status_code=303, headers=STAFF_HEADERS)
    set_cookie(response, ctx, cookies.encode(ctx.key, fresh))
    return response


def _check(request: Request, email: str, password: str) -> tuple[int, str] | str:
    ctx = get_context(request)
    ip = client_ip(request)
    with writing(ctx) as session:
        if login_limited(session, email, ip, login_limits(ctx)):
            return "limited"
        user = authenticate(session, email, password, ip)
        if user is None:
            return "wrong"
        return user.id, cookies.fingerprint(user.password_hash)


@router.post("/logout")
async def logout(request: Request, who: Staff = Depends(staff)) -> Response:
    ctx = get_context(request)
    await checked_form(request, who)
    response = RedirectResponse(f"{ctx.prefix}/staff/login", status_code=303, headers=STAFF_HEADERS)
    clear_cookie(response, ctx)
    return response


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
