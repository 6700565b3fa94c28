"""The newsletter as a reader sees it on a 375 px phone, in Debian's chromium: the message
`newsletter send` delivered (its hosted images served by the live site) and its web
version (issue 13, item 5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from newsletter.devsmtp.content import content_of
from tests.e2e.site import Site

PHONE_375 = {"width": 375, "height": 812}
SLUG = "2022-02-24-genocide-and-ethnic-cleansing-a-crime"

# Each link of the paragraph holding "Unsubscribe": its text, how many line boxes it takes,
# its height, and the line height of its paragraph.
_FOOTER_LINKS = """() => {
  const first = [...document.querySelectorAll("a")].find(a => a.textContent === "Unsubscribe");
  const paragraph = first.closest("p");
  const lineHeight = parseFloat(getComputedStyle(paragraph).lineHeight);
  return [...paragraph.querySelectorAll("a")].map(a => ({
    text: a.textContent,
    boxes: a.getClientRects().length,
    height: a.getBoundingClientRect().height,
    lineHeight,
  }));
}"""

_FOOTER_LINK_ROWS = """() => {
  const first = [...document.querySelectorAll("a")].find(a => a.textContent === "Unsubscribe");
  const links = [...first.closest("p").querySelectorAll("a")];
  return new Set(links.map(a => Math.round(a.getBoundingClientRect().top))).size;
}"""

# The words of the title, line by line, as laid out.
_TITLE_LINES = """() => {
  const h1 = document.querySelector("h1");
  const lines = new Map();
  const walker = document.createTreeWalker(h1, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const match of node.data.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const top = Math.round(range.getClientRects()[0].top);
      lines.set(top, [...(lines.get(top) || []), match[0]]);
    }
  }
  return [...lines.entries()].sort((a, b) => a[0] - b[0]).map(entry => entry[1].join(" "));
}"""

# Left edges of each speaker's photo and name (the speakers' names are the only <h3>s, and
# every speaker of the example has a photo).
_SPEAKER_EDGES = """() => {
  const names = [...document.querySelectorAll("h3")];
  return [...document.querySelectorAll(".nl-photo img")].map((img, index) => {
    const photo = img.getBoundingClientRect(), name = names[index].getBoundingClientRect();
    return {name: names[index].textContent, photo: photo.left, text: name.left,
            below: photo.bottom <= name.top};
  });
}"""

_SOCIAL_ICONS = """() => [...document.querySelectorAll("img")]
  .filter(img => img.src.includes("/assets/social-"))
  .map(img => ({alt: img.alt, loaded: img.complete && img.naturalWidth > 0,
                width: img.getBoundingClientRect().width}))"""

_SIDEWAYS = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE_375)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _delivered_html(site: Site) -> str:
    recipient = site.audience.eligible[0]
    message = next(m for m in site.inbox.store.newest_first() if recipient in m.envelope_to)
    html = content_of(message.raw).html
    assert html is not None
    return html


def _assert_reads_well(page: Page) -> None:
    scroll_width, client_width = page.evaluate(_SIDEWAYS)
    assert client_width == 375
    assert scroll_width <= client_width, "the page scrolls sideways"

    lines: list[str] = page.evaluate(_TITLE_LINES)
    assert len(lines) >= 2
    assert all(" " in line for line in lines), f"a title line holds one word: {lines}"

    edges: list[dict[str, Any]] = page.evaluate(_SPEAKER_EDGES)
    assert len(edges) == 6
    for speaker in edges:
        assert speaker["below"], speaker  # stacked: the columns do not fit side by side
        assert abs(speaker["photo"] - speaker["text"]) <= 1, speaker

    icons: list[dict[str, Any]] = page.evaluate(_SOCIAL_ICONS)
    assert [icon["alt"] for icon in icons] == ["Facebook", "Twitter", "LinkedIn"]
    assert all(icon["loaded"] and icon["width"] == 28 for icon in icons), icons


def test_the_delivered_message_reads_well_at_375_px(phone: Page, site: Site) -> None:
    phone.set_content(_delivered_html(site), wait_until="load")

    _assert_reads_well(phone)
    links: list[dict[str, Any]] = phone.evaluate(_FOOTER_LINKS)
    assert [link["text"] for link in links] == [
        "Unsubscribe",
        "Web version",
        "Download PDF",
        "Send to a friend",
    ]
    for link in links:
        # One line box, no taller than one line: the link did not wrap inside.
        assert link["boxes"] == 1, link
        assert link["height"] <= link["lineHeight"], link
    # The four do not fit on one line at 375 px: they wrapped, between links.
    assert phone.evaluate(_FOOTER_LINK_ROWS) >= 2


def test_the_web_version_reads_well_at_375_px(phone: Page, site: Site) -> None:
    phone.goto(f"{site.public_url}/issues/{SLUG}/", wait_until="load")

    _assert_reads_well(phone)
