"""Issues in Urdu and Arabic: every fixed string from the catalogue, dates and digits as
the language writes them, fonts for the script, bidi isolation; English unchanged."""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Any

import pytest

from newsletter.core.settings import Brand
from newsletter.i18n.bidi import FSI, LRI, PDI
from newsletter.issue.model import Issue
from newsletter.record.model import Record, Speaker
from tests.compose.helpers import compose, make_record
from tests.i18n.helpers import NOT_TEXT, english_fixed_strings, english_left, visible

URDU_BRAND = Brand(name="مسلم انسٹیٹیوٹ", postal_address="اسلام آباد، پاکستان")
ARABIC_BRAND = Brand(name="معهد مسلم", postal_address="إسلام آباد، باكستان")


def urdu_record(**overrides: Any) -> Record:
    fields: dict[str, Any] = {
        "title": "پانی اور امن: دریاؤں کی تقسیم",
        "date": dt.date(2022, 2, 24),
        "organiser": "مسلم انسٹیٹیوٹ",
        "partners": ["جامعہ پنجاب", "قائداعظم یونیورسٹی"],
        "venue": "اسلام آباد",
        "language": "ur",
        "summary": "دریاؤں کی *مشترکہ* تقسیم پر ایک سیمینار منعقد ہوا۔",
        "speakers": [
            Speaker(
                name="آمنہ خان",
                honorific="ڈاکٹر",
                position="پروفیسر آبیات",
                role="کلیدی خطاب",
                photo="photos/amina.png",
                remarks="دریا لوگوں کو **جوڑتے** ہیں۔",
            )
        ],
        "recommendations": ["دریاؤں کے بہاؤ کے اعداد و شمار کا تبادلہ کیا جائے۔"],
    }
    fields.update(overrides)
    return Record(**fields)


def arabic_record(**overrides: Any) -> Record:
    fields: dict[str, Any] = {
        "title": "الماء والسلام: تقاسم الأنهار",
        "date": dt.date(2022, 2, 24),
        "organiser": "معهد مسلم",
        "partners": ["جامعة القاهرة"],
        "venue": "القاهرة",
        "language": "ar",
        "summary": "عُقدت ندوة حول تقاسم *الأنهار* المشتركة.",
        "speakers": [
            Speaker(
                name="أمينة خان",
                honorific="د.",
                position="أستاذة علم المياه",
                role="الكلمة الرئيسية",
                photo="photos/amina.png",
                remarks="الأنهار **تصل** بين الناس.",
            )
        ],
        "recommendations": ["تبادل بيانات تدفق الأنهار."],
    }
    fields.update(overrides)
    return Record(**fields)


@lru_cache(maxsize=8)
def _issue(which: str) -> Issue:
    if which == "ur":
        return compose(urdu_record(), brand=URDU_BRAND)
    if which == "ar":
        return compose(arabic_record(), brand=ARABIC_BRAND)
    if which == "ar-EG":
        return compose(arabic_record(language="ar-EG"), brand=ARABIC_BRAND)
    raise AssertionError(which)


def _visible(issue: Issue) -> dict[str, str]:
    """What a reader sees of each rendering: the HTML's text, the text part without URLs."""
    return {
        "html": visible(issue.html),
        "web": visible(issue.web_html),
        "print": visible(issue.print_html),
        "text": issue.text,
        "subject": issue.subject,
    }


@pytest.mark.parametrize("which", ["ur", "ar"])
def test_an_issue_in_urdu_or_arabic_has_no_english_fixed_string(which: str) -> None:
    strings = english_fixed_strings()
    assert "Remarks by the Speakers" in strings and "Organised by" in strings
    for part, seen in _visible(_issue(which)).items():
        seen = NOT_TEXT.sub(" ", seen)
        assert english_left(seen) == [], f"{which} {part}"
        # Nothing Latin is left at all: the record and brand are in the issue's language.
        assert re.findall(r"[A-Za-z]+", seen) == [], f"{which} {part}"


def test_urdu_fixed_strings_and_dates() -> None:
    issue = _issue("ur")
    html, text = visible(issue.html), issue.text
    for seen in (html, text, visible(issue.print_html)):
        assert "مقررین کا اظہارِ خیال" in seen
        assert "مقررین کے اظہارِ خیال کا مختصر خلاصہ درج ذیل ہے:" in seen
        # Urdu day and month names, Western digits as CLDR writes Urdu in Pakistan.
        assert "جمعرات، 24 فروری، 2022" in seen
    assert "سیمینار بعنوان" in html and "سیمینار بعنوان" in text
    assert "ان سبسکرائب کریں" in html and "ویب ورژن" in html and "دوست کو بھیجیں" in html
    assert "© 2022۔ جملہ حقوق محفوظ ہیں۔" in html
    # The default kind is in Urdu in the subject too.
    assert issue.subject == "سیمینار: پانی اور امن: دریاؤں کی تقسیم"


def test_arabic_fixed_strings_dates_and_the_regions_digits() -> None:
    issue = _issue("ar")
    html = visible(issue.html)
    assert "ندوة حول" in html and "كلمات المتحدثين" in html and "تابعونا" not in html
    assert "الخميس، 24 فبراير 2022" in html
    egyptian = _issue("ar-EG")
    for seen in (visible(egyptian.html), egyptian.text, visible(egyptian.print_html)):
        assert "الخميس، ٢٤ فبراير ٢٠٢٢" in seen
        assert "© ٢٠٢٢. جميع الحقوق محفوظة." in seen
    # The text part numbers the recommendations in the same digits, the HTML list too.
    assert "\n١. تبادل بيانات" in egyptian.text
    assert "list-style-type:arabic-indic" in egyptian.html.replace(" ", "")


def test_the_partners_are_listed_as_the_language_lists_them() -> None:
    html = visible(_issue("ur").html)
    assert "زیرِ اہتمام: مسلم انسٹیٹیوٹ، بہ اشتراک جامعہ پنجاب اور قائداعظم یونیورسٹی" in html


def test_latin_names_in_a_right_to_left_sentence_are_isolated() -> None:
    issue = compose(urdu_record(organiser="MUSLIM Institute", partners=[]), brand=URDU_BRAND)
    assert f"زیرِ اہتمام: {FSI}MUSLIM Institute{PDI}" in issue.text
    assert 'زیرِ اہتمام: <span dir="auto">MUSLIM Institute</span>' in issue.html
    # The recipient's address too, where personalising puts it.
    assert f"{FSI}__NL_EMAIL__{PDI}" in issue.text
    assert '<span dir="auto">__NL_EMAIL__</span>' in issue.html


def test_social_links_in_a_right_to_left_issue_each_keep_their_direction() -> None:
    # Networks without an icon, so that they are text links.
    record = urdu_record(
        social={"mastodon": "https://mastodon.social/@t", "bluesky": "https://bsky.app/t"}
    )
    html = compose(record, brand=URDU_BRAND).html
    assert '<span dir="auto">Mastodon</span></a>\xa0 <a' in html
    assert '<span dir="auto">Bluesky</span></a>' in html


def test_arabic_script_fonts_come_before_the_brands() -> None:
    urdu = _issue("ur").html
    assert "font-family:'Noto Nastaliq Urdu', 'Jameel Noori Nastaleeq', 'Urdu Typesetting'" in urdu
    assert "Georgia, 'Times New Roman', serif" in urdu
    assert "font-family:'Noto Naskh Arabic'" in _issue("ar").html
    assert "Noto" not in compose().html


def test_a_right_to_left_language_without_a_catalogue_isolates_the_english_strings() -> None:
    """Persian has no catalogue: its issue is right to left with English strings, which
    are isolated in the HTML so that ":Brief summary ..." cannot happen; the text part's
    lines take their direction from their first letter, so it needs no isolates there."""
    issue = compose(make_record(language="fa", title="آب و صلح"))
    assert issue.direction == "rtl"
    assert f"{LRI}Brief summary of remarks shared by speakers is as follows:{PDI}" in issue.html
    assert f"{LRI}© 2023. All rights reserved.{PDI}" in issue.html
    assert "\nBrief summary of remarks shared by speakers is as follows:\n" in issue.text
    assert f"\n{LRI}View online" not in issue.text


def test_english_has_no_isolates_and_no_script_fonts() -> None:
    issue = compose(make_record(venue="Islamabad", partners=["Embassy A", "Embassy B"]))
    for rendered in (issue.html, issue.text, issue.web_html, issue.print_html):
        assert not re.search("[\u2066-\u2069]", rendered)
        assert 'dir="auto"' not in rendered
    assert "Organised by Test Institute with Embassy A, Embassy B" in visible(issue.html)
    assert "Tuesday, 21st March 2023, Islamabad" in issue.text
