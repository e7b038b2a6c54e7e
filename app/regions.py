"""A report's area: the caller's whole reach, or one division inside it (issue 12).

The annual report and the fund summary are about the townships under a division code: a
province (2 digits), a city (4), a county (6) or a township (9). By default that is the
caller's own division; a city's staff may ask for one of its counties, a county's for one
of its townships. The area is read through a *narrowed viewer*: a copy of the caller whose
division code is the one asked for, so every figure goes through the one scoping rule
(``app.access.scope``) and nothing else needs to know about divisions.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from app import access
from app.errors import NotFound
from app.models import County, Township, User
from app.townships import service as township_service

#: a division code a report may be asked for (the lengths in ``access.DIVISION_LENGTHS``)
DIVISION_PATTERN = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9})$"
#: a region named by its counties names at most this many of them
NAMED_COUNTIES = 3


def narrowed(user: User, division: str) -> User:
    """``user`` as if their division code were ``division`` (a code inside their reach).

    A transient copy, never added to a session: only what ``app.access`` reads matters."""
    return User(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=user.role,
        township_id=user.township_id,
        division_code=division,
        password_hash="",
        is_active=user.is_active,
    )


@dataclass(frozen=True)
class Area:
    """What a report covers: the viewer to scope with, its townships and their counties."""

    viewer: User
    #: the division code reported on ('' : the whole country)
    division: str
    townships: list[Township]
    counties: list[County]
    #: the township, when the report is one township's (a township user's, or asked for)
    township: Township | None

    @property
    def name_zh(self) -> str:
        """What a title names: the county, or a region by its counties ('' : none yet)."""
        names = [c.name for c in self.counties]
        if len(names) <= NAMED_COUNTIES:
            return "、".join(names)
        return f"{names[0]}等{len(names)}个县（市、区）"

    @property
    def whole_zh(self) -> str:
        """'the whole county' in the report's own words: 全县, or 全市 / 全省 / 全国 for a
        region whose counties share a city's or a province's code."""
        codes = {c.code for c in self.counties}
        if len(codes) <= 1:
            return "全县"
        if len({code[:4] for code in codes}) == 1:
            return "全市"
        if len({code[:2] for code in codes}) == 1:
            return "全省"
        return "全国"


def _counties_under(session: Session, prefix: str) -> list[County]:
    query = select(County).order_by(County.code)
    if len(prefix) >= 6:
        query = query.where(County.code == prefix[:6])
    else:
        bounds = access.code_range(prefix)
        if bounds is not None:
            query = query.where(County.code >= bounds[0], County.code < bounds[1])
    return list(session.execute(query).scalars())


def area(session: Session, user: User, division: str | None) -> Area:
    """The area of ``division`` (default: the caller's reach); 404 when it is outside the
    caller's reach or names no county or township (as any object of another township)."""
    reach = access.reach(user)
    if division is None or division == reach:
        viewer, division = user, reach
    elif division.startswith(reach) and len(division) > len(reach):
        viewer = narrowed(user, division)
    else:
        raise NotFound(f"Division {division} not found")
    townships = township_service.visible(session, viewer)
    county_ids = {t.county_id for t in townships}
    if townships:
        counties = list(
            session.execute(
                select(County).where(County.id.in_(sorted(county_ids))).order_by(County.code)
            ).scalars()
        )
    elif len(division) == 9:  # a township's code with no township
        counties = []
    else:  # a county (or a region) with no township yet
        counties = _counties_under(session, division)
    if viewer is not user and not townships and not counties:
        raise NotFound(f"Division {division} not found")
    township = None
    if len(division) == 9 or access.township_limit(user) is not None:
        township = townships[0] if len(townships) == 1 else None
    return Area(
        viewer=viewer,
        division=division,
        townships=townships,
        counties=counties,
        township=township,
    )
