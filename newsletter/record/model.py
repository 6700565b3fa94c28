"""The seminar record: what comms staff write after a seminar, as validated models.

`newsletter.record.loader` reads one from YAML or JSON; these types are what it returns.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from newsletter.i18n.languages import direction_of, is_language_tag
from newsletter.issue.model import Asset

# Harakat, tanwin, shadda, sukun, the dagger alif and Quranic marks (not hamza or madda,
# which are parts of letters).
_ARABIC_VOWEL_MARK = re.compile("[\u0610-\u061a\u064b-\u0652\u0656-\u065f\u0670\u06d6-\u06ed]")
# The longest title part of an address: the campaigns' slug column holds 200 characters.
_SLUG_TITLE_LENGTH = 100
# The longest web address an issue may have: a generated one (the date and the title part)
# fits, with room for a "-2" that keeps it unique; the campaigns' column holds 200.
MAX_SLUG_LENGTH = 120
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Where a header's line would end: a title or subject carrying one would split the
# Subject header (or be refused when the message is written, without saying where).
_LINE_BREAK = re.compile("[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def _date(value: object) -> object:
    # Pydantic would read a bare number as a Unix timestamp and a datetime as a date;
    # in a record either is a mistake.
    if isinstance(value, dt.datetime):
        raise ValueError("must be a date without a time, like 2022-02-24")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value.strip()!r} is not a real date") from None
    raise ValueError(f"must be a date like 2022-02-24, not {describe(value)}")


def _web_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"must be an http(s) URL, not {value!r}")
    return value


def _one_line(value: str) -> str:
    if _LINE_BREAK.search(value):
        raise ValueError("must be a single line: it becomes part of the email's Subject header")
    control = _CONTROL.search(value)
    if control:
        raise ValueError(f"must not contain the control character U+{ord(control.group()):04X}")
    return value


Date = Annotated[dt.date, BeforeValidator(_date)]
WebUrl = Annotated[str, AfterValidator(_web_url)]
# Text that ends up in a mail header.
HeaderText = Annotated[str, AfterValidator(_one_line)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Speaker(_Strict):
    name: str = Field(min_length=1)
    honorific: str | None = None
    position: str | None = None
    role: str = Field(min_length=1)
    # A path relative to the record file, or an https URL.
    photo: str | None = None
    remarks: str = Field(min_length=1, description="Markdown")

    @property
    def display_name(self) -> str:
        return f"{self.honorific} {self.name}" if self.honorific else self.name

    @field_validator("photo")
    @classmethod
    def _photo_location(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if "://" in value:
            if not re.match(r"^https://[^/\s]+", value):
                raise ValueError("must be a path relative to the record or an https:// URL")
        elif PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute():
            # Records travel between colleagues' machines; absolute paths would break.
            raise ValueError("must be a path relative to the record, not an absolute path")
        return value


class Record(_Strict):
    title: HeaderText = Field(min_length=1)
    kind: HeaderText = "Seminar"
    date: Date
    organiser: str = Field(min_length=1)
    partners: list[str] = []
    venue: str | None = None
    language: str = "en"
    summary: str = Field(min_length=1, description="Markdown paragraphs")
    speakers: list[Speaker] = []
    recommendations_intro: str | None = None
    recommendations: list[str] = []
    social: dict[str, WebUrl] = {}
    footer: str | None = None
    # Optional overrides; sensible values are derived when absent.
    subject: HeaderText | None = None
    preheader: str | None = None
    # The web address under /issues/; see `issue_slug` and `check_slug`.
    slug: str | None = None

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        return check_slug(value) if value else None

    @field_validator("language")
    @classmethod
    def _bcp47(cls, value: str) -> str:
        if not is_language_tag(value):
            raise ValueError(
                f"must be a BCP 47 language tag such as 'en' or 'ur-PK', not {value!r}"
            )
        return value

    @property
    def direction(self) -> Literal["ltr", "rtl"]:
        return direction_of(self.language)

    @property
    def issue_slug(self) -> str:
        """The issue's web address under /issues/: the date and the title's first six words.

        Letters of every script are kept (an Urdu title reads as Urdu in the address bar,
        percent-encoded on the wire); Latin letters lose their accents. A title with no
        letter or digit at all gets a short hash of itself instead, so that two such
        issues on one day still differ."""
        if self.slug:
            return self.slug
        words = _slug_words(self.title)
        short = "-".join(words[:6])[:_SLUG_TITLE_LENGTH].strip("-")
        if not short:
            short = "issue-" + hashlib.sha256(self.title.encode()).hexdigest()[:8]
        return f"{self.date.isoformat()}-{short}"

    @property
    def effective_subject(self) -> str:
        return self.subject or f"{self.kind}: {self.title}"


class LoadedRecord(BaseModel):
    """A record with what was read from disk for it, so composing needs no I/O.

    `photos` maps each speaker's `photo` value that is a local path to its file's content;
    https photos are not fetched and stay out of it. `source` is the record file, absolute.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    record: Record
    source: Path
    photos: dict[str, Asset] = {}


def check_slug(text: str) -> str:
    """`text` as an issue's web address, or ValueError saying what is wrong with it.

    What a generated address may hold, so a chosen one reads the same way: lowercase
    letters of any script (with their marks), digits, and single hyphens between them.
    NFKC-normalised first, as the generated ones are, so that two spellings of one
    address in Urdu or Arabic are one address."""
    slug = unicodedata.normalize("NFKC", text.strip())
    if len(slug) > MAX_SLUG_LENGTH:
        raise ValueError(f"must be at most {MAX_SLUG_LENGTH} characters, not {len(slug)}")
    bad = sorted({char for char in slug if not _slug_char(char)}, key=slug.index)
    if bad:
        shown = ", ".join(repr(char) for char in bad[:5])
        raise ValueError(
            f"may contain only lowercase letters, digits and hyphens, not {shown}"
            + _suggestion(slug)
        )
    if slug.startswith("-") or slug.endswith("-") or "--" in slug:
        raise ValueError(
            "must start and end with a letter or digit, with single hyphens between words"
            + _suggestion(slug)
        )
    return slug


def _slug_char(char: str) -> bool:
    if char.isascii():
        return char == "-" or char.isdigit() or char.islower()
    category = unicodedata.category(char)
    return category[0] in "LMN" and category not in ("Lu", "Lt")


def _suggestion(slug: str) -> str:
    words = "-".join(_slug_words(slug))[:MAX_SLUG_LENGTH].strip("-")
    try:
        return f": {check_slug(words)!r} would do" if words else ""
    except ValueError:
        return ""


def _slug_words(title: str) -> list[str]:
    """The title's words, case-folded: runs of letters, marks and digits of any script."""
    kept: list[str] = []
    for char in unicodedata.normalize("NFKC", title.casefold()):
        category = unicodedata.category(char)
        if category == "Cf" or char == "\u0640" or _ARABIC_VOWEL_MARK.match(char):
            # Joiners, direction marks, the Arabic tatweel and optional vowel marks:
            # invisible or decorative, and they would tell two spellings of a word apart.
            continue
        if char.isascii():
            kept.append(char if char.isalnum() else " ")
        elif category[0] == "M" and kept and kept[-1].isascii():
            continue  # an accent left on a Latin letter (İ folds to i and a dot)
        elif "LATIN" in unicodedata.name(char, ""):
            # é -> e: a Latin title's address stays ASCII where it can.
            ascii_only = [c for c in unicodedata.normalize("NFKD", char) if c.isascii()]
            kept.extend(ascii_only or [char])
        else:
            kept.append(char if category[0] in "LMN" else " ")
    return "".join(kept).split()


def describe(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dt.date):
        return "a date"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
