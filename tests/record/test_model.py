"""Record.issue_slug: every issue's web address, readable and distinct for any script;
a chosen one is checked as check_slug says."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

import pytest
from pydantic import ValidationError

from newsletter.core.links import Links
from newsletter.record.model import Record, check_slug

DAY = dt.date(2022, 2, 24)


def slug(title: str, **fields: str) -> str:
    return Record(title=title, date=DAY, organiser="x", summary="y", **fields).issue_slug


def test_a_latin_title_keeps_its_address() -> None:
    assert slug("Genocide and Ethnic cleansing: A Crime against Humanity") == (
        "2022-02-24-genocide-and-ethnic-cleansing-a-crime"
    )
    assert slug("Économie & Straße: İstanbul") == "2022-02-24-economie-strasse-istanbul"
    assert slug("x", slug="my-own-address") == "my-own-address"


def test_two_urdu_issues_on_one_day_get_two_addresses() -> None:
    first = slug("انسانیت کے خلاف جرم")
    second = slug("پاکستان اور آذربائیجان: دوستی کے تیس برس")
    assert first == "2022-02-24-انسانیت-کے-خلاف-جرم"
    assert second == "2022-02-24-پاکستان-اور-آذربائیجان-دوستی-کے-تیس"
    assert first != second


def test_arabic_vowel_marks_and_invisible_characters_do_not_change_the_address() -> None:
    plain = slug("العربية لغة")
    assert slug("الْعَرَبِيَّة لغة") == plain
    assert slug("العربـــية\u200f لغة") == plain
    # Hamza and madda are letters' parts, kept: آذربائیجان stays itself.
    assert slug("آذربائیجان") == "2022-02-24-آذربائیجان"


def test_other_scripts_keep_their_letters_and_marks() -> None:
    assert slug("हिन्दी शीर्षक") == "2022-02-24-हिन्दी-शीर्षक"
    assert slug("日本語のタイトル") == "2022-02-24-日本語のタイトル"


def test_a_title_without_letters_gets_a_stable_hash_of_itself() -> None:
    assert slug("???") == slug("???")
    assert slug("???") != slug("!!!")
    assert slug("???").startswith("2022-02-24-issue-")


def test_the_address_is_percent_encoded_on_the_wire() -> None:
    address = slug("انسانیت کے خلاف جرم")
    url = Links("https://example.org").web(address)
    assert url == f"https://example.org/issues/{quote(address)}/"
    assert url.isascii()


def test_a_long_title_stays_within_the_campaigns_slug_column() -> None:
    assert len(slug(" ".join(["ب" * 60] * 6))) <= 200


def test_every_generated_address_is_one_that_could_be_chosen() -> None:
    titles = [
        "Genocide and Ethnic cleansing: A Crime against Humanity",
        "Économie & Straße: İstanbul",
        "انسانیت کے خلاف جرم",
        "الْعَرَبِيَّة لغة",
        "हिन्दी शीर्षक",
        "日本語のタイトル",
        "???",
        " ".join(["ب" * 60] * 6),
    ]
    for title in titles:
        generated = slug(title)
        assert check_slug(generated) == generated
        assert slug("x", slug=generated) == generated


@pytest.mark.parametrize(
    ("chosen", "problem"),
    [
        ("Water Peace", "not 'W', ' ', 'P': 'water-peace' would do"),
        ("water/peace", "not '/': 'water-peace' would do"),
        ("-water-", "must start and end with a letter or digit"),
        ("water--peace", "with single hyphens between words: 'water-peace' would do"),
        ("a" * 121, "must be at most 120 characters, not 121"),
    ],
)
def test_a_chosen_address_is_refused_saying_why(chosen: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)):
        slug("x", slug=chosen)


def test_a_chosen_address_may_be_in_any_script() -> None:
    assert slug("x", slug="  انسانیت-کا-دن-2024 ") == "انسانیت-کا-دن-2024"
    # One address however it was typed: the compatibility forms are folded.
    assert slug("x", slug="ﬁre-and-water") == "fire-and-water"
