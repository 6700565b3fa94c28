"""Filling an issue's placeholders (`newsletter.issue.model.placeholder`) with values.

Everything that writes a recipient's copy goes through `Substituter`: the MIME template
(newsletter.mail.mime), the HTTP transports, which hand the provider the issue with its
placeholders in their own syntax, and the web side's forwards and previews. In HTML a value
goes in escaped (`html_values`), in text and subject as it is. A merge field's name is its
placeholder (newsletter.issue.merge_fields); `personalize_html` and `personalize_text` give
one the values do not hold its fallback.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from newsletter.issue import merge_fields
from newsletter.issue.model import PERSONAL_FIELDS, placeholder

_FIELD_BY_PLACEHOLDER = {placeholder(name): name for name in PERSONAL_FIELDS}
# A capturing group makes re.split keep the placeholders between the literal parts.
_PLACEHOLDERS = re.compile(
    "(" + "|".join([*map(re.escape, _FIELD_BY_PLACEHOLDER), merge_fields.PATTERN.pattern]) + ")"
)


def html_values(fields: Mapping[str, str]) -> dict[str, str]:
    """The fields as they must appear in HTML text and attribute values."""
    return {name: html.escape(value, quote=True) for name, value in fields.items()}


class Substituter:
    """A string split once at its placeholders, so filling it in is a single join.

    `literals` has one more element than `names`: literals[0], value of names[0],
    literals[1], ... literals[-1].
    """

    __slots__ = ("literals", "names")

    def __init__(self, source: str) -> None:
        parts = _PLACEHOLDERS.split(source)
        self.literals: tuple[str, ...] = tuple(parts[0::2])
        self.names: tuple[str, ...] = tuple(_FIELD_BY_PLACEHOLDER.get(p, p) for p in parts[1::2])

    @classmethod
    def literal(cls, source: str) -> Substituter:
        """`source` taken as it is, placeholder syntax included: for text that has had its
        values filled in already and may now hold what a visitor typed."""
        constant = cls("")
        constant.literals = (source,)
        return constant

    @property
    def is_constant(self) -> bool:
        return not self.names

    def fill(self, values: Mapping[str, str]) -> str:
        """Join the literal parts with `values` as given (escape them first for HTML)."""
        literals = self.literals
        out = [literals[0]]
        for index, name in enumerate(self.names, start=1):
            out.append(values[name])
            out.append(literals[index])
        return "".join(out)


def with_fallbacks(fields: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """`fields` with the fallback of every merge field among `names` they lack."""
    completed = dict(fields)
    for name in names:
        if name not in completed and merge_fields.is_merge_name(name):
            completed[name] = merge_fields.field_of(name).fallback
    return completed


def personalize_html(source: str, fields: Mapping[str, str]) -> str:
    compiled = Substituter(source)
    return compiled.fill(html_values(with_fallbacks(fields, compiled.names)))


def personalize_text(source: str, fields: Mapping[str, str]) -> str:
    compiled = Substituter(source)
    return compiled.fill(with_fallbacks(fields, compiled.names))
