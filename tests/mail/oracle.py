"""The reference message: what `MessageTemplate.render` builds, built the slow, obviously
correct way with `email.message.EmailMessage`. Tests compare the two; the compose benchmark
uses it as its ceiling. Never sent: the stdlib writes its headers (see
newsletter.mail.headers for why sent mail does not let it), so its values are cleaned first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart

from newsletter.issue.model import Asset, Issue
from newsletter.mail.headers import ascii_address, clean_text
from newsletter.mail.mime import format_date, mailto_url, new_message_id, sender_domain_of
from newsletter.mail.placeholders import Substituter, personalize_html, personalize_text

_POLICY = policy.SMTP


def _normalise_body(source: str) -> str:
    """LF line ends, ending in one."""
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
    """The same message as `MessageTemplate.build(...).render(...)`."""
    domain = sender_domain or sender_domain_of(from_address)
    fields = {name: clean_text(value) for name, value in recipient_fields.items()}
    msg = EmailMessage(policy=_POLICY)
    msg["Date"] = format_date(date)
    msg["Message-ID"] = message_id or new_message_id(domain)
    msg["From"] = from_address
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["To"] = Address(display_name=clean_text(to_name), addr_spec=ascii_address(to, "recipient"))
    msg["Subject"] = Substituter(issue.subject).fill(fields)
    msg["List-Id"] = list_id
    unsubscribe = f"<{recipient_fields['unsubscribe_url']}>"
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
