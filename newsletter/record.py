"""The seminar record: what comms staff write after a seminar, validated."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from newsletter.compose.issue import Asset

# Primary language subtags written right to left.
RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ku", "ps", "sd", "syr", "ug", "ur", "yi"}
)
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


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
        if "://" in value and not value.startswith("https://"):
            raise ValueError("must be a path relative to the record or an https:// URL")
        return value


class Record(_Strict):
    title: str = Field(min_length=1)
    kind: str = "Seminar"
    date: dt.date
    organiser: str = Field(min_length=1)
    partners: list[str] = []
    venue: str | None = None
    language: str = "en"
    summary: str = Field(min_length=1, description="Markdown paragraphs")
    speakers: list[Speaker] = []
    recommendations_intro: str | None = None
    recommendations: list[str] = []
    social: dict[str, str] = {}
    footer: str | None = None
    # Optional overrides; sensible values are derived when absent.
    subject: str | None = None
    preheader: str | None = None
    slug: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$")

    @field_validator("language")
    @classmethod
    def _bcp47(cls, value: str) -> str:
        if not _BCP47.match(value):
            raise ValueError("must be a BCP 47 language tag such as 'en' or 'ur-PK'")
        return value

    @field_validator("social")
    @classmethod
    def _social_urls(cls, value: dict[str, str]) -> dict[str, str]:
        for network, url in value.items():
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"{network}: must be an http(s) URL")
        return value

    @property
    def direction(self) -> str:
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
    https photos are not fetched and stay out of it.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    record: Record
    source: Path
    photos: dict[str, Asset] = {}
