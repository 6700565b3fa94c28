from __future__ import annotations

import builtins
import datetime as dt
import io
import os
import re
import socket
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from newsletter.compose import compose_issue, placeholder
from newsletter.compose.social_icons import social_icon
from newsletter.compose.template_loader import templates
from newsletter.core.errors import ComposeError
from newsletter.core.links import Links
from newsletter.core.settings import Brand
from newsletter.issue.model import PERSONAL_FIELDS, Asset, Issue
from newsletter.record.loader import load_record
from newsletter.record.model import LoadedRecord, Speaker
from tests.compose.helpers import (
    PNG,
    PUBLIC_URL,
    Parsed,
    compose,
    flat,
    is_social_icon,
    load,
    make_record,
)
from tests.conftest import EXAMPLE

SNAPSHOT = Path(__file__).parent / "snapshots" / "example.txt"
LINKS = Links(PUBLIC_URL)


@lru_cache(maxsize=1)
def _example() -> tuple[LoadedRecord, Issue]:
    loaded = load_record(EXAMPLE)
    return loaded, compose_issue(loaded, brand=Brand(), public_url=PUBLIC_URL)


@pytest.fixture
def example() -> tuple[LoadedRecord, Issue]:
    return _example()


# --- the example -------------------------------------------------------------------------


def test_example_has_every_speaker_and_recommendation(example: tuple[LoadedRecord, Issue]) -> None:
    loaded, issue = example
    record = loaded.record
    assert len(record.speakers) == 6 and len(record.recommendations) == 13
    html_text, text = Parsed(issue.html).text, flat(issue.text)
    for speaker in record.speakers:
        assert speaker.display_name in html_text
        assert speaker.display_name in text
        assert flat(speaker.role) in html_text and flat(speaker.role) in text
    for item in record.recommendations:
        assert flat(item) in html_text
        assert flat(item) in text


def test_example_recommendations_are_a_numbered_list(example: tuple[LoadedRecord, Issue]) -> None:
    loaded, issue = example
    html = Parsed(issue.html)
    assert len(html.all("ol")) == 1
    assert len(html.all("li")) == len(loaded.record.recommendations)
    assert "\n13. Reiterate the importance" in issue.text
    assert "\n 1. Call upon all" in issue.text


def test_example_html_stays_well_under_gmail_clipping(example: tuple[LoadedRecord, Issue]) -> None:
    _, issue = example
    assert 20_000 < len(issue.html.encode()) < 80_000


def test_example_text_matches_reviewed_snapshot(example: tuple[LoadedRecord, Issue]) -> None:
    """The text part, reviewed by a person for readability.

    After a deliberate change to the text template or the example, regenerate it with
    `UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/compose/test_composer.py -k snapshot`,
    read the diff, and commit it.
    """
    _, issue = example
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(issue.text, encoding="utf-8")
    assert issue.text == SNAPSHOT.read_text(encoding="utf-8")


def test_example_speaker_photos_are_hosted_assets(example: tuple[LoadedRecord, Issue]) -> None:
    loaded, issue = example
    images = [img for img in Parsed(issue.html).all("img") if not is_social_icon(img)]
    assert [img["alt"] for img in images] == [s.display_name for s in loaded.record.speakers]
    slug = loaded.record.issue_slug
    assert [img["src"] for img in images] == [
        LINKS.asset(slug, loaded.photos[str(s.photo)].filename) for s in loaded.record.speakers
    ]
    photos = {asset for asset in issue.assets if not asset.filename.startswith("social-")}
    assert photos == set(loaded.photos.values())


# --- escaping ------------------------------------------------------------------------------

NASTY = "<script>alert(1)</script> & Co"


def _nasty_issue() -> Issue:
    record = make_record(
        title=f"T1 {NASTY}",
        kind="Seminar & Talk",
        organiser=f"O1 {NASTY}",
        summary=f"S1 {NASTY}",
        speakers=[
            Speaker(
                name=f"N1 {NASTY}",
                position=f"P1 {NASTY}",
                role=f"R1 {NASTY}",
                remarks=f"M1 {NASTY}",
                photo="photos/amina.png",
            )
        ],
        recommendations=[f"C1 {NASTY}"],
        footer=f"F1 {NASTY}",
    )
    return compose(record)


@pytest.mark.parametrize("marker", ["T1", "O1", "S1", "N1", "P1", "R1", "M1", "C1", "F1"])
def test_markup_in_fields_is_escaped_in_html_and_literal_in_text(marker: str) -> None:
    issue = _nasty_issue()
    assert f"{marker} &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in issue.html
    assert f"{marker} &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in issue.web_html
    assert f"{marker} &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in issue.print_html
    assert f"{marker} {NASTY}" in flat(issue.text)


def test_no_script_element_and_no_double_escaping() -> None:
    issue = _nasty_issue()
    for html in (issue.html, issue.web_html, issue.print_html):
        assert "<script" not in html.lower()
        assert "&amp;amp;" not in html and "&amp;lt;" not in html
    assert "&amp;" not in issue.text and "&lt;" not in issue.text
    assert "Seminar & Talk on" in issue.text
    alts = [img["alt"] for img in Parsed(issue.html).all("img") if not is_social_icon(img)]
    assert alts == [f"N1 {NASTY}"]


def test_markdown_javascript_links_are_not_links() -> None:
    issue = compose(
        make_record(summary="[click](javascript:alert(1)) and [ok](https://ok.example)")
    )
    hrefs = [href for _, href in Parsed(issue.html).links]
    assert "https://ok.example" in hrefs
    assert not any(href.lower().startswith("javascript") for href in hrefs)


# --- language, direction, accessibility ----------------------------------------------------


def test_left_to_right_record_sets_lang_and_dir() -> None:
    issue = compose()
    assert issue.language == "en" and issue.direction == "ltr"
    for html in (issue.html, issue.web_html, issue.print_html):
        assert '<html lang="en" dir="ltr"' in html


def test_right_to_left_record_sets_lang_and_dir_everywhere() -> None:
    issue = compose(make_record(language="ur", title="انسانیت کے خلاف جرم"))
    assert issue.direction == "rtl"
    for html in (issue.html, issue.web_html, issue.print_html):
        assert '<html lang="ur" dir="rtl"' in html
    # Columns run right to left, so the photo sits on the right beside the remarks.
    assert "direction:rtl" in issue.html.replace(" ", "")
    assert "text-align:right" in issue.html.replace(" ", "")
    assert "انسانیت کے خلاف جرم" in issue.text


def test_every_layout_table_is_presentational() -> None:
    tables = Parsed(compose().html).all("table")
    assert tables
    assert all(table.get("role") == "presentation" for table in tables)


def test_every_image_has_alt_text() -> None:
    logo = Asset("logo.png", "image/png", PNG.data)
    issue = compose(logo=logo)
    images = Parsed(issue.html).all("img")
    # The logo, the photo, and the Facebook and LinkedIn icons.
    assert len(images) == 4
    assert all(img.get("alt") for img in images)
    assert images[0]["alt"] == Brand().name


def test_preheader_is_hidden_and_taken_from_the_record_or_summary() -> None:
    issue = compose(make_record(preheader="Six speakers, thirteen ideas"))
    assert issue.preheader == "Six speakers, thirteen ideas"
    assert "display:none" in issue.html and "Six speakers, thirteen ideas" in issue.html

    long = compose(make_record(summary="word " * 100))
    assert long.preheader.startswith("word word") and long.preheader.endswith("…")
    assert len(long.preheader) <= 140

    derived = compose()
    assert derived.preheader == "A seminar on rivers shared by two states."


def test_title_block_follows_the_seed() -> None:
    issue = compose(make_record(venue="Islamabad", partners=["Embassy A", "Embassy B"]))
    text = Parsed(issue.html).text
    assert "Seminar on" in text
    assert "Water and Peace: Sharing Rivers" in text
    assert "Tuesday, 21st March 2023, Islamabad" in text
    assert "Organised by Test Institute with Embassy A, Embassy B" in text
    assert "Remarks by the Speakers" in text
    assert "Brief summary of remarks shared by speakers is as follows:" in text
    assert "Following recommendations extracted from the discussions in the Seminar:" in text
    assert "© 2023. All rights reserved." in text
    assert "Water and Peace:\nSharing Rivers\n" in issue.text


# --- links and placeholders ----------------------------------------------------------------


def test_top_bar_and_footer_links_have_exact_texts_and_targets() -> None:
    record = make_record()
    issue = compose(record)
    links = Parsed(issue.html)
    slug = record.issue_slug
    assert links.hrefs("View online") == [LINKS.web(slug)]
    assert links.hrefs("Download PDF") == [LINKS.pdf(slug), LINKS.pdf(slug)]
    assert links.hrefs("Web version") == [LINKS.web(slug)]
    assert links.hrefs("Unsubscribe") == [placeholder("unsubscribe_url")]
    assert links.hrefs("Send to a friend") == [placeholder("forward_url")]
    assert links.hrefs("Manage preferences") == [placeholder("preferences_url")]
    # The seed's order: "Unsubscribe - Web version - Download PDF - Send to a friend".
    labels = [label for label, _ in links.links]
    start = labels.index("Unsubscribe")
    assert labels[start : start + 4] == [
        "Unsubscribe",
        "Web version",
        "Download PDF",
        "Send to a friend",
    ]


def test_text_part_lists_the_links() -> None:
    record = make_record()
    text = compose(record).text
    slug = record.issue_slug
    for line in (
        f"View online: {LINKS.web(slug)}",
        f"Download PDF: {LINKS.pdf(slug)}",
        f"Web version: {LINKS.web(slug)}",
        f"Unsubscribe: {placeholder('unsubscribe_url')}",
        f"Send to a friend: {placeholder('forward_url')}",
        f"Manage preferences: {placeholder('preferences_url')}",
        "Facebook: https://facebook.com/test",
    ):
        assert f"\n{line}\n" in text
    assert placeholder("email") in text


def test_every_link_in_the_email_is_absolute_or_a_placeholder() -> None:
    issue = compose()
    placeholders = {placeholder(name) for name in PERSONAL_FIELDS}
    for _, href in Parsed(issue.html).links:
        assert href in placeholders or href.startswith(PUBLIC_URL) or href.startswith("https://")


def test_placeholders_appear_in_html_and_text() -> None:
    issue = compose()
    for name in ("email", "unsubscribe_url", "preferences_url", "forward_url"):
        assert placeholder(name) in issue.html
        assert placeholder(name) in issue.text


def test_web_and_print_versions_have_no_personal_links() -> None:
    record = make_record()
    issue = compose(record)
    for page in (issue.web_html, issue.print_html):
        assert "__NL_" not in page
        assert "Unsubscribe" not in page and "Send to a friend" not in page
    web = Parsed(issue.web_html)
    assert web.hrefs("Download PDF") == [LINKS.pdf(record.issue_slug)] * 2
    assert web.hrefs("All issues") == [LINKS.archive()] * 2
    assert f"<title>{record.effective_subject}</title>" in issue.web_html


# --- images ----------------------------------------------------------------------------------


def test_record_without_photos_has_no_images() -> None:
    record = make_record(
        speakers=[Speaker(name="No Photo", role="Chief Guest", remarks="Hello.")], social={}
    )
    issue = compose(record)
    assert Parsed(issue.html).all("img") == []
    assert "<img" not in issue.web_html and "<img" not in issue.print_html
    assert issue.assets == ()
    assert "No Photo" in Parsed(issue.html).text


def test_inline_images_refer_to_content_ids() -> None:
    logo = Asset("logo.png", "image/png", b"logo")
    issue = compose(images="inline", logo=logo)
    sources = [img["src"] for img in Parsed(issue.html).all("img")]
    icons = [social_icon("facebook"), social_icon("linkedin")]
    assert None not in icons
    assert sources == [f"cid:{logo.cid}", f"cid:{PNG.cid}", *(f"cid:{i.cid}" for i in icons if i)]
    assert issue.images == "inline"
    assert set(issue.assets) == {logo, PNG, *icons}
    # The web page cannot use Content-IDs: it always links the hosted copies.
    assert "cid:" not in issue.web_html


def test_https_photo_is_used_as_given_and_not_an_asset() -> None:
    url = "https://example.org/photos/amina.jpg"
    record = make_record(
        speakers=[Speaker(name="Amina", role="Keynote Speech", remarks="Hi.", photo=url)],
        social={},
    )
    issue = compose(record, images="inline")
    assert [img["src"] for img in Parsed(issue.html).all("img")] == [url]
    assert issue.assets == ()


def test_print_version_embeds_photos() -> None:
    issue = compose()
    sources = [img["src"] or "" for img in Parsed(issue.print_html).all("img")]
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")


def test_photo_that_was_not_loaded_is_a_clear_error() -> None:
    with pytest.raises(ComposeError, match=r"speakers\[0\]\.photo: 'photos/amina.png'"):
        compose_issue(load(make_record(), photos={}), brand=Brand(), public_url=PUBLIC_URL)


# --- brand -----------------------------------------------------------------------------------


def test_brand_comes_from_configuration() -> None:
    brand = Brand(
        name="River Institute",
        postal_address="1 Quay Street\nLahore",
        primary_colour="#123456",
        font_family='"Noto Serif", serif',
    )
    issue = compose(brand=brand)
    text = Parsed(issue.html).text
    assert "River Institute" in text and "1 Quay Street, Lahore" in text
    assert "#123456" in issue.html
    assert "'Noto Serif', serif" in issue.html
    assert "River Institute" in issue.text and "1 Quay Street\nLahore" in issue.text


@pytest.mark.parametrize(
    ("field", "value"),
    [("primary_colour", "red;}</style><script>"), ("font_family", "Arial; } body {")],
)
def test_unsafe_brand_css_is_refused(field: str, value: str) -> None:
    brand = Brand(**{field: value})
    with pytest.raises(ComposeError, match=f"brand.{field}"):
        compose(brand=brand)


# --- purity and repeatability -----------------------------------------------------------------


def test_composing_touches_no_file_and_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    templates()  # the one permitted read, done once per process

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"composing did I/O: {args!r}")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    issue = compose()
    assert issue.html and issue.text


def test_composing_is_deterministic() -> None:
    assert compose() == compose()


# --- what mailbox providers look at ------------------------------------------------------

# What the preheader's filler is made of; a mail reader shows it as nothing.
_FILLER = "\u034f\u200c\u00a0 "


def _preheader_style(html: str) -> str:
    body = html[html.index("<body") :]
    hidden = Parsed(body).all("div")[2]  # after the main landmark and MJML's wrapper
    return hidden.get("style") or ""


def test_the_preheader_is_the_preview_text_hidden_without_a_colour() -> None:
    issue = compose(make_record(preheader="Six speakers, thirteen ideas"))
    body = issue.html[issue.html.index("<body") :]
    # A mail reader's preview is the body's first text: the preheader, then filler only,
    # long enough that "View online" is not pulled in after it.
    text = " ".join(Parsed(body)._text)
    start = text.index("Six speakers, thirteen ideas")
    assert not text[:start].strip(_FILLER)
    rest = text[start + len("Six speakers, thirteen ideas") :]
    filler = len(rest) - len(rest.lstrip(_FILLER))
    assert filler >= 100, "too little filler: the preview would go on into the body"
    assert rest.lstrip(_FILLER).startswith("View online")
    style = _preheader_style(issue.html).replace(" ", "")
    for rule in ("display:none", "mso-hide:all", "font-size:0", "line-height:0"):
        assert rule in style
    assert "max-height:0" in style and "opacity:0" in style
    # A colour, whichever, is what SpamAssassin compares with the background.
    assert "color" not in style


def test_the_web_version_has_no_preheader() -> None:
    issue = compose(make_record(preheader="Six speakers, thirteen ideas"))
    assert "Six speakers, thirteen ideas" not in issue.web_html
    assert "mso-hide:all" not in issue.web_html


@pytest.mark.parametrize("which", ["html", "web_html"])
def test_both_colour_schemes_are_declared(which: str) -> None:
    html = getattr(compose(), which)
    head = Parsed(html[: html.index("</head>")])
    metas = {meta.get("name"): meta.get("content") for meta in head.all("meta")}
    assert metas["color-scheme"] == "light dark"
    assert metas["supported-color-schemes"] == "light dark"


def test_the_web_version_is_a_page_with_a_main_landmark() -> None:
    issue = compose()
    web = Parsed(issue.web_html)
    (main,) = web.all("main")
    assert main["lang"] == "en" and main["dir"] == "ltr"
    assert "aria-roledescription" not in issue.web_html
    assert 'role="article"' not in issue.web_html
    assert issue.web_html.rstrip().endswith("</main></body></html>")
    # In a mail reader the email stays an article among the reader's own page.
    assert 'aria-roledescription="email"' in issue.html and "<main" not in issue.html


# --- the reader's view on a phone (issue 13, item 5) ---------------------------------------


def test_the_title_is_balanced_and_has_no_lone_last_word() -> None:
    issue = compose(make_record(title="Genocide and Ethnic cleansing: A Crime against Humanity"))
    for html in (issue.html, issue.web_html):
        h1 = re.search(r"<h1\b([^>]*)>(.*?)</h1>", html, re.S)
        assert h1 is not None
        assert re.search(r"text-wrap: ?balance", h1.group(1))
        assert (
            re.sub("<br ?/?>", "<br>", h1.group(2))
            == "Genocide and Ethnic\xa0cleansing:<br>A Crime against\xa0Humanity"
        )


def _footer_links(html: str) -> list[tuple[str, str]]:
    """(text, style) of each link in the paragraph of the recipient's own links."""
    start = html.index("<!--nl:personal-->")
    paragraph = html[start : html.index("</p>", start)]
    return re.findall(r'<a [^>]*style="([^"]*)"[^>]*>([^<]*)</a>', paragraph)


def test_footer_and_top_bar_links_never_wrap_inside_a_link() -> None:
    html = compose().html
    links = _footer_links(html)
    assert [text for _, text in links] == [
        "Unsubscribe",
        "Web version",
        "Download PDF",
        "Send to a friend",
    ]
    assert all(re.search(r"white-space: ?nowrap", style) for style, _ in links)
    # Between the links a line may break (after the dash), never before the dash.
    assert "Unsubscribe</a>\xa0- <a" in html and "Web version</a>\xa0- <a" in html
    for label in ("View online", "Manage preferences"):
        anchor = re.search(rf'<a [^>]*style="([^"]*)"[^>]*>{label}</a>', html)
        assert anchor is not None and "nowrap" in anchor.group(1)


def _cell_align(html: str, css_class: str) -> str:
    """The `align` of the table cell MJML wrote for the element of `css_class`."""
    cell = re.search(rf'<td align="(\w+)" class="{css_class}"', html)
    assert cell is not None
    return cell.group(1)


@pytest.mark.parametrize(("language", "start"), [("en", "left"), ("ur", "right")])
def test_a_speakers_photo_is_aligned_as_the_name_is(language: str, start: str) -> None:
    # On a phone the columns stack: the photo stands over the name, at the same edge.
    html = compose(make_record(language=language)).html
    assert _cell_align(html, "nl-photo") == start
    assert _cell_align(html, "nl-speaker") == start


def test_social_links_are_small_hosted_icons_with_alt_text() -> None:
    record = make_record(
        social={"facebook": "https://facebook.com/t", "mastodon": "https://m.example/@t"}
    )
    issue = compose(record)
    icons = [img for img in Parsed(issue.html).all("img") if is_social_icon(img)]
    assert [(img["alt"], img["width"], img["height"]) for img in icons] == [
        ("Facebook", "28", "28")
    ]
    assert icons[0]["src"] == LINKS.asset(record.issue_slug, "social-facebook.png")
    linked = re.search(
        r'<a href="https://facebook.com/t"[^>]*><img [^>]*alt="Facebook"', issue.html
    )
    assert linked is not None
    # A network without an icon is a text link; the text part names every network.
    assert Parsed(issue.html).hrefs("Mastodon") == ["https://m.example/@t"]
    assert "Facebook: https://facebook.com/t" in issue.text
    icon = next(asset for asset in issue.assets if asset.filename == "social-facebook.png")
    assert icon.content_type == "image/png"
    with Image.open(io.BytesIO(icon.data)) as image:
        assert image.size == (56, 56)  # twice the 28 px it is shown at
    assert len(icon.data) < 8 * 1024


def test_social_icons_are_attached_in_inline_mode_and_embedded_in_print() -> None:
    issue = compose(make_record(social={"linkedin": "https://linkedin.com/t"}), images="inline")
    assert 'src="cid:social-linkedin.png@newsletter" alt="LinkedIn"' in issue.html
    assert "social-linkedin.png" in {asset.filename for asset in issue.assets}
    assert "/assets/social-linkedin.png" in issue.web_html


def test_an_https_logo_is_shown_as_given_with_the_brands_name() -> None:
    brand = Brand(name="River Institute", logo="https://cdn.example.org/logo.png")
    issue = compose(brand=brand)
    logo = Parsed(issue.html).all("img")[0]
    assert logo["src"] == "https://cdn.example.org/logo.png"
    assert logo["alt"] == "River Institute"
    web_logo = Parsed(issue.web_html).all("img")[0]
    assert (web_logo["src"], web_logo["alt"]) == (
        "https://cdn.example.org/logo.png",
        "River Institute",
    )
    assert all(not asset.filename.startswith("logo") for asset in issue.assets)


def test_the_issue_carries_its_seminar_date() -> None:
    assert compose(make_record(date=dt.date(2022, 2, 24))).date == dt.date(2022, 2, 24)
