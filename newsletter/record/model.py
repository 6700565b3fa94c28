"""The seminar record: what comms staff write after a seminar, as validated models.

`newsletter.record.loader` reads one from YAML or JSON; these types are what it returns.
"""

from __future__ import annotations

import datetime as dt
import re
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

from newsletter.issue.model import Asset

# Primary language subtags written right to left.
RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ku", "ps", "sd", "syr", "ug", "ur", "yi"}
)
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
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
    slug: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$")

    @field_validator("language")
    @classmethod
    def _bcp47(cls, value: str) -> str:
        if not _BCP47.match(value):
            raise ValueError(
                f"must be a BCP 47 language tag such as 'en' or 'ur-PK', not {value!r}"
            )
        return value

    @property
    def direction(self) -> Literal["ltr", "rtl"]:
        return "rtl" if self.language.split("-")[0].lower() in RTL_LANGUAGES else "ltr"

    @property
    def issue_slug(self) -> str:
        if self.slug:
            return self.slug
        words = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        short = "-".join(words.split("-")[:6]) or "issue"
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
