"""Fonts for the scripts the brand's fonts may not cover, named before the brand's own.

A brand's Latin fonts (Georgia, Helvetica) have no Arabic letters, and some that do
(Times New Roman, Arial) set Urdu in Naskh, which Urdu readers find foreign: Urdu is
written in Nastaliq. So an Arabic-script issue names a face made for its script first,
then the brand's fonts, which still set the Latin words (the script faces cover few).
Noto's faces are free and embedded in the PDF (Debian's fonts-noto-core, installed by
scripts/system-deps); the others are what Windows, macOS and Android readers have.
"""

from __future__ import annotations

from babel.core import get_global

NASTALIQ = (
    "Noto Nastaliq Urdu",
    "Jameel Noori Nastaleeq",
    "Urdu Typesetting",
    "Noto Naskh Arabic",
)
NASKH = (
    "Noto Naskh Arabic",
    "Geeza Pro",
    "Arabic Typesetting",
    "Traditional Arabic",
)
_NASTALIQ_LANGUAGES = frozenset({"ur"})


def script_of(tag: str) -> str | None:
    """The script a language tag is written in ("Arab" for ur, ar, fa, ...), if known."""
    parts = tag.replace("_", "-").split("-")
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            return part.title()
    likely: str | None = get_global("likely_subtags").get(parts[0].lower())
    if likely is None:
        return None
    found = [part for part in likely.split("_")[1:] if len(part) == 4]
    return found[0] if found else None


def script_fonts(tag: str) -> tuple[str, ...]:
    """The faces to name before the brand's for text in `tag`; none for Latin scripts."""
    if script_of(tag) != "Arab":
        return ()
    return NASTALIQ if tag.split("-")[0].lower() in _NASTALIQ_LANGUAGES else NASKH


def tall(tag: str) -> bool:
    """Whether the script's letters climb and descend far more than Latin ones (Nastaliq),
    so that lines set for Latin collide."""
    return script_fonts(tag) is NASTALIQ


def font_stack(tag: str, base: str) -> str:
    """`base` (a CSS font list) with the script's faces before it, quoted in single quotes."""
    faces = script_fonts(tag)
    if not faces:
        return base
    return ", ".join([*(f"'{face}'" for face in faces), base])
