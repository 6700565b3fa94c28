"""The staff area under /staff: preview a record, campaigns and lists, sending.

`staff_app(ctx)` builds it as an ASGI app of its own, mounted by `newsletter.web.app`: its
pages have their own CSP (they run our scripts and frame our previews), their own error
pages and a login in front of everything but the login page itself.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from newsletter.web.context import WebContext
from newsletter.web.staff import (
    editor,
    home,
    list_settings,
    lists,
    login,
    merge_tools,
    preview,
    sending,
    subscribers,
)
from newsletter.web.staff.context import LoginRequired, login_redirect, render, staff

STATIC = Path(__file__).resolve().parent / "static"

_TITLES = {
    400: "Bad request",
    403: "Refused",
    404: "Page not found",
    405: "Not allowed",
    409: "Not possible now",
    413: "Too large",
}


def staff_app(ctx: WebContext) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    app.state.context = ctx
    app.include_router(login.router)
    protected = APIRouter(dependencies=[Depends(staff)])
    for module in (home, editor, preview, lists, list_settings, subscribers, sending, merge_tools):
        protected.include_router(module.router)
    app.include_router(protected)
    app.mount("/static", StaticFiles(directory=STATIC), name="staff-static")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        title = _TITLES.get(exc.status_code, "Something went wrong")
        message = str(exc.detail) if exc.status_code != 404 else "There is no page here."
        return render(
            request,
            "error.html",
            {"title": title, "message": message},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> HTMLResponse:
        return render(
            request,
            "error.html",
            {"title": "Bad request", "message": "The request could not be understood."},
            status_code=400,
        )

    return app
