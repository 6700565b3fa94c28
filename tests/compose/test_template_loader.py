"""The packaged templates, a caller's override folder, and errors that name the template."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsletter.compose import template_loader
from newsletter.compose.template_loader import EMAIL, PACKAGED_DIR, PRINT, TEXT, templates
from newsletter.core.errors import ComposeError
from tests.compose.helpers import compose

# An override must still write the placeholders the checks look for; a plain text part with
# the unsubscribe placeholder is enough for these tests.
TEXT_OVERRIDE = "OUR OWN LAYOUT: {{ record.title }}\n{{ personal.unsubscribe }}\n"


def test_templates_ship_inside_the_package() -> None:
    assert PACKAGED_DIR.parent == Path(template_loader.__file__).resolve().parent
    for name in (EMAIL, TEXT, PRINT):
        assert (PACKAGED_DIR / name).is_file(), name


def test_a_template_in_the_override_folder_wins_and_the_others_fall_back(tmp_path: Path) -> None:
    (tmp_path / TEXT).write_text(TEXT_OVERRIDE)
    default = compose()
    issue = compose(templates_dir=tmp_path)
    assert issue.text.startswith("OUR OWN LAYOUT: Water and Peace")
    assert "OUR OWN LAYOUT" not in default.text
    # The HTML templates were not overridden: they are the packaged ones.
    assert issue.html == default.html
    assert issue.print_html == default.print_html


def test_override_templates_may_include_partials_of_their_own(tmp_path: Path) -> None:
    (tmp_path / PRINT).write_text('<p>mine</p>{% include "part.j2" %}')
    (tmp_path / "part.j2").write_text("<p>partial</p>")
    issue = compose(templates_dir=tmp_path)
    assert issue.print_html == "<p>mine</p><p>partial</p>"


def test_override_folder_is_cached_per_folder(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert templates(tmp_path / "a") is templates(tmp_path / "a")
    assert templates(tmp_path / "a") is not templates(tmp_path / "b")
    assert templates() is templates(None)


def test_relative_override_folder_is_the_one_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / TEXT).write_text(TEXT_OVERRIDE)
    monkeypatch.chdir(tmp_path)
    assert compose(templates_dir=Path("mine")).text.startswith("OUR OWN LAYOUT")
    (tmp_path / "elsewhere" / "mine").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert not compose(templates_dir=Path("mine")).text.startswith("OUR OWN LAYOUT")


def test_missing_override_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match=r"templates folder .*nowhere does not exist"):
        compose(templates_dir=tmp_path / "nowhere")


def test_missing_template_names_the_template_and_the_folders_searched(tmp_path: Path) -> None:
    (tmp_path / TEXT).write_text('{% include "partials/footer.txt.j2" %}')
    with pytest.raises(ComposeError) as caught:
        compose(templates_dir=tmp_path)
    message = str(caught.value)
    assert "'partials/footer.txt.j2' (used by seminar.txt.j2) not found" in message
    assert str(tmp_path) in message and str(PACKAGED_DIR) in message


def test_missing_packaged_template_is_a_compose_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a wheel without its templates met: Jinja's TemplateNotFound, an OSError.
    monkeypatch.setattr(template_loader, "PACKAGED_DIR", tmp_path)
    template_loader._load.cache_clear()
    try:
        with pytest.raises(
            ComposeError, match=re.escape(f"template '{EMAIL}' not found in {tmp_path}")
        ):
            compose()
    finally:
        template_loader._load.cache_clear()


def test_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / TEXT).write_text("fine\n{% if %}\n")
    with pytest.raises(ComposeError, match=rf"template .*{TEXT}, line 2: "):
        compose(templates_dir=tmp_path)


def test_undefined_value_in_an_override_names_the_template(tmp_path: Path) -> None:
    (tmp_path / TEXT).write_text("{{ record.no_such_field }}\n")
    with pytest.raises(ComposeError, match=f"template {TEXT}: .*no_such_field"):
        compose(templates_dir=tmp_path)
