"""Photos: one per request, deduplicated by content, limits with clear answers, EXIF gone."""

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.config import Settings
from tests.concurrency import run_together
from tests.conftest import make_settings
from tests.factories import World, report_body
from tests.photos.images import encoded, jpeg, png_header_only
from tests.s3 import S3Server


@pytest.fixture
def settings(tmp_path: Path, database_url: str, photo_store: str) -> Settings:
    """Every test here runs against the photo directory and the object store alike."""
    return make_settings(tmp_path, database_url, photo_store=photo_store)


@pytest.fixture
def report(client: TestClient, world: World) -> dict:
    body = report_body(world.facility_a)
    return client.post("/api/v1/inspections", json=body, headers=world.headers("township")).json()


def upload(
    client: TestClient, world: World, report: dict, data: bytes, who: str = "township", name="p.jpg"
):
    return client.post(
        f"/api/v1/inspections/{report['id']}/photos",
        files={"file": (name, data, "application/octet-stream")},
        headers=world.headers(who),
    )


def test_a_photo_is_stored_with_its_exif_time_and_position(
    client: TestClient, world: World, report: dict
) -> None:
    data = jpeg(gps=(112.4, 35.683333), taken="2026:11:28 10:30:00")
    response = upload(client, world, report, data)
    assert response.status_code == 201, response.text
    photo = response.json()
    assert photo["content_type"] == "image/jpeg"
    assert (photo["width"], photo["height"]) == (200, 100)
    # no offset in the EXIF: read as county time (UTC+8)
    assert datetime.fromisoformat(photo["taken_at"]) == datetime(2026, 11, 28, 2, 30, tzinfo=UTC)
    assert photo["exif_position"] == pytest.approx(
        {"longitude": 112.4, "latitude": 35.683333}, abs=1e-5
    )
    assert photo["url"] == f"/api/v1/photos/{photo['id']}"
    import hashlib

    assert photo["sha256"] == hashlib.sha256(data).hexdigest()
    again = client.get(
        f"/api/v1/inspections/{report['id']}", headers=world.headers("county")
    ).json()
    assert [p["id"] for p in again["photos"]] == [photo["id"]]


def test_an_exif_offset_is_honoured(client: TestClient, world: World, report: dict) -> None:
    photo = upload(client, world, report, jpeg(taken="2026:11:28 10:30:00", offset="+00:00")).json()
    assert datetime.fromisoformat(photo["taken_at"]) == datetime(2026, 11, 28, 10, 30, tzinfo=UTC)


def test_the_served_photo_and_thumbnail_carry_no_exif(
    client: TestClient, world: World, report: dict
) -> None:
    photo = upload(client, world, report, jpeg()).json()
    served = client.get(photo["url"], headers=world.headers("township"))
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(served.content))
    assert dict(image.getexif()) == {}
    assert image.getexif().get_ifd(0x8825) == {}
    assert b"Exif" not in served.content[:4096]
    thumb = client.get(photo["thumbnail_url"], headers=world.headers("township"))
    thumbnail = Image.open(io.BytesIO(thumb.content))
    assert max(thumbnail.size) <= 320
    assert dict(thumbnail.getexif()) == {}


def test_exif_orientation_is_applied(client: TestClient, world: World, report: dict) -> None:
    photo = upload(client, world, report, jpeg(size=(200, 100), orientation=6)).json()
    assert (photo["width"], photo["height"]) == (100, 200)
    served = Image.open(
        io.BytesIO(client.get(photo["url"], headers=world.headers("county")).content)
    )
    assert served.size == (100, 200)


def test_a_large_photo_gets_a_320px_thumbnail(
    client: TestClient, world: World, report: dict
) -> None:
    photo = upload(client, world, report, jpeg(size=(1600, 1200), gps=None)).json()
    thumb = client.get(photo["thumbnail_url"], headers=world.headers("county"))
    assert Image.open(io.BytesIO(thumb.content)).size == (320, 240)


@pytest.mark.parametrize(("kind", "content_type"), [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_are_accepted(client, world, report, kind: str, content_type: str) -> None:
    response = upload(client, world, report, encoded(kind), name="photo.bin")
    assert response.status_code == 201
    assert response.json()["content_type"] == content_type


def test_the_same_bytes_again_return_the_same_photo(
    client: TestClient, world: World, report: dict
) -> None:
    data = jpeg()
    first = upload(client, world, report, data)
    second = upload(client, world, report, data)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()


def test_concurrent_retries_of_one_photo_store_it_once(app, world: World, report: dict) -> None:
    data = jpeg()
    results = run_together(app, [lambda client: upload(client, world, report, data)] * 5)
    assert sorted(r.status_code for r in results) == [200] * 4 + [201]
    with TestClient(app) as client:
        stored = client.get(f"/api/v1/inspections/{report['id']}", headers=world.headers("county"))
    assert len(stored.json()["photos"]) == 1


def stored_objects(settings: Settings, request: pytest.FixtureRequest) -> dict[str, bytes]:
    """Every object the test's photo store holds: its key and bytes."""
    if settings.photo_store:
        server: S3Server = request.getfixturevalue("s3_server")
        return server.objects(settings.photo_store)
    root = Path(settings.photo_path)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_photos_are_content_addressed_in_the_store(
    client: TestClient,
    world: World,
    report: dict,
    settings: Settings,
    request: pytest.FixtureRequest,
) -> None:
    upload(client, world, report, jpeg())
    objects = stored_objects(settings, request)
    assert len(objects) == 2  # the image and its thumbnail, and nothing half-written beside
    import hashlib

    for key, data in objects.items():
        digest = hashlib.sha256(data).hexdigest()
        assert key == f"{digest[:2]}/{digest[2:4]}/{digest}.jpg"


def test_a_photo_whose_object_is_gone_is_404_not_500(
    client: TestClient,
    world: World,
    report: dict,
    settings: Settings,
    request: pytest.FixtureRequest,
) -> None:
    photo = upload(client, world, report, jpeg()).json()
    store = client.app.state.photo_store  # type: ignore[attr-defined]
    if settings.photo_store:
        for key in stored_objects(settings, request):
            store.client.delete_object(Bucket=store.bucket, Key=store.prefix + key)
    else:
        for path in Path(settings.photo_path).rglob("*.jpg"):
            path.unlink()
    response = client.get(photo["url"], headers=world.headers("county"))
    assert response.status_code == 404
    assert "missing from the photo store" in response.json()["detail"]


# --- limits -------------------------------------------------------------------------------


def test_a_ninth_photo_is_409(client: TestClient, world: World, report: dict) -> None:
    for i in range(8):
        assert upload(client, world, report, jpeg(colour=(i * 20, 0, 0))).status_code == 201
    ninth = upload(client, world, report, jpeg(colour=(255, 255, 0)))
    assert ninth.status_code == 409
    assert "8 photos" in ninth.json()["detail"]
    # a retry of one already stored is still answered
    assert upload(client, world, report, jpeg(colour=(0, 0, 0))).status_code == 200


def test_over_10_mib_is_413(client: TestClient, world: World, report: dict) -> None:
    data = jpeg() + b"\x00" * (10 * 1024 * 1024)
    response = upload(client, world, report, data)
    assert response.status_code == 413
    assert "10 MiB" in response.json()["detail"]


def test_a_chunked_upload_over_the_limit_is_413_while_it_streams(
    client: TestClient, world: World, report: dict
) -> None:
    sent = 0

    def body():
        nonlocal sent
        boundary = b'--x\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n\r\n'
        yield boundary
        for _ in range(200):  # 200 × 64 KiB = 12.5 MiB, never all in memory at once
            sent += 65536
            yield b"\xff" * 65536
        yield b"\r\n--x--\r\n"

    response = client.post(
        f"/api/v1/inspections/{report['id']}/photos",
        content=body(),
        headers=world.headers("township") | {"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "data",
    [b"GIF89a" + b"\x00" * 100, b"%PDF-1.4 not a photo", b"", encoded("BMP"), encoded("TIFF")],
    ids=["gif", "pdf", "empty", "bmp", "tiff"],
)
def test_anything_but_jpeg_png_webp_is_415(
    client: TestClient, world: World, report: dict, data
) -> None:
    response = upload(client, world, report, data, name="photo.jpg")
    assert response.status_code == 415
    assert "JPEG, PNG or WebP" in response.json()["detail"]


@pytest.mark.parametrize("size", [(8000, 5001), (20000, 20000)], ids=["just-over", "bomb"])
def test_over_40_megapixels_is_422_before_decoding(
    client: TestClient, world: World, report: dict, size
) -> None:
    # the file claims the size but holds almost no pixels: only the header is read
    response = upload(client, world, report, png_header_only(*size), name="p.png")
    assert response.status_code == 422
    assert "megapixels" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    "data", [jpeg()[:300], b"\x89PNG\r\n\x1a\n" + b"junk" * 10], ids=["truncated-jpeg", "junk-png"]
)
def test_undecodable_images_are_422(client: TestClient, world: World, report: dict, data) -> None:
    response = upload(client, world, report, data)
    assert response.status_code == 422
    assert "could not be decoded" in response.json()["detail"][0]["msg"]


def test_a_missing_file_field_is_422(client: TestClient, world: World, report: dict) -> None:
    response = client.post(
        f"/api/v1/inspections/{report['id']}/photos",
        data={"other": "x"},
        headers=world.headers("township"),
    )
    assert response.status_code == 422


# --- who sees photos ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("township", 201), ("county", 201), ("admin", 201), ("other", 404), ("anonymous", 401)],
)
def test_uploading_is_scoped_to_the_reports_township(
    client: TestClient, world: World, report: dict, who: str, status: int
) -> None:
    assert upload(client, world, report, jpeg(), who=who).status_code == status


@pytest.mark.parametrize(
    ("who", "status"), [("township", 200), ("county", 200), ("other", 404), ("anonymous", 401)]
)
def test_serving_is_scoped_to_the_photos_township(
    client: TestClient, world: World, report: dict, who: str, status: int
) -> None:
    photo = upload(client, world, report, jpeg()).json()
    assert client.get(photo["url"], headers=world.headers(who)).status_code == status
    assert client.get(photo["thumbnail_url"], headers=world.headers(who)).status_code == status


def test_photos_are_cached_by_etag(client: TestClient, world: World, report: dict) -> None:
    photo = upload(client, world, report, jpeg()).json()
    first = client.get(photo["url"], headers=world.headers("county"))
    assert "immutable" in first.headers["cache-control"]
    assert first.headers["cache-control"].startswith("private")
    etag = first.headers["etag"]
    again = client.get(photo["url"], headers=world.headers("county") | {"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_a_missing_photo_is_404(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/photos/999", headers=world.headers("admin")).status_code == 404


def test_a_jpeg_comment_does_not_survive(client: TestClient, world: World, report: dict) -> None:
    image = Image.new("RGB", (40, 30), "blue")
    out = io.BytesIO()
    image.save(out, "JPEG", comment=b"owner: Zhang San 13800000000")
    assert b"Zhang San" in out.getvalue()
    photo = upload(client, world, report, out.getvalue()).json()
    for url in (photo["url"], photo["thumbnail_url"]):
        served = client.get(url, headers=world.headers("county")).content
        assert b"Zhang San" not in served
        assert "comment" not in Image.open(io.BytesIO(served)).info


def test_a_camera_clock_at_year_one_leaves_taken_at_empty(
    client: TestClient, world: World, report: dict
) -> None:
    response = upload(client, world, report, jpeg(taken="0001:01:01 00:00:00"))
    assert response.status_code == 201
    assert response.json()["taken_at"] is None
    far = upload(
        client,
        world,
        report,
        jpeg(taken="9999:12:31 23:59:59", offset="-12:00", colour=(0, 200, 0)),
    )
    assert far.status_code == 201 and far.json()["taken_at"] is None


def test_malformed_exif_does_not_stop_the_photo(
    client: TestClient, world: World, report: dict
) -> None:
    """A tag stored with the wrong type, and an orientation: the fuzzer's crash, now fine."""
    import struct

    ifd = struct.pack("<H", 2) + struct.pack("<HHI4s", 258, 2, 4, b"abc\0")
    ifd += struct.pack("<HHIHH", 274, 3, 1, 6, 0) + b"\0" * 4
    out = io.BytesIO()
    Image.new("RGB", (8, 4)).save(out, "JPEG", exif=b"Exif\0\0II*\0\x08\0\0\0" + ifd)
    response = upload(client, world, report, out.getvalue())
    assert response.status_code == 201, response.text
    assert (response.json()["width"], response.json()["height"]) == (4, 8)  # orientation 6 applied
