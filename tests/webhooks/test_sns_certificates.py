from __future__ import annotations

from collections.abc import Iterator

import pytest

from newsletter.webhooks.sns_certificates import (
    MAX_RESPONSE,
    CertificateCache,
    FetchFailed,
    https_fetcher,
)
from tests.webhooks.signing import SnsSigner
from tests.webhooks.sns_server import CERT_PATH, REDIRECT_PATH, SnsServer, sns_server


@pytest.fixture
def server() -> Iterator[SnsServer]:
    with sns_server(SnsSigner().certificate_pem()) as running:
        yield running


def test_a_certificate_is_fetched_once_and_then_cached(server: SnsServer) -> None:
    cache = CertificateCache(https_fetcher(5))
    first = cache.get(server.cert_url)
    assert cache.get(server.cert_url) is first
    assert server.count(CERT_PATH) == 1


def test_the_cache_keeps_the_latest_certificates(server: SnsServer) -> None:
    cache = CertificateCache(https_fetcher(5), size=2)
    urls = [f"{server.cert_url}?n={n}" for n in range(3)]
    for url in urls:
        cache.get(url)
    cache.get(urls[2])
    cache.get(urls[1])
    assert server.count(CERT_PATH) == 3
    cache.get(urls[0])  # pushed out by the other two
    assert server.count(CERT_PATH) == 4


def test_failures_are_not_cached(server: SnsServer) -> None:
    cache = CertificateCache(https_fetcher(5))
    server.status = 503
    with pytest.raises(FetchFailed, match="503"):
        cache.get(server.cert_url)
    server.status = 200
    cache.get(server.cert_url)
    assert server.count(CERT_PATH) == 2


def test_what_is_not_a_certificate_fails(server: SnsServer) -> None:
    server.certificate = b"<html>not a certificate</html>"
    with pytest.raises(FetchFailed, match="not a PEM certificate"):
        CertificateCache(https_fetcher(5)).get(server.cert_url)
    server.certificate = b"x" * (MAX_RESPONSE + 1)
    with pytest.raises(FetchFailed, match="more than"):
        https_fetcher(5)(server.cert_url)


def test_redirects_are_not_followed_and_unreachable_hosts_fail(server: SnsServer) -> None:
    with pytest.raises(FetchFailed, match="302"):
        https_fetcher(5)(server.base + REDIRECT_PATH)
    assert server.count(CERT_PATH) == 0
    with pytest.raises(FetchFailed, match="404"):
        https_fetcher(5)(f"{server.base}/elsewhere.pem")
    with pytest.raises(FetchFailed):
        https_fetcher(1)("http://127.0.0.1:9/cert.pem")
