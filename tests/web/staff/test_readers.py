"""The preview and the test message as a chosen subscriber gets them (merge fields)."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.core.settings import Settings, get_settings
from newsletter.store.lists import create_list
from newsletter.store.models import MailingList
from newsletter.store.subscriptions import subscribe
from newsletter.web import create_app
from tests.conftest import EXAMPLE
from tests.store.databases import session_scope
from tests.transports.smtp_servers import Mailbox
from tests.web.staff.helpers import CLIENT_IP, logged_in

RECORD = "dir:seminar/record.yaml"
GREETING = 'Dear {{ first_name | default("friend") }} of {{ City | default("your city") }},'


@pytest.fixture
def client(
    db: str, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    folder = tmp_path / "records" / "seminar"
    shutil.copytree(EXAMPLE.parent, folder)
    path = folder / "record.yaml"
    path.write_text(path.read_text().replace("summary: >-\n", f"summary: >-\n  {GREETING}\n", 1))
    monkeypatch.setenv("NEWSLETTER_RECORDS_DIR", str(tmp_path / "records"))
    monkeypatch.setenv("NEWSLETTER_FROM", "MUSLIM Institute <newsletter@example.org>")
    get_settings.cache_clear()
    with session_scope(write=True) as session:
        list_id = create_list(session, "members").id
        subscribe(
            session,
            list_id,
            "amina@example.net",
            name="Amina Rahman",
            attributes={"First Name": "Amina <b>", "city": "Lahore"},
            source="test",
        )
    app = create_app(Settings())
    with TestClient(app, client=(CLIENT_IP, 50000), follow_redirects=False) as test_client:
        yield test_client


def text_part(page: str) -> str:
    found = re.search(r'<pre class="text" id="text-part">(.*?)</pre>', page, re.S)
    assert found is not None
    return html.unescape(found.group(1))


def test_the_preview_shows_the_fallbacks_by_default(client: TestClient) -> None:
    logged_in(client)
    page = client.get("/staff/preview", params={"record": RECORD})
    assert page.status_code == 200
    assert "Dear friend of your city," in " ".join(text_part(page.text).split())
    assert 'id="subscriber"' in page.text
    assert "merge fields showing their fallbacks" in page.text
    email = client.get("/staff/preview/email", params={"record": RECORD})
    assert "Dear friend of your city," in email.text


def test_the_preview_shows_a_chosen_subscribers_copy(client: TestClient) -> None:
    logged_in(client)
    page = client.get(
        "/staff/preview", params={"record": RECORD, "subscriber": " AMINA@example.net "}
    )
    assert page.status_code == 200
    assert "Dear Amina <b> of Lahore," in " ".join(text_part(page.text).split())
    assert "As Amina Rahman &lt;amina@example.net&gt; gets it" in page.text
    frames = re.findall(r'<iframe sandbox title="[^"]+" src="([^"]+)"', page.text)
    assert len(frames) == 3
    assert all("subscriber=amina%40example.net" in src for src in frames)
    framed = client.get(
        "/staff/preview/email", params={"record": RECORD, "subscriber": "amina@example.net"}
    )
    assert "Dear Amina &lt;b&gt; of Lahore," in framed.text
    assert "<b> of" not in framed.text
    # The fallbacks' copy is still the one without a subscriber.
    plain = client.get("/staff/preview/email", params={"record": RECORD})
    assert "Dear friend of your city," in plain.text


def test_an_unknown_subscriber_is_said_and_the_fallbacks_show(client: TestClient) -> None:
    logged_in(client)
    page = client.get("/staff/preview", params={"record": RECORD, "subscriber": "nobody@x.org"})
    assert page.status_code == 200
    assert "No subscriber has the address nobody@x.org" in page.text
    assert "Dear friend of your city," in " ".join(text_part(page.text).split())


def test_a_test_message_as_the_chosen_subscriber(client: TestClient, mailbox: Mailbox) -> None:
    token = logged_in(client)
    page = client.get(
        "/staff/preview", params={"record": RECORD, "subscriber": "amina@example.net"}
    )
    assert '<input type="hidden" name="subscriber" value="amina@example.net">' in page.text
    response = client.post(
        "/staff/preview/test",
        data={
            "csrf": token,
            "record": RECORD,
            "address": "qa@example.org",
            "subscriber": "amina@example.net",
        },
    )
    assert response.status_code == 200, response.text
    assert mailbox.recipients() == ["qa@example.org"]
    message = message_from_bytes(mailbox.accepted[0].data, policy=policy.SMTP)
    text = message.get_body(("plain",))
    assert text is not None
    assert "Dear Amina <b> of Lahore," in " ".join(str(text.get_content()).split())
    # Without a subscriber, the fallbacks.
    client.post(
        "/staff/preview/test", data={"csrf": token, "record": RECORD, "address": "qa@example.org"}
    )
    second = message_from_bytes(mailbox.accepted[1].data, policy=policy.SMTP)
    text = second.get_body(("plain",))
    assert text is not None
    assert "Dear friend of your city," in " ".join(str(text.get_content()).split())


def test_the_send_confirmation_names_fields_nobody_on_the_list_has(client: TestClient) -> None:
    logged_in(client)
    with session_scope() as session:
        list_id = session.scalars(select(MailingList.id).where(MailingList.name == "members")).one()
    page = client.get("/staff/send", params={"record": RECORD, "list": list_id})
    assert page.status_code == 200, page.text
    # Both fields are among the columns of the list ("First Name", "city").
    assert 'id="unfilled"' not in page.text
    with session_scope(write=True) as session:
        other = create_list(session, "plain").id
        subscribe(session, other, "plain@example.net", name="Plain", source="test")
    page = client.get("/staff/send", params={"record": RECORD, "list": other})
    assert page.status_code == 200, page.text
    note = re.search(
        r'<div class="notice" role="status" id="unfilled">(.*?)</div>', page.text, re.S
    )
    assert note is not None
    assert "<code>first_name</code>: “friend”" in note.group(1)
    assert "<code>city</code>: “your city”" in note.group(1)
