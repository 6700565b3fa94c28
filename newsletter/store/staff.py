"""Staff accounts and their login attempts.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow RFC 9106's
recommendation). Failed logins are rows, counted over a sliding window per client address
and per account, so the limit holds across server processes and restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, Index, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.store.addresses import normalise
from newsletter.store.errors import StoreError
from newsletter.store.models import EMAIL_LENGTH, Base
from newsletter.store.types import utcnow

MIN_PASSWORD_LENGTH = 12
IP_LENGTH = 64

# About a quarter of a second per hash or check on the project's machine.
_hasher = PasswordHasher()
_dummy: dict[int, str] = {}


def _dummy_hash() -> str:
    """Checked when the account does not exist, so a wrong address takes as long as a
    wrong password and the timing does not tell which addresses have accounts."""
    found = _dummy.get(id(_hasher))
    if found is None:
        found = _dummy[id(_hasher)] = _hasher.hash("no such account, but the same work")
    return found


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    email_key: Mapped[str] = mapped_column(String(EMAIL_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """A failed login; successful ones are not kept."""

    __tablename__ = "staff_login_attempts"
    __table_args__ = (Index(None, "ip", "at"), Index(None, "email_key", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ip: Mapped[str] = mapped_column(String(IP_LENGTH))
    email_key: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    at: Mapped[datetime]


class StaffUserExistsError(StoreError):
    def __init__(self, email: str) -> None:
        super().__init__(f"there is already a staff account for {email}")


class WeakPasswordError(StoreError):
    pass


@dataclass(frozen=True)
class LoginLimits:
    per_ip: int
    per_account: int
    window: timedelta


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def add_user(session: Session, email: str, password: str) -> StaffUser:
    address = normalise(email)
    if session.scalar(select(StaffUser.id).where(StaffUser.email_key == address.key)):
        raise StaffUserExistsError(address.email)
    user = StaffUser(
        email=address.email,
        email_key=address.key,
        password_hash=hash_password(password),
        active=True,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.email_key)))


def get_user(session: Session, user_id: int) -> StaffUser | None:
    user = session.get(StaffUser, user_id)
    return user if user is not None and user.active else None


def _key(email: str) -> str:
    # Lower-cased as typed when it is not a valid address: it is then only a counter key.
    try:
        return normalise(email).key
    except StoreError:
        return email.strip().lower()[:EMAIL_LENGTH]


def login_limited(session: Session, email: str, ip: str, limits: LoginLimits) -> bool:
    """Whether this client, or this account, has failed too often within the window."""
    since = utcnow() - limits.window
    by_ip = session.scalar(
        select(func.count()).where(LoginAttempt.ip == ip[:IP_LENGTH], LoginAttempt.at >= since)
    )
    by_account = session.scalar(
        select(func.count()).where(LoginAttempt.email_key == _key(email), LoginAttempt.at >= since)
    )
    return (by_ip or 0) >= limits.per_ip or (by_account or 0) >= limits.per_account


def authenticate(session: Session, email: str, password: str, ip: str) -> StaffUser | None:
    """The active account whose password this is; a failure is recorded for the limits."""
    key = _key(email)
    user = session.scalar(select(StaffUser).where(StaffUser.email_key == key))
    real = user is not None and user.active
    stored = user.password_hash if user is not None and real else _dummy_hash()
    try:
        ok = _hasher.verify(stored, password) and real
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        session.add(LoginAttempt(ip=ip[:IP_LENGTH], email_key=key, at=utcnow()))
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    # A success clears the account's failures, so its owner is not locked out later by
    # mistypes spread over a day.
    session.execute(delete(LoginAttempt).where(LoginAttempt.email_key == key))
    return user
