from __future__ import annotations

from fastapi.testclient import TestClient

from newsletter.store.lists import create_list
from newsletter.store.subscriptions import subscribe
from tests.store.databases import session_scope
from tests.web.staff.helpers import logged_in


def test_the_fields_staff_can_insert(staff_client: TestClient) -> None:
    assert staff_client.get("/staff/merge-fields").status_code in (302, 303)
    logged_in(staff_client)
    own = [
        {"name": "name", "label": "Name (the subscriber's)"},
        {"name": "email", "label": "Email address"},
    ]
    assert staff_client.get("/staff/merge-fields").json() == {"fields": own}
    with session_scope(write=True) as session:
        members = create_list(session, "members").id
        subscribe(
            session,
            members,
            "a@example.net",
            attributes={"First Name": "A", "city": "Lahore"},
            source="test",
        )
        subscribe(session, members, "b@example.net", attributes={"first_name": "B"}, source="test")
    response = staff_client.get("/staff/merge-fields")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "fields": [
            {"name": "city", "label": "city"},
            # Two spellings of one column are one field, by the first label in order.
            {"name": "first_name", "label": "First Name"},
            *own,
        ]
    }


def test_the_control_is_served(staff_client: TestClient) -> None:
    logged_in(staff_client)
    script = staff_client.get("/staff/static/merge_fields.js")
    assert script.status_code == 200
    assert "Insert field" in script.text
