from __future__ import annotations

from newsletter.issue.model import placeholder
from newsletter.mail.placeholders import Substituter, personalize_html, personalize_text


def test_substituter_splits_once_and_fills_every_occurrence() -> None:
    source = f"a{placeholder('name')}b{placeholder('email')}c{placeholder('name')}"
    compiled = Substituter(source)
    assert compiled.literals == ("a", "b", "c", "")
    assert compiled.names == ("name", "email", "name")
    assert compiled.fill({"name": "N", "email": "E"}) == "aNbEcN"


def test_substituter_without_placeholders_is_constant() -> None:
    compiled = Substituter("no fields here, __NL_UNKNOWN__ included")
    assert compiled.is_constant
    assert compiled.fill({}) == "no fields here, __NL_UNKNOWN__ included"


def test_html_gets_escaped_values_and_text_raw_values() -> None:
    fields = {"name": '<script>"x" & y</script>'}
    source = f'<p title="{placeholder("name")}">{placeholder("name")}</p>'
    assert personalize_html(source, fields) == (
        '<p title="&lt;script&gt;&quot;x&quot; &amp; y&lt;/script&gt;">'
        "&lt;script&gt;&quot;x&quot; &amp; y&lt;/script&gt;</p>"
    )
    assert personalize_text(f"Hi {placeholder('name')}", fields) == 'Hi <script>"x" & y</script>'


def test_a_literal_keeps_placeholders_as_written() -> None:
    # Text whose values are in already, a visitor's note among them, is not filled again.
    compiled = Substituter.literal(f"a note: {placeholder('email')}")
    assert compiled.is_constant
    assert compiled.fill({"email": "ana@example.org"}) == f"a note: {placeholder('email')}"
