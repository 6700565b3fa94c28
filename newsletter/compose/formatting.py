"""Small text helpers shared by the HTML, text and print templates.

Dates and numbers are `newsletter.i18n.formats`', written as the issue's language writes them.
"""

from __future__ import annotations

import textwrap
import unicodedata
import urllib.parse

TEXT_WIDTH = 72


def title_lines(title: str) -> list[str]:
    """A title broken after its first colon, as the seed sets "Genocide ...:" / "A Crime ..."."""
    head, colon, tail = title.partition(": ")
    if colon and head and tail.strip():
        return [head + ":", tail.strip()]
    return [title]


# Longest pair of words kept together: on a 375 px phone the title's 23 px line holds about
# 20 characters, and a longer pair would stick out of it.
_LONE_WORD_PAIR = 18


def no_lone_word(line: str) -> str:
    """`line` with a no-break space before its last word, so that a client that cannot
    balance lines (`text-wrap: balance`; most mail clients) never wraps it with one word
    alone at the end. Lines of two words, and pairs too long for a phone, stay as they are."""
    words = line.split(" ")
    if len(words) < 3 or len(words[-2]) + 1 + len(words[-1]) > _LONE_WORD_PAIR:
        return line
    return " ".join(words[:-2]) + f" {words[-2]}\u00a0{words[-1]}"


def display_width(text: str) -> int:
    """Columns `text` takes in a monospaced font: wide East Asian characters take two,
    combining marks and invisible ones (bidi isolates, joiners) none."""
    return sum(
        0
        if unicodedata.combining(ch) or unicodedata.category(ch) == "Cf"
        else 2
        if unicodedata.east_asian_width(ch) in "WF"
        else 1
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


def readable_url(url: str) -> str:
    """`url` as a person reads it: percent-encoded letters decoded (an Urdu issue's address
    shows its Urdu words). Left encoded if decoding brings a space or an invisible or
    control character, which could disguise where the link goes, or is not UTF-8."""
    try:
        decoded = urllib.parse.unquote(url, errors="strict")
    except UnicodeDecodeError:
        return url
    if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in decoded):
        return url
    return decoded
