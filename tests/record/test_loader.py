from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from newsletter.core.errors import RecordError
from newsletter.record.loader import load_record
from newsletter.record.model import LoadedRecord
from tests.conftest import EXAMPLE

# The text of the newsletter the example record was converted from, kept next to it.
SEED = EXAMPLE.parent / "original-newsletter.txt"

# Line numbers below refer to this layout: the first speaker's mapping is on line 7.
VALID = """\
# a small record
title: A talk
date: 2022-02-24
organiser: MUSLIM Institute
summary: Short.
speakers:
  - name: Ada
    role: Chair
    remarks: Hello.
"""


def _load(text: str, name: str = "record.yaml") -> LoadedRecord:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_record(path)


def _problems(text: str, name: str = "record.yaml") -> list[str]:
    with pytest.raises(RecordError) as caught:
        _load(text, name)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "blue").save(out, "JPEG")
    return out.getvalue()


def _normalise(text: str) -> list[str]:
    """Paragraphs, each with its whitespace collapsed."""
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip())]


# --- the example ------------------------------------------------------------------------


def test_example_record_loads_with_all_speakers_and_photos() -> None:
    loaded = load_record(EXAMPLE)
    record = loaded.record

    assert record.kind == "Seminar"
    assert record.title == "Genocide and Ethnic cleansing: A Crime against Humanity"
    assert record.date == dt.date(2022, 2, 24)
    assert record.partners == ["Embassy of Azerbaijan Islamabad"]
    assert record.direction == "ltr"
    assert len(record.speakers) == 6
    assert len(record.recommendations) == 13
    assert [s.role for s in record.speakers] == [
        "Opening Remarks",
        "Keynote Speech",
        "Chair of Session",
        "Chief Guest",
        "Guest of Honour",
        "Guest of Honour",
    ]
    assert set(record.social) == {"facebook", "twitter", "linkedin"}
    assert record.footer == "© 2022. All rights reserved."
    assert record.preheader
    assert loaded.source == EXAMPLE

    assert set(loaded.photos) == {s.photo for s in record.speakers}
    filenames = [a.filename for a in loaded.photos.values()]
    assert filenames[1] == "speaker-2-khazar-farhadove.jpg"
    assert len(set(filenames)) == 6
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9.-]*", f) for f in filenames)
    assert {a.content_type for a in loaded.photos.values()} == {"image/jpeg"}


def test_example_text_is_verbatim_from_the_seed() -> None:
    """Guards the faithful conversion: every speaker block and recommendation of the seed."""
    seed = SEED.read_text(encoding="utf-8")
    record = load_record(EXAMPLE).record
    body, tail = seed.split(f"\n{record.recommendations_intro}\n")
    blocks = body.split("\npicture ")[1:]

    assert record.summary in seed.splitlines()
    heading = record.title.replace(": ", ":\n")
    assert f"{record.kind} on\n{heading}\n" in seed
    assert len(blocks) == len(record.speakers)
    for speaker, block in zip(record.speakers, blocks, strict=True):
        heading, position, blank, role, *remarks = block.split("\n")
        assert (heading, position, blank, role) == (
            speaker.display_name,
            speaker.position,
            "",
            speaker.role,
        )
        assert _normalise(speaker.remarks) == _normalise("\n".join(remarks))

    numbered = re.findall(r"^\s+(\d+)\. (.+)$", tail.split("\nFollow Us")[0], re.M)
    assert [int(n) for n, _ in numbered] == list(range(1, 14))
    assert [" ".join(r.split()) for r in record.recommendations] == [t for _, t in numbered]


# --- other valid records ----------------------------------------------------------------


def test_json_record_loads() -> None:
    data = {
        "title": "A talk",
        "date": "2022-02-24",
        "organiser": "MUSLIM Institute",
        "summary": "Short \u2014 with a dash \ud83d\ude00.",
        "speakers": [{"name": "Ada", "role": "Chair", "remarks": "Hello."}],
        "social": {"twitter": "https://twitter.com/x"},
    }
    # Tabs and escaped non-ASCII are valid JSON that YAML would handle differently.
    loaded = _load(json.dumps(data, indent="\t"), "record.json")

    assert loaded.record.date == dt.date(2022, 2, 24)
    assert loaded.record.summary == "Short — with a dash 😀."
    assert loaded.record.speakers[0].name == "Ada"


def test_record_without_photos_loads() -> None:
    loaded = _load(VALID)

    assert loaded.photos == {}
    assert loaded.record.speakers[0].photo is None
    assert loaded.source == Path("record.yaml").resolve()


@pytest.mark.parametrize(
    ("language", "direction"),
    [("ur", "rtl"), ("ar-EG", "rtl"), ("fa", "rtl"), ("en-GB", "ltr"), ("en", "ltr")],
)
def test_direction_follows_the_language(language: str, direction: str) -> None:
    assert _load(VALID + f"language: {language}\n").record.direction == direction


def test_local_photos_are_read_and_https_photos_kept_as_urls(tmp_path: Path) -> None:
    (tmp_path / "issue" / "shared").mkdir(parents=True)
    (tmp_path / "issue" / "shared" / "ada.jpg").write_bytes(_jpeg())
    text = VALID.replace("    role: Chair\n", "    role: Chair\n    photo: shared/./ada.jpg\n")
    text += (
        "  - {name: Alan Turing, role: Guest, remarks: Hi., photo: 'https://example.org/a.jpg'}\n"
        "  - {name: Ada again, role: Guest, remarks: Hi., photo: shared/./ada.jpg}\n"
    )

    loaded = _load(text, "issue/record.yaml")

    # A photo used twice is read once, and keyed as the record names it.
    assert list(loaded.photos) == ["shared/./ada.jpg"]
    assert loaded.photos["shared/./ada.jpg"].filename == "speaker-1-ada.jpg"
    assert loaded.photos["shared/./ada.jpg"].data == _jpeg()
    assert loaded.record.speakers[1].photo == "https://example.org/a.jpg"


# --- problems, one line each ------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  - name: Ada\n",
            "  - honorific: Dr.\n",
            "record.yaml:7 speakers[0].name: field required",
        ),
        ("title: A talk\n", "", "record.yaml:2 title: field required"),
        (
            "title: A talk\n",
            "title: 2022\n",
            "record.yaml:2 title: must be text, not a number (put it in quotes)",
        ),
        ("title: A talk\n", "title: ''\n", "record.yaml:2 title: must not be empty"),
        ("title: A talk\n", "title:\n", "record.yaml:2 title: must not be empty"),
        (
            "date: 2022-02-24\n",
            "date: 2022-02-30\n",
            "record.yaml:3 date: '2022-02-30' is not a real date",
        ),
        (
            "date: 2022-02-24\n",
            "date: 24 February 2022\n",
            "record.yaml:3 date: must be a date like 2022-02-24, not text",
        ),
        (
            "date: 2022-02-24\n",
            "date: 2022-02-24 10:00:00\n",
            "record.yaml:3 date: must be a date without a time, like 2022-02-24",
        ),
        (
            "summary: Short.\n",
            "summary: Short.\nlanguage: en_GB\n",
            "record.yaml:6 language: "
            "must be a BCP 47 language tag such as 'en' or 'ur-PK', not 'en_GB'",
        ),
        (
            "summary: Short.\n",
            "summary: Short.\nlanguage: no\n",
            "record.yaml:6 language: must be text, not true/false (put it in quotes)",
        ),
        (
            "summary: Short.\n",
            "summary: Short.\ncolour: red\n",
            "record.yaml:6 colour: unknown field",
        ),
        (
            "summary: Short.\n",
            "summary: Short.\nsumary: Long.\n",
            "record.yaml:6 sumary: unknown field (did you mean 'summary'?)",
        ),
        (
            "    role: Chair\n",
            "    role: Chair\n    postion: Dean\n",
            "record.yaml:9 speakers[0].postion: unknown field (did you mean 'position'?)",
        ),
        (
            "summary: Short.\n",
            "summary: Short.\npartners: Embassy\n",
            "record.yaml:6 partners: must be a list, not text",
        ),
        (
            "summary: Short.\n",
            "summary: Short.\npartners:\n  - [a, b]\n",
            "record.yaml:7 partners[0]: must be text, not a list",
        ),
        (
            "  - name: Ada\n",
            "  - just text\n  - name: Ada\n",
            "record.yaml:7 speakers[0]: must be a mapping of fields, not text",
        ),
        (
            "summary: Short.\n",
            "summary: Short.\nsocial:\n  facebook: ftp://x\n",
            "record.yaml:7 social.facebook: must be an http(s) URL, not 'ftp://x'",
        ),
        (
            "summary: Short.\n",
            "summary: Short.\nslug: My Issue\n",
            "record.yaml:6 slug: may contain only lowercase letters, digits and hyphens, "
            "not 'M', ' ', 'I': 'my-issue' would do",
        ),
        (
            "summary: Short.\n",
            "summary: Short.\ntitle: Again\n",
            "record.yaml:6 title: duplicate field",
        ),
        (
            "    role: Chair\n",
            "    role: Chair\n    photo: http://example.org/a.jpg\n",
            "record.yaml:9 speakers[0].photo: "
            "must be a path relative to the record or an https:// URL",
        ),
        (
            "    role: Chair\n",
            "    role: Chair\n    photo: /home/me/a.jpg\n",
            "record.yaml:9 speakers[0].photo: "
            "must be a path relative to the record, not an absolute path",
        ),
        (
            "    role: Chair\n",
            "    role: Chair\n    photo: photos/ada.jpg\n",
            "record.yaml:9 speakers[0].photo: photos/ada.jpg does not exist",
        ),
        (
            "    role: Chair\n",
            "    role: Chair\n    photo: ../ada.jpg\n",
            "record.yaml:9 speakers[0].photo: ../ada.jpg is outside the record's folder; "
            "a photo must be a file in that folder or an https:// URL",
        ),
        (
            "    role: Chair\n",
            "    role: Chair\n    photo: ../../../../dev/zero\n",
            "record.yaml:9 speakers[0].photo: ../../../../dev/zero is outside the record's "
            "folder; a photo must be a file in that folder or an https:// URL",
        ),
        (
            "title: A talk\n",
            'title: "A talk\\r\\nBcc: victim@example.org"\n',
            "record.yaml:2 title: must be a single line: it becomes part of the email's "
            "Subject header",
        ),
        (
            "summary: Short.\n",
            "summary: Short.\nsubject: |\n  Two\n  lines\n",
            "record.yaml:6 subject: must be a single line: it becomes part of the email's "
            "Subject header",
        ),
        (
            "summary: Short.\n",
            'summary: Short.\nkind: "Talk\\a"\n',
            "record.yaml:6 kind: must not contain the control character U+0007",
        ),
    ],
)
def test_each_problem_is_reported_on_its_line(old: str, new: str, expected: str) -> None:
    assert old in VALID
    assert _problems(VALID.replace(old, new)) == [expected]


def test_photo_that_is_a_folder_or_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "notes.jpg").write_text("just notes")
    text = VALID.replace("    role: Chair\n", "    role: Chair\n    photo: photos\n")
    text += "  - {name: Bo, role: Guest, remarks: Hi., photo: notes.jpg}\n"

    assert _problems(text) == [
        "record.yaml:9 speakers[0].photo: photos is a folder, not an image file",
        "record.yaml:11 speakers[1].photo: notes.jpg is not a JPEG, PNG, GIF, WebP or SVG image",
    ]


def test_photos_are_prepared_for_mail_and_named_for_what_they_become() -> None:
    out = io.BytesIO()
    Image.new("RGB", (2000, 1500), "blue").save(out, "WEBP")
    Path("ada.webp").write_bytes(out.getvalue())
    text = VALID.replace("    role: Chair\n", "    role: Chair\n    photo: ada.webp\n")

    [photo] = _load(text).photos.values()

    assert (photo.filename, photo.content_type) == ("speaker-1-ada.jpg", "image/jpeg")
    with Image.open(io.BytesIO(photo.data)) as image:
        assert image.size == (280, 210)


def test_a_photo_mail_clients_do_not_show_is_a_problem_of_the_record() -> None:
    Path("ada.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    text = VALID.replace("    role: Chair\n", "    role: Chair\n    photo: ada.svg\n")

    assert _problems(text) == [
        "record.yaml:9 speakers[0].photo: ada.svg is an SVG image, which Gmail and Outlook "
        "do not show: save it as JPEG or PNG"
    ]


def test_photo_is_resolved_against_the_record_folder_and_named_as_passed() -> None:
    text = VALID.replace("    role: Chair\n", "    role: Chair\n    photo: photos/ada.jpg\n")
    Path("photos").mkdir()
    Path("photos/ada.jpg").write_bytes(_jpeg())  # next to the cwd, not next to the record

    assert _problems(text, "examples/x/record.yaml") == [
        "examples/x/record.yaml:9 speakers[0].photo: examples/x/photos/ada.jpg does not exist"
    ]


def test_all_problems_are_reported_together_in_line_order() -> None:
    text = """\
title: 5
date: tomorrow
organiser: X
summary: ok
extra: 1
speakers:
  - role: Chair
    remarks: hi
    photo: missing.jpg
  - name: B
    role: R
"""
    assert _problems(text) == [
        "record.yaml:1 title: must be text, not a number (put it in quotes)",
        "record.yaml:2 date: must be a date like 2022-02-24, not text",
        "record.yaml:5 extra: unknown field",
        "record.yaml:7 speakers[0].name: field required",
        "record.yaml:9 speakers[0].photo: missing.jpg does not exist",
        "record.yaml:10 speakers[1].remarks: field required",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "title: A talk\ndate: 2022-02-24\ntitle: Genocide: A Crime\n",
            "record.yaml:3: yaml syntax error: mapping values are not allowed here "
            "(put text containing ': ' in quotes)",
        ),
        (
            "title: A talk\nspeakers:\n  - name: [Ada\n",
            "record.yaml:4: yaml syntax error: expected ',' or ']', but got '<stream end>'",
        ),
        ("- a\n- b\n", "record.yaml:1: the record must be a mapping of fields, not a list"),
        ("# nothing yet\n", "record.yaml:1: the record is empty"),
        (
            "title: A\n---\ntitle: B\n",
            "record.yaml:2: yaml syntax error: "
            "expected a single document in the stream, but found another document",
        ),
        ("? [a, b]\n: c\n", "record.yaml:1: field names must be plain text"),
    ],
)
def test_unparseable_records(text: str, expected: str) -> None:
    assert _problems(text)[0] == expected


def test_invalid_utf8_names_the_line() -> None:
    Path("record.yaml").write_bytes(b"title: A\nsummary: caf\xe9\n")

    with pytest.raises(RecordError) as caught:
        load_record(Path("record.yaml"))

    assert caught.value.problems == ["record.yaml:2: the file is not valid utf-8 text"]


@pytest.mark.parametrize("name", ["record.txt", "record"])
def test_unknown_extension(name: str) -> None:
    suffix = Path(name).suffix or "(none)"
    assert _problems(VALID, name) == [
        f"{name}: unsupported record format {suffix!r}; use .yaml, .yml or .json"
    ]


def test_missing_record_file() -> None:
    with pytest.raises(RecordError) as caught:
        load_record(Path("nowhere/record.yml"))

    assert caught.value.problems == [
        "nowhere/record.yml: cannot read the record: no such file or directory"
    ]


def test_json_syntax_error_line() -> None:
    text = '{\n  "title": "A talk",\n  "date": "2022-02-24"\n  "organiser": "X"\n}\n'

    assert _problems(text, "record.json") == [
        "record.json:4: json syntax error: expecting ',' delimiter"
    ]


def test_json_rejects_yaml_only_syntax() -> None:
    assert _problems("title: A talk\n", "record.json") == [
        "record.json:1: json syntax error: expecting value"
    ]


def test_json_validation_errors_carry_lines() -> None:
    text = """{
  "title": 1.5e3,
  "date": 20220224,
  "organiser": "X",
  "summary": "ok",
  "speakers": [
    {"name": "Ada", "role": "Chair", "remarks": "Hi."},
    {
      "role": "Chair",
      "remarks": "Hi.",
      "photo": "missing.png"
    }
  ],
  "title": "Again"
}"""
    assert _problems(text, "record.json") == [
        "record.json:3 date: must be a date like 2022-02-24, not a number",
        "record.json:8 speakers[1].name: field required",
        "record.json:11 speakers[1].photo: missing.png does not exist",
        "record.json:14 title: duplicate field",
    ]


def test_characters_yaml_refuses() -> None:
    assert _problems("title: A\nsummary: a\x80b\n") == [
        "record.yaml:2: character U+0080 is not allowed in yaml"
    ]


def test_json_with_characters_yaml_refuses_still_loads_without_lines() -> None:
    # Valid JSON may hold raw C1 controls; only the line numbers are lost.
    data = {"title": "t", "date": "2022-02-24", "organiser": "X", "summary": "a\x80b"}
    text = json.dumps(data, ensure_ascii=False)

    assert _load(text, "record.json").record.summary == "a\x80b"
    del data["organiser"]
    assert _problems(json.dumps(data, ensure_ascii=False), "record.json") == [
        "record.json organiser: field required"
    ]
