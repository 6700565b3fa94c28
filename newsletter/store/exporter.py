"""CSV export of a list, safe to open in a spreadsheet.

Spreadsheets run a cell that starts with =, +, - or @ as a formula (and tab or CR can
smuggle one in), so such cells get a leading apostrophe, which the spreadsheet shows as
text. The importer takes exactly that apostrophe off again (`from_spreadsheet`), so an
export imports back as the same addresses and fields. To keep that a one-to-one mapping,
a cell that already starts with apostrophes before such a character gets one more.
Members are read in subscriber-id batches: memory stays flat for any list size.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from newsletter.store.models import MailingList, Membership, Subscriber, Suppression

BATCH = 2000
FIXED_COLUMNS = ("email", "name", "status")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    return f"'{value}" if value.lstrip("'").startswith(_FORMULA_STARTS) else value


def from_spreadsheet(value: str) -> str:
    """The inverse of `spreadsheet_safe`: the value a cell of an export stands for."""
    if value.startswith("'") and value.lstrip("'").startswith(_FORMULA_STARTS):
        return value[1:]
    return value


def export_csv(session: Session, mailing_list: MailingList, stream: TextIO) -> int:
    """Write every member of the list (any status) to `stream`; return how many.

    `status` is the membership's, except "suppressed" for an address that must never be
    mailed, so the file cannot be mistaken for a list of who may be mailed.
    """
    # Sorted: PostgreSQL's JSONB does not keep the order the columns were imported in.
    attribute_keys: set[str] = set()
    for _, _, _, _, attributes in _members(session, mailing_list.id):
        attribute_keys.update(attributes)
    header = [
        *FIXED_COLUMNS,
        *sorted(attribute_keys - set(FIXED_COLUMNS), key=lambda key: (key.casefold(), key)),
    ]
    writer = csv.writer(stream)
    writer.writerow([spreadsheet_safe(cell) for cell in header])
    count = 0
    for email, name, status, suppressed, attributes in _members(session, mailing_list.id):
        cells = [email, name, "suppressed" if suppressed else str(status)]
        cells.extend(_text(attributes.get(key)) for key in header[len(FIXED_COLUMNS) :])
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
        count += 1
    return count


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _members(
    session: Session, list_id: int
) -> Iterator[tuple[str, str, str, bool, dict[str, Any]]]:
    suppressed = exists().where(Suppression.email_key == Subscriber.email_key)
    after = 0
    while True:
        rows = session.execute(
            select(
                Subscriber.id,
                Subscriber.email,
                Subscriber.name,
                Membership.status,
                suppressed,
                Subscriber.attributes,
            )
            .join(Subscriber, Subscriber.id == Membership.subscriber_id)
            .where(Membership.list_id == list_id, Membership.subscriber_id > after)
            .order_by(Membership.subscriber_id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for _, email, name, status, is_suppressed, attributes in rows:
            yield email, name, str(status), bool(is_suppressed), attributes
        after = rows[-1][0]
