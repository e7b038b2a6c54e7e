"""Scanning a site's QR plate on the phone (Debian's Chromium, a 360×640 phone): the plate's
short URL ``/f/{code}`` opens the form with that site chosen and the report records
``scanned_plate``; with no signal the service worker's shell does the same; another
township's inspector gets the 404 page; the form's own "扫码" reads a plate with the
browser's BarcodeDetector (a stub here), else with the vendored jsQR (a real QR code drawn
into a fake camera), and offers typing the code when there is no camera."""

import time
from collections.abc import Iterator

import pytest
import segno
from playwright.sync_api import expect
from sqlalchemy import select

from app.db import Database
from app.models import Facility, FacilityStatus
from app.plates import codes
from tests.live import LiveServer
from tests.web.conftest import screenshot, serious_accessibility_violations
from tests.web.test_phone_browser import (
    Phone,
    open_phone,
    sign_in,
    state_of,
    submit,
)


@pytest.fixture
def phone(browser, site: LiveServer, seeded: Database, settings) -> Iterator[Phone]:
    handset = open_phone(browser, site, seeded, settings.signing_key())
    yield handset
    handset.context.close()
    assert not handset.errors, f"the page reported errors: {handset.errors}"


def other_site(phone: Phone) -> Facility:
    """A site of the inspector's township that is not the nearest one (the list's first)."""
    with phone.db.session(write=False) as session:
        facility = session.scalars(
            select(Facility)
            .where(Facility.township_id == phone.inspector.township_id)
            .where(Facility.status == FacilityStatus.active)
            .where(Facility.id != phone.facility.id)
            .order_by(Facility.id.desc())
        ).first()
        session.expunge_all()
    assert facility is not None
    return facility


def foreign_site(phone: Phone) -> Facility:
    with phone.db.session(write=False) as session:
        facility = session.scalars(
            select(Facility)
            .where(Facility.township_id != phone.inspector.township_id)
            .where(Facility.status == FacilityStatus.active)
            .order_by(Facility.id)
        ).first()
        session.expunge_all()
    return facility


def expect_chosen(phone: Phone, facility: Facility) -> None:
    page = phone.page
    code = codes.encode(facility.id)
    expect(page.locator("select[name=facility_id]")).to_have_value(str(facility.id))
    expect(page.locator("#scanned")).to_be_visible()
    expect(page.locator("#scanned")).to_have_text(f"已扫码 · 标牌 {code}")


def fill_rest(phone: Phone) -> None:
    """The report, without touching the facility the plate chose."""
    page = phone.page
    page.click("label[for=condition-good]")
    page.click("label[for=check-qr_plate-ok]")
    page.click("#rest-sound")


def flags_of(phone: Phone, client_id: str) -> list[str]:
    [stored] = phone.stored(client_id)
    return list(stored.flags)


def test_a_plate_opens_the_form_with_its_site_and_the_report_records_the_scan(
    phone: Phone,
) -> None:
    page = phone.page
    sign_in(phone)
    target = other_site(phone)
    code = codes.encode(target.id)
    page.goto(f"/f/{code}")
    page.wait_for_url(f"**/m/?site={target.id}&plate={code}")
    expect_chosen(phone, target)
    # the QR plate is a checklist item like the others
    expect(page.locator("fieldset.item legend", has_text="二维码标牌")).to_have_count(1)
    assert not serious_accessibility_violations(page)
    screenshot(page, "phone-scanned-plate")

    fill_rest(phone)
    client_id = submit(phone)
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "sent", timeout=20_000)
    [stored] = phone.stored(client_id)
    assert stored.facility_id == target.id
    assert "scanned_plate" in stored.flags
    assert stored.checklist["qr_plate"] == "ok"
    # the form is fresh again: no plate, and the address no longer names the site
    expect(page.locator("#scanned")).to_be_hidden()
    assert page.url.endswith("/m/")


def test_the_phone_reads_plate_codes_as_the_server_does(phone: Phone) -> None:
    page = phone.page
    sign_in(phone)
    ids = [1, 2, 42, 99_999, 1_234_567, codes.MODULUS - 1]
    decoded = page.evaluate(
        "cs => cs.map(c => MP.plates.decode(c))", [codes.encode(i) for i in ids]
    )
    assert decoded == ids
    code = codes.encode(42)
    wrong = code[:3] + ("3" if code[3] != "3" else "4") + code[4:]
    swapped = code[1] + code[0] + code[2:]
    cases = [code.lower(), f" {code} ", wrong, swapped, "HELLO", "", code + "2"]
    assert page.evaluate("cs => cs.map(c => MP.plates.decode(c))", cases) == [
        codes.decode(c) for c in cases
    ]
    assert page.evaluate(
        "us => us.map(u => MP.plates.plateOf(u))",
        [
            f"https://memorial.example.cn/f/{code}",
            f"http://10.0.0.5:8000/f/{code.lower()}/",
            code,
            "https://example.com/other",
            "WIFI:S:x;;",
        ],
    ) == [code, code, code, None, None]


def test_offline_a_plate_link_opens_the_cached_form_and_the_queued_report_keeps_the_code(
    phone: Phone,
) -> None:
    page = phone.page
    sign_in(phone)
    target = other_site(phone)
    code = codes.encode(target.id)
    phone.context.set_offline(True)
    documents: list[object] = []
    page.on(
        "response", lambda r: documents.append(r) if r.request.resource_type == "document" else None
    )
    page.goto(f"/m/?site={target.id}&plate={code}")
    assert documents and all(r.from_service_worker for r in documents)
    expect_chosen(phone, target)
    fill_rest(phone)
    client_id = submit(phone)
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "waiting")
    page.reload()
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "waiting")
    kept = page.evaluate(
        "id => MP.Outbox.all().then(rs => rs.find(r => r.client_id === id).plate_code)", client_id
    )
    assert kept == code
    assert phone.stored(client_id) == []

    phone.context.set_offline(False)
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "sent", timeout=40_000)
    assert "scanned_plate" in flags_of(phone, client_id)


def test_another_townships_plate_is_the_404_page_and_not_in_the_list(phone: Phone) -> None:
    page = phone.page
    sign_in(phone)
    foreign = foreign_site(phone)
    code = codes.encode(foreign.id)
    response = page.goto(f"/f/{code}")
    assert response is not None and response.status == 404
    assert "/m/" not in page.url
    # a link made by hand to the form: a clear word, no crash, no site chosen by the plate
    page.goto(f"/m/?site={foreign.id}&plate={code}")
    expect(page.locator("#scan-message")).to_contain_text(
        f"标牌 {code} 对应的设施不在您的设施列表中"
    )
    expect(page.locator("#scanned")).to_be_hidden()
    assert page.locator("select[name=facility_id]").input_value() != str(foreign.id)
    # a code that is no plate's
    page.goto(f"/m/?site={foreign.id}&plate=NOTACODE")
    expect(page.locator("#scan-message")).to_contain_text("不是有效的标牌码")


#: a camera that shows nothing: a canvas's stream (no device needed)
FAKE_CAMERA = """
(() => {
  const canvas = document.createElement("canvas");
  canvas.width = 640; canvas.height = 480;
  window.__camera = canvas;
  const paint = () => {
    const g = canvas.getContext("2d");
    g.fillStyle = "#fff"; g.fillRect(0, 0, 640, 480);
    if (window.__qr) g.drawImage(window.__qr, 170, 90, 300, 300);
  };
  navigator.mediaDevices.getUserMedia = async () => {
    paint();
    setInterval(paint, 100);
    return canvas.captureStream(10);
  };
})();
"""

STUB_DETECTOR = """
window.BarcodeDetector = class {
  static async getSupportedFormats() { return ["qr_code", "ean_13"]; }
  constructor(options) { window.__detectorFormats = options.formats; }
  async detect(source) {
    window.__detectCalls = (window.__detectCalls || 0) + 1;
    return window.__detectCalls < 3 ? [] : [{ rawValue: window.__plateUrl, format: "qr_code" }];
  }
};
"""


def test_the_scan_button_reads_a_plate_with_the_browsers_barcode_detector(
    phone: Phone,
) -> None:
    page = phone.page
    target = other_site(phone)
    url = f"{phone.site.url}/f/{codes.encode(target.id)}"
    page.add_init_script(FAKE_CAMERA + STUB_DETECTOR + f"window.__plateUrl = {url!r};")
    sign_in(phone)
    page.click("#scan")
    expect_chosen(phone, target)
    assert page.evaluate("window.__detectorFormats") == ["qr_code"]
    assert page.evaluate("window.__detectCalls") >= 3
    expect(page.locator("#scan-panel")).to_be_hidden()
    assert not page.evaluate("!!window.jsQR"), "jsQR is loaded only without a detector"
    fill_rest(phone)
    client_id = submit(phone)
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "sent", timeout=20_000)
    assert "scanned_plate" in flags_of(phone, client_id)


def test_without_a_detector_the_vendored_jsqr_reads_the_plate_offline_too(phone: Phone) -> None:
    page = phone.page
    target = other_site(phone)
    url = f"{phone.site.url}/f/{codes.encode(target.id)}"
    png = segno.make(url, error="h").png_data_uri(scale=8, border=4)
    page.add_init_script(
        FAKE_CAMERA
        + "delete window.BarcodeDetector;"
        + f"window.__qr = new Image(); window.__qr.src = {png!r};"
    )
    sign_in(phone)
    # the reader is kept by the service worker: it loads with no signal
    for _ in range(100):
        if page.evaluate("caches.match('/m/jsQR.js').then(r => !!r)"):
            break
        time.sleep(0.1)
    phone.context.set_offline(True)
    page.click("#scan")
    expect_chosen(phone, target)
    assert page.evaluate("typeof window.jsQR") == "function"
    phone.context.set_offline(False)


def test_no_camera_offers_typing_the_code(phone: Phone) -> None:
    page = phone.page
    target = other_site(phone)
    page.add_init_script(
        "navigator.mediaDevices.getUserMedia = () =>"
        " Promise.reject(new DOMException('denied', 'NotAllowedError'));"
    )
    sign_in(phone)
    page.click("#scan")
    expect(page.locator("#scan-status")).to_contain_text("无法使用相机")
    expect(page.locator("#plate-code")).to_be_focused()
    page.fill("#plate-code", "ABCDEFGH")
    page.click("#plate-go")
    expect(page.locator("#scan-status")).to_contain_text("不是有效的标牌码")
    expect(page.locator("#scan-message")).to_be_hidden()  # said once, beside the field
    page.fill("#plate-code", codes.encode(target.id).lower())
    assert not serious_accessibility_violations(page)
    screenshot(page, "phone-scan-no-camera")
    page.click("#plate-go")
    expect_chosen(phone, target)
    # choosing another site by hand drops the plate: the report will not claim it
    page.select_option("select[name=facility_id]", str(phone.facility.id))
    expect(page.locator("#scanned")).to_be_hidden()
    fill_rest(phone)
    client_id = submit(phone)
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "sent", timeout=20_000)
    assert "scanned_plate" not in flags_of(phone, client_id)
