"""The public web side: every link in a sent newsletter lands here.

`create_app()` builds the FastAPI app for the settings (NEWSLETTER_PUBLIC_URL, the
database, the signing key, the brand). Its routes sit under the path of the public URL,
so the links in the mails resolve when the app is served directly or behind a proxy that
keeps the path. See the route modules for what each page does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from newsletter.core.settings import Settings, get_settings
from newsletter.mail.headers import HEADER_WRITE_ERRORS, MessageError
from newsletter.store.types import utcnow
from newsletter.web.brand_css import brand_css
from newsletter.web.context import Limits, WebContext, get_context
from newsletter.web.head import HeadAsGet
from newsletter.web.pages import BadLink, bad_link_page, error_page
from newsletter.web.routes import forward, public, subscribe, unsubscribe, webhooks
from newsletter.web.security import SecurityHeaders
from newsletter.web.staff import staff_app
from newsletter.web.test_links import LinkFromTest, link_from_test_page

STATIC = Path(__file__).resolve().parent / "static"


def create_app(
    settings: Settings | None = None,
    *,
    limits: Limits | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    settings = settings or get_settings()
    ctx = WebContext.build(settings, limits, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.outbox.start()
        try:
            yield
        finally:
            # Waits for the mail still queued (in a thread: the loop stays free).
            await run_in_threadpool(ctx.outbox.stop)

    app = FastAPI(
        title=f"{settings.brand.name} newsletter",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    app.state.context = ctx
    # The one-click unsubscribe is the busiest route: its router is matched first.
    for module in (unsubscribe, forward, subscribe, public, webhooks):
        app.include_router(module.router, prefix=ctx.prefix)
    app.mount(f"{ctx.prefix}/static", StaticFiles(directory=STATIC), name="static")
    app.mount(f"{ctx.prefix}/staff", staff_app(ctx), name="staff")
    css = brand_css(settings.brand)

    @app.get(f"{ctx.prefix}/brand.css", include_in_schema=False)
    def brand_stylesheet() -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    # Browsers ask the root for it, whatever the page: under the prefix too for a proxy
    # that passes only the prefix on.
    for path in dict.fromkeys((f"{ctx.prefix}/favicon.ico", "/favicon.ico")):
        app.add_api_route(path, favicon, methods=["GET"], include_in_schema=False)

    @app.exception_handler(BadLink)
    async def bad_link(request: Request, exc: BadLink) -> HTMLResponse:
        return bad_link_page(get_context(request))

    @app.exception_handler(LinkFromTest)
    async def link_from_test(request: Request, exc: LinkFromTest) -> HTMLResponse:
        return await run_in_threadpool(
            link_from_test_page,
            get_context(request),
            exc.token,
            request.query_params.get("lang", "")[:35],
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        ctx = get_context(request)
        if exc.status_code == 404:
            return error_page(ctx, 404, "Page not found", "There is no page at this address.")
        if exc.status_code == 405:
            response = error_page(ctx, 405, "Not allowed", "This page cannot be used that way.")
            if exc.headers and "Allow" in exc.headers:
                response.headers["Allow"] = _with_head(exc.headers["Allow"])
            return response
        return error_page(ctx, exc.status_code, "Something went wrong", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> HTMLResponse:
        return error_page(
            get_context(request), 400, "Bad request", "The request could not be understood."
        )

    async def unwritable_mail(request: Request, exc: Exception) -> HTMLResponse:
        # What the visitor sent cannot go into a mail's header; trying again will not help.
        return error_page(
            get_context(request), 400, "Bad request", f"This cannot be sent by mail: {exc}"
        )

    # HeaderWriteError: a patched Python refusing to write a header with a line break.
    unwritable: tuple[type[Exception], ...] = (MessageError, *HEADER_WRITE_ERRORS)
    for error in unwritable:
        app.add_exception_handler(error, unwritable_mail)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> HTMLResponse:
        # Starlette re-raises after this, so the server logs the traceback.
        return error_page(
            get_context(request),
            500,
            "Something went wrong",
            "We could not complete your request. Please try again in a few minutes.",
        )

    app.add_middleware(SecurityHeaders, https=urlsplit(settings.public_url).scheme == "https")
    # Outermost, so that every route and mounted app sees a HEAD as the GET it answers.
    app.add_middleware(HeadAsGet)
    return app


def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.ico", headers={"Cache-Control": "public, max-age=86400"})


def _with_head(allow: str) -> str:
    """HEAD is answered wherever GET is (newsletter.web.head), so Allow says so."""
    methods = [method.strip() for method in allow.split(",")]
    if "GET" in methods and "HEAD" not in methods:
        methods.append("HEAD")
    return ", ".join(methods)
