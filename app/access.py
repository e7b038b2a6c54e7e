"""Who sees what (DESIGN.md rule 8): township users only their own township.

Anything in another township answers 404 before any other check: a route about one object
finds it for the caller (``ensure_visible``: 404) before it asks whether the caller's role
may act on it (``ensure_role``: 403), so no answer tells a township user that another
township's object exists.

Reports, orders and photos belong to the township that owns their facility *now*: when the
county moves a facility, its history moves with it. They are scoped through the facility
(``scope_by_facility``), never through the township copied onto them when they were made.
"""

from typing import Any

from sqlalchemy import select

from app.errors import Conflict, Forbidden, NotFound
from app.models import Facility, Role, User


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


def facilities_of(township_id: int) -> Any:
    """The ids of a township's facilities, as a subquery (semi-join on ``township_id``)."""
    return select(Facility.id).where(Facility.township_id == township_id)


def scope_by_facility(statement: Any, user: User, facility_column: Any) -> Any:
    """Narrow a SELECT of things that belong to a facility to what ``user`` may see."""
    limit = township_limit(user)
    return (
        statement if limit is None else statement.where(facility_column.in_(facilities_of(limit)))
    )


def ensure_visible(user: User, township_id: int | None, what: str) -> None:
    """404 (not 403) for anything in another township: no existence leak."""
    limit = township_limit(user)
    if limit is not None and township_id != limit:
        raise NotFound(f"{what} not found")


def ensure_role(user: User, *roles: Role) -> None:
    """403 unless ``user`` has one of ``roles`` (after the object was found: see above)."""
    if user.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise Forbidden(f"This needs the {allowed} role; you are a {user.role.value} user")


def ensure_staff(user: User) -> None:
    """403 unless ``user`` is county staff (a county clerk or an admin)."""
    ensure_role(user, Role.admin, Role.county)


#: the header of a 409 for a ``client_id`` another township's record holds: the phone then
#: gives its report a new id and sends it again (``app/static/phone/outbox.js``)
CLIENT_ID_TAKEN = "X-Client-Id-Taken"


def claimed_by(session: Any, user: User, model: Any, client_id: Any, taken: str) -> int | None:
    """The id of the ``model`` row (a report or an order) that already holds ``client_id``,
    or None. One held in another township is not the caller's to see: a 409 with only the
    message ``taken`` (that the id is taken) and ``X-Client-Id-Taken`` (the phone then makes
    a new one)."""
    found = session.execute(
        select(model.id, Facility.township_id)
        .join(Facility, Facility.id == model.facility_id)
        .where(model.client_id == client_id)
    ).first()
    if found is None:
        return None
    existing_id, township_id = found
    if township_limit(user) not in (None, township_id):
        raise Conflict(taken, headers={CLIENT_ID_TAKEN: "true"})
    return existing_id
