"""Sign-in (with a throttle shared by every worker) and user management."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import selectinload
from sqlmodel import Session, select

from app.audit import service as audit
from app.auth.schemas import UserCreate, UserUpdate
from app.config import Settings
from app.errors import Conflict, InvalidInput, NotFound, TooManyRequests, Unauthorized
from app.models import LoginThrottle, Role, Township, User
from app.models.base import utcnow
from app.security import hash_password, verify_password

_AUDIT_EXCLUDE = ("password_hash", "tokens_valid_after")


def _throttle_key(username: str) -> str:
    return username.strip().lower()[:64]


def authenticate(*, session: Session, settings: Settings, username: str, password: str) -> User:
    """The user whose credentials these are; a run of failures locks the username for a while."""
    now = utcnow()
    key = _throttle_key(username)
    throttle = session.exec(
        select(LoginThrottle).where(LoginThrottle.username == key).with_for_update()
    ).first()
    if throttle and throttle.locked_until and throttle.locked_until > now:
        wait = int((throttle.locked_until - now).total_seconds()) + 1
        raise TooManyRequests(
            f"Too many failed sign-ins for '{username}'; try again in {wait // 60 + 1} minutes",
            headers={"Retry-After": str(wait)},
        )
    user = session.exec(select(User).where(User.username == username)).first()
    if not verify_password(password, user.password_hash if user else None):
        _register_failure(session=session, settings=settings, throttle=throttle, key=key, now=now)
        session.commit()
        raise Unauthorized("Wrong username or password")
    assert user is not None
    if not user.is_active:
        raise Unauthorized("This account has been deactivated; ask the county administrator")
    if throttle:
        session.delete(throttle)
        session.commit()
    return user


def _register_failure(
    *, session: Session, settings: Settings, throttle: LoginThrottle | None, key: str, now: datetime
) -> None:
    window = timedelta(minutes=settings.login_lock_minutes)
    if throttle is None:
        throttle = LoginThrottle(username=key, failures=0, first_failed_at=now)
        session.add(throttle)
    elif throttle.first_failed_at < now - window:
        throttle.failures, throttle.first_failed_at, throttle.locked_until = 0, now, None
    throttle.failures += 1
    if throttle.failures >= settings.login_max_failures:
        throttle.locked_until = now + window


def _check_township(session: Session, township_id: int | None) -> None:
    if township_id is not None and session.get(Township, township_id) is None:
        raise InvalidInput(("body", "township_id"), f"There is no township with id {township_id}")


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
    _check_township(session, data.township_id)
    if session.exec(select(User.id).where(User.username == data.username)).first() is not None:
        raise Conflict(f"The username '{data.username}' is already taken")
    user = User.model_validate(
        data.model_dump(exclude={"password"}),
        update={"password_hash": hash_password(data.password)},
    )
    session.add(user)
    session.flush()
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
    before = audit.snapshot(user, exclude=_AUDIT_EXCLUDE)
    changes = data.model_dump(exclude_unset=True)
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
        _check_township(session, township_id)
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
