from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from pydantic import AfterValidator

from app.auth import service, throttle
from app.auth.schemas import PasswordChange, Token, UserCreate, UserRead, UserUpdate
from app.deps import (
    AdminUser,
    CurrentUser,
    DatabaseDep,
    KeysetPageDep,
    SessionDep,
    SettingsDep,
)
from app.errors import BODY, SIGNED_IN, error_responses
from app.models import Role
from app.schemas import Id, Page, check_text
from app.security import create_access_token

router = APIRouter(tags=["auth"], responses=SIGNED_IN)


def _token_for(user_id: int, settings: SettingsDep) -> Token:
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    token = create_access_token(user_id=user_id, key=settings.signing_key(), ttl=ttl)
    return Token(access_token=token, expires_in=int(ttl.total_seconds()))


@router.post(
    "/auth/token",
    response_model=Token,
    responses=error_responses(
        *BODY, 401, 429, why={401: "Wrong username or password, or a deactivated account"}
    ),
    summary="Sign in (OAuth2 password form)",
)
def sign_in(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    username: Annotated[str, Form(min_length=1, max_length=64), AfterValidator(check_text)],
    password: Annotated[str, Form(min_length=1, max_length=128), AfterValidator(check_text)],
) -> Token:
    user = service.authenticate(
        db=db,
        settings=settings,
        username=username,
        password=password,
        client=throttle.client_address(request),
    )
    return _token_for(user.id, settings)  # type: ignore[arg-type]


@router.get("/me", response_model=UserRead, summary="The signed-in user")
def read_me(session: SessionDep, user: CurrentUser) -> UserRead:
    return UserRead.model_validate(service.get_user(session=session, user_id=user.id))  # type: ignore[arg-type]


@router.post(
    "/me/password",
    response_model=Token,
    responses=error_responses(*BODY, 403),
    summary="Change your own password",
)
def change_password(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, data: PasswordChange
) -> Token:
    service.change_own_password(
        session=session,
        user=user,
        current_password=data.current_password,
        new_password=data.new_password,
        settings=settings,
    )
    return _token_for(user.id, settings)  # type: ignore[arg-type]


@router.get(
    "/users",
    response_model=Page[UserRead],
    responses=error_responses(403),
    tags=["users"],
    summary="List users",
)
def list_users(
    session: SessionDep,
    admin: AdminUser,
    page: KeysetPageDep,
    role: Role | None = None,
    township_id: Id | None = None,
) -> Page[UserRead]:
    listed = service.list_users(
        session=session,
        role=role,
        township_id=township_id,
        window=page.window,
        actor=admin,
    )
    return Page.of(listed, [UserRead.model_validate(r) for r in listed.rows], page)


@router.post(
    "/users",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*BODY, 403, 409),
    tags=["users"],
    summary="Create a user",
)
def create_user(
    session: SessionDep, settings: SettingsDep, admin: AdminUser, data: UserCreate
) -> UserRead:
    user = service.create_user(session=session, actor=admin, data=data, settings=settings)
    return UserRead.model_validate(user)


@router.get(
    "/users/{user_id}",
    response_model=UserRead,
    responses=error_responses(403, 404),
    tags=["users"],
    summary="One user",
)
def read_user(session: SessionDep, admin: AdminUser, user_id: Id) -> UserRead:
    user = service.get_managed_user(session=session, actor=admin, user_id=user_id)
    return UserRead.model_validate(user)


@router.patch(
    "/users/{user_id}",
    response_model=UserRead,
    responses=error_responses(*BODY, 403, 404, 409),
    tags=["users"],
    summary="Change a user's role, township, status or password",
)
def update_user(
    session: SessionDep, settings: SettingsDep, admin: AdminUser, user_id: Id, data: UserUpdate
) -> UserRead:
    user = service.update_user(
        session=session, actor=admin, user_id=user_id, data=data, settings=settings
    )
    return UserRead.model_validate(user)
