"""Attack-run findings about records (issue 9, item 2 and the exit-code item of item 7).

A record must not make the loader (behind `newsletter build`, `send` and the staff
preview) use unbounded time, memory or reads, nor tell what exists outside its folder;
and a record whose subject would break a header is a located record problem (exit 2).
"""

from __future__ import annotations

import io
import itertools
import os
import re
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.compose.from_file import compose_file
from newsletter.core.errors import RecordError
from newsletter.core.settings import Settings, get_settings
from newsletter.record.loader import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_RECORD_BYTES,
    MAX_VALUES,
    load_record,
)
from newsletter.web import create_app
from tests.web.staff.helpers import CLIENT_IP, logged_in

HEAD = "title: A talk\ndate: 2022-02-24\norganiser: MUSLIM Institute\n"
SPEAKER = "speakers:\n  - name: Ada\n    role: Chair\n    remarks: Hello.\n    photo: {photo}\n"
OUTSIDE = "is outside the record's folder; a photo must be a file in that folder or an https:// URL"
# Peak memory allowed while a hostile record is refused: far below what expanding it takes.
BOUNDED = 32 * 1024 * 1024


def alias_bomb(width: int = 9, levels: int = 9) -> str:
    """Billion laughs: each level a list of `width` aliases of the level before."""
    names = [f"l{i}" for i in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * width) + "]"]
    for before, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{before}"] * width) + "]")
    return "\n".join(lines) + "\n"


def merge_bomb(width: int = 4, levels: int = 10) -> str:
    """The same with merge keys, each level defined inside the next so that resolving the
    outermost merge resolves them all before a single value is built."""
    node = "&m0 {" + ", ".join(f"k{i}: 1" for i in range(10)) + "}"
    for i in range(1, levels):
        node = f"&m{i} {{<<: [{node}" + f", *m{i - 1}" * (width - 1) + "]}"
    return f"summary: {node}\n"


def _problems(text: str, name: str = "record.yaml", **options: int) -> list[str]:
    """The problems loading `text` reports, checking that it stays within BOUNDED memory."""
    path = Path(name)
    path.write_text(text, encoding="utf-8")
    tracemalloc.start()
    try:
        with pytest.raises(RecordError) as caught:
            load_record(path, **options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < BOUNDED, f"peak {peak:,} bytes"
    return caught.value.problems


def _jpeg(size: int = 0) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "blue").save(out, "JPEG")
    data = out.getvalue()
    return data + b"\0" * max(0, size - len(data))


# --- the loader's limits ----------------------------------------------------------------


def test_the_billion_laughs_bomb_is_refused_while_composing() -> None:
    bomb = alias_bomb()
    assert len(bomb.encode()) < 512  # 9**9 "lol"s in a few hundred bytes
    # The 51st alias is on line 7: refused there, before anything is expanded.
    assert _problems(bomb) == [f"record.yaml:7: too many aliases (limit {MAX_ALIASES})"]


def test_a_bomb_within_the_alias_limit_is_refused_as_it_expands() -> None:
    bomb = alias_bomb(width=7, levels=7)  # 42 aliases, 7**7 values once expanded
    assert bomb.count("*") <= MAX_ALIASES
    [problem] = _problems(bomb)
    assert re.fullmatch(r"record\.yaml:\d: too many values, counting each copy .*", problem)
    assert f"(limit {MAX_VALUES:,})" in problem


def test_a_merge_key_bomb_does_not_multiply_fields() -> None:
    # pyyaml before 6.0.4 repeated the fields of a mapping merged n times n times, level by
    # level (4**9 copies here); the merged mapping now has its ten fields once.
    assert _problems(HEAD + merge_bomb()) == ["record.yaml:4 summary: must be text, not a mapping"]


def test_a_mapping_merging_itself_is_a_problem_not_a_crash() -> None:
    assert _problems(HEAD + "summary: &s {<<: *s}\n") == [
        "record.yaml:4 summary: must be text, not a mapping"
    ]


def test_one_long_text_repeated_by_aliases_is_refused() -> None:
    text = HEAD + f'summary: &s "{"x" * 200_000}"\n'
    text += "recommendations: [" + ", ".join(["*s"] * 6) + "]\n"
    [problem] = _problems(text)
    assert problem.startswith("record.yaml:4: too much text, counting each copy an alias")


def test_many_values_without_aliases_are_refused() -> None:
    text = HEAD + "summary: s\nrecommendations: [" + ", ".join(["a"] * MAX_VALUES) + "]\n"
    assert len(text.encode()) < MAX_RECORD_BYTES
    [problem] = _problems(text)
    assert re.fullmatch(r"record\.yaml:5: too many values.*", problem)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (HEAD + "summary: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n", 4),
        # Far deeper than Python's recursion limit, and within the size limit.
        ("[" * (MAX_RECORD_BYTES // 2), 1),
        # Each list shallow; an alias of one inside the other nests them deeper. Values an
        # alias repeats are located where they are written.
        ("a: &a " + "[" * 25 + "]" * 25 + "\nb: " + "[" * 25 + "*a" + "]" * 25 + "\n", 1),
    ],
    ids=["nested", "a-megabyte-of-brackets", "nested-by-alias"],
)
def test_deep_nesting_is_refused(text: str, line: int) -> None:
    assert _problems(text) == [f"record.yaml:{line}: nested too deeply (limit {MAX_DEPTH} levels)"]


def test_deep_json_is_refused() -> None:
    deep = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    assert _problems(deep, "record.json") == [
        f"record.json:1: nested too deeply (limit {MAX_DEPTH} levels)"
    ]
    # Past the depth the json module itself refuses: no line, still no crash.
    deeper = "[" * 100_000 + "]" * 100_000
    assert _problems(deeper, "record.json") == [
        f"record.json: nested too deeply (limit {MAX_DEPTH} levels)"
    ]


def test_a_huge_document_is_refused_before_it_is_parsed() -> None:
    text = HEAD + "summary: " + "x" * MAX_RECORD_BYTES + "\n"
    assert _problems(text) == [
        f"record.yaml: the record is larger than the limit of {MAX_RECORD_BYTES // 1024} KB"
    ]


def test_a_record_that_is_a_fifo_is_refused_without_blocking() -> None:
    os.mkfifo("record.yaml")
    with pytest.raises(RecordError) as caught:
        load_record(Path("record.yaml"))
    assert caught.value.problems == ["record.yaml: cannot read the record: not a regular file"]


# --- photos -----------------------------------------------------------------------------


def _photo_problems(photo: str, **options: int) -> list[str]:
    return _problems(HEAD + "summary: s\n" + SPEAKER.format(photo=photo), **options)


def _symlink(target: str) -> Callable[[], None]:
    return lambda: os.symlink(target, "photo.jpg")


def _outside_file() -> None:
    Path("../outside.jpg").write_bytes(_jpeg())
    os.symlink("../outside.jpg", "photo.jpg")


@pytest.mark.parametrize(
    ("photo", "make", "message"),
    [
        ("../../../../dev/zero", lambda: None, f"../../../../dev/zero {OUTSIDE}"),
        ("photos/../../x.jpg", lambda: None, f"photos/../../x.jpg {OUTSIDE}"),
        ("/dev/zero", lambda: None, "must be a path relative to the record, not an absolute path"),
        ("photo.jpg", _symlink("/dev/zero"), f"photo.jpg {OUTSIDE}"),
        ("photo.jpg", _symlink("/etc/hostname"), f"photo.jpg {OUTSIDE}"),
        ("photo.jpg", _outside_file, f"photo.jpg {OUTSIDE}"),
        ("photo.jpg", _symlink("photo.jpg"), "photo.jpg cannot be read: "),
        ("photo.jpg", lambda: os.mkfifo("photo.jpg"), "photo.jpg is not a regular file"),
        ("photo.jpg", lambda: os.mkdir("photo.jpg"), "photo.jpg is a folder, not an image file"),
    ],
    ids=[
        "dev-zero",
        "dotdot",
        "absolute",
        "symlink-to-device",
        "symlink-out",
        "symlink-to-outside-image",
        "symlink-loop",
        "fifo",
        "folder",
    ],
)
def test_a_photo_must_be_a_regular_file_in_the_record_folder(
    tmp_path: Path, photo: str, make: Callable[[], None], message: str
) -> None:
    folder = tmp_path / "issue"
    folder.mkdir()
    os.chdir(folder)
    make()
    [problem] = _photo_problems(photo)
    assert problem.startswith("record.yaml:9 speakers[0].photo: "), problem
    assert message in problem


def test_an_outside_path_says_the_same_whether_it_exists_or_not(tmp_path: Path) -> None:
    said = []
    for name, exists in (("there", True), ("nothing", False)):
        folder = tmp_path / name / "issue"
        folder.mkdir(parents=True)
        if exists:
            (tmp_path / name / "photo.jpg").write_bytes(_jpeg())
            (tmp_path / name / "link.jpg").write_bytes(_jpeg())
        os.chdir(folder)
        os.symlink("../link.jpg", "link.jpg")  # dangling in the second folder
        said.append(_problems(HEAD + "summary: s\n" + SPEAKER.format(photo="../photo.jpg")))
        said.append(_photo_problems("link.jpg"))
    assert said[0] == said[2] and said[1] == said[3]
    assert OUTSIDE in said[0][0] and OUTSIDE in said[1][0]


def test_an_oversized_photo_is_refused_having_read_a_bounded_amount(tmp_path: Path) -> None:
    Path("photo.jpg").write_bytes(_jpeg(2000))
    assert _photo_problems("photo.jpg", max_photo_bytes=1000) == [
        "record.yaml:9 speakers[0].photo: photo.jpg is larger than the limit of 1,000 bytes"
    ]
    # A (sparse) gigabyte: refused having read the limit and one byte, not the file.
    with open("big.jpg", "wb") as handle:
        handle.write(_jpeg())
        handle.truncate(1024**3)
    assert _photo_problems("big.jpg", max_photo_bytes=1024 * 1024) == [
        "record.yaml:9 speakers[0].photo: big.jpg is larger than the limit of 1 MB"
    ]


def test_the_photo_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("photo.jpg").write_bytes(_jpeg(5000))
    Path("record.yaml").write_text(HEAD + "summary: s\n" + SPEAKER.format(photo="photo.jpg"))
    compose_file(Settings(), Path("record.yaml"))  # the default allows 10 MB
    monkeypatch.setenv("NEWSLETTER_MAX_PHOTO_BYTES", "4096")
    with pytest.raises(RecordError, match=r"photo\.jpg is larger than the limit of 4 KB"):
        compose_file(Settings(), Path("record.yaml"))


# --- the staff area ---------------------------------------------------------------------


@pytest.fixture
def staff(sqlite_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    (tmp_path / "records").mkdir()
    monkeypatch.setenv("NEWSLETTER_RECORDS_DIR", str(tmp_path / "records"))
    get_settings.cache_clear()
    app = create_app(Settings())
    with TestClient(app, client=(CLIENT_IP, 50000), follow_redirects=False) as client:
        yield client


def _kept_uploads(tmp_path: Path) -> list[Path]:
    uploads = tmp_path / "data" / "uploads"
    return [path for path in uploads.rglob("*") if path.is_file()] if uploads.exists() else []


def test_an_upload_that_fails_is_refused_and_not_kept(staff: TestClient, tmp_path: Path) -> None:
    token = logged_in(staff)
    response = staff.post(
        "/staff/preview/upload",
        data={"csrf": token},
        files={"record": ("bomb.yaml", alias_bomb().encode(), "application/yaml")},
    )
    assert response.status_code == 400
    assert "so it was not kept" in response.text
    assert re.search(r"bomb-[0-9a-f]{8}\.yaml:7: too many aliases", response.text)
    # Nothing left for the next staff member to open, nor a staging folder.
    assert _kept_uploads(tmp_path) == []
    assert [p.name for p in (tmp_path / "data" / "uploads").iterdir()] == []
    page = staff.get("/staff/preview")
    assert "uploaded:" not in page.text and "bomb" not in page.text


def test_a_bomb_already_in_the_records_folder_previews_as_a_problem(
    staff: TestClient, tmp_path: Path
) -> None:
    (tmp_path / "records" / "bomb.yaml").write_text(alias_bomb())
    logged_in(staff)
    page = staff.get("/staff/preview", params={"record": "dir:bomb.yaml"})
    assert page.status_code == 200
    assert "bomb.yaml:7: too many aliases" in page.text
    email = staff.get("/staff/preview/email", params={"record": "dir:bomb.yaml"})
    assert email.status_code == 404


def test_photo_problems_in_the_preview_do_not_show_server_folders(
    staff: TestClient, tmp_path: Path
) -> None:
    folder = tmp_path / "records" / "issue"
    folder.mkdir()
    (folder / "record.yaml").write_text(HEAD + "summary: s\n" + SPEAKER.format(photo="a.jpg"))
    logged_in(staff)
    page = staff.get("/staff/preview", params={"record": "dir:issue/record.yaml"})
    assert "record.yaml:9 speakers[0].photo: a.jpg does not exist" in page.text
    assert str(folder) not in page.text


# --- exit codes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('title: "A talk\\r\\nBcc: victim@example.org"', "record.yaml:1 title: must be a single"),
        ('title: "A talk\\rX-Injected: 1"', "record.yaml:1 title: must be a single"),
        ('title: A talk\nsubject: "Hi\\nthere"', "record.yaml:2 subject: must be a single"),
        ('title: A talk\nkind: "Talk\\u2028Bcc: x"', "record.yaml:2 kind: must be a single"),
    ],
    ids=["crlf-title", "cr-title", "lf-subject", "line-separator-kind"],
)
def test_a_line_break_in_the_subject_exits_2_naming_file_line_and_field(
    tmp_path: Path, line: str, expected: str
) -> None:
    path = tmp_path / "record.yaml"
    path.write_text(f"{line}\ndate: 2024-05-02\norganiser: MUSLIM Institute\nsummary: Short.\n")
    result = CliRunner().invoke(app, ["build", "record.yaml", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(expected), result.stderr
    assert "Subject header" in result.stderr
    assert not (tmp_path / "out").exists()
