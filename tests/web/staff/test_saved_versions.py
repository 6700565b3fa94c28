"""`issue:<id>` names a version saved in the editor; anything else is a 404."""

from __future__ import annotations

import pytest
from starlette.exceptions import HTTPException

from newsletter.record.model import Record
from newsletter.store.issues import create_issue
from newsletter.web.staff.saved_versions import saved_version
from tests.store.databases import session_scope

RECORD = Record.model_validate(
    {
        "title": "Water and Peace",
        "date": "2024-03-01",
        "organiser": "MUSLIM Institute",
        "summary": "A seminar on water.",
        "speakers": [{"name": "Ada", "role": "Chair", "remarks": "Welcome."}],
    }
)


def test_the_id_of_a_saved_version_names_it(sqlite_db: str) -> None:
    with session_scope(write=True) as session:
        saved = create_issue(session, RECORD, {})
    with session_scope() as session:
        found = saved_version(session, str(saved.id))
        assert (found.id, found.issue_id, found.number) == (saved.id, saved.issue_id, 1)


@pytest.mark.parametrize("version_id", ["999", "", "x", "-1", "1.0", "²", "١", "9" * 30])
def test_anything_else_is_not_found(sqlite_db: str, version_id: str) -> None:
    with session_scope() as session, pytest.raises(HTTPException) as refused:
        saved_version(session, version_id)
    assert refused.value.status_code == 404
    assert refused.value.detail == "There is no such issue version."
