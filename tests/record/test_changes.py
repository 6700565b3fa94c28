"""What changed between two versions of a record."""

from __future__ import annotations

from newsletter.record.changes import Change, changes
from newsletter.record.model import Record


def _record(**changes: object) -> Record:
    fields: dict[str, object] = {
        "title": "T",
        "date": "2024-01-01",
        "organiser": "O",
        "summary": "S",
        "speakers": [{"name": "Ada", "role": "Chair", "remarks": "Hi"}],
        "recommendations": ["One", "Two"],
    }
    fields.update(changes)
    return Record.model_validate(fields)


def test_nothing_changed() -> None:
    assert changes(_record(), _record()) == []


def test_each_changed_field_with_its_values() -> None:
    after = _record(
        title="T2",
        venue="Lahore",
        speakers=[
            {"name": "Ada", "role": "Host", "remarks": "Hi"},
            {"name": "Omar", "role": "Guest", "remarks": "Hello"},
        ],
        recommendations=["One"],
        social={"facebook": "https://facebook.com/x"},
    )
    assert changes(_record(), after) == [
        Change("Title", "T", "T2"),
        Change("Venue", "", "Lahore"),
        Change("Speaker 1: role", "Chair", "Host"),
        Change("Speaker 2: name", "", "Omar"),
        Change("Speaker 2: role", "", "Guest"),
        Change("Speaker 2: remarks", "", "Hello"),
        Change("Recommendation 2", "Two", ""),
        Change("Social link: facebook", "", "https://facebook.com/x"),
    ]
