"""Load the seed data in ``seed/`` (see seed/README.md). Running it twice changes nothing."""

import csv
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from app.auth import service as auth
from app.auth.schemas import UserCreate
from app.clock import local_today
from app.config import Settings
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

SEED_DIR = Path(__file__).resolve().parent.parent / "seed"
_DEMO_NAMESPACE = uuid.UUID("6f1c2a53-7e0b-4d8e-9a51-3c2f0e9d4b17")


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: Role
    full_name: str
    township_code: str | None = None


#: development-only sign-ins; ``seed`` refuses to create them in production
DEMO_LOGINS = (
    DemoLogin("admin", "admin-demo-2025", Role.admin, "系统管理员"),
    DemoLogin("county", "county-demo-2025", Role.county, "县局工作人员"),
    DemoLogin("longgang", "township-demo-2025", Role.township, "龙港镇巡查员", "140521100"),
    DemoLogin("duanshi", "township-demo-2025", Role.township, "端氏镇巡查员", "140521103"),
)


@dataclass
class SeedReport:
    townships_created: int = 0
    policies_created: int = 0
    facilities: importer.ImportResult | None = None
    inspections_created: int = 0
    allocations_created: int = 0
    orders_created: int = 0


def _townships(session: Session) -> int:
    created = 0
    with (SEED_DIR / "townships.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            township = session.exec(select(Township).where(Township.code == row["code"])).first()
            if township is None:
                session.add(Township(code=row["code"], name=row["name"]))
                created += 1
    session.commit()
    return created


def _policies(session: Session) -> int:
    existing = set(session.exec(select(PatrolPolicy.tier)).all())
    missing = [t for t in DEFAULT_INTERVAL_DAYS if t not in existing]
    for tier in missing:
        session.add(PatrolPolicy(tier=tier, interval_days=DEFAULT_INTERVAL_DAYS[tier]))
    session.commit()
    return len(missing)


def _demo_users(session: Session) -> None:
    """The development sign-ins of DEMO_LOGINS that do not exist yet."""
    codes = {t.code: t.id for t in session.exec(select(Township)).all()}
    for login in DEMO_LOGINS:
        if session.exec(select(User.id).where(User.username == login.username)).first():
            continue
        data = UserCreate(
            username=login.username,
            password=login.password,
            role=login.role,
            full_name=login.full_name,
            township_id=codes[login.township_code] if login.township_code else None,
        )
        auth.create_user(session=session, actor=None, data=data)


def load(*, session: Session, settings: Settings) -> SeedReport:
    """Townships, patrol policies, sample facilities and (development only) demo users."""
    report = SeedReport()
    report.townships_created = _townships(session)
    report.policies_created = _policies(session)
    report.facilities = importer.import_file(
        session=session, settings=settings, actor=None, path=SEED_DIR / "facilities.csv"
    )
    if report.facilities.errors:
        raise RuntimeError(
            "seed/facilities.csv has errors: " + "; ".join(map(str, report.facilities.errors))
        )
    if settings.env == "development":
        _demo_users(session)
        report.inspections_created = _demo_inspections(session, settings)
        this_year = local_today(settings.tz).year
        report.allocations_created = sum(
            _demo_allocations(session, year) for year in sorted({DEMO_FUNDS_YEAR, this_year})
        )
        report.orders_created = _demo_orders(session, settings)
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


def _demo_allocations(session: Session, year: int) -> int:
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
            actor=None,
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


def _demo_orders(session: Session, settings: Settings) -> int:
    """A few 2025 orders in each state, run through the real transitions (and ledger)."""
    if session.exec(
        select(MaintenanceOrder.id).where(MaintenanceOrder.title.startswith("【样例】"))
    ).first():
        return 0
    admin = session.exec(select(User).where(User.username == "admin")).one()
    sample = session.exec(
        select(Facility).where(Facility.name.startswith("【样例】")).order_by(Facility.code)
    ).all()
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
            user=admin,
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
                session=session, user=admin, order_id=order_id, override_reason=None
            )
            maintenance.cancel(
                session=session, user=admin, order_id=order_id, reason="并入县级项目"
            )
            continue
        if state == "planned":
            continue
        maintenance.approve(session=session, user=admin, order_id=order_id, override_reason=None)
        if state == "approved":
            continue
        maintenance.start(session=session, user=admin, order_id=order_id)
        if state == "completed":
            maintenance.complete(
                session=session,
                settings=settings,
                user=admin,
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
    client_id, so a second run adds nothing; the dates are relative to the first run."""
    inspector = session.exec(select(User).where(User.username == "county")).one()
    facilities = session.exec(select(Facility).where(Facility.name.startswith("【样例】"))).all()
    created = 0
    for index, facility in enumerate(sorted(facilities, key=lambda f: f.code)):
        if index % 3 == 2:
            continue  # left unvisited: overdue
        client_id = uuid.uuid5(_DEMO_NAMESPACE, facility.code)
        if session.exec(select(Inspection.id).where(Inspection.client_id == client_id)).first():
            continue
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
