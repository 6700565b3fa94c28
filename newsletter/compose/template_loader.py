"""The Jinja templates, loaded once per process and per override folder.

This is the only file access composing does: the first call reads and compiles the
templates, later calls reuse them (`auto_reload` is off, so Jinja does not stat them again).
They are compiled once per language too: each environment speaks one (its catalogue, date
and number formats; see `newsletter.i18n.jinja`), so concurrent issues in two languages
never share a translation.

The templates ship inside the package (`templates/` beside this module), so an installed
wheel composes. A caller may name a folder of its own templates (the CLI and the staff area
pass NEWSLETTER_TEMPLATES_DIR): a template found there wins, every other one comes from the
package, so a layout can replace one file and keep the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)

from newsletter.compose import formatting, markdown
from newsletter.core.errors import ComposeError
from newsletter.i18n import jinja, language

PACKAGED_DIR = Path(__file__).resolve().parent / "templates"
EMAIL, TEXT, PRINT = "seminar.mjml.j2", "seminar.txt.j2", "seminar.print.html.j2"


@dataclass(frozen=True)
class Templates:
    email: Template
    text: Template
    print: Template
    # Where the templates were looked for, first match wins: for error messages.
    folders: tuple[Path, ...] = (PACKAGED_DIR,)

    def render(self, which: Literal["email", "text", "print"], context: dict[str, Any]) -> str:
        """Raises ComposeError for a template that fails, naming it (an include it lacks
        is only looked for now, and a user's layout may use a value that does not exist)."""
        template: Template = getattr(self, which)
        try:
            return template.render(context)
        except TemplateNotFound as exc:
            raise _not_found(exc, self.folders, included_from=template.name) from None
        except TemplateError as exc:
            raise ComposeError(f"template {template.name}: {exc}") from None


def _environment(loader: BaseLoader, *, autoescape: bool, language_tag: str) -> Environment:
    env = Environment(
        loader=loader,
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    # The HTML isolates English strings in a right-to-left issue (see newsletter.i18n.jinja).
    jinja.install(env, language(language_tag), isolate_strings=autoescape)
    env.filters.update(
        title_lines=formatting.title_lines,
        no_lone_word=formatting.no_lone_word,
        readable_url=formatting.readable_url,
        wrap=formatting.wrap,
        underline=formatting.underline,
        markdown=markdown.to_html,
        markdown_text=markdown.to_text,
    )
    return env


def templates(override: Path | None = None, language_tag: str = "en") -> Templates:
    """The compiled templates: those in `override` first, then the packaged ones, speaking
    `language_tag` (a record's BCP 47 language).

    Raises ComposeError naming the template and the folders searched when one is missing
    or does not parse."""
    # Absolute, so a relative folder means the same one after a chdir (and the same cache entry).
    return _load(override.absolute() if override is not None else None, language_tag)


# Small: one entry per override folder and language a process uses (normally a few).
@lru_cache(maxsize=32)
def _load(override: Path | None, language_tag: str) -> Templates:
    folders: tuple[Path, ...] = (PACKAGED_DIR,)
    if override is not None:
        if not override.is_dir():
            raise ComposeError(f"templates folder {override} does not exist or is not a folder")
        folders = (override, PACKAGED_DIR)
    loader = ChoiceLoader([FileSystemLoader(folder) for folder in folders])
    html = _environment(loader, autoescape=True, language_tag=language_tag)
    text = _environment(loader, autoescape=False, language_tag=language_tag)
    return Templates(
        email=_get(html, EMAIL, folders),
        text=_get(text, TEXT, folders),
        print=_get(html, PRINT, folders),
        folders=folders,
    )


def _get(env: Environment, name: str, folders: tuple[Path, ...]) -> Template:
    try:
        return env.get_template(name)
    except TemplateNotFound as exc:
        # Also raised for a template that the named one extends.
        raise _not_found(exc, folders, included_from=None if exc.name == name else name) from None
    except TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise ComposeError(f"template {where}, line {exc.lineno}: {exc.message}") from None


def _not_found(
    exc: TemplateNotFound, folders: tuple[Path, ...], *, included_from: str | None
) -> ComposeError:
    # Jinja's TemplateNotFound is an OSError: left alone, the CLI took it for a write error.
    searched = ", ".join(str(folder) for folder in folders)
    source = f" (used by {included_from})" if included_from else ""
    return ComposeError(f"template {exc.name!r}{source} not found in {searched}")
