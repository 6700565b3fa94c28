"""`newsletter check`: the example record passes; records built to fail each check fail it.

SpamAssassin really scores the messages (scripts/system-deps installs it), and dkimpy
really verifies the signature the send would add, against keys made here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner, Result

from newsletter.cli import app
from newsletter.compose.checks import GMAIL_CLIP_BYTES
from newsletter.core.settings import get_settings
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.spam import PLAIN_WORDS
from tests.conftest import EXAMPLE

SMALL_RECORD = """\
title: A Small Seminar
date: 2024-05-02
organiser: MUSLIM Institute
summary: {summary}
recommendations:
  - Keep it short
"""
# SpamAssassin's test string (GTUBE): any message that carries it scores 1,000 points. The
# backslashes keep Markdown from reading its asterisks as emphasis.
GTUBE = r"XJS\*C4JDBQADN1.NSBN3\*2IDNEN\*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL\*C.34X"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["check", *map(str, args)])


def as_json(*args: str | Path) -> tuple[Result, dict[str, Any]]:
    result = run(*args, "--json")
    report: dict[str, Any] = json.loads(result.stdout)
    return result, report


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["check"]: check for check in report["checks"]}


def line_of(result: Result, title: str) -> str:
    """The report's line for the check called `title`."""
    found = re.search(rf"^(passed |FAILED |skipped)  {title}: .*$", result.stdout, re.M)
    assert found is not None, result.stdout
    return found.group(0)


def small_record(folder: Path, summary: str = "A short summary.") -> Path:
    path = folder / "record.yaml"
    path.write_text(SMALL_RECORD.format(summary=summary))
    return path


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str | Path) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"NEWSLETTER_{name}", str(value))
    get_settings.cache_clear()


def write_key(path: Path, key: rsa.RSAPrivateKey | Ed25519PrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def dkim_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rsa_key: rsa.RSAPrivateKey
) -> Iterator[Path]:
    """DKIM configured with an RSA-2048 key for example.org, selector news."""
    path = write_key(tmp_path / "dkim.pem", rsa_key)
    set_env(monkeypatch, DKIM_DOMAIN="example.org", DKIM_SELECTOR="news", DKIM_KEY_FILE=path)
    yield path


@pytest.fixture(scope="module")
def example_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Result, Result]]:
    """`check` of the example, for people and as JSON, run once for the module (each
    SpamAssassin run takes seconds)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("NEWSLETTER_")]:
            patch.delenv(name)
        patch.setenv("NEWSLETTER_SECRET_KEY", "cli-check-test-key-0123456789")
        patch.setenv("NEWSLETTER_DATA_DIR", str(tmp_path_factory.mktemp("check") / "data"))
        get_settings.cache_clear()
        yield run(EXAMPLE), run(EXAMPLE, "--json")
    get_settings.cache_clear()


def test_the_example_passes_every_check_that_runs_here(
    example_report: tuple[Result, Result],
) -> None:
    result, _ = example_report
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Deliverability of {EXAMPLE}, as a sample reader gets it:")
    assert re.search(
        rf"^passed   HTML size: The HTML is [\d,]+ bytes, under the {GMAIL_CLIP_BYTES:,} at "
        r"which Gmail clips a message\.$",
        result.stdout,
        re.M,
    )
    assert re.search(
        r"^passed   Images: All \d+ images are within the budget of 61,440 bytes each "
        r"\(NEWSLETTER_PHOTO_BUDGET_BYTES\); the largest, [\w.-]+\.jpg, is [\d,]+ bytes\.$",
        result.stdout,
        re.M,
    )
    for title in ("Alt text", "Links", "Unsubscribe", "Merge fields"):
        assert line_of(result, title).startswith("passed ")
    # The preview's own sentence, and its rules explained in the preview's plain words.
    assert re.search(
        r"^passed   Spam score: SpamAssassin gives this message -?[\d.]+ points; it treats a "
        r"message as spam from 5\.0, so this one passes",
        result.stdout,
        re.M,
    )
    assert re.search(
        r"^ +\+0\.0  HTML_MESSAGE +The message has an HTML part\. Every newsletter has one",
        result.stdout,
        re.M,
    )
    assert line_of(result, "DKIM").startswith("skipped  DKIM: NEWSLETTER_DKIM_DOMAIN is not set")
    assert result.stdout.rstrip().endswith("All 7 checks passed; not checked here: DKIM.")


def test_the_example_as_json(example_report: tuple[Result, Result]) -> None:
    _, result = example_report
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["record"], report["ok"], report["failed"]) == (str(EXAMPLE), True, [])
    checks = by_name(report)
    assert list(checks) == [
        "html-size",
        "images",
        "alt-text",
        "links",
        "unsubscribe",
        "merge-fields",
        "spam",
        "dkim",
    ]
    assert checks["html-size"]["clip_bytes"] == GMAIL_CLIP_BYTES
    assert 0 < checks["html-size"]["bytes"] < GMAIL_CLIP_BYTES
    images = checks["images"]["images"]
    assert images and all(not image["over_budget"] for image in images)
    assert {image["file"] for image in images} >= {"speaker-1-sahibzada-sultan-ahmed-ali.jpg"}
    spam = checks["spam"]
    assert spam["status"] == "passed" and spam["installed"] is True
    assert spam["score"] < spam["required"] == 5.0
    assert {"rule": "HTML_MESSAGE", "points": 0.0, "meaning": PLAIN_WORDS["HTML_MESSAGE"]} in (
        spam["rules"]
    )
    assert checks["dkim"]["status"] == "skipped"


def test_an_image_over_the_budget_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, PHOTO_BUDGET_BYTES="2000")
    result = run(EXAMPLE)
    assert result.exit_code == 1, result.output
    assert re.search(
        r"^FAILED   Images: \d+ of \d+ images are over the budget of 2,000 bytes each "
        r"\(NEWSLETTER_PHOTO_BUDGET_BYTES\)",
        result.stdout,
        re.M,
    )
    assert re.search(
        r"^ +- speaker-1-sahibzada-sultan-ahmed-ali\.jpg is [\d,]+ bytes$", result.stdout, re.M
    )
    assert re.search(r"^\d+ of 8 checks failed: Images\.$", result.stdout, re.M)

    _, report = as_json(EXAMPLE)
    assert report["failed"] == ["images"]
    images = by_name(report)["images"]
    assert images["budget_bytes"] == 2000
    assert all(image["over_budget"] == (image["bytes"] > 2000) for image in images["images"])
    assert any(image["over_budget"] for image in images["images"])


def test_a_clipped_html_fails(tmp_path: Path) -> None:
    # Far more text than Gmail shows before it clips.
    record = small_record(tmp_path, "Words upon words. " * 7000)
    result, report = as_json(record)
    assert result.exit_code == 1
    html = by_name(report)["html-size"]
    assert html["status"] == "failed" and html["bytes"] > GMAIL_CLIP_BYTES
    assert "Gmail clips a message over about 102,000 bytes" in html["sentence"]
    assert report["failed"] == ["html-size"]


def test_an_image_without_alt_text_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A template of one's own that forgets an image's alt.
    mine = tmp_path / "templates"
    mine.mkdir()
    (mine / "seminar.mjml.j2").write_text(
        "<mjml><mj-body><mj-section><mj-column>\n"
        "<mj-text>{{ record.title }}{% if personal %} "
        '<a href="{{ personal.unsubscribe }}">Unsubscribe</a>{% endif %}</mj-text>\n'
        '<mj-raw><img src="https://example.org/banner.png" width="600"></mj-raw>\n'
        "</mj-column></mj-section></mj-body></mjml>\n"
    )
    set_env(monkeypatch, TEMPLATES_DIR=mine)
    result = run(small_record(tmp_path))
    assert result.exit_code == 1, result.output
    assert line_of(result, "Alt text") == (
        "FAILED   Alt text: An image has no alt text: a reader whose mail blocks pictures, or "
        "who has it read aloud, learns nothing from it."
    )
    assert "- image 1 (https://example.org/banner.png) has no alt text" in result.stdout
    assert line_of(result, "Unsubscribe").startswith("passed ")


def test_a_relative_link_fails(tmp_path: Path) -> None:
    record = small_record(tmp_path, "See [the programme](programme.html).")
    result = run(record)
    assert result.exit_code == 1
    assert line_of(result, "Links").startswith("FAILED   Links: A link is not an absolute")
    assert "- <a href='programme.html'> is not an absolute http(s) URL" in result.stdout


def test_a_missing_unsubscribe_link_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "templates"
    mine.mkdir()
    (mine / "seminar.txt.j2").write_text("{{ record.title }}\n")
    set_env(monkeypatch, TEMPLATES_DIR=mine)
    result, report = as_json(small_record(tmp_path))
    assert result.exit_code == 1
    unsubscribe = by_name(report)["unsubscribe"]
    assert unsubscribe["status"] == "failed"
    assert unsubscribe["problems"] == [
        {"code": "no-unsubscribe", "message": "the text part has no unsubscribe link"}
    ]
    assert report["failed"] == ["unsubscribe"]


def test_a_spam_score_over_the_threshold_fails(tmp_path: Path) -> None:
    record = small_record(tmp_path, GTUBE)
    result = run(record)
    assert result.exit_code == 1, result.output
    assert line_of(result, "Spam score") == (
        "FAILED   Spam score: SpamAssassin gives this message 1000.0 points; it treats a "
        "message as spam from 5.0, so this one would be marked as spam: the rules below say why."
    )
    assert re.search(r"^ +\+1000\.0  GTUBE ", result.stdout, re.M)
    assert result.stdout.rstrip().endswith("1 of 8 checks failed: Spam score.")


def test_without_spamassassin_the_score_is_skipped_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))
    result, report = as_json(small_record(tmp_path, GTUBE))
    assert result.exit_code == 0, result.output
    spam = by_name(report)["spam"]
    assert (spam["status"], spam["installed"], spam["score"]) == ("skipped", False, None)
    assert spam["sentence"] == "SpamAssassin is not installed here, so there is no score."


def test_the_dkim_signature_checks_out_against_the_keys_public_half(
    tmp_path: Path, dkim_key: Path
) -> None:
    result, report = as_json(small_record(tmp_path))
    assert result.exit_code == 0, result.output
    dkim = by_name(report)["dkim"]
    assert dkim["status"] == "passed"
    signer = DkimSigner.from_key_file("example.org", "news", dkim_key)
    assert (dkim["domain"], dkim["selector"], dkim["algorithm"]) == (
        "example.org",
        "news",
        "rsa-sha256",
    )
    assert (dkim["dns_name"], dkim["dns_record"]) == (
        "news._domainkey.example.org",
        signer.dns_record(),
    )
    assert dkim["sentence"] == (
        "The message is signed for example.org (rsa-sha256, selector news) and the signature "
        "checks out against the public key of NEWSLETTER_DKIM_KEY_FILE; receivers look the "
        "key up at news._domainkey.example.org."
    )


def test_an_ed25519_signature_checks_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_key(tmp_path / "ed.pem", Ed25519PrivateKey.generate())
    set_env(monkeypatch, DKIM_DOMAIN="example.org", DKIM_SELECTOR="ed", DKIM_KEY_FILE=path)
    _, report = as_json(small_record(tmp_path))
    dkim = by_name(report)["dkim"]
    assert (dkim["status"], dkim["algorithm"]) == ("passed", "ed25519-sha256")


def test_the_published_record_as_dig_prints_it(tmp_path: Path, dkim_key: Path) -> None:
    value = DkimSigner.from_key_file("example.org", "news", dkim_key).dns_record()
    quoted = " ".join(f'"{value[i : i + 200]}"' for i in range(0, len(value), 200))
    result = run(small_record(tmp_path), "--dkim-record", quoted)
    assert result.exit_code == 0, result.output
    assert "checks out against the TXT record given with --dkim-record" in line_of(result, "DKIM")


def test_a_signature_that_does_not_match_the_published_key_fails(
    tmp_path: Path, dkim_key: Path
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    published = DkimSigner("example.org", "news", other).dns_record()
    result = run(small_record(tmp_path), "--dkim-record", published)
    assert result.exit_code == 1
    assert line_of(result, "DKIM") == (
        "FAILED   DKIM: The DKIM signature does not check out against the TXT record given "
        "with --dkim-record: the signature does not match the message and the key."
    )
    assert result.stdout.rstrip().endswith("1 of 8 checks failed: DKIM.")


@pytest.mark.parametrize(
    ("published", "reason"),
    [
        ("v=DKIM1; k=rsa; p=", "the TXT record's p= is empty, which means the key was revoked"),
        ("nonsense", 'the TXT record is no DKIM key ("v=DKIM1; k=rsa; p=..."): nonsense'),
    ],
)
def test_a_published_record_that_holds_no_key_fails(
    tmp_path: Path, dkim_key: Path, published: str, reason: str
) -> None:
    result, report = as_json(small_record(tmp_path), "--dkim-record", published)
    assert result.exit_code == 1
    assert by_name(report)["dkim"]["sentence"].endswith(f": {reason}.")


def test_a_dkim_key_that_cannot_be_read_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dkim_key: Path
) -> None:
    set_env(monkeypatch, DKIM_KEY_FILE=tmp_path / "missing.pem")
    result, report = as_json(small_record(tmp_path))
    assert result.exit_code == 1
    dkim = by_name(report)["dkim"]
    assert dkim["status"] == "failed"
    assert dkim["sentence"] == (
        f"Messages cannot be signed: NEWSLETTER_DKIM_KEY_FILE '{tmp_path / 'missing.pem'}' "
        "does not exist."
    )


def test_a_bad_record_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    record = tmp_path / "record.yaml"
    record.write_text("title: x\ndate: not a date\nspeakers:\n  - role: Chair\n")
    result = run(record, "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) >= 3
    assert all(re.match(rf"{re.escape(str(record))}:\d+ ", line) for line in lines), lines
    assert any("speakers[0].name" in line for line in lines)


def test_a_missing_record_and_a_bad_setting_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = run(tmp_path / "nowhere.yaml")
    assert missing.exit_code == 2
    assert str(tmp_path / "nowhere.yaml") in missing.stderr
    assert "Traceback" not in missing.output
    set_env(monkeypatch, IMAGES="attached")
    refused = run(small_record(tmp_path))
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: invalid setting: NEWSLETTER_IMAGES: ")
