from __future__ import annotations

from newsletter.compose.formatting import (
    display_width,
    no_lone_word,
    readable_url,
    shorten,
    title_lines,
    underline,
    wrap,
)


def test_title_breaks_after_the_first_colon_only() -> None:
    assert title_lines("Genocide: A Crime: Again") == ["Genocide:", "A Crime: Again"]
    assert title_lines("No colon here") == ["No colon here"]
    assert title_lines("Time 10:30") == ["Time 10:30"]


def test_underline_matches_the_widest_line_in_columns() -> None:
    assert underline("ab\nabcd", "=") == "ab\nabcd\n===="
    assert display_width("日本") == 4
    assert underline("日本") == "日本\n----"


def test_wrap_never_splits_words_or_urls() -> None:
    url = "https://example.org/" + "a" * 90
    wrapped = wrap(f"see {url} now", 72)
    assert wrapped.split("\n") == ["see", url, "now"]


def test_shorten_cuts_at_a_word() -> None:
    assert shorten("one two three", 100) == "one two three"
    assert shorten("alpha beta gamma delta", 15) == "alpha beta…"


def test_invisible_characters_take_no_column() -> None:
    # Bidi isolates around a name in a right-to-left text part.
    assert display_width("\u2068ab\u2069") == 2
    assert underline("\u2066Follow Us\u2069", "=") == "\u2066Follow Us\u2069\n========="


def test_readable_url_decodes_letters_but_never_what_could_disguise_a_link() -> None:
    assert (
        readable_url("https://x.org/issues/2022-%D8%A7%D9%86/") == "https://x.org/issues/2022-ان/"
    )
    assert readable_url("https://x.org/plain/") == "https://x.org/plain/"
    for disguised in ("https://x.org/%0Aa", "https://x.org/%E2%80%AEa", "https://x.org/%20a"):
        assert readable_url(disguised) == disguised
    assert readable_url("https://x.org/%FF") == "https://x.org/%FF"


def test_a_title_line_keeps_its_last_two_words_together() -> None:
    assert no_lone_word("Genocide and Ethnic cleansing:") == "Genocide and Ethnic\u00a0cleansing:"
    assert no_lone_word("A Crime against Humanity") == "A Crime against\u00a0Humanity"
    # Two words may still wrap; a pair too wide for a phone's line is left free to.
    assert no_lone_word("Ethnic cleansing") == "Ethnic cleansing"
    assert no_lone_word("On internationalisation responsibilities") == (
        "On internationalisation responsibilities"
    )
