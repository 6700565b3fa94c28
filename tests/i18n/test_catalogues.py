"""The shipped catalogues: complete, not fuzzy, well-formed, compiled, and in step with the
strings the templates and code hold (README, "Translations", says how to keep them so)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from newsletter.i18n.languages import DOMAIN, LOCALE_DIR, shipped
from tests.conftest import ROOT

LANGUAGES = ("ar", "en", "ur")


def _po(language: str) -> Catalog:
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        return read_po(source, locale=language)


def _ids(catalog: Catalog) -> set[str]:
    return {
        message.id if isinstance(message.id, str) else message.id[0]
        for message in catalog
        if message.id
    }


def test_english_urdu_and_arabic_ship() -> None:
    assert shipped() == LANGUAGES


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_and_none_is_fuzzy(language: str) -> None:
    catalog = _po(language)
    assert not catalog.fuzzy
    untranslated = [message.id for message in catalog if message.id and not message.string]
    fuzzy = [message.id for message in catalog if message.id and message.fuzzy]
    assert untranslated == []
    assert fuzzy == []
    for message in catalog:
        if message.id and not isinstance(message.id, str):
            # Every plural form the language has, each written.
            assert len(message.string) == catalog.num_plurals, message.id
            assert all(message.string), message.id


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_translation_keeps_the_placeholders_it_may_use(language: str) -> None:
    """Babel's own checks: a %(name)s the msgid lacks would fail at render time."""
    problems = [
        (message.id, [str(error) for error in errors])
        for message, errors in _po(language).check()
        if errors
    ]
    assert problems == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogue_is_the_po_file_compiled(language: str) -> None:
    """The .mo files are committed (the wheel carries them); `make catalogues` compiles them."""
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as compiled:
        shipped_mo = read_mo(compiled)
    fresh = io.BytesIO()
    write_mo(fresh, _po(language))
    fresh.seek(0)
    expected = read_mo(fresh)
    assert _messages(shipped_mo) == _messages(expected)


def _messages(catalog: Catalog) -> dict[object, object]:
    def frozen(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {frozen(message.id): frozen(message.string) for message in catalog if message.id}


def test_the_catalogues_hold_every_string_the_code_and_templates_hold() -> None:
    method_map, options_map = parse_mapping_cfg(io.StringIO((ROOT / "babel.cfg").read_text()))
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    extracted = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            ROOT, method_map, options_map, keywords=keywords
        )
    }
    assert extracted
    with (LOCALE_DIR / f"{DOMAIN}.pot").open("rb") as template:
        assert _ids(read_po(template)) == extracted
    for language in LANGUAGES:
        assert _ids(_po(language)) == extracted, language


def test_english_translations_are_the_english_strings() -> None:
    """The source strings are English: its catalogue says them as written, so English
    output is what the templates say."""
    for message in _po("en"):
        if message.id:
            assert message.string == message.id


def test_the_catalogues_sit_in_the_package() -> None:
    assert LOCALE_DIR.is_relative_to(ROOT / "newsletter")
    assert Path(LOCALE_DIR / "newsletter.pot").is_file()
