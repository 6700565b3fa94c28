"""Subscribers in the staff area: search, view with their history, edit (the address
too), add by hand, unsubscribe, and erase for good.

Every change goes through the store as the CLI's do, with "staff" as the event's source
and the staff member's address as its detail. Adding by hand subscribes at once, without
a confirmation mail, as an import does; it never brings back anyone who left a list or
is suppressed. Erasing asks for the address to be typed again first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from newsletter.store.addresses import lookup_key
from newsletter.store.erasure import erase_subscriber
from newsletter.store.errors import AddressTakenError, StoreError, SuppressedError
from newsletter.store.models import MailingList, MembershipStatus, Subscriber, SuppressionReason
from newsletter.store.subscribers import (
    MAX_NAME_LENGTH,
    Found,
    SubscriberDetails,
    change_email,
    details_of,
    search_subscribers,
    update_subscriber,
)
from newsletter.store.subscriptions import subscribe, unsubscribe
from newsletter.web.context import WebContext, get_context
from newsletter.web.db import reading, writing
from newsletter.web.forms import row_id
from newsletter.web.staff.context import STAFF_HEADERS, Staff, StaffForm, base, checked_form, staff
from newsletter.web.staff.context import render as render_page

router = APIRouter()

SHOWN_RESULTS = 100
SHOWN_EVENTS = 500
SOURCE = "staff"
# Form fields holding an attribute's value are named "attr:" and the attribute's name.
ATTRIBUTE = "attr:"

# What the page says after a change (the redirect's ?done=).
DONE = {
    "added": "Added.",
    "already": "They were already on that list; nothing changed.",
    "left": (
        "They unsubscribed from that list, so they were not added again: only they can "
        "come back, from the sign-up page or a link in a newsletter."
    ),
    "edited": "Saved.",
    "email": "The address was changed; the history below records the old one.",
    "unchanged": "Nothing had changed.",
    "unsubscribed": "Unsubscribed.",
    "unsubscribed-all": "Unsubscribed from every list; the address will not be mailed again.",
}
_REFUSED = {
    SuppressionReason.UNSUBSCRIBED: (
        "This address unsubscribed from every list, so it cannot be added by hand: only its "
        "owner can come back, from the sign-up page."
    ),
    SuppressionReason.BOUNCED: "Mail to this address bounced, so it cannot be added again.",
    SuppressionReason.COMPLAINED: (
        "This address reported our mail as spam, so it cannot be added again."
    ),
    SuppressionReason.ERASED: (
        "This address was erased at its owner's request, so it can never be added again."
    ),
}
# The same refusals, for an address typed as a subscriber's new one.
_REFUSED_NEW_ADDRESS = {
    SuppressionReason.UNSUBSCRIBED: (
        "This address unsubscribed from every list, so it cannot be given to a subscriber: "
        "only its owner can come back, from the sign-up page."
    ),
    SuppressionReason.BOUNCED: (
        "Mail to this address bounced, so it cannot be given to a subscriber."
    ),
    SuppressionReason.COMPLAINED: (
        "This address reported our mail as spam, so it cannot be given to a subscriber."
    ),
    SuppressionReason.ERASED: (
        "This address was erased at its owner's request, so it can never be used again."
    ),
}


def _list_choices(session: Session) -> list[tuple[int, str]]:
    return [
        (item.id, item.name if not item.public_name else f"{item.name} ({item.public_name})")
        for item in session.scalars(select(MailingList).order_by(MailingList.name))
    ]


@router.get("/subscribers")
def search_page(
    request: Request,
    q: str = "",
    in_list: str = Query("", alias="list"),
    who: Staff = Depends(staff),
) -> HTMLResponse:
    list_id = _number(in_list) or None
    with reading(get_context(request)) as session:
        found = search_subscribers(session, q[:320], list_id=list_id, limit=SHOWN_RESULTS + 1)
        choices = _list_choices(session)
    return _search(request, who, q=q, list_id=list_id, found=found, choices=choices)


def _search(
    request: Request,
    who: Staff,
    *,
    q: str = "",
    list_id: int | None = None,
    found: list[Found] | None = None,
    choices: list[tuple[int, str]],
    added: dict[str, str] | None = None,
    error: str = "",
) -> HTMLResponse:
    found = found or []
    values = {
        "title": "Subscribers",
        "section": "subscribers",
        "q": q,
        "list_id": list_id,
        "found": found[:SHOWN_RESULTS],
        "more": len(found) > SHOWN_RESULTS,
        "lists": choices,
        "added": added or {},
        "error": error,
        "max_name": MAX_NAME_LENGTH,
    }
    return render_page(
        request, "subscribers.html", values, who=who, status_code=400 if error else 200
    )


@router.post("/subscribers/new")
async def add(request: Request, who: Staff = Depends(staff)) -> Response:
    """Add one person to a list by hand: new, or already known from another list."""
    form = await checked_form(request, who)
    ctx = get_context(request)
    posted = {"email": form.get("email"), "name": form.get("name"), "list": form.get("list")}
    list_id = _number(posted["list"])
    try:
        subscriber_id, done = await run_in_threadpool(
            _add, ctx, who, list_id, posted["email"], posted["name"]
        )
    except StoreError as exc:
        with reading(ctx) as session:
            choices = _list_choices(session)
        return _search(request, who, choices=choices, added=posted, error=_refusal(exc))
    return _back(ctx, subscriber_id, done)


def _add(ctx: WebContext, who: Staff, list_id: int, email: str, name: str) -> tuple[int, str]:
    with writing(ctx) as session:
        if session.get(MailingList, list_id) is None:
            raise StoreError("choose the list to add them to")
        known = session.scalar(select(Subscriber).where(Subscriber.email_key == lookup_key(email)))
        before = None
        if known is not None:
            before = next((m for m in known.memberships if m.list_id == list_id), None)
        membership = subscribe(
            session,
            list_id,
            email,
            name=name.strip()[:MAX_NAME_LENGTH],
            source=SOURCE,
            detail=f"added by {who.email}",
        )
        if before is None:
            return membership.subscriber_id, "added"
        if membership.status == MembershipStatus.UNSUBSCRIBED:
            return membership.subscriber_id, "left"
        return membership.subscriber_id, "already"


def _refusal(exc: StoreError) -> str:
    if isinstance(exc, SuppressedError):
        return _REFUSED.get(SuppressionReason(exc.reason), str(exc))
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@dataclass(frozen=True)
class _View:
    details: SubscriberDetails
    attributes: list[tuple[str, str]]
    other_lists: list[tuple[int, str]]


@router.get("/subscribers/{subscriber_id}")
def subscriber_page(
    request: Request, subscriber_id: int, done: str = "", who: Staff = Depends(staff)
) -> HTMLResponse:
    with reading(get_context(request)) as session:
        return _subscriber_page(request, who, session, subscriber_id, notice=DONE.get(done, ""))


def _subscriber_page(
    request: Request,
    who: Staff,
    session: Session,
    subscriber_id: int,
    *,
    notice: str = "",
    error: str = "",
    email: str | None = None,
    email_error: str = "",
) -> HTMLResponse:
    """`email` and `email_error`: a new address that was refused, shown again with why."""
    subscriber = _found(session, subscriber_id)
    details = details_of(session, subscriber, events=SHOWN_EVENTS)
    joined = {mailing_list.id for mailing_list, _ in details.memberships}
    view = _View(
        details,
        sorted((key, str(value)) for key, value in (subscriber.attributes or {}).items()),
        [(list_id, label) for list_id, label in _list_choices(session) if list_id not in joined],
    )
    return render_page(
        request,
        "subscriber.html",
        {
            "title": subscriber.email,
            "section": "subscribers",
            "view": view,
            "notice": notice,
            "error": error,
            "email": subscriber.email if email is None else email,
            "email_error": email_error,
            "attribute_prefix": ATTRIBUTE,
            "max_name": MAX_NAME_LENGTH,
            "unsubscribed": MembershipStatus.UNSUBSCRIBED,
        },
        who=who,
        status_code=400 if error or email_error else 200,
    )


def _refused(
    request: Request, who: Staff, ctx: WebContext, subscriber_id: int, exc: StoreError
) -> HTMLResponse:
    """The subscriber's page again, saying why the change was refused."""
    with reading(ctx) as session:
        return _subscriber_page(request, who, session, subscriber_id, error=_refusal(exc))


@router.post("/subscribers/{subscriber_id}/edit")
async def edit(request: Request, subscriber_id: int, who: Staff = Depends(staff)) -> Response:
    form = await checked_form(request, who)
    ctx = get_context(request)
    try:
        changed = await run_in_threadpool(_edit, ctx, who, subscriber_id, form)
    except StoreError as exc:
        return _refused(request, who, ctx, subscriber_id, exc)
    return _back(ctx, subscriber_id, "edited" if changed else "unchanged")


def _edit(ctx: WebContext, who: Staff, subscriber_id: int, form: StaffForm) -> bool:
    with writing(ctx) as session:
        subscriber = _found(session, subscriber_id)
        before = subscriber.attributes or {}
        attributes: dict[str, Any] = {}
        for field, value in form.values.items():
            if not field.startswith(ATTRIBUTE):
                continue
            key = field.removeprefix(ATTRIBUTE)
            if value.strip() == "":
                continue  # emptied: removed
            # Unchanged as shown: keep the stored value as it was (it may not be text).
            attributes[key] = before[key] if str(before.get(key)) == value else value.strip()
        new_name, new_value = form.get("new_name").strip(), form.get("new_value").strip()
        if new_name and new_value:
            attributes[new_name] = new_value
        return update_subscriber(
            session,
            subscriber_id,
            name=form.get("name"),
            attributes=attributes,
            source=SOURCE,
            detail=who.email,
        )


@router.post("/subscribers/{subscriber_id}/email")
async def edit_email(request: Request, subscriber_id: int, who: Staff = Depends(staff)) -> Response:
    form = await checked_form(request, who)
    ctx = get_context(request)
    typed = form.get("email")
    try:
        changed = await run_in_threadpool(_change_email, ctx, who, subscriber_id, typed)
    except StoreError as exc:
        with reading(ctx) as session:
            return _subscriber_page(
                request,
                who,
                session,
                subscriber_id,
                email=typed,
                email_error=_address_refusal(exc),
            )
    return _back(ctx, subscriber_id, "email" if changed else "unchanged")


def _change_email(ctx: WebContext, who: Staff, subscriber_id: int, email: str) -> bool:
    with writing(ctx) as session:
        _found(session, subscriber_id)
        return change_email(session, subscriber_id, email, source=SOURCE, detail=who.email)


def _address_refusal(exc: StoreError) -> str:
    if isinstance(exc, AddressTakenError):
        return (
            f"{exc.email} is already the address of another subscriber (number "
            f"{exc.other_id}): two subscribers cannot share one. Nothing was changed."
        )
    if isinstance(exc, SuppressedError):
        return _REFUSED_NEW_ADDRESS.get(SuppressionReason(exc.reason), _refusal(exc))
    return _refusal(exc)  # email-validator's reason, for an InvalidAddress


@router.post("/subscribers/{subscriber_id}/lists")
async def add_to_list(
    request: Request, subscriber_id: int, who: Staff = Depends(staff)
) -> Response:
    form = await checked_form(request, who)
    ctx = get_context(request)
    list_id = _number(form.get("list"))
    try:
        email = await run_in_threadpool(_email_of, ctx, subscriber_id)
        _, done = await run_in_threadpool(_add, ctx, who, list_id, email, "")
    except StoreError as exc:
        return _refused(request, who, ctx, subscriber_id, exc)
    return _back(ctx, subscriber_id, done)


def _email_of(ctx: WebContext, subscriber_id: int) -> str:
    with reading(ctx) as session:
        return _found(session, subscriber_id).email


@router.post("/subscribers/{subscriber_id}/unsubscribe")
async def unsubscribe_page(
    request: Request, subscriber_id: int, who: Staff = Depends(staff)
) -> Response:
    """`list`: a list's id, or "all" (every list, and the address is suppressed)."""
    form = await checked_form(request, who)
    ctx = get_context(request)
    choice = form.get("list")
    list_id: int | None = None
    if choice != "all":
        list_id = _number(choice)
        if not list_id:
            raise HTTPException(400, "Choose the list to unsubscribe them from.")
    await run_in_threadpool(_unsubscribe, ctx, who, subscriber_id, list_id)
    return _back(ctx, subscriber_id, "unsubscribed" if list_id is not None else "unsubscribed-all")


def _unsubscribe(ctx: WebContext, who: Staff, subscriber_id: int, list_id: int | None) -> None:
    with writing(ctx) as session:
        _found(session, subscriber_id)
        unsubscribe(session, subscriber_id, list_id, source=SOURCE, detail=who.email)


@router.get("/subscribers/{subscriber_id}/erase")
def erase_page(request: Request, subscriber_id: int, who: Staff = Depends(staff)) -> HTMLResponse:
    with reading(get_context(request)) as session:
        subscriber = _found(session, subscriber_id)
        return _erase_form(request, who, subscriber)


def _erase_form(
    request: Request, who: Staff, subscriber: Subscriber, *, error: str = ""
) -> HTMLResponse:
    return render_page(
        request,
        "erase.html",
        {
            "title": "Erase a subscriber for good",
            "section": "subscribers",
            "subscriber": subscriber,
            "lists": len(subscriber.memberships),
            "error": error,
        },
        who=who,
        status_code=400 if error else 200,
    )


@router.post("/subscribers/{subscriber_id}/erase")
async def erase(request: Request, subscriber_id: int, who: Staff = Depends(staff)) -> Response:
    form = await checked_form(request, who)
    ctx = get_context(request)
    typed = form.get("confirm")
    with reading(ctx) as session:
        subscriber = _found(session, subscriber_id)
        if lookup_key(typed) != subscriber.email_key:
            return _erase_form(
                request,
                who,
                subscriber,
                error="The address typed is not this subscriber's: nothing was erased.",
            )
    try:
        await run_in_threadpool(_erase, ctx, who, subscriber_id)
    except StoreError as exc:
        with reading(ctx) as session:
            return _erase_form(request, who, _found(session, subscriber_id), error=_refusal(exc))
    return render_page(
        request,
        "erased.html",
        {"title": "Subscriber erased", "section": "subscribers"},
        who=who,
    )


def _erase(ctx: WebContext, who: Staff, subscriber_id: int) -> None:
    with writing(ctx) as session:
        erase_subscriber(session, subscriber_id, detail=f"erased by {who.email}")


def _number(text: str) -> int:
    """A posted id, or 0 for anything else (an id never has more than nine digits here)."""
    text = text.strip()
    return (row_id(text) or 0) if len(text) < 10 else 0


def _found(session: Session, subscriber_id: int) -> Subscriber:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise HTTPException(404, "There is no such subscriber (or they were erased).")
    return subscriber


def _back(ctx: WebContext, subscriber_id: int, done: str) -> RedirectResponse:
    # Post, redirect, get: reloading the page does not post the form again.
    query = urlencode({"done": done})
    return RedirectResponse(
        f"{base(ctx)}/subscribers/{subscriber_id}?{query}", status_code=303, headers=STAFF_HEADERS
    )
