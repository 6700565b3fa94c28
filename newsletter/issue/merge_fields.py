"""Merge fields: a subscriber's own values written into a record's text.

Staff write `{{ first_name }}` or `{{ first_name | default("friend") }}` in a record's
summary, speakers' remarks, footer, subject or preheader (`default: "friend"`, as Liquid
writes it, is read the same). The name is a subscriber attribute, a CSV column, compared
without regard to case, spaces or hyphens (a column "First Name" is `first_name`); `name`
and `email` are the subscriber's own.

Composing replaces each field with a placeholder, so the issue is still rendered once. The
placeholder carries the attribute and the fallback themselves, hex-encoded in the letters
a-p, so anything holding the issue's text can fill it in without a side table:
`NL_MERGE_<attribute>_<fallback>_NL`. It is ASCII letters and underscores like every
placeholder, for HTML escaping, MJML, premailer and quoted-printable; unlike the personal
placeholders it neither starts nor ends with an underscore, since Markdown would read
`__x__` as bold; and its letters are lower case, so no provider's upper-cased key
(newsletter.transports.sendgrid.html_key) ever contains one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

# What staff write. A fallback is quoted with double or single quotes, on one line and
# without "}}", so a broken field cannot swallow the text up to a later closing quote.
SYNTAX = re.compile(
    r"""
    \{\{ \s* (?P<name>[A-Za-z][A-Za-z0-9_\- ]*?) \s*
    (?: \| \s* default \s*
        (?: \( \s* (?P<q1>["']) (?P<f1>(?:(?!(?P=q1)|\}\})[^\n])*) (?P=q1) \s* \)
          | : \s* (?P<q2>["']) (?P<f2>(?:(?!(?P=q2)|\}\})[^\n])*) (?P=q2)
        ) \s*
    )?
    \}\}
    """,
    re.VERBOSE,
)
# An opening or closing pair left after the well-formed fields are taken out.
_BRACES = re.compile(r"\{\{|\}\}")
PREFIX = "NL_MERGE_"
SUFFIX = "_NL"
PATTERN = re.compile(r"NL_MERGE_(?:[a-p]{2})+_(?:[a-p]{2})*_NL")
_KEY_JUNK = re.compile(r"[^0-9a-z]+")
# The fallback is the reader's text, not a place for a paragraph.
FALLBACK_LIMIT = 200


@dataclass(frozen=True)
class MergeField:
    attribute: str
    fallback: str = ""


# Every recipient's labels are looked up: a list's few columns, over and over.
@lru_cache(maxsize=4096)
def attribute_key(label: str) -> str:
    """How a field's name and a CSV column's label are compared: "First Name" and
    "first-name" are both `first_name`."""
    return _KEY_JUNK.sub("_", label.casefold()).strip("_")


def _encode(text: str) -> str:
    return "".join(chr(97 + (byte >> 4)) + chr(97 + (byte & 15)) for byte in text.encode())


def _decode(letters: str) -> str:
    data = bytes(
        (ord(letters[i]) - 97) << 4 | (ord(letters[i + 1]) - 97) for i in range(0, len(letters), 2)
    )
    return data.decode("utf-8", "replace")


def placeholder(field: MergeField) -> str:
    return f"{PREFIX}{_encode(field.attribute)}_{_encode(field.fallback)}{SUFFIX}"


def is_merge_name(name: str) -> bool:
    return PATTERN.fullmatch(name) is not None


def field_of(name: str) -> MergeField:
    """The field a placeholder stands for; ValueError if `name` is no merge placeholder."""
    if not is_merge_name(name):
        raise ValueError(f"{name!r} is not a merge field placeholder")
    attribute, fallback = name[len(PREFIX) : -len(SUFFIX)].split("_")
    return MergeField(_decode(attribute), _decode(fallback))


def _field(match: re.Match[str]) -> MergeField:
    fallback = match["f1"] if match["f1"] is not None else match["f2"]
    return MergeField(attribute_key(match["name"]), " ".join((fallback or "").split()))


def with_placeholders(text: str) -> str:
    """`text` with every well-formed merge field replaced by its placeholder."""
    if "{{" not in text:
        return text
    return SYNTAX.sub(lambda match: placeholder(_field(match)), text)


def with_fallbacks(text: str) -> str:
    """`text` with every well-formed merge field replaced by its fallback, for copies
    read by no one in particular (the web version, the PDF)."""
    if "{{" not in text:
        return text
    return SYNTAX.sub(lambda match: _field(match).fallback, text)


def fields_in(text: str) -> list[MergeField]:
    return [_field(match) for match in SYNTAX.finditer(text)]


def malformed(text: str) -> list[str]:
    """What in `text` looks like a merge field but is none, and a well-formed one whose
    fallback is too long, each as a sentence."""
    problems: list[str] = []
    for match in SYNTAX.finditer(text):
        if len(_field(match).fallback) > FALLBACK_LIMIT:
            problems.append(f"{match[0][:40]!r}… has a fallback over {FALLBACK_LIMIT} characters")
    rest = SYNTAX.sub("", text)
    for match in _BRACES.finditer(rest):
        around = rest[max(0, match.start() - 20) : match.end() + 20].replace("\n", " ")
        problems.append(
            f"{match[0]!r} in …{around}… is not a merge field; write "
            '{{ first_name }} or {{ first_name | default("friend") }}'
        )
    return problems


def value_of(
    field: MergeField, attributes: Mapping[str, object], *, name: str = "", email: str = ""
) -> str:
    """The subscriber's value for `field`, its fallback when they have none. Never
    "None": a missing, null, empty or non-scalar value takes the fallback."""
    if field.attribute == "name":
        found: object = name
    elif field.attribute == "email":
        found = email
    else:
        found = attributes.get(field.attribute)
        if found is None:
            found = next(
                (v for k, v in attributes.items() if attribute_key(k) == field.attribute), None
            )
    if isinstance(found, bool) or not isinstance(found, str | int | float):
        return field.fallback
    text = str(found).strip()
    return text or field.fallback


def as_written(text: str) -> str:
    """`text` with its placeholders written back as staff wrote them, for staff pages that
    show an issue's subject as it is stored (the campaigns list, the confirm page)."""
    if PREFIX not in text:
        return text
    return PATTERN.sub(lambda match: _written(field_of(match[0])), text)


def _written(field: MergeField) -> str:
    if not field.fallback:
        return f"{{{{ {field.attribute} }}}}"
    quote = "'" if '"' in field.fallback else '"'
    return f"{{{{ {field.attribute} | default({quote}{field.fallback}{quote}) }}}}"


def fields_of(*texts: str) -> list[MergeField]:
    """The merge fields the texts' placeholders stand for, each once, in order."""
    names = dict.fromkeys(match[0] for text in texts for match in PATTERN.finditer(text))
    return [field_of(name) for name in names]


def unfilled(fields: list[MergeField], labels: set[str]) -> list[MergeField]:
    """The fields no reader has a value for, given every attribute label readers have:
    each of these shows its fallback to everyone (a misspelt name, a column not imported)."""
    present = {attribute_key(label) for label in labels} | {"name", "email"}
    return [field for field in fields if field.attribute not in present]
