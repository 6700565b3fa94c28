"""Server-rendered pages: one autoescaping Jinja environment and the shared error pages.

Every bad link (tampered, unknown, outdated, pointing at something deleted) raises
`BadLink`, answered by one fixed 400 page: its body never depends on the token or on what
the store holds, so it cannot tell anyone whether an address exists (and so it is always
in English: the language would come from the store).

A page speaks one language (`newsletter.web.languages` says which): one environment per
language, with its catalogue installed (`newsletter.i18n.jinja`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from newsletter.core.errors import NewsletterError
from newsletter.i18n import Language, jinja, language
from newsletter.issue import merge_fields
from newsletter.web.context import WebContext

TEMPLATES = Path(__file__).resolve().parent / "templates"

# Pages reached through a personal link: never cached, never indexed.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


class BadLink(NewsletterError):
    """A link's token is invalid or no longer refers to anything current."""


# One per language the pages speak (a few).
@lru_cache(maxsize=16)
def environment(language_tag: str = "en") -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # Every page and HTML mail escapes; the text parts of mails (.txt) must not.
        autoescape=lambda name: name is None or not name.endswith(".txt"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    jinja.install(env, language(language_tag))
    # A stored subject's merge fields as staff wrote them (newsletter.issue.merge_fields).
    env.filters["as_written"] = merge_fields.as_written
    return env


def render(
    ctx: WebContext,
    template: str,
    values: Mapping[str, Any] | None = None,
    *,
    lang: Language | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    lang = lang or language()
    context = {"brand": ctx.settings.brand, "paths": ctx.paths, "lang": lang, **(values or {})}
    body = environment(lang.tag).get_template(template).render(context)
    return HTMLResponse(
        body, status_code=status_code, headers={**PRIVATE_HEADERS, **(headers or {})}
    )


def error_page(
    ctx: WebContext,
    status_code: int,
    title: str,
    message: str,
    *,
    retry_after: int | None = None,
    lang: Language | None = None,
) -> HTMLResponse:
    """`title` and `message` are already in `lang` (English when it is not given)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return render(
        ctx,
        "error.html",
        {"title": title, "message": message},
        lang=lang,
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
