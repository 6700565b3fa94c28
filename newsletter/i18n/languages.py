"""A language tag (BCP 47, as a record or a list names it) resolved to what speaks it.

The fixed strings' msgids are English. A tag is matched to a shipped catalogue by its
language and region ("ur-PK" finds `ur_PK`, else `ur`); a language without one speaks
English throughout, dates included, so that a page never mixes two languages of ours.
An issue's layout follows the tag: a Persian issue is right to left even while its fixed
strings are English (its HTML then isolates them, see `newsletter.i18n.jinja`, so that
their punctuation stays where English puts it). A public page holds little but our
strings, so it follows their language instead (`text_direction`).
"""

from __future__ import annotations

import gettext
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from babel import Locale, UnknownLocaleError
from babel.support import Translations

from newsletter.i18n import formats

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "newsletter"
SOURCE = "en"

# Primary language subtags written right to left.
RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ku", "ps", "sd", "syr", "ug", "ur", "yi"}
)

_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")

Direction = Literal["ltr", "rtl"]


def N_(message: str) -> str:
    """Marks `message` for extraction (`pybabel extract -k N_`); it is translated later,
    where the language is known."""
    return message


def is_language_tag(tag: str) -> bool:
    """Whether `tag` is shaped like a BCP 47 tag ("en", "ur-PK", "zh-Hant-TW")."""
    return _BCP47.match(tag) is not None


def direction_of(tag: str) -> Direction:
    return "rtl" if tag.split("-")[0].lower() in RTL_LANGUAGES else "ltr"


@lru_cache(maxsize=1)
def shipped() -> tuple[str, ...]:
    """The catalogues in the package, by folder name (`en`, `ur`, `ar`, ...)."""
    return tuple(
        sorted(
            folder.name
            for folder in LOCALE_DIR.iterdir()
            if (folder / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file()
        )
    )


@dataclass(frozen=True)
class Language:
    """What one tag speaks: its catalogue, its locale for dates and numbers, its direction."""

    # As asked, e.g. "ur-PK".
    tag: str
    # The catalogue's folder: "ur_PK", "ur", or "en" when none matches the tag.
    catalogue: str
    # For dates and numbers: the tag's own locale when the catalogue speaks its language.
    locale: Locale
    # An issue's layout's, from the tag.
    direction: Direction
    translations: gettext.NullTranslations

    @property
    def rtl(self) -> bool:
        return self.direction == "rtl"

    @property
    def text_direction(self) -> Direction:
        """The direction of the fixed strings: the catalogue's language's."""
        return "rtl" if self.locale.text_direction == "rtl" else "ltr"

    @property
    def text_tag(self) -> str:
        """The language of the fixed strings as a tag: `tag`, or English when they are."""
        return SOURCE if self.locale.language != self.tag.split("-")[0].lower() else self.tag

    @property
    def foreign_strings(self) -> bool:
        """Whether the fixed strings run against the layout (English in a Persian issue)."""
        return self.text_direction != self.direction

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def long_date(self, day: formats.Day) -> str:
        return formats.long_date(day, self.locale)

    def number(self, value: int) -> str:
        return formats.number(value, self.locale)

    def digits(self, text: str) -> str:
        """`text` with its Western digits written as the locale writes digits."""
        return formats.localise_digits(text, self.locale)

    def listing(self, items: list[str]) -> str:
        return formats.listing(items, self.locale)


@lru_cache(maxsize=64)
def language(tag: str | None = None) -> Language:
    """The language for `tag` (None or "" means English). Never fails: a tag Babel does
    not know speaks English."""
    tag = (tag or SOURCE).strip() or SOURCE
    catalogue = _catalogue_for(tag)
    locale = _locale_for(tag, catalogue)
    return Language(
        tag=tag,
        catalogue=catalogue,
        locale=locale,
        direction=direction_of(tag),
        translations=_translations(catalogue),
    )


def _catalogue_for(tag: str) -> str:
    parts = tag.replace("_", "-").split("-")
    primary = parts[0].lower()
    regions = [part.upper() for part in parts[1:] if len(part) == 2 or part.isdigit()]
    available = shipped()
    for candidate in [f"{primary}_{region}" for region in regions[:1]] + [primary]:
        if candidate in available:
            return candidate
    return SOURCE


def _locale_for(tag: str, catalogue: str) -> Locale:
    fallback = Locale.parse(catalogue)
    try:
        locale = Locale.parse(tag.replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError):
        return fallback
    # Dates in the catalogue's language, with the tag's regional forms (digits) if it has them.
    return locale if locale.language == fallback.language else fallback


@lru_cache(maxsize=16)
def _translations(catalogue: str) -> Translations:
    path = LOCALE_DIR / catalogue / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with path.open("rb") as compiled:
        return Translations(compiled, domain=DOMAIN)
