from __future__ import annotations

import re

from fastapi.testclient import TestClient

from newsletter.store.lists import get_list
from tests.store.databases import session_scope
from tests.web.helpers import new_list, new_member
from tests.web.staff.helpers import logged_in


def _saved(response_location: str) -> int:
    match = re.fullmatch(r"/staff/lists/(\d+)\?saved=1", response_location)
    assert match is not None, response_location
    return int(match.group(1))


def test_a_list_created_in_the_browser_shows_its_public_name_on_the_public_pages(
    staff_client: TestClient,
) -> None:
    token = logged_in(staff_client)
    assert staff_client.get("/staff/lists/new").status_code == 200
    created = staff_client.post(
        "/staff/lists/new",
        data={
            "csrf": token,
            "name": "members",
            "public_name": "Seminar news from the Institute",
            "description": "Our seminars, once a month.",
            "language": "",
        },
    )
    assert created.status_code == 303
    list_id = _saved(created.headers["location"])
    page = staff_client.get(created.headers["location"])
    assert 'id="saved"' in page.text
    assert 'value="Seminar news from the Institute"' in page.text

    public = staff_client.get("/subscribe/members")
    assert public.status_code == 200
    assert "<title>Subscribe to Seminar news from the Institute" in public.text
    assert "Our seminars, once a month." in public.text
    assert 'action="/subscribe/members"' in public.text
    assert "Subscribe to members" not in public.text

    member = new_member("ana@example.org", list_id)
    unsubscribe = staff_client.get(f"/u/{member.token('u')}").text
    assert "Seminar news from the Institute" in unsubscribe
    assert "<strong>members</strong>" not in unsubscribe
    preferences = staff_client.get(f"/p/{member.token('p')}").text
    assert "Seminar news from the Institute" in preferences


def test_renaming_keeps_the_members_and_moves_the_sign_up_address(
    staff_client: TestClient,
) -> None:
    token = logged_in(staff_client)
    list_id = new_list("members")
    new_member("ana@example.org", list_id)
    saved = staff_client.post(
        f"/staff/lists/{list_id}",
        data={
            "csrf": token,
            "name": "seminars",
            "public_name": "",
            "description": "",
            "language": "ur",
        },
    )
    assert saved.status_code == 303
    with session_scope() as session:
        renamed = get_list(session, "seminars")
        assert (renamed.id, renamed.language, renamed.public_name) == (list_id, "ur", None)
    assert staff_client.get("/subscribe/members").status_code == 404
    urdu = staff_client.get("/subscribe/seminars")
    assert urdu.status_code == 200 and 'lang="ur"' in urdu.text
    lists = staff_client.get("/staff/lists").text
    assert f'href="/staff/lists/{list_id}">Settings' in lists


def test_a_refused_name_is_shown_next_to_the_form_with_what_was_typed(
    staff_client: TestClient,
) -> None:
    token = logged_in(staff_client)
    new_list("members")
    press = new_list("press")
    refused = staff_client.post(
        f"/staff/lists/{press}",
        data={
            "csrf": token,
            "name": "members",
            "public_name": "<b>Press</b>",
            "description": "",
            "language": "",
        },
    )
    assert refused.status_code == 400
    assert "A list named &#39;members&#39; already exists." in refused.text
    assert 'value="&lt;b&gt;Press&lt;/b&gt;"' in refused.text
    empty = staff_client.post(
        "/staff/lists/new",
        data={"csrf": token, "name": " ", "public_name": "", "description": "", "language": ""},
    )
    assert empty.status_code == 400 and "A list needs a name." in empty.text
    assert staff_client.get("/staff/lists/999").status_code == 404
