"""A captured message taken apart for display: headers in order, text and HTML bodies, and
the other parts (inline images, attachments). Parsed on request; a page shows one message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import cast
from urllib.parse import quote, unquote

from newsletter.devsmtp.capture import decode_header_value

# src="cid:logo@x", url(cid:logo@x): the reference ends at a quote, bracket or space.
_CID_REFERENCE = re.compile(r"\bcid:([^\"'()\s<>]+)", re.IGNORECASE)
_HEAD_OPEN = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_HTML_OPEN = re.compile(r"<html\b[^>]*>", re.IGNORECASE)
_DOCTYPE = re.compile(r"<!doctype\b[^>]*>", re.IGNORECASE)
# Links in the message leave the inbox's frame: the first <base target> wins, so it goes
# before anything the message itself declares.
BASE_TAG = '<base target="_top">'


@dataclass(frozen=True)
class Part:
    """A leaf part other than the text and HTML bodies."""

    index: int
    content_type: str
    filename: str
    content_id: str
    size: int


@dataclass(frozen=True)
class Content:
    headers: tuple[tuple[str, str], ...]
    text: str | None
    html: str | None
    parts: tuple[Part, ...]


def parse_message(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)


def content_of(raw: bytes) -> Content:
    message = parse_message(raw)
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    bodies = {id(part) for part in (html_part, text_part) if part is not None}
    parts = tuple(
        Part(
            index=index,
            content_type=part.get_content_type(),
            filename=part.get_filename() or "",
            content_id=_content_id(part),
            size=len(part.get_payload(decode=True) or b""),
        )
        for index, part in _leaves(message)
        if id(part) not in bodies
    )
    return Content(
        headers=tuple((name, decode_header_value(value)) for name, value in message.raw_items()),
        text=_text(text_part),
        html=_text(html_part),
        parts=parts,
    )


def part_at(raw: bytes, index: int) -> Part | None:
    for part in content_of(raw).parts:
        if part.index == index:
            return part
    return None


def part_data(raw: bytes, index: int) -> bytes:
    for position, part in _leaves(parse_message(raw)):
        if position == index:
            return cast(bytes, part.get_payload(decode=True) or b"")
    raise KeyError(index)


def part_for_cid(raw: bytes, content_id: str) -> Part | None:
    wanted = content_id.strip("<>")
    for part in content_of(raw).parts:
        if part.content_id and part.content_id == wanted:
            return part
    return None


def framed_html(html: str, cid_prefix: str) -> str:
    """The HTML as the inbox frame serves it: cid: references point at `cid_prefix`,
    and links target the top window."""
    html = _CID_REFERENCE.sub(
        lambda match: cid_prefix + quote(unquote(match.group(1)), safe="@._-"), html
    )
    for opening in (_HEAD_OPEN, _HTML_OPEN, _DOCTYPE):
        found = opening.search(html)
        if found:
            return html[: found.end()] + BASE_TAG + html[found.end() :]
    return BASE_TAG + html


def _leaves(message: Message) -> Iterator[tuple[int, Message]]:
    for index, part in enumerate(message.walk()):
        if not part.is_multipart():
            yield index, part


def _content_id(part: Message) -> str:
    value = part.get("Content-ID")
    return str(value).strip().strip("<>") if value else ""


def _text(part: Message | None) -> str | None:
    """The decoded body with LF line ends: the wire's CRLF is transport, not content."""
    if part is None:
        return None
    try:
        text = cast(str, cast(EmailMessage, part).get_content())
    except (LookupError, UnicodeError, AssertionError):
        # An unknown or lying charset: show what can be shown rather than nothing.
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return text.replace("\r\n", "\n")
