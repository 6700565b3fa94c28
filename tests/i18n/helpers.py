"""Reading rendered mail and pages as a reader does, for the language tests."""

from __future__ import annotations

import re
from functools import lru_cache
from html.parser import HTMLParser

from babel.messages.pofile import read_po

from newsletter.i18n.languages import DOMAIN, LOCALE_DIR

_PLACEHOLDER = re.compile(r"%\(\w+\)s")
_TAG = re.compile(r"<[^>]+>")
# Latin a reader may see in an Urdu or Arabic issue: links, the recipient fields (filled
# in later) and "PDF", which Arabic writes so.
NOT_TEXT = re.compile(r"https?://\S+|__NL_\w+__|PDF")


class _Visible(HTMLParser):
    """The text a reader sees: no style sheets, no attribute values, markup adding nothing."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._hidden = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._hidden += 1
        elif tag in ("p", "div", "br", "li", "h1", "h2", "h3", "td", "title"):
            self._parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._parts.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self._parts).split())


def visible(html: str) -> str:
    return _Visible(html).text


@lru_cache(maxsize=1)
def english_fixed_strings() -> list[str]:
    """Every English fixed string, cut at its placeholders and tags, as it could show."""
    with (LOCALE_DIR / "en" / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        catalog = read_po(source)
    pieces: set[str] = set()
    for message in catalog:
        for text in [message.id] if isinstance(message.id, str) else list(message.id):
            for piece in _PLACEHOLDER.split(_TAG.sub("|", text)):
                for part in piece.split("|"):
                    part = part.strip(" .,:;()?")
                    if re.search(r"[A-Za-z]{2}", part):
                        pieces.add(part)
    return sorted(pieces)


def english_left(seen: str) -> list[str]:
    """The English fixed strings (or pieces of them) that `seen` still shows."""
    return [s for s in english_fixed_strings() if re.search(rf"\b{re.escape(s)}\b", seen)]
