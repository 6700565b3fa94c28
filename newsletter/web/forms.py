"""Reading a posted form (urlencoded or multipart) into plain strings, within limits."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import UploadFile

MAX_FIELDS = 100
MAX_PART_SIZE = 64 * 1024


@dataclass(frozen=True)
class Form:
    values: dict[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        found = self.values.get(name)
        return found[0] if found else default

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])


URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


# What a body we cannot read (another type, malformed, too big, a file) reads as: no
# fields, so each route answers as it does for a form without the fields it needs.
EMPTY = Form({})


async def read_form(request: Request) -> Form:
    """The posted fields; no fields for a body that is not a form we can read."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == URLENCODED:
        return await _urlencoded(request)
    if content_type != MULTIPART:
        return EMPTY
    try:
        parsed = await request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_PART_SIZE)
    except Exception:  # starlette and python-multipart raise several kinds
        return EMPTY
    values: dict[str, list[str]] = {}
    for name, value in parsed.multi_items():
        if isinstance(value, UploadFile):
            return EMPTY
        values.setdefault(name, []).append(value)
    return Form(values)


async def limited_body(request: Request, limit: int) -> bytes | None:
    """The whole body, or None once it is (or says it will be) more than `limit` bytes:
    reading stops there, so a huge body costs no memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _urlencoded(request: Request) -> Form:
    # parse_qsl rather than the multipart package's streaming parser: these bodies are
    # tiny, and the one-click unsubscribe, the busiest route, posts one.
    body = await limited_body(request, MAX_PART_SIZE)
    if body is None:
        return EMPTY
    text = body.decode("utf-8", "replace")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        return EMPTY
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return Form(values)


def row_id(text: str) -> int | None:
    """A posted or routed row id, or None. `str.isdigit` alone lets "²" through (which
    `int` refuses) and "١" (which it reads as 1), and a 30-digit id overflows the
    database's integer: each would be a 500, not a refusal."""
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None
