from __future__ import annotations

import datetime as dt

import pytest

from newsletter.compose.formatting import (
    display_width,
    long_date,
    ordinal,
    shorten,
    title_lines,
    underline,
    wrap,
)


def test_long_date_matches_the_seed() -> None:
    assert long_date(dt.date(2022, 2, 24)) == "Thursday, 24th February 2022"


@pytest.mark.parametrize(
    ("day", "expected"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
     (13, "13th"), (21, "21st"), (22, "22nd"), (23, "23rd"), (30, "30th"), (31, "31st")],
)  # fmt: skip
def test_ordinal(day: int, expected: str) -> None:
    assert ordinal(day) == expected


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
