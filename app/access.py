"""Who sees what (DESIGN.md rule 8): each user the townships under their division code.

A township user sees their own township; a county's, city's or province's staff the
townships whose 9-digit code starts with their 6-, 4- or 2-digit division code; an
administrator with the empty code the whole country.

Anything in another township answers 404 before any other check: a route about one object
finds it for the caller (``ensure_visible``: 404) before it asks whether the caller's role
may act on it (``ensure_role``: 403), so no answer tells a township user that another
township's object exists.

Reports, orders and photos belong to the township that owns their facility *now*: when the
county moves a facility, its history moves with it. They are scoped through the facility
(``scope_by_facility``), never through the township copied onto them when they were made.
"""

from typing import Any

from sqlalchemy import Integer, any_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session

from app.errors import Conflict, Forbidden, NotFound
from app.models import County, Facility, Role, Township, User

#: the lengths a division code may have: the whole country (''), a province (2 digits), a
#: city (4), a county (6), a township (9)
DIVISION_LENGTHS = (0, 2, 4, 6, 9)


def is_staff(user: User) -> bool:
    """Bureau staff (clerks and admins), who see every township of their division."""
    return user.role in (Role.admin, Role.county)


def reach(user: User) -> str:
    """The division code prefix of the townships ``user`` sees ('' : every township).

    A township user reaches their own township's code (kept equal to it when the township
    is renumbered or the user moved: ``app.auth.service``)."""
    return user.division_code


def township_limit(user: User) -> int | None:
    """The one township a township user is confined to, else None.

    None does NOT mean "everything": a city's staff see only their city. Scope with
    ``scope``/``scope_by_facility``/``ensure_visible``, never with this alone."""
    return None if is_staff(user) else user.township_id


def _next_prefix(prefix: str) -> str:
    """The smallest code above every code starting with ``prefix`` (digits only)."""
    return str(int(prefix) + 1).zfill(len(prefix))


def code_range(prefix: str) -> tuple[str, str] | None:
    """``(low, high)``: the codes starting with ``prefix`` are ``low <= code < high``, a range
    of the unique index on ``townships.code`` on both databases (LIKE 'p%' is not one on
    PostgreSQL without a C-collation index). None for '' (every code); a prefix of nines
    has no next prefix of its length, so its high end is the next one of any length."""
    if prefix == "":
        return None
    if set(prefix) == {"9"}:
        return prefix, ":"  # ':' sorts after every digit
    return prefix, _next_prefix(prefix)


def townships_under(prefix: str) -> Any:
    """The ids of the townships whose code starts with ``prefix``, as a subquery."""
    query = select(Township.id)
    bounds = code_range(prefix)
    if bounds is not None:
        query = query.where(Township.code >= bounds[0], Township.code < bounds[1])
    return query


def covers_installation(session: Session, user: User) -> bool:
    """Whether ``user``'s division holds every county of the installation (always for '';
    for Qinshui's staff while Qinshui is its only county): what the installation-wide
    settings (the default patrol intervals) and the whole audit log ask for."""
    if township_limit(user) is not None:
        return False
    bounds = code_range(reach(user))
    if bounds is None:
        return True
    outside = select(County.id).where(or_(County.code < bounds[0], County.code >= bounds[1]))
    return session.execute(outside.limit(1)).first() is None


def scope(statement: Any, user: User, township_column: Any) -> Any:
    """Narrow a SELECT to what ``user`` may see: the one rule every list, feed, export and
    report goes through. A township user: their township (an equality); a division: the
    townships under its code (a semi-join on an index range); the whole country: as is."""
    limit = township_limit(user)
    if limit is not None:
        return statement.where(township_column == limit)
    if reach(user) == "":
        return statement
    return statement.where(township_column.in_(townships_under(reach(user))))


def scope_by_ids(session: Session, statement: Any, user: User, township_column: Any) -> Any:
    """``scope``, with a region's townships read first and named by id (PostgreSQL: one
    array, ``= ANY(:ids)``; SQLite: ``IN (4051, ...)``).

    A list read along a sort index (facilities by code, the overdue list by due date) checks
    every row it passes against the region. Against ``townships_under`` each check is a
    lookup in the townships' index (a province's deep facility page passed 28,200 sites:
    85,000 buffers); a list of ids PostgreSQL hashes once and checks without reading."""
    if township_limit(user) is not None or reach(user) == "":
        return scope(statement, user, township_column)
    ids = list(session.scalars(townships_under(reach(user))).all())
    if session.get_bind().dialect.name != "postgresql":
        return statement.where(township_column.in_(ids))
    # one array parameter, ``= ANY(:ids)``, the plan PostgreSQL makes of an IN list: as
    # 1,800 bound parameters (a province's townships) SQLAlchemy and psycopg spent 50 ms
    # of CPU on each statement rendering and sending them (a first page 94 → 21 ms)
    region = bindparam("region_townships", ids, type_=ARRAY(Integer), unique=True)
    return statement.where(township_column == any_(region))


def facilities_of(township_id: int) -> Any:
    """The ids of a township's facilities, as a subquery (semi-join on ``township_id``)."""
    return select(Facility.id).where(Facility.township_id == township_id)


def facilities_under(user: User) -> Any:
    """The ids of the facilities ``user`` may see, as a subquery."""
    return scope(select(Facility.id), user, Facility.township_id)


def scope_by_facility(statement: Any, user: User, facility_column: Any) -> Any:
    """Narrow a SELECT of things that belong to a facility to what ``user`` may see."""
    if township_limit(user) is None and reach(user) == "":
        return statement
    return statement.where(facility_column.in_(facilities_under(user)))


def scope_by_facility_join(statement: Any, user: User, facility_column: Any) -> Any:
    """``scope_by_facility`` as a join to the facility (by its township now), not a
    semi-join, for a SELECT of things that each belong to one facility (so the join adds
    no row): PostgreSQL can then walk a region's townships, sites and things in a nested
    loop that stops at a page's (or a capped count's) last row, where the semi-join first
    collects every site of the region (43,200 in a province of a million sites)."""
    if township_limit(user) is None and reach(user) == "":
        return statement
    joined = statement.join(Facility, Facility.id == facility_column)
    return scope(joined, user, Facility.township_id)


def sees_township(session: Session, user: User, township_id: int | None) -> bool:
    """Whether ``township_id`` is one of the townships ``user`` sees."""
    if township_id is None:
        return township_limit(user) is None  # in no township: staff only
    limit = township_limit(user)
    if limit is not None:
        return township_id == limit
    prefix = reach(user)
    if prefix == "":
        return True
    township = session.get(Township, township_id)  # the identity map: one lookup a request
    return township is not None and township.code.startswith(prefix)


def ensure_visible(session: Session, user: User, township_id: int | None, what: str) -> None:
    """404 (not 403) for anything outside the user's division: no existence leak."""
    if not sees_township(session, user, township_id):
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
    if not sees_township(session, user, township_id):
        raise Conflict(taken, headers={CLIENT_ID_TAKEN: "true"})
    return existing_id
