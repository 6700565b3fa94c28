from __future__ import annotations

import pytest

from newsletter.i18n import language
from newsletter.i18n.languages import direction_of, is_language_tag


@pytest.mark.parametrize(
    ("tag", "catalogue", "locale", "direction"),
    [
        ("en", "en", "en", "ltr"),
        ("en-GB", "en", "en_GB", "ltr"),
        ("ur", "ur", "ur", "rtl"),
        ("ur-PK", "ur", "ur_PK", "rtl"),
        ("ur-IN", "ur", "ur_IN", "rtl"),
        ("ar", "ar", "ar", "rtl"),
        ("ar-EG", "ar", "ar_EG", "rtl"),
        # No catalogue: English strings and dates, in the tag's own direction.
        ("fa", "en", "en", "rtl"),
        ("fr", "en", "en", "ltr"),
        # Unknown to Babel: English.
        ("tlh", "en", "en", "ltr"),
    ],
)
def test_a_tag_finds_its_catalogue_locale_and_direction(
    tag: str, catalogue: str, locale: str, direction: str
) -> None:
    lang = language(tag)
    assert (lang.catalogue, str(lang.locale), lang.direction) == (catalogue, locale, direction)


def test_no_tag_is_english() -> None:
    assert language(None).catalogue == "en" and language("").tag == "en"
    assert language(None).gettext("Unsubscribe") == "Unsubscribe"


def test_urdu_and_arabic_translate() -> None:
    assert language("ur").gettext("Unsubscribe") == "ان سبسکرائب کریں"
    assert language("ar-EG").gettext("Unsubscribe") == "إلغاء الاشتراك"


def test_plurals_follow_the_language() -> None:
    singular = "(optional, up to %(shown)s character)"
    plural = "(optional, up to %(shown)s characters)"
    arabic = language("ar")
    # Arabic: 3 to 10 take the plural, 11 to 99 the accusative singular, 100 the genitive.
    assert arabic.ngettext(singular, plural, 5).endswith("أحرف)")
    assert arabic.ngettext(singular, plural, 50).endswith("حرفًا)")
    assert arabic.ngettext(singular, plural, 500).endswith(" حرف)")
    assert language("ur").ngettext(singular, plural, 500).endswith("حروف)")


def test_strings_of_a_language_without_a_catalogue_are_foreign_to_its_layout() -> None:
    persian = language("fa")
    assert persian.direction == "rtl" and persian.text_direction == "ltr"
    assert persian.foreign_strings and persian.text_tag == "en"
    urdu = language("ur-PK")
    assert not urdu.foreign_strings and urdu.text_tag == "ur-PK"
    assert not language("en").foreign_strings


def test_language_tags() -> None:
    assert all(is_language_tag(tag) for tag in ("en", "ur-PK", "zh-Hant-TW", "ckb"))
    assert not any(is_language_tag(tag) for tag in ("", "e", "ur_PK!", "english language"))
    assert direction_of("ur-PK") == "rtl" and direction_of("en") == "ltr"
