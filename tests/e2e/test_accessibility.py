"""axe-core, in Debian's chromium, on the pages `newsletter build` writes for the example:
the email as a mail reader shows it and the web version as a browser does, in the light
and the dark colour scheme (both are declared, so neither may lose contrast).

axe.min.js comes from the dev extra's axe-playwright-python, which ships it; it is put
into the page and run as the browser's own script, with nothing fetched from outside.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Page
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.core.settings import get_settings
from tests.conftest import EXAMPLE

AXE = (importlib.resources.files("axe_playwright_python") / "axe.min.js").read_text()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("a11y") / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSLETTER_SECRET_KEY", "a11y-secret-key-0123456789")
        patch.setenv("NEWSLETTER_DATA_DIR", str(out.parent / "data"))
        get_settings.cache_clear()
        result = CliRunner().invoke(app, ["build", str(EXAMPLE), "-o", str(out)])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    yield out


def axe_violations(page: Page, url: str) -> list[str]:
    # The photos are hosted under a public URL no one serves here: nothing leaves.
    page.route("http*://**", lambda route: route.abort())
    page.goto(url)
    page.evaluate(AXE)
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    results = page.evaluate("options => axe.run(document, options)", options)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:5])
        for violation in results["violations"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_web_version_has_no_axe_violation(
    page: Page, built: Path, scheme: Literal["light", "dark"]
) -> None:
    page.emulate_media(color_scheme=scheme)
    assert axe_violations(page, (built / "web.html").as_uri()) == []
    assert page.get_by_role("main").count() == 1


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_email_has_no_axe_violation(
    page: Page, built: Path, scheme: Literal["light", "dark"]
) -> None:
    page.emulate_media(color_scheme=scheme)
    assert axe_violations(page, (built / "email.html").as_uri()) == []
    # A main landmark for readers that show the email as its own document, and inside it
    # the article that tells a webmail reader's screen reader where the email starts.
    assert page.get_by_role("main").count() == 1
    article = page.locator('[role="main"] > [role="article"][aria-roledescription="email"]')
    assert article.get_attribute("lang") == "en"
