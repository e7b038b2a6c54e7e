"""The inspector's phone form in a real browser (Debian's Chromium), as the inspector uses
it: a 360×640 phone with its position granted near a facility, photos from the "camera",
no signal, a lost answer, a refused report, a session that ends while a report waits.

Each test checks the server afterwards: exactly one report per ``client_id``, with its
photos. The byte budgets of the issue are measured here and printed (``-s`` not needed).
"""

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import func, select

from app.db import Database
from app.models import Facility, FacilityStatus, Inspection, Photo, User
from app.security import create_access_token
from app.web.pages import phone as phone_page
from tests.live import LiveServer
from tests.web.conftest import DEMO_PASSWORDS, screenshot, serious_accessibility_violations

INSPECTOR = "longgang"
#: metres north of the facility where the phone says it is (well inside the on-site radius)
OFFSET_M = 30


@dataclass
class Phone:
    page: Page
    context: BrowserContext
    site: LiveServer
    db: Database
    facility: Facility
    inspector: User
    errors: list[str]
    key: str  # the app's signing key, to make tokens as the server does
    service_worker: bool = True

    def items(self) -> list[tuple[str, str]]:
        return self.page.eval_on_selector_all(
            "[data-client-id]", "xs => xs.map(x => [x.dataset.clientId, x.dataset.state])"
        )

    def stored(self, client_id: str) -> list[Inspection]:
        with self.db.session(write=False) as session:
            return list(
                session.scalars(
                    select(Inspection).where(Inspection.client_id == uuid.UUID(client_id))
                )
            )

    def photos_of(self, inspection_id: int) -> int:
        with self.db.session(write=False) as session:
            return session.scalar(
                select(func.count()).select_from(Photo).where(Photo.inspection_id == inspection_id)
            )


def _target(db: Database) -> tuple[Facility, User]:
    with db.session(write=False) as session:
        inspector = session.scalars(select(User).where(User.username == INSPECTOR)).one()
        facility = session.scalars(
            select(Facility)
            .where(Facility.township_id == inspector.township_id)
            .where(Facility.status == FacilityStatus.active)
            .order_by(Facility.id)
        ).first()
        session.expunge_all()
    return facility, inspector


def open_phone(browser, site: LiveServer, db: Database, key: str, **options) -> Phone:
    facility, inspector = _target(db)
    context = browser.new_context(
        viewport={"width": 360, "height": 640},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        base_url=site.url,
        geolocation={
            "longitude": facility.longitude,
            "latitude": facility.latitude + OFFSET_M / 111_195,
            "accuracy": 8,
        },
        permissions=["geolocation"],
        **options,
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    service_worker = options.get("service_workers") != "block"
    return Phone(page, context, site, db, facility, inspector, errors, key, service_worker)


@pytest.fixture
def phone(browser, site: LiveServer, seeded: Database, settings) -> Iterator[Phone]:
    handset = open_phone(browser, site, seeded, settings.signing_key())
    yield handset
    handset.context.close()
    assert not handset.errors, f"the page reported errors: {handset.errors}"


def sign_in(phone: Phone) -> None:
    page = phone.page
    page.goto("/m")
    assert page.url.endswith("/m/signin")
    page.fill("input[name=username]", INSPECTOR)
    page.fill("input[name=password]", DEMO_PASSWORDS[INSPECTOR])
    page.click("button[type=submit]")
    page.wait_for_url("**/m/")
    ready(phone)


def ready(phone: Phone) -> None:
    """The list is drawn (from the position) and the service worker holds the page."""
    page = phone.page
    expect(page.locator("select[name=facility_id] option").first).to_be_attached()
    expect(page.locator("#position")).to_contain_text("已定位")
    if not phone.service_worker:
        return
    for _ in range(100):
        if page.evaluate("!!navigator.serviceWorker.controller"):
            break
        time.sleep(0.1)
    assert page.evaluate("!!navigator.serviceWorker.controller"), "no service worker"
    # and its cache holds the page itself, for the next visit with no signal
    for _ in range(100):
        if page.evaluate("caches.match('/m/').then(r => !!r)"):
            break
        time.sleep(0.1)
    assert page.evaluate("caches.match('/m/').then(r => !!r)"), "the page is not cached"


def fill(phone: Phone, *, photos: list[Path] = (), condition: str = "minor_issues") -> None:
    page = phone.page
    page.select_option("select[name=facility_id]", str(phone.facility.id))
    page.click(f"label[for=condition-{condition}]")
    page.click("label[for=check-marker_sign-ok]")
    page.click("label[for=check-headstone-problem]")
    page.click("#rest-sound")
    page.fill("textarea[name=notes]", "碑体左侧有裂缝")
    if photos:
        page.set_input_files("input[type=file][name=photos]", [str(p) for p in photos])
        expect(page.locator("#photo-list img")).to_have_count(len(photos))


def submit(phone: Phone) -> str:
    """Sends the form; the client_id of the report it put in the outbox."""
    before = {c for c, _ in phone.items()}
    phone.page.click("#report button[type=submit]")
    for _ in range(100):
        new = [c for c, _ in phone.items() if c not in before]
        if new:
            return new[0]
        time.sleep(0.1)
    raise AssertionError("the report did not reach the outbox")


def state_of(phone: Phone, client_id: str):
    return phone.page.locator(f"[data-client-id='{client_id}']")


def photo_file(tmp_path: Path, name: str, size: tuple[int, int] = (1200, 900)) -> Path:
    """A camera's JPEG: stored sideways with EXIF Orientation 6 (shown upright 900×1200),
    its capture time and its GPS position."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8769)[0x9003] = "2026:04:02 09:30:00"
    exif.get_ifd(0x8769)[0x9011] = "+08:00"
    exif.get_ifd(0x8825).update({1: "N", 2: (35.0, 41.0, 17.0), 3: "E", 4: (112.0, 11.0, 37.0)})
    path = tmp_path / name
    Image.effect_noise(size, 40).convert("RGB").save(path, "JPEG", quality=85, exif=exif)
    return path


def camera_photo(tmp_path: Path, name: str) -> Path:
    """A 12-megapixel JPEG of a few MB, like a phone camera's: broad shading and grain."""
    shading = Image.effect_noise((200, 150), 60).convert("L")
    base = Image.merge(
        "RGB",
        (shading, shading.rotate(180), shading.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    ).resize((4000, 3000), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((4000, 3000), 18).convert("RGB")
    path = tmp_path / name
    Image.blend(base, grain, 0.25).save(path, "JPEG", quality=92)
    return path


def report(record_property, line: str) -> None:
    """A measured figure, printed in the run's summary (tests/conftest.py)."""
    record_property("figure", f"[phone budget] {line}")


# --- the scenarios --------------------------------------------------------------------


def test_a_report_with_a_photo_is_sent_on_site(phone: Phone, tmp_path: Path) -> None:
    page = phone.page
    sign_in(phone)
    options = page.eval_on_selector_all(
        "select[name=facility_id] option", "os => os.map(o => [o.value, o.textContent])"
    )
    assert options[0][0] == str(phone.facility.id), "the nearest site comes first"
    assert "30 米" in options[0][1] or "29 米" in options[0][1] or "31 米" in options[0][1]
    assert not serious_accessibility_violations(page)
    screenshot(page, "phone-form")
    # searchable by code (or name): the list narrows, and widens again
    total = len(options)
    page.fill("#site-search", phone.facility.code)
    expect(page.locator("select[name=facility_id] option")).to_have_count(1)
    page.fill("#site-search", "")
    expect(page.locator("select[name=facility_id] option")).to_have_count(total)

    fill(phone, photos=[photo_file(tmp_path, "grave.jpg")])
    client_id = submit(phone)
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "sent", timeout=20_000)
    [stored] = phone.stored(client_id)
    assert stored.on_site is True and stored.inspector_id == phone.inspector.id
    assert stored.checklist["headstone"] == "problem" and stored.checklist["fire_safety"] == "ok"
    assert phone.photos_of(stored.id) == 1
    with phone.db.session(write=False) as session:
        photo = session.scalars(select(Photo).where(Photo.inspection_id == stored.id)).one()
    # turned upright on the phone, and the camera's time and place kept through the scaling
    assert (photo.width, photo.height) == (900, 1200)
    assert photo.taken_at == datetime(2026, 4, 2, 1, 30, tzinfo=UTC)
    assert photo.exif_latitude == pytest.approx(35 + 41 / 60 + 17 / 3600, abs=1e-6)
    from app.inspections.service import receipt_for

    expect(page.locator("#receipt")).to_have_text(receipt_for(uuid.UUID(client_id)))
    expect(page.locator("#queue-count")).to_have_text("0")
    screenshot(page, "phone-sent")


def test_offline_the_report_waits_and_arrives_once_with_its_photos(
    phone: Phone, tmp_path: Path, record_property
) -> None:
    page = phone.page
    sign_in(phone)
    phone.context.set_offline(True)
    fill(phone, photos=[photo_file(tmp_path, "a.jpg"), photo_file(tmp_path, "b.jpg")])
    client_id = submit(phone)
    expect(page.locator("#queue-count")).to_have_text("1")
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "waiting")
    expect(page.locator("#banner")).to_contain_text("没有信号")

    # reloaded with no signal: the page comes from the service worker, the report is there
    documents: list[object] = []
    page.on(
        "response", lambda r: documents.append(r) if r.request.resource_type == "document" else None
    )
    page.reload()
    expect(page.locator("#queue-count")).to_have_text("1")
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "waiting")
    assert documents and all(r.from_service_worker for r in documents)
    # the facility list, kept on the phone
    expect(page.locator("select[name=facility_id] option").first).to_be_attached()
    report(
        record_property, "a second load offline: the page came from the service worker, no network"
    )
    assert phone.stored(client_id) == []

    # walking back into coverage: sent with no click
    phone.context.set_offline(False)
    expect(page.locator("#queue-count")).to_have_text("0", timeout=40_000)
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "sent", timeout=20_000)
    [stored] = phone.stored(client_id)
    assert phone.photos_of(stored.id) == 2
    screenshot(page, "phone-back-online")


def test_a_lost_answer_is_sent_again_and_stored_once(
    browser, site: LiveServer, seeded: Database, settings, tmp_path: Path
) -> None:
    # no service worker here, so that the page's own requests can be intercepted
    phone = open_phone(browser, site, seeded, settings.signing_key(), service_workers="block")
    page = phone.page
    answers_lost: list[int] = []

    def lose_the_first_answer(route) -> None:
        if route.request.method == "POST" and not answers_lost:
            response = route.fetch()  # the server stores the report...
            answers_lost.append(response.status)
            route.abort("connectionreset")  # ...and its answer never reaches the phone
        else:
            route.continue_()

    try:
        sign_in(phone)
        page.route("**/api/v1/inspections", lose_the_first_answer)
        fill(phone, photos=[photo_file(tmp_path, "a.jpg")])
        client_id = submit(phone)
        expect(state_of(phone, client_id)).to_have_attribute("data-state", "sent", timeout=40_000)
        assert answers_lost == [201]
        [stored] = phone.stored(client_id)  # exactly one
        assert phone.photos_of(stored.id) == 1
    finally:
        phone.context.close()
    assert not phone.errors, phone.errors


def test_a_refused_report_shows_the_reason_in_chinese_and_stays(phone: Phone) -> None:
    page = phone.page
    sign_in(phone)
    with phone.db.begin() as session:  # meanwhile, the county archives the site
        session.get(Facility, phone.facility.id).status = FacilityStatus.archived
    fill(phone)
    client_id = submit(phone)
    item = state_of(phone, client_id)
    expect(item).to_have_attribute("data-state", "refused", timeout=20_000)
    reason = item.locator(".reason").inner_text()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in reason), reason
    assert "archived" not in reason and "Facility" not in reason
    assert phone.stored(client_id) == []
    screenshot(page, "phone-refused")

    page.reload()
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "refused")
    expect(page.locator("#queue-count")).to_have_text("0")
    expect(page.locator("#banner")).to_contain_text("未被接收")
    # the list, refreshed with signal, no longer offers the archived site
    expect(
        page.locator(f"select[name=facility_id] option[value='{phone.facility.id}']")
    ).to_have_count(0)

    # the inspector fixes it: back in the form; the refused copy stays until the fix is saved
    state_of(phone, client_id).get_by_role("button", name="修改后重发").click()
    expect(page.locator("#editing")).to_be_visible()
    assert page.locator("input[name=condition]:checked").get_attribute("value") == "minor_issues"
    # its site left the list: the form asks for one instead of taking the nearest
    assert page.locator("select[name=facility_id]").input_value() == ""
    page.click("#report button[type=submit]")
    expect(page.locator("#form-error")).to_contain_text("请选择设施")
    page.reload()  # a reload (the camera app took the memory) loses nothing
    expect(page.locator("[data-client-id]")).to_have_count(1)
    state_of(phone, client_id).get_by_role("button", name="修改后重发").click()
    other = page.locator("select[name=facility_id] option").nth(1).get_attribute("value")
    page.select_option("select[name=facility_id]", other)
    original = page.evaluate(
        "new Promise(r => { const q = indexedDB.open('memorial-patrol'); q.onsuccess = () => {"
        " const g = q.result.transaction('reports').objectStore('reports').getAll();"
        " g.onsuccess = () => r(g.result[0]); }; })"
    )
    resent = submit(phone)
    assert resent != client_id
    expect(state_of(phone, resent)).to_have_attribute("data-state", "sent", timeout=20_000)
    expect(page.locator("[data-client-id]")).to_have_count(1)  # the refused copy is gone
    [stored] = phone.stored(resent)
    assert stored.facility_id == int(other)
    # the visit's moment and place, not the moment of the fix
    sent_at = datetime.fromisoformat(original["inspected_at"].replace("Z", "+00:00"))
    assert abs(stored.inspected_at - sent_at) < timedelta(seconds=1)
    assert stored.source_latitude == pytest.approx(original["position"]["latitude"])


def test_a_report_waiting_when_the_sign_in_ends_is_sent_after_signing_in(phone: Phone) -> None:
    page = phone.page
    sign_in(phone)
    expired = create_access_token(
        user_id=phone.inspector.id,
        key=phone.key,
        ttl=timedelta(days=1),
        now=datetime.now(UTC) - timedelta(days=2),
    )
    phone.context.add_cookies(
        [{"name": "mp_session", "value": expired, "url": phone.site.url, "httpOnly": True}]
    )
    fill(phone)
    client_id = submit(phone)
    banner = page.locator("#banner a")
    expect(banner).to_contain_text("重新登录", timeout=20_000)
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "waiting")
    assert phone.stored(client_id) == []

    banner.click()
    page.fill("input[name=username]", INSPECTOR)
    page.fill("input[name=password]", DEMO_PASSWORDS[INSPECTOR])
    page.click("button[type=submit]")
    page.wait_for_url("**/m/")
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "sent", timeout=20_000)
    assert len(phone.stored(client_id)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_report_without_a_position_is_still_sent_and_flagged(
    browser, site: LiveServer, seeded: Database, settings
) -> None:
    phone = open_phone(browser, site, seeded, settings.signing_key())
    phone.context.clear_permissions()  # location refused
    page = phone.page
    try:
        page.goto("/m/signin")
        page.fill("input[name=username]", INSPECTOR)
        page.fill("input[name=password]", DEMO_PASSWORDS[INSPECTOR])
        page.click("button[type=submit]")
        expect(page.locator("#position")).to_contain_text("未能定位")
        fill(phone)
        client_id = submit(phone)
        expect(state_of(phone, client_id)).to_have_attribute("data-state", "sent", timeout=20_000)
        [stored] = phone.stored(client_id)
        assert stored.on_site is None and "no_position" in stored.flags
    finally:
        phone.context.close()
    assert not phone.errors, phone.errors


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_stale_csrf_token_is_renewed_and_the_report_sent(phone: Phone) -> None:
    """The browser dropped its CSRF seed cookie (cleared cookies, a new seed): the token the
    outbox kept no longer matches. Each sending run asks who is signed in first and takes a
    fresh token, so the report goes out at the first try, nothing refused."""
    sign_in(phone)
    phone.context.add_cookies([{"name": "mp_csrf", "value": "another-seed", "url": phone.site.url}])
    statuses: list[int] = []
    phone.page.on(
        "response", lambda r: statuses.append(r.status) if r.url.endswith("/inspections") else None
    )
    fill(phone)
    client_id = submit(phone)
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "sent", timeout=20_000)
    assert statuses == [201]
    assert len(phone.stored(client_id)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_report_goes_out_only_under_the_inspector_who_saved_it(phone: Phone) -> None:
    """Two inspectors share a phone: one saves a report with no signal and signs out; the
    other signs in. The report waits for its own inspector, then goes out under them."""
    page = phone.page
    sign_in(phone)
    phone.context.set_offline(True)
    fill(phone)
    client_id = submit(phone)
    # not sent yet, by the page or by its worker's Background Sync (blocked before the
    # signal returns: the page sends the moment it does)
    phone.context.route("**/api/v1/inspections", lambda route: route.abort())
    phone.context.set_offline(False)
    page.once("dialog", lambda dialog: dialog.accept())  # "reports are still waiting"
    page.click("#signout button")
    page.wait_for_url("**/m/signin?reason=signedout")
    phone.context.unroute("**/api/v1/inspections")
    page.fill("input[name=username]", "duanshi")
    page.fill("input[name=password]", DEMO_PASSWORDS["duanshi"])
    page.click("button[type=submit]")
    page.wait_for_url("**/m/")
    item = state_of(phone, client_id)
    expect(item).to_contain_text("另一位巡查员", timeout=20_000)
    expect(item).to_have_attribute("data-state", "waiting")
    assert phone.stored(client_id) == []

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#signout button")
    page.wait_for_url("**/m/signin?reason=signedout")
    page.fill("input[name=username]", INSPECTOR)
    page.fill("input[name=password]", DEMO_PASSWORDS[INSPECTOR])
    page.click("button[type=submit]")
    page.wait_for_url("**/m/")
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "sent", timeout=20_000)
    [stored] = phone.stored(client_id)
    assert stored.inspector_id == phone.inspector.id


# --- budgets, measured here and printed -----------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_first_load_is_small_over_the_wire(phone: Phone, record_property) -> None:
    token = create_access_token(
        user_id=phone.inspector.id,
        key=phone.key,
        ttl=timedelta(hours=1),
    )
    phone.context.add_cookies(
        [{"name": "mp_session", "value": token, "url": phone.site.url, "httpOnly": True}]
    )
    loads: list[tuple[str, int]] = []

    def count(request) -> None:
        if "/api/v1/map/" in request.url:
            return  # the facility list is not part of the page
        sizes = request.sizes()
        loads.append((request.url, sizes["responseBodySize"] + sizes["responseHeadersSize"]))

    phone.context.on("requestfinished", count)
    ready_page = phone.page
    ready_page.goto("/m/")
    ready(phone)
    ready_page.wait_for_load_state("networkidle")
    wire = sum(max(size, 0) for _, size in loads)
    # what the page is built from, as served gzipped (the worker's script included even
    # where the browser does not report its size)
    files = sum(len(a.gzipped or a.body) for a in phone_page.assets().values())
    report(
        record_property,
        f"first load of /m/: {wire / 1000:.1f} kB over the wire in {len(loads)} requests "
        f"(page, scripts, styles, manifest, icons, service worker; the facility list excluded); "
        f"all of the page's files gzipped: {files / 1000:.1f} kB (budget 100 kB)",
    )
    assert wire <= 100_000 and files <= 100_000


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_camera_photos_are_sent_ten_times_smaller(
    phone: Phone, tmp_path: Path, record_property
) -> None:
    page = phone.page
    sign_in(phone)
    originals = [camera_photo(tmp_path, f"IMG_000{n}.jpg") for n in range(1, 4)]
    sent: list[int] = []

    def measure(route) -> None:  # the multipart body of each photo upload, as sent
        sent.append(len(route.request.post_data_buffer or b""))
        route.continue_()

    page.route("**/api/v1/inspections/*/photos", measure)
    fill(phone, photos=originals)
    client_id = submit(phone)
    expect(state_of(phone, client_id)).to_have_attribute("data-state", "sent", timeout=40_000)
    [stored] = phone.stored(client_id)
    assert phone.photos_of(stored.id) == 3
    with phone.db.session(write=False) as session:
        sizes = session.execute(
            select(Photo.width, Photo.height).where(Photo.inspection_id == stored.id)
        ).all()
    assert all(max(w, h) == 1600 for w, h in sizes), sizes
    original_bytes = sum(p.stat().st_size for p in originals)
    ratio = original_bytes / sum(sent)
    report(
        record_property,
        f"3 camera photos (4000×3000): {original_bytes / 1e6:.1f} MB on the phone, "
        f"{sum(sent) / 1e6:.2f} MB sent — {ratio:.1f}× fewer (budget ≥ 10×)",
    )
    assert len(sent) == 3 and ratio >= 10


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_form_switches_to_english(phone: Phone) -> None:
    page = phone.page
    sign_in(phone)
    page.click(".lang-switch a[lang=en]")
    page.wait_for_url("**/m/")
    expect(page.locator("#report button[type=submit]")).to_have_text("Save and send")
    expect(page.locator("#position")).to_contain_text("Position found")
    assert not serious_accessibility_violations(page)
    screenshot(page, "phone-form-en")
