from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.issue.model import Asset
from newsletter.transports.base import Content, OutgoingMessage
from tests.transports.smtp_servers import TlsFiles, make_tls_files

HTML = (
    "<html><body><p>Dear __NL_NAME__,</p><p>Sent to <b>__NL_EMAIL__</b>.</p>"
    '<a href="__NL_UNSUBSCRIBE_URL__">Unsubscribe</a> '
    '<a href="__NL_PREFERENCES_URL__">Preferences</a> '
    '<a href="__NL_FORWARD_URL__">Forward</a></body></html>'
)
TEXT = "Dear __NL_NAME__,\nSent to __NL_EMAIL__.\nUnsubscribe: __NL_UNSUBSCRIBE_URL__\n"
SUBJECT = "Seminar news for __NL_NAME__"
# NEWSLETTER_IMAGES=inline: every byte value, and line breaks and dashes that a multipart
# form or a JSON string must carry as they are.
IMAGES = (
    Asset("speaker-1.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
    Asset("logo.jpg", "image/jpeg", b"\xff\xd8\xff\xe0" + b'\r\n--\r\n"\\' * 8),
)
INLINE_HTML = HTML.replace(
    "</body>", "".join(f'<img src="cid:{image.cid}" alt="">' for image in IMAGES) + "</body>"
)


def inline_content() -> Content:
    return make_content(html=INLINE_HTML, images=IMAGES)


def fields_for(address: str, name: str = "Ana") -> dict[str, str]:
    token = address.split("@")[0]
    return {
        "email": address,
        "name": name,
        "unsubscribe_url": f"https://news.example.org/u/{token}?list=7&v=3",
        "preferences_url": f"https://news.example.org/p/{token}",
        "forward_url": f"https://news.example.org/f/{token}?c=9",
    }


def make_content(**changes: object) -> Content:
    values: dict[str, object] = {
        "subject": SUBJECT,
        "html": HTML,
        "text": TEXT,
        "from_address": "Muslim Institute <newsletter@example.org>",
        "reply_to": "office@example.org",
        "headers": {"List-Id": "Seminars <seminars.example.org>", "X-Campaign-ID": "9"},
    }
    values.update(changes)
    return Content(**values)  # type: ignore[arg-type]


def make_message(key: int, address: str, name: str = "Ana", data: bytes = b"") -> OutgoingMessage:
    fields = fields_for(address, name)
    return OutgoingMessage(
        key=key,
        recipient=address,
        sender="bounces@example.org",
        data=data or message_bytes(address, key),
        fields=fields,
        headers={
            "Message-ID": f"<{key}.campaign9@example.org>",
            "List-Unsubscribe": f"<{fields['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def message_bytes(address: str, key: int) -> bytes:
    return (
        f"From: newsletter@example.org\r\nTo: {address}\r\nSubject: Seminar news {key}\r\n"
        f"Message-ID: <{key}.campaign9@example.org>\r\n\r\nHello {address}\r\n"
    ).encode()


@pytest.fixture
def content() -> Content:
    return make_content()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsFiles]:
    yield make_tls_files(Path(tmp_path_factory.mktemp("tls")))
