"""Upgrading a database that holds rows the new constraints would refuse keeps every row:
half-written report positions are completed, photos find their facility, and two users
whose names differ only in case stop the upgrade with a message instead of losing one."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from app import migrate
from app.db import make_engine
from tests.conftest import make_settings
from tests.test_migrations import empty_database  # noqa: F401  (fixture, both databases)

NOW = "2026-01-02 03:04:05+00:00"


def _user(c, user_id: int, username: str) -> None:
    c.execute(
        text(
            "INSERT INTO users (id, username, full_name, role, township_id, password_hash,"
            " is_active, tokens_valid_after, created_at, updated_at)"
            " VALUES (:id, :username, '石立', 'township', 1, 'x', true, :t, :t, :t)"
        ),
        {"id": user_id, "username": username, "t": NOW},
    )


def _at_0004_with_old_rows(url: str, tmp_path: Path):
    """A database at the revision before, holding rows that revision allowed."""
    settings = make_settings(tmp_path, url)
    migrate.upgrade(settings, "0004")
    _rows_the_old_schema_allowed(url)
    return settings


def _rows_the_old_schema_allowed(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO townships (id, code, name, created_at, updated_at) VALUES (1, '140521100', '龙港镇', :t, :t)"
            ),
            {"t": NOW},
        )
        _user(c, 1, "shili")
        c.execute(
            text(
                "INSERT INTO facilities (id, code, name, kind, tier, status, township_id,"
                " longitude, latitude, source_crs, source_longitude, source_latitude, martyrs,"
                " martyr_names, registered_on, next_due_on, created_at, updated_at)"
                " VALUES (1, 'F-1', '某烈士墓', 'grave', 'county', 'active', 1, 112.2, 35.7,"
                " 'wgs84', 112.2, 35.7, '[]', '', :d, :d, :t, :t)"
            ),
            {"t": NOW, "d": date(2025, 1, 1)},
        )
        for n, (lon, lat) in enumerate([(112.2, 35.7), (112.2, 35.71)], start=1):
            c.execute(
                text(
                    "INSERT INTO inspections (id, client_id, facility_id, township_id,"
                    " inspector_id, inspected_at, inspected_on, received_at, condition,"
                    " checklist, longitude, latitude, flags, review_status, receipt,"
                    " payload_sha256)"
                    " VALUES (:id, :cid, 1, 1, 1, :t, :d, :t, 'good', '{}', :lon, :lat, '[]',"
                    " 'accepted', 'BNCH-0000', :sha)"
                ),
                {
                    "id": n,
                    "cid": f"00000000-0000-0000-0000-00000000000{n}",
                    "t": datetime(2026, 1, 2, tzinfo=UTC),
                    "d": date(2026, 1, 2),
                    "lon": lon,
                    "lat": lat,
                    "sha": "0" * 64,
                },
            )
        c.execute(
            text(
                "INSERT INTO photos (id, inspection_id, township_id, sha256, stored_key,"
                " thumbnail_key, content_type, width, height, size_bytes, uploaded_by_id,"
                " uploaded_at) VALUES (1, 1, 1, :sha, 'a.jpg', 'a.t.jpg', 'image/jpeg', 1, 1,"
                " 1, 1, :t)"
            ),
            {"sha": "1" * 64, "t": NOW},
        )
    engine.dispose()


def test_upgrading_keeps_and_completes_rows_written_before_the_constraints(
    empty_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = _at_0004_with_old_rows(empty_database, tmp_path)

    migrate.upgrade(settings)

    engine = make_engine(empty_database)
    with engine.connect() as c:
        reports = c.execute(
            text(
                "SELECT source_crs, source_longitude, source_latitude, distance_m, on_site"
                " FROM inspections ORDER BY id"
            )
        ).all()
        photo_facility = c.execute(text("SELECT facility_id FROM photos")).scalar_one()
    engine.dispose()
    assert reports[0] == ("wgs84", 112.2, 35.7, 0.0, True)
    assert reports[1][:3] == ("wgs84", 112.2, 35.71)
    assert reports[1][3] == pytest.approx(1112, abs=2)
    assert reports[1][4] is not None and not reports[1][4]  # off site
    assert photo_facility == 1


def test_usernames_that_differ_only_in_case_stop_the_upgrade_by_name(
    empty_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = _at_0004_with_old_rows(empty_database, tmp_path)
    engine = make_engine(empty_database)
    with engine.begin() as c:
        _user(c, 2, "ShiLi")
    engine.dispose()

    with pytest.raises(RuntimeError, match="taken more than once: shili"):
        migrate.upgrade(settings)


def _order(c, order_id: int, status: str, cost: int) -> None:
    c.execute(
        text(
            "INSERT INTO maintenance_orders (id, facility_id, township_id, inspection_id,"
            " category, title, planned_cost_fen, status, year, created_at, updated_at)"
            " VALUES (:id, 1, 1, 1, 'repair', '碑体修补', :cost, :status, 2025, :t, :t)"
        ),
        {"id": order_id, "cost": cost, "status": status, "t": NOW},
    )
    if status in ("approved", "in_progress"):  # its commitment, as approval wrote it
        c.execute(
            text(
                "INSERT INTO ledger_entries (township_id, year, kind, amount_fen, order_id, at)"
                " VALUES (1, 2025, 'commitment', :fen, :id, :t)"
            ),
            {"fen": -cost, "id": order_id, "t": NOW},
        )


def test_double_clicked_orders_are_resolved_to_one_per_report_without_losing_money(
    empty_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The duplicates the race made: the most advanced order stays; the others are cancelled
    with a reason, an approved one's commitment released in the ledger and the account."""
    settings = _at_0004_with_old_rows(empty_database, tmp_path)
    engine = make_engine(empty_database)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO fund_accounts (township_id, year, allocated_fen, committed_fen,"
                " spent_fen) VALUES (1, 2025, 1000000, 50000, 0)"
            )
        )
        _order(c, 1, "planned", 10_000)
        _order(c, 2, "approved", 20_000)
        _order(c, 3, "approved", 30_000)
        _order(c, 4, "planned", 40_000)
        _order(c, 5, "cancelled", 5_000)  # finished: left alone
    engine.dispose()

    migrate.upgrade(settings)

    engine = make_engine(empty_database)
    with engine.connect() as c:
        statuses = dict(c.execute(text("SELECT id, status FROM maintenance_orders")).all())
        reasons = c.execute(
            text("SELECT cancel_reason FROM maintenance_orders WHERE status = 'cancelled'")
        ).scalars()
        committed = c.execute(text("SELECT committed_fen FROM fund_accounts")).scalar_one()
        ledger = c.execute(
            text("SELECT kind, amount_fen, order_id FROM ledger_entries ORDER BY id")
        ).all()
        audited = c.execute(
            text(
                "SELECT object_id FROM audit_log WHERE action = 'maintenance.cancel'"
                " ORDER BY object_id"
            )
        ).scalars()
        audited = list(audited)
        reasons = list(reasons)
    engine.dispose()
    assert statuses == {
        1: "cancelled",
        2: "approved",
        3: "cancelled",
        4: "cancelled",
        5: "cancelled",
    }
    assert len(reasons) == 4 and sum("保留 2 号" in (r or "") for r in reasons) == 3
    assert committed == 20_000
    assert ledger[-1] == ("release", 30_000, 3)
    assert sum(amount for _kind, amount, _order_id in ledger) == -committed
    assert audited == ["1", "3", "4"]


def test_each_facility_gets_the_condition_of_its_last_counted_report(
    empty_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Migration 0006 fills ``last_condition`` from the reports: a later rejected report
    does not count, and a facility never inspected has none."""
    settings = _at_0004_with_old_rows(empty_database, tmp_path)
    engine = make_engine(empty_database)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO inspections (id, client_id, facility_id, township_id,"
                " inspector_id, inspected_at, inspected_on, received_at, condition,"
                " checklist, flags, review_status, receipt, payload_sha256)"
                " VALUES (3, '00000000-0000-0000-0000-000000000003', 1, 1, 1, :t, :d, :t,"
                " 'missing', '{}', '[]', 'rejected', 'BNCH-0000', :sha)"
            ),
            {"t": datetime(2026, 1, 3, tzinfo=UTC), "d": date(2026, 1, 3), "sha": "0" * 64},
        )
        c.execute(
            text(
                "INSERT INTO facilities (id, code, name, kind, tier, status, township_id,"
                " longitude, latitude, source_crs, source_longitude, source_latitude, martyrs,"
                " martyr_names, registered_on, next_due_on, created_at, updated_at)"
                " VALUES (2, 'F-2', '未巡查墓', 'grave', 'county', 'active', 1, 112.2, 35.7,"
                " 'wgs84', 112.2, 35.7, '[]', '', :d, :d, :t, :t)"
            ),
            {"t": NOW, "d": date(2025, 1, 1)},
        )
    engine.dispose()

    migrate.upgrade(settings)

    engine = make_engine(empty_database)
    with engine.connect() as c:
        found = dict(c.execute(text("SELECT id, last_condition FROM facilities")).all())
    engine.dispose()
    assert found == {1: "good", 2: None}
