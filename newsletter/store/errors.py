"""Errors raised by the subscriber store, each naming the problem for the person at the CLI."""

from __future__ import annotations

from newsletter.core.errors import NewsletterError


class StoreError(NewsletterError):
    """A store operation was refused because of the data it was given."""


class UnknownListError(StoreError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no list named {name!r}")


class DuplicateListError(StoreError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a list named {name!r} already exists")


class UnknownSubscriberError(StoreError):
    def __init__(self, email: str) -> None:
        super().__init__(f"no subscriber with the address {email!r}")


class AddressTakenError(StoreError):
    """Another subscriber has the address already: two people cannot share one. `email`
    is theirs as stored (it may differ from the one given in case)."""

    def __init__(self, email: str, other_id: int) -> None:
        self.email = email
        self.other_id = other_id
        super().__init__(f"{email!r} is the address of another subscriber (number {other_id})")


class SuppressedError(StoreError):
    """The address is on the suppression list, so it may not be (re)subscribed."""

    def __init__(self, email: str, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{email!r} is suppressed ({reason})")


class ImportFileError(StoreError):
    """The CSV file as a whole cannot be imported (missing, unreadable, bad header)."""


class ImportBusyError(StoreError):
    """Another import is running; imports run one at a time."""
