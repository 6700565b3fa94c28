"""The deployment the browser tests click through, and how it is set up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send
from typer.testing import CliRunner

from newsletter.cli import app as cli
from newsletter.devsmtp.server import DevSmtpServer
from tests.sending.helpers import Audience


@dataclass(frozen=True)
class Site:
    inbox: DevSmtpServer
    # NEWSLETTER_PUBLIC_URL: where the live web side answers, and what the mails link to.
    public_url: str
    audience: Audience
    campaign_id: int
    # The NEWSLETTER_* environment the site was set up with.
    env: dict[str, str]


class LateApp:
    """An ASGI app set after the server starts: the web side must know its own URL, which
    is known only once `live_server` has bound its port."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the app is not set yet"
        await self.app(scope, receive, send)


def send_campaign(record: Path, list_name: str) -> int:
    """`newsletter send RECORD --list LIST --yes`, as a user runs it; the campaign's id."""
    result = CliRunner().invoke(cli, ["send", str(record), "--list", list_name, "--yes"])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("campaign "), result.stdout
    return int(first.removeprefix("campaign "))
