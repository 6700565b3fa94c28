"""MJML to email-ready HTML: compile the layout, then inline the CSS.

Both steps are the expensive part of composing (premailer takes tens of milliseconds), which
is why they run once per issue and never per recipient.
"""

from __future__ import annotations

import logging
import re

from mjml import mjml2html
from premailer import Premailer

from newsletter.core.errors import ComposeError

# cssutils reports every property it does not know (mso-*, -webkit-*) as an error.
logging.getLogger("cssutils").setLevel(logging.CRITICAL)

_DOCTYPE = "<!DOCTYPE html>"
_PRE_BLOCK = re.compile(r"(<pre\b.*?</pre>)", re.DOTALL | re.IGNORECASE)
_INDENT = re.compile(r"\n[ \t]+")
_BLANK_LINES = re.compile(r"\n{2,}")
# MJML's wrapper around the whole email: an article announced as "email", named by the title.
_EMAIL_WRAPPER = re.compile(r'<div\b[^>]*\baria-roledescription="email"[^>]*>')
_WRAPPER_ROLE = re.compile(r'\s(?:aria-label|aria-roledescription|role)="[^"]*"')
_BODY_END = re.compile(r"</div>(\s*</body>)", re.IGNORECASE)


def compile_mjml(source: str) -> str:
    """HTML from MJML. `fonts={}` keeps MJML from linking web fonts from the internet."""
    try:
        html: str = mjml2html(source, fonts={})
    except Exception as exc:  # mjml-python raises bare exceptions with the parser's message
        raise ComposeError(f"MJML could not be compiled: {exc}") from exc
    return _with_doctype(html)


def inline_css(html: str) -> str:
    """`html` with its CSS moved into style attributes; media queries stay in <style>."""
    inliner = Premailer(
        html,
        allow_network=False,
        allow_loading_external_files=False,
        disable_link_rewrites=True,
        # Media queries only win over inline styles with !important, so it must stay.
        strip_important=False,
        disable_validation=True,
        remove_classes=False,
        # MJML already writes the width/height attributes Outlook needs; premailer would
        # overwrite an image's width="140" with the "100%" of its CSS.
        disable_basic_attributes=["width", "height"],
        cssutils_logging_level=logging.CRITICAL,
    )
    return _with_doctype(inliner.transform(pretty_print=False))


def web_page(html: str) -> str:
    """Compiled MJML as a web page: MJML's wrapper, an article announced as "email" (right
    in a mail reader, which shows it among its own page), becomes the page's <main>
    landmark, so a screen reader can jump to the newsletter and is not told it is an email.
    """
    wrapper = _wrapper(html)
    if wrapper is None:
        return html
    start, inside, end = wrapper
    tag = "<main" + _WRAPPER_ROLE.sub("", html[start:inside])[len("<div") :]
    return html[:start] + tag + html[inside:end] + "</main>" + html[end + len("</div>") :]


def email_page(html: str) -> str:
    """Compiled MJML with MJML's article wrapper inside a main landmark. Apple Mail, the
    Outlook apps, Thunderbird and a browser opening the file show the email as a document
    of its own, where a main landmark is what a screen reader jumps to; the article inside
    it still tells a webmail reader's screen reader where the email starts.
    """
    wrapper = _wrapper(html)
    if wrapper is None:
        return html
    start, _, end = wrapper
    end += len("</div>")
    return html[:start] + '<div role="main">' + html[start:end] + "</div>" + html[end:]


def _wrapper(html: str) -> tuple[int, int, int] | None:
    """Where MJML's email wrapper opens, where its content starts, and where its closing
    </div> is; None when the HTML has none."""
    opening = _EMAIL_WRAPPER.search(html)
    closing = _BODY_END.search(html)
    if opening is None or closing is None:
        return None
    # The wrapper is the body's last element, so the body's last </div> closes it.
    return opening.start(), opening.end(), html.rfind("</div>", 0, closing.end())


def minify(html: str) -> str:
    """Drop indentation and blank lines, except inside <pre> where whitespace is content."""
    parts = _PRE_BLOCK.split(html)
    for index in range(0, len(parts), 2):
        parts[index] = _BLANK_LINES.sub("\n", _INDENT.sub("\n", parts[index]))
    return "".join(parts)


def _with_doctype(html: str) -> str:
    # premailer keeps a doctype only if it matches lxml's spelling exactly, so normalise it.
    body = html.lstrip()
    if body[:9].lower() == "<!doctype":
        body = body[body.index(">") + 1 :]
    return _DOCTYPE + body
