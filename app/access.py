"""Who sees what (DESIGN.md rule 8): township users only their own township."""

from typing import Any

from app.errors import NotFound
from app.models import Role, User


def is_staff(user: User) -> bool:
    """County bureau staff (county clerks and admins) see every township."""
    return user.role in (Role.admin, Role.county)


def township_limit(user: User) -> int | None:
    """The one township a user is confined to, or None for county staff."""
    return None if is_staff(user) else user.township_id


def scope(statement: Any, user: User, township_column: Any) -> Any:
    """Narrow a SELECT to what ``user`` may see."""
    limit = township_limit(user)
    return statement if limit is None else statement.where(township_column == limit)


def ensure_visible(user: User, township_id: int | None, what: str) -> None:
    """404 (not 403) for anything in another township: no existence leak."""
    limit = township_limit(user)
    if limit is not None and township_id != limit:
        raise NotFound(f"{what} not found")
