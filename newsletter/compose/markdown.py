"""Markdown from the record, rendered to safe HTML or to readable plain text.

Raw HTML in the source is disabled, so `<script>` written in a record is shown, not run;
markdown-it also refuses `javascript:` and similar link targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from newsletter.compose.formatting import TEXT_WIDTH, underline, wrap

_MD = MarkdownIt("commonmark", {"html": False, "xhtmlOut": True})


def to_html(source: str) -> Markup:
    return Markup(_MD.render(source))


def to_plain(source: str) -> str:
    """The text of `source` on one line, for previews: no underlines, no link targets."""
    renderer = _TextRenderer(width=None, underline_headings=False, link_targets=False)
    return " ".join(renderer.render(_MD.parse(source)).split())


def to_text(source: str, width: int | None = TEXT_WIDTH) -> str:
    """`source` as plain text: emphasis markers dropped, links as "text (url)",
    paragraphs filled to `width` (not at all when None), lists numbered or dashed."""
    return _TextRenderer(width).render(_MD.parse(source))


@dataclass
class _List:
    ordered: bool
    next_number: int


@dataclass
class _TextRenderer:
    width: int | None
    underline_headings: bool = True
    link_targets: bool = True
    # (text, in a tight list, first block after a whole list)
    blocks: list[tuple[str, bool, bool]] = field(default_factory=list)
    lists: list[_List] = field(default_factory=list)
    marker: str | None = None
    quote_depth: int = 0
    heading: str | None = None
    # markdown-it hides the paragraphs of tight lists: their items need no blank line between.
    tight: bool = False
    # A blank line always follows a whole list, even a tight one.
    after_list: bool = False

    def render(self, tokens: Sequence[Token]) -> str:
        for token in tokens:
            self._block(token)
        out = ""
        previous_tight = False
        for text, tight, fresh in self.blocks:
            if out:
                out += "\n" if tight and previous_tight and not fresh else "\n\n"
            out += text
            previous_tight = tight
        return out

    def _block(self, token: Token) -> None:
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            start = token.attrGet("start")
            self.lists.append(_List(kind == "ordered_list_open", int(start or 1)))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
            self.after_list = not self.lists
        elif kind == "list_item_open":
            current = self.lists[-1]
            if current.ordered:
                self.marker = f"{current.next_number}. "
                current.next_number += 1
            else:
                self.marker = "- "
        elif kind == "blockquote_open":
            self.quote_depth += 1
        elif kind == "blockquote_close":
            self.quote_depth -= 1
        elif kind == "paragraph_open":
            self.tight = token.hidden
        elif kind == "heading_open":
            self.heading = "=" if token.tag == "h1" else "-"
        elif kind == "inline":
            self._emit(_inline_text(token.children or [], link_targets=self.link_targets))
        elif kind in ("fence", "code_block"):
            self._emit_verbatim(token.content.rstrip("\n"))
        elif kind == "hr":
            self._emit_verbatim("* * *")

    def _indents(self) -> tuple[str, str]:
        quote = "> " * self.quote_depth
        nesting = "   " * max(0, len(self.lists) - 1)
        if self.marker is not None:
            first = quote + nesting + self.marker
            rest = quote + nesting + " " * len(self.marker)
            self.marker = None
            return first, rest
        inside = quote + nesting + ("   " if self.lists else "")
        return inside, inside

    def _emit(self, text: str) -> None:
        first, rest = self._indents()
        lines: list[str] = []
        for number, piece in enumerate(text.split("\n")):
            indent = first if number == 0 else rest
            if self.width is None:
                lines.append(indent + " ".join(piece.split()))
            else:
                lines.append(wrap(piece, self.width, initial_indent=indent, subsequent_indent=rest))
        rendered = "\n".join(lines)
        if self.heading is not None and self.underline_headings:
            rendered = underline(rendered, self.heading)
        self.heading = None
        self._add(rendered, self.tight)

    def _emit_verbatim(self, text: str) -> None:
        first, rest = self._indents()
        lines = text.split("\n")
        body = "\n".join([first + lines[0], *(rest + line for line in lines[1:])])
        self._add(body, False)

    def _add(self, block: str, tight: bool) -> None:
        self.blocks.append((block, tight, self.after_list))
        self.tight = self.after_list = False


def _inline_text(children: Sequence[Token], *, link_targets: bool) -> str:
    out: list[str] = []
    links: list[tuple[str, int]] = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline", "html_inline", "text_special"):
            out.append(child.content)
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "image":
            out.append(child.content)
        elif kind == "link_open":
            links.append((str(child.attrGet("href") or ""), len(out)))
        elif kind == "link_close" and links:
            href, start = links.pop()
            label = "".join(out[start:]).strip()
            if link_targets and href and href not in (label, f"mailto:{label}"):
                out.append(f" ({href})")
    return "".join(out)
