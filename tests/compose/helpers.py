"""Building small records in code and reading composed HTML back, for the compose tests."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from newsletter.compose import compose_issue
from newsletter.core.settings import Brand
from newsletter.issue.model import Asset, Issue
from newsletter.record.model import LoadedRecord, Record, Speaker

PUBLIC_URL = "http://127.0.0.1:8000"
# Enough of a PNG for a mail client to call it one; composing never decodes it.
PNG = Asset("speaker-1.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)


def make_record(**overrides: Any) -> Record:
    fields: dict[str, Any] = {
        "title": "Water and Peace: Sharing Rivers",
        "date": dt.date(2023, 3, 21),
        "organiser": "Test Institute",
        "summary": "A seminar on *rivers* shared by [two states](https://example.org/rivers).",
        "speakers": [
            Speaker(
                name="Amina Khan",
                honorific="Dr.",
                position="Professor of Hydrology",
                role="Keynote Speech",
                photo="photos/amina.png",
                remarks="Rivers **connect** people.\n\nSecond paragraph.",
            ),
            Speaker(name="Bilal Ahmed", role="Chair of Session", remarks="Thanks to all."),
        ],
        "recommendations": ["Share data on river flows;", "Meet every year."],
        "social": {"facebook": "https://facebook.com/test", "linkedin": "https://linkedin.com/t"},
    }
    fields.update(overrides)
    return Record(**fields)


def load(record: Record, photos: dict[str, Asset] | None = None) -> LoadedRecord:
    if photos is None:
        photos = {"photos/amina.png": PNG} if any(s.photo for s in record.speakers) else {}
    return LoadedRecord(record=record, source=Path("record.yaml"), photos=photos)


def compose(record: Record | None = None, **kwargs: Any) -> Issue:
    loaded = load(record if record is not None else make_record())
    kwargs.setdefault("brand", Brand())
    kwargs.setdefault("public_url", PUBLIC_URL)
    return compose_issue(loaded, **kwargs)


def is_social_icon(img: dict[str, str | None]) -> bool:
    """Whether an <img> is one of the "Follow Us" icons (newsletter.compose.social_icons)."""
    return "social-" in (img.get("src") or "")


class Parsed(HTMLParser):
    """Every tag with its attributes, every link with its text, and the visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.links: list[tuple[str, str]] = []
        self._link: tuple[str, list[str]] | None = None
        self._text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "a":
            self._link = (dict(attrs).get("href") or "", [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._link is not None:
            href, text = self._link
            self.links.append((" ".join("".join(text).split()), href))
            self._link = None

    def handle_data(self, data: str) -> None:
        self._text.append(data)
        if self._link is not None:
            self._link[1].append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def hrefs(self, text: str) -> list[str]:
        return [href for label, href in self.links if label == text]

    @property
    def text(self) -> str:
        """The document's text with whitespace collapsed, for substring checks."""
        return " ".join(" ".join(self._text).split())


def flat(text: str) -> str:
    return " ".join(text.split())
