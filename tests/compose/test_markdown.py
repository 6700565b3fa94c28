from __future__ import annotations

from newsletter.compose.markdown import to_html, to_plain, to_text


def test_html_escapes_raw_html_and_ampersands() -> None:
    html = to_html("A <script>alert(1)</script> & <b>B</b>")
    assert html == "<p>A &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;B&lt;/b&gt;</p>\n"


def test_html_renders_emphasis_links_and_lists() -> None:
    html = to_html("*a* **b** [c](https://c.example/?x=1&y=2)\n\n1. one\n2. two")
    assert "<em>a</em> <strong>b</strong>" in html
    assert '<a href="https://c.example/?x=1&amp;y=2">c</a>' in html
    assert "<ol>\n<li>one</li>\n<li>two</li>\n</ol>" in html


def test_html_refuses_script_links() -> None:
    assert "href" not in to_html("[x](javascript:alert(1)) [y](vbscript:msgbox)")


def test_text_drops_markers_and_keeps_link_targets() -> None:
    text = to_text("*a* **b** `c` [site](https://s.example/) <https://auto.example/>")
    assert text == "a b c site (https://s.example/) https://auto.example/"


def test_text_keeps_ampersands_and_angle_brackets_literal() -> None:
    assert to_text("Q & A <script>") == "Q & A <script>"


def test_text_wraps_paragraphs_at_72_columns_without_breaking_urls() -> None:
    url = "https://example.org/" + "x" * 80
    text = to_text(("word " * 40) + url + "\n\nSecond paragraph.")
    lines = text.split("\n")
    assert all(len(line) <= 72 for line in lines if url not in line)
    assert url in lines
    assert "\n\nSecond paragraph." in text


def test_text_lists_and_hard_breaks() -> None:
    source = "1. first item " + "long " * 16 + "\n2. second\n\n- dash\n- more\n\nline  \nbreak"
    text = to_text(source)
    assert text.startswith("1. first item long")
    assert "\n   long" in text  # continuation lines align under the item's text
    assert "\n2. second\n\n- dash\n- more\n\nline\nbreak" in text


def test_text_headings_are_underlined() -> None:
    assert to_text("# Title\n\n## Part") == "Title\n=====\n\nPart\n----"


def test_plain_is_one_line_without_underlines() -> None:
    assert to_plain("# Title\n\nSome *text*\nacross [lines](https://x.example/).") == (
        "Title Some text across lines."
    )
