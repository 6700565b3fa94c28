"""From a record file to an `Issue`: the I/O around the pure composer (reading the record,
its photos and the brand's logo), shared by `newsletter build`, `newsletter send`, the
staff preview and the staff send, so that all of them compose a record the same way."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from newsletter.compose import Asset, Issue, Problem
    from newsletter.core.settings import Settings
    from newsletter.record.model import LoadedRecord


def read_logo(settings: Settings) -> Asset | None:
    """The brand's logo when it is a local file, prepared for mail as the photos are; a URL
    is linked, not embedded."""
    from newsletter.record.assets import read_asset
    from newsletter.record.photos import LOGO_WIDTH, prepare_image

    logo = settings.brand.logo
    if not logo or logo.startswith(("https://", "http://")):
        return None
    path = Path(logo)
    return prepare_image(
        read_asset(path, "logo").data,
        "logo",
        shown=str(path),
        width=LOGO_WIDTH,
        budget_bytes=settings.photo_budget_bytes,
    )


def compose_file(
    settings: Settings, path: Path, *, images: Literal["hosted", "inline"] | None = None
) -> tuple[Issue, list[Problem]]:
    """The issue for the record at `path`, and the composer's checks of it.

    Raises RecordError for an invalid record, NewsletterError for other trouble."""
    # Imported here so the CLI's other commands stay quick to start.
    from newsletter.record.loader import load_record

    loaded = load_record(
        path,
        max_photo_bytes=settings.max_photo_bytes,
        photo_budget_bytes=settings.photo_budget_bytes,
    )
    return compose_loaded(settings, loaded, images=images)


def compose_loaded(
    settings: Settings,
    loaded: LoadedRecord,
    *,
    images: Literal["hosted", "inline"] | None = None,
) -> tuple[Issue, list[Problem]]:
    """As `compose_file`, for a record already loaded (a saved issue version)."""
    from newsletter.compose import check_issue, compose_issue

    issue = compose_issue(
        loaded,
        brand=settings.brand,
        public_url=settings.public_url,
        images=images or settings.images,
        logo=read_logo(settings),
        templates_dir=settings.templates_dir,
    )
    return issue, check_issue(issue, photo_budget_bytes=settings.photo_budget_bytes)
