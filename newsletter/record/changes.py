"""What changed between two versions of a record, field by field, as staff name fields."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.record.model import Record

_LABELS = {
    "title": "Title",
    "kind": "Kind",
    "date": "Date",
    "organiser": "Organiser",
    "partners": "Partners",
    "venue": "Venue",
    "language": "Language",
    "summary": "Summary",
    "recommendations_intro": "Recommendations introduction",
    "footer": "Footer",
    "subject": "Subject",
    "preheader": "Preheader",
    "slug": "Web address",
}
_SPEAKER_LABELS = {
    "name": "name",
    "honorific": "honorific",
    "position": "position",
    "role": "role",
    "remarks": "remarks",
    "photo": "photo",
}


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str


def changes(before: Record, after: Record) -> list[Change]:
    """Each field whose value differs, in the record's order; a value absent is ""."""
    speakers = max(len(before.speakers), len(after.speakers))
    recommendations = max(len(before.recommendations), len(after.recommendations))
    networks = list(before.social) + [n for n in after.social if n not in before.social]
    old = _flat(before, speakers, recommendations, networks)
    new = _flat(after, speakers, recommendations, networks)
    return [Change(label, old[label], new[label]) for label in old if old[label] != new[label]]


def _flat(
    record: Record, speakers: int, recommendations: int, networks: list[str]
) -> dict[str, str]:
    """The record's values by label, with as many speakers, recommendations and networks as
    given (those it lacks are ""), so two records flatten to the same labels in one order."""
    flat: dict[str, str] = {}
    for name, label in _LABELS.items():
        value = getattr(record, name)
        if isinstance(value, list):
            flat[label] = "\n".join(value)
        else:
            flat[label] = "" if value is None else str(value)
    for index in range(speakers):
        speaker = record.speakers[index] if index < len(record.speakers) else None
        for name, label in _SPEAKER_LABELS.items():
            value = getattr(speaker, name) if speaker is not None else None
            flat[f"Speaker {index + 1}: {label}"] = "" if value is None else str(value)
    for index in range(recommendations):
        texts = record.recommendations
        flat[f"Recommendation {index + 1}"] = texts[index] if index < len(texts) else ""
    for network in networks:
        flat[f"Social link: {network}"] = record.social.get(network, "")
    return flat
