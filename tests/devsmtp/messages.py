"""Messages to capture: real RFC 5322 bytes built with the standard library."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478"
    "9c63e08eb50600011a00a421027ece0000000049454e44ae426082"
)


def build(
    subject: str = "Seminar news",
    *,
    to: str = "Ana Reader <ana@example.org>",
    sender: str = "MUSLIM Institute <newsletter@example.org>",
    text: str | None = "Hello Ana.\n\nUnsubscribe: https://news.example.org/u/abc\n",
    html: str | None = None,
    message_id: str = "<m1@example.org>",
    inline_png: str | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = "Thu, 24 Feb 2022 10:00:00 +0500"
    if text is not None:
        message.set_content(text)
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
        if inline_png is not None:
            html_part = message.get_body(preferencelist=("html",))
            assert html_part is not None
            html_part.add_related(
                PNG_1PX, "image", "png", cid=f"<{inline_png}>", filename="logo.png"
            )
    if attachment is not None:
        name, data = attachment
        message.add_attachment(data, "application", "pdf", filename=name)
    return message.as_bytes()
