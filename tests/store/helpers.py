"""Small helpers for the store tests."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.store.importer import DEFAULT_CHUNK, ImportSummary, Rejection, import_file
from newsletter.store.lists import create_list
from newsletter.store.models import Event, MailingList, Membership, Subscriber, Suppression
from newsletter.store.recipients import eligible_query
from tests.conftest import ROOT
from tests.store.databases import current_engine, session_scope

SAMPLE = ROOT / "subscribers" / "sample.csv"


def new_list(name: str, description: str = "") -> int:
    with session_scope(write=True) as session:
        return create_list(session, name, description).id


def write_csv(path: Path, text: str, *, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def run_import(
    list_name: str, path: Path, *, chunk_size: int = DEFAULT_CHUNK
) -> tuple[ImportSummary, list[str]]:
    rejections: list[Rejection] = []
    summary = import_file(
        list_name, path, rejections.append, engine=current_engine(), chunk_size=chunk_size
    )
    return summary, [str(rejection) for rejection in rejections]


def table_counts() -> dict[str, int]:
    with session_scope() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Subscriber, MailingList, Membership, Suppression, Event)
        }


def subscriber_id(email: str) -> int:
    with session_scope() as session:
        found = session.scalar(select(Subscriber.id).where(Subscriber.email_key == email.lower()))
        assert found is not None, email
        return found


def eligible_count(session: Session, list_id: int) -> int:
    """How many a campaign to the list would reach: counted with the query that picks the
    campaign's deliveries and that the queue checks again before each send."""
    eligible = eligible_query(list_id).subquery()
    return session.scalar(select(func.count()).select_from(eligible)) or 0
