"""HEAD answers as GET does on every public URL (newsletter.web.head), and changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount

from newsletter.store.models import MembershipStatus
from tests.compose.helpers import PNG
from tests.web.helpers import (
    example_issue,
    membership,
    new_campaign,
    new_list,
    new_member,
    snapshot,
    with_assets,
)

SLUG = "2023-03-21-water-and-peace-sharing-rivers"
# Differ between any two answers, whatever the method.
_VARYING = {"date"}


def _example_urls() -> dict[str, str]:
    """A working URL for each GET route and mounted app, by its path as registered."""
    list_id = new_list("members")
    campaign = new_campaign(list_id, issue=with_assets(example_issue(), PNG))
    member = new_member("ana@example.org", list_id)
    joining = new_member("raj@example.org", list_id, status=MembershipStatus.UNCONFIRMED)
    return {
        "/": "/",
        "/issues/": "/issues/",
        "/issues": "/issues",
        "/issues/{slug}/": f"/issues/{SLUG}/",
        "/issues/{slug}": f"/issues/{SLUG}",
        "/issues/{slug}/newsletter.pdf": f"/issues/{SLUG}/newsletter.pdf",
        "/issues/{slug}/assets/{filename}": f"/issues/{SLUG}/assets/{PNG.filename}",
        "/u/{token}": f"/u/{member.token('u')}",
        "/p/{token}": f"/p/{member.token('p')}",
        "/c/{token}": f"/c/{joining.token('c')}",
        "/f/{token}": f"/f/{member.token('f', campaign_id=campaign.id)}",
        "/subscribe/{list_name}": "/subscribe/members",
        "/brand.css": "/brand.css",
        "/favicon.ico": "/favicon.ico",
        "/static": "/static/site.css",
        "/staff": "/staff/login",
    }


def _get_routes(routes: Sequence[BaseRoute]) -> set[str]:
    """Every path the app answers GET on: its routes', and each mounted app's prefix."""
    paths = set()
    for route in routes:
        # FastAPI keeps an included router as one entry (the app's prefix is "" here).
        included = getattr(route, "original_router", None)
        if included is not None:
            paths |= _get_routes(included.routes)
        elif "GET" in (getattr(route, "methods", None) or ()) or isinstance(route, Mount):
            paths.add(getattr(route, "path", ""))
    return paths


@pytest.mark.slow  # the PDF is rendered once
def test_every_get_route_answers_head_with_the_gets_status_and_headers(
    client: TestClient,
) -> None:
    urls = _example_urls()
    routes = _get_routes(cast(FastAPI, client.app).routes)
    assert routes == set(urls), (
        "every GET route needs an example URL here, so that its HEAD is tested: "
        f"missing {sorted(routes - set(urls))}, gone {sorted(set(urls) - routes)}"
    )
    for path, url in urls.items():
        got = client.get(url)
        head = client.head(url)
        assert got.status_code < 400, (path, got.status_code)
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
        assert head.headers["content-length"] == got.headers["content-length"], path
        assert int(head.headers["content-length"]) == len(got.content), path
        assert {k: v for k, v in head.headers.items() if k not in _VARYING} == {
            k: v for k, v in got.headers.items() if k not in _VARYING
        }, path


def test_head_on_the_leaving_pages_changes_no_membership(client: TestClient) -> None:
    list_id = new_list("members")
    member = new_member("ana@example.org", list_id)
    before = snapshot()
    for url in (f"/u/{member.token('u')}", f"/p/{member.token('p')}", f"/u/{member.token('u')}"):
        response = client.head(url)
        assert response.status_code == 200, url
        assert response.content == b""
    assert membership(member) == ("active", 1)
    assert snapshot() == before


def test_head_errors_are_the_gets(client: TestClient) -> None:
    for url in ("/nope", "/u/garbled", f"/issues/{SLUG}/"):
        got, head = client.get(url), client.head(url)
        assert (head.status_code, head.content) == (got.status_code, b""), url
        assert head.headers["content-length"] == got.headers["content-length"], url


def test_a_post_only_url_refuses_head_as_it_refuses_get(client: TestClient) -> None:
    response = client.head("/webhooks/sendgrid")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.content == b""
    # Where GET is allowed, so is HEAD, and Allow says so.
    assert client.delete("/issues/").headers["allow"] == "GET, HEAD"
