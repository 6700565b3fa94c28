"""Templates that speak a language: translated strings, escaping, and bidi isolation."""

from __future__ import annotations

import datetime as dt

from jinja2 import Environment

from newsletter.i18n import jinja, language
from newsletter.i18n.bidi import FSI, LRI, PDI


def _env(tag: str, *, autoescape: bool, isolate_strings: bool = False) -> Environment:
    env = Environment(autoescape=autoescape)
    jinja.install(env, language(tag), isolate_strings=isolate_strings)
    return env


def test_strings_are_translated_and_values_escaped_in_html() -> None:
    env = _env("ur", autoescape=True)
    page = env.from_string(
        "{% trans email=email %}Choose the newsletters <strong>{{ email }}</strong> receives."
        "{% endtrans %}"
    ).render(email="<a@example.org>")
    assert page == (
        "منتخب کریں کہ <strong>&lt;a@example.org&gt;</strong> پر کون سے نیوز لیٹر آئیں۔"
    )


def test_left_to_right_output_is_left_as_it_was() -> None:
    html = _env("en", autoescape=True)
    assert html.from_string("{{ name|isolate }}").render(name="A & B") == "A &amp; B"
    text = _env("en", autoescape=False)
    assert (
        text.from_string("{{ name|isolate }}|{{ items|listing }}").render(
            name="A & B", items=["x", "y"]
        )
        == "A & B|x, y"
    )


def test_right_to_left_html_isolates_values_with_dir_auto() -> None:
    env = _env("ur", autoescape=True)
    assert env.from_string("{{ name|isolate }}").render(name="A & B") == (
        '<span dir="auto">A &amp; B</span>'
    )
    joined = env.from_string("{{ items|listing }}").render(items=["<x>", "y"])
    assert joined == '<span dir="auto">&lt;x&gt;</span> اور <span dir="auto">y</span>'


def test_right_to_left_text_isolates_values_with_unicode_isolates() -> None:
    env = _env("ar", autoescape=False)
    rendered = env.from_string('{{ _("Organised by %(organiser)s", organiser=o|isolate) }}')
    assert rendered.render(o="MUSLIM Institute") == f"تنظيم: {FSI}MUSLIM Institute{PDI}"


def test_english_strings_in_a_right_to_left_issues_html_are_isolated() -> None:
    html = _env("fa", autoescape=True, isolate_strings=True)
    assert html.from_string('{{ _("Follow Us") }}').render() == f"{LRI}Follow Us{PDI}"
    # Not in plain text, and not where the strings are the layout's own language.
    text = _env("fa", autoescape=False)
    assert text.from_string('{{ _("Follow Us") }}').render() == "Follow Us"
    urdu = _env("ur", autoescape=True, isolate_strings=True)
    assert urdu.from_string('{{ _("Follow Us") }}').render() == "ہمیں فالو کریں"


def test_dates_and_numbers_are_written_as_the_locale_writes_them() -> None:
    env = _env("ar-EG", autoescape=False)
    day = dt.date(2022, 2, 24)
    assert (
        env.from_string("{{ d|long_date }} {{ n|number }} {{ '7.'|digits }}").render(d=day, n=500)
        == "الخميس، ٢٤ فبراير ٢٠٢٢ ٥٠٠ ٧."
    )
