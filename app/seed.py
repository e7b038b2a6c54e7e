"""Load the seed data in ``seed/`` (see seed/README.md). Running it twice changes nothing."""

import csv
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from app.auth import service as auth
from app.auth.schemas import UserCreate
from app.config import Settings
from app.facilities import importer
from app.models import DEFAULT_INTERVAL_DAYS, PatrolPolicy, Role, Township, User

SEED_DIR = Path(__file__).resolve().parent.parent / "seed"


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
    users_created: list[DemoLogin] = field(default_factory=list)


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


def _demo_users(session: Session) -> list[DemoLogin]:
    created = []
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
        created.append(login)
    return created


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
        report.users_created = _demo_users(session)
    return report
