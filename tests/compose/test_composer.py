from __future__ import annotations

import builtins
import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from newsletter.compose import compose_issue, placeholder
from newsletter.compose.template_loader import templates
from newsletter.core.errors import ComposeError
from newsletter.core.links import Links
from newsletter.core.settings import Brand
from newsletter.issue.model import PERSONAL_FIELDS, Asset, Issue
from newsletter.record.loader import load_record
from newsletter.record.model import LoadedRecord, Speaker
from tests.compose.helpers import PNG, PUBLIC_URL, Parsed, compose, flat, load, make_record
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
    images = Parsed(issue.html).all("img")
    assert [img["alt"] for img in images] == [s.display_name for s in loaded.record.speakers]
    slug = loaded.record.issue_slug
    assert [img["src"] for img in images] == [
        LINKS.asset(slug, loaded.photos[str(s.photo)].filename) for s in loaded.record.speakers
    ]
    assert set(issue.assets) == set(loaded.photos.values())


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
    alts = [img["alt"] for img in Parsed(issue.html).all("img")]
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
    assert len(images) == 2
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
    assert "Organised By Test Institute with Embassy A, Embassy B" in text
    assert "Remarks by the Speakers" in text
    assert "Brief summary of remarks shared by speakers is as following:" in text
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
    assert links.hrefs("Webversion") == [LINKS.web(slug)]
    assert links.hrefs("Unsubscribe") == [placeholder("unsubscribe_url")]
    assert links.hrefs("Send to a friend") == [placeholder("forward_url")]
    assert links.hrefs("Manage preferences") == [placeholder("preferences_url")]
    assert links.hrefs("Facebook") == ["https://facebook.com/test"]
    assert links.hrefs("LinkedIn") == ["https://linkedin.com/t"]
    # The seed's order: "Unsubscribe - Webversion - Download PDF - Send to a friend".
    labels = [label for label, _ in links.links]
    start = labels.index("Unsubscribe")
    assert labels[start : start + 4] == [
        "Unsubscribe",
        "Webversion",
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
        f"Webversion: {LINKS.web(slug)}",
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
    record = make_record(speakers=[Speaker(name="No Photo", role="Chief Guest", remarks="Hello.")])
    issue = compose(record)
    assert Parsed(issue.html).all("img") == []
    assert "<img" not in issue.web_html and "<img" not in issue.print_html
    assert issue.assets == ()
    assert "No Photo" in Parsed(issue.html).text


def test_inline_images_refer_to_content_ids() -> None:
    logo = Asset("logo.png", "image/png", b"logo")
    issue = compose(images="inline", logo=logo)
    sources = [img["src"] for img in Parsed(issue.html).all("img")]
    assert sources == [f"cid:{logo.cid}", f"cid:{PNG.cid}"]
    assert issue.images == "inline"
    assert set(issue.assets) == {logo, PNG}
    # The web page cannot use Content-IDs: it always links the hosted copies.
    assert "cid:" not in issue.web_html


def test_https_photo_is_used_as_given_and_not_an_asset() -> None:
    url = "https://example.org/photos/amina.jpg"
    record = make_record(
        speakers=[Speaker(name="Amina", role="Keynote Speech", remarks="Hi.", photo=url)]
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
