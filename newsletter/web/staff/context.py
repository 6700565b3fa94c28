"""What the staff routes share: the web context, the signed-in account, rendering, forms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse

from newsletter.core.errors import NewsletterError
from newsletter.store.staff import LoginLimits, get_user
from newsletter.web.context import WebContext, get_context
from newsletter.web.db import reading
from newsletter.web.pages import environment
from newsletter.web.staff import session as cookies
from newsletter.web.staff.session import StaffSession

STAFF_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# Never cached anywhere: every staff page shows what is true now, for one person.
STAFF_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": STAFF_CSP,
}
MAX_FIELDS = 50
MAX_FIELD_SIZE = 64 * 1024


class LoginRequired(NewsletterError):
    """Raised by `staff()` for a request without a valid login; answered by a redirect."""


@dataclass(frozen=True)
class Staff:
    """The signed-in account of a request."""

    user_id: int
    email: str
    session: StaffSession
    csrf: str


def base(ctx: WebContext) -> str:
    return f"{ctx.prefix}/staff"


def login_limits(ctx: WebContext) -> LoginLimits:
    from datetime import timedelta

    settings = ctx.settings
    return LoginLimits(
        per_ip=settings.staff_login_attempts_per_ip,
        per_account=settings.staff_login_attempts_per_account,
        window=timedelta(seconds=settings.staff_login_window),
    )


def cookie_session(request: Request) -> StaffSession | None:
    ctx = get_context(request)
    return cookies.decode(ctx.key, request.cookies.get(cookies.COOKIE))


def staff(request: Request) -> Staff:
    """The dependency every staff route but the login page has."""
    ctx = get_context(request)
    found = cookie_session(request)
    if found is None or not found.logged_in:
        raise LoginRequired
    with reading(ctx) as session:
        user = get_user(session, found.user_id)
        if (
            user is None
            or cookies.fingerprint(user.password_hash) != found.fingerprint
            or user.session_generation != found.generation
        ):
            raise LoginRequired
        email = user.email
    return Staff(found.user_id, email, found, cookies.csrf_token(ctx.key, found))


def set_cookie(response: HTMLResponse | RedirectResponse, ctx: WebContext, value: str) -> None:
    response.set_cookie(
        cookies.COOKIE,
        value,
        path=f"{base(ctx)}/",
        httponly=True,
        samesite="lax",
        secure=urlsplit(ctx.settings.public_url).scheme == "https",
    )


def clear_cookie(response: HTMLResponse | RedirectResponse, ctx: WebContext) -> None:
    response.delete_cookie(
        cookies.COOKIE,
        path=f"{base(ctx)}/",
        httponly=True,
        samesite="lax",
        secure=urlsplit(ctx.settings.public_url).scheme == "https",
    )


def login_redirect(request: Request) -> RedirectResponse:
    ctx = get_context(request)
    target = request.url.path
    if request.method == "GET" and request.url.query:
        target += f"?{request.url.query}"
    return RedirectResponse(
        f"{base(ctx)}/login?next={quote(target, safe='')}",
        status_code=303,
        headers=STAFF_HEADERS,
    )


def safe_next(ctx: WebContext, target: str) -> str:
    """`target` if it is a page of the staff area, else the staff home (no open redirect)."""
    home = f"{base(ctx)}/"
    if (
        target.startswith(home)
        and not target.startswith("//")
        and "\\" not in target
        and all(ord(char) > 31 for char in target)
    ):
        return target
    return home


def render(
    request: Request,
    template: str,
    values: Mapping[str, Any] | None = None,
    *,
    who: Staff | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    ctx = get_context(request)
    context = {
        "brand": ctx.settings.brand,
        "paths": ctx.paths,
        "staff_base": base(ctx),
        "user": who,
        "csrf": who.csrf if who is not None else "",
        "section": "",
        **(values or {}),
    }
    body = environment().get_template(f"staff/{template}").render(context)
    return HTMLResponse(body, status_code=status_code, headers={**STAFF_HEADERS, **(headers or {})})


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass(frozen=True)
class StaffForm:
    values: dict[str, str]
    files: dict[str, Upload]

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)


async def read_form(
    request: Request, *, max_file: int = 0, max_files: int = 1, max_fields: int = MAX_FIELDS
) -> StaffForm:
    """The posted form, or 400; up to `max_files` files only when `max_file` allows them
    (bytes each)."""
    try:
        parsed = await request.form(
            max_files=max_files if max_file else 0,
            max_fields=max_fields,
            max_part_size=MAX_FIELD_SIZE,
        )
    except Exception as exc:  # starlette and python-multipart raise several kinds
        raise HTTPException(400, "The form could not be read.") from exc
    values: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for name, value in parsed.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read(max_file + 1)
            await value.close()
            if len(data) > max_file:
                raise HTTPException(413, f"The file is larger than {max_file // 1024} KB.")
            files[name] = Upload(value.filename or "", data)
        else:
            values.setdefault(name, value)
    return StaffForm(values, files)


async def checked_form(
    request: Request,
    who: Staff,
    *,
    max_file: int = 0,
    max_files: int = 1,
    max_fields: int = MAX_FIELDS,
) -> StaffForm:
    """The posted form, if it carries this session's CSRF token; 403 otherwise."""
    form = await read_form(request, max_file=max_file, max_files=max_files, max_fields=max_fields)
    ctx = get_context(request)
    if not cookies.csrf_valid(ctx.key, who.session, form.get("csrf")):
        raise HTTPException(403, "The form had expired or did not come from this site.")
    return form
