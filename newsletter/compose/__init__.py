"""Pure rendering: a record goes in, an `Issue` comes out, with no I/O in between.

`render_pdf` lives in `newsletter.compose.pdf` so that importing this package does not load
WeasyPrint.
"""

from newsletter.compose.checks import Problem, check_issue
from newsletter.compose.composer import compose_issue
from newsletter.issue.model import PERSONAL_FIELDS, Asset, Issue, placeholder

__all__ = [
    "PERSONAL_FIELDS",
    "Asset",
    "Issue",
    "Problem",
    "check_issue",
    "compose_issue",
    "placeholder",
]
