"""The preview: pick or upload a record, see the email as a sample recipient gets it.

The page frames the email three times (desktop width, phone width, dark mode) from
`/preview/email`, which serves only the composed message with a CSP that lets nothing run
and lets only our own pages frame it; the frames are sandboxed as well. The page polls
`/preview/version` and reloads when the record file changes. With `subscriber=ADDRESS` the
page and its frames show that subscriber's copy (newsletter.web.staff.readers).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from newsletter.core.settings import Settings
from newsletter.web.context import get_context
from newsletter.web.staff import records
from newsletter.web.staff.context import STAFF_HEADERS, Staff, base, checked_form, render, staff
from newsletter.web.staff.previewing import EMAIL_CSP, dark, preview
from newsletter.web.staff.readers import choose
from newsletter.web.staff.spam import spam_score

router = APIRouter()

_EMAIL_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": EMAIL_CSP,
    "X-Frame-Options": "SAMEORIGIN",
}


def _path(request: Request, record: str) -> Path:
    try:
        return records.resolve(get_context(request).settings, record)
    except records.UnknownRecord:
        raise HTTPException(404, "There is no such record.") from None


@router.get("/preview")
async def preview_page(
    request: Request, record: str = "", subscriber: str = "", who: Staff = Depends(staff)
) -> Response:
    ctx = get_context(request)
    if record.startswith("issue:"):
        # A version saved in the editor is previewed in the editor (the send pages link
        # back here with their record).
        from newsletter.web.staff.editor import editor_of_version

        return editor_of_version(ctx, record.removeprefix("issue:"))
    settings = ctx.settings
    choices = records.available(settings)
    values = _page_values(settings, choices, record)
    chosen = await run_in_threadpool(choose, ctx, subscriber)
    values["chosen"] = chosen
    if record:
        path = _path(request, record)
        shown = await run_in_threadpool(preview, settings, path, chosen.reader)
        values["shown"] = shown
        values["label"] = next((c.label for c in choices if c.id == record), path.name)
        if shown.ok:
            values["spam"] = await run_in_threadpool(spam_score, shown.message)
    return render(request, "preview.html", values, who=who)


def _page_values(
    settings: Settings, choices: list[records.RecordChoice], record: str
) -> dict[str, object]:
    return {
        "title": "Preview",
        "section": "preview",
        "choices": choices,
        "record": record,
        "records_dir": str(settings.records_dir),
        "max_upload_kb": records.MAX_UPLOAD // 1024,
        "shown": None,
        "spam": None,
        "refused": None,
        "chosen": None,
    }


@router.get("/preview/email")
async def preview_email(
    request: Request, record: str, mode: str = "light", subscriber: str = ""
) -> Response:
    path = _path(request, record)
    ctx = get_context(request)
    chosen = await run_in_threadpool(choose, ctx, subscriber)
    shown = await run_in_threadpool(preview, ctx.settings, path, chosen.reader)
    if not shown.ok:
        raise HTTPException(404, "The record has problems; there is no email to show.")
    html = dark(shown.html) if mode == "dark" else shown.html
    return HTMLResponse(html, headers=_EMAIL_HEADERS)


@router.get("/preview/version")
def preview_version(request: Request, record: str) -> Response:
    path = _path(request, record)
    return JSONResponse({"version": records.version(path)}, headers=STAFF_HEADERS)


@router.post("/preview/upload")
async def upload(request: Request, who: Staff = Depends(staff)) -> Response:
    form = await checked_form(request, who, max_file=records.MAX_UPLOAD)
    sent = form.files.get("record")
    if sent is None or not sent.data:
        raise HTTPException(400, "Choose a record file to upload.")
    ctx = get_context(request)
    try:
        with records.staged_upload(ctx.settings, sent.filename, sent.data) as staged:
            # Loaded before it is kept: one that fails is shown to this uploader only.
            shown = await run_in_threadpool(preview, ctx.settings, staged.path)
            if shown.ok:
                record_id = staged.keep()
    except records.UnknownRecord:
        raise HTTPException(
            400, "A record is a .yaml, .yml or .json file; that file is none of these."
        ) from None
    if not shown.ok:
        values = _page_values(ctx.settings, records.available(ctx.settings), "")
        values["refused"] = shown.problems
        return render(request, "preview.html", values, who=who, status_code=400)
    return RedirectResponse(
        f"{base(ctx)}/preview?record={record_id}", status_code=303, headers=STAFF_HEADERS
    )
