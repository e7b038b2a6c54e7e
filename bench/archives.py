"""Benchmark: a township's book (一乡一册) of 200 sites.

For each database (SQLite always; PostgreSQL when it answers at
``MEMORIAL_BENCH_POSTGRES_URL``, default the local server), build a fresh database: one
county, one township of N facilities (default 200) with every field of the national
collection filled, 5 martyrs each, 5 reports each (the newest accepted, with the checklist
answered) and a record photo each (a small JPEG of its own in the photo directory). Then
fetch ``GET /api/v1/exports/township/{id}.pdf`` as the county clerk, in process, through the
whole app (``TestClient``), and print for each run the wall time, the CPU time the process
spent (on a shared machine the wall time is mostly waiting for a core), the PDF's size and
its page count (cover, contents, one page per site, the plates).

Target (issue 13): 200 sites in seconds, not minutes. Prints figures; exits 1 when a run
takes longer than ``--limit`` seconds of wall time (default 60).

    .venv/bin/python bench/archives.py [--sites 200] [--runs 3] [--no-postgres]
"""

import argparse
import io
import random
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from annual import SECRET, database, postgres_available

from app import migrate
from app.config import Settings
from app.db import make_engine
from app.main import create_app
from app.models import (
    Condition,
    County,
    Facility,
    FacilityKind,
    FacilityStatus,
    Inspection,
    Photo,
    ReviewStatus,
    Role,
    Tier,
    Township,
    User,
)
from app.models.base import utcnow
from app.models.enums import HeadstoneType, MainMaterial, ProtectionUnitType
from app.photos.store import LocalPhotoStore
from app.security import create_access_token, hash_password

COUNTY_CODE = "140521"
REPORTS = 5
CHECKLIST = {
    "marker_sign": "ok",
    "biography_plaque": "ok",
    "headstone": "ok",
    "boundary": "ok",
    "access_path": "ok",
}


def _jpeg(rng: random.Random) -> bytes:
    colour = tuple(rng.randrange(256) for _ in range(3))
    out = io.BytesIO()
    Image.new("RGB", (480, 360), colour).save(out, "JPEG", quality=80)
    return out.getvalue()


def populate(url: str, photos: Path, sites: int, rng: random.Random) -> tuple[int, int]:
    """The county, the township, its clerk and ``sites`` facilities with their reports and
    photos; returns (township id, clerk id)."""
    migrate.upgrade(Settings(database_url=url, secret_key=SECRET))
    engine = make_engine(url)
    store = LocalPhotoStore(photos)
    now = utcnow()
    stamps = {"created_at": now, "updated_at": now}
    started = time.perf_counter()
    with engine.begin() as connection:
        county_id = connection.execute(
            select(County.id).where(County.code == COUNTY_CODE)
        ).scalar_one_or_none()
        if county_id is None:
            county_id = connection.execute(
                insert(County).returning(County.id),
                {"code": COUNTY_CODE, "name": "沁水县", "timezone": "Asia/Shanghai"} | stamps,
            ).scalar_one()
        township_id = connection.execute(
            insert(Township).returning(Township.id),
            {"code": f"{COUNTY_CODE}100", "name": "龙港镇", "county_id": county_id} | stamps,
        ).scalar_one()
        clerk_id = connection.execute(
            insert(User).returning(User.id),
            {
                "username": "bench-clerk",
                "full_name": "县局档案员",
                "role": Role.county,
                "division_code": COUNTY_CODE,
                "password_hash": hash_password("Bench-Pass-2025!"),
                "is_active": True,
            }
            | stamps,
        ).scalar_one()
        inspector_id = connection.execute(
            insert(User).returning(User.id),
            {
                "username": "bench-inspector",
                "full_name": "乡镇巡查员",
                "role": Role.township,
                "township_id": township_id,
                "division_code": f"{COUNTY_CODE}100",
                "password_hash": hash_password("Bench-Pass-2025!"),
                "is_active": True,
            }
            | stamps,
        ).scalar_one()
        today = (now + timedelta(hours=8)).date()
        for n in range(sites):
            martyrs = [
                {"name": f"烈士{n}-{m}", "note": "1921—1945，沁水人，抗日战争中牺牲。"}
                for m in range(5)
            ]
            facility_id = connection.execute(
                insert(Facility).returning(Facility.id),
                {
                    "code": f"LG-{n:04d}",
                    "name": f"第{n}号烈士墓",
                    "kind": FacilityKind.grave,
                    "tier": rng.choice(list(Tier)),
                    "status": FacilityStatus.active,
                    "township_id": township_id,
                    "village": f"{n % 17}村",
                    "address": f"沁水县龙港镇{n % 17}村东山坡",
                    "longitude": 112.19 + n * 1e-4,
                    "latitude": 35.69,
                    "source_longitude": 112.19 + n * 1e-4,
                    "source_latitude": 35.69,
                    "martyrs": martyrs,
                    "martyr_names": " ".join(m["name"] for m in martyrs),
                    "custodian_name": "李守义",
                    "custodian_phone": "13912345678",
                    "year_built": 1950 + n % 40,
                    "description": "该墓位于村东山坡，坐北朝南。" * 10,
                    "protection_unit": rng.choice(list(ProtectionUnitType)),
                    "headstone_type": rng.choice(list(HeadstoneType)),
                    "commemorates": "抗日战争时期牺牲的八路军战士",
                    "area_m2": 20 + n % 30,
                    "main_material": rng.choice(list(MainMaterial)),
                    "dimensions": "高1.2米，宽0.6米，厚0.15米",
                    "boundary_description": "墓体四周各外延5米",
                    "management_rule": "烈士墓日常管护制度",
                    "management_rule_on": today - timedelta(days=400),
                    "registered_on": today - timedelta(days=700),
                    "next_due_on": today + timedelta(days=30),
                }
                | stamps,
            ).scalar_one()
            first = None
            for r in range(REPORTS):
                at = now - timedelta(days=30 * (REPORTS - r))
                inspection_id = connection.execute(
                    insert(Inspection).returning(Inspection.id),
                    {
                        "client_id": uuid.uuid4(),
                        "facility_id": facility_id,
                        "township_id": township_id,
                        "inspector_id": inspector_id,
                        "inspected_at": at,
                        "inspected_on": (at + timedelta(hours=8)).date(),
                        "received_at": at,
                        "condition": Condition.good,
                        "checklist": CHECKLIST,
                        "flags": [],
                        "review_status": ReviewStatus.accepted,
                        "receipt": f"R{n:04d}{r}",
                        "payload_sha256": "0" * 64,
                    },
                ).scalar_one()
                first = first or inspection_id
            data = _jpeg(rng)
            key = store.put(data, suffix=".jpg")
            photo_id = connection.execute(
                insert(Photo).returning(Photo.id),
                {
                    "inspection_id": first,
                    "facility_id": facility_id,
                    "sha256": uuid.uuid4().hex * 2,
                    "stored_key": key,
                    "thumbnail_key": key,
                    "content_type": "image/jpeg",
                    "width": 480,
                    "height": 360,
                    "size_bytes": len(data),
                    "uploaded_by_id": inspector_id,
                    "uploaded_at": now,
                },
            ).scalar_one()
            connection.execute(
                Facility.__table__.update()
                .where(Facility.__table__.c.id == facility_id)
                .values(record_photo_id=photo_id)
            )
    print(f"  built {sites} sites in {time.perf_counter() - started:.1f} s", flush=True)
    engine.dispose()
    return township_id, clerk_id


def measure(url: str, folder: Path, township_id: int, clerk_id: int, runs: int) -> float:
    settings = Settings(
        env="development",
        data_dir=folder,
        database_url=url,
        secret_key=SECRET,
        photo_dir=folder / "photos",
    )
    token = create_access_token(
        user_id=clerk_id, key=settings.signing_key(), ttl=timedelta(hours=1)
    )
    worst = 0.0
    with TestClient(create_app(settings)) as client:
        for run in range(runs):
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(
                f"/api/v1/exports/township/{township_id}.pdf",
                headers={"Authorization": f"Bearer {token}"},
            )
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            response.raise_for_status()
            pages = len(PdfReader(io.BytesIO(response.content)).pages)
            size = len(response.content) / 1024 / 1024
            print(
                f"  run {run + 1}: {seconds:6.2f} s ({cpu:5.2f} s of CPU), {size:6.2f} MiB,"
                f" {pages} pages",
                flush=True,
            )
            worst = max(worst, seconds)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limit", type=float, default=60.0)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    kinds = ["sqlite"] + ([] if args.no_postgres or not postgres_available() else ["postgresql"])
    worst = 0.0
    for kind in kinds:
        print(f"{kind}, a township of {args.sites} sites", flush=True)
        with database(kind) as url, tempfile.TemporaryDirectory() as folder:
            township_id, clerk_id = populate(
                url, Path(folder) / "photos", args.sites, random.Random(13)
            )
            worst = max(worst, measure(url, Path(folder), township_id, clerk_id, args.runs))
    if worst > args.limit:
        print(f"slowest run {worst:.1f} s: over the {args.limit:.0f} s limit")
        sys.exit(1)


if __name__ == "__main__":
    main()
