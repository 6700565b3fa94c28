"""Whose copy staff see in a preview or get as a test message: a subscriber they name by
address. The reader keeps the subscriber's name, address and attributes for the merge
fields but not their id (subscriber 0's links), so a preview or a test never opens or
changes a real subscription."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.mail.factory import Addressee
from newsletter.store.subscribers import find_subscriber
from newsletter.web.context import WebContext
from newsletter.web.db import reading


@dataclass(frozen=True)
class Choice:
    """What staff asked for: `asked` as typed, `reader` the subscriber found (None: the
    sample reader, whose merge fields show their fallbacks)."""

    asked: str
    reader: Addressee | None

    @property
    def unknown(self) -> bool:
        """An address was given and no subscriber has it."""
        return bool(self.asked) and self.reader is None


def choose(ctx: WebContext, asked: str) -> Choice:
    asked = asked.strip()
    if not asked:
        return Choice("", None)
    with reading(ctx) as session:
        found = find_subscriber(session, asked)
        if found is None:
            return Choice(asked, None)
        return Choice(
            asked,
            Addressee(
                key=0,
                subscriber_id=0,
                email=found.email,
                name=found.name,
                version=0,
                attributes=dict(found.attributes or {}),
            ),
        )
