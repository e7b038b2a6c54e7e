"""Typed dependencies: the request's session, the caller, role checks, paging."""

import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from app.config import Settings
from app.db import Database
from app.errors import Forbidden, InvalidInput, Unauthorized
from app.listing import CURSOR_LOC, CURSOR_MAX_LENGTH, Window
from app.models import Role, User
from app.security import csrf_matches, decode_access_token

log = logging.getLogger(__name__)

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency on
# a worker thread, and each such hop costs more CPU than the work it would carry.


async def get_db(request: Request) -> Database:
    return request.app.state.db


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


DatabaseDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(request: Request, db: DatabaseDep) -> AsyncIterator[Session]:
    """One session per request; reads do not take SQLite's write lock.

    Making a session does no I/O; closing one does (a ROLLBACK) only while it still holds
    a transaction, and only then goes to a worker thread.
    """
    session = db.session(write=request.method not in _READ_METHODS)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(_close, session)
        else:
            _close(session)


def _close(session: Session) -> None:
    """Close the request's session; its closing ROLLBACK failing is no reason to lose the
    answer. The route has finished (its commit, if any, stands): a connection that died
    meanwhile (the database shutting down) is thrown away, and the client still gets what
    the route answered instead of a dropped connection."""
    try:
        session.close()
    except DBAPIError as exc:
        log.warning("closing a request's session failed; its connection is discarded: %s", exc)


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
    with db.session(write=False) as session:
        user = session.get(User, int(claims["sub"]))
    return _still_valid(user, claims)


def user_in_session(session: Session, settings: Settings, token: str) -> User:
    """``user_for_token`` read through the request's own session (no second connection),
    and detached from it like the other's answer."""
    claims = decode_access_token(token, key=settings.signing_key())
    user = session.get(User, int(claims["sub"]), populate_existing=True)
    if user is not None:
        session.expunge(user)
    return _still_valid(user, claims)


def _still_valid(user: User | None, claims: dict[str, Any]) -> User:
    if user is None or not user.is_active:
        raise Unauthorized("This account no longer exists or has been deactivated")
    if claims["iat"] < user.tokens_valid_after.timestamp():
        raise Unauthorized("Your password or access changed since you signed in: sign in again")
    return user


def _request_token(request: Request, settings: Settings, token: str | None) -> str:
    """The bearer token, or else the pages' session cookie.

    A GET or HEAD may carry the web pages' session cookie, so a signed-in page can show
    thumbnails, draw the map feed and offer export links. A write with the cookie must
    also carry the browser's CSRF token in ``X-CSRF-Token`` (the phone form's scripts do):
    a cross-site form can set neither that header nor compute the token.
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
    return token


def get_current_user(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    session: SessionDep,
    token: Annotated[str | None, Depends(_bearer)],
) -> User:
    """The signed-in, active user named by the bearer token or the session cookie."""
    token = _request_token(request, settings, token)
    if db.dialect == "sqlite" and request.method not in _READ_METHODS:
        # A short read of its own, so the request's write transaction, which takes
        # SQLite's write lock at BEGIN, starts only when the route needs it.
        return user_for_token(db, settings, token)
    # Checked on every request (a deactivated user is out at once), in the request's own
    # session: one connection, one transaction, for the user and the route.
    return user_in_session(session, settings, token)


def get_user_with_own_read(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(_bearer)],
) -> User:
    """``get_current_user`` for routes that open their own short sessions (photo uploads):
    no request session is opened, so nothing holds a pooled connection, or a transaction,
    while the upload waits for its turn to decode and decodes for seconds."""
    return user_for_token(db, settings, _request_token(request, settings, token))


CurrentUser = Annotated[User, Depends(get_current_user)]
#: the caller, read in a session of its own (routes without a request session)
UploadingUser = Annotated[User, Depends(get_user_with_own_read)]


def require_roles(*roles: Role) -> Callable[[User], Coroutine[Any, Any, User]]:
    allowed = " or ".join(r.value for r in roles)

    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(f"This needs the {allowed} role; you are a {user.role.value} user")
        return user

    return check


AdminUser = Annotated[User, Depends(require_roles(Role.admin))]
#: county bureau staff: county clerks and admins
StaffUser = Annotated[User, Depends(require_roles(Role.admin, Role.county))]


class Pagination:
    def __init__(
        self, limit: int, offset: int, cursor: str | None = None, count_limit: int | None = None
    ) -> None:
        self.limit = limit
        self.offset = offset
        self.cursor = cursor
        #: how far the list's ``total`` is counted (None: exactly, ``?count=exact``)
        self.count_limit = count_limit

    @property
    def window(self) -> Window:
        return Window(
            limit=self.limit, offset=self.offset, cursor=self.cursor, count_limit=self.count_limit
        )


_Limit = Annotated[int, Query(ge=1, le=500, description="rows per page")]
_Offset = Annotated[int, Query(ge=0, le=2_147_483_647, description="rows to skip")]
_Count = Annotated[
    Literal["exact"] | None,
    Query(
        description="`exact`: count every matching row for `total`. Without it a list that"
        " can grow long (facilities, reports, orders, the ledger, the audit log, users,"
        " townships, the overdue and missing sites) answers `total` null and `total_over`"
        " MEMORIAL_COUNT_LIMIT (10,000) when it holds more, so its first page does not"
        " count every row of a province; short lists always count exactly",
    ),
]


def count_limit(settings: Settings, count: str | None) -> int | None:
    """How far to count a list: the deployment's limit, or every row for ``?count=exact``."""
    return None if count == "exact" else settings.count_limit


async def pagination(
    settings: SettingsDep, limit: _Limit = 50, offset: _Offset = 0, count: _Count = None
) -> Pagination:
    return Pagination(limit, offset, count_limit=count_limit(settings, count))


async def keyset_pagination(
    settings: SettingsDep,
    limit: _Limit = 50,
    offset: _Offset = 0,
    cursor: Annotated[
        str | None,
        Query(
            max_length=CURSOR_MAX_LENGTH,
            description="the `next` of the page before: the page after it (instead of offset)",
        ),
    ] = None,
    count: _Count = None,
) -> Pagination:
    if cursor is not None and offset:
        raise InvalidInput(CURSOR_LOC, "Send either cursor or offset, not both")
    return Pagination(limit, offset, cursor or None, count_limit(settings, count))


#: ``?limit=&offset=&count=``
PageDep = Annotated[Pagination, Depends(pagination)]
#: ``?limit=&offset=&count=`` or ``?limit=&cursor=`` (keyset paging: app.listing)
KeysetPageDep = Annotated[Pagination, Depends(keyset_pagination)]
