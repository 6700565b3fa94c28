"""Server-rendered pages: one autoescaping Jinja environment and the shared error pages.

Every bad link (tampered, unknown, outdated, pointing at something deleted) raises
`BadLink`, answered by one fixed 400 page: its body never depends on the token or on what
the store holds, so it cannot tell anyone whether an address exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from newsletter.web.context import WebContext

TEMPLATES = Path(__file__).resolve().parent / "templates"

# Pages reached through a personal link: never cached, never indexed.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


class BadLink(Exception):
    """A link's token is invalid or no longer refers to anything current."""


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        # Every page and HTML mail escapes; the text parts of mails (.txt) must not.
        autoescape=lambda name: name is None or not name.endswith(".txt"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    ctx: WebContext,
    template: str,
    values: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    context = {"brand": ctx.settings.brand, "paths": ctx.paths, **(values or {})}
    body = environment().get_template(template).render(context)
    return HTMLResponse(
        body, status_code=status_code, headers={**PRIVATE_HEADERS, **(headers or {})}
    )


def error_page(
    ctx: WebContext, status_code: int, title: str, message: str, *, retry_after: int | None = None
) -> HTMLResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return render(
        ctx,
        "error.html",
        {"title": title, "message": message},
        status_code=status_code,
        headers=headers,
    )


def bad_link_page(ctx: WebContext) -> HTMLResponse:
    return error_page(
        ctx,
        400,
        "This link does not work",
        "The link is incomplete, was changed, or is no longer valid. If you copied it from "
        "an email, check that you copied all of it, or use the link in a newer email "
        "from us.",
    )
