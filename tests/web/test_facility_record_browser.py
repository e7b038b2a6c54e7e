"""A facility's record in a real browser (issue 13): the "六个一" items, the record's
completeness, the plate's QR code, a photo marked as the record photo; at office-PC and
phone width, with no serious accessibility finding."""

import subprocess
from datetime import date, timedelta

from sqlmodel import select

from app.models import Facility, FacilityKind, ReviewStatus, User
from app.models.base import utcnow
from app.plates import codes
from tests import factories
from tests.photos.images import jpeg
from tests.web.conftest import (
    ARTIFACTS,
    browser_sign_in,
    screenshot,
    serious_accessibility_violations,
)
from tests.web.test_facilities import facility_of


def test_a_clerk_reads_the_record_and_marks_the_record_photo(
    browser_page, seeded, settings
) -> None:
    facility = facility_of(seeded, "端氏镇")
    with seeded.begin() as session:
        county = session.exec(select(User).where(User.username == "county")).one()
        row = session.get(Facility, facility.id)
        row.kind = FacilityKind.grave
        row.custodian_name = "王守墓"
        row.management_rule = "烈士零散墓看护管理制度"
        row.management_rule_on = date(2024, 3, 1)
        row.commemorates = "解放战争晋城战役牺牲烈士"
        row.area_m2 = 36.5
        report = factories.make_inspection(
            session,
            facility=row,
            inspector=county,
            inspected_at=utcnow() - timedelta(hours=1),
            tz=settings.tz,
            review_status=ReviewStatus.accepted,
        )
        report.checklist = {
            "marker_sign": "ok",
            "biography_plaque": "ok",
            "headstone": "problem",
            "boundary": "ok",
            "access_path": "ok",
        }
        report_id = report.id
    page = browser_page
    upload = page.request.post(
        f"/api/v1/inspections/{report_id}/photos",
        headers=factories.auth(settings, county),
        multipart={"file": {"name": "p.jpg", "mimeType": "image/jpeg", "buffer": jpeg((640, 400))}},
    )
    assert upload.status == 201, upload.text()
    photo_id = upload.json()["id"]

    browser_sign_in(page, "county", next_path=f"/facilities/{facility.id}")
    assert "5/6 达标" in page.text_content("#six-title")
    assert page.locator(".six-item.unmet").count() == 1
    assert "一座规范墓碑" in page.text_content(".six-item.unmet")
    assert "档案完整度 2/8" in page.text_content("#record-title")
    qr = page.locator("#plate svg.plate-qr")
    assert qr.is_visible() and qr.bounding_box()["width"] >= 120
    assert codes.encode(facility.id) in page.text_content(".plate-code")
    # the QR code on the screen reads back to the plate's URL
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "facility-plate-qr.png"
    qr.screenshot(path=str(shot))
    read = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(shot)], capture_output=True, text=True, check=True
    )
    assert (
        read.stdout.strip() == f"{page.url.split('/facilities')[0]}/f/{codes.encode(facility.id)}"
    )
    assert not serious_accessibility_violations(page)

    page.click(f"button[aria-label='将照片 {photo_id} 设为档案照片']")
    page.wait_for_selector("img.record-photo")
    assert "已设为档案照片" in page.text_content("p.success")
    assert "档案完整度 3/8" in page.text_content("#record-title")
    # a function, not an expression: Playwright polls an expression with eval, which the
    # pages' CSP (script-src 'self') refuses
    page.wait_for_function(
        "() => { const img = document.querySelector('img.record-photo');"
        " return img !== null && img.naturalWidth > 0; }"
    )
    assert not serious_accessibility_violations(page)
    screenshot(page, "facility-record")

    page.set_viewport_size({"width": 375, "height": 740})
    page.reload()
    assert page.locator("#plate svg.plate-qr").bounding_box()["width"] <= 375
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375 + 1, f"the page scrolls sideways at phone width ({width}px)"
    assert not serious_accessibility_violations(page)
    screenshot(page, "facility-record-phone")

    # the edit form offers the collection's fields, and saves them
    page.click("a.button.primary")  # 编辑
    page.wait_for_selector("form.edit-form")
    page.select_option("#f-main_material", "granite")
    page.fill("#f-dimensions", "1.2米×0.6米×1.5米")
    assert not serious_accessibility_violations(page)
    screenshot(page, "facility-edit-collection-phone")
    page.click("form.edit-form button[type=submit].primary")
    page.wait_for_selector("p.success")
    assert "档案完整度 5/8" in page.text_content("#record-title")
