"""SpamAssassin's verdict for the preview page: newsletter.mail.spam, where it lives so that
`newsletter check` shares it without reaching into the web side."""

from __future__ import annotations

from newsletter.mail.spam import (
    PLAIN_WORDS,
    TIMEOUT,
    SpamResult,
    SpamRule,
    explain,
    parse_report,
    spam_score,
)

__all__ = [
    "PLAIN_WORDS",
    "TIMEOUT",
    "SpamResult",
    "SpamRule",
    "explain",
    "parse_report",
    "spam_score",
]
