"""A record as a sample recipient would get it, for the preview page.

Composed with the composer (pure) and personalised for a sample recipient the way a
campaign is, so the preview is the message, not an imitation. Photos the issue would host
under the public URL are not published yet, so the preview's HTML carries them as data:
URLs. Results are kept per file version: the page, its three frames and its poll all ask.
"""

from __future__ import annotations

import base64
import os
import threading
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path

from newsletter.compose.checks import GMAIL_CLIP_BYTES, Problem
from newsletter.core.errors import NewsletterError, RecordError
from newsletter.core.links import Links
from newsletter.core.settings import Settings
from newsletter.issue.model import Issue
from newsletter.web.staff.records import version

_CACHE_SIZE = 8

# Full inversion, as the Outlook and Gmail apps do to a message without dark styles;
# photos are turned back so they look as they are.
DARK_STYLE = (
    "<style>:root{color-scheme:dark}"
    "html{filter:invert(1) hue-rotate(180deg);background:#ffffff}"
    "img,picture,video{filter:invert(1) hue-rotate(180deg)}</style>"
)


@dataclass(frozen=True)
class Preview:
    version: str
    problems: list[str] = field(default_factory=list)  # the record's errors, if any
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    message: bytes = b""
    checks: list[Problem] = field(default_factory=list)
    html_bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def clip_limit(self) -> int:
        return GMAIL_CLIP_BYTES


_cache: dict[tuple[str, str], Preview] = {}
_lock = threading.Lock()


def preview(settings: Settings, path: Path) -> Preview:
    current = version(path)
    key = (str(path), current)
    with _lock:
        found = _cache.get(key)
    if found is not None:
        return found
    built = _build(settings, path, current)
    with _lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = built
    return built


def _build(settings: Settings, path: Path, current: str) -> Preview:
    from newsletter.compose.from_file import compose_file

    try:
        issue, checks = compose_file(settings, path)
    except RecordError as exc:
        return Preview(current, problems=[_relative(p, path) for p in exc.problems])
    except NewsletterError as exc:
        return Preview(current, problems=[str(exc)])
    html, text, message = _personalised(settings, issue)
    head = BytesHeaderParser(policy=default_policy).parsebytes(message)
    return Preview(
        version=current,
        subject=issue.subject,
        preheader=issue.preheader,
        html=_embed_images(settings, issue, html),
        text=text,
        headers=[(name, str(value)) for name, value in head.items()],
        message=message,
        checks=checks,
        html_bytes=len(issue.html.encode("utf-8")),
    )


def _relative(problem: str, path: Path) -> str:
    # Staff see the record's name, not where the server keeps it (nor its photos).
    return problem.replace(str(path), path.name).replace(f"{path.parent}{os.sep}", "")


def _personalised(settings: Settings, issue: Issue) -> tuple[str, str, bytes]:
    from newsletter.mail.sample import sample_copy

    sample = sample_copy(settings, issue)
    return sample.html, sample.text, sample.message


def _embed_images(settings: Settings, issue: Issue, html: str) -> str:
    links = Links(settings.public_url)
    for asset in issue.assets:
        data = f"data:{asset.content_type};base64,{base64.b64encode(asset.data).decode()}"
        html = html.replace(links.asset(issue.slug, asset.filename), data)
        html = html.replace(f"cid:{asset.cid}", data)
    return html


def dark(html: str) -> str:
    marker = html.lower().find("</head>")
    if marker < 0:
        return DARK_STYLE + html
    return html[:marker] + DARK_STYLE + html[marker:]
