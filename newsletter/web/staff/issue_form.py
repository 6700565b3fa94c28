"""The issue editor's form: its fields, the record they make, and errors by field.

The form follows the record. Repeated parts are numbered rows: `speakers-0-name`,
`recommendations-2`, `social-1-url`; rows come back in the order of their numbers (the
page's script renumbers them as staff reorder), and a row left empty is dropped. Pydantic's
error locations are mapped back to these names, so each error shows next to its field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from newsletter.record.model import Record

SPEAKER_FIELDS = ("name", "honorific", "position", "role", "remarks", "photo")
# Fields of the record that are one line or one text each, in the form's order.
TEXT_FIELDS = (
    "title",
    "kind",
    "date",
    "organiser",
    "venue",
    "language",
    "summary",
    "recommendations_intro",
    "footer",
    "subject",
    "preheader",
    "slug",
)
MAX_SPEAKERS = 20
MAX_RECOMMENDATIONS = 40
MAX_SOCIAL = 10
# What the form may post at most: its text fields, the rows' fields and one file a speaker.
MAX_FORM_FIELDS = (
    len(TEXT_FIELDS)
    + 10
    + MAX_SPEAKERS * (len(SPEAKER_FIELDS) + 2)
    + MAX_RECOMMENDATIONS
    + MAX_SOCIAL * 2
)

# A speaker row also posts whether to remove its photo; the route adds why an uploaded
# photo could not be used.
_SPEAKER_POSTED = (*SPEAKER_FIELDS, "photo_remove", "photo_error")
_ROW = re.compile(r"^(speakers|social)-(\d{1,3})-([a-z_]+)$|^(recommendations)-(\d{1,3})$")


@dataclass
class IssueForm:
    """What the form holds, as text, whether or not it makes a valid record."""

    values: dict[str, str] = field(default_factory=dict)
    partners: str = ""
    speakers: list[dict[str, str]] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    social: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str:
        return self.values.get(name, "")


def from_posted(posted: Mapping[str, str]) -> IssueForm:
    """The form as posted; empty rows dropped, rows in the order of their numbers."""
    form = IssueForm(values={name: posted.get(name, "") for name in TEXT_FIELDS})
    form.partners = posted.get("partners", "")
    speakers: dict[int, dict[str, str]] = {}
    recommendations: dict[int, str] = {}
    social: dict[int, dict[str, str]] = {}
    for name, value in posted.items():
        match = _ROW.match(name)
        if match is None:
            continue
        if match.group(4):
            recommendations[int(match.group(5))] = value
        elif match.group(1) == "speakers" and match.group(3) in _SPEAKER_POSTED:
            speakers.setdefault(int(match.group(2)), {})[match.group(3)] = value
        elif match.group(1) == "social" and match.group(3) in ("name", "url"):
            social.setdefault(int(match.group(2)), {})[match.group(3)] = value
    for index in sorted(speakers):
        posted_row = speakers[index]
        row = {key: posted_row.get(key, "") for key in SPEAKER_FIELDS}
        if posted_row.get("photo_remove"):
            row["photo"] = ""
        if any(value.strip() for value in row.values()):
            if posted_row.get("photo_error"):
                row["photo_error"] = posted_row["photo_error"]
            form.speakers.append(row)
    form.recommendations = [
        recommendations[i] for i in sorted(recommendations) if recommendations[i].strip()
    ]
    for index in sorted(social):
        pair = (social[index].get("name", "").strip(), social[index].get("url", "").strip())
        if pair[0] or pair[1]:
            form.social.append(pair)
    return form


def from_record(record: Record) -> IssueForm:
    """The form showing a saved record."""
    data = record.model_dump(mode="json")
    form = IssueForm(
        values={name: "" if data.get(name) is None else str(data[name]) for name in TEXT_FIELDS}
    )
    # Shown even when the record names none (saved before addresses were kept): saving
    # keeps it then, whatever the title becomes.
    form.values["slug"] = record.issue_slug
    form.partners = "\n".join(record.partners)
    form.speakers = [
        {key: "" if value is None else str(value) for key, value in speaker.items()}
        for speaker in data["speakers"]
    ]
    form.recommendations = list(record.recommendations)
    form.social = list(record.social.items())
    return form


def record_fields(form: IssueForm) -> dict[str, Any]:
    """The record's fields the form gives; empty ones left out, for their defaults."""
    fields: dict[str, Any] = {
        name: value for name, value in form.values.items() if value.strip() != ""
    }
    partners = [line.strip() for line in form.partners.splitlines() if line.strip()]
    if partners:
        fields["partners"] = partners
    if form.speakers:
        fields["speakers"] = [
            {
                key: value
                for key, value in speaker.items()
                if key in SPEAKER_FIELDS and value.strip() != ""
            }
            for speaker in form.speakers
        ]
    if form.recommendations:
        fields["recommendations"] = form.recommendations
    if form.social:
        fields["social"] = dict(form.social)
    return fields


@dataclass(frozen=True)
class Checked:
    record: Record | None
    # Each problem by the form field it belongs to; "" for the form as a whole.
    errors: dict[str, str]


def check(form: IssueForm, extra: Mapping[str, str] | None = None) -> Checked:
    """The record the form makes, or its errors by field. `extra`: errors found outside
    validation (a photo that cannot be used), by field."""
    errors = dict(extra or {})
    fields = record_fields(form)
    if len(form.speakers) > MAX_SPEAKERS:
        errors["speakers"] = f"At most {MAX_SPEAKERS} speakers."
    for index, speaker in enumerate(form.speakers):
        if speaker.get("photo_error"):
            errors[f"speakers-{index}-photo"] = speaker["photo_error"]
    try:
        record = Record.model_validate(fields)
    except ValidationError as exc:
        for err in exc.errors():
            errors.setdefault(field_of(err["loc"], form), message_of(err))
        return Checked(None, errors)
    return Checked(None if errors else record, errors)


def field_of(loc: tuple[str | int, ...], form: IssueForm) -> str:
    """The form field a pydantic error location names."""
    if not loc:
        return ""
    head = str(loc[0])
    if head == "speakers" and len(loc) >= 3:
        return f"speakers-{loc[1]}-{loc[2]}"
    if head == "recommendations" and len(loc) >= 2:
        return f"recommendations-{loc[1]}"
    if head == "social" and len(loc) >= 2:
        names = [name for name, _ in form.social]
        if loc[1] in names:
            return f"social-{names.index(str(loc[1]))}-url"
        return "social"
    return head


def message_of(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind in ("missing", "string_too_short"):
        return "Required."
    if kind == "extra_forbidden":
        return "Not a field of the record."
    message = str(err["msg"]).removeprefix("Value error, ")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
