"""Fetching what SNS points at: signing certificates (cached) and subscription confirmations.

Both URLs come from the message and are checked against the configured SNS pattern before
anything is fetched (`newsletter.webhooks.sns.check_url`). The fetcher is a parameter, so
a test (or a deployment behind an egress proxy) can supply its own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import requests
from cryptography import x509

from newsletter.webhooks.reports import Rejected

# SNS certificates are about 2 KB; nothing an SNS URL answers should come near this.
MAX_RESPONSE = 64 * 1024
# Certificates kept: SNS uses one per region, and rotates them rarely.
CACHE_SIZE = 32

Fetch = Callable[[str], bytes]


class FetchFailed(Rejected):
    """SNS could not be reached: 502, so SNS delivers the message again later."""

    status_code = 502


def https_fetcher(timeout: float) -> Fetch:
    def fetch(url: str) -> bytes:
        try:
            # No redirects: only the URL that passed the check is ever fetched.
            with requests.get(url, timeout=timeout, allow_redirects=False, stream=True) as got:
                if got.status_code != 200:
                    raise FetchFailed(f"{url[:100]} answered {got.status_code}")
                body = got.raw.read(MAX_RESPONSE + 1, decode_content=True)
        except requests.RequestException as exc:
            raise FetchFailed(f"{url[:100]}: {exc}") from exc
        if len(body) > MAX_RESPONSE:
            raise FetchFailed(f"{url[:100]} answered more than {MAX_RESPONSE} bytes")
        return body

    return fetch


class CertificateCache:
    """Signing certificates by URL, fetched once each (the last CACHE_SIZE kept)."""

    def __init__(self, fetch: Fetch, size: int = CACHE_SIZE) -> None:
        self._fetch = fetch
        self._size = size
        self._certificates: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str) -> x509.Certificate:
        with self._lock:
            found = self._certificates.get(url)
            if found is not None:
                self._certificates.move_to_end(url)
                return found
        # Fetched outside the lock: a slow SNS must not hold up messages whose
        # certificate is cached. Two threads may then fetch the same URL once each.
        pem = self._fetch(url)
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise FetchFailed(f"{url[:100]} is not a PEM certificate") from exc
        with self._lock:
            self._certificates[url] = certificate
            self._certificates.move_to_end(url)
            while len(self._certificates) > self._size:
                self._certificates.popitem(last=False)
        return certificate
