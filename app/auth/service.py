"""Sign-in (with a throttle shared by every worker) and user management."""

from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import selectinload
from sqlmodel import Session, select

from app import access, listing
from app.audit import service as audit
from app.auth import passwords, throttle
from app.auth.schemas import UserCreate, UserUpdate
from app.config import Settings
from app.counties import service as counties_service
from app.db import Database
from app.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Unauthorized,
    conflict_on_duplicate,
)
from app.models import County, Role, User
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


def authenticate(
    *, db: Database, settings: Settings, username: str, password: str, client: str | None
) -> User:
    """The user whose credentials these are, after the throttle (``app.auth.throttle``)
    lets the attempt through: too many failures for this username from anywhere, or from
    this client address for any username, answer 429 before any password is checked.

    ``client``: the caller's address (``throttle.client_address``; None: unknown, counted
    by username only). The password is checked (argon2, deliberately slow) outside any
    write transaction, so sign-ins do not hold SQLite's write lock meanwhile.
    """
    now = utcnow()
    keys = throttle.Keys.of(username, client)
    throttle.check(db=db, keys=keys, now=now)
    with db.begin() as session:
        throttle.reserve(session=session, settings=settings, keys=keys, now=now)
    with db.session(write=False) as session:
        user = find_by_username(session=session, username=username)
    if not verify_password(password, user.password_hash if user else None):
        raise Unauthorized("Wrong username or password")  # the reservation stays: a failure
    assert user is not None
    with db.begin() as session:
        throttle.release(session=session, settings=settings, keys=keys, now=now)
    if not user.is_active:
        raise Unauthorized("This account has been deactivated; ask the county administrator")
    return user


def find_by_username(*, session: Session, username: str) -> User | None:
    """The user with this name in any case: ShiLi and shili are one name."""
    return session.exec(
        select(User).where(func.lower(User.username) == username.strip().lower()).order_by(User.id)
    ).first()


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


def managed_by(actor: User | None) -> list[Any]:
    """Conditions for the users ``actor`` manages: those within their division (an
    administrator of a city manages the city's users, not the province's)."""
    bounds = None if actor is None else access.code_range(access.reach(actor))
    if bounds is None:
        return []
    return [User.division_code >= bounds[0], User.division_code < bounds[1]]


def get_managed_user(*, session: Session, actor: User, user_id: int) -> User:
    """A user ``actor`` manages, or 404 (a user outside their division is not shown)."""
    user = get_user(session=session, user_id=user_id)
    if not user.division_code.startswith(access.reach(actor)):
        raise NotFound(f"User {user_id} not found")
    return user


def _division(
    session: Session,
    actor: User | None,
    *,
    role: Role,
    township_id: int | None,
    asked: str | None,
    current: str | None,
) -> str:
    """The division code a user gets: a township user's township's code; staff the one
    asked for, else the one they had, else the actor's. It must lie within the actor's
    division and name a known region (a county's code or the start of one)."""
    field = ("body", "division_code")
    if role is Role.township:
        assert township_id is not None
        code = townships.require(session, township_id, user=actor).code
        if asked not in (None, code):
            raise InvalidInput(
                field, f"A township user's division_code is their township's code ({code})"
            )
        return code
    if asked is not None and len(asked) == 9:
        raise InvalidInput(field, "Only township users reach a single township (9 digits)")
    code = asked if asked is not None else current
    if code is None or len(code) == 9:
        code = "" if actor is None else access.reach(actor)
        code = code[:6] if len(code) == 9 else code
    if actor is not None and not code.startswith(access.reach(actor)):
        raise InvalidInput(
            field,
            f"Division {code or '(the whole country)'} is outside yours "
            f"({access.reach(actor) or 'the whole country'})",
        )
    if (
        code
        and not session.execute(
            select(County.id).where(*counties_service.code_conditions(code)).limit(1)
        ).first()
    ):
        raise InvalidInput(field, f"There is no county under division code {code}")
    return code


def list_users(
    *,
    session: Session,
    role: Role | None,
    township_id: int | None,
    window: listing.Window,
    actor: User | None = None,
) -> listing.Listed[User]:
    conditions: list[Any] = managed_by(actor)
    if role is not None:
        conditions.append(User.role == role)
    if township_id is not None:
        conditions.append(User.township_id == township_id)
    return listing.page(
        session,
        select(User).where(*conditions),
        sort=(listing.asc(User.username), listing.asc(User.id)),
        window=window,
        read=lambda paged: session.exec(paged.options(selectinload(User.township))).all(),
    )


def create_user(
    *, session: Session, actor: User | None, data: UserCreate, settings: Settings | None = None
) -> User:
    """``settings``: the password rules' minimum length (its default without them)."""
    passwords.check(data.password, username=data.username, settings=settings, field="password")
    if data.township_id is not None:
        townships.require(session, data.township_id, user=actor)
    division = _division(
        session,
        actor,
        role=data.role,
        township_id=data.township_id,
        asked=data.division_code,
        current=None,
    )
    taken = f"The username '{data.username}' is already taken"
    if (existing := find_by_username(session=session, username=data.username)) is not None:
        raise Conflict(
            f"{taken} by user {existing.id} ('{existing.username}'); usernames are the same"
            " whatever their upper or lower case, so choose another"
        )
    user = User.model_validate(
        data.model_dump(exclude={"password", "division_code"}),
        update={"password_hash": hash_password(data.password), "division_code": division},
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


def update_user(
    *,
    session: Session,
    actor: User,
    user_id: int,
    data: UserUpdate,
    settings: Settings | None = None,
) -> User:
    user = get_managed_user(session=session, actor=actor, user_id=user_id)
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
    if password is not None:
        passwords.check(password, username=user.username, settings=settings, field="password")

    if user.id == actor.id and (
        changes.get("is_active") is False or changes.get("role", Role.admin) is not Role.admin
    ):
        raise Conflict("You cannot deactivate or demote your own account; ask another admin")
    role = changes.get("role", user.role)
    township_id = changes.get("township_id", user.township_id)
    if role is Role.township:
        if township_id is None:
            raise InvalidInput(("body", "township_id"), "A township user needs a township_id")
        townships.require(session, township_id, user=actor)
    elif "township_id" in changes and changes["township_id"] is not None:
        raise InvalidInput(("body", "township_id"), "Only township users belong to a township")
    else:
        township_id = None
    changes["township_id"] = township_id
    if changes.get("division_code") is None:
        changes.pop("division_code", None)
    current = user.division_code
    if user.role is Role.township and role is not Role.township:
        current = current[:6]  # a former township user reaches their county by default
    changes["division_code"] = _division(
        session,
        actor,
        role=role,
        township_id=township_id,
        asked=changes.get("division_code"),
        current=current,
    )

    revoke = (
        password is not None
        or changes.get("is_active") is False
        or (changes.get("role", user.role) != user.role or township_id != user.township_id)
        or changes["division_code"] != user.division_code
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
    *,
    session: Session,
    user: User,
    current_password: str,
    new_password: str,
    settings: Settings | None = None,
) -> None:
    account = session.get(User, user.id)
    assert account is not None
    if not verify_password(current_password, account.password_hash):
        raise InvalidInput(("body", "current_password"), "The current password is not correct")
    passwords.check(
        new_password, username=account.username, settings=settings, field="new_password"
    )
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
