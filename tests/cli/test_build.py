from __future__ import annotations

import base64
import email
import email.policy
import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import Image
from typer.testing import CliRunner, Result

from newsletter.cli import app
from newsletter.core import tokens
from newsletter.core.settings import get_settings
from newsletter.record.photos import LOGO_WIDTH, PHOTO_WIDTH
from tests.conftest import EXAMPLE

FILES = ("email.html", "email.txt", "web.html", "newsletter.pdf", "message.eml")
KEY = "cli-build-test-key-0123456789"
SMALL_RECORD = """\
title: A Small Seminar
date: 2024-05-02
organiser: MUSLIM Institute
summary: A short summary with {link}.
recommendations:
  - Keep it short
"""


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["build", *map(str, args)])


@pytest.fixture(scope="module")
def example_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Result, Path]]:
    """The example built once for the module (PDF rendering takes a moment)."""
    out = tmp_path_factory.mktemp("example") / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSLETTER_SECRET_KEY", KEY)
        patch.setenv("NEWSLETTER_DATA_DIR", str(out.parent / "data"))
        get_settings.cache_clear()
        result = run(EXAMPLE, "-o", out)
    get_settings.cache_clear()
    yield result, out


def small_record(folder: Path, link: str = "[our site](https://example.org/)") -> Path:
    path = folder / "record.yaml"
    path.write_text(SMALL_RECORD.format(link=link))
    return path


def parse(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_example_writes_every_file(example_build: tuple[Result, Path]) -> None:
    result, out = example_build
    assert result.exit_code == 0, result.output
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
        assert str(out / name) in result.stdout
    assert (out / "newsletter.pdf").read_bytes().startswith(b"%PDF-")
    assert list((out / "assets").iterdir())
    assert not list(out.parent.glob(".out.*")), "the staging folder is left behind"


def test_example_message_is_a_complete_rfc5322_message(example_build: tuple[Result, Path]) -> None:
    _, out = example_build
    data = (out / "message.eml").read_bytes()
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert b"\n" not in data.replace(b"\r\n", b"")
    message = parse(out / "message.eml")
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"].addresses[0].addr_spec == "reader@example.org"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = str(message["List-Unsubscribe"]).strip("<>")
    assert url.startswith("http://127.0.0.1:8000/u/")
    token = tokens.verify(KEY.encode(), url.rsplit("/", 1)[1], "u")
    assert token.subscriber_id == 0


def test_example_email_has_the_sample_readers_links(example_build: tuple[Result, Path]) -> None:
    _, out = example_build
    html = (out / "email.html").read_text()
    text = (out / "email.txt").read_text()
    message_html = parse(out / "message.eml").get_body(("html",))
    assert message_html is not None
    unsubscribe = str(parse(out / "message.eml")["List-Unsubscribe"]).strip("<>")
    for body in (html, text, message_html.get_content()):
        assert "__NL_" not in body
        assert unsubscribe in body
    assert re.search(r'href="http://127\.0\.0\.1:8000/f/[\w.-]+"', html)


def test_example_web_version_has_no_personal_link(example_build: tuple[Result, Path]) -> None:
    _, out = example_build
    web = (out / "web.html").read_text()
    assert "__NL_" not in web
    assert not re.search(r"https?://[^\"' ]+/(u|p|f)/", web)
    assert "http://127.0.0.1:8000/issues/" in web


def test_public_url_and_inline_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "https://news.example.org/")
    get_settings.cache_clear()
    result = run(EXAMPLE, "-o", tmp_path / "out", "--images", "inline")
    assert result.exit_code == 0, result.output
    message = parse(tmp_path / "out" / "message.eml")
    assert message.get_content_type() == "multipart/related"
    images = [p for p in message.walk() if p.get_content_maintype() == "image"]
    html = message.get_body(("html",))
    assert html is not None and images
    for image in images:
        assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html.get_content()
    assert str(message["List-Unsubscribe"]).startswith("<https://news.example.org/u/")


def test_bad_record_exits_2_with_one_line_per_problem_and_writes_nothing(tmp_path: Path) -> None:
    record = tmp_path / "record.yaml"
    record.write_text("title: x\ndate: not a date\nspeakers:\n  - role: Chair\n")
    out = tmp_path / "nested" / "out"
    result = run(record, "-o", out)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) >= 3
    assert all(line.startswith(f"{record}:") for line in lines), lines
    assert any("speakers[0].name" in line for line in lines)
    assert "Traceback" not in result.output
    assert not (tmp_path / "nested").exists()


def test_warning_is_printed_and_build_succeeds(tmp_path: Path) -> None:
    record = small_record(tmp_path, link="[the programme](programme.html)")
    result = run(record, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert re.search(r"^warning: bad-link: .*programme\.html", result.stderr, re.M)
    assert (tmp_path / "out" / "message.eml").exists()


def test_strict_turns_a_warning_into_an_error_and_writes_nothing(tmp_path: Path) -> None:
    record = small_record(tmp_path, link="[the programme](programme.html)")
    result = run(record, "-o", tmp_path / "out", "--strict")
    assert result.exit_code == 1
    assert re.search(r"^error: bad-link: ", result.stderr, re.M)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["record.yaml"]


def test_clean_record_passes_strict(tmp_path: Path) -> None:
    result = run(small_record(tmp_path), "-o", tmp_path / "out", "--strict")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_rebuild_replaces_files_and_keeps_others(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "email.txt").write_text("stale")
    result = run(small_record(tmp_path), "-o", out)
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text() == "mine"
    assert "A Small Seminar" in (out / "email.txt").read_text()
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, "notes.txt"])


def test_project_errors_are_one_line_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_BRAND__LOGO", "missing-logo.png")
    get_settings.cache_clear()
    result = run(small_record(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "missing-logo.png" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_invalid_setting_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_IMAGES", "attached")
    get_settings.cache_clear()
    result = run(small_record(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid setting: NEWSLETTER_IMAGES: ")
    assert not (tmp_path / "out").exists()


def test_output_path_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file")
    result = run(small_record(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "is not a folder" in result.stderr


def test_local_logo_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logo = next((EXAMPLE.parent / "photos").iterdir())
    monkeypatch.setenv("NEWSLETTER_BRAND__LOGO", str(logo))
    get_settings.cache_clear()
    result = run(small_record(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    written = tmp_path / "out" / "assets" / f"logo{logo.suffix}"
    assert written.read_bytes() == logo.read_bytes()
    assert f"/assets/logo{logo.suffix}" in (tmp_path / "out" / "email.html").read_text()


def _photo_record(folder: Path, photo: bytes) -> Path:
    (folder / "ada.jpg").write_bytes(photo)
    path = small_record(folder)
    with path.open("a") as record:
        record.write("speakers:\n  - {name: Ada, role: Chair, remarks: Hi., photo: ada.jpg}\n")
    return path


def _grainy_jpeg(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 80).convert("RGB").save(out, "JPEG", quality=95)
    return out.getvalue()


def test_photos_are_prepared_for_mail(tmp_path: Path) -> None:
    result = run(_photo_record(tmp_path, _grainy_jpeg((3000, 2000))), "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "assets" / "speaker-1-ada.jpg") as photo:
        assert photo.size == (PHOTO_WIDTH, 187)


def test_strict_fails_on_a_photo_over_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_PHOTO_BUDGET_BYTES", "2000")
    get_settings.cache_clear()
    record = _photo_record(tmp_path, _grainy_jpeg((1000, 1000)))

    warned = run(record, "-o", tmp_path / "out")
    assert warned.exit_code == 0, warned.output
    assert re.search(
        r"^warning: image-too-large: speaker-1-ada\.jpg is [\d,]+ bytes, over the budget of "
        r"2,000 bytes per image \(NEWSLETTER_PHOTO_BUDGET_BYTES\)$",
        warned.stderr,
        re.M,
    )

    refused = run(record, "-o", tmp_path / "strict", "--strict")
    assert refused.exit_code == 1
    assert re.search(r"^error: image-too-large: speaker-1-ada\.jpg ", refused.stderr, re.M)
    assert not (tmp_path / "strict").exists()


def test_a_local_logo_is_prepared_like_the_photos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logo = Image.new("RGBA", (2000, 500), (0, 0, 0, 0))
    logo.paste((11, 93, 59, 255), (100, 100, 1900, 400))
    logo.save(tmp_path / "logo.png")
    monkeypatch.setenv("NEWSLETTER_BRAND__LOGO", str(tmp_path / "logo.png"))
    get_settings.cache_clear()
    result = run(small_record(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "assets" / "logo.png") as written:
        assert written.size == (LOGO_WIDTH, 100)
        assert written.convert("RGBA").getpixel((0, 0))[3] == 0


def test_an_svg_logo_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    monkeypatch.setenv("NEWSLETTER_BRAND__LOGO", str(tmp_path / "logo.svg"))
    get_settings.cache_clear()
    result = run(small_record(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {tmp_path / 'logo.svg'} is an SVG image, which Gmail and Outlook do not "
        "show: save it as JPEG or PNG\n"
    )
    assert not (tmp_path / "out").exists()


def test_templates_folder_setting_overrides_a_packaged_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "my-templates"
    mine.mkdir()
    (mine / "seminar.txt.j2").write_text(
        "OUR OWN LAYOUT: {{ record.title }}\n{{ personal.unsubscribe }}\n"
    )
    monkeypatch.setenv("NEWSLETTER_TEMPLATES_DIR", str(mine))
    get_settings.cache_clear()
    result = run(small_record(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "email.txt").read_text().startswith("OUR OWN LAYOUT: A Small")
    # The HTML template was not in the folder: the packaged one was used.
    assert "A Small Seminar" in (tmp_path / "out" / "email.html").read_text()


def test_missing_template_is_named_and_not_taken_for_a_write_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "my-templates"
    mine.mkdir()
    (mine / "seminar.txt.j2").write_text('{% include "footer.txt.j2" %}\n')
    monkeypatch.setenv("NEWSLETTER_TEMPLATES_DIR", str(mine))
    get_settings.cache_clear()
    result = run(small_record(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: template 'footer.txt.j2' (used by seminar.txt.j2)")
    assert str(mine) in result.stderr
    assert "cannot write" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_write_error_names_the_output_folder(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / "a-file" / "out"
    result = run(small_record(tmp_path), "-o", out)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot write {out}: ")


# --- what mailbox providers check --------------------------------------------------------

_SPAM_STATUS = re.compile(r"^X-Spam-Status: \w+, score=(-?[0-9.]+)", re.M)
_SPAM_DETAIL = re.compile(r"^\s*(-?[0-9]+\.[0-9]+)\s+([A-Z0-9_]+)\s", re.M)


@pytest.mark.skipif(
    shutil.which("spamassassin") is None,
    reason="spamassassin is not installed (scripts/system-deps installs Debian's package)",
)
def test_spamassassin_scores_the_example_message_zero(
    example_build: tuple[Result, Path], tmp_path: Path
) -> None:
    _, out = example_build
    # -L: the local rules only, the same on every machine (no DNS, no network). A home of
    # its own: no Bayes data that earlier runs taught it (it learns from what it scores).
    done = subprocess.run(
        ["spamassassin", "-L", "-t"],
        input=(out / "message.eml").read_bytes(),
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    report = done.stdout.decode("utf-8", "replace")
    status = _SPAM_STATUS.search(report)
    assert status is not None, done.stderr.decode("utf-8", "replace")[-2000:]
    details = report[report.index("Content analysis details") :]
    scoring = {rule: float(points) for points, rule in _SPAM_DETAIL.findall(details)}
    assert {rule: points for rule, points in scoring.items() if points != 0} == {}
    assert float(status.group(1)) == 0.0, status.group(0)


def _dkim_record(key: rsa.RSAPrivateKey) -> bytes:
    """The TXT record for `key`, made here rather than by the code under test."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def test_the_message_is_dkim_signed_when_dkim_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("NEWSLETTER_FROM", "Institute <newsletter@example.org>")
    monkeypatch.setenv("NEWSLETTER_DKIM_DOMAIN", "example.org")
    monkeypatch.setenv("NEWSLETTER_DKIM_SELECTOR", "news2026")
    monkeypatch.setenv("NEWSLETTER_DKIM_KEY_FILE", str(key_file))
    result = run(small_record(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    data = (tmp_path / "out" / "message.eml").read_bytes()
    assert data.startswith(b"DKIM-Signature:")

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return _dkim_record(key) if name == b"news2026._domainkey.example.org." else None

    assert dkim.verify(data, dnsfunc=lookup)
    tags = dkim.util.parse_tag_value(dkim.rfc822_parse(data)[0][0][1])
    signed = re.sub(rb"\s+", b"", tags[b"h"]).decode().split(":")
    assert {"from", "subject", "list-unsubscribe", "list-unsubscribe-post"} <= set(signed)
    assert (tags[b"d"], tags[b"s"]) == (b"example.org", b"news2026")
    # Any other key, or a changed subject, does not verify.
    other = _dkim_record(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert not dkim.verify(data, dnsfunc=lambda name, timeout=5: other)
    assert not dkim.verify(data.replace(b"Subject: ", b"Subject: Re: ", 1), dnsfunc=lookup)


def test_without_dkim_settings_the_message_is_unsigned(example_build: tuple[Result, Path]) -> None:
    _, out = example_build
    assert b"DKIM-Signature:" not in (out / "message.eml").read_bytes()


def test_a_dkim_setting_that_cannot_sign_stops_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_DKIM_DOMAIN", "example.org")
    monkeypatch.setenv("NEWSLETTER_DKIM_SELECTOR", "news2026")
    monkeypatch.setenv("NEWSLETTER_DKIM_KEY_FILE", str(tmp_path / "missing.pem"))
    result = run(small_record(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "NEWSLETTER_DKIM_KEY_FILE" in result.output and "does not exist" in result.output
    assert not (tmp_path / "out").exists()
