"""The plate sheet: ``GET /api/v1/exports/plates.pdf`` prints a township's plates on A4
label paper; every QR code read back from the rendered page is the URL of one plate."""

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas

from app.main import create_app
from app.models import FacilityStatus, Role, Township
from app.pdf import font_name
from app.plates import codes, sheet
from tests import factories
from tests.conftest import make_settings
from tests.factories import World

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
PUBLIC_URL = "https://patrol.example.gov.cn"
PATH = "/api/v1/exports/plates.pdf"
ZH = {"Accept-Language": "zh-CN"}

needs_poppler_and_zbar = pytest.mark.skipif(
    not (shutil.which("pdftoppm") and shutil.which("zbarimg")),
    reason="Debian poppler-utils and zbar-tools",
)


@pytest.fixture
def plates_app(tmp_path: Path, database_url: str):
    application = create_app(make_settings(tmp_path, database_url, public_url=PUBLIC_URL))
    yield application
    application.state.db.dispose()


@pytest.fixture
def plates(plates_app: FastAPI):
    """Township A with 12 active sites (two pages of labels) and an archived one."""
    db, settings = plates_app.state.db, plates_app.state.settings
    world = factories.make_world(db, settings)
    names = ["王家庄烈士墓", "土沃乡革命烈士纪念碑", "端氏河畔无名烈士墓", "嘉峰烈士陵园纪念亭"]
    with db.begin() as session:
        township = session.get(Township, world.township_a.id)
        for i in range(11):
            factories.make_facility(
                session, township=township, code=f"A-1{i:02d}", name=f"{names[i % 4]}{i}"
            )
        archived = factories.make_facility(
            session, township=township, code="A-999", name="已归档烈士墓",
            status=FacilityStatus.archived,
        )  # fmt: skip
    with TestClient(plates_app) as client:
        yield client, world, archived.id


def _ids_of_township(client: TestClient, world: World) -> list[int]:
    answer = client.get(
        "/api/v1/facilities",
        params={"township_id": world.township_a.id, "limit": 100, "status": "active"},
        headers=world.headers("admin"),
    )
    return [item["id"] for item in answer.json()["items"]]


def _rendered_codes(pdf: bytes, name: str) -> list[str]:
    """Render every page at 300 dpi into tests/artifacts/ and read every QR code back."""
    ARTIFACTS.mkdir(exist_ok=True)
    source = ARTIFACTS / f"{name}.pdf"
    source.write_bytes(pdf)
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-r", "300", "-png", str(source), str(ARTIFACTS / name)], check=True
    )
    pages = sorted(ARTIFACTS.glob(f"{name}-*.png"))
    assert pages
    found: list[str] = []
    for page in pages:
        result = subprocess.run(
            ["zbarimg", "--raw", "-q", str(page)], capture_output=True, text=True, check=False
        )
        found += [line for line in result.stdout.splitlines() if line]
    return found


@needs_poppler_and_zbar
def test_a_townships_plates_read_back_to_their_urls(plates, database_url: str) -> None:
    client, world, archived = plates
    response = client.get(
        PATH, params={"township_id": world.township_a.id}, headers=world.headers("county")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    ids = _ids_of_township(client, world)
    assert len(ids) == 12 and archived not in ids  # facility_a and the eleven
    expected = {f"{PUBLIC_URL}/f/{codes.encode(i)}" for i in ids}

    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 2  # 10 labels a page
    text = "".join(page.extract_text() for page in reader.pages)
    for i in ids:
        assert codes.encode(i) in text
    for shown in (
        "王家庄烈士墓0",
        "土沃乡革命烈士纪念碑1",
        "嘉峰烈士陵园纪念亭3",
        "A-103",
        "龙港镇",
    ):
        assert shown in text
    assert "扫码查看烈士事迹" in text and "巡查人员扫码上报" in text
    assert "已归档烈士墓" not in text and "B-001" not in text

    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    found = _rendered_codes(response.content, f"plates_{backend}")
    assert sorted(found) == sorted(expected)  # each exactly once


def test_only_the_facilities_asked_for(plates) -> None:
    client, world, archived = plates
    wanted = [archived, world.facility_a.id]  # an archived site prints when named
    response = client.get(PATH, params={"facility_id": wanted}, headers=world.headers("admin"))
    assert response.status_code == 200, response.text
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert codes.encode(archived) in text and codes.encode(world.facility_a.id) in text
    assert "王家庄烈士墓0" not in text
    assert text.index(codes.encode(archived)) < text.index(codes.encode(world.facility_a.id))


def test_a_township_user_prints_their_own_township_only(plates) -> None:
    client, world, _archived = plates
    own = client.get(PATH, headers=world.headers("township"))
    assert own.status_code == 200, own.text
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(own.content)).pages)
    assert codes.encode(world.facility_a.id) in text and "龙港镇" in text
    assert codes.encode(world.facility_b.id) not in text

    other = world.headers("other")
    assert (
        client.get(PATH, params={"township_id": world.township_a.id}, headers=other).status_code
        == 404
    )
    named = client.get(PATH, params={"facility_id": world.facility_a.id}, headers=other)
    assert named.status_code == 404
    assert named.json()["detail"] == f"Facility {world.facility_a.id} not found"
    # a facility of another township than the one named is not on that township's sheet
    mixed = client.get(
        PATH,
        params={"township_id": world.township_a.id, "facility_id": world.facility_b.id},
        headers=world.headers("admin"),
    )
    assert mixed.status_code == 404


def test_staff_name_a_township_or_facilities(plates) -> None:
    client, world, _archived = plates
    response = client.get(PATH, headers=world.headers("county") | ZH)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "township_id"]
    assert "township_id" in error["msg"] and "乡镇" in error["msg"]
    too_many = client.get(
        PATH, params={"facility_id": list(range(1, 502))}, headers=world.headers("county")
    )
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["query", "facility_id"]
    assert client.get(PATH, params={"township_id": world.township_a.id}).status_code == 401


def test_staff_of_another_county_do_not_see_the_township(plates_app: FastAPI, plates) -> None:
    client, world, _archived = plates
    with plates_app.state.db.begin() as session:
        stranger = factories.make_user(session, role=Role.county)
        stranger.division_code = "140522"
    headers = factories.auth(plates_app.state.settings, stranger)
    response = client.get(PATH, params={"township_id": world.township_a.id}, headers=headers | ZH)
    assert response.status_code == 404
    assert "乡镇" in response.json()["detail"]


def test_without_a_public_url_the_plates_print_the_address_asked_on(
    client: TestClient, world: World
) -> None:
    response = client.get(
        PATH, params={"township_id": world.township_a.id}, headers=world.headers("admin")
    )
    assert response.status_code == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert f"testserver/f/{codes.encode(world.facility_a.id)}" in text


def test_a_township_that_does_not_exist_is_a_404(plates) -> None:
    client, world, _archived = plates
    response = client.get(PATH, params={"township_id": 99_999}, headers=world.headers("admin") | ZH)
    assert response.status_code == 404
    assert "99999" in response.json()["detail"]


def test_in_production_plates_need_the_public_url(tmp_path: Path, database_url: str) -> None:
    """Plates are fixed to graves for years: in production they never print the address a
    request came in on (behind a proxy, an internal one)."""
    settings = make_settings(tmp_path, database_url, cookie_secure=False).model_copy(
        update={"env": "production"}
    )
    application = create_app(settings)
    try:
        world = factories.make_world(application.state.db, settings)
        with TestClient(application) as client:
            params = {"township_id": world.township_a.id}
            refused = client.get(PATH, params=params, headers=world.headers("admin") | ZH)
            book = client.get(
                f"/api/v1/exports/township/{world.township_a.id}.pdf",
                headers=world.headers("admin"),
            )
            page = client.get(
                f"/api/v1/exports/facility/{world.facility_a.id}.pdf",
                headers=world.headers("admin"),
            )
    finally:
        application.state.db.dispose()
    assert refused.status_code == book.status_code == page.status_code == 409
    assert "MEMORIAL_PUBLIC_URL" in refused.json()["detail"]


def test_an_empty_township_prints_a_page_that_says_so(client: TestClient, world: World, db) -> None:
    with db.begin() as session:
        empty = factories.make_township(session, name="空白乡")
    response = client.get(PATH, params={"township_id": empty.id}, headers=world.headers("admin"))
    assert response.status_code == 200
    [page] = PdfReader(io.BytesIO(response.content)).pages
    assert "没有要打印的设施" in page.extract_text()


@needs_poppler_and_zbar
def test_draw_plates_leaves_the_canvas_on_a_fresh_page(tmp_path: Path) -> None:
    """The township's book calls it after its own pages: they stay, the plates follow."""

    class Site:
        def __init__(self, i: int) -> None:
            self.id, self.township_id, self.name, self.code = i, 7, f"烈士墓{i}", f"C-{i}"

    labels = sheet.labels_for([Site(i) for i in (3, 5, 11)], {7: "嘉峰镇"}, "http://h.example/")
    assert [label.url for label in labels] == [
        f"http://h.example/f/{codes.encode(i)}" for i in (3, 5, 11)
    ]
    out = io.BytesIO()
    canvas = Canvas(out)
    canvas.drawString(100, 100, "cover")
    canvas.showPage()
    sheet.draw_plates(canvas, labels, font_name())
    canvas.save()  # nothing drawn since the last showPage(): no blank page added
    reader = PdfReader(io.BytesIO(out.getvalue()))
    assert len(reader.pages) == 2
    assert "嘉峰镇" in reader.pages[1].extract_text()
    pdf = tmp_path / "book.pdf"
    pdf.write_bytes(out.getvalue())
    subprocess.run(
        ["pdftoppm", "-r", "300", "-png", "-f", "2", str(pdf), str(tmp_path / "p")], check=True
    )
    [png] = tmp_path.glob("p-*.png")
    result = subprocess.run(["zbarimg", "--raw", "-q", str(png)], capture_output=True, text=True)
    assert sorted(result.stdout.split()) == sorted(label.url for label in labels)
