"""A record as a sample recipient would get it, for the preview page.

Composed with the composer (pure) and personalised for a sample recipient the way a
campaign is, so the preview is the message, not an imitation. Photos the issue would host
under the public URL are not published yet, so the preview's HTML carries them as data:
URLs. Results are kept per file version: the page, its three frames and its poll all ask.

Staff may see a chosen subscriber's copy (`for_reader`): their name, address and attributes
in the merge fields (newsletter.issue.merge_fields), the links still subscriber 0's. The
issue is composed once per file version whoever reads it; only the personalising is per
reader.
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
from newsletter.mail.factory import Addressee
from newsletter.record.model import LoadedRecord
from newsletter.web.staff.records import version

_CACHE_SIZE = 8

# For a previewed email shown in a frame: its own styles and images, never a script, a
# form or a way out of the frame (the preview page and the editor both serve it).
EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; font-src https: data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)

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
    # The composed issue, which every reader's copy of this version is made from.
    issue: Issue | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def clip_limit(self) -> int:
        return GMAIL_CLIP_BYTES


# (path, version, reader) -> the preview; reader "" is the sample reader.
_cache: dict[tuple[str, str, str], Preview] = {}
_lock = threading.Lock()


def preview(settings: Settings, path: Path, reader: Addressee | None = None) -> Preview:
    current = version(path)
    key = (str(path), current, _reader_key(reader))
    with _lock:
        found = _cache.get(key)
    if found is not None:
        return found
    if reader is None:
        built = _build(settings, path, current)
    else:
        built = for_reader(settings, preview(settings, path), reader)
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
    return _shown(settings, issue, checks, current)


def preview_loaded(settings: Settings, loaded: LoadedRecord, version: str) -> Preview:
    """The preview of a record already loaded (the editor's form, a saved issue version);
    not kept: the editor keeps its own."""
    from newsletter.compose.from_file import compose_loaded

    try:
        issue, checks = compose_loaded(settings, loaded)
    except NewsletterError as exc:
        return Preview(version, problems=[str(exc)])
    return _shown(settings, issue, checks, version)


def for_reader(settings: Settings, shown: Preview, reader: Addressee) -> Preview:
    """`shown` as `reader` would get it; a preview with problems stays as it is."""
    if shown.issue is None:
        return shown
    return _shown(settings, shown.issue, shown.checks, shown.version, reader)


def _reader_key(reader: Addressee | None) -> str:
    if reader is None:
        return ""
    return repr((reader.email, reader.name, sorted(map(repr, reader.attributes.items()))))


def _shown(
    settings: Settings,
    issue: Issue,
    checks: list[Problem],
    current: str,
    reader: Addressee | None = None,
) -> Preview:
    from newsletter.mail.sample import sample_copy

    sample = sample_copy(settings, issue, reader)
    head = BytesHeaderParser(policy=default_policy).parsebytes(sample.message)
    return Preview(
        version=current,
        subject=sample.subject,
        preheader=sample.preheader,
        html=_embed_images(settings, issue, sample.html),
        text=sample.text,
        headers=[(name, str(value)) for name, value in head.items()],
        message=sample.message,
        checks=checks,
        html_bytes=len(issue.html.encode("utf-8")),
        issue=issue,
    )


def _relative(problem: str, path: Path) -> str:
    # Staff see the record's name, not where the server keeps it (nor its photos).
    return problem.replace(str(path), path.name).replace(f"{path.parent}{os.sep}", "")


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
