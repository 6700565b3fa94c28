"""One small deployment per test module: a SQLite store, a list, a capture server, the
public web side under uvicorn, and a campaign sent to the list through `newsletter send`.

The send is shared by the tests of a module, which stay independent because each one acts
on the message of a different recipient. So the capture server is module-scoped too (the
`dev_smtp` fixture of tests/browser.py is per test). The autouse fixture of
tests/conftest.py resets the NEWSLETTER_* environment for every test; `_site_settings`
puts the site's back, so that the store helpers see its database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from newsletter.core.settings import Settings, get_settings
from newsletter.devsmtp.server import DevSmtpServer
from newsletter.web import create_app
from tests.browser import browser, free_port, live_server, page  # noqa: F401
from tests.conftest import EXAMPLE
from tests.e2e.site import LateApp, Site, send_campaign
from tests.sending.helpers import FROM, populated_list
from tests.store.databases import isolated_database


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("site")
    patch = pytest.MonkeyPatch()
    try:
        patch.chdir(folder)
        for name in list(os.environ):
            if name.startswith("NEWSLETTER_"):
                patch.delenv(name)
        patch.setenv("NEWSLETTER_DATA_DIR", str(folder / "data"))
        patch.setenv("NEWSLETTER_SECRET_KEY", "e2e-secret-key-0123456789")
        with (
            isolated_database("sqlite", folder, patch),
            DevSmtpServer("127.0.0.1", free_port(), free_port()) as inbox,
        ):
            late = LateApp()
            with live_server(late) as public_url:
                patch.setenv("NEWSLETTER_PUBLIC_URL", public_url)
                patch.setenv("NEWSLETTER_TRANSPORT", "smtp")
                patch.setenv("NEWSLETTER_SMTP_URL", inbox.smtp_url)
                patch.setenv("NEWSLETTER_SMTP_CONNECTIONS", "1")
                patch.setenv("NEWSLETTER_FROM", FROM)
                get_settings.cache_clear()
                late.app = create_app(Settings())
                # Four members to mail, and one of each kind that must not be mailed.
                audience = populated_list(active=4)
                campaign_id = send_campaign(EXAMPLE, audience.name)
                env = {k: v for k, v in os.environ.items() if k.startswith("NEWSLETTER_")}
                yield Site(inbox, public_url, audience, campaign_id, env)
    finally:
        patch.undo()
        get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _site_settings(_isolated_settings: None, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in site.env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
