"""The Jinja templates, loaded once per process.

This is the only file access composing does: the first call reads and compiles the
templates, later calls reuse them (`auto_reload` is off, so Jinja does not stat them again).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from newsletter.compose import formatting, markdown

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


@dataclass(frozen=True)
class Templates:
    email: Template
    text: Template
    print: Template


def _environment(*, autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(
        long_date=formatting.long_date,
        title_lines=formatting.title_lines,
        wrap=formatting.wrap,
        underline=formatting.underline,
        markdown=markdown.to_html,
        markdown_text=markdown.to_text,
    )
    return env


@lru_cache(maxsize=1)
def templates() -> Templates:
    html = _environment(autoescape=True)
    text = _environment(autoescape=False)
    return Templates(
        email=html.get_template("seminar.mjml.j2"),
        text=text.get_template("seminar.txt.j2"),
        print=html.get_template("seminar.print.html.j2"),
    )
