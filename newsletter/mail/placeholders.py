"""Filling an issue's placeholders (`newsletter.issue.model.placeholder`) with values.

Everything that writes a recipient's copy goes through `Substituter`: the MIME template
(newsletter.mail.mime), the HTTP transports, which hand the provider the issue with its
placeholders in their own syntax, and the web side's forwards and previews. In HTML a value
goes in escaped (`html_values`), in text and subject as it is.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from newsletter.issue.model import PERSONAL_FIELDS, placeholder

_FIELD_BY_PLACEHOLDER = {placeholder(name): name for name in PERSONAL_FIELDS}
# A capturing group makes re.split keep the placeholders between the literal parts.
_PLACEHOLDERS = re.compile("(" + "|".join(map(re.escape, _FIELD_BY_PLACEHOLDER)) + ")")


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
        self.names: tuple[str, ...] = tuple(_FIELD_BY_PLACEHOLDER[p] for p in parts[1::2])

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


def personalize_html(source: str, fields: Mapping[str, str]) -> str:
    return Substituter(source).fill(html_values(fields))


def personalize_text(source: str, fields: Mapping[str, str]) -> str:
    return Substituter(source).fill(fields)
