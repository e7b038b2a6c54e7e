"""Funds (经费): each township's account with a chart and its numbers, allocations typed in
yuan and kept as exact fen, reversals (past the balance only for an admin), the ledger
newest first; a township officer reads their own."""

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.clock import local_today
from app.config import Settings
from app.db import Database
from app.funds import service as funds
from app.maintenance import service as maintenance
from app.maintenance.schemas import OrderCreate
from app.models import (
    EntryKind,
    Facility,
    FacilityStatus,
    FundAllocation,
    LedgerEntry,
    MaintenanceCategory,
    Township,
    User,
)
from app.web.i18n import format_money
from app.web.pages.funds import AmountError, parse_yuan
from tests.web.conftest import DEMO_PASSWORDS, csrf_of, sign_in

#: a year the demo leaves empty, so a test owns its figures
YEAR = 2031


def signed_in(client: TestClient, username: str) -> TestClient:
    sign_in(client, username, DEMO_PASSWORDS[username])
    return client


def township_named(db: Database, name: str) -> Township:
    with db.session(write=False) as session:
        return session.exec(select(Township).where(Township.name == name)).one()


def allocate(client: TestClient, **fields: str):
    page = client.get("/funds")
    form = {
        "year": str(YEAR),
        "amount": "1,234.56",
        "source": "county",
        "document_no": "沁退役军人发〔2031〕1号",
        "allocated_on": f"{YEAR}-03-01",
        "note": "",
        "csrf_token": csrf_of(page.text),
    }
    return client.post("/funds/allocations", data=form | fields, follow_redirects=False)


def allocations_of(db: Database, year: int = YEAR) -> list[FundAllocation]:
    with db.session(write=False) as session:
        return list(session.exec(select(FundAllocation).where(FundAllocation.year == year)))


@pytest.mark.parametrize(
    ("typed", "fen"),
    [
        ("1234.56", 123_456),
        ("0.1", 10),
        ("1,234.5", 123_450),
        ("￥80", 8_000),
        ("１２３４．５６", 123_456),  # typed with a Chinese input method
        ("9999999999.99", 999_999_999_999),
        ("0.07", 7),
    ],
)
def test_yuan_are_read_as_exact_fen(typed: str, fen: int) -> None:
    assert parse_yuan(typed) == fen


@pytest.mark.parametrize("typed", ["", "12.345", "-5", "1e3", "abc", "1.2.3", "nan"])
def test_anything_but_yuan_is_refused(typed: str) -> None:
    with pytest.raises(AmountError):
        parse_yuan(typed)


def test_zero_is_refused_where_an_amount_must_be_positive() -> None:
    assert parse_yuan("0") == 0
    with pytest.raises(AmountError):
        parse_yuan("0.00", positive=True)


def test_the_page_shows_every_township_in_a_chart_and_a_table(
    page_client: TestClient, seeded: Database, settings: Settings
) -> None:
    page = signed_in(page_client, "county").get("/funds")
    assert page.status_code == 200
    with seeded.session(write=False) as session:
        year = funds.default_year(session, fallback=0)
        clerk = session.exec(select(User).where(User.username == "county")).one()
        accounts = funds.summary(session=session, user=clerk, year=year)
    assert f'name="year" value="{year}"' in page.text
    assert "<svg" in page.text and 'class="legend"' in page.text
    table = page.text[page.text.index("<table") :]
    for township, account in accounts:
        assert township.name in table
        assert format_money(account.allocated_fen) in table
        assert format_money(account.spent_fen) in table
    assert 'action="/funds/allocations#new-allocation"' in page.text
    assert f'href="/api/v1/exports/funds.xlsx?year={year}"' in page.text


def test_a_township_officer_reads_only_their_own_funds(
    page_client: TestClient, seeded: Database
) -> None:
    client = signed_in(page_client, "longgang")
    page = client.get("/funds")
    assert page.status_code == 200
    assert "龙港镇" in page.text and "端氏镇" not in page.text
    assert 'action="/funds/allocations' not in page.text and "冲销" not in page.text
    duanshi = township_named(seeded, "端氏镇")
    assert client.get(f"/funds?township_id={duanshi.id}").status_code == 404
    assert client.get(f"/funds/ledger?township_id={duanshi.id}").status_code == 404
    assert allocate(client, township_id=str(duanshi.id)).status_code == 403
    assert allocations_of(seeded) == []


def test_an_allocation_typed_in_yuan_is_recorded_in_fen(
    page_client: TestClient, seeded: Database
) -> None:
    longgang = township_named(seeded, "龙港镇")
    answer = allocate(signed_in(page_client, "county"), township_id=str(longgang.id))
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/funds?year={YEAR}&done=allocated"
    [allocation] = allocations_of(seeded)
    assert allocation.amount_fen == 123_456 and allocation.township_id == longgang.id
    page = page_client.get(answer.headers["location"])
    assert "已登记经费下拨" in page.text and "¥1,234.56" in page.text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"amount": "12.345"}, "amount", "最多两位小数"),
        ({"amount": "0"}, "amount", "金额须大于零"),
        ({"amount": ""}, "amount", "请填写金额"),
        ({"township_id": ""}, "township_id", "请选择乡镇"),
        ({"document_no": " "}, "document_no", "请填写下拨文号"),
        ({"allocated_on": "2031-02-30"}, "allocated_on", "请填写下拨日期"),
        ({"year": "31"}, "year", "请填写年度"),
    ],
)
def test_a_bad_allocation_is_shown_by_its_field_and_nothing_is_written(
    page_client: TestClient, seeded: Database, fields: dict, field: str, message: str
) -> None:
    longgang = township_named(seeded, "龙港镇")
    answer = allocate(
        signed_in(page_client, "county"), **({"township_id": str(longgang.id)} | fields)
    )
    assert answer.status_code == 422
    assert re.search(rf'id="{field}-error"[^>]*>[^<]*{message}', answer.text), answer.text[-3000:]
    assert allocations_of(seeded) == []


def test_an_allocation_is_reversed_with_a_reason(page_client: TestClient, seeded: Database) -> None:
    longgang = township_named(seeded, "龙港镇")
    client = signed_in(page_client, "county")
    allocate(client, township_id=str(longgang.id))
    [allocation] = allocations_of(seeded)
    page = client.get(f"/funds?year={YEAR}")
    path = f"/funds/allocations/{allocation.id}/reverse?year={YEAR}"
    blank = client.post(path, data={"reason": " ", "csrf_token": csrf_of(page.text)})
    assert blank.status_code == 422 and "请填写冲销原因" in blank.text
    assert allocations_of(seeded)[0].reversed_at is None
    done = client.post(
        path,
        data={"reason": "文号有误", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert allocations_of(seeded)[0].reversed_at is not None
    with seeded.session(write=False) as session:
        reversal = session.exec(
            select(LedgerEntry).where(
                LedgerEntry.allocation_id == allocation.id, LedgerEntry.kind == EntryKind.reversal
            )
        ).one()
    assert reversal.amount_fen == -123_456 and reversal.reason == "文号有误"
    assert "已于" in client.get(done.headers["location"]).text  # shown as reversed


def _committed_allocation(db: Database, settings: Settings) -> int:
    """An allocation of the test year whose money an approved order has committed."""
    with db.session() as session:
        place = session.exec(select(Township).where(Township.name == "龙港镇")).one()
        clerk = session.exec(select(User).where(User.username == "county")).one()
        facility = session.exec(
            select(Facility).where(
                Facility.township_id == place.id, Facility.status == FacilityStatus.active
            )
        ).first()
        from app.funds.schemas import AllocationCreate

        allocation = funds.allocate(
            session=session,
            actor=clerk,
            data=AllocationCreate(
                township_id=place.id,  # type: ignore[arg-type]
                year=YEAR,
                amount_fen=100_000,
                source="county",  # type: ignore[arg-type]
                document_no="沁退役军人发〔2031〕2号",
                allocated_on=local_today(settings.tz).replace(year=YEAR, month=3, day=1),
            ),
        )
        order = maintenance.create_order(
            session=session,
            settings=settings,
            user=clerk,
            data=OrderCreate(
                facility_id=facility.id,  # type: ignore[union-attr]
                category=MaintenanceCategory.repair,
                title="【测试】围栏修缮",
                planned_cost_fen=60_000,
                year=YEAR,
            ),
        )
        maintenance.approve(session=session, user=clerk, order_id=order.id, override_reason=None)  # type: ignore[arg-type]
        return allocation.id  # type: ignore[return-value]


def test_reversing_committed_money_needs_an_admin_with_a_reason(
    page_client: TestClient, seeded: Database, settings: Settings
) -> None:
    allocation_id = _committed_allocation(seeded, settings)
    path = f"/funds/allocations/{allocation_id}/reverse?year={YEAR}"
    county = signed_in(page_client, "county")
    token = csrf_of(county.get("/funds").text)
    refused = county.post(path, data={"reason": "重复下拨", "csrf_token": token})
    assert refused.status_code == 409
    assert f"冲销下拨 {allocation_id}" in refused.text and "须由管理员填写理由" in refused.text
    assert 'name="override_reason"' not in refused.text
    forced = county.post(
        path,
        data={"reason": "重复下拨", "override": "1", "override_reason": "急", "csrf_token": token},
    )
    assert forced.status_code == 403
    assert allocations_of(seeded)[0].reversed_at is None

    page_client.cookies.clear()
    admin = signed_in(page_client, "admin")
    token = csrf_of(admin.get("/funds").text)
    offered = admin.post(path, data={"reason": "重复下拨", "csrf_token": token})
    assert offered.status_code == 409 and 'name="override_reason"' in offered.text
    passed = admin.post(
        path,
        data={
            "reason": "重复下拨",
            "override": "1",
            "override_reason": "已另行拨付",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert passed.status_code == 303
    assert allocations_of(seeded)[0].reversed_at is not None
    assert 'class="num overspent"' in admin.get(f"/funds?year={YEAR}").text


def test_the_ledger_is_newest_first_and_paged(
    page_client: TestClient, seeded: Database, monkeypatch
) -> None:
    from app.web.pages import funds as page_module

    monkeypatch.setattr(page_module, "LEDGER_PAGE", 5)
    client = signed_in(page_client, "county")
    first = client.get("/funds/ledger")
    year = int(re.search(r'name="year" value="(\d+)"', first.text).group(1))  # type: ignore[union-attr]
    with seeded.session(write=False) as session:
        expected = list(
            session.exec(
                select(LedgerEntry.id)
                .where(LedgerEntry.year == year)
                .order_by(LedgerEntry.id.desc())
            )
        )
    assert len(expected) > 5

    def ids(html: str) -> list[int]:
        return [int(i) for i in re.findall(r'<td class="num">(\d+)</td>\s*<td>', html)]

    assert ids(first.text) == expected[:5]
    assert ids(client.get(f"/funds/ledger?year={year}&offset=5").text) == expected[5:10]
    assert f"共 {len(expected)} 条" in first.text


def test_an_allocation_without_the_form_token_is_refused(
    page_client: TestClient, seeded: Database
) -> None:
    longgang = township_named(seeded, "龙港镇")
    client = signed_in(page_client, "county")
    client.get("/funds")
    answer = client.post(
        "/funds/allocations",
        data={"township_id": str(longgang.id), "year": str(YEAR), "amount": "1"},
    )
    assert answer.status_code == 403
    assert allocations_of(seeded) == []
