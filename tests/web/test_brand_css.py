from __future__ import annotations

from newsletter.core.settings import Brand
from newsletter.web.brand_css import brand_css


def test_the_brand_becomes_custom_properties() -> None:
    css = brand_css(Brand(primary_colour="#0b5d3b", accent_colour="rgb(200, 161, 58)"))
    assert "--brand-primary: #0b5d3b;" in css
    assert "--brand-accent: rgb(200, 161, 58);" in css
    assert "--brand-heading-font: Helvetica, Arial, sans-serif;" in css


def test_values_that_could_add_rules_fall_back_to_the_defaults() -> None:
    hostile = Brand(
        primary_colour="red; } body { display: none",
        text_colour="#fff</style>",
        font_family="x; } * { background: url(https://evil.example/)",
    )
    css = brand_css(hostile)
    default = Brand()
    assert f"--brand-primary: {default.primary_colour};" in css
    assert f"--brand-text: {default.text_colour};" in css
    assert f"--brand-font: {default.font_family};" in css
    assert css.count("{") == css.count("}") == 1
    assert "evil" not in css and "display" not in css
