from __future__ import annotations

import pytest

from newsletter.compose.email_html import (
    compile_mjml,
    email_page,
    inline_css,
    minify,
    web_page,
)
from newsletter.core.errors import ComposeError

MJML = """<mjml lang="en" dir="ltr"><mj-head>
<mj-style inline="inline">.note p { color: #123456; }</mj-style>
<mj-style>@media only screen and (max-width: 479px) {
  .note p { font-size: 20px !important; }
}</mj-style>
</mj-head><mj-body><mj-section><mj-column>
<mj-text css-class="note"><p>Hello</p></mj-text>
</mj-column></mj-section></mj-body></mjml>"""


def test_css_is_inlined_and_media_queries_keep_important() -> None:
    html = inline_css(compile_mjml(MJML))
    assert html.startswith("<!DOCTYPE html>")
    assert "color:#123456" in html.replace(" ", "")
    assert "font-size: 20px !important" in html


def test_no_web_fonts_are_linked() -> None:
    html = compile_mjml(
        MJML.replace(
            "<mj-head>", '<mj-head><mj-attributes><mj-all font-family="Ubuntu"/></mj-attributes>'
        )
    )
    assert "<link" not in html and "googleapis" not in html


def test_images_keep_the_width_mjml_gave_them() -> None:
    source = MJML.replace(
        '<mj-text css-class="note"><p>Hello</p></mj-text>',
        '<mj-image src="https://x.org/a.png" alt="A" width="140px" />',
    )
    html = inline_css(compile_mjml(source))
    assert 'width="140"' in html


def test_invalid_mjml_is_a_compose_error() -> None:
    with pytest.raises(ComposeError, match="MJML"):
        compile_mjml("<mjml><mj-body><mj-section>")


def test_minify_drops_indentation_but_not_preformatted_text() -> None:
    html = "<div>\n    <p>a</p>\n\n\n    <pre>  keep\n    this</pre>\n  </div>"
    assert minify(html) == "<div>\n<p>a</p>\n<pre>  keep\n    this</pre>\n</div>"


def test_a_web_page_gets_a_main_landmark_in_place_of_the_emails_article() -> None:
    html = compile_mjml(MJML)
    assert 'aria-roledescription="email"' in html
    page = web_page(html)
    assert "aria-roledescription" not in page and 'role="article"' not in page
    assert page.count("<main ") == 1 and page.count("</main>") == 1
    # The wrapper's own attributes stay, and the content between is untouched.
    assert '<main lang="en" dir="ltr"' in page
    assert page.replace("</main>", "</div>").count("</div>") == html.count("</div>")
    inner = html[html.index('role="article"') :]
    assert inner[inner.index(">") + 1 : inner.rindex("</div>")] in page
    assert page.rstrip().endswith("</main></body></html>")


def test_an_email_keeps_its_article_inside_a_main_landmark() -> None:
    html = compile_mjml(MJML)
    page = email_page(html)
    assert page.count('<div role="main">') == 1
    main = page[page.index('<div role="main">') :]
    assert main.startswith('<div role="main"><div ') and 'aria-roledescription="email"' in main
    # The article is whole inside it: only the landmark's own two tags were added.
    closing = page.rindex("</div>")
    assert (
        page.replace('<div role="main">', "", 1)[: closing - len('<div role="main">')]
        + page[closing + len("</div>") :]
        == html
    )
    assert page.rstrip().endswith("</div></div></body></html>")


def test_html_without_the_wrapper_is_left_alone() -> None:
    html = "<!DOCTYPE html><html><body><div>Hi</div></body></html>"
    assert web_page(html) == html
    assert email_page(html) == html
