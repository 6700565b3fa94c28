from __future__ import annotations

import pytest

from newsletter.devsmtp.content import BASE_TAG, content_of, framed_html, part_data, part_for_cid
from tests.devsmtp.messages import PNG_1PX, build


def test_text_html_and_headers_in_order() -> None:
    raw = build("Report", text="Hello in text.\n", html="<p>Hello in <b>HTML</b></p>\n")
    content = content_of(raw)

    assert content.text == "Hello in text.\n"
    assert content.html == "<p>Hello in <b>HTML</b></p>\n"
    names = [name for name, _ in content.headers]
    assert names[:5] == ["From", "To", "Subject", "Message-ID", "Date"]
    assert ("Subject", "Report") in content.headers
    assert content.parts == ()


def test_encoded_header_values_are_decoded() -> None:
    content = content_of(build("Über — ünïcode"))
    assert ("Subject", "Über — ünïcode") in content.headers


def test_a_text_only_message_has_no_html() -> None:
    content = content_of(build(html=None))
    assert content.html is None
    assert content.text is not None


def test_an_html_only_message_has_no_text() -> None:
    content = content_of(build(text=None, html="<p>only</p>"))
    assert content.text is None
    assert content.html == "<p>only</p>\n"


def test_inline_images_and_attachments_are_parts() -> None:
    raw = build(html='<img src="cid:logo@x">', inline_png="logo@x", attachment=("a.pdf", b"%PDF"))
    content = content_of(raw)

    assert [(p.content_type, p.filename, p.content_id) for p in content.parts] == [
        ("image/png", "logo.png", "logo@x"),
        ("application/pdf", "a.pdf", ""),
    ]
    logo = part_for_cid(raw, "<logo@x>")
    assert logo is not None
    assert part_data(raw, logo.index) == PNG_1PX
    assert logo.size == len(PNG_1PX)
    assert part_for_cid(raw, "other@x") is None
    with pytest.raises(KeyError):
        part_data(raw, 99)


def test_an_unknown_charset_still_shows_the_text() -> None:
    raw = (
        b"Subject: odd\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nplain words \xff\r\n"
    )
    assert content_of(raw).text == "plain words \ufffd\n"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            "<!DOCTYPE html><html><head><title>t</title></head><body>b</body></html>",
            f"<!DOCTYPE html><html><head>{BASE_TAG}<title>t</title></head><body>b</body></html>",
        ),
        (
            '<HTML lang="en"><BODY>b</BODY></HTML>',
            f'<HTML lang="en">{BASE_TAG}<BODY>b</BODY></HTML>',
        ),
        ("<!doctype html><p>b</p>", f"<!doctype html>{BASE_TAG}<p>b</p>"),
        ("<p>fragment</p>", f"{BASE_TAG}<p>fragment</p>"),
        (
            '<head data-x="1"><base target="_self"></head>',
            f'<head data-x="1">{BASE_TAG}<base target="_self"></head>',
        ),
    ],
)
def test_links_are_sent_to_the_top_window(html: str, expected: str) -> None:
    assert framed_html(html, cid_prefix="/c/") == expected


def test_cid_references_point_at_the_inbox() -> None:
    html = """<img src="cid:logo@x"><div style="background:url(cid:bg%40x)"></div>"""
    framed = framed_html(html, cid_prefix="/messages/1/cid/")
    assert '<img src="/messages/1/cid/logo@x">' in framed
    assert "url(/messages/1/cid/bg@x)" in framed
