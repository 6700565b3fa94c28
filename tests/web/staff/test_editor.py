"""The issue editor over HTTP: create, validate by field, save versions, conflicts, the
live preview, versions and restore, duplicate, delete, import and export."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from newsletter.core.settings import Settings
from newsletter.record.photos import PHOTO_WIDTH
from newsletter.web import create_app
from tests.conftest import EXAMPLE
from tests.sending.helpers import populated_list
from tests.transports.smtp_servers import Mailbox
from tests.web.helpers import parse, rows
from tests.web.staff.helpers import logged_in, sending_browser


def _fields(csrf: str, **changes: str) -> dict[str, str]:
    fields = {
        "csrf": csrf,
        "title": "Water and Peace",
        "kind": "Seminar",
        "date": "2024-03-01",
        "organiser": "MUSLIM Institute",
        "partners": "Embassy of Azerbaijan\nUniversity of Punjab\n",
        "venue": "Islamabad",
        "language": "en",
        "summary": "A seminar on **water**.",
        "speakers-0-name": "Ada Khan",
        "speakers-0-honorific": "Dr.",
        "speakers-0-role": "Chair",
        "speakers-0-remarks": "Welcome, all.",
        "speakers-1-name": "Omar Ali",
        "speakers-1-role": "Keynote speaker",
        "speakers-1-remarks": "Water is peace.",
        # The spare empty row the page adds: dropped.
        "speakers-2-name": "",
        "recommendations-0": "Share rivers fairly.",
        "recommendations-1": "Fund research.",
        "social-0-name": "facebook",
        "social-0-url": "https://facebook.com/institute",
        "subject": "",
        "preheader": "Two speakers on water.",
    }
    fields.update(changes)
    return fields


def _jpeg(width: int = 2000) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, width * 3 // 4), (30, 90, 160)).save(out, "JPEG", quality=95)
    return out.getvalue()


def _create(client: TestClient, csrf: str, **changes: str) -> int:
    response = client.post("/staff/issues/new", data=_fields(csrf, **changes))
    assert response.status_code == 303, response.text
    match = re.match(r"/staff/issues/(\d+)\?saved=1$", response.headers["location"])
    assert match is not None
    return int(match.group(1))


def _value(html: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert match is not None, f"no field {name}"
    return match.group(1)


def test_the_editor_needs_a_login(sqlite_client: TestClient) -> None:
    for path in ("/staff/issues", "/staff/issues/new", "/staff/issues/1"):
        response = sqlite_client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/staff/login?next=")


def test_the_list_and_an_empty_form(sqlite_client: TestClient) -> None:
    logged_in(sqlite_client)
    page = sqlite_client.get("/staff/issues")
    assert page.status_code == 200
    assert 'href="/staff/issues/new"' in page.text
    assert "No issues yet" in page.text
    assert 'aria-current="page">Issues<' in page.text
    form = sqlite_client.get("/staff/issues/new")
    assert form.status_code == 200
    for name in (
        "title",
        "kind",
        "date",
        "organiser",
        "partners",
        "venue",
        "language",
        "summary",
        "speakers-0-name",
        "speakers-0-photo_file",
        "recommendations-0",
        "social-0-url",
        "subject",
        "preheader",
        "footer",
    ):
        assert f'name="{name}"' in form.text, name
    assert "Markdown: a blank line starts a paragraph" in form.text
    assert 'data-tools-for="f-summary"' in form.text  # where a merge-field control goes
    assert '<template data-template="speakers">' in form.text
    assert 'src="/staff/static/editor.js"' in form.text


def test_errors_show_next_to_their_fields(sqlite_client: TestClient) -> None:
    csrf = logged_in(sqlite_client)
    response = sqlite_client.post(
        "/staff/issues/new",
        data=_fields(
            csrf,
            title="",
            date="2024-02-30",
            **{"speakers-1-role": "", "social-0-url": "ftp://example.org"},
        ),
    )
    assert response.status_code == 400
    html = response.text
    assert "Nothing was saved: 4 fields need fixing" in html

    def error(name: str) -> str:
        match = re.search(rf'<p class="field-error" id="error-{name}"[^>]*>([^<]*)</p>', html)
        assert match is not None, name
        return match.group(1)

    assert error("title") == "Required."
    assert error("date") == "&#39;2024-02-30&#39; is not a real date."
    assert error("speakers-1-role") == "Required."
    assert error("social-0-url").startswith("Must be an http(s) URL")
    assert (
        'id="f-title" name="title" value="" dir="auto" '
        'aria-describedby="error-title" aria-invalid="true"' in html
    )
    # What was typed stays in the form.
    assert _value(html, "speakers-1-name") == "Omar Ali"
    with_nothing = sqlite_client.get("/staff/issues")
    assert "No issues yet" in with_nothing.text


def test_create_with_a_photo_then_edit(staff_client: TestClient) -> None:
    csrf = logged_in(staff_client)
    response = staff_client.post(
        "/staff/issues/new",
        data=_fields(csrf),
        files={"speakers-0-photo_file": ("ada.jpg", _jpeg(), "image/jpeg")},
    )
    assert response.status_code == 303, response.text
    page = staff_client.get(response.headers["location"])
    assert page.status_code == 200
    html = page.text
    assert "Saved as version 1." in html
    assert _value(html, "title") == "Water and Peace"
    assert _value(html, "speakers-1-name") == "Omar Ali"
    assert "Embassy of Azerbaijan\nUniversity of Punjab</textarea>" in html
    photo = _value(html, "speakers-0-photo")
    assert re.fullmatch(r"speaker-ada-khan-[0-9a-f]{10}\.jpg", photo)
    thumb = re.search(r'class="thumb" alt="[^"]*" src="([^"]+)"', html)
    assert thumb is not None
    served = staff_client.get(thumb.group(1).replace("&amp;", "&"))
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(served.content)) as image:
        assert image.width == 280  # prepared for mail on upload
    # The saved version's preview is framed beside the form.
    frame = re.search(r'data-frame="light" title="The email at desktop width" src="([^"]+)"', html)
    assert frame is not None
    email = staff_client.get(frame.group(1).replace("&amp;", "&"))
    assert email.status_code == 200
    assert "Water and Peace" in email.text and 'src="data:image/jpeg;base64,' in email.text
    assert "script-src" not in email.headers["content-security-policy"]

    # A second save keeps the photo, whose name the form carries.
    issue = re.search(r"/staff/issues/(\d+)", response.headers["location"])
    assert issue is not None
    fields = _fields(csrf, based_on="1", title="Water and Peace, revised")
    fields["speakers-0-photo"] = photo
    saved = staff_client.post(f"/staff/issues/{issue.group(1)}", data=fields)
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("?saved=2")
    again = staff_client.get(saved.headers["location"]).text
    assert _value(again, "speakers-0-photo") == photo
    assert "Save as version 3" in again


def test_a_photo_uploaded_with_a_refused_save_is_kept(sqlite_client: TestClient) -> None:
    csrf = logged_in(sqlite_client)
    refused = sqlite_client.post(
        "/staff/issues/new",
        data=_fields(csrf, title=""),
        files={"speakers-0-photo_file": ("ada.jpg", _jpeg(), "image/jpeg")},
    )
    assert refused.status_code == 400
    photo = _value(refused.text, "speakers-0-photo")
    key = _value(refused.text, "pending")
    assert photo.startswith("speaker-ada-khan-") and key
    assert "Photo chosen: " in refused.text
    # The preview shows it already.
    shown_fields = _fields(csrf, pending=key, **{"speakers-0-photo": photo})
    shown = sqlite_client.post("/staff/issues/preview", data=shown_fields).json()
    email = sqlite_client.get("/staff/issues/preview/email", params={"key": shown["key"]})
    assert 'src="data:image/jpeg;base64,' in email.text
    saved = sqlite_client.post(
        "/staff/issues/new", data=_fields(csrf, pending=key, **{"speakers-0-photo": photo})
    )
    assert saved.status_code == 303, saved.text
    page = sqlite_client.get(saved.headers["location"]).text
    assert _value(page, "speakers-0-photo") == photo and 'class="thumb"' in page
    # Without the key the name alone is not enough.
    unknown = sqlite_client.post(
        "/staff/issues/new", data=_fields(csrf, **{"speakers-0-photo": "speaker-x.jpg"})
    )
    assert unknown.status_code == 400
    assert "This photo is not stored; upload it again." in unknown.text


def test_an_unusable_photo_is_an_error_on_its_field(sqlite_client: TestClient) -> None:
    csrf = logged_in(sqlite_client)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    response = sqlite_client.post(
        "/staff/issues/new",
        data=_fields(csrf),
        files={"speakers-1-photo_file": ("logo.svg", svg, "image/svg+xml")},
    )
    assert response.status_code == 400
    match = re.search(r'id="error-speakers-1-photo"[^>]*>([^<]*)<', response.text)
    assert match is not None
    assert "logo.svg is an SVG image, which Gmail and Outlook do not show" in match.group(1)


def test_a_save_based_on_an_older_version_is_refused(staff_client: TestClient) -> None:
    csrf = logged_in(staff_client)
    issue = _create(staff_client, csrf)
    first = staff_client.post(
        f"/staff/issues/{issue}", data=_fields(csrf, based_on="1", title="First edit")
    )
    assert first.status_code == 303
    second = staff_client.post(
        f"/staff/issues/{issue}", data=_fields(csrf, based_on="1", title="Second edit")
    )
    assert second.status_code == 409
    assert "saved again by comms@example.org (version 2)" in second.text
    assert "nothing was saved" in second.text
    assert f'href="/staff/issues/{issue}">Reload the latest version</a>' in second.text
    assert _value(second.text, "title") == "Second edit"  # the text is not lost
    latest = staff_client.get(f"/staff/issues/{issue}").text
    assert _value(latest, "title") == "First edit"


def test_the_live_preview(sqlite_client: TestClient) -> None:
    csrf = logged_in(sqlite_client)
    fields = _fields(csrf, issue="", based_on="")
    answer = sqlite_client.post("/staff/issues/preview", data=fields)
    assert answer.status_code == 200
    data = answer.json()
    assert data["ok"] is True
    assert data["subject"] == "Seminar: Water and Peace"
    assert "Water is peace." in data["text"]
    assert data["html_bytes"] > 0 and data["clip_limit"] > data["html_bytes"]
    assert isinstance(data["checks"], list)
    for mode, marker in (("light", "Water and Peace"), ("dark", "filter:invert(1)")):
        email = sqlite_client.get(
            "/staff/issues/preview/email", params={"key": data["key"], "mode": mode}
        )
        assert email.status_code == 200 and marker in email.text
    assert email.headers["x-frame-options"] == "SAMEORIGIN"

    broken = sqlite_client.post(
        "/staff/issues/preview", data=_fields(csrf, organiser="", **{"speakers-0-remarks": ""})
    ).json()
    assert broken == {
        "ok": False,
        "errors": {"organiser": "Required.", "speakers-0-remarks": "Required."},
    }
    refused = sqlite_client.post("/staff/issues/preview", data=_fields("not the token"))
    assert refused.status_code == 403
    gone = sqlite_client.get("/staff/issues/preview/email", params={"key": "unknown"})
    assert gone.status_code == 404


def _photos_in(html: str) -> list[bytes]:
    return [
        base64.b64decode(data)
        for data in re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', html)
    ]


def test_a_photo_chosen_but_not_saved_shows_in_the_preview(sqlite_client: TestClient) -> None:
    csrf = logged_in(sqlite_client)
    chosen = _jpeg()
    answer = sqlite_client.post(
        "/staff/issues/preview",
        data=_fields(csrf, issue="", based_on=""),
        files={"speakers-1-photo_file": ("omar.jpg", chosen, "image/jpeg")},
    ).json()
    assert answer["ok"] is True, answer
    photo = answer["photos"]["speakers-1-photo_file"]
    assert re.fullmatch(r"speaker-omar-ali-[0-9a-f]{10}\.jpg", photo)
    email = sqlite_client.get("/staff/issues/preview/email", params={"key": answer["key"]})
    shown = _photos_in(email.text)
    assert len(shown) == 1
    # Prepared as a save prepares it: made small for mail, not the file as chosen.
    with Image.open(io.BytesIO(shown[0])) as image:
        assert image.width == PHOTO_WIDTH
    assert shown[0] != chosen

    # The answer's key stands for the file in later previews, which need not send it
    # again, and in the save.
    later = sqlite_client.post(
        "/staff/issues/preview",
        data=_fields(
            csrf,
            title="Water and Peace in 2024",
            pending=answer["pending"],
            **{"speakers-1-photo": photo},
        ),
    ).json()
    assert "photos" not in later and "pending" not in later
    again = sqlite_client.get("/staff/issues/preview/email", params={"key": later["key"]})
    assert _photos_in(again.text) == shown
    saved = sqlite_client.post(
        "/staff/issues/new",
        data=_fields(csrf, pending=answer["pending"], **{"speakers-1-photo": photo}),
    )
    assert saved.status_code == 303, saved.text
    page = sqlite_client.get(saved.headers["location"]).text
    assert _value(page, "speakers-1-photo") == photo and 'class="thumb"' in page


def test_a_chosen_photo_is_prepared_even_while_other_fields_need_fixing(
    sqlite_client: TestClient,
) -> None:
    csrf = logged_in(sqlite_client)
    answer = sqlite_client.post(
        "/staff/issues/preview",
        data=_fields(csrf, summary=""),
        files={"speakers-0-photo_file": ("ada.jpg", _jpeg(), "image/jpeg")},
    ).json()
    assert answer["ok"] is False
    assert answer["errors"] == {"summary": "Required."}
    assert answer["photos"]["speakers-0-photo_file"].startswith("speaker-ada-khan-")
    assert answer["pending"]


def test_an_unusable_photo_in_the_preview_is_an_error_on_its_field(
    sqlite_client: TestClient,
) -> None:
    csrf = logged_in(sqlite_client)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    cut = _jpeg()[:5000]
    answer = sqlite_client.post(
        "/staff/issues/preview",
        data=_fields(csrf),
        files={
            "speakers-0-photo_file": ("logo.svg", svg, "image/svg+xml"),
            "speakers-1-photo_file": ("omar.jpg", cut, "image/jpeg"),
        },
    ).json()
    assert answer["ok"] is False
    assert "photos" not in answer
    # The same messages as a save gives, on the same fields.
    saved = sqlite_client.post(
        "/staff/issues/new",
        data=_fields(csrf),
        files={
            "speakers-0-photo_file": ("logo.svg", svg, "image/svg+xml"),
            "speakers-1-photo_file": ("omar.jpg", cut, "image/jpeg"),
        },
    )
    for row in (0, 1):
        match = re.search(rf'id="error-speakers-{row}-photo"[^>]*>([^<]*)<', saved.text)
        assert match is not None
        assert answer["errors"][f"speakers-{row}-photo"] == html.unescape(match.group(1))
    assert "logo.svg is an SVG image" in answer["errors"]["speakers-0-photo"]
    assert "omar.jpg is damaged or cut short" in answer["errors"]["speakers-1-photo"]


def _error(html_text: str, name: str) -> str:
    match = re.search(rf'id="error-{re.escape(name)}"[^>]*>([^<]*)<', html_text)
    assert match is not None, f"no error element for {name}"
    return html.unescape(match.group(1))


def test_the_web_address_defaults_to_the_generated_one_and_is_kept(
    staff_client: TestClient,
) -> None:
    csrf = logged_in(staff_client)
    empty = staff_client.get("/staff/issues/new").text
    assert _value(empty, "slug") == ""
    preview = staff_client.post("/staff/issues/preview", data=_fields(csrf)).json()
    assert preview["slug"] == "2024-03-01-water-and-peace"
    issue = _create(staff_client, csrf)
    page = staff_client.get(f"/staff/issues/{issue}").text
    assert _value(page, "slug") == "2024-03-01-water-and-peace"
    # A new title keeps the address the form carries.
    fields = _fields(csrf, based_on="1", title="Rivers", slug="2024-03-01-water-and-peace")
    assert staff_client.post(f"/staff/issues/{issue}", data=fields).status_code == 303
    assert _value(staff_client.get(f"/staff/issues/{issue}").text, "slug") == (
        "2024-03-01-water-and-peace"
    )
    # Chosen, in Urdu: readable, and what the email's links use.
    urdu = "پانی-اور-امن"
    fields = _fields(csrf, based_on="2", slug=f" {urdu} ")
    assert staff_client.post(f"/staff/issues/{issue}", data=fields).status_code == 303
    page = staff_client.get(f"/staff/issues/{issue}").text
    assert _value(page, "slug") == urdu
    shown = staff_client.post(
        "/staff/issues/preview", data=_fields(csrf, issue=str(issue), based_on="3", slug=urdu)
    ).json()
    assert shown["ok"] and f"/issues/{quote(urdu)}/" in shown["text"]
    versions = staff_client.get(f"/staff/issues/{issue}/versions").text
    assert "Web address" in versions


def test_a_web_address_that_cannot_be_used_is_an_error_on_its_field(
    staff_client: TestClient,
) -> None:
    csrf = logged_in(staff_client)
    first = _create(staff_client, csrf, slug="water")
    second = _create(staff_client, csrf, title="Peace")
    clash = (
        f"The web address 'water' is already the address of issue {first}, "
        "'Water and Peace'; choose another."
    )
    cases = {
        "Water Peace": "May contain only lowercase letters, digits and hyphens, not 'W', ' ', "
        "'P': 'water-peace' would do.",
        "-water": "Must start and end with a letter or digit",
        "w" * 121: "Must be at most 120 characters, not 121.",
        "water": clash,
    }
    for chosen, message in cases.items():
        fields = _fields(csrf, based_on="1", title="Peace", slug=chosen)
        refused = staff_client.post(f"/staff/issues/{second}", data=fields)
        assert refused.status_code == 400, chosen
        assert _error(refused.text, "slug").startswith(message), chosen
        assert _value(refused.text, "slug") == chosen  # as typed, to be corrected
        # The live preview says the same next to the field.
        preview = staff_client.post(
            "/staff/issues/preview",
            data=_fields(csrf, issue=str(second), based_on="1", title="Peace", slug=chosen),
        ).json()
        assert preview["ok"] is False
        assert preview["errors"]["slug"].startswith(message), chosen
    new = staff_client.post("/staff/issues/new", data=_fields(csrf, slug="water"))
    assert new.status_code == 400 and _error(new.text, "slug") == clash
    assert rows("SELECT count(*) FROM issues") == [(2,)]
    # Its own address is no clash.
    own = staff_client.post(
        f"/staff/issues/{first}", data=_fields(csrf, based_on="1", slug="water")
    )
    assert own.status_code == 303


def test_versions_what_changed_and_restore(staff_client: TestClient) -> None:
    csrf = logged_in(staff_client)
    issue = _create(staff_client, csrf)
    staff_client.post(
        f"/staff/issues/{issue}",
        data=_fields(csrf, based_on="1", venue="Lahore", **{"recommendations-1": ""}),
    )
    page = staff_client.get(f"/staff/issues/{issue}/versions")
    assert page.status_code == 200
    html = page.text
    assert 'id="version-2" aria-current="true"' in html and 'id="version-1"' in html
    assert (
        '<th scope="row">Venue</th><td><del>Islamabad</del></td><td><ins>Lahore</ins></td>' in html
    )
    assert '<th scope="row">Recommendation 2</th><td><del>Fund research.</del></td>' in html
    first = staff_client.get(f"/staff/issues/{issue}/versions", params={"show": 1})
    assert "Version 1 is where the issue started" in first.text

    restored = staff_client.post(
        f"/staff/issues/{issue}/versions/1/restore", data={"csrf": csrf, "based_on": "2"}
    )
    assert restored.status_code == 303 and restored.headers["location"].endswith("?saved=3")
    latest = staff_client.get(f"/staff/issues/{issue}").text
    assert _value(latest, "venue") == "Islamabad"
    assert "(restored version 1)" in staff_client.get(f"/staff/issues/{issue}/versions").text
    stale = staff_client.post(
        f"/staff/issues/{issue}/versions/1/restore", data={"csrf": csrf, "based_on": "2"}
    )
    assert stale.status_code == 409


def test_duplicate_and_delete(sqlite_client: TestClient) -> None:
    csrf = logged_in(sqlite_client)
    issue = _create(sqlite_client, csrf)
    copy = sqlite_client.post(f"/staff/issues/{issue}/duplicate", data={"csrf": csrf})
    assert copy.status_code == 303
    copied = sqlite_client.get(copy.headers["location"]).text
    assert _value(copied, "title") == "Copy of Water and Peace"
    unconfirmed = sqlite_client.post(f"/staff/issues/{issue}/delete", data={"csrf": csrf})
    assert unconfirmed.status_code == 400
    deleted = sqlite_client.post(
        f"/staff/issues/{issue}/delete", data={"csrf": csrf, "confirm": "yes"}
    )
    assert deleted.status_code == 303 and deleted.headers["location"] == "/staff/issues"
    assert sqlite_client.get(f"/staff/issues/{issue}").status_code == 404
    listed = sqlite_client.get("/staff/issues").text
    assert "Copy of Water and Peace" in listed and ">Water and Peace<" not in listed


def test_import_a_zip_and_export_it_back(staff_client: TestClient) -> None:
    csrf = logged_in(staff_client)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.write(EXAMPLE, "record.yaml")
        for photo in (EXAMPLE.parent / "photos").iterdir():
            archive.write(photo, f"photos/{photo.name}")
    imported = staff_client.post(
        "/staff/issues/import",
        data={"csrf": csrf},
        files={"archive": ("khojaly.zip", packed.getvalue(), "application/zip")},
    )
    assert imported.status_code == 303, imported.text
    location = imported.headers["location"]
    page = staff_client.get(location).text
    assert "Genocide and Ethnic cleansing" in page
    assert 'class="thumb"' in page
    issue = location.rsplit("/", 1)[-1]
    versions = staff_client.get(f"/staff/issues/{issue}/versions").text
    assert "(imported from khojaly.zip)" in versions

    exported = staff_client.get(f"/staff/issues/{issue}/export.zip")
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/zip"
    assert (
        'filename="2022-02-24-genocide-and-ethnic-cleansing-a-crime.zip"'
        in (exported.headers["content-disposition"])
    )
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        assert "record.yaml" in archive.namelist()
        assert any(name.startswith("photos/speaker-") for name in archive.namelist())
    again = staff_client.post(
        "/staff/issues/import",
        data={"csrf": csrf},
        files={"archive": ("again.zip", exported.content, "application/zip")},
    )
    assert again.status_code == 303
    # A copy: the address is the first one's, so it gets its own.
    copy = staff_client.get(again.headers["location"]).text
    assert _value(copy, "slug") == "2022-02-24-genocide-and-ethnic-cleansing-a-crime-2"
    copied_versions = staff_client.get(f"{again.headers['location']}/versions").text
    assert (
        "2022-02-24-genocide-and-ethnic-cleansing-a-crime is another issue&#39;s web address"
        in copied_versions
    )
    yaml_text = staff_client.get(f"/staff/issues/{issue}/record.yaml")
    assert yaml_text.status_code == 200
    assert "title: 'Genocide and Ethnic cleansing: A Crime against Humanity'" in yaml_text.text


def test_an_import_with_problems_is_refused_with_them(sqlite_client: TestClient) -> None:
    csrf = logged_in(sqlite_client)
    record = b"title: T\ndate: 2024-01-01\norganiser: O\n"
    refused = sqlite_client.post(
        "/staff/issues/import",
        data={"csrf": csrf},
        files={"archive": ("plain.yaml", record, "text/yaml")},
    )
    assert refused.status_code == 400
    assert "record.yaml:1 summary: field required" in refused.text
    not_zip = sqlite_client.post(
        "/staff/issues/import",
        data={"csrf": csrf},
        files={"archive": ("bad.zip", b"PK\x03\x04 broken", "application/zip")},
    )
    assert not_zip.status_code == 400 and "not a zip archive" in not_zip.text
    json_record = json.dumps(
        {"title": "T", "date": "2024-01-01", "organiser": "O", "summary": "S"}
    ).encode()
    fine = sqlite_client.post(
        "/staff/issues/import",
        data={"csrf": csrf},
        files={"archive": ("plain.json", json_record, "application/json")},
    )
    assert fine.status_code == 303


def test_forms_without_the_token_are_refused(sqlite_client: TestClient) -> None:
    csrf = logged_in(sqlite_client)
    issue = _create(sqlite_client, csrf)
    for path in (
        "/staff/issues/new",
        f"/staff/issues/{issue}",
        f"/staff/issues/{issue}/duplicate",
        f"/staff/issues/{issue}/delete",
        "/staff/issues/import",
    ):
        assert sqlite_client.post(path, data={"csrf": "forged"}).status_code == 403, path


@pytest.fixture
def sender(db: str, mailbox: Mailbox, sending: None) -> Iterator[TestClient]:
    """The app on each database, sending through a real SMTP server."""
    with sending_browser(create_app(Settings())) as client:
        yield client


def test_sending_starts_from_a_saved_version(sender: TestClient, mailbox: Mailbox) -> None:
    csrf = logged_in(sender)
    issue = _create(sender, csrf)
    sender.post(f"/staff/issues/{issue}", data=_fields(csrf, based_on="1", title="Version two"))
    page = sender.get(f"/staff/issues/{issue}").text
    record = _value(page, "record")
    assert record.startswith("issue:")
    assert f'href="/staff/send?record={record}"' in page

    test = sender.post(
        "/staff/preview/test", data={"csrf": csrf, "record": record, "address": "qa@example.org"}
    )
    assert test.status_code == 200, test.text
    assert "Version two" in str(parse(mailbox.accepted[0].data)["Subject"])
    back = sender.get(f"/staff/preview?record={record}")
    assert back.status_code == 303 and back.headers["location"] == f"/staff/issues/{issue}"

    audience = populated_list(active=3)
    confirm = sender.get(f"/staff/send?record={record}&list={audience.id}")
    assert confirm.status_code == 200, confirm.text
    assert "Version two (version 2)" in confirm.text
    once = re.search(r'name="once" value="([^"]+)"', confirm.text)
    assert once is not None
    started = sender.post(
        "/staff/send",
        data={"csrf": csrf, "record": record, "list": audience.id, "once": once.group(1)},
    )
    assert started.status_code == 303, started.text
    campaign_id = int(started.headers["location"].rsplit("/", 1)[-1])
    deadline = time.monotonic() + 20
    while sender.get(f"/staff/campaigns/{campaign_id}/progress").json()["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    version_id = int(record.removeprefix("issue:"))
    assert rows(f"SELECT issue_version_id FROM campaigns WHERE id = {campaign_id}") == [
        (version_id,)
    ]
    sent = [address for address in mailbox.recipients() if address != "qa@example.org"]
    assert sorted(sent) == sorted(audience.eligible)
    assert sender.get("/staff/send?record=issue:999").status_code == 404
