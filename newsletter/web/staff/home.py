"""The staff area's front page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from newsletter.web.staff.context import Staff, render, staff

router = APIRouter()


@router.get("/")
def home(request: Request, who: Staff = Depends(staff)) -> HTMLResponse:
    return render(request, "home.html", {"title": "Staff area"}, who=who)
