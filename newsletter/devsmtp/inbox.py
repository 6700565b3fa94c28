"""The web inbox of the capture server: server-rendered pages and a JSON API.

Pages: `/` lists the messages (newest first, `?q=` searches recipients and subjects);
`/messages/{id}` shows one with tabs for its HTML, text, headers and source. The message's
own HTML is served apart, from `/messages/{id}/html`, into a sandboxed frame: no scripts,
no forms, a strict Content-Security-Policy, and links that open in the top window or a new
tab, so "Unsubscribe" or "View online" can be followed as a reader would.

API, for tests and scripts: `GET /api/messages`, `GET /api/messages/{id}`,
`GET /api/messages/{id}/raw`, `DELETE /api/messages`.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter.devsmtp.capture import CapturedMessage, Mailbox, MessageStore
from newsletter.devsmtp.content import content_of, framed_html, part_at, part_data, part_for_cid

PAGE_SIZE = 100
# Longer sources are cut on the Source tab; the download always has all of it.
SOURCE_PREVIEW = 200_000
_HERE = Path(__file__).resolve().parent
_CSS = (_HERE / "static" / "inbox.css").read_bytes()
# An orange envelope: told apart from the public site's blue one in a row of tabs.
_FAVICON = (_HERE / "static" / "favicon.ico").read_bytes()

Tab = Literal["html", "text", "headers", "source"]
TABS: tuple[tuple[Tab, str, str], ...] = (
    ("html", "HTML", ""),
    ("text", "Text", "/text"),
    ("headers", "Headers", "/headers"),
    ("source", "Source", "/source"),
)

# The inbox's own pages: nothing but its stylesheet and the message frame.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# The message's HTML: no scripts, objects or forms; images and styles from anywhere, as a
# mail client shows them; only the inbox may frame it. `sandbox` repeats the frame's
# sandbox attribute so that the page opened on its own is just as confined.
MESSAGE_CSP = (
    "default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline' http: https:; "
    "font-src http: https: data:; media-src http: https: data:; form-action 'none'; "
    "base-uri 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)
FRAME_SANDBOX = (
    "allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)
_COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@lru_cache(maxsize=1)
def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(local_time=_local_time, size=_size, mailboxes=_mailboxes)
    env.globals.update(FRAME_SANDBOX=FRAME_SANDBOX)
    return env


def create_app(store: MessageStore, *, smtp_url: str = "") -> FastAPI:
    """The inbox over `store`; `smtp_url` is shown so a reader knows where to send."""
    app = FastAPI(title="dev-smtp inbox", docs_url=None, redoc_url=None, openapi_url=None)

    def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = (
            _templates()
            .get_template(template)
            .render(
                smtp_url=smtp_url,
                limit=store.limit,
                dropped=store.dropped,
                status=status,
                **context,
            )
        )
        headers = {**_COMMON_HEADERS, "Content-Security-Policy": PAGE_CSP}
        return HTMLResponse(body, status_code=status, headers=headers)

    def message_or_404(message_id: str) -> CapturedMessage:
        message = store.get(message_id)
        if message is None:
            raise HTTPException(
                404, f"No message with id {message_id!r}: it was deleted, dropped or never here."
            )
        return message

    # Starlette's class, so unknown paths and wrong methods get the inbox's page too.
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return page("error.html", status=exc.status_code, detail=exc.detail)

    @app.get("/", response_class=HTMLResponse)
    def inbox(q: str = "", page_number: Annotated[int, Query(alias="page", ge=1)] = 1) -> Response:
        messages = store.newest_first(q)
        start = (page_number - 1) * PAGE_SIZE
        shown = messages[start : start + PAGE_SIZE]

        def link(number: int) -> str:
            return "/?" + urlencode({k: v for k, v in (("q", q), ("page", number)) if v})

        return page(
            "inbox.html",
            messages=shown,
            query=q,
            total=len(messages),
            first=start + 1,
            newer=link(page_number - 1) if page_number > 1 else None,
            older=link(page_number + 1) if start + PAGE_SIZE < len(messages) else None,
        )

    @app.post("/clear")
    def clear(request: Request) -> Response:
        _same_origin_or_403(request)
        store.clear()
        return RedirectResponse("/", status_code=303)

    def message_page(message_id: str, tab: Tab) -> Response:
        message = message_or_404(message_id)
        content = content_of(message.raw)
        source = message.raw[:SOURCE_PREVIEW].decode("utf-8", "replace") if tab == "source" else ""
        return page(
            "message.html",
            message=message,
            summary=message.summary,
            content=content,
            tab=tab,
            tabs=TABS,
            source=source,
            source_cut=tab == "source" and message.size > SOURCE_PREVIEW,
        )

    @app.get("/messages/{message_id}", response_class=HTMLResponse)
    def message_html_tab(message_id: str) -> Response:
        return message_page(message_id, "html")

    @app.get("/messages/{message_id}/text", response_class=HTMLResponse)
    def message_text_tab(message_id: str) -> Response:
        return message_page(message_id, "text")

    @app.get("/messages/{message_id}/headers", response_class=HTMLResponse)
    def message_headers_tab(message_id: str) -> Response:
        return message_page(message_id, "headers")

    @app.get("/messages/{message_id}/source", response_class=HTMLResponse)
    def message_source_tab(message_id: str) -> Response:
        return message_page(message_id, "source")

    @app.get("/messages/{message_id}/html", response_class=HTMLResponse)
    def message_html(message_id: str) -> Response:
        message = message_or_404(message_id)
        html = content_of(message.raw).html
        if html is None:
            raise HTTPException(404, "this message has no HTML part")
        body = framed_html(html, cid_prefix=f"/messages/{message.id}/cid/")
        headers = {**_COMMON_HEADERS, "Content-Security-Policy": MESSAGE_CSP}
        return HTMLResponse(body, headers=headers)

    @app.get("/messages/{message_id}/cid/{content_id:path}")
    def message_cid(message_id: str, content_id: str) -> Response:
        message = message_or_404(message_id)
        part = part_for_cid(message.raw, content_id)
        if part is None or not part.content_type.startswith("image/"):
            raise HTTPException(404, f"no inline image {content_id!r} in this message")
        return _part_response(message, part.index, part.content_type, part.filename, False)

    @app.get("/messages/{message_id}/parts/{index}")
    def message_part(message_id: str, index: int) -> Response:
        message = message_or_404(message_id)
        part = part_at(message.raw, index)
        if part is None:
            raise HTTPException(404, f"no part {index} in this message")
        filename = part.filename or f"{message.id}-part{index}"
        return _part_response(message, index, "application/octet-stream", filename, True)

    @app.get("/messages/{message_id}/raw")
    def message_raw(message_id: str) -> Response:
        message = message_or_404(message_id)
        return _raw_response(message, attachment=True)

    @app.get("/static/inbox.css")
    def stylesheet() -> Response:
        return Response(_CSS, media_type="text/css", headers={"Cache-Control": "max-age=300"})

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(
            _FAVICON, media_type="image/x-icon", headers={"Cache-Control": "max-age=86400"}
        )

    # The JSON API.

    @app.get("/api/messages")
    def api_list(
        q: str = "",
        start: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int | None, Query(ge=1)] = None,
    ) -> dict[str, Any]:
        messages = store.newest_first(q)
        shown = messages[start : None if limit is None else start + limit]
        return {
            "total": len(messages),
            "dropped": store.dropped,
            "messages": [_summary_json(message) for message in shown],
        }

    @app.get("/api/messages/{message_id}")
    def api_message(message_id: str) -> dict[str, Any]:
        message = message_or_404(message_id)
        content = content_of(message.raw)
        return {
            **_summary_json(message),
            "headers": [[name, value] for name, value in content.headers],
            "text": content.text,
            "html": content.html,
            "parts": [
                {
                    "index": part.index,
                    "content_type": part.content_type,
                    "filename": part.filename,
                    "content_id": part.content_id,
                    "size": part.size,
                }
                for part in content.parts
            ],
        }

    @app.get("/api/messages/{message_id}/raw")
    def api_raw(message_id: str) -> Response:
        return _raw_response(message_or_404(message_id), attachment=False)

    @app.delete("/api/messages")
    def api_clear() -> dict[str, int]:
        return {"deleted": store.clear()}

    return app


def _summary_json(message: CapturedMessage) -> dict[str, Any]:
    summary = message.summary
    return {
        "id": message.id,
        "received_at": message.received_at.isoformat(),
        "envelope_from": message.envelope_from,
        "envelope_to": list(message.envelope_to),
        "from": [_mailbox_json(box) for box in summary.sender],
        "to": [_mailbox_json(box) for box in summary.to],
        "subject": summary.subject,
        "message_id": summary.message_id,
        "date": summary.date,
        "size": message.size,
    }


def _mailbox_json(box: Mailbox) -> dict[str, str]:
    return {"name": box.name, "address": box.address}


def _raw_response(message: CapturedMessage, *, attachment: bool) -> Response:
    disposition = "attachment" if attachment else "inline"
    headers = {
        **_COMMON_HEADERS,
        "Content-Disposition": f'{disposition}; filename="{message.id}.eml"',
    }
    return Response(message.raw, media_type="message/rfc822", headers=headers)


def _part_response(
    message: CapturedMessage, index: int, media_type: str, filename: str, attachment: bool
) -> Response:
    # The name is the sender's; only a plain ASCII rendering of it goes into the header.
    safe_name = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    disposition = "attachment" if attachment else "inline"
    headers = {
        **_COMMON_HEADERS,
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": f'{disposition}; filename="{safe_name}"',
    }
    return Response(part_data(message.raw, index), media_type=media_type, headers=headers)


def _same_origin_or_403(request: Request) -> None:
    """Refuse a form posted from another site (a browser sends Origin with every POST)."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "this form can only be sent from the inbox itself")


def _local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / 1024 / 1024:.1f} MB"


def _mailboxes(boxes: tuple[Mailbox, ...]) -> str:
    return ", ".join(str(box) for box in boxes)
