from __future__ import annotations

from newsletter.i18n.fonts import NASKH, NASTALIQ, font_stack, script_fonts, script_of, tall


def test_scripts_come_from_the_tag_or_from_cldrs_likely_subtags() -> None:
    assert script_of("ur") == "Arab" and script_of("fa") == "Arab"
    assert script_of("ur-Latn") == "Latn"
    assert script_of("en") == "Latn"


def test_urdu_is_set_in_nastaliq_and_other_arabic_script_languages_in_naskh() -> None:
    assert script_fonts("ur") == NASTALIQ and script_fonts("ur-PK") == NASTALIQ
    assert script_fonts("ar") == NASKH and script_fonts("fa") == NASKH
    assert script_fonts("en") == () and script_fonts("he") == ()
    assert NASTALIQ[0] == "Noto Nastaliq Urdu" and NASKH[0] == "Noto Naskh Arabic"
    assert tall("ur") and not tall("ar") and not tall("en")


def test_the_brands_fonts_follow_the_scripts_faces() -> None:
    base = "Georgia, 'Times New Roman', serif"
    assert font_stack("en", base) == base
    stack = font_stack("ur", base)
    assert stack.startswith("'Noto Nastaliq Urdu', 'Jameel Noori Nastaleeq', 'Urdu Typesetting'")
    assert stack.endswith(", " + base)
    assert font_stack("ar", base).startswith("'Noto Naskh Arabic', 'Geeza Pro'")
