"""Townships: the owners of facilities and the receivers of funds."""

from sqlalchemy import func
from sqlmodel import Session, select

from app import access
from app.audit import service as audit
from app.errors import Conflict, InvalidInput, NotFound, conflict_on_duplicate
from app.models import Facility, FacilityStatus, Role, Tier, Township, User
from app.townships.schemas import TownshipCreate, TownshipUpdate


def visible(session: Session, user: User) -> list[Township]:
    """The townships ``user`` may see, in division-code order."""
    return list(
        session.exec(access.scope(select(Township), user, Township.id).order_by(Township.code))
    )


def require(session: Session, township_id: int, *, field: str = "township_id") -> Township:
    """The township a request names, or a 422 naming the field."""
    township = session.get(Township, township_id)
    if township is None:
        raise InvalidInput(("body", field), f"There is no township with id {township_id}")
    return township


def list_townships(
    *, session: Session, user: User, limit: int, offset: int
) -> tuple[list[Township], int]:
    count = access.scope(select(func.count()).select_from(Township), user, Township.id)
    rows = access.scope(select(Township), user, Township.id)
    total = session.exec(count).one()
    page = session.exec(rows.order_by(Township.code).limit(limit).offset(offset)).all()
    return list(page), total


def get_township(*, session: Session, user: User, township_id: int) -> Township:
    township = session.get(Township, township_id)
    if township is None:
        raise NotFound(f"Township {township_id} not found")
    access.ensure_visible(user, township.id, f"Township {township_id}")
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


def create_township(*, session: Session, actor: User | None, data: TownshipCreate) -> Township:
    _ensure_code_free(session, data.code)
    township = Township.model_validate(data)
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
        _ensure_code_free(session, changes["code"], other_than=township.id)
    before = audit.snapshot(township)
    with conflict_on_duplicate(
        session,
        f"A township with code {changes.get('code')} already exists",
        key="uq_townships_code",
    ):
        for field, value in changes.items():
            setattr(township, field, value)
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
