from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from newsletter.core.settings import Brand, Settings
from newsletter.web import create_app
from newsletter.web.security import PAGE_CSP
from tests.web.helpers import new_campaign, new_list, new_member

SLUG = "2023-03-21-water-and-peace-sharing-rivers"


def test_our_pages_carry_the_security_headers(client: TestClient) -> None:
    member = new_member("ana@example.org", new_list("members"))
    for path in ("/issues/", f"/u/{member.token('u')}", "/subscribe/members", "/u/bad", "/nope"):
        response = client.get(path)
        headers = response.headers
        assert headers["content-security-policy"] == PAGE_CSP, path
        assert "script-src" not in PAGE_CSP and "frame-ancestors 'none'" in PAGE_CSP
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in headers  # the public URL is http here
        assert "set-cookie" not in headers
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in (
            response.text
        )


def test_https_public_url_adds_hsts(db: str) -> None:
    app = create_app(Settings(public_url="https://news.example.org"))
    with TestClient(app) as client:
        assert client.get("/issues/").headers["strict-transport-security"].startswith("max-age=")


def test_unknown_pages_and_methods_get_our_error_pages(client: TestClient) -> None:
    missing = client.get("/wp-admin")
    assert missing.status_code == 404
    assert "Page not found" in missing.text
    wrong_method = client.delete("/issues/")
    assert wrong_method.status_code == 405
    assert "GET" in wrong_method.headers["allow"]
    assert "Not allowed" in wrong_method.text
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404


def test_stylesheets_are_served_and_follow_the_brand(db: str) -> None:
    brand = Brand(
        name="Test Institute", primary_colour="#123456", font_family="Verdana, sans-serif"
    )
    with TestClient(create_app(Settings(brand=brand))) as client:
        site = client.get("/static/site.css")
        assert site.status_code == 200
        assert site.headers["content-type"].startswith("text/css")
        css = client.get("/brand.css")
        assert css.headers["content-type"].startswith("text/css")
        assert "--brand-primary: #123456;" in css.text
        assert "--brand-font: Verdana, sans-serif;" in css.text
        page = client.get("/issues/").text
        assert "Test Institute" in page
        assert 'href="/brand.css"' in page and 'href="/static/site.css"' in page


def test_routes_live_under_the_path_of_the_public_url(db: str) -> None:
    list_id = new_list("members")
    member = new_member("ana@example.org", list_id)
    settings = Settings(public_url="https://example.org/news")
    new_campaign(list_id)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        assert client.get("/news/issues/").status_code == 200
        assert client.get(f"/news/issues/{SLUG}/").status_code == 200
        page = client.get(f"/news/u/{member.token('u')}")
        assert page.status_code == 200
        assert f'action="/news/u/{member.token("u")}"' in page.text
        assert 'href="/news/static/site.css"' in page.text
        assert client.get("/news/static/site.css").status_code == 200
        assert client.get("/issues/").status_code == 404
        assert client.get("/news/").headers["location"] == "/news/issues/"


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:8000"])
def test_redirects_never_take_the_host_from_the_request(client: TestClient, host: str) -> None:
    new_campaign(new_list("members"))
    for path in ("/", "/issues", f"/issues/{SLUG}"):
        location = client.get(path, headers={"Host": host}).headers["location"]
        assert location.startswith("/issues/")
        assert host not in location


def test_the_favicon_is_served_at_the_root_and_under_the_prefix(db: str) -> None:
    with TestClient(create_app(Settings(public_url="https://example.org/news"))) as client:
        for url in ("/favicon.ico", "/news/favicon.ico"):
            response = client.get(url)
            assert response.status_code == 200, url
            assert response.headers["content-type"] in ("image/vnd.microsoft.icon", "image/x-icon")
            assert response.content[:4] == b"\x00\x00\x01\x00"
