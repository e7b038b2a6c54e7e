"""Typed dependencies: the request's session, the caller, role checks, paging."""

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from app.config import Settings
from app.db import Database
from app.errors import Forbidden, Unauthorized
from app.models import Role, User
from app.security import csrf_matches, decode_access_token

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


DatabaseDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(request: Request, db: DatabaseDep) -> Iterator[Session]:
    """One session per request; reads do not take SQLite's write lock."""
    with db.session(write=request.method not in _READ_METHODS) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
#: the web pages' session cookie: the same token the API issues (app.web.session)
SESSION_COOKIE = "mp_session"
#: the random seed of the browser's CSRF token (``app.security.csrf_token_for``)
CSRF_COOKIE = "mp_csrf"
#: a script of this site (the phone form) sends the CSRF token in this header
CSRF_HEADER = "x-csrf-token"


def user_for_token(db: Database, settings: Settings, token: str) -> User:
    """The active user a token names, or ``Unauthorized`` saying why it no longer works
    (expired, deactivated, or issued before a password, role or township change)."""
    claims = decode_access_token(token, key=settings.signing_key())
    # A short read of its own, so the request's unit of work starts later (SQLite write lock).
    with db.session(write=False) as session:
        user = session.get(User, int(claims["sub"]))
    if user is None or not user.is_active:
        raise Unauthorized("This account no longer exists or has been deactivated")
    if claims["iat"] < user.tokens_valid_after.timestamp():
        raise Unauthorized("Your password or access changed since you signed in: sign in again")
    return user


def get_current_user(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(_bearer)],
) -> User:
    """The signed-in, active user named by the bearer token.

    A GET or HEAD may instead carry the web pages' session cookie, so a signed-in page can
    show thumbnails, draw the map feed and offer export links. A write with the cookie
    must also carry the browser's CSRF token in ``X-CSRF-Token`` (the phone form's scripts
    do): a cross-site form can set neither that header nor compute the token.
    """
    if not token:
        token = request.cookies.get(SESSION_COOKIE)
        if token and request.method not in _READ_METHODS:
            sent = request.headers.get(CSRF_HEADER)
            if sent is None:
                token = None  # a cookie alone never authorises a write
            elif not csrf_matches(
                request.cookies.get(CSRF_COOKIE), sent, key=settings.signing_key()
            ):
                raise Forbidden(
                    "The CSRF token does not match this browser's session: reload the page"
                )
    if not token:
        raise Unauthorized()
    return user_for_token(db, settings, token)


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    allowed = " or ".join(r.value for r in roles)

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(f"This needs the {allowed} role; you are a {user.role.value} user")
        return user

    return check


AdminUser = Annotated[User, Depends(require_roles(Role.admin))]
#: county bureau staff: county clerks and admins
StaffUser = Annotated[User, Depends(require_roles(Role.admin, Role.county))]


class Pagination:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=500, description="rows per page")] = 50,
        offset: Annotated[int, Query(ge=0, le=2_147_483_647, description="rows to skip")] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


PageDep = Annotated[Pagination, Depends()]
