"""The issue editor: issues written in the browser, kept in the database with every version.

- `/issues`: the issues, newest edit first; import a zip (record + photos) or a record file.
- `/issues/new`, `/issues/{id}`: the form that follows the record, with a live preview
  beside it. A save names the version it was based on; one based on an older version is
  refused (409) with the staff member's text still in the form.
- `/issues/preview`: the form's data composed as the email, as JSON for the page's script,
  photos chosen but not saved yet included; its frames load `/issues/preview/email?key=…`,
  which serves only the composed message with the preview's strict CSP.
- Versions: the list, what changed from the one before, restoring one (a new version).
- Duplicate, delete, export as a zip.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import threading
import unicodedata
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from newsletter.core.errors import RecordError
from newsletter.core.links import Links
from newsletter.core.settings import Settings
from newsletter.issue.model import Asset
from newsletter.record.archive import ArchiveError, export_archive, import_archive, record_yaml
from newsletter.record.archive import record_data as archived_data
from newsletter.record.assets import AssetError
from newsletter.record.changes import changes
from newsletter.record.model import MAX_SLUG_LENGTH, LoadedRecord, Record
from newsletter.record.photos import PHOTO_WIDTH, prepare_image
from newsletter.store.issues import (
    SavedVersion,
    SlugTakenError,
    StaleVersionError,
    UnknownIssueError,
    address_for,
    create_issue,
    delete_issue,
    duplicate_issue,
    get_version,
    list_issues,
    list_versions,
    restore_version,
    save_version,
)
from newsletter.web.context import WebContext, get_context
from newsletter.web.db import reading, writing
from newsletter.web.forms import row_id
from newsletter.web.staff import issue_form
from newsletter.web.staff.context import (
    STAFF_HEADERS,
    Staff,
    StaffForm,
    base,
    checked_form,
    render,
    staff,
)
from newsletter.web.staff.issue_form import Checked, IssueForm
from newsletter.web.staff.previewing import EMAIL_CSP, Preview, dark, preview_loaded
from newsletter.web.staff.saved_versions import saved_version

router = APIRouter()

_PHOTO_FILE = re.compile(r"^speakers-(\d{1,3})-photo_file$")
_EMAIL_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": EMAIL_CSP,
    "X-Frame-Options": "SAMEORIGIN",
}
MAX_IMPORT = 64 * 1024 * 1024
T = TypeVar("T")


# Things made for one account and found again by a random key: previews of the form as
# its script last posted it, and photos uploaded with a preview or with a save that was
# refused (so that they are sent and prepared once, and need not be chosen again).
# Bounded: the oldest go once enough newer ones came.
class _Kept(Generic[T]):
    def __init__(self, kept: int = 64) -> None:
        self.kept = kept
        self._items: OrderedDict[str, tuple[int, T]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, user_id: int, value: T) -> str:
        key = secrets.token_urlsafe(12)
        with self._lock:
            self._items[key] = (user_id, value)
            while len(self._items) > self.kept:
                self._items.popitem(last=False)
        return key

    def get(self, user_id: int, key: str) -> T | None:
        with self._lock:
            found = self._items.get(key)
        return found[1] if found is not None and found[0] == user_id else None


previews: _Kept[Preview] = _Kept()
pending: _Kept[dict[str, Asset]] = _Kept()


def _redirect(ctx: WebContext, path: str) -> RedirectResponse:
    return RedirectResponse(f"{base(ctx)}{path}", status_code=303, headers=STAFF_HEADERS)


def _version(ctx: WebContext, issue_id: int, number: int | None = None) -> SavedVersion:
    try:
        with reading(ctx) as session:
            return get_version(session, issue_id, number)
    except UnknownIssueError:
        raise HTTPException(404, "There is no such issue.") from None


def editor_of_version(ctx: WebContext, version_id: str) -> RedirectResponse:
    """To the editor of the issue a saved version (`issue:<id>` on the send pages) is of."""
    with reading(ctx) as session:
        issue_id = saved_version(session, version_id).issue_id
    return _redirect(ctx, f"/issues/{issue_id}")


# The list, import, duplicate, delete, export


@router.get("/issues")
def issues_page(request: Request, who: Staff = Depends(staff)) -> HTMLResponse:
    return _issues_page(request, who)


def _issues_page(
    request: Request, who: Staff, *, refused: list[str] | None = None, status_code: int = 200
) -> HTMLResponse:
    with reading(get_context(request)) as session:
        issues = list_issues(session)
    return render(
        request,
        "issues.html",
        {
            "title": "Issues",
            "section": "issues",
            "issues": issues,
            "refused": refused,
            "max_import_mb": MAX_IMPORT >> 20,
        },
        who=who,
        status_code=status_code,
    )


@router.post("/issues/import")
async def import_issue(request: Request, who: Staff = Depends(staff)) -> Response:
    form = await checked_form(request, who, max_file=MAX_IMPORT)
    sent = form.files.get("archive")
    if sent is None or not sent.data:
        raise HTTPException(400, "Choose a zip file (or a record file) to import.")
    ctx = get_context(request)
    settings = ctx.settings
    try:
        record, photos = await run_in_threadpool(_imported, settings, sent.filename, sent.data)
    except ArchiveError as exc:
        return _issues_page(request, who, refused=[str(exc)], status_code=400)
    except RecordError as exc:
        return _issues_page(request, who, refused=exc.problems, status_code=400)
    note = f"imported from {sent.filename}"
    try:
        with writing(ctx) as session:
            saved = create_issue(session, record, photos, saved_by=who.email, note=note)
    except SlugTakenError as exc:
        # An issue exported and imported again is a copy, as a duplicate is: it gets an
        # address of its own, and says so.
        note = f"{note}; {exc.slug} is another issue's web address, so it got its own"
        with writing(ctx) as session:
            saved = create_issue(
                session,
                record.model_copy(update={"slug": None}),
                photos,
                saved_by=who.email,
                note=note,
            )
    return _redirect(ctx, f"/issues/{saved.issue_id}")


def _imported(settings: Settings, filename: str, data: bytes) -> tuple[Record, dict[str, Asset]]:
    if not data.startswith(b"PK"):
        # A record file alone, without photos: imported as a zip holding only it.
        suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "yaml"
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w") as archive:
            archive.writestr(f"record.{suffix if suffix in ('yml', 'json') else 'yaml'}", data)
        data = packed.getvalue()
    return import_archive(
        data,
        max_photo_bytes=settings.max_photo_bytes,
        photo_budget_bytes=settings.photo_budget_bytes,
    )


@router.post("/issues/{issue_id}/duplicate")
async def duplicate(request: Request, issue_id: int, who: Staff = Depends(staff)) -> Response:
    await checked_form(request, who)
    ctx = get_context(request)
    try:
        with writing(ctx) as session:
            copy = duplicate_issue(session, issue_id, saved_by=who.email)
    except UnknownIssueError:
        raise HTTPException(404, "There is no such issue.") from None
    return _redirect(ctx, f"/issues/{copy.issue_id}")


@router.post("/issues/{issue_id}/delete")
async def delete(request: Request, issue_id: int, who: Staff = Depends(staff)) -> Response:
    form = await checked_form(request, who)
    if form.get("confirm") != "yes":
        raise HTTPException(400, "Tick the box to confirm that the issue should be deleted.")
    ctx = get_context(request)
    try:
        with writing(ctx) as session:
            delete_issue(session, issue_id)
    except UnknownIssueError:
        raise HTTPException(404, "There is no such issue.") from None
    return _redirect(ctx, "/issues")


@router.get("/issues/{issue_id}/export.zip")
def export_zip(request: Request, issue_id: int, who: Staff = Depends(staff)) -> Response:
    saved = _version(get_context(request), issue_id)
    name = _download_name(saved)
    return Response(
        export_archive(saved.record, saved.photos),
        media_type="application/zip",
        headers={**STAFF_HEADERS, "Content-Disposition": f'attachment; filename="{name}.zip"'},
    )


@router.get("/issues/{issue_id}/record.yaml")
def export_yaml(request: Request, issue_id: int, who: Staff = Depends(staff)) -> Response:
    saved = _version(get_context(request), issue_id)
    return Response(
        record_yaml(archived_data(saved.record)),
        media_type="text/plain; charset=utf-8",
        headers={
            **STAFF_HEADERS,
            "Content-Disposition": f'attachment; filename="{_download_name(saved)}.yaml"',
        },
    )


def _download_name(saved: SavedVersion) -> str:
    ascii_slug = unicodedata.normalize("NFKD", saved.record.issue_slug).encode("ascii", "ignore")
    return re.sub(r"[^A-Za-z0-9-]+", "-", ascii_slug.decode()).strip("-") or (
        f"issue-{saved.issue_id}"
    )


# The live preview


@router.post("/issues/preview")
async def preview_form(request: Request, who: Staff = Depends(staff)) -> Response:
    """The form composed as the email. Photos chosen in it but not saved yet come with it
    (the page's script sends each once) and are prepared as a save prepares them; the
    answer names each one's photo and a `pending` key that keeps them for later previews
    and the save, as a refused save does."""
    ctx = get_context(request)
    form = await _posted(request, who)
    stored: dict[str, Asset] = {}
    issue_id, based_on = row_id(form.get("issue")), row_id(form.get("based_on"))
    if issue_id is not None and based_on is not None:
        stored = _version(ctx, issue_id, based_on).photos
    made = await run_in_threadpool(_checked, ctx.settings, form, {**stored, **_pending(who, form)})
    extra: dict[str, Any] = {}
    if made.chosen:
        extra = {"photos": made.chosen, "pending": _keep(who, made.photos, stored)}
    checked = made.checked
    if checked.record is None:
        return JSONResponse({"ok": False, "errors": checked.errors, **extra}, headers=STAFF_HEADERS)
    # The address a save would give it, and whether a chosen one is free.
    try:
        with reading(ctx) as session:
            record = address_for(session, issue_id, checked.record)
    except SlugTakenError as exc:
        return JSONResponse(
            {"ok": False, "errors": {"slug": _sentence(exc)}, **extra}, headers=STAFF_HEADERS
        )
    extra["slug"] = record.slug
    loaded = LoadedRecord(record=record, source=_source(issue_id), photos=made.photos)
    shown = await run_in_threadpool(preview_loaded, ctx.settings, loaded, "form")
    if not shown.ok:
        return JSONResponse(
            {"ok": False, "errors": {}, "problems": shown.problems, **extra},
            headers=STAFF_HEADERS,
        )
    key = previews.add(who.user_id, shown)
    return JSONResponse(
        {
            "ok": True,
            "errors": {},
            "key": key,
            "subject": shown.subject,
            "preheader": shown.preheader,
            "text": shown.text,
            "html_bytes": shown.html_bytes,
            "clip_limit": shown.clip_limit,
            "checks": [f"{problem.code}: {problem.message}" for problem in shown.checks],
            **extra,
        },
        headers=STAFF_HEADERS,
    )


def _source(issue_id: int | str | None) -> Path:
    return Path(f"issue-{issue_id or 'new'}")


@router.get("/issues/preview/email")
def preview_email(
    request: Request, key: str, mode: str = "light", who: Staff = Depends(staff)
) -> Response:
    shown = previews.get(who.user_id, key)
    if shown is None or not shown.ok:
        raise HTTPException(404, "This preview is no longer kept; edit the form to see it.")
    return HTMLResponse(dark(shown.html) if mode == "dark" else shown.html, headers=_EMAIL_HEADERS)


# The editor


@router.get("/issues/new")
def new_issue(request: Request, who: Staff = Depends(staff)) -> HTMLResponse:
    return _editor(request, who, IssueForm(values={"kind": "Seminar", "language": "en"}))


@router.post("/issues/new")
async def create(request: Request, who: Staff = Depends(staff)) -> Response:
    ctx = get_context(request)
    form = await _posted(request, who)
    state, checked, photos, _ = await run_in_threadpool(
        _checked, ctx.settings, form, _pending(who, form)
    )
    if checked.record is None:
        return _editor(
            request,
            who,
            state,
            errors=checked.errors,
            pending_key=_keep(who, photos, {}),
            status_code=400,
        )
    try:
        with writing(ctx) as session:
            saved = create_issue(session, checked.record, photos, saved_by=who.email)
    except SlugTakenError as exc:
        return _editor(
            request,
            who,
            state,
            errors={"slug": _sentence(exc)},
            pending_key=_keep(who, photos, {}),
            status_code=400,
        )
    return _redirect(ctx, f"/issues/{saved.issue_id}?saved={saved.number}")


@router.get("/issues/{issue_id}")
def edit_issue(
    request: Request, issue_id: int, saved: int = 0, who: Staff = Depends(staff)
) -> HTMLResponse:
    version = _version(get_context(request), issue_id)
    return _editor(
        request,
        who,
        issue_form.from_record(version.record),
        version=version,
        notice=f"Saved as version {saved}." if saved == version.number else None,
    )


@router.post("/issues/{issue_id}")
async def save(request: Request, issue_id: int, who: Staff = Depends(staff)) -> Response:
    ctx = get_context(request)
    form = await _posted(request, who)
    try:
        based_on = int(form.get("based_on"))
    except ValueError:
        raise HTTPException(400, "This form is out of date; open the issue again.") from None
    base_version = _version(ctx, issue_id, based_on)
    # Preparing photos takes a while: not on the event loop.
    stored = base_version.photos
    state, checked, photos, _ = await run_in_threadpool(
        _checked, ctx.settings, form, {**stored, **_pending(who, form)}
    )
    if checked.record is None:
        return _editor(
            request,
            who,
            state,
            version=base_version,
            errors=checked.errors,
            pending_key=_keep(who, photos, stored),
            status_code=400,
        )
    try:
        with writing(ctx) as session:
            saved = save_version(
                session, issue_id, based_on, checked.record, photos, saved_by=who.email
            )
    except StaleVersionError as exc:
        return _editor(
            request,
            who,
            state,
            version=base_version,
            conflict=str(exc),
            pending_key=_keep(who, photos, stored),
            status_code=409,
        )
    except SlugTakenError as exc:
        return _editor(
            request,
            who,
            state,
            version=base_version,
            errors={"slug": _sentence(exc)},
            pending_key=_keep(who, photos, stored),
            status_code=400,
        )
    return _redirect(ctx, f"/issues/{issue_id}?saved={saved.number}")


async def _posted(request: Request, who: Staff) -> StaffForm:
    settings = get_context(request).settings
    return await checked_form(
        request,
        who,
        max_file=settings.max_photo_bytes,
        max_files=issue_form.MAX_SPEAKERS + 1,
        max_fields=issue_form.MAX_FORM_FIELDS,
    )


def _pending(who: Staff, form: StaffForm) -> dict[str, Asset]:
    """The photos uploaded with an earlier preview or refused save of this form."""
    return pending.get(who.user_id, form.get("pending")) or {}


def _keep(who: Staff, photos: dict[str, Asset], stored: dict[str, Asset]) -> str:
    """A key to the photos of a refused save that its version did not have, or ""."""
    new = {name: asset for name, asset in photos.items() if name not in stored}
    return pending.add(who.user_id, new) if new else ""


class _Made(NamedTuple):
    state: IssueForm
    checked: Checked
    # The photos the record may name: those stored (the version it was based on, earlier
    # uploads) and the ones uploaded with the form, prepared for mail.
    photos: dict[str, Asset]
    # Each file field whose upload could be used, with the photo's name.
    chosen: dict[str, str]


def _checked(settings: Settings, form: StaffForm, stored: dict[str, Asset]) -> _Made:
    """The form's state, its record or errors (an upload that cannot be used is one, on
    its field), and its photos."""
    posted = dict(form.values)
    photos = dict(stored)
    chosen: dict[str, str] = {}
    for name, upload in form.files.items():
        match = _PHOTO_FILE.match(name)
        if match is None or not upload.data:
            continue
        row = match.group(1)
        try:
            asset = _prepared(
                settings, upload.filename, upload.data, posted.get(f"speakers-{row}-name", "")
            )
        except AssetError as exc:
            posted[f"speakers-{row}-photo_error"] = str(exc)
            continue
        photos[asset.filename] = asset
        chosen[name] = asset.filename
        posted[f"speakers-{row}-photo"] = asset.filename
        posted.pop(f"speakers-{row}-photo_remove", None)
    state = issue_form.from_posted(posted)
    missing: dict[str, str] = {}
    for index, speaker in enumerate(state.speakers):
        photo = speaker.get("photo", "")
        if photo and "://" not in photo and photo not in photos:
            missing[f"speakers-{index}-photo"] = "This photo is not stored; upload it again."
    return _Made(state, issue_form.check(state, missing), photos, chosen)


def _prepared(settings: Settings, filename: str, data: bytes, speaker: str) -> Asset:
    """An uploaded photo made fit for mail, named by the speaker and its content."""
    ascii_name = unicodedata.normalize("NFKD", speaker).encode("ascii", "ignore").decode()
    slug = "-".join(re.findall(r"[a-z0-9]+", ascii_name.lower()))[:40] or "photo"
    stem = f"speaker-{slug}-{hashlib.sha256(data).hexdigest()[:10]}"
    shown = filename.replace("\\", "/").rsplit("/", 1)[-1] or "the photo"
    return prepare_image(
        data,
        stem,
        shown=shown,
        width=PHOTO_WIDTH,
        budget_bytes=settings.photo_budget_bytes,
    )


def _editor(
    request: Request,
    who: Staff,
    state: IssueForm,
    *,
    version: SavedVersion | None = None,
    errors: dict[str, str] | None = None,
    conflict: str | None = None,
    notice: str | None = None,
    pending_key: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    ctx = get_context(request)
    preview_key = None
    if version is not None and not errors and not conflict:
        preview_key = previews.add(
            who.user_id, preview_loaded(ctx.settings, version.loaded(), f"v{version.number}")
        )
    values: dict[str, Any] = {
        "title": f"Edit: {version.record.title}" if version is not None else "New issue",
        "section": "issues",
        "form": state,
        "version": version,
        "errors": errors or {},
        "conflict": conflict,
        "notice": notice,
        "pending": pending_key,
        "preview_key": preview_key,
        "shown": previews.get(who.user_id, preview_key) if preview_key else None,
        "max_speakers": issue_form.MAX_SPEAKERS,
        "max_photo_mb": ctx.settings.max_photo_bytes >> 20,
        "max_photo_bytes": ctx.settings.max_photo_bytes,
        "issues_url": Links(ctx.settings.public_url).web("").removesuffix("/"),
        "max_slug": MAX_SLUG_LENGTH,
        "action": f"{base(ctx)}/issues/{version.issue_id}"
        if version
        else f"{base(ctx)}/issues/new",
    }
    return render(request, "issue.html", values, who=who, status_code=status_code)


@router.get("/issues/{issue_id}/photos/{name}")
def photo(
    request: Request, issue_id: int, name: str, version: int = 0, who: Staff = Depends(staff)
) -> Response:
    saved = _version(get_context(request), issue_id, version or None)
    asset = saved.photos.get(name)
    if asset is None:
        raise HTTPException(404, "There is no such photo.")
    return Response(
        asset.data,
        media_type=asset.content_type,
        headers={"Cache-Control": "private, max-age=3600"},
    )


# Versions


@router.get("/issues/{issue_id}/versions")
def versions_page(
    request: Request, issue_id: int, show: int = 0, who: Staff = Depends(staff)
) -> HTMLResponse:
    ctx = get_context(request)
    try:
        with reading(ctx) as session:
            versions = list_versions(session, issue_id)
            shown = get_version(session, issue_id, show or None)
            before = get_version(session, issue_id, shown.number - 1) if shown.number > 1 else None
    except UnknownIssueError:
        raise HTTPException(404, "There is no such issue or version.") from None
    diff = changes(before.record, shown.record) if before is not None else []
    return render(
        request,
        "issue_versions.html",
        {
            "title": f"Versions: {versions[0].title}",
            "section": "issues",
            "issue_id": issue_id,
            "versions": versions,
            "latest": versions[0].number,
            "shown": shown,
            "before": before,
            "changes": diff,
        },
        who=who,
    )


@router.post("/issues/{issue_id}/versions/{number}/restore")
async def restore(
    request: Request, issue_id: int, number: int, who: Staff = Depends(staff)
) -> Response:
    form = await checked_form(request, who)
    ctx = get_context(request)
    try:
        based_on = int(form.get("based_on"))
    except ValueError:
        raise HTTPException(400, "This form is out of date; open the versions again.") from None
    try:
        with writing(ctx) as session:
            saved = restore_version(session, issue_id, number, based_on, saved_by=who.email)
    except UnknownIssueError:
        raise HTTPException(404, "There is no such issue or version.") from None
    except (StaleVersionError, SlugTakenError) as exc:
        raise HTTPException(409, _sentence(exc)) from None
    return _redirect(ctx, f"/issues/{issue_id}?saved={saved.number}")


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
