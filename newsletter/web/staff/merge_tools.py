"""The editor's "Insert field" control (static/merge_fields.js) asks here which merge
fields there are: the subscribers' attribute labels, and their own name and email."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from newsletter.issue.merge_fields import attribute_key
from newsletter.store.attributes import known_labels
from newsletter.web.context import WebContext, get_context
from newsletter.web.db import reading
from newsletter.web.staff.context import STAFF_HEADERS

router = APIRouter()

_OWN = [
    {"name": "name", "label": "Name (the subscriber's)"},
    {"name": "email", "label": "Email address"},
]


def fields(ctx: WebContext) -> list[dict[str, str]]:
    with reading(ctx) as session:
        labels = known_labels(session)
    by_name: dict[str, str] = {}
    for label in sorted(labels, key=str.casefold):
        # Two columns that differ only in case or spacing are one field.
        if (name := attribute_key(label)) and name not in ("name", "email"):
            by_name.setdefault(name, label)
    return [{"name": n, "label": label} for n, label in by_name.items()] + _OWN


@router.get("/merge-fields")
async def merge_fields(request: Request) -> JSONResponse:
    found = await run_in_threadpool(fields, get_context(request))
    return JSONResponse({"fields": found}, headers=STAFF_HEADERS)
