"""Small text helpers shared by the HTML, text and print templates."""

from __future__ import annotations

import datetime as dt
import textwrap
import unicodedata

TEXT_WIDTH = 72


def ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    return f"{day}{({1: 'st', 2: 'nd', 3: 'rd'}).get(day % 10, 'th')}"


def long_date(day: dt.date) -> str:
    """The seed's style: "Thursday, 24th February 2022" (English, whatever the locale)."""
    return f"{day:%A}, {ordinal(day.day)} {day:%B %Y}"


def title_lines(title: str) -> list[str]:
    """A title broken after its first colon, as the seed sets "Genocide ...:" / "A Crime ..."."""
    head, colon, tail = title.partition(": ")
    if colon and head and tail.strip():
        return [head + ":", tail.strip()]
    return [title]


def display_width(text: str) -> int:
    """Columns `text` takes in a monospaced font: wide East Asian characters take two."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def underline(text: str, char: str = "-") -> str:
    """`text` over a rule as wide as its widest line."""
    width = max(display_width(line) for line in text.splitlines() or [""])
    return f"{text}\n{char * width}"


def wrap(
    text: str,
    width: int = TEXT_WIDTH,
    *,
    initial_indent: str = "",
    subsequent_indent: str = "",
) -> str:
    """`text` filled to `width`, never splitting a word or a URL."""
    return textwrap.fill(
        " ".join(text.split()),
        width=width,
        initial_indent=initial_indent,
        subsequent_indent=subsequent_indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def shorten(text: str, limit: int) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"
