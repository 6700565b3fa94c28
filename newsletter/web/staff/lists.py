"""Campaigns and lists: counts, CSV import with the per-row report, CSV export.

The import runs through the store's importer: all or nothing, yet in short write
transactions that take their turn with the other writers of this process, so one-click
unsubscribes go on meanwhile. It reports every rejected row with its line. The export
is the store's exporter, whose cells are safe to open in a spreadsheet.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO, cast
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response, StreamingResponse

from newsletter.store.errors import ImportBusyError, ImportFileError
from newsletter.store.exporter import export_csv
from newsletter.store.importer import ImportSummary, Rejection, import_csv
from newsletter.store.lists import ListSummary, list_summaries
from newsletter.store.models import MailingList, MembershipStatus
from newsletter.web.context import WebContext, get_context
from newsletter.web.db import reading, write_turn
from newsletter.web.staff.context import STAFF_HEADERS, Staff, checked_form, render, staff
from newsletter.web.staff.reports import campaign_reports

router = APIRouter()

MAX_IMPORT = 50 * 1024 * 1024
# Rejections shown on the page; the count says how many more there were.
SHOWN_REJECTIONS = 1000
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@router.get("/campaigns")
def campaigns_page(request: Request, who: Staff = Depends(staff)) -> HTMLResponse:
    ctx = get_context(request)
    with reading(ctx) as session:
        reports = campaign_reports(session)
    return render(
        request,
        "campaigns.html",
        # The staff's zone: a scheduled campaign shows its time in it.
        {
            "title": "Campaigns",
            "section": "campaigns",
            "reports": reports,
            "time_zone": ZoneInfo(ctx.settings.time_zone),
        },
        who=who,
    )


@router.get("/lists")
def lists_page(request: Request, who: Staff = Depends(staff)) -> HTMLResponse:
    with reading(get_context(request)) as session:
        summaries = list_summaries(session)
    return render(request, "lists.html", _lists_values(summaries), who=who)


def _lists_values(summaries: list[ListSummary], **extra: object) -> dict[str, object]:
    return {
        "title": "Lists",
        "section": "lists",
        "lists": summaries,
        "statuses": list(MembershipStatus),
        "max_import_mb": MAX_IMPORT // (1024 * 1024),
        "imported": None,
        **extra,
    }


def _list(session: Session, list_id: int) -> MailingList:
    found = session.get(MailingList, list_id)
    if found is None:
        raise HTTPException(404, "There is no such list.")
    return found


@router.post("/lists/{list_id}/import")
async def import_page(request: Request, list_id: int, who: Staff = Depends(staff)) -> Response:
    form = await checked_form(request, who, max_file=MAX_IMPORT)
    sent = form.files.get("file")
    if sent is None or not sent.data:
        raise HTTPException(400, "Choose a CSV file to import.")
    ctx = get_context(request)
    outcome = await run_in_threadpool(_import, ctx, list_id, sent.filename, sent.data)
    with reading(ctx) as session:
        summaries = list_summaries(session)
    return render(request, "lists.html", _lists_values(summaries, imported=outcome), who=who)


class ImportOutcome:
    def __init__(self, list_name: str, filename: str) -> None:
        self.list_name = list_name
        self.filename = filename
        self.summary: ImportSummary | None = None
        self.rejections: list[Rejection] = []
        self.error = ""

    def __call__(self, rejection: Rejection) -> None:
        if len(self.rejections) < SHOWN_REJECTIONS:
            self.rejections.append(rejection)

    @property
    def not_shown(self) -> int:
        skipped = self.summary.skipped if self.summary is not None else 0
        return max(0, skipped - len(self.rejections))


def _import(ctx: WebContext, list_id: int, filename: str, data: bytes) -> ImportOutcome:
    # The importer reads a file (it streams, and reports lines of the file).
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (Path(filename.replace("\\", "/")).name or "import.csv")
        path.write_bytes(data)
        with reading(ctx) as session:
            mailing_list = _list(session, list_id)
        outcome = ImportOutcome(mailing_list.name, path.name)
        try:
            outcome.summary = import_csv(
                mailing_list, path, outcome, engine=ctx.engine, turn=lambda: write_turn(ctx)
            )
        except (ImportFileError, ImportBusyError) as exc:
            outcome = ImportOutcome(mailing_list.name, path.name)
            outcome.error = str(exc).replace(str(path), path.name)
    return outcome


@router.get("/lists/{list_id}/export.csv")
def export(request: Request, list_id: int, who: Staff = Depends(staff)) -> Response:
    ctx = get_context(request)
    # Closed by the response's generator, after the last chunk: it outlives this function.
    spool = cast(
        TextIO,
        tempfile.SpooledTemporaryFile(max_size=1024 * 1024, mode="w+", newline=""),  # noqa: SIM115
    )
    with reading(ctx) as session:
        mailing_list = _list(session, list_id)
        name = mailing_list.name
        export_csv(session, mailing_list, spool)
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        with spool:
            while block := spool.read(64 * 1024):
                yield block.encode("utf-8")

    ascii_name = _FILENAME_UNSAFE.sub("-", name).strip("-") or "list"
    disposition = f"attachment; filename=\"{ascii_name}.csv\"; filename*=UTF-8''{quote(name)}.csv"
    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={**STAFF_HEADERS, "Content-Disposition": disposition},
    )
