"""Sign-in (with a throttle shared by every worker) and user management."""

import hashlib
import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.orm import selectinload
from sqlmodel import Session, select

from app.audit import service as audit
from app.auth.schemas import UserCreate, UserUpdate
from app.config import Settings
from app.db import Database, insert_if_missing
from app.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
    conflict_on_duplicate,
)
from app.models import LoginThrottle, Role, User
from app.models.base import utcnow
from app.security import hash_password, verify_password
from app.townships import service as townships

_AUDIT_EXCLUDE = ("password_hash", "tokens_valid_after")


#: a name taken exactly, or in another case
USERNAME_KEYS = ("uq_users_username", "uq_users_username_lower")
#: the reserved account ``memorial seed`` writes as (see ``app.seed.system_user``). The
#: leading underscore is outside what ``Username`` admits, so no user made through the API
#: or the CLI, before or after, can take or collide with it.
SYSTEM_USERNAME = "_system"


def throttle_key(username: str, client: str) -> str:
    return hashlib.sha256(f"{username.strip().lower()}\n{client}".encode()).hexdigest()


def authenticate(
    *, db: Database, settings: Settings, username: str, password: str, client: str
) -> User:
    """The user whose credentials these are; a run of failures from one client address
    locks that username there for a while.

    The password is checked (argon2, deliberately slow) outside any write transaction, so
    sign-ins do not hold SQLite's write lock.
    """
    now = utcnow()
    key = throttle_key(username, client)
    with db.session(write=False) as session:
        throttle = session.get(LoginThrottle, key)
        user = find_by_username(session=session, username=username)
    if throttle and throttle.locked_until and throttle.locked_until > now:
        raise TooManyRequests(
            _locked_message(username, throttle.locked_until - now),
            headers={"Retry-After": str(math.ceil((throttle.locked_until - now).total_seconds()))},
        )
    if not verify_password(password, user.password_hash if user else None):
        with db.begin() as session:
            _register_failure(session=session, settings=settings, key=key, now=now)
        raise Unauthorized("Wrong username or password")
    assert user is not None
    if not user.is_active:
        raise Unauthorized("This account has been deactivated; ask the county administrator")
    if throttle is not None:
        with db.begin() as session:
            session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
    return user


def _locked_message(username: str, remaining: timedelta) -> str:
    """Whole minutes, rounded up: a 15-minute lock reads "15 minutes" right after it starts."""
    minutes = math.ceil(remaining.total_seconds() / 60)
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins for '{username}'; try again in {minutes} {unit}"


def find_by_username(*, session: Session, username: str) -> User | None:
    """The user with this name in any case: ShiLi and shili are one name."""
    return session.exec(
        select(User).where(func.lower(User.username) == username.strip().lower()).order_by(User.id)
    ).first()


def _register_failure(*, session: Session, settings: Settings, key: str, now: datetime) -> None:
    """Count one failure atomically (the row is locked), locking after too many."""
    insert_if_missing(session, LoginThrottle, {"key": key, "failures": 0, "first_failed_at": now})
    throttle = session.exec(
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    window = timedelta(minutes=settings.login_lock_minutes)
    if throttle.first_failed_at < now - window:
        throttle.failures, throttle.first_failed_at, throttle.locked_until = 0, now, None
    throttle.failures += 1
    if throttle.failures >= settings.login_max_failures:
        throttle.locked_until = now + window


def get_user(*, session: Session, user_id: int) -> User:
    user = session.exec(
        select(User)
        .where(User.id == user_id)
        .options(selectinload(User.township))
        .execution_options(populate_existing=True)  # fresh after a change of township
    ).first()
    if user is None:
        raise NotFound(f"User {user_id} not found")
    return user


def list_users(
    *, session: Session, role: Role | None, township_id: int | None, limit: int, offset: int
) -> tuple[list[User], int]:
    conditions: list[Any] = []
    if role is not None:
        conditions.append(User.role == role)
    if township_id is not None:
        conditions.append(User.township_id == township_id)
    total = session.exec(select(func.count()).select_from(User).where(*conditions)).one()
    rows = session.exec(
        select(User)
        .where(*conditions)
        .options(selectinload(User.township))
        .order_by(User.username)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def create_user(*, session: Session, actor: User | None, data: UserCreate) -> User:
    if data.township_id is not None:
        townships.require(session, data.township_id)
    taken = f"The username '{data.username}' is already taken"
    if (existing := find_by_username(session=session, username=data.username)) is not None:
        raise Conflict(
            f"{taken} by user {existing.id} ('{existing.username}'); usernames are the same"
            " whatever their upper or lower case, so choose another"
        )
    user = User.model_validate(
        data.model_dump(exclude={"password"}),
        update={"password_hash": hash_password(data.password)},
    )
    # uq_users_username_lower catches a concurrent request that took the name meanwhile.
    with conflict_on_duplicate(session, taken, key=USERNAME_KEYS):
        session.add(user)
    audit.record(
        session=session,
        actor=actor,
        action="user.create",
        object_type="user",
        object_id=user.id,
        after=audit.snapshot(user, exclude=_AUDIT_EXCLUDE),
    )
    session.commit()
    return get_user(session=session, user_id=user.id)  # type: ignore[arg-type]


def update_user(*, session: Session, actor: User, user_id: int, data: UserUpdate) -> User:
    user = get_user(session=session, user_id=user_id)
    if user.username == SYSTEM_USERNAME:
        raise Conflict(
            f"User {user.id} ('{user.username}') is the reserved account that `memorial seed`"
            " writes as; it cannot be changed, activated or given a password"
        )
    before = audit.snapshot(user, exclude=_AUDIT_EXCLUDE)
    changes = data.model_dump(exclude_unset=True)
    if "full_name" in changes and changes["full_name"] is None:
        raise InvalidInput(("body", "full_name"), "full_name cannot be empty")
    if changes.get("is_active") is None:
        changes.pop("is_active", None)
    if changes.get("role") is None:
        changes.pop("role", None)
    password = changes.pop("password", None)

    if user.id == actor.id and (
        changes.get("is_active") is False or changes.get("role", Role.admin) is not Role.admin
    ):
        raise Conflict("You cannot deactivate or demote your own account; ask another admin")
    role = changes.get("role", user.role)
    township_id = changes.get("township_id", user.township_id)
    if role is Role.township:
        if township_id is None:
            raise InvalidInput(("body", "township_id"), "A township user needs a township_id")
        townships.require(session, township_id)
    elif "township_id" in changes and changes["township_id"] is not None:
        raise InvalidInput(("body", "township_id"), "Only township users belong to a township")
    else:
        township_id = None
    changes["township_id"] = township_id

    revoke = (
        password is not None
        or changes.get("is_active") is False
        or (changes.get("role", user.role) != user.role or township_id != user.township_id)
    )
    for field, value in changes.items():
        setattr(user, field, value)
    if password is not None:
        user.password_hash = hash_password(password)
    if revoke:
        user.tokens_valid_after = utcnow()
    after = audit.snapshot(user, exclude=_AUDIT_EXCLUDE)
    if password is not None:
        after["password"] = "changed"
    audit.record(
        session=session,
        actor=actor,
        action="user.update",
        object_type="user",
        object_id=user.id,
        before=before,
        after=after,
    )
    session.commit()
    return get_user(session=session, user_id=user_id)


def change_own_password(
    *, session: Session, user: User, current_password: str, new_password: str
) -> None:
    account = session.get(User, user.id)
    assert account is not None
    if not verify_password(current_password, account.password_hash):
        raise InvalidInput(("body", "current_password"), "The current password is not correct")
    account.password_hash = hash_password(new_password)
    account.tokens_valid_after = utcnow()
    audit.record(
        session=session,
        actor=user,
        action="user.password",
        object_type="user",
        object_id=account.id,
        after={"password": "changed"},
    )
    session.commit()
