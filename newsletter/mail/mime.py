"""The wire message: RFC 5322 bytes for one recipient, built from a per-issue template.

`MessageTemplate.build` does the expensive work once per issue: it quoted-printable-encodes
the HTML and text between placeholders, folds the headers shared by every recipient and
base64-encodes inline images. Every encoded literal part ends at a line boundary (a soft line
break `=\\r\\n` where needed), so per recipient `render` only encodes the few short field
values and joins byte strings. See `newsletter.mail.personalize` for the whole sequence.

`build_reference_message` builds the same message the slow, obviously-correct way with
`email.message.EmailMessage`; tests compare the two and the benchmark uses it as a ceiling.
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
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart

from newsletter.issue.model import Asset, Issue
from newsletter.mail.headers import (
    MessageError,
    address_header,
    ascii_address,
    clean_text,
    fold,
    mailbox,
    structured,
)
from newsletter.mail.headers import list_id as list_id_value
from newsletter.mail.personalize import Substituter, personalize_html, personalize_text

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

__all__ = ["MessageError", "MessageTemplate", "build_reference_message"]


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


def add_inline_assets(part: MIMEPart, assets: Sequence[Asset]) -> None:
    """Attach images to `part` as inline parts the HTML refers to by `cid:`."""
    for asset in assets:
        maintype, _, subtype = asset.content_type.partition("/")
        part.add_related(
            asset.data,
            maintype,
            subtype,
            cid=f"<{asset.cid}>",
            disposition="inline",
            filename=asset.filename,
        )


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
    return part.as_bytes(policy=_POLICY)


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
        unsubscribe_mailto: str | None,
        sender_domain: str,
        skeleton: list[bytes],
        slots: tuple[_Slot, ...],
    ) -> None:
        self.shared_headers = shared_headers
        self.subject = subject
        self.subject_header = subject_header
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
        domain = sender_domain or sender_domain_of(from_address)
        headers = [address_header("From", from_address)]
        if reply_to:
            headers.append(address_header("Reply-To", reply_to))
        subject = Substituter(issue.subject)
        subject_header = fold("Subject", issue.subject) if subject.is_constant else None
        if subject_header is not None:
            headers.append(subject_header)
        headers += [
            b"MIME-Version: 1.0\r\n",
            structured("List-Id", list_id),
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        ]
        for name, value in (extra_headers or {}).items():
            headers.append(fold(name, value))

        alternative = _boundary()
        pieces: list[bytes | _Slot] = []
        for head, source, is_html in (
            (_TEXT_HEAD, issue.text, False),
            (_HTML_HEAD, issue.html, True),
        ):
            pieces.append(f"--{alternative}\r\n".encode() + head)
            body = Substituter(_normalise_body(source))
            pieces.append(_qp_crlf(body.literals[0].encode()))
            for name, literal in zip(body.names, body.literals[1:], strict=True):
                pieces.append(_Slot(name, is_html))
                pieces.append(_qp_crlf(literal.encode()))
            pieces.append(b"\r\n")
        pieces.append(f"--{alternative}--\r\n".encode())

        if issue.images == "inline" and issue.assets:
            related = _boundary()
            headers.append(
                _multipart_type("related", related, '; type="multipart/alternative"')
                + f"\r\n--{related}\r\n".encode()
                + _multipart_type("alternative", alternative)
            )
            for asset in issue.assets:
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

        unsubscribe = f"<{_unsubscribe_url(recipient_fields)}>"
        if self.unsubscribe_mailto:
            unsubscribe += f",\r\n <{self.unsubscribe_mailto}>"
        message_id = _checked_message_id(message_id or new_message_id(self.sender_domain))
        head = (
            f"Date: {format_date(date)}\r\n"
            f"Message-ID: {message_id}\r\n"
            f"To: {mailbox(to_name, ascii_address(to, 'recipient address'))}\r\n"
            f"List-Unsubscribe: {unsubscribe}\r\n"
        ).encode("ascii")
        if any(len(line) > _MAX_LINE for line in head.split(_CRLF)):
            raise MessageError("a recipient header is longer than 998 octets")
        subject = b""
        if self.subject_header is None:
            # Only the fields the subject uses are cleaned, once each.
            try:
                values = {name: clean_text(recipient_fields[name]) for name in self.subject.names}
            except KeyError as exc:
                raise MessageError(f"recipient fields lack {exc.args[0]!r}") from None
            subject = fold("Subject", self.subject.fill(values))
        return b"".join((head, subject, self.shared_headers, *out))


def _clean_all(fields: Mapping[str, str]) -> dict[str, str]:
    return {name: clean_text(value) for name, value in fields.items()}


def build_reference_message(
    issue: Issue,
    recipient_fields: Mapping[str, str],
    *,
    from_address: str,
    reply_to: str | None = None,
    list_id: str,
    unsubscribe_mailto: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    to: str,
    to_name: str,
    message_id: str | None = None,
    date: datetime | None = None,
    sender_domain: str | None = None,
) -> EmailMessage:
    """The same message as `MessageTemplate.render`, built slowly with `EmailMessage`.

    For comparison only, never sent: the stdlib writes its headers (see newsletter.mail.headers
    for why sent mail does not let it), so its values are cleaned first."""
    domain = sender_domain or sender_domain_of(from_address)
    fields = _clean_all(recipient_fields)
    msg = EmailMessage(policy=_POLICY)
    msg["Date"] = format_date(date)
    msg["Message-ID"] = message_id or new_message_id(domain)
    msg["From"] = from_address
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["To"] = Address(display_name=clean_text(to_name), addr_spec=ascii_address(to, "recipient"))
    msg["Subject"] = Substituter(issue.subject).fill(fields)
    msg["List-Id"] = list_id
    unsubscribe = f"<{_unsubscribe_url(recipient_fields)}>"
    if unsubscribe_mailto:
        unsubscribe += f", <{mailto_url(unsubscribe_mailto)}>"
    msg["List-Unsubscribe"] = unsubscribe
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    content = MIMEPart(policy=_POLICY)
    content.set_content(
        personalize_text(_normalise_body(issue.text), fields), cte="quoted-printable"
    )
    content.add_alternative(
        personalize_html(_normalise_body(issue.html), fields),
        subtype="html",
        cte="quoted-printable",
    )
    if issue.images == "inline" and issue.assets:
        # EmailMessage cannot wrap an alternative in a related part; assemble it by hand.
        related = MIMEPart(policy=_POLICY)
        related.make_related()
        related.attach(content)
        add_inline_assets(related, issue.assets)
        content = related
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = str(content["Content-Type"])
    msg.set_payload(content.get_payload())
    return msg
