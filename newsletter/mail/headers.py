"""The one encoder for every header value and display name the project writes.

Python's email package before 3.11.10 and 3.12.5 (CVE-2024-6923; the venv runs 3.11.7)
decodes RFC 2047 encoded words while it refolds a header, and writes what they decode to,
CR LF included: a name `=?utf-8?b?DQpSZXBseS1Ubzog...?=` becomes headers of its own and a
body. Patched versions raise HeaderWriteError instead. Its folder also splits a long quoted
display name with `:` `,` `<>` into a group and more addresses. So no text from a record,
a setting or a stranger reaches the stdlib's header folding with an encoded word left in
it, and this module writes display names itself:

- `clean_text` (names and other personal fields): encoded words decoded until none are
  left, every run of control characters turned into a space. Cleaned, never refused.
- `checked_text` (values set by the operator or a record): the same decoding, and a
  control character is an error that names the header.
- `fold` writes an unstructured header (Subject, X-...); text that still holds a literal
  `=?` goes out as our own encoded words, so nothing downstream decodes it into more.
- `mailbox` and `phrase` write `name <address>` (To, From, Reply-To, List-Id): an atom,
  one quoted string on one line, or encoded words; never folded inside the quotes.
- `ascii_address` and `envelope_address` put the domain in IDNA form (punycode), for
  headers and for MAIL FROM / RCPT TO.
- `feedback_id` writes the value of Gmail's Feedback-ID (its feedback loop).

The fast paths (a plain value) cost two substring and regex checks, since `clean_text`
runs for every field of every recipient.
"""

from __future__ import annotations

import base64
import email.errors
import re
from email import policy
from email.headerregistry import HeaderRegistry
from functools import lru_cache

import idna

from newsletter.core.errors import NewsletterError

_POLICY = policy.SMTP
# Every name is unstructured to the stdlib here: its address and date parsers differ.
_UNSTRUCTURED = HeaderRegistry(use_default_map=False)
# C0, DEL, C1 (NEL among them) and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# A header field name (RFC 5322 2.2): printable ASCII but the colon.
_HEADER_NAME = re.compile(r"[!-9;-~]+")
# Characters that may not appear unquoted in an address we write into a header.
_BAD_ADDRESS = re.compile(r'[\x00-\x20\x7f<>()\[\],;:\\"]')
# A display name that goes out as is: atoms separated by single spaces.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*")
# Names that go out as RFC 2047 words even when ASCII: a literal "=?" would be decoded.
_NEEDS_WORDS = re.compile(r"=\?|[^\x00-\x7f]")
# Longer ASCII names are encoded words too, so a quoted string stays well under 998.
_ASCII_NAME_LIMIT = 200
# RFC 2047: an encoded word, and a line of them, at most 76 characters.
_WORD_LINE = 76
_WORD_OVERHEAD = len("=?utf-8?b??=")
_MAX_LINE = 998
_FOLD_AT = 78
# A field of Feedback-ID: the colon separates them, and a space would let the value fold.
_FEEDBACK_FIELD = re.compile(r"[!-9;-~]{1,64}")
# Printable ASCII words separated by single spaces: a header value folding leaves alone.
_PLAIN_LINE = re.compile(r"[!-~]+(?: [!-~]+)*")

# Raised by a patched Python when a header it writes would hold a line break.
HEADER_WRITE_ERRORS: tuple[type[Exception], ...] = tuple(
    error
    for error in (getattr(email.errors, "HeaderWriteError", None),)
    if isinstance(error, type) and issubclass(error, Exception)
)


class MessageError(NewsletterError):
    """A message cannot be built: a bad address, a header value or a missing field."""


def _decoded(text: str) -> str:
    """`text` with its encoded words decoded, as often as decoding changes it. A word
    decodes to something shorter than itself, so this ends."""
    while "=?" in text:
        try:
            decoded = str(_UNSTRUCTURED("X-Decode", text))
        except Exception:
            # Undecodable: the text is kept literally, and `fold` and `mailbox` then
            # write it as encoded words of our own.
            break
        if decoded == text:
            break
        text = decoded
    # A word in an unknown or wrong charset leaves lone surrogates behind.
    return text.encode("utf-8", "replace").decode("utf-8")


def clean_text(value: str) -> str:
    """`value` as a reader sees it, on one line: encoded words decoded, every run of
    control characters (CR, LF, tab, NUL, C1, ...) turned into a space."""
    if "=?" in value:
        value = _decoded(_CONTROL.sub(" ", value))
    return _CONTROL.sub(" ", value).strip() if _CONTROL.search(value) else value


def checked_text(name: str, value: str) -> str:
    """`value` with its encoded words decoded; MessageError if it holds a control
    character, before or after decoding."""
    text = _decoded(value) if "=?" in value else value
    if _CONTROL.search(value) or _CONTROL.search(text):
        raise MessageError(f"{name} header {value!r} must be one line without control characters")
    return text


def encoded_words(text: str, indent: int = 1, separator: str = "\r\n ") -> str:
    """`text` as RFC 2047 base64 words, folded between words (`separator`) so every line,
    the first starting at column `indent`, stays within 76 characters."""
    words: list[str] = []
    chunk: list[bytes] = []
    size = 0
    # Bytes per word: 4 base64 characters for 3 bytes, and the word's own overhead.
    room = 3 * ((_WORD_LINE - _WORD_OVERHEAD - indent) // 4)
    for char in text:
        data = char.encode()
        if size + len(data) > room and chunk:
            words.append(base64.b64encode(b"".join(chunk)).decode("ascii"))
            chunk, size = [], 0
            room = 3 * ((_WORD_LINE - _WORD_OVERHEAD - 1) // 4)
        chunk.append(data)
        size += len(data)
    words.append(base64.b64encode(b"".join(chunk)).decode("ascii"))
    return separator.join(f"=?utf-8?b?{word}?=" for word in words)


def fold(name: str, value: str) -> bytes:
    """`Name: value` CRLF for an unstructured header, folded, ASCII."""
    if not _HEADER_NAME.fullmatch(name):
        raise MessageError(f"header name {name!r} is invalid")
    text = checked_text(name, value)
    if "=?" in text:
        return f"{name}: {encoded_words(text, len(name) + 2)}\r\n".encode("ascii")
    # The common personal Subject: what the stdlib would write unchanged, without its
    # parser (a third of a recipient's cost otherwise).
    if len(name) + 2 + len(text) <= _FOLD_AT and _PLAIN_LINE.fullmatch(text):
        return f"{name}: {text}\r\n".encode("ascii")
    try:
        folded = str(_UNSTRUCTURED(name, text).fold(policy=_POLICY))
    except (ValueError, TypeError, IndexError) as exc:
        raise MessageError(f"{name} header {value!r} is invalid: {exc}") from exc
    return folded.encode("ascii")


def phrase(name: str, indent: int = 1, separator: str = "\r\n ") -> str:
    """A cleaned display name as it goes before `<address>`: as is when it is plain
    atoms, one quoted string when it is short ASCII, else encoded words."""
    if len(name) <= _ASCII_NAME_LIMIT and _PLAIN_NAME.fullmatch(name):
        return name
    if len(name) <= _ASCII_NAME_LIMIT and not _NEEDS_WORDS.search(name):
        return _quoted(name)
    return encoded_words(name, indent, separator)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox(name: str, address: str, indent: int = 4) -> str:
    """`name <address>` for a header, the name cleaned first; `address` must already be a
    header address (`ascii_address`). `indent` is the column the value starts at."""
    name = clean_text(name)
    if not name:
        return address
    return f"{phrase(name, indent)} <{address}>"


def address_header(name: str, value: str) -> bytes:
    """`Name: mailbox, ...` CRLF for an address header set by the operator (From,
    Reply-To): each name decoded and checked, each address in header form."""
    if _CONTROL.search(value):
        raise MessageError(f"{name} header {value!r} must be one line without control characters")
    try:
        addresses = _POLICY.header_factory(name, value).addresses
    except (ValueError, TypeError, IndexError, AttributeError) as exc:
        raise MessageError(f"{name} header {value!r} is invalid: {exc}") from exc
    if not addresses:
        raise MessageError(f"{name} header {value!r} holds no address")
    boxes = []
    for box in addresses:
        display = checked_text(name, box.display_name)
        address = ascii_address(box.addr_spec, f"{name} address")
        boxes.append(mailbox(display, address, len(name) + 2) if display else address)
    return _checked_lines(name, f"{name}: " + ",\r\n ".join(boxes) + "\r\n")


def structured(name: str, value: str) -> bytes:
    """`Name: value` CRLF for a value already in header form (List-Id from `list_id`):
    ASCII, one line, and no encoded word in it decodes to a control character."""
    if not value.isascii():
        raise MessageError(f"{name} header {value!r} must be ASCII (build it with phrase())")
    checked_text(name, value)
    # Folded before a space, which unfolding gives back: legal between the tokens, inside
    # a quoted string and between encoded words alike.
    lines: list[str] = []
    line = f"{name}:"
    for index, piece in enumerate(value.split(" ")):
        if index and len(line) + 1 + len(piece) > _FOLD_AT and line.strip():
            lines.append(line)
            line = ""
        line = f"{line} {piece}"
    lines.append(line)
    return _checked_lines(name, "\r\n".join(lines) + "\r\n")


def list_id(list_name: str, identifier: str) -> str:
    """A List-Id value (RFC 2919), `phrase <identifier>`; just `<identifier>` when the
    name is empty. ASCII, on one line, for our headers and for HTTP APIs alike."""
    name = clean_text(list_name)
    if not name:
        return f"<{identifier}>"
    if len(name) <= _ASCII_NAME_LIMIT and not _NEEDS_WORDS.search(name):
        return f"{_quoted(name)} <{identifier}>"
    # Words separated by a space, not a fold: HTTP APIs take the value as one line.
    return f"{encoded_words(name, len('List-Id: '), ' ')} <{identifier}>"


def feedback_id(*identifiers: str, sender: str) -> str:
    """A Feedback-ID value, `a:b:c:SenderId`: up to three identifiers, the narrowest first
    (a campaign, then its list), then the sender's own identifier. Gmail's feedback loop
    reads the four right-most fields and reports complaint rates per field, so a field may
    hold no colon, and its sender identifier must be 5 to 15 characters and the same on
    all of a sender's mail. MessageError for a value Gmail would not read."""
    if len(identifiers) > 3:
        raise MessageError(f"Feedback-ID takes at most 3 identifiers, not {len(identifiers)}")
    if not 5 <= len(sender) <= 15:
        raise MessageError(f"Feedback-ID sender {sender!r} must be 5 to 15 characters")
    for field in (*identifiers, sender):
        if not _FEEDBACK_FIELD.fullmatch(field):
            raise MessageError(
                f"Feedback-ID field {field!r} must be printable ASCII without ':' or spaces"
            )
    return ":".join((*identifiers, sender))


def _checked_lines(name: str, header: str) -> bytes:
    if any(len(line) > _MAX_LINE for line in header.split("\r\n")):
        raise MessageError(f"{name} header is longer than {_MAX_LINE} octets on a line")
    return header.encode("ascii")


@lru_cache(maxsize=4096)
def ascii_domain(domain: str) -> str:
    """The IDNA (punycode) form of a domain, as email-validator checks it (IDNA 2008 with
    UTS 46 mapping); ValueError for a domain that has none."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(f"domain {domain!r} has no IDNA form: {exc}") from exc


def ascii_address(text: str, what: str) -> str:
    """A bare address as it may appear in a header: ASCII, IDNA domain, nothing to quote."""
    if not text or _BAD_ADDRESS.search(text) or text.count("@") != 1:
        raise MessageError(f"{what} {text!r} is not a plain email address")
    if text.isascii():
        return text
    local, domain = text.split("@")
    if not local.isascii():
        raise MessageError(f"{what} {text!r} has a non-ASCII local part (SMTPUTF8 not supported)")
    try:
        return f"{local}@{ascii_domain(domain)}"
    except ValueError as exc:
        raise MessageError(f"{what} {text!r} has an invalid domain") from exc


def envelope_address(text: str) -> str:
    """An address for MAIL FROM or RCPT TO with its domain in IDNA form: ASCII unless the
    local part is not, which only a server offering SMTPUTF8 takes. ValueError for a
    domain with no IDNA form."""
    if text.isascii():
        return text
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    return f"{local}@{ascii_domain(domain)}"
