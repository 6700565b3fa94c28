"""The wire message: RFC 5322 bytes for one recipient, built from a per-issue template.

`MessageTemplate.build` does the expensive work once per issue: it quoted-printable-encodes
the HTML and text between placeholders, folds the headers shared by every recipient and
base64-encodes inline images. Every encoded literal part ends at a line boundary (a soft line
break `=\\r\\n` where needed), so per recipient `render` only encodes the few short field
values and joins byte strings. See `newsletter.mail.personalize` for the whole sequence.

`MessageTemplate.letter` writes a one-off message (a confirmation, a forward) the same way:
its text is final, so it has no placeholders, and it belongs to no list, so it carries no
list headers. The slow, obviously-correct builder that rendered messages are compared
with lives in the tests (tests/mail/oracle.py).
"""

from __future__ import annotations

import binascii
import email.utils
import html
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import MIMEPart

from newsletter.issue.model import Asset, Issue
from newsletter.mail.headers import (
    HEADER_WRITE_ERRORS,
    MessageError,
    address_header,
    ascii_address,
    clean_text,
    fold,
    mailbox,
    structured,
)
from newsletter.mail.headers import list_id as list_id_value
from newsletter.mail.placeholders import Substituter

_POLICY = policy.SMTP
_CRLF = b"\r\n"
_SOFT_BREAK = b"=\n"
# A quoted-printable line may hold 76 characters, the soft-break "=" included.
_QP_LINE = 76
_MAX_LINE = 998
# Characters that may not appear in a URL or message id inside <...> in a header.
_BAD_BRACKETED = re.compile(r'[\x00-\x20\x7f<>"\\]')
# Printable ASCII but "=", no trailing space, short enough for one line: QP leaves it as is.
_QP_PLAIN = re.compile(rb"[ -<>-~]{0,74}[!-<>-~]")

__all__ = ["MessageError", "MessageTemplate"]


@dataclass(frozen=True)
class _Slot:
    field: str
    html: bool


def _qp(data: bytes) -> bytes:
    """Quoted-printable `data` (no CR inside) that ends at a line boundary, LF line ends."""
    if not data:
        return b""
    encoded = binascii.b2a_qp(data)
    if encoded.endswith(b"\n"):
        return encoded
    start = encoded.rfind(b"\n") + 1
    if len(encoded) - start >= _QP_LINE:
        # b2a_qp may leave a full 76-character last line; the soft break needs one column,
        # so break earlier, never inside an "=XX" escape.
        cut = start + _QP_LINE - 1
        if encoded[cut - 1 : cut] == b"=":
            cut -= 1
        elif encoded[cut - 2 : cut - 1] == b"=":
            cut -= 2
        encoded = encoded[:cut] + _SOFT_BREAK + encoded[cut:]
    return encoded + _SOFT_BREAK


def _qp_crlf(data: bytes) -> bytes:
    return _qp(data).replace(b"\n", _CRLF)


def _qp_value(data: bytes) -> bytes:
    """`_qp_crlf` with a shortcut for the usual value that needs no encoding at all."""
    if _QP_PLAIN.fullmatch(data):
        return data + b"=\r\n"
    return _qp_crlf(data)


def _normalise_body(source: str) -> str:
    """LF line ends, ending in one, as the reference builder's decoded body has."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    return source if source.endswith("\n") else source + "\n"


def mailto_url(unsubscribe_mailto: str) -> str:
    """The mailto URL for List-Unsubscribe from a setting holding an address or a URL."""
    if unsubscribe_mailto.startswith("mailto:"):
        if _BAD_BRACKETED.search(unsubscribe_mailto):
            raise MessageError(f"unsubscribe mailto {unsubscribe_mailto!r} is not a valid URL")
        return unsubscribe_mailto
    return f"mailto:{ascii_address(unsubscribe_mailto, 'unsubscribe mailto')}?subject=unsubscribe"


def sender_domain_of(from_address: str) -> str:
    _, address = email.utils.parseaddr(from_address)
    if "@" not in address:
        raise MessageError(f"From address {from_address!r} has no domain")
    return address.rsplit("@", 1)[1].lower()


def default_list_id(name: str, sender_domain: str) -> str:
    """A List-Id (RFC 2919) for mail that belongs to no particular list."""
    return list_id_value(name, f"newsletter.{sender_domain}")


def new_message_id(sender_domain: str) -> str:
    return f"<{secrets.token_hex(16)}@{sender_domain}>"


_date_cache: tuple[int, str] = (0, "")


def format_date(date: datetime | None = None) -> str:
    """An RFC 5322 date; "now" is formatted at most once a second."""
    global _date_cache
    if date is not None:
        return email.utils.format_datetime(date if date.tzinfo else date.replace(tzinfo=UTC))
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, email.utils.format_datetime(datetime.fromtimestamp(second, UTC)))
    return _date_cache[1]


def _checked_message_id(message_id: str) -> str:
    if _BAD_BRACKETED.search(message_id.strip("<>")) or "@" not in message_id:
        raise MessageError(f"Message-ID {message_id!r} is invalid")
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def _unsubscribe_url(fields: Mapping[str, str]) -> str:
    try:
        url = fields["unsubscribe_url"]
    except KeyError:
        raise MessageError("recipient fields lack 'unsubscribe_url'") from None
    if not url.startswith(("https://", "http://")) or _BAD_BRACKETED.search(url):
        raise MessageError(f"unsubscribe URL {url!r} cannot go into a header")
    return url


def _image_part(asset: Asset) -> bytes:
    maintype, _, subtype = asset.content_type.partition("/")
    part = MIMEPart(policy=_POLICY)
    part.set_content(
        asset.data,
        maintype,
        subtype,
        cid=f"<{asset.cid}>",
        disposition="inline",
        filename=asset.filename,
    )
    try:
        return part.as_bytes(policy=_POLICY)
    except HEADER_WRITE_ERRORS as exc:
        # A patched Python refusing a header it would have written with a line break.
        raise MessageError(f"image {asset.filename!r} cannot be written safely: {exc}") from exc


def _boundary() -> str:
    # "=_" never occurs in quoted-printable or base64 output, so no body can contain it.
    return f"==nl_{secrets.token_hex(12)}=_"


def _multipart_type(subtype: str, boundary: str, parameters: str = "") -> bytes:
    """A multipart Content-Type header and the blank line after it."""
    return (
        f'Content-Type: multipart/{subtype}{parameters};\r\n boundary="{boundary}"\r\n\r\n'.encode()
    )


_TEXT_HEAD = (
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
)
_HTML_HEAD = (
    b'Content-Type: text/html; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
)


class MessageTemplate:
    """One issue's message with the recipient parts left open. Build once, render per recipient."""

    def __init__(
        self,
        *,
        shared_headers: bytes,
        subject: Substituter,
        subject_header: bytes | None,
        listed: bool,
        unsubscribe_mailto: str | None,
        sender_domain: str,
        skeleton: list[bytes],
        slots: tuple[_Slot, ...],
    ) -> None:
        self.shared_headers = shared_headers
        self.subject = subject
        self.subject_header = subject_header
        # List mail carries List-Unsubscribe, so it needs the recipient's unsubscribe URL.
        self.listed = listed
        self.unsubscribe_mailto = unsubscribe_mailto
        self.sender_domain = sender_domain
        # skeleton[0::2] are encoded literal parts, skeleton[1::2] are filled per recipient.
        self.skeleton = skeleton
        # Each distinct (field, html) pair is encoded once per recipient, however often used.
        self.distinct: tuple[_Slot, ...] = tuple(dict.fromkeys(slots))
        self.slot_index: tuple[int, ...] = tuple(self.distinct.index(slot) for slot in slots)

    @classmethod
    def build(
        cls,
        issue: Issue,
        *,
        from_address: str,
        reply_to: str | None = None,
        list_id: str,
        unsubscribe_mailto: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        sender_domain: str | None = None,
    ) -> MessageTemplate:
        """An issue's message for the readers of a list, its placeholders left open."""
        return cls._assemble(
            subject=Substituter(issue.subject),
            text=Substituter(_normalise_body(issue.text)),
            html=Substituter(_normalise_body(issue.html)),
            inline=issue.assets if issue.images == "inline" else (),
            from_address=from_address,
            reply_to=reply_to,
            list_id=list_id,
            unsubscribe_mailto=unsubscribe_mailto,
            extra_headers=extra_headers,
            sender_domain=sender_domain,
        )

    @classmethod
    def letter(
        cls,
        *,
        subject: str,
        text: str,
        html: str,
        inline: Sequence[Asset] = (),
        from_address: str,
        reply_to: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> MessageTemplate:
        """A one-off message: its text taken as it is, no list headers."""
        return cls._assemble(
            subject=Substituter.literal(subject),
            text=Substituter.literal(_normalise_body(text)),
            html=Substituter.literal(_normalise_body(html)),
            inline=inline,
            from_address=from_address,
            reply_to=reply_to,
            list_id=None,
            unsubscribe_mailto=None,
            extra_headers=extra_headers,
            sender_domain=None,
        )

    @classmethod
    def _assemble(
        cls,
        *,
        subject: Substituter,
        text: Substituter,
        html: Substituter,
        inline: Sequence[Asset],
        from_address: str,
        reply_to: str | None,
        list_id: str | None,
        unsubscribe_mailto: str | None,
        extra_headers: Mapping[str, str] | None,
        sender_domain: str | None,
    ) -> MessageTemplate:
        domain = sender_domain or sender_domain_of(from_address)
        headers = [address_header("From", from_address)]
        if reply_to:
            headers.append(address_header("Reply-To", reply_to))
        subject_header = fold("Subject", subject.fill({})) if subject.is_constant else None
        if subject_header is not None:
            headers.append(subject_header)
        headers.append(b"MIME-Version: 1.0\r\n")
        if list_id is not None:
            headers += [
                structured("List-Id", list_id),
                b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            ]
        for name, value in (extra_headers or {}).items():
            headers.append(fold(name, value))

        alternative = _boundary()
        pieces: list[bytes | _Slot] = []
        for head, body, is_html in ((_TEXT_HEAD, text, False), (_HTML_HEAD, html, True)):
            pieces.append(f"--{alternative}\r\n".encode() + head)
            pieces.append(_qp_crlf(body.literals[0].encode()))
            for name, literal in zip(body.names, body.literals[1:], strict=True):
                pieces.append(_Slot(name, is_html))
                pieces.append(_qp_crlf(literal.encode()))
            pieces.append(b"\r\n")
        pieces.append(f"--{alternative}--\r\n".encode())

        if inline:
            related = _boundary()
            headers.append(
                _multipart_type("related", related, '; type="multipart/alternative"')
                + f"\r\n--{related}\r\n".encode()
                + _multipart_type("alternative", alternative)
            )
            for asset in inline:
                pieces.append(f"\r\n--{related}\r\n".encode() + _image_part(asset))
            pieces.append(f"\r\n--{related}--\r\n".encode())
        else:
            headers.append(_multipart_type("alternative", alternative))

        # Merge neighbouring literal parts so the skeleton strictly alternates with slots.
        skeleton: list[bytes] = [b""]
        slots: list[_Slot] = []
        for piece in pieces:
            if isinstance(piece, _Slot):
                slots.append(piece)
                skeleton += [b"", b""]
            else:
                skeleton[-1] += piece
        return cls(
            shared_headers=b"".join(headers),
            subject=subject,
            subject_header=subject_header,
            listed=list_id is not None,
            unsubscribe_mailto=mailto_url(unsubscribe_mailto) if unsubscribe_mailto else None,
            sender_domain=domain,
            skeleton=skeleton,
            slots=tuple(slots),
        )

    def render(
        self,
        recipient_fields: Mapping[str, str],
        *,
        to: str,
        to_name: str,
        message_id: str | None = None,
        date: datetime | None = None,
    ) -> bytes:
        """The complete message for one recipient, CRLF line ends, ready for SMTP."""
        encoded: list[bytes] = []
        try:
            for slot in self.distinct:
                value = clean_text(recipient_fields[slot.field])
                if slot.html:
                    value = html.escape(value, quote=True)
                encoded.append(_qp_value(value.encode()))
        except KeyError as exc:
            raise MessageError(f"recipient fields lack {exc.args[0]!r}") from None
        out = self.skeleton.copy()
        out[1::2] = [encoded[index] for index in self.slot_index]
        head = self._recipient_headers(recipient_fields, to, to_name, message_id, date)
        return b"".join((head, self.shared_headers, *out))

    def check(
        self,
        recipient_fields: Mapping[str, str],
        *,
        to: str,
        to_name: str,
        message_id: str | None = None,
    ) -> None:
        """MessageError where `render` would raise one, without writing the body: for a
        transport that builds the message itself, so a recipient that cannot be written
        fails the same way whatever the transport."""
        for slot in self.distinct:
            if slot.field not in recipient_fields:
                raise MessageError(f"recipient fields lack {slot.field!r}")
        self._recipient_headers(recipient_fields, to, to_name, message_id, None)

    def _recipient_headers(
        self,
        recipient_fields: Mapping[str, str],
        to: str,
        to_name: str,
        message_id: str | None,
        date: datetime | None,
    ) -> bytes:
        """Date, Message-ID, To, List-Unsubscribe and a personal Subject."""
        unsubscribe = ""
        if self.listed:
            unsubscribe = f"<{_unsubscribe_url(recipient_fields)}>"
            if self.unsubscribe_mailto:
                unsubscribe += f",\r\n <{self.unsubscribe_mailto}>"
            unsubscribe = f"List-Unsubscribe: {unsubscribe}\r\n"
        message_id = _checked_message_id(message_id or new_message_id(self.sender_domain))
        head = (
            f"Date: {format_date(date)}\r\n"
            f"Message-ID: {message_id}\r\n"
            f"To: {mailbox(to_name, ascii_address(to, 'recipient address'))}\r\n"
            f"{unsubscribe}"
        ).encode("ascii")
        if any(len(line) > _MAX_LINE for line in head.split(_CRLF)):
            raise MessageError("a recipient header is longer than 998 octets")
        if self.subject_header is not None:
            return head
        # Only the fields the subject uses are cleaned, once each.
        try:
            values = {name: clean_text(recipient_fields[name]) for name in self.subject.names}
        except KeyError as exc:
            raise MessageError(f"recipient fields lack {exc.args[0]!r}") from None
        return head + fold("Subject", self.subject.fill(values))
