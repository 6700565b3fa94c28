"""A loaded record becomes an `Issue`: email HTML and text, web page and print page.

Pure: nothing here reads files, the network or a database (the templates are compiled once
per process and override folder, a folder the caller passes in; see `template_loader`; the
packaged social icons are read once, see `social_icons`). Jinja, MJML and CSS inlining run
once per issue; recipient fields appear as placeholders, filled in per recipient by
`newsletter.mail.personalize`.

The issue speaks its record's language (`newsletter.i18n`): fixed strings from its
catalogue, dates and digits as it writes them, fonts for its script.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from markupsafe import Markup

from newsletter.compose.brand import BrandStyle, brand_style
from newsletter.compose.email_html import (
    compile_mjml,
    email_page,
    inline_css,
    minify,
    web_page,
)
from newsletter.compose.formatting import shorten
from newsletter.compose.markdown import to_plain
from newsletter.compose.social_icons import social_icon
from newsletter.compose.template_loader import templates
from newsletter.core.errors import ComposeError
from newsletter.core.links import Links
from newsletter.i18n import N_, Language, bidi, language
from newsletter.i18n.fonts import font_stack, script_fonts, tall
from newsletter.i18n.formats import css_counter_style
from newsletter.issue import merge_fields
from newsletter.issue.model import Asset, Issue, placeholder

if TYPE_CHECKING:
    # Only for annotations: newsletter.record imports newsletter.issue.model at load time.
    from newsletter.core.settings import Brand
    from newsletter.record.model import LoadedRecord, Record

ImageMode = Literal["hosted", "inline"]
# How an image is referred to: by URL under the public site, by Content-ID, or embedded.
_Embedding = Literal["hosted", "inline", "data"]

PREHEADER_LENGTH = 140
_SOCIAL_LABELS = {
    "facebook": "Facebook",
    "twitter": "Twitter",
    "x": "X",
    "linkedin": "LinkedIn",
    "youtube": "YouTube",
    "instagram": "Instagram",
    "tiktok": "TikTok",
    "whatsapp": "WhatsApp",
}
_EXTRA_BLANK_LINES = re.compile(r"\n{4,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


@dataclass(frozen=True)
class _SpeakerView:
    name: str
    position: str | None
    role: str
    remarks: str
    photo: str | None


def compose_issue(
    loaded: LoadedRecord,
    *,
    brand: Brand,
    public_url: str,
    images: ImageMode = "hosted",
    logo: Asset | None = None,
    templates_dir: Path | None = None,
) -> Issue:
    """`templates_dir`: the caller's folder of templates that override the packaged ones."""
    if images not in ("hosted", "inline"):
        raise ComposeError(f"images must be 'hosted' or 'inline', not {images!r}")
    # The email's merge fields are placeholders, filled per recipient; the web version and
    # the PDF, read by no one in particular, show their fallbacks.
    personal_record = _merged(loaded.record, merge_fields.with_placeholders)
    public_record = _merged(loaded.record, merge_fields.with_fallbacks)
    record = personal_record
    lang = language(record.language)
    slug = record.issue_slug
    links = Links(public_url)
    photos = _speaker_photos(loaded)
    icons = [social_icon(network) for network in record.social]
    # A logo given as an https URL is linked as it is (newsletter.compose.from_file reads
    # only a local file).
    logo_image: Asset | str | None = logo
    if logo_image is None and brand.logo.startswith("https://"):
        logo_image = brand.logo
    direction: Literal["ltr", "rtl"] = "rtl" if record.direction == "rtl" else "ltr"
    kind = _kind(record, lang)

    def image_src(image: Asset | str, how: _Embedding) -> str:
        if isinstance(image, str):  # an https URL from the record: used as given
            return image
        if how == "inline":
            return f"cid:{image.cid}"
        if how == "data":
            encoded = base64.b64encode(image.data).decode("ascii")
            return f"data:{image.content_type};base64,{encoded}"
        return links.asset(slug, image.filename)

    def context(mode: Literal["email", "web", "print"], how: _Embedding) -> dict[str, Any]:
        record = personal_record if mode == "email" else public_record
        subject, preheader = _subject(record, kind), _preheader(record)
        return {
            "mode": mode,
            "record": record,
            "brand": brand,
            "style": _script_style(brand_style(brand), record.language),
            # Arabic script joins its letters and has no italics; Nastaliq needs taller
            # lines; digits other than Western number the lists.
            "cursive_script": bool(script_fonts(record.language)),
            "tall_script": tall(record.language),
            "list_style": css_counter_style(lang.locale),
            "kind": kind,
            "subject": subject,
            "preheader": preheader,
            "language": record.language,
            "direction": direction,
            "rtl": direction == "rtl",
            "footer": _footer(record, lang),
            "recommendations_intro": _recommendations_intro(record, lang, kind),
            "social": _social(record.social),
            # Each network's icon, in the order of `social`; None: shown as a text link.
            "social_icons": [image_src(icon, how) if icon else None for icon in icons],
            "links": {
                "web": links.web(slug),
                "pdf": links.pdf(slug),
                "archive": links.archive(),
            },
            "personal": _personal_links() if mode == "email" else None,
            "logo": image_src(logo_image, how) if logo_image is not None else None,
            "speakers": [
                _SpeakerView(
                    name=speaker.display_name,
                    position=speaker.position,
                    role=speaker.role,
                    remarks=speaker.remarks,
                    photo=image_src(photo, how) if photo is not None else None,
                )
                for speaker, photo in zip(record.speakers, photos, strict=True)
            ],
        }

    compiled = templates(templates_dir, record.language)
    email_context = context("email", images)
    html = minify(email_page(inline_css(compile_mjml(compiled.render("email", email_context)))))
    text = _tidy_text(compiled.render("text", email_context))
    # Browsers read <style>, so the web page skips the costly inlining.
    web_html = minify(web_page(compile_mjml(compiled.render("email", context("web", "hosted")))))
    print_html = compiled.render("print", context("print", "data"))

    used = [logo, *photos, *icons]
    return Issue(
        slug=slug,
        subject=_subject(personal_record, kind),
        preheader=_preheader(personal_record),
        language=record.language,
        direction=direction,
        html=html,
        text=text,
        web_html=web_html,
        print_html=print_html,
        images=images,
        date=record.date,
        assets=_unique_assets(asset for asset in used if isinstance(asset, Asset)),
    )


def _merged(record: Record, replace: Callable[[str], str]) -> Record:
    """`record` with `replace` applied to the texts that may hold merge fields."""
    changes: dict[str, Any] = {
        name: replace(text)
        for name in ("summary", "footer", "subject", "preheader")
        if (text := getattr(record, name)) is not None and replace(text) != text
    }
    speakers = [
        speaker.model_copy(update={"remarks": replace(speaker.remarks)})
        for speaker in record.speakers
    ]
    if speakers != record.speakers:
        changes["speakers"] = speakers
    return record.model_copy(update=changes) if changes else record


def _subject(record: Record, kind: str) -> str:
    return record.subject or f"{kind}: {record.title}"


def _preheader(record: Record) -> str:
    return record.preheader or shorten(to_plain(record.summary), PREHEADER_LENGTH)


def _speaker_photos(loaded: LoadedRecord) -> list[Asset | str | None]:
    """Each speaker's photo: the loaded file, an https URL as given, or None."""
    photos: list[Asset | str | None] = []
    for index, speaker in enumerate(loaded.record.speakers):
        if speaker.photo is None:
            photos.append(None)
        elif speaker.photo in loaded.photos:
            photos.append(loaded.photos[speaker.photo])
        elif speaker.photo.startswith("https://"):
            photos.append(speaker.photo)
        else:
            raise ComposeError(
                f"speakers[{index}].photo: {speaker.photo!r} was not loaded with the record"
            )
    return photos


def _unique_assets(assets: Iterable[Asset]) -> tuple[Asset, ...]:
    by_name: dict[str, Asset] = {}
    for asset in assets:
        previous = by_name.setdefault(asset.filename, asset)
        if previous.data != asset.data:
            raise ComposeError(f"two different images are both named {asset.filename!r}")
    return tuple(by_name.values())


def _personal_links() -> dict[str, str]:
    return {
        "email": placeholder("email"),
        "unsubscribe": placeholder("unsubscribe_url"),
        "preferences": placeholder("preferences_url"),
        "forward": placeholder("forward_url"),
    }


def _kind(record: Record, lang: Language) -> str:
    """The record's kind as written, or the default kind in the issue's language."""
    if "kind" in record.model_fields_set:
        return record.kind
    return lang.gettext(N_("Seminar"))


def _script_style(style: BrandStyle, language_tag: str) -> BrandStyle:
    """The brand's fonts after the faces made for the issue's script, if it needs any."""
    return dataclasses.replace(
        style,
        # The faces are our constants and the brand's list was checked by brand_style.
        font_family=Markup(font_stack(language_tag, style.font_family)),
        heading_font_family=Markup(font_stack(language_tag, style.heading_font_family)),
    )


def _footer(record: Record, lang: Language) -> str:
    if record.footer:
        return record.footer
    year = lang.digits(str(record.date.year))
    return _ours(lang, lang.gettext(N_("© %(year)s. All rights reserved.")) % {"year": year})


def _recommendations_intro(record: Record, lang: Language, kind: str) -> str:
    if record.recommendations_intro:
        return record.recommendations_intro
    intro = N_("Following recommendations extracted from the discussions in the %(kind)s:")
    return _ours(lang, lang.gettext(intro) % {"kind": kind})


def _ours(lang: Language, sentence: str) -> str:
    """A sentence of ours, isolated when it is English in a right-to-left issue (see
    newsletter.i18n.jinja); the templates show it as they show the record's own."""
    return bidi.ltr_text(sentence) if lang.foreign_strings else sentence


def _social(networks: Mapping[str, str]) -> list[tuple[str, str]]:
    return [
        (_SOCIAL_LABELS.get(network.lower(), network.title()), url)
        for network, url in networks.items()
    ]


def _tidy_text(text: str) -> str:
    text = _TRAILING_SPACE.sub("\n", text)
    return _EXTRA_BLANK_LINES.sub("\n\n\n", text).strip("\n") + "\n"
