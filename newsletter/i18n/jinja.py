"""A Jinja environment made to speak one language: Jinja's i18n extension with the
language's catalogue, and filters for its dates, numbers, lists and bidi isolation.

Templates write fixed strings as `_("…", name=value)` or `{% trans %}…{% endtrans %}`
(new-style gettext: values are escaped in HTML and always %-formatted, so a literal
percent sign is written %%). Whitespace inside `{% trans %}` is collapsed, as
`pybabel extract` collapses it (babel.cfg: trimmed, newstyle_gettext).

Filters:
- `long_date`, `number`, `digits`: as the locale writes them (see newsletter.i18n.formats);
- `isolate`: a value of either direction (a name, an address) isolated from the text
  around it (HTML or Unicode isolates, as the template escapes or not), in a
  right-to-left layout only, so that left-to-right output stays as it was;
- `listing`: items joined as the locale joins a list, each isolated the same way.

An HTML template whose fixed strings run against its layout (English strings in a Persian
issue: `isolate_strings`) gets each string isolated left to right, so that ":Brief summary"
does not happen. Not in plain text, whose lines a reader's program sets in the direction
of their first letter anyway, and where an isolate would stick to a URL at a line's end.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jinja2 import Environment, pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup, escape

from newsletter.i18n import bidi
from newsletter.i18n.languages import Language


def install(env: Environment, lang: Language, *, isolate_strings: bool = False) -> None:
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    strings = _Isolated(lang) if isolate_strings and lang.foreign_strings else lang
    env.install_gettext_translations(strings, newstyle=True)  # type: ignore[attr-defined]

    def isolated(value: Any, html: bool) -> Any:
        if not lang.rtl:
            return escape(value) if html else value
        return bidi.isolate_html(value) if html else bidi.isolate_text(value)

    @pass_eval_context
    def isolate(eval_ctx: EvalContext, value: Any) -> Any:
        return isolated(value, eval_ctx.autoescape)

    @pass_eval_context
    def listing(eval_ctx: EvalContext, items: Iterable[Any]) -> str:
        html = eval_ctx.autoescape
        joined = lang.listing([str(isolated(item, html)) for item in items])
        # Each item is escaped already, and CLDR's list patterns hold no markup.
        return Markup(joined) if html else joined

    env.filters.update(
        long_date=lang.long_date,
        number=lang.number,
        digits=lang.digits,
        isolate=isolate,
        listing=listing,
    )


class _Isolated:
    """The language's strings, each isolated left to right (they are English)."""

    def __init__(self, lang: Language) -> None:
        self._lang = lang

    def gettext(self, message: str) -> str:
        return bidi.ltr_text(self._lang.gettext(message))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return bidi.ltr_text(self._lang.ngettext(singular, plural, n))
