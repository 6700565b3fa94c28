"""One root exception, so callers can catch everything the project raises on purpose."""

from __future__ import annotations


class NewsletterError(Exception):
    """Root of every error the project raises deliberately."""


class ConfigError(NewsletterError):
    """A setting is missing or invalid."""


class RecordError(NewsletterError):
    """A seminar record is invalid. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ComposeError(NewsletterError):
    """A record could not be turned into an issue (template or check failure)."""


class TokenError(NewsletterError):
    """A signed token is malformed, tampered with or signed with another key."""
