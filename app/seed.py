"""Load the data in ``seed/`` (see seed/README.md).

Two kinds of data, loaded apart:

- **reference data**, which every installation needs: the county's townships with their
  division codes, the patrol-policy defaults, and the reserved ``_system`` user that seed
  writes as. ``memorial seed`` always loads it.
- **samples** for a demo: 60 【样例】 facilities, demo sign-ins, patrols, fund allocations
  and maintenance orders. Loaded only when asked (``samples=True``; the CLI does so by
  default in development), and never in production: fake sites do not belong in a real
  registry, nor sample money in its append-only ledger.

Seed only adds what is missing and never changes a row that exists, so running it again
changes nothing, whatever users have edited since: a township is there when its code or
its name is, a facility when its code is, a user when its name is, a tier's policy when the
tier has one; demo patrols, allocations and orders when their fixed ``client_id``s, their
year's allocations, or 2025's orders exist. Everything it writes goes through the services
the API uses and is audited as the ``_system`` user.
"""

import csv
import json
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from app.audit import service as audit
from app.auth import service as auth
from app.auth.schemas import UserCreate
from app.clock import local_today
from app.config import SEED_DIR, Settings
from app.counties import service as counties
from app.facilities import importer
from app.funds import service as funds
from app.funds.schemas import AllocationCreate
from app.inspections import service as inspections
from app.inspections.schemas import InspectionCreate, Position
from app.maintenance import service as maintenance
from app.maintenance.schemas import Completion, OrderCreate
from app.models import (
    DEFAULT_INTERVAL_DAYS,
    ChecklistAnswer,
    ChecklistItem,
    Condition,
    Facility,
    FacilityStatus,
    FundAllocation,
    FundSource,
    Inspection,
    MaintenanceCategory,
    MaintenanceOrder,
    PatrolPolicy,
    Role,
    Township,
    User,
)
from app.models.base import utcnow
from app.schedule import service as schedule
from app.townships import service as townships
from app.townships.schemas import TownshipCreate

SAMPLE_FACILITIES = SEED_DIR / "facilities.csv"
_DEMO_NAMESPACE = uuid.UUID("6f1c2a53-7e0b-4d8e-9a51-3c2f0e9d4b17")

#: the reserved account seed writes as: inactive, and no password can match its hash
SYSTEM_USERNAME = auth.SYSTEM_USERNAME
#: not an argon2 hash, so ``verify_password`` refuses every password (as ``!`` in /etc/shadow)
_NO_PASSWORD = "!"


class SeedError(Exception):
    """The database or ``seed/`` is in a state seed will not write over."""


class SamplesInProduction(SeedError):
    """Samples were asked for in production."""


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: Role
    full_name: str
    township_code: str | None = None


#: development-only sign-ins, created with the samples
DEMO_LOGINS = (
    DemoLogin("admin", "admin-demo-2025", Role.admin, "系统管理员"),
    DemoLogin("county", "county-demo-2025", Role.county, "县局工作人员"),
    DemoLogin("longgang", "township-demo-2025", Role.township, "龙港镇巡查员", "140521100"),
    DemoLogin("duanshi", "township-demo-2025", Role.township, "端氏镇巡查员", "140521103"),
)


@dataclass
class SeedReport:
    counties_created: int = 0
    townships_created: int = 0
    policies_created: int = 0
    samples: bool = False
    facilities: importer.ImportResult | None = None
    users_created: int = 0
    inspections_created: int = 0
    allocations_created: int = 0
    orders_created: int = 0


def system_user(session: Session) -> User:
    """The reserved ``_system`` user (created on first use): the named actor in the audit
    log of everything seed writes. It is inactive and has no usable password."""
    user = session.exec(
        select(User).where(User.username == SYSTEM_USERNAME).order_by(User.id)
    ).first()
    if user is not None:
        if user.is_active or user.password_hash != _NO_PASSWORD:  # changed in the database
            raise SeedError(
                f"User {user.id} ('{user.username}') can sign in, but it is the reserved"
                " account seed writes as; set it inactive with password hash '!' again"
            )
        user.division_code = ""  # the seed's actor reaches every county (issue 12)
        return user
    user = User.model_validate(
        {
            "username": SYSTEM_USERNAME,
            "division_code": "",
            "full_name": "系统（种子数据）",
            "role": Role.admin,
            "password_hash": _NO_PASSWORD,
            "is_active": False,
        }
    )
    session.add(user)
    session.flush()
    audit.record(
        session=session,
        actor=user,
        action="user.create",
        object_type="user",
        object_id=user.id,
        after=audit.snapshot(user, exclude=("password_hash", "tokens_valid_after")),
    )
    session.commit()
    return user


#: the county the seed's townships and sample data belong to
SEED_COUNTY = "140521"


def _county(session: Session, settings: Settings, system: User) -> int:
    """Qinshui (140521), the county of the seed's townships, if it is absent: its name is
    ``MEMORIAL_COUNTY_NAME``, its time zone ``MEMORIAL_TIMEZONE`` and its outline the file
    ``MEMORIAL_COUNTY_BOUNDARY`` (other counties are added with ``memorial add-county``)."""
    if counties.by_code(session, SEED_COUNTY) is not None:
        return 0
    counties.add_county(
        session=session,
        actor=system,
        code=SEED_COUNTY,
        name=settings.county_name,
        outline=json.loads(settings.county_boundary.read_text(encoding="utf-8")),
        timezone=settings.timezone,
    )
    return 1


def _townships(session: Session, system: User) -> int:
    """The county's townships whose code and name are both absent (a township renumbered
    or renamed by an admin is still there, and is left as it is)."""
    present = {value for t in session.exec(select(Township)).all() for value in (t.code, t.name)}
    created = 0
    with (SEED_DIR / "townships.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["code"] in present or row["name"] in present:
                continue
            data = TownshipCreate(code=row["code"], name=row["name"])
            townships.create_township(session=session, actor=system, data=data)
            created += 1
    return created


def _policies(session: Session, system: User) -> int:
    """The default interval of every tier that has no policy (an admin's value stays)."""
    existing = set(session.exec(select(PatrolPolicy.tier)).all())
    missing = {t: days for t, days in DEFAULT_INTERVAL_DAYS.items() if t not in existing}
    if missing:
        schedule.set_intervals(session, actor=system, intervals_days=missing)
    return len(missing)


def _demo_users(session: Session, system: User) -> int:
    """The development sign-ins of DEMO_LOGINS whose usernames are free."""
    codes = {t.code: t.id for t in session.exec(select(Township)).all()}
    created = 0
    for login in DEMO_LOGINS:
        if auth.find_by_username(session=session, username=login.username) is not None:
            continue
        if login.township_code is not None and login.township_code not in codes:
            continue  # its township was renumbered: an admin's decision, not ours to undo
        data = UserCreate(
            username=login.username,
            password=login.password,
            role=login.role,
            full_name=login.full_name,
            township_id=codes[login.township_code] if login.township_code else None,
            # the demo's county clerk reaches Qinshui, the county of the demo; its admin the
            # whole installation
            division_code=SEED_COUNTY if login.role is Role.county else None,
        )
        auth.create_user(session=session, actor=system, data=data)
        created += 1
    return created


def _sample_codes() -> list[str]:
    """The codes of the sample facilities in ``seed/facilities.csv``, in order."""
    header, rows = importer.read_table(SAMPLE_FACILITIES)
    return sorted(str(row[header.index("编号")]) for row in rows)


def _sample_facilities(session: Session) -> list[Facility]:
    """The sample facilities still in the registry under their codes, by code."""
    return list(
        session.exec(
            select(Facility).where(Facility.code.in_(_sample_codes())).order_by(Facility.code)
        ).all()
    )


def load(*, session: Session, settings: Settings, samples: bool) -> SeedReport:
    """Reference data, and with ``samples`` the demo (refused in production)."""
    if samples and settings.env == "production":
        raise SamplesInProduction(
            "Sample data is refused in production (MEMORIAL_ENV=production): its 【样例】 "
            "facilities would stand in the real registry and its money in the ledger. "
            "Run a demo with MEMORIAL_ENV=development."
        )
    system = system_user(session)
    report = SeedReport(
        counties_created=_county(session, settings, system),
        townships_created=_townships(session, system),
        policies_created=_policies(session, system),
    )
    if not samples:
        return report
    report.samples = True
    report.facilities = importer.import_file(
        session=session,
        settings=settings,
        actor=system,
        path=SAMPLE_FACILITIES,
        update_existing=False,
    )
    if report.facilities.errors:
        raise SeedError(
            "seed/facilities.csv has errors: " + "; ".join(map(str, report.facilities.errors))
        )
    report.users_created = _demo_users(session, system)
    report.inspections_created = _demo_inspections(session, settings)
    this_year = local_today(settings.tz).year
    report.allocations_created = sum(
        _demo_allocations(session, system, year) for year in sorted({DEMO_FUNDS_YEAR, this_year})
    )
    report.orders_created = _demo_orders(session, settings, system)
    return report


#: the county's yearly protection funds for scattered facilities (2025 report: 10万元)
DEMO_FUNDS_FEN = 10_000_000
DEMO_FUNDS_YEAR = 2025


def split_by_weight(total: int, weights: dict[int, int]) -> dict[int, int]:
    """Split ``total`` fen in proportion to ``weights``, exactly (largest remainder)."""
    whole = sum(weights.values())
    shares = {key: total * weight // whole for key, weight in weights.items()}
    remainders = sorted(weights, key=lambda key: (-(total * weights[key] % whole), key))
    for key in remainders[: total - sum(shares.values())]:
        shares[key] += 1
    return shares


def _demo_allocations(session: Session, system: User, year: int) -> int:
    """A year's allocations of 100,000 yuan over the townships, by their number of facilities
    (2025, as in the county's report, and the current year, so the demo can spend)."""
    exists = session.exec(select(FundAllocation.id).where(FundAllocation.year == year)).first()
    if exists is not None:
        return 0
    counts = dict(
        session.exec(
            select(Facility.township_id, func.count()).group_by(Facility.township_id)
        ).all()
    )
    created = 0
    for township_id, amount in split_by_weight(DEMO_FUNDS_FEN, counts).items():
        if amount <= 0:
            continue
        funds.allocate(
            session=session,
            actor=system,
            data=AllocationCreate(
                township_id=township_id,
                year=year,
                amount_fen=amount,
                source=FundSource.county,
                document_no=f"【样例】沁退役军人发〔{year}〕8号",
                allocated_on=date(year, 3, 15),
                note="示例数据：按各乡镇设施数量分配",
            ),
        )
        created += 1
    return created


def _demo_orders(session: Session, settings: Settings, system: User) -> int:
    """A few 2025 orders in each state, run through the real transitions (and ledger), once:
    not when 2025 has orders already (cancelled ones too: orders are never removed)."""
    if session.exec(
        select(MaintenanceOrder.id).where(MaintenanceOrder.year == DEMO_FUNDS_YEAR)
    ).first():
        return 0
    sample = [f for f in _sample_facilities(session) if f.status is FacilityStatus.active]
    if not sample:
        return 0
    plans = [
        ("planned", MaintenanceCategory.repair, "简介牌褪色更换", 120_000),
        ("approved", MaintenanceCategory.environment, "周边杂草清理及祭扫通道修整", 80_000),
        ("in_progress", MaintenanceCategory.repair, "碑体裂缝修补", 350_000),
        ("completed", MaintenanceCategory.routine_care, "清明前日常管护", 50_000),
        ("completed", MaintenanceCategory.equipment, "保护范围界桩更新", 210_000),
        ("cancelled", MaintenanceCategory.exhibition, "增设宣传展板（并入县级项目）", 150_000),
    ]
    for index, (state, category, title, cost) in enumerate(plans):
        facility = sample[index * 7 % len(sample)]
        order = maintenance.create_order(
            session=session,
            settings=settings,
            user=system,
            data=OrderCreate(
                facility_id=facility.id,  # type: ignore[arg-type]
                category=category,
                title=f"【样例】{title}",
                description="示例维修工单",
                planned_cost_fen=cost,
                due_on=date(DEMO_FUNDS_YEAR, 9, 20),
                assignee="样例施工队",
                year=DEMO_FUNDS_YEAR,
            ),
        )
        order_id = order.id
        if state == "cancelled":
            maintenance.approve(
                session=session, user=system, order_id=order_id, override_reason=None
            )
            maintenance.cancel(
                session=session, user=system, order_id=order_id, reason="并入县级项目"
            )
            continue
        if state == "planned":
            continue
        maintenance.approve(session=session, user=system, order_id=order_id, override_reason=None)
        if state == "approved":
            continue
        maintenance.start(session=session, user=system, order_id=order_id)
        if state == "completed":
            maintenance.complete(
                session=session,
                settings=settings,
                user=system,
                order_id=order_id,
                data=Completion(
                    actual_cost_fen=cost - 3_500 * index,
                    completed_on=date(DEMO_FUNDS_YEAR, 9, 25),
                    payee="样例施工队",
                    invoice_no=f"SAMPLE-2025-{index:03d}",
                ),
            )
    return len(plans)


def _demo_inspections(session: Session, settings: Settings) -> int:
    """Recent patrols of about two thirds of the sample facilities, so the overdue list,
    the review queue and the dashboard have something to show. Each has a fixed
    client_id made from its facility's code, so a second run adds nothing; the dates are
    relative to the first run. Facilities no longer active get none."""
    codes = _sample_codes()
    planned = {
        uuid.uuid5(_DEMO_NAMESPACE, code)
        for index, code in enumerate(codes)
        if index % 3 != 2  # left unvisited: overdue
    }
    done = set(
        session.exec(
            select(Inspection.client_id).where(Inspection.client_id.in_(list(planned)))
        ).all()
    )
    inspector = auth.find_by_username(session=session, username="county")
    if done >= planned or inspector is None:
        return 0
    created = 0
    for facility in _sample_facilities(session):
        client_id = uuid.uuid5(_DEMO_NAMESPACE, facility.code)
        if client_id not in planned or client_id in done:
            continue
        if facility.status is not FacilityStatus.active:
            continue
        index = codes.index(facility.code)
        off_site = index % 7 == 0
        data = InspectionCreate(
            client_id=client_id,
            facility_id=facility.id,  # type: ignore[arg-type]
            inspected_at=utcnow() - timedelta(days=1 + index % 25, hours=index % 9),
            condition=Condition.minor_issues if index % 5 == 0 else Condition.good,
            checklist={item: ChecklistAnswer.ok for item in ChecklistItem}
            | (
                {ChecklistItem.surroundings_tidy: ChecklistAnswer.problem} if index % 5 == 0 else {}
            ),
            notes="示例巡查记录" + ("：周边杂草较多" if index % 5 == 0 else ""),
            position=Position(
                longitude=facility.longitude + (0.01 if off_site else 0.0003),
                latitude=facility.latitude,
                accuracy_m=12,
            ),
        )
        inspections.submit(session=session, settings=settings, user=inspector, data=data)
        created += 1
    return created
