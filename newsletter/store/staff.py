"""Staff accounts, their sessions and their login attempts.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow RFC 9106's
recommendation). A login is three steps, so that the quarter second of argon2 never runs
inside a transaction (on SQLite it would hold the one write lock every one-click
unsubscribe waits for): `begin_login` checks the limits and records the attempt as a
failure in one short write, `check_password` runs argon2 with no transaction open, and
only a right password takes a second short write, `finish_login`, which clears the
failures.

Failed logins are rows, so the limits hold across server processes and restarts. They are
counted per client address (a hard limit over a sliding window) and per account and
address (a delay that doubles with each further failure). There is no limit per account
alone: it would let anyone lock a staff member out with a few wrong passwords.

Each account has a session generation that every session cookie carries: raising it
(logout, a new password, disabling the account) ends every session of the account at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, Index, Integer, String, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.store.addresses import normalise
from newsletter.store.errors import StoreError
from newsletter.store.models import EMAIL_LENGTH, Base
from newsletter.store.types import utcnow

MIN_PASSWORD_LENGTH = 12
IP_LENGTH = 64
# The growing delay doubles from one second; more than this many doublings is past any window.
_MAX_DOUBLINGS = 40

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
    # Carried in every session cookie of the account; a session of an older one is over.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


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


class NoSuchStaffUserError(StoreError):
    def __init__(self, email: str) -> None:
        super().__init__(f"there is no staff account for {email}")


class WeakPasswordError(StoreError):
    pass


@dataclass(frozen=True)
class LoginLimits:
    # Failed logins from one client address within the window; then every login from it
    # is refused until the oldest of them leaves the window.
    per_ip: int
    # Failed logins to one account from one address before each further try waits: one
    # second after the first of them, doubling with each (never longer than the window).
    per_account: int
    window: timedelta

    def delay(self, failures: int) -> timedelta:
        """How long after the last of `failures` the next try must wait."""
        if failures < self.per_account:
            return timedelta(0)
        doublings = min(failures - self.per_account, _MAX_DOUBLINGS)
        return min(timedelta(seconds=2**doublings), self.window)


@dataclass(frozen=True)
class LoginCandidate:
    """What a login checks its password against, as read when the attempt began."""

    key: str
    ip: str
    # None when there is no such active account: the dummy hash is checked instead.
    user_id: int | None
    password_hash: str


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    # A new hash of the password when the stored one uses weaker parameters than today's.
    rehashed: str | None = None


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
        session_generation=0,
    )
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.email_key)))


def get_user(session: Session, user_id: int) -> StaffUser | None:
    user = session.get(StaffUser, user_id)
    return user if user is not None and user.active else None


def find_user(session: Session, email: str) -> StaffUser:
    """The account (active or not) of `email`; NoSuchStaffUserError otherwise."""
    user = session.scalar(select(StaffUser).where(StaffUser.email_key == _key(email)))
    if user is None:
        raise NoSuchStaffUserError(email.strip())
    return user


def set_password(session: Session, email: str, password_hash: str) -> StaffUser:
    """Give the account a new password (hashed by the caller, outside the transaction,
    with `hash_password`) and end every session it has."""
    user = find_user(session, email)
    user.password_hash = password_hash
    end_sessions(session, user.id)
    return user


def set_active(session: Session, email: str, active: bool) -> StaffUser:
    """Enable or disable the account; disabling ends every session it has."""
    user = find_user(session, email)
    user.active = active
    if not active:
        end_sessions(session, user.id)
    return user


def end_sessions(session: Session, user_id: int) -> None:
    """Every session cookie of the account stops working (one UPDATE: no lost increment)."""
    session.execute(
        update(StaffUser)
        .where(StaffUser.id == user_id)
        .values(session_generation=StaffUser.session_generation + 1)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()


def _key(email: str) -> str:
    # Lower-cased as typed when it is not a valid address: it is then only a counter key.
    try:
        return normalise(email).key
    except StoreError:
        return email.strip().lower()[:EMAIL_LENGTH]


def login_wait(
    session: Session, email: str, ip: str, limits: LoginLimits, now: datetime
) -> timedelta:
    """How long this client must wait before it may try to log in to this account (zero
    when it may now)."""
    ip = ip[:IP_LENGTH]
    since = now - limits.window
    waits = [timedelta(0)]
    # The per_ip-th latest failure: when it leaves the window, the address is below the limit.
    oldest_counted = session.scalar(
        select(LoginAttempt.at)
        .where(LoginAttempt.ip == ip, LoginAttempt.at >= since)
        .order_by(LoginAttempt.at.desc())
        .offset(limits.per_ip - 1)
        .limit(1)
    )
    if oldest_counted is not None:
        waits.append(oldest_counted + limits.window - now)
    failures, last = session.execute(
        select(func.count(), func.max(LoginAttempt.at)).where(
            LoginAttempt.email_key == _key(email), LoginAttempt.ip == ip, LoginAttempt.at >= since
        )
    ).one()
    if last is not None:
        waits.append(last + limits.delay(failures) - now)
    return max(waits)


def retry_after(wait: timedelta) -> int:
    """`wait` as the whole seconds of a Retry-After header (at least one)."""
    return max(1, math.ceil(wait.total_seconds()))


def begin_login(
    session: Session, email: str, ip: str, limits: LoginLimits, now: datetime
) -> LoginCandidate | timedelta:
    """The account to check the password against, with the attempt recorded as a failure
    (undone by `finish_login`); or how long to wait when the limits refuse any try now.

    Recording before the password is checked keeps the count right when one client sends
    many logins at once: each sees the ones before it.
    """
    wait = login_wait(session, email, ip, limits, now)
    if wait > timedelta(0):
        return wait
    key = _key(email)
    user = session.scalar(select(StaffUser).where(StaffUser.email_key == key))
    session.add(LoginAttempt(ip=ip[:IP_LENGTH], email_key=key, at=now))
    if user is None or not user.active:
        return LoginCandidate(key, ip[:IP_LENGTH], None, "")
    return LoginCandidate(key, ip[:IP_LENGTH], user.id, user.password_hash)


def check_password(candidate: LoginCandidate, password: str) -> PasswordCheck:
    """argon2 only, no database: call it with no transaction open. An unknown or disabled
    account checks the dummy hash, which takes the same time."""
    stored = candidate.password_hash if candidate.user_id is not None else _dummy_hash()
    try:
        ok = _hasher.verify(stored, password) and candidate.user_id is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if ok and _hasher.check_needs_rehash(stored):
        return PasswordCheck(True, _hasher.hash(password))
    return PasswordCheck(ok)


def finish_login(
    session: Session, candidate: LoginCandidate, check: PasswordCheck, now: datetime
) -> StaffUser | None:
    """The account, logged in, when the password was right and the account has not been
    disabled or given another password since the attempt began; None otherwise."""
    if not check.ok or candidate.user_id is None:
        return None
    user = session.get(StaffUser, candidate.user_id)
    if user is None or not user.active or user.password_hash != candidate.password_hash:
        return None
    if check.rehashed is not None:
        user.password_hash = check.rehashed
    user.last_login_at = now
    # Only this address's failures: a stranger's elsewhere keep their delay, and a success
    # here does not give them fresh tries.
    session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.email_key == candidate.key, LoginAttempt.ip == candidate.ip
        )
    )
    return user
