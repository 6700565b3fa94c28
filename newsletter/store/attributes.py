"""Which attributes subscribers have (newsletter.issue.merge_fields): the fields the editor
offers, and on the send confirmation, the fields nobody on the list would get filled."""

from __future__ import annotations

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from newsletter.store.models import Subscriber
from newsletter.store.recipients import eligible_query


def attribute_labels(session: Session, list_id: int) -> set[str]:
    """Every attribute label that at least one eligible recipient of the list has, counted
    once however many have it; in the database, without reading every subscriber."""
    recipients = eligible_query(list_id).with_only_columns(Subscriber.id)
    if session.get_bind().dialect.name == "postgresql":
        keys = select(func.jsonb_object_keys(Subscriber.attributes))
    else:
        each = func.json_each(Subscriber.attributes).table_valued("key")
        keys = select(each.c.key).select_from(Subscriber).join(each, true())
    query = keys.where(Subscriber.id.in_(recipients)).distinct()
    return {str(label) for label in session.scalars(query)}


def known_labels(session: Session) -> set[str]:
    """Every attribute label any subscriber has: the merge fields staff can choose from."""
    if session.get_bind().dialect.name == "postgresql":
        query = select(func.jsonb_object_keys(Subscriber.attributes))
    else:
        each = func.json_each(Subscriber.attributes).table_valued("key")
        query = select(each.c.key).select_from(Subscriber).join(each, true())
    return {str(label) for label in session.scalars(query.distinct())}
