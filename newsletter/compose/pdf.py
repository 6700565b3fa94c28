"""The print version of an issue as a PDF, rendered by WeasyPrint without any fetching."""

from __future__ import annotations

import logging
import warnings
from typing import Any

with warnings.catch_warnings():
    # Without libharfbuzz-subset WeasyPrint warns on import and subsets fonts with fontTools.
    warnings.simplefilter("ignore", DeprecationWarning)
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

from newsletter.core.errors import ComposeError
from newsletter.issue.model import Issue

# WeasyPrint logs an error for every image the fetcher refuses by design (https photos) and
# warns about CSS it skips; fontTools logs every font subset it makes.
logging.getLogger("weasyprint").setLevel(logging.CRITICAL)
logging.getLogger("fontTools").setLevel(logging.ERROR)


class DataOnlyFetcher(URLFetcher):  # type: ignore[misc]
    """Serves data: URIs and refuses everything else, so a PDF never touches the network.

    print_html embeds its images; an https photo left in it is skipped, not fetched.
    """

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False)

    def fetch(self, url: str, headers: Any = None) -> Any:
        if not url.startswith("data:"):
            raise ValueError(f"not fetched, only data: URIs are allowed: {url[:80]}")
        return super().fetch(url, headers)


def render_pdf(issue: Issue) -> bytes:
    """The issue's print version as an A4 PDF (the page size is set by the print template)."""
    try:
        pdf: bytes = HTML(string=issue.print_html, url_fetcher=DataOnlyFetcher()).write_pdf()
    except Exception as exc:  # WeasyPrint raises assorted errors from its many layers
        raise ComposeError(f"the PDF could not be rendered: {exc}") from exc
    return pdf
