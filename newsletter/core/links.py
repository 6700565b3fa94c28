"""Every public URL the project hands out, in one place. The web app serves these paths."""

from __future__ import annotations

from urllib.parse import quote


class Links:
    def __init__(self, public_url: str) -> None:
        self.base = public_url.rstrip("/")

    def web(self, slug: str) -> str:
        return f"{self.base}/issues/{quote(slug)}/"

    def pdf(self, slug: str) -> str:
        return f"{self.base}/issues/{quote(slug)}/newsletter.pdf"

    def asset(self, slug: str, filename: str) -> str:
        return f"{self.base}/issues/{quote(slug)}/assets/{quote(filename)}"

    def archive(self) -> str:
        return f"{self.base}/issues/"

    def unsubscribe(self, token: str) -> str:
        return f"{self.base}/u/{token}"

    def preferences(self, token: str) -> str:
        return f"{self.base}/p/{token}"

    def forward(self, token: str) -> str:
        return f"{self.base}/f/{token}"

    def confirm(self, token: str) -> str:
        return f"{self.base}/c/{token}"

    def subscribe(self, list_name: str) -> str:
        return f"{self.base}/subscribe/{quote(list_name)}"
