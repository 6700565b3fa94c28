from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsletter.core.settings import get_settings
from newsletter.web.staff.spam import parse_report, spam_score
from tests.conftest import EXAMPLE
from tests.web.staff.helpers import logged_in

RECORD = "dir:khojaly-seminar-2022/record.yaml"


def test_pick_a_record(sqlite_client: TestClient) -> None:
    logged_in(sqlite_client)
    page = sqlite_client.get("/staff/preview")
    assert page.status_code == 200
    assert f'<option value="{RECORD}">khojaly-seminar-2022/record.yaml</option>' in page.text
    assert 'enctype="multipart/form-data"' in page.text


def test_preview_shows_widths_dark_mode_text_headers_and_checks(
    sqlite_client: TestClient,
) -> None:
    logged_in(sqlite_client)
    page = sqlite_client.get("/staff/preview", params={"record": RECORD})
    assert page.status_code == 200
    html = page.text
    assert "Genocide and Ethnic cleansing" in html
    frames = re.findall(r'<iframe sandbox title="([^"]+)" src="([^"]+)"', html)
    assert [title for title, _ in frames] == [
        "The email at desktop width",
        "The email at phone width",
        "The email in dark mode",
    ]
    assert frames[2][1].endswith("&amp;mode=dark")
    # The text part and headers, as a sample recipient gets them.
    text = re.search(r'<pre class="text" id="text-part">(.*?)</pre>', html, re.S)
    assert text is not None and "https://" in text.group(1) and "/u/" in text.group(1)
    headers = re.search(r'<pre class="headers" id="headers">(.*?)</pre>', html, re.S)
    assert headers is not None
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in headers.group(1)
    assert "To: Sample Reader &lt;reader@example.org&gt;" in headers.group(1)
    assert "Subject: " in headers.group(1)
    # Checks: the Gmail clipping size, and SpamAssassin (not installed on this machine).
    assert "Gmail clips over about 102,000" in html
    assert "No images without alt text, no bad links" in html
    if shutil.which("spamassassin") is None:
        assert "SpamAssassin is not installed on this server" in html


def test_the_framed_email(sqlite_client: TestClient) -> None:
    logged_in(sqlite_client)
    light = sqlite_client.get("/staff/preview/email", params={"record": RECORD})
    assert light.status_code == 200
    assert light.headers["x-frame-options"] == "SAMEORIGIN"
    csp = light.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp and "script-src" not in csp
    # Photos embedded: nothing is published under the public URL yet.
    assert 'src="data:image/jpeg;base64,' in light.text
    assert "filter:invert(1)" not in light.text
    dark = sqlite_client.get("/staff/preview/email", params={"record": RECORD, "mode": "dark"})
    assert "filter:invert(1) hue-rotate(180deg)" in dark.text


def test_preview_follows_the_record_file(
    sqlite_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "records" / "seminar"
    shutil.copytree(EXAMPLE.parent, folder)
    monkeypatch.setenv("NEWSLETTER_RECORDS_DIR", str(tmp_path / "records"))
    get_settings.cache_clear()
    # The app reads its settings once; this one reads the folder above.
    from newsletter.core.settings import Settings
    from newsletter.web import create_app

    with TestClient(create_app(Settings()), follow_redirects=False) as client:
        logged_in(client)
        record = "dir:seminar/record.yaml"
        page = client.get("/staff/preview", params={"record": record})
        assert 'data-poll-version="/staff/preview/version?record=dir' in page.text
        before = client.get("/staff/preview/version", params={"record": record}).json()["version"]
        assert f'data-version="{before}"' in page.text
        path = folder / "record.yaml"
        path.write_text(path.read_text().replace('title: "Genocide', 'title: "Changed Genocide'))
        after = client.get("/staff/preview/version", params={"record": record}).json()["version"]
        assert after != before
        assert "Changed Genocide" in client.get("/staff/preview", params={"record": record}).text


def test_record_ids_cannot_leave_the_folder(sqlite_client: TestClient) -> None:
    logged_in(sqlite_client)
    for record in (
        "dir:../pyproject.toml",
        "dir:../../../etc/passwd",
        "dir:/etc/hostname",
        "upload:../secret.key",
        "file:/etc/passwd",
        "dir:khojaly-seminar-2022/original-newsletter.txt",
    ):
        response = sqlite_client.get("/staff/preview", params={"record": record})
        assert response.status_code == 404, record
        assert (
            sqlite_client.get("/staff/preview/email", params={"record": record}).status_code == 404
        )


def test_upload_a_record(sqlite_client: TestClient) -> None:
    token = logged_in(sqlite_client)
    # Photos relative to the record do not come with it: refused with the problems, not kept.
    source = EXAMPLE.read_bytes()
    refused = sqlite_client.post(
        "/staff/preview/upload",
        data={"csrf": token},
        files={"record": ("my record.yaml", source, "application/yaml")},
    )
    assert refused.status_code == 400
    assert "The upload has problems, so it was not kept" in refused.text
    assert re.search(r"my-record-[0-9a-f]{8}\.yaml:\d+ speakers\[0\]\.photo: photos/", refused.text)
    assert "uploaded: my-record-" not in refused.text
    # Without photos it previews.
    plain = re.sub(rb"\n    photo: [^\n]+", b"", source)
    response = sqlite_client.post(
        "/staff/preview/upload",
        data={"csrf": token},
        files={"record": ("plain.yaml", plain, "application/yaml")},
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/staff/preview\?record=upload:plain-[0-9a-f]{8}\.yaml", location)
    page = sqlite_client.get(location)
    assert page.status_code == 200
    assert "The record has problems" not in page.text
    assert "The email at phone width" in page.text
    assert "uploaded: plain-" in page.text
    assert "uploaded: my-record-" not in page.text


def test_upload_refuses_other_files(sqlite_client: TestClient) -> None:
    token = logged_in(sqlite_client)
    response = sqlite_client.post(
        "/staff/preview/upload",
        data={"csrf": token},
        files={"record": ("evil.html", b"<script>", "text/html")},
    )
    assert response.status_code == 400
    too_big = sqlite_client.post(
        "/staff/preview/upload",
        data={"csrf": token},
        files={"record": ("big.yaml", b"x" * (1024 * 1024 + 1), "application/yaml")},
    )
    assert too_big.status_code == 413


def test_spamassassin_report_is_parsed() -> None:
    output = (
        "X-Spam-Checker-Version: SpamAssassin 4.0.0\n"
        "X-Spam-Status: No, score=1.3 required=5.0 tests=HTML_MESSAGE,\n"
        "\tMIME_HTML_ONLY autolearn=no version=4.0.0\n"
        "Subject: hi\n"
    )
    result = parse_report(output)
    assert result.score == 1.3
    assert result.required == 5.0
    assert result.tests.startswith("HTML_MESSAGE, MIME_HTML_ONLY")
    assert "score 1.3" in result.summary and result.summary.endswith("ok")
    assert parse_report("nothing here").score is None


def test_spamassassin_missing() -> None:
    result = spam_score(b"Subject: hi\r\n\r\nhello\r\n", program="no-such-spamassassin")
    assert not result.installed
    assert "not installed" in result.summary
