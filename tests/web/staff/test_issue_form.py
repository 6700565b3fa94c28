"""The editor's form: rows in order, empty ones dropped, errors mapped to field names."""

from __future__ import annotations

from newsletter.web.staff.issue_form import check, from_posted, from_record

BASE = {
    "title": "T",
    "date": "2024-01-01",
    "organiser": "O",
    "summary": "S",
}


def test_rows_come_in_the_order_of_their_numbers_and_empty_ones_go() -> None:
    form = from_posted(
        {
            **BASE,
            "speakers-10-name": "Second",
            "speakers-10-role": "R",
            "speakers-10-remarks": "M",
            "speakers-2-name": "First",
            "speakers-2-role": "R",
            "speakers-2-remarks": "M",
            "speakers-5-name": " ",
            "recommendations-3": "later",
            "recommendations-1": "earlier",
            "recommendations-2": "",
            "social-0-name": "facebook",
            "social-0-url": "https://facebook.com/x",
            "social-1-name": "",
            "social-1-url": "",
            "partners": "A\n\n B \n",
        }
    )
    checked = check(form)
    assert checked.errors == {}
    record = checked.record
    assert record is not None
    assert [s.name for s in record.speakers] == ["First", "Second"]
    assert record.recommendations == ["earlier", "later"]
    assert record.social == {"facebook": "https://facebook.com/x"}
    assert record.partners == ["A", "B"]
    assert record.kind == "Seminar"  # left empty: the default


def test_errors_are_named_as_the_form_names_its_fields() -> None:
    form = from_posted(
        {
            **BASE,
            "title": "",
            "language": "not a tag!",
            "speakers-0-name": "Ada",
            "speakers-0-role": "Chair",
            "speakers-0-remarks": "Hi",
            "speakers-1-name": "Omar",
            "speakers-1-photo": "/etc/passwd",
            "social-0-name": "x",
            "social-0-url": "mailto:a@example.org",
        }
    )
    checked = check(form)
    assert checked.record is None
    assert checked.errors == {
        "title": "Required.",
        "language": "Must be a BCP 47 language tag such as 'en' or 'ur-PK', not 'not a tag!'.",
        "speakers-1-role": "Required.",
        "speakers-1-remarks": "Required.",
        "speakers-1-photo": "Must be a path relative to the record, not an absolute path.",
        "social-0-url": "Must be an http(s) URL, not 'mailto:a@example.org'.",
    }


def test_a_removed_photo_and_a_photo_error() -> None:
    form = from_posted(
        {
            **BASE,
            "speakers-0-name": "Ada",
            "speakers-0-role": "Chair",
            "speakers-0-remarks": "Hi",
            "speakers-0-photo": "ada.jpg",
            "speakers-0-photo_remove": "yes",
            "speakers-1-name": "Omar",
            "speakers-1-role": "Chair",
            "speakers-1-remarks": "Hi",
            "speakers-1-photo_error": "omar.svg is an SVG image",
        }
    )
    assert form.speakers[0]["photo"] == ""
    checked = check(form)
    assert checked.record is None
    assert checked.errors == {"speakers-1-photo": "omar.svg is an SVG image"}


def test_a_record_shown_in_the_form_makes_the_same_record() -> None:
    original = check(
        from_posted(
            {
                **BASE,
                "venue": "Lahore",
                "partners": "A\nB",
                "speakers-0-name": "Ada",
                "speakers-0-role": "Chair",
                "speakers-0-remarks": "Hi",
                "recommendations-0": "R",
            }
        )
    ).record
    assert original is not None
    shown = from_record(original)
    assert shown.get("date") == "2024-01-01" and shown.partners == "A\nB"
    # With its web address, which the form shows so that a save keeps it.
    assert shown.get("slug") == "2024-01-01-t"
    assert check(shown).record == original.model_copy(update={"slug": "2024-01-01-t"})
