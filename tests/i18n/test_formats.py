from __future__ import annotations

import datetime as dt

import pytest
from babel import Locale

from newsletter.i18n.formats import (
    css_counter_style,
    english_long_date,
    listing,
    localise_digits,
    long_date,
    number,
    ordinal,
)

SEED_DAY = dt.date(2022, 2, 24)


def test_long_date_matches_the_seed() -> None:
    assert english_long_date(SEED_DAY) == "Thursday, 24th February 2022"
    assert long_date(SEED_DAY, Locale("en")) == "Thursday, 24th February 2022"
    assert long_date(SEED_DAY, Locale.parse("en_GB")) == "Thursday, 24th February 2022"


@pytest.mark.parametrize(
    ("day", "expected"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
     (13, "13th"), (21, "21st"), (22, "22nd"), (23, "23rd"), (30, "30th"), (31, "31st")],
)  # fmt: skip
def test_ordinal(day: int, expected: str) -> None:
    assert ordinal(day) == expected


def test_urdu_dates_name_the_urdu_day_and_month_with_western_digits() -> None:
    # CLDR (through Babel): Urdu in Pakistan writes Western digits.
    assert long_date(SEED_DAY, Locale("ur")) == "جمعرات، 24 فروری، 2022"
    assert long_date(SEED_DAY, Locale.parse("ur_PK")) == "جمعرات، 24 فروری، 2022"


def test_urdu_in_india_writes_extended_arabic_indic_digits() -> None:
    assert long_date(SEED_DAY, Locale.parse("ur_IN")) == "جمعرات، ۲۴ فروری، ۲۰۲۲"
    assert number(1234, Locale.parse("ur_IN")) == "۱٬۲۳۴"


def test_arabic_dates_and_the_digits_each_region_writes() -> None:
    # CLDR's `ar` (Babel's default for it) writes Western digits; Egypt and Saudi Arabia
    # write Arabic-Indic ones.
    assert long_date(SEED_DAY, Locale("ar")) == "الخميس، 24 فبراير 2022"
    assert long_date(SEED_DAY, Locale.parse("ar_EG")) == "الخميس، ٢٤ فبراير ٢٠٢٢"
    assert number(1234, Locale("ar")) == "1,234"
    assert number(1234, Locale.parse("ar_SA")) == "١٬٢٣٤"


def test_digits_follow_the_locales_numbering_system() -> None:
    assert localise_digits("13. ", Locale("ur")) == "13. "
    assert localise_digits("13. ", Locale.parse("ar_EG")) == "١٣. "
    assert localise_digits("13. ", Locale.parse("ur_IN")) == "۱۳. "
    assert localise_digits("2022", Locale("en")) == "2022"


def test_lists_are_joined_as_the_locale_joins_them() -> None:
    assert listing(["A", "B", "C"], Locale("en")) == "A, B, C"  # the seed's commas
    assert listing(["الف", "ب", "ج"], Locale("ur")) == "الف، ب، اور ج"
    assert listing(["أ", "ب"], Locale("ar")) == "أ وب"
    assert listing([], Locale("ur")) == ""


def test_css_counter_styles_write_the_same_digits() -> None:
    assert css_counter_style(Locale("en")) is None
    assert css_counter_style(Locale("ur")) is None
    assert css_counter_style(Locale.parse("ar_EG")) == "arabic-indic"
    assert css_counter_style(Locale.parse("ur_IN")) == "persian"
