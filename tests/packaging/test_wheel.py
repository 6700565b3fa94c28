"""The built wheel, installed in a fresh venv outside the checkout, builds and sends the example.

This is what `pip install .` gives a user: no editable install, no checkout on sys.path, only
what the wheel carries (templates, migrations, static files) and what it declares it needs.

The wheel's dependencies are not downloaded again (that takes half a minute): the
distributions it requires, and theirs, are linked from the venv running the tests into
the fresh venv's site-packages, one top-level entry of each distribution's RECORD at a
time. Only that closure is linked, never a whole site-packages, so the editable install of
`newsletter` (and the test-only packages) stay out of sight: a module the package imports
but the wheel does not declare fails here as it would for a user. `pip check` then confirms
the fresh venv is complete by pip's own reckoning.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import EXAMPLE, ROOT
from tests.transports.smtp_servers import Mailbox, smtp_server

pytestmark = pytest.mark.slow

TIMEOUT = 180  # seconds for any one command; a hung one fails the test instead of the suite
BUILT = ("email.html", "email.txt", "web.html", "newsletter.pdf", "message.eml")
READERS = ("amina@example.org", "james@example.net", "sofia@example.com")


@dataclass(frozen=True)
class Installed:
    venv: Path
    wheel: Path

    @property
    def newsletter(self) -> Path:
        return self.venv / "bin" / "newsletter"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def run(command: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`command` with a clean environment (no NEWSLETTER_*, no venv, no PYTHONPATH) plus `env`."""
    keep = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("NEWSLETTER_", "PYTHON", "VIRTUAL_ENV"))
    }
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = message_from_bytes(archive.read(name), policy=policy.compat32)
    return metadata.get_all("Requires-Dist") or []


def _wanted(marker: Marker | None, extras: frozenset[str]) -> bool:
    return marker is None or any(marker.evaluate({"extra": extra}) for extra in extras | {""})


def _closure(requirements: list[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions `requirements` need, transitively, extras included."""
    found: dict[str, importlib.metadata.Distribution] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [
        Requirement(text) for text in requirements if _wanted(Requirement(text).marker, frozenset())
    ]
    while pending:
        requirement = pending.pop()
        name, extras = canonicalize_name(requirement.name), frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            found[name] = distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"{requirement} is not installed in {sys.prefix}: run `make install`")
        assert requirement.specifier.contains(distribution.version, prereleases=True), (
            f"{requirement}: {distribution.version} is installed; run `make install`"
        )
        for text in distribution.requires or []:
            nested = Requirement(text)
            if _wanted(nested.marker, extras):
                pending.append(nested)
    return list(found.values())


def _link_dependencies(wheel: Path, site_packages: Path) -> None:
    for distribution in _closure(_requirements(wheel)):
        files = distribution.files
        assert files is not None, f"{distribution.metadata['Name']} has no RECORD"
        tops = {Path(file).parts[0] for file in files if not str(file).startswith("..")}
        for top in sorted(tops - {"__pycache__"}):
            source = Path(str(distribution.locate_file(top)))
            target = site_packages / top
            # Namespace folders shared by several distributions are linked once.
            if source.exists() and not target.exists():
                target.symlink_to(source)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    # Built from a copy, so setuptools' build/ and egg-info stay out of the checkout.
    source = base / "source"
    shutil.copytree(
        ROOT / "newsletter",
        source / "newsletter",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip"]
    run([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", base / "dist", source], cwd=base)
    (wheel,) = (base / "dist").glob("newsletter-*.whl")

    venv = base / "venv"
    # Without pip: the tests' pip installs into it (--python), which saves ensurepip's seconds.
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=base)
    target = ["--python", venv / "bin" / "python"]
    run([*pip, *target, "install", "--quiet", "--no-deps", "--no-index", wheel], cwd=base)
    (site_packages,) = (venv / "lib").glob("python3.*/site-packages")
    _link_dependencies(wheel, site_packages)
    run([*pip, *target, "check"], cwd=base)
    return Installed(venv=venv, wheel=wheel)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the example record with its photos, away from the checkout."""
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLE.parent, folder)
    return folder / EXAMPLE.name


def test_wheel_carries_the_email_templates(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as archive:
        names = set(archive.namelist())
    for template in ("seminar.mjml.j2", "seminar.txt.j2", "seminar.print.html.j2"):
        assert f"newsletter/compose/templates/{template}" in names
    # The "Follow Us" icons, which every issue with social links carries.
    for network in ("facebook", "twitter", "linkedin"):
        assert f"newsletter/compose/icons/{network}.png" in names


def test_wheel_carries_the_catalogues(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as archive:
        names = set(archive.namelist())
    for language in ("en", "ur", "ar"):
        assert f"newsletter/i18n/locale/{language}/LC_MESSAGES/newsletter.mo" in names
    assert "newsletter/compose/templates/partials/lines.j2" in names


def test_installed_wheel_builds_an_urdu_issue_in_urdu(installed: Installed, tmp_path: Path) -> None:
    record = tmp_path / "record.yaml"
    record.write_text(
        "title: انسانیت کے خلاف جرم\ndate: 2022-02-24\norganiser: مسلم انسٹیٹیوٹ\n"
        "language: ur\nsummary: ایک سیمینار۔\n",
        encoding="utf-8",
    )
    run(
        [installed.newsletter, "build", record, "--out", "out"],
        cwd=tmp_path,
        NEWSLETTER_DATA_DIR=str(tmp_path / "data"),
        NEWSLETTER_SECRET_KEY="wheel-test-secret-key-0123456789",
    )
    text = (tmp_path / "out" / "email.txt").read_text(encoding="utf-8")
    assert "سیمینار بعنوان" in text and "جمعرات، 24 فروری، 2022" in text
    assert "Unsubscribe" not in text


def test_installed_wheel_is_the_one_imported(installed: Installed, tmp_path: Path) -> None:
    code = "import newsletter; print(newsletter.__file__)"
    imported = Path(run([installed.python, "-c", code], cwd=tmp_path).stdout.strip())
    assert imported.is_relative_to(installed.venv), imported
    assert not imported.is_relative_to(ROOT)
    # Only what the wheel declares is there: the test-only packages are not.
    code = "import importlib.util as u; print([n for n in ('pytest', 'httpx2') if u.find_spec(n)])"
    assert run([installed.python, "-c", code], cwd=tmp_path).stdout.strip() == "[]"


def test_installed_wheel_builds_the_example(
    installed: Installed, example: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    assert not work.is_relative_to(ROOT)
    result = run(
        [installed.newsletter, "build", example, "--out", "out"],
        cwd=work,
        NEWSLETTER_DATA_DIR=str(tmp_path / "data"),
        NEWSLETTER_SECRET_KEY="wheel-test-secret-key-0123456789",
    )
    for name in BUILT:
        assert (work / "out" / name).stat().st_size > 0, f"{name} missing:\n{result.stdout}"
    assert (work / "out" / "newsletter.pdf").read_bytes().startswith(b"%PDF-")
    assert "Khojaly" in (work / "out" / "email.txt").read_text()
    assert list((work / "out" / "assets").iterdir())


def test_installed_wheel_sends_the_example_over_smtp(
    installed: Installed, example: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    readers = work / "readers.csv"
    readers.write_text("email,name\n" + "".join(f"{a},Reader {a[0]}\n" for a in READERS))
    box = Mailbox()
    with smtp_server(box) as port:
        env = {
            "NEWSLETTER_DATA_DIR": str(tmp_path / "data"),
            "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'wheel.db'}",
            "NEWSLETTER_SECRET_KEY": "wheel-test-secret-key-0123456789",
            "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{port}",
            "NEWSLETTER_FROM": "MUSLIM Institute <newsletter@example.org>",
        }
        cli = installed.newsletter
        run([cli, "lists", "create", "members"], cwd=work, **env)
        imported = run([cli, "subscribers", "import", "members", readers], cwd=work, **env)
        assert "added 3" in imported.stdout
        sent = run([cli, "send", example, "--list", "members", "--yes"], cwd=work, **env)
    # `send` returns once every message is accepted or given up on: nothing to wait for.
    assert sent.stdout.splitlines()[-1].endswith("sent 3, failed 0, skipped 0, left 0")
    assert sorted(box.recipients()) == sorted(READERS)
    message = message_from_bytes(box.accepted[0].data, policy=policy.SMTP)
    assert (
        str(message["Subject"])
        == "Seminar: Genocide and Ethnic cleansing: A Crime against Humanity"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
