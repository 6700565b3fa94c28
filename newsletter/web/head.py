"""HEAD answered as GET, without the body (RFC 9110, section 9.3.2).

Link checkers and mail scanners ask HEAD first and count a 405 as a broken link. FastAPI's
routes (unlike Starlette's) take HEAD only when it is listed on each route, so one new GET
route without it would be a broken link again; this middleware answers HEAD for every GET
the app has, mounted apps included. The request goes on as a GET, so the status and
headers (Content-Type, Content-Length, caching, security headers) are exactly the GET's,
and then the body is dropped here, whatever the server does with it. Our GET routes change
nothing (the unsubscribe page's GET only shows its button), so neither does a HEAD.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """Pure ASGI, like newsletter.web.security.SecurityHeaders: nothing buffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                # One empty, final body message, however many the GET would send.
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)
