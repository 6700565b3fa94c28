"""An issue version saved in the editor, as the send and preview pages name it: `issue:<id>`."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from newsletter.store.issues import IssueVersion
from newsletter.web.forms import row_id


def saved_version(session: Session, version_id: str) -> IssueVersion:
    """The version `version_id` (the part after `issue:`) names; 404 when it names none."""
    number = row_id(version_id)
    version = session.get(IssueVersion, number) if number is not None else None
    if version is None:
        raise HTTPException(404, "There is no such issue version.")
    return version
