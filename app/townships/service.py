"""Townships: the owners of facilities and the receivers of funds."""

from sqlalchemy import func, update
from sqlmodel import Session, select

from app import access, listing
from app.audit import service as audit
from app.counties import service as counties
from app.errors import Conflict, Forbidden, InvalidInput, NotFound, conflict_on_duplicate
from app.models import Facility, FacilityStatus, Role, Tier, Township, User
from app.schedule import service as schedule
from app.townships.schemas import TownshipCreate, TownshipUpdate


def visible(session: Session, user: User) -> list[Township]:
    """The townships ``user`` may see, in division-code order."""
    return list(
        session.exec(access.scope(select(Township), user, Township.id).order_by(Township.code))
    )


def require(
    session: Session, township_id: int, *, field: str = "township_id", user: User | None = None
) -> Township:
    """The township a request names, or a 422 naming the field. With ``user``, only one
    the user reaches: one outside their division is refused in the same words as one
    that does not exist (no existence leak, and nothing written outside their reach)."""
    township = session.get(Township, township_id)
    if township is None or (
        user is not None and not access.sees_township(session, user, township_id)
    ):
        raise InvalidInput(("body", field), f"There is no township with id {township_id}")
    return township


def list_townships(
    *,
    session: Session,
    user: User,
    window: listing.Window,
) -> listing.Listed[Township]:
    return listing.page(
        session,
        access.scope(select(Township), user, Township.id),
        sort=(listing.asc(Township.code), listing.asc(Township.id)),
        window=window,
    )


def get_township(*, session: Session, user: User, township_id: int) -> Township:
    township = session.get(Township, township_id)
    if township is None:
        raise NotFound(f"Township {township_id} not found")
    access.ensure_visible(session, user, township.id, f"Township {township_id}")
    return township


def active_counts_by_tier(*, session: Session, township_id: int) -> dict[Tier, int]:
    rows = session.exec(
        select(Facility.tier, func.count())
        .where(Facility.township_id == township_id, Facility.status == FacilityStatus.active)
        .group_by(Facility.tier)
    ).all()
    counts = {tier: 0 for tier in Tier}
    counts.update({Tier(tier): n for tier, n in rows})
    return counts


def _ensure_code_free(session: Session, code: str, *, other_than: int | None = None) -> None:
    existing = session.exec(select(Township.id).where(Township.code == code)).first()
    if existing is not None and existing != other_than:
        raise Conflict(f"A township with code {code} already exists (id {existing})")


def _ensure_in_reach(actor: User | None, code: str) -> None:
    """An administrator adds and recodes townships only under their own division."""
    if actor is not None and not code.startswith(access.reach(actor)):
        raise Forbidden(
            f"Township code {code} is outside your division ({access.reach(actor) or 'all'})"
        )


def create_township(*, session: Session, actor: User | None, data: TownshipCreate) -> Township:
    """Add a township under a known county (the one its code's first six digits name)."""
    _ensure_in_reach(actor, data.code)
    county = counties.of_township_code(session, data.code)
    _ensure_code_free(session, data.code)
    township = Township.model_validate(data, update={"county_id": county.id})
    with conflict_on_duplicate(
        session, f"A township with code {data.code} already exists", key="uq_townships_code"
    ):
        session.add(township)
    audit.record(
        session=session,
        actor=actor,
        action="township.create",
        object_type="township",
        object_id=township.id,
        after=audit.snapshot(township),
    )
    session.commit()
    return township


def update_township(
    *, session: Session, actor: User, township_id: int, data: TownshipUpdate
) -> Township:
    township = get_township(session=session, user=actor, township_id=township_id)
    access.ensure_role(actor, Role.admin)  # after the 404 for another township
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None:
            raise InvalidInput(("body", field), f"{field} cannot be empty")
    if "code" in changes:
        _ensure_in_reach(actor, changes["code"])
        counties.of_township_code(session, changes["code"])
        _ensure_code_free(session, changes["code"], other_than=township.id)
    before = audit.snapshot(township)
    with conflict_on_duplicate(
        session,
        f"A township with code {changes.get('code')} already exists",
        key="uq_townships_code",
    ):
        for field, value in changes.items():
            setattr(township, field, value)
        county_before = township.county_id
        if "code" in changes:  # its users reach the township by its code
            session.execute(
                update(User)
                .where(User.township_id == township.id)
                .values(division_code=changes["code"])
                .execution_options(synchronize_session="fetch")
            )
    session.flush()  # the township's county follows its new code (app.models.township)
    if township.county_id != county_before:  # another county's patrol intervals now apply
        schedule.recompute_due_dates(session, county_id=township.county_id)
    audit.record(
        session=session,
        actor=actor,
        action="township.update",
        object_type="township",
        object_id=township.id,
        before=before,
        after=audit.snapshot(township),
    )
    session.commit()
    return township
