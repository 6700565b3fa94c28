"""Dates, numbers and lists as a locale writes them, with Babel.

English keeps the seed's style ("Thursday, 24th February 2022", partners joined by
commas). Other locales get CLDR's full date ("جمعرات، 24 فروری، 2022") and list patterns.
Babel formats with Western digits whatever the locale; the digits are then written in
the locale's default numbering system (CLDR's, through Babel): Western for `ur` and `ar`,
Extended Arabic-Indic for `ur-IN`, Arabic-Indic for `ar-EG` and `ar-SA`.
"""

from __future__ import annotations

import datetime as dt

from babel import Locale
from babel.dates import format_date
from babel.lists import format_list
from babel.numbers import UnsupportedNumberingSystemError, format_decimal

Day = dt.date

# The digit zero of each numbering system a locale may default to; the other nine follow
# it in Unicode. Systems not listed (and "latn") keep Western digits.
_ZEROS = {
    "arab": "\u0660",
    "arabext": "\u06f0",
    "beng": "\u09e6",
    "deva": "\u0966",
    "mymr": "\u1040",
}
_WESTERN = "0123456789"


def ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    return f"{day}{({1: 'st', 2: 'nd', 3: 'rd'}).get(day % 10, 'th')}"


def english_long_date(day: Day) -> str:
    """The seed's style: "Thursday, 24th February 2022"."""
    return f"{day:%A}, {ordinal(day.day)} {day:%B %Y}"


def long_date(day: Day, locale: Locale) -> str:
    if locale.language == "en":
        return english_long_date(day)
    return localise_digits(format_date(day, "full", locale=locale), locale)


def number(value: int, locale: Locale) -> str:
    """`value` with the locale's grouping and digits ("1,234"; "١٬٢٣٤" in ar-EG)."""
    try:
        formatted = format_decimal(value, locale=locale, numbering_system="default")
    except UnsupportedNumberingSystemError:
        formatted = format_decimal(value, locale=locale)
    return localise_digits(formatted, locale)


def localise_digits(text: str, locale: Locale) -> str:
    zero = _ZEROS.get(locale.default_numbering_system)
    if zero is None:
        return text
    digits = "".join(chr(ord(zero) + offset) for offset in range(10))
    return text.translate(str.maketrans(_WESTERN, digits))


def listing(items: list[str], locale: Locale) -> str:
    if locale.language == "en" or not items:
        return ", ".join(items)
    return format_list(items, locale=locale)


# CSS counter styles for the numbering systems that have one (list numbers, page numbers).
_COUNTER_STYLES = {
    "arab": "arabic-indic",
    "arabext": "persian",
    "beng": "bengali",
    "deva": "devanagari",
}


def css_counter_style(locale: Locale) -> str | None:
    """The CSS counter style that writes the locale's digits; None for Western digits."""
    return _COUNTER_STYLES.get(locale.default_numbering_system)
