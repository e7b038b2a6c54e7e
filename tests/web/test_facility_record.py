"""A facility's page and the national collection (issue 13): the "六个一" items with their
evidence, the record's completeness, the record photo chosen among the facility's photos,
the QR plate, and the edit form's collection fields."""

import re
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from app import standard
from app.db import Database
from app.facilities.completeness import COLLECTION_FIELDS
from app.models import Facility, FacilityKind, Inspection, ReviewStatus, User
from app.models.base import utcnow
from app.plates import codes
from tests import factories
from tests.photos.images import jpeg
from tests.web.conftest import csrf_of
from tests.web.test_facilities import edit, facility_of, reload, signed_in, text_of


def county_user(db: Database) -> User:
    with db.session(write=False) as session:
        return session.exec(select(User).where(User.username == "county")).one()


def accepted_report(db: Database, settings, facility_id: int, checklist: dict[str, str]) -> int:
    """A report accepted an hour ago (newer than any of the demo's), with ``checklist``."""
    with db.begin() as session:
        county = session.exec(select(User).where(User.username == "county")).one()
        row = session.get(Facility, facility_id)
        report = factories.make_inspection(
            session,
            facility=row,
            inspector=county,
            inspected_at=utcnow() - timedelta(hours=1),
            tz=settings.tz,
            review_status=ReviewStatus.accepted,
        )
        report.checklist = checklist
        report.receipt = "REC-SIX-1"
        return report.id


def photo_of(client: TestClient, db: Database, settings, facility_id: int) -> int:
    """A photo of a (new, submitted) report of the facility, uploaded through the API."""
    with db.begin() as session:
        county = session.exec(select(User).where(User.username == "county")).one()
        report = factories.make_inspection(
            session,
            facility=session.get(Facility, facility_id),
            inspector=county,
            inspected_at=utcnow() - timedelta(hours=3),
            tz=settings.tz,
        )
        report_id = report.id
    response = client.post(
        f"/api/v1/inspections/{report_id}/photos",
        files={"file": ("p.jpg", jpeg(), "application/octet-stream")},
        headers=factories.auth(settings, county_user(db)),
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def set_fields(db: Database, facility_id: int, **values) -> None:
    with db.begin() as session:
        row = session.get(Facility, facility_id)
        for name, value in values.items():
            setattr(row, name, value)


def section(html: str, section_id: str) -> str:
    match = re.search(rf'<section[^>]* id="{section_id}"(.*?)</section>', html, re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


# --- "六个一" -------------------------------------------------------------------------------


def test_the_six_items_show_their_verdict_evidence_date_and_report(
    page_client, seeded, settings
) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    set_fields(
        seeded,
        facility.id,
        kind=FacilityKind.grave,
        custodian_name="王守墓",
        management_rule="烈士零散墓看护管理制度",
        management_rule_on=date(2024, 3, 1),
    )
    report_id = accepted_report(
        seeded,
        settings,
        facility.id,
        {
            "marker_sign": "ok",
            "biography_plaque": "problem",
            "headstone": "ok",
            "boundary": "ok",
            "access_path": "na",
        },
    )
    with seeded.session(write=False) as session:
        expected = standard.standing(session, session.get(Facility, facility.id))
    assert expected.met == 4  # sign, headstone, boundary, management
    page = client.get(f"/facilities/{facility.id}")
    assert page.status_code == 200
    six = section(page.text, "six")
    text = text_of(six)
    assert "“六个一” 4/6 达标" in text
    items = re.findall(r'<li class="six-item (met|unmet)">(.*?)</li>', six, re.S)
    assert len(items) == 6
    for verdict, (state, item) in zip(expected.verdicts, items, strict=True):
        item_text = text_of(item)
        assert item_text.startswith(("✓ " if verdict.met else "✗ ") + verdict.label_zh)
        assert state == ("met" if verdict.met else "unmet")
        assert ("未达标" in item_text) != verdict.met  # said in words, not only in colour
        assert verdict.evidence_zh in item_text
    with seeded.session(write=False) as session:  # the county's date of the report (an hour
        on = session.get(Inspection, report_id).inspected_on  # ago: yesterday after midnight)
    sign = text_of(items[0][1])
    assert "巡查（回执 REC-SIX-1）" in sign and "完好" in sign
    assert f"{on.year}年{on.month}月{on.day}日" in sign
    assert f'href="/review?id={report_id}"' in items[0][1]
    assert "存在问题" in text_of(items[1][1])
    management = text_of(items[4][1])
    assert "看护人 王守墓；烈士零散墓看护管理制度" in management
    assert "2024年3月1日" in management
    assert "/review?id=" not in items[4][1]  # judged on the record, not on a report


def test_without_an_accepted_report_nothing_read_from_reports_is_met(
    page_client, seeded, settings
) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "龙港镇")
    with seeded.begin() as session:
        # the demo's reports of it set aside: only a rejected one is left
        for report in session.exec(select(Inspection).where(Inspection.facility_id == facility.id)):
            report.review_status = ReviewStatus.rejected
    set_fields(seeded, facility.id, custodian_name=None, management_rule=None)
    page = client.get(f"/facilities/{facility.id}")
    six = text_of(section(page.text, "six"))
    assert "0/6 达标" in six
    assert six.count("尚无审核通过的巡查报告") == 5
    assert "档案未登记看护人、管理制度" in six


# --- completeness ---------------------------------------------------------------------------


def test_completeness_counts_the_filled_fields_and_names_the_missing(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    set_fields(
        seeded,
        facility.id,
        **{name: None for name in COLLECTION_FIELDS},
    )
    set_fields(seeded, facility.id, commemorates="解放战争牺牲烈士", area_m2=12.5, dimensions=" ")
    page = client.get(f"/facilities/{facility.id}")
    record = text_of(section(page.text, "record"))
    assert "档案完整度 2/8" in record  # blanks are not filled
    missing = re.search(r"缺少：(.*?)点“编辑”补填", record).group(1)
    for name, label in COLLECTION_FIELDS.items():
        assert (label in missing) == (name not in ("commemorates", "area_m2")), name
    # the values are in the details
    details = text_of(page.text)
    assert "纪念对象 解放战争牺牲烈士" in details
    assert "占地面积（平方米） 12.5" in details


# --- the record photo -----------------------------------------------------------------------


def test_a_photo_of_the_facility_becomes_its_record_photo(page_client, seeded, settings) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    other = facility_of(seeded, "龙港镇")
    mine = photo_of(client, seeded, settings, facility.id)
    theirs = photo_of(client, seeded, settings, other.id)
    page = client.get(f"/facilities/{facility.id}")
    assert "尚未选定档案照片" in page.text
    assert f'<input type="hidden" name="photo_id" value="{mine}">' in page.text
    token = csrf_of(page.text)
    # another facility's photo is refused, and nothing changes
    refused = client.post(
        f"/facilities/{facility.id}/record-photo",
        data={"photo_id": str(theirs), "csrf_token": token},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert f"照片 {theirs} 不是本设施的照片" in refused.text
    assert reload(seeded, facility.id).record_photo_id is None
    # an id no photo has, likewise
    missing = client.post(
        f"/facilities/{facility.id}/record-photo",
        data={"photo_id": "2000000000", "csrf_token": token},
        follow_redirects=False,
    )
    assert missing.status_code == 422
    # its own photo is taken
    taken = client.post(
        f"/facilities/{facility.id}/record-photo",
        data={"photo_id": str(mine), "csrf_token": token},
        follow_redirects=False,
    )
    assert taken.status_code == 303
    assert reload(seeded, facility.id).record_photo_id == mine
    page = client.get(taken.headers["location"])
    shown = section(page.text, "record-photo")
    assert f'<img class="record-photo" src="/api/v1/photos/{mine}"' in shown
    assert "已设为档案照片" in page.text
    assert "全景/正面照片" not in re.search(r"缺少：(.*?)</ul>", page.text, re.S).group(1)
    # a record photo that no longer names one of its photos is not shown (no broken image)
    set_fields(seeded, facility.id, record_photo_id=theirs)
    page = client.get(f"/facilities/{facility.id}")
    assert "尚未选定档案照片" in section(page.text, "record-photo")
    assert 'class="record-photo"' not in page.text


def test_the_townships_officer_marks_the_record_photo_but_not_another_townships(
    page_client, seeded, settings
) -> None:
    facility = facility_of(seeded, "龙港镇")
    other = facility_of(seeded, "端氏镇")
    client = signed_in(page_client, "county")
    mine = photo_of(client, seeded, settings, facility.id)
    theirs = photo_of(client, seeded, settings, other.id)
    client.cookies.clear()
    client = signed_in(page_client, "longgang")
    page = client.get(f"/facilities/{facility.id}")
    token = csrf_of(page.text)
    response = client.post(
        f"/facilities/{facility.id}/record-photo",
        data={"photo_id": str(mine), "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert reload(seeded, facility.id).record_photo_id == mine
    elsewhere = client.post(
        f"/facilities/{other.id}/record-photo",
        data={"photo_id": str(theirs), "csrf_token": token},
        follow_redirects=False,
    )
    assert elsewhere.status_code == 404
    assert reload(seeded, other.id).record_photo_id is None


# --- the plate ------------------------------------------------------------------------------


def test_the_plate_shows_its_qr_code_and_the_downloads(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    page = client.get(f"/facilities/{facility.id}")
    plate = section(page.text, "plate")
    code = codes.encode(facility.id)
    assert codes.decode(code) == facility.id
    assert f'<strong class="plate-code">{code}</strong>' in plate
    assert f"http://127.0.0.1/f/{code}" in plate  # no public_url set: this site
    assert re.search(r'<svg[^>]*class="plate-qr"', plate)
    assert f"<title>标牌二维码：http://127.0.0.1/f/{code}</title>" in plate
    assert f'href="/api/v1/exports/plates.pdf?township_id={facility.township_id}"' in plate
    assert f'href="/api/v1/exports/facility/{facility.id}.pdf"' in plate
    assert "打印标牌" in plate and "一处一表" in plate


def test_the_plate_holds_the_public_url_when_one_is_set(app, seeded, settings) -> None:
    app.state.settings = settings.model_copy(update={"public_url": "https://jn.example.cn/"})
    facility = facility_of(seeded, "端氏镇")
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = signed_in(client, "county").get(f"/facilities/{facility.id}")
    assert f"https://jn.example.cn/f/{codes.encode(facility.id)}" in page.text


# --- the edit form --------------------------------------------------------------------------

NEW_VALUES = {
    "protection_unit": "village_committee",
    "headstone_type": "upright",
    "commemorates": "解放战争晋城战役牺牲烈士",
    "area_m2": "36.5",
    "main_material": "granite",
    "dimensions": "1.2米×0.6米×1.5米",
    "boundary_description": "墓基外延 5 米",
    "management_rule": "烈士零散墓看护管理制度",
    "management_rule_on": "2024-03-01",
}


def test_the_edit_form_saves_every_collection_field(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    form = client.get(f"/facilities/{facility.id}/edit").text
    assert "全国烈士纪念设施信息采集" in form
    assert '<option value="village_committee">村（居）民委员会</option>' in form
    assert '<option value="granite">花岗岩</option>' in form
    response = edit(client, facility.id, **NEW_VALUES)
    assert response.status_code == 303, text_of(response.text)
    row = reload(seeded, facility.id)
    assert row.protection_unit == "village_committee"
    assert row.headstone_type == "upright"
    assert row.commemorates == NEW_VALUES["commemorates"]
    assert row.area_m2 == 36.5
    assert row.main_material == "granite"
    assert row.dimensions == NEW_VALUES["dimensions"]
    assert row.boundary_description == NEW_VALUES["boundary_description"]
    assert row.management_rule == NEW_VALUES["management_rule"]
    assert row.management_rule_on == date(2024, 3, 1)
    # the form shows them back, and saving it again changes nothing
    again = edit(client, facility.id)
    assert again.headers["location"].endswith("notice=unchanged")
    # and clearing one clears it
    cleared = edit(client, facility.id, main_material="", area_m2="")
    assert cleared.status_code == 303
    row = reload(seeded, facility.id)
    assert (row.main_material, row.area_m2) == (None, None)


def test_a_wrong_collection_value_is_shown_next_to_its_field(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    response = edit(
        client, facility.id, area_m2="很大", main_material="gold", management_rule_on="2024-13-01"
    )
    assert response.status_code == 422
    for name in ("area_m2", "main_material", "management_rule_on"):
        assert f'id="f-{name}" name="{name}" aria-invalid="true"' in response.text, name
    text = text_of(response.text)
    assert "请填写数字" in text
    row = reload(seeded, facility.id)
    assert (row.area_m2, row.main_material, row.management_rule_on) == (
        facility.area_m2,
        facility.main_material,
        facility.management_rule_on,
    )


def test_a_township_officer_fills_in_the_collection_fields(page_client, seeded) -> None:
    client = signed_in(page_client, "longgang")
    facility = facility_of(seeded, "龙港镇")
    response = edit(client, facility.id, **NEW_VALUES)
    assert response.status_code == 303, text_of(response.text)
    row = reload(seeded, facility.id)
    assert (row.commemorates, row.management_rule_on) == (
        NEW_VALUES["commemorates"],
        date(2024, 3, 1),
    )
