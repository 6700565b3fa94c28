"""The published issues: web version, PDF, photos, and the archive of past issues.

These pages hold no personal data, so they may be cached and indexed. The web version is
the composed newsletter itself (inline styles, hosted photos), served with a CSP that
allows exactly that and nothing that runs.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from newsletter.issue.model import Issue
from newsletter.web import issues
from newsletter.web.context import WebContext, get_context
from newsletter.web.db import reading
from newsletter.web.pages import error_page, render
from newsletter.web.pdf_cache import cached_pdf
from newsletter.web.security import ISSUE_CSP
from newsletter.web.test_links import not_published_page

router = APIRouter()

_PUBLIC = {"Cache-Control": "public, max-age=300"}
_ISSUE_HEADERS = {**_PUBLIC, "Content-Security-Policy": ISSUE_CSP, "X-Frame-Options": "SAMEORIGIN"}


@router.get("/")
def home(ctx: WebContext = Depends(get_context)) -> Response:
    # A fixed path of our own: never a URL taken from the request.
    return RedirectResponse(ctx.paths.archive(), status_code=307)


@router.get("/issues/")
def archive_page(ctx: WebContext = Depends(get_context)) -> HTMLResponse:
    with reading(ctx) as session:
        published = issues.archive(session)
    return render(
        ctx,
        "archive.html",
        {"title": "Past issues", "issues": published, "indexable": True},
        headers={**_PUBLIC, "X-Robots-Tag": "all"},
    )


@router.get("/issues")
def archive_without_slash(ctx: WebContext = Depends(get_context)) -> Response:
    return RedirectResponse(ctx.paths.archive(), status_code=308)


@router.get("/issues/{slug}/")
def web_version(slug: str, test: str = "", ctx: WebContext = Depends(get_context)) -> Response:
    """`test`: the link is a test message's (newsletter.web.test_links), `test` its language."""
    with reading(ctx) as session:
        issue = issues.by_slug(session, slug)
        if issue is None:
            return not_published_page(ctx, test) if test else _no_such_issue(ctx)
        html = issues.web_html(session, issue)
    return HTMLResponse(html, headers=_ISSUE_HEADERS)


@router.get("/issues/{slug}")
def web_version_without_slash(slug: str, ctx: WebContext = Depends(get_context)) -> Response:
    with reading(ctx) as session:
        if issues.by_slug(session, slug) is None:
            return _no_such_issue(ctx)
    return RedirectResponse(ctx.paths.web(slug), status_code=308)


@router.get("/issues/{slug}/newsletter.pdf")
def pdf(slug: str, test: str = "", ctx: WebContext = Depends(get_context)) -> Response:
    with reading(ctx) as session:
        issue = issues.by_slug(session, slug)
        if issue is None:
            return not_published_page(ctx, test) if test else _no_such_issue(ctx)

    def render_it() -> bytes:
        with reading(ctx) as session:
            source = issues.print_html(session, issue)
        return render_pdf(_printable(issue.slug, source))

    path = cached_pdf(
        ctx.settings.data_dir / "pdf", f"{issue.campaign_id}-{issue.token}", render_it
    )
    return FileResponse(
        path,
        media_type="application/pdf",
        filename=f"{issue.slug}.pdf",
        content_disposition_type="inline",
        headers=_ISSUE_HEADERS,
    )


@router.get("/issues/{slug}/assets/{filename}")
def asset(slug: str, filename: str, ctx: WebContext = Depends(get_context)) -> Response:
    with reading(ctx) as session:
        issue = issues.by_slug(session, slug)
        found = issues.asset(session, issue, filename) if issue is not None else None
    if found is None:
        return error_page(ctx, 404, "Not found", "There is no such file.")
    return Response(
        found.data,
        media_type=found.content_type,
        # A campaign's files never change; a newer campaign of the slug may bring others.
        headers={**_ISSUE_HEADERS, "Cache-Control": "public, max-age=86400"},
    )


def render_pdf(issue: Issue) -> bytes:
    # WeasyPrint takes a second to import: only when the first PDF is asked for.
    from newsletter.compose.pdf import render_pdf as render

    return render(issue)


def _printable(slug: str, print_html: str) -> Issue:
    # render_pdf reads only print_html; the rest of Issue is not needed for it.
    return Issue(
        slug=slug,
        subject="",
        preheader="",
        language="en",
        direction="ltr",
        html="",
        text="",
        web_html="",
        print_html=print_html,
    )


def _no_such_issue(ctx: WebContext) -> HTMLResponse:
    return error_page(ctx, 404, "No such issue", "There is no published issue at this address.")
