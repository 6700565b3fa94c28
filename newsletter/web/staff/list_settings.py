"""Creating a list and changing its names, description and language.

The internal name is the key the CLI, the sign-up address (/subscribe/NAME) and the
campaigns use; the public name is what subscribers see on the public pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from babel import Locale, UnknownLocaleError
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from newsletter.i18n.languages import SOURCE, shipped
from newsletter.store.errors import StoreError
from newsletter.store.lists import MAX_NAME_LENGTH, create_list, update_list
from newsletter.store.models import PUBLIC_NAME_LENGTH, MailingList
from newsletter.web.context import WebContext, get_context
from newsletter.web.db import reading, writing
from newsletter.web.staff.context import STAFF_HEADERS, Staff, StaffForm, base, checked_form, staff
from newsletter.web.staff.context import render as render_page

router = APIRouter()


@dataclass(frozen=True)
class ListFields:
    """The form's values, as typed (shown again when they are refused)."""

    name: str = ""
    public_name: str = ""
    description: str = ""
    language: str = ""

    @classmethod
    def of(cls, mailing_list: MailingList) -> ListFields:
        return cls(
            mailing_list.name,
            mailing_list.public_name or "",
            mailing_list.description,
            mailing_list.language or "",
        )

    @classmethod
    def posted(cls, form: StaffForm) -> ListFields:
        return cls(
            form.get("name"), form.get("public_name"), form.get("description"), form.get("language")
        )


def languages(current: str = "") -> list[tuple[str, str]]:
    """(tag, label) for the language choice: English (as None) first, then the shipped
    catalogues, and the list's own tag if it has one without a catalogue."""
    tags = [tag for tag in shipped() if tag != SOURCE]
    if current and current not in tags:
        tags.append(current)
    return [("", "English")] + [(tag, f"{_label(tag)} ({tag})") for tag in tags]


def _label(tag: str) -> str:
    try:
        return Locale.parse(tag, sep="-").get_display_name("en") or tag
    except (ValueError, UnknownLocaleError):
        return tag


def _page(
    request: Request,
    who: Staff,
    fields: ListFields,
    *,
    list_id: int | None,
    error: str = "",
    saved: bool = False,
) -> HTMLResponse:
    values = {
        "title": "New list" if list_id is None else f"List settings: {fields.name}",
        "section": "lists",
        "list_id": list_id,
        "fields": fields,
        "languages": languages(fields.language),
        "error": error,
        "saved": saved,
        "max_name": MAX_NAME_LENGTH,
        "max_public_name": PUBLIC_NAME_LENGTH,
    }
    return render_page(request, "list.html", values, who=who, status_code=400 if error else 200)


@router.get("/lists/new")
def new_list_page(request: Request, who: Staff = Depends(staff)) -> HTMLResponse:
    return _page(request, who, ListFields(), list_id=None)


@router.post("/lists/new")
async def create(request: Request, who: Staff = Depends(staff)) -> Response:
    fields = ListFields.posted(await checked_form(request, who))
    ctx = get_context(request)
    try:
        list_id = await run_in_threadpool(_create, ctx, fields)
    except StoreError as exc:
        return _page(request, who, fields, list_id=None, error=_sentence(exc))
    return _saved(ctx, list_id)


def _create(ctx: WebContext, fields: ListFields) -> int:
    with writing(ctx) as session:
        return create_list(
            session,
            fields.name,
            fields.description.strip(),
            fields.language,
            public_name=fields.public_name,
        ).id


@router.get("/lists/{list_id}")
def settings_page(
    request: Request, list_id: int, saved: bool = False, who: Staff = Depends(staff)
) -> HTMLResponse:
    with reading(get_context(request)) as session:
        found = session.get(MailingList, list_id)
        if found is None:
            raise HTTPException(404, "There is no such list.")
        fields = ListFields.of(found)
    return _page(request, who, fields, list_id=list_id, saved=saved)


@router.post("/lists/{list_id}")
async def save(request: Request, list_id: int, who: Staff = Depends(staff)) -> Response:
    fields = ListFields.posted(await checked_form(request, who))
    ctx = get_context(request)
    try:
        await run_in_threadpool(_save, ctx, list_id, fields)
    except StoreError as exc:
        return _page(request, who, fields, list_id=list_id, error=_sentence(exc))
    return _saved(ctx, list_id)


def _save(ctx: WebContext, list_id: int, fields: ListFields) -> None:
    with writing(ctx) as session:
        if session.get(MailingList, list_id) is None:
            raise HTTPException(404, "There is no such list.")
        update_list(
            session,
            list_id,
            name=fields.name,
            public_name=fields.public_name,
            description=fields.description,
            language=fields.language,
        )


def _saved(ctx: WebContext, list_id: int) -> RedirectResponse:
    # Post, redirect, get: reloading the page does not post the form again.
    return RedirectResponse(
        f"{base(ctx)}/lists/{list_id}?saved=1", status_code=303, headers=STAFF_HEADERS
    )


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
