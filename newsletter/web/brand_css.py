"""The brand settings as CSS custom properties, served as `/brand.css`.

A stylesheet of its own rather than an inline <style>, so the pages' CSP can stay
`style-src 'self'`. Values come from the settings, but are still checked: a stray `;` or
`}` in an environment variable must not be able to add rules.
"""

from __future__ import annotations

import re

from newsletter.core.settings import Brand

_COLOUR = re.compile(r"#[0-9A-Fa-f]{3,8}|[A-Za-z]{3,30}|rgba?\([0-9., %]{5,40}\)")
_FONT = re.compile(r"[A-Za-z0-9 ,'\"-]{1,200}")
_FALLBACK = Brand()


def brand_css(brand: Brand) -> str:
    def colour(value: str, fallback: str) -> str:
        return value if _COLOUR.fullmatch(value.strip()) else fallback

    def font(value: str, fallback: str) -> str:
        return value if _FONT.fullmatch(value.strip()) else fallback

    default = _FALLBACK
    heading = font(brand.heading_font_family, default.heading_font_family)
    return (
        ":root {\n"
        f"  --brand-primary: {colour(brand.primary_colour, _FALLBACK.primary_colour)};\n"
        f"  --brand-accent: {colour(brand.accent_colour, _FALLBACK.accent_colour)};\n"
        f"  --brand-text: {colour(brand.text_colour, _FALLBACK.text_colour)};\n"
        f"  --brand-background: {colour(brand.background_colour, _FALLBACK.background_colour)};\n"
        f"  --brand-font: {font(brand.font_family, _FALLBACK.font_family)};\n"
        f"  --brand-heading-font: {heading};\n"
        "}\n"
    )
