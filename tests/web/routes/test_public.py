from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.store.campaigns import Campaign, CampaignStatus, Delivery, DeliveryState
from newsletter.web.routes import public
from tests.compose.helpers import PNG, compose, make_record
from tests.store.databases import session_scope
from tests.web.helpers import (
    example_issue,
    new_campaign,
    new_list,
    new_member,
    snapshot,
    with_assets,
)

SLUG = "2023-03-21-water-and-peace-sharing-rivers"


def test_the_archive_starts_empty(client: TestClient) -> None:
    new_list("members")
    response = client.get("/issues/")
    assert response.status_code == 200
    assert "No issues have been published yet" in response.text


def test_web_version_is_the_campaigns_web_html(client: TestClient) -> None:
    list_id = new_list("members")
    campaign = new_campaign(list_id)

    response = client.get(f"/issues/{SLUG}/")

    assert response.status_code == 200
    assert response.text == campaign.web_html
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'self'" in csp
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["referrer-policy"] == "no-referrer"
    # No personal link or placeholder in the public page.
    assert "__NL_" not in response.text
    assert "/u/" not in response.text


def test_without_the_slash_redirects_to_our_own_path(client: TestClient) -> None:
    new_campaign(new_list("members"))

    response = client.get(f"/issues/{SLUG}")

    assert response.status_code == 308
    assert response.headers["location"] == f"/issues/{SLUG}/"
    assert client.get("/issues").headers["location"] == "/issues/"
    assert client.get("/").headers["location"] == "/issues/"


def test_no_open_redirect_through_the_slug(client: TestClient) -> None:
    new_list("members")
    for path in ("/issues//evil.example", "/issues/%2F%2Fevil.example", "/issues/%2F%2Fevil"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "location" not in response.headers


def test_unknown_and_unpublished_issues_are_404(client: TestClient) -> None:
    list_id = new_list("members")
    new_campaign(list_id, status=CampaignStatus.CANCELLED)  # cancelled before any went out

    for path in (f"/issues/{SLUG}/", f"/issues/{SLUG}/newsletter.pdf", "/issues/nope/"):
        assert client.get(path).status_code == 404, path
    assert SLUG not in client.get("/issues/").text


def test_a_cancelled_campaign_that_reached_someone_is_published(client: TestClient) -> None:
    list_id = new_list("members")
    new_member("a@example.org", list_id)
    campaign = new_campaign(list_id, status=CampaignStatus.CANCELLED)
    with session_scope(write=True) as session:
        delivery = session.query(Delivery).filter_by(campaign_id=campaign.id).one()
        delivery.state = DeliveryState.SENT

    assert client.get(f"/issues/{SLUG}/").status_code == 200


def test_archive_lists_each_issue_once_newest_first(client: TestClient) -> None:
    list_id = new_list("members")
    new_campaign(list_id)
    later = compose(make_record(title="Rivers <and> Seas"))
    new_campaign(list_id, issue=later)
    newest_again = new_campaign(list_id)  # the first issue, sent once more
    before = snapshot()

    response = client.get("/issues/")

    assert response.status_code == 200
    assert snapshot() == before
    text = response.text
    assert text.count(f'href="/issues/{SLUG}/"') == 1
    assert f'href="/issues/{quote(later.slug)}/"' in text
    assert text.index(f"/issues/{SLUG}/") < text.index(f"/issues/{later.slug}/")
    assert "Rivers &lt;and&gt; Seas" in text
    assert "Rivers <and>" not in text
    assert f'href="/issues/{SLUG}/newsletter.pdf"' in text
    assert client.get(f"/issues/{SLUG}/").text == newest_again.web_html


def test_pdf_is_rendered_once_and_served_as_application_pdf(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_campaign(new_list("members"))
    calls: list[int] = []
    real = public.render_pdf

    def counting(issue: object) -> bytes:
        calls.append(1)
        return real(issue)  # type: ignore[arg-type]

    monkeypatch.setattr(public, "render_pdf", counting)
    responses: list[bytes] = []

    def fetch() -> None:
        response = client.get(f"/issues/{SLUG}/newsletter.pdf")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-disposition"].startswith("inline")
        responses.append(response.content)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fetch()

    assert len(responses) == 5
    assert all(data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF") for data in responses)
    assert len(set(responses)) == 1
    assert calls == [1]


def test_assets_are_served_with_their_type(client: TestClient) -> None:
    list_id = new_list("members")
    new_campaign(list_id, issue=with_assets(example_issue(), PNG))

    response = client.get(f"/issues/{SLUG}/assets/{PNG.filename}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == PNG.data
    for name in ("other.png", "..%2F..%2Fsecret.key", "%2E%2E"):
        assert client.get(f"/issues/{SLUG}/assets/{name}").status_code == 404
    assert client.get(f"/issues/nope/assets/{PNG.filename}").status_code == 404


def test_two_urdu_issues_of_one_day_have_their_own_pages(client: TestClient) -> None:
    list_id = new_list("members")
    first = compose(make_record(language="ur", title="انسانیت کے خلاف جرم"))
    second = compose(make_record(language="ur", title="دریاؤں کی تقسیم"))
    assert first.slug != second.slug
    new_campaign(list_id, issue=first)
    new_campaign(list_id, issue=second)

    for issue in (first, second):
        page = client.get(f"/issues/{quote(issue.slug)}/")
        assert page.status_code == 200
        assert page.text == issue.web_html
        pdf = client.get(f"/issues/{quote(issue.slug)}/newsletter.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        # The file name keeps the Urdu words (RFC 6266's filename*, UTF-8).
        disposition = pdf.headers["content-disposition"]
        assert disposition == f"inline; filename*=utf-8''{quote(issue.slug)}.pdf"
    # Each title keeps its own direction in the (English) archive.
    archive = client.get("/issues/").text
    assert 'dir="auto">سیمینار: انسانیت کے خلاف جرم</a>' in archive


def test_the_archive_dates_an_issue_by_its_seminar_not_by_its_sending(
    client: TestClient,
) -> None:
    # A slug of its own, so that nothing but the record's date says when the seminar was.
    issue = compose(make_record(date=dt.date(2022, 2, 24), slug="khojaly-seminar"))
    new_campaign(new_list("members"), issue=issue)

    text = client.get("/issues/").text

    assert '<time datetime="2022-02-24">24 February 2022</time>' in text
    assert dt.date.today().isoformat() not in text


def test_a_campaign_without_a_seminar_date_is_dated_by_its_sending(client: TestClient) -> None:
    new_campaign(new_list("members"), issue=dataclasses.replace(example_issue(), date=None))

    text = client.get("/issues/").text

    with session_scope() as session:
        sent = session.scalars(select(Campaign.started_at)).one()
    assert sent is not None
    assert f'<time datetime="{sent.date().isoformat()}">' in text


def test_the_social_icons_are_served_as_the_photos_are(client: TestClient) -> None:
    new_campaign(new_list("members"))  # hosted images: the icons are the issue's assets

    response = client.get(f"/issues/{SLUG}/assets/social-facebook.png")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    page = client.get(f"/issues/{SLUG}/").text
    assert f'/issues/{SLUG}/assets/social-facebook.png" alt="Facebook"' in page
