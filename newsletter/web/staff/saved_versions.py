"""An issue version saved in the editor, as the send and preview pages name it: `issue:<id>`."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from newsletter.store.issues import IssueVersion


def row_id(text: str) -> int | None:
    """`text` as a row id, or None. `str.isdigit` alone lets "²" through (which `int`
    refuses) and "١" (which it reads as 1), and a 30-digit id overflows the database's
    integer: each would be a 500, not a 404."""
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def saved_version(session: Session, version_id: str) -> IssueVersion:
    """The version `version_id` (the part after `issue:`) names; 404 when it names none."""
    number = row_id(version_id)
    version = session.get(IssueVersion, number) if number is not None else None
    if version is None:
        raise HTTPException(404, "There is no such issue version.")
    return version
