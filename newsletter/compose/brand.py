"""Brand settings checked before they reach CSS, where escaping cannot protect them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup

from newsletter.core.errors import ComposeError
from newsletter.core.settings import Brand

_COLOUR = re.compile(r"#[0-9A-Fa-f]{3,8}|[A-Za-z]+|rgba?\([0-9\s.,%]+\)")
_FONTS = re.compile(r"[\w\s,.'\"-]+")


@dataclass(frozen=True)
class BrandStyle:
    """CSS values from `Brand`, safe to write into a <style> block or a style attribute."""

    primary_colour: Markup
    accent_colour: Markup
    text_colour: Markup
    background_colour: Markup
    font_family: Markup
    heading_font_family: Markup


def brand_style(brand: Brand) -> BrandStyle:
    def colour(name: str) -> Markup:
        value = str(getattr(brand, name)).strip()
        if not _COLOUR.fullmatch(value):
            raise ComposeError(f"brand.{name}: {value!r} is not a CSS colour such as #0b5d3b")
        return Markup(value)

    def fonts(name: str) -> Markup:
        value = str(getattr(brand, name)).strip()
        if not _FONTS.fullmatch(value):
            example = "Georgia, 'Times New Roman', serif"
            raise ComposeError(f"brand.{name}: {value!r} is not a font list such as {example}")
        # Single quotes survive both double-quoted attributes and <style> unescaped.
        return Markup(value.replace('"', "'"))

    return BrandStyle(
        primary_colour=colour("primary_colour"),
        accent_colour=colour("accent_colour"),
        text_colour=colour("text_colour"),
        background_colour=colour("background_colour"),
        font_family=fonts("font_family"),
        heading_font_family=fonts("heading_font_family"),
    )
