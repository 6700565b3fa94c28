"""What the composer reports about an issue before it goes out (warnings; errors with --strict)."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from newsletter.issue import merge_fields
from newsletter.issue.model import PERSONAL_FIELDS, Issue, placeholder
from newsletter.record.assets import BUDGET_BYTES

# Gmail clips a message whose HTML is larger than about 102 KB and hides the rest,
# unsubscribe link included, behind "View entire message".
GMAIL_CLIP_BYTES = 102_000

_PLACEHOLDERS = frozenset(placeholder(name) for name in PERSONAL_FIELDS)
_UNSUBSCRIBE = placeholder("unsubscribe_url")


@dataclass(frozen=True)
class Problem:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def html_bytes(issue: Issue) -> int:
    """The size Gmail holds against its clip: the HTML part's, in UTF-8."""
    return len(issue.html.encode("utf-8"))


def check_issue(issue: Issue, *, photo_budget_bytes: int = BUDGET_BYTES) -> list[Problem]:
    """`photo_budget_bytes`: what each image the issue carries (photos, logo) may weigh.

    Each problem's code says which check found it: html-too-large, image-too-large,
    image-without-alt, bad-link, no-unsubscribe, merge-field."""
    problems: list[Problem] = []
    size = html_bytes(issue)
    if size > GMAIL_CLIP_BYTES:
        problems.append(
            Problem(
                "html-too-large",
                f"the HTML is {size:,} bytes; Gmail clips messages over about "
                f"{GMAIL_CLIP_BYTES:,} bytes",
            )
        )
    for asset in issue.assets:
        if len(asset.data) > photo_budget_bytes:
            # Every open downloads it (every message carries it, inline), for a thumbnail.
            problems.append(
                Problem(
                    "image-too-large",
                    f"{asset.filename} is {len(asset.data):,} bytes, over the budget of "
                    f"{photo_budget_bytes:,} bytes per image (NEWSLETTER_PHOTO_BUDGET_BYTES)",
                )
            )

    scan = _Scan()
    scan.feed(issue.html)
    scan.close()
    for number, src in enumerate(scan.images_without_alt, start=1):
        problems.append(Problem("image-without-alt", f"image {number} ({src}) has no alt text"))
    for tag, attribute, url in scan.links:
        if not _is_absolute(url, allow_cid=tag == "img"):
            problems.append(
                Problem("bad-link", f"<{tag} {attribute}={url!r}> is not an absolute http(s) URL")
            )
    if not any(_UNSUBSCRIBE in href for href in scan.hrefs):
        problems.append(Problem("no-unsubscribe", "the HTML has no unsubscribe link"))
    if _UNSUBSCRIBE not in issue.text:
        problems.append(Problem("no-unsubscribe", "the text part has no unsubscribe link"))
    # Well-formed fields are placeholders by now; what is left of the syntax is a mistake
    # that every reader would see. The text part holds all of the record's text but the
    # subject and preheader.
    found = (
        m
        for text in (issue.subject, issue.preheader, issue.text)
        for m in merge_fields.malformed(text)
    )
    problems.extend(Problem("merge-field", message) for message in dict.fromkeys(found))
    return problems


def _is_absolute(url: str, *, allow_cid: bool) -> bool:
    url = url.strip()
    if url in _PLACEHOLDERS:
        return True
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("http", "https"):
        return url.split(":", 1)[1].startswith("//") and len(url) > len(scheme) + 3
    # mailto: is absolute and opens the reader's mail program in every client.
    return scheme == "mailto" or (allow_cid and scheme == "cid")


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images_without_alt: list[str] = []
        self.links: list[tuple[str, str, str]] = []
        self.hrefs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            src = values.get("src") or ""
            # `alt=""` (or a bare `alt`) marks a decorative image; no attribute at all is a miss.
            if "alt" not in values:
                self.images_without_alt.append(src[:80] or "no src")
            self.links.append(("img", "src", src))
        elif tag == "a" and "href" in values:
            href = values["href"] or ""
            self.hrefs.add(href.strip())
            self.links.append(("a", "href", href))

    handle_startendtag = handle_starttag
