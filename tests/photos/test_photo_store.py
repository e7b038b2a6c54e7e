"""The object store itself: its setting, idempotent puts, and an unreachable store answered
503 with Retry-After (the phone keeps the photo and sends it again), never a 500."""

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app import backup
from app.config import Settings
from app.main import create_app
from app.photos.store import LocalPhotoStore, S3PhotoStore, parse_s3_url
from tests import test_backup
from tests.conftest import make_settings
from tests.factories import World, report_body
from tests.photos.images import jpeg
from tests.s3 import S3Server


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("s3://memorial-photos", ("memorial-photos", "")),
        ("s3://memorial-photos/", ("memorial-photos", "")),
        ("s3://memorial.photos/qinshui/prod/", ("memorial.photos", "qinshui/prod/")),
    ],
)
def test_the_store_setting_names_a_bucket_and_a_prefix(url: str, parsed: tuple) -> None:
    assert parse_s3_url(url) == parsed


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("/var/photos", "expected s3://bucket/prefix"),
        ("https://minio.local/photos", "expected s3://bucket/prefix"),
        ("s3://", "is not a bucket name"),
        ("s3://Photos/x", "is not a bucket name"),
        ("s3://ab", "is not a bucket name"),
        ("s3://photos/a//b", "the prefix"),
        ("s3://photos/a b", "the prefix"),
    ],
)
def test_a_malformed_store_setting_stops_the_service_saying_why(
    value: str, said: str, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(data_dir=tmp_path, photo_store=value)
    assert "MEMORIAL_PHOTO_STORE" in str(refused.value)
    assert said in str(refused.value)


def test_the_local_directory_stays_the_default(tmp_path: Path) -> None:
    from app.photos.store import photo_store_for

    store = photo_store_for(Settings(data_dir=tmp_path))
    assert isinstance(store, LocalPhotoStore)
    assert store.root == tmp_path / "photos"


def test_the_same_bytes_again_are_not_sent_again(s3_server: S3Server) -> None:
    store = S3PhotoStore(*parse_s3_url(s3_server.new_store_url()), client=s3_server.client())
    puts: list[str] = []
    store.client.meta.events.register(
        "before-call.s3.PutObject", lambda params, **_: puts.append(params["url_path"])
    )
    data = jpeg()
    first = store.put(data, suffix=".jpg")
    again = store.put(data, suffix=".jpg")
    assert first == again
    assert len(puts) == 1
    stored = store.open(first)
    assert stored is not None and stored.size == len(data) and stored.read() == data
    assert store.open("00/00/nothing.jpg") is None
    assert list(store.keys()) == [first]


def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (connections are refused at once)."""
    with socket.create_server(("127.0.0.1", 0)) as listening:
        return listening.getsockname()[1]


def unreachable(store: S3PhotoStore) -> S3PhotoStore:
    """The same bucket and prefix, through an endpoint where no server answers."""
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        region_name="us-east-1",
        config=Config(connect_timeout=1, retries={"max_attempts": 1}),
    )
    return S3PhotoStore(store.bucket, store.prefix, client=client)


target_url = test_backup.target_url  # the fixture: an empty database to restore into


@pytest.fixture
def s3_settings(
    tmp_path: Path, database_url: str, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The test database's settings with the photos in an empty prefix of the S3 server."""
    for name, value in s3_server.environment.items():
        monkeypatch.setenv(name, value)
    return make_settings(tmp_path, database_url, photo_store=s3_server.new_store_url())


@pytest.fixture
def s3_app(s3_settings: Settings) -> Iterator[FastAPI]:
    application = create_app(s3_settings)
    yield application
    application.state.db.dispose()


def send_report_with_photo(client: TestClient, world: World, colour: tuple) -> tuple[int, dict]:
    """A report and one photo of it: the report's id, and the photo."""
    headers = world.headers("township")
    report = client.post("/api/v1/inspections", json=report_body(world.facility_a), headers=headers)
    photo = client.post(
        f"/api/v1/inspections/{report.json()['id']}/photos",
        files={"file": ("p.jpg", jpeg(colour=colour), "application/octet-stream")},
        headers=headers,
    )
    assert photo.status_code == 201, photo.text
    return report.json()["id"], photo.json()


def test_an_unreachable_object_store_is_503_with_retry_after(s3_app: FastAPI, world: World) -> None:
    headers = world.headers("township")
    with TestClient(s3_app) as client:
        report_id, photo = send_report_with_photo(client, world, (0, 0, 90))
        s3_app.state.photo_store = unreachable(s3_app.state.photo_store)
        refused = client.post(
            f"/api/v1/inspections/{report_id}/photos",
            files={"file": ("p.jpg", jpeg(colour=(0, 90, 0)), "application/octet-stream")},
            headers=headers | {"Accept-Language": "zh-CN"},
        )
        served = client.get(photo["url"], headers=headers)
        listed = client.get(f"/api/v1/inspections/{report_id}", headers=headers)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "10"
    assert "照片存储" in refused.json()["detail"]
    assert served.status_code == 503
    assert "cannot be reached" in served.json()["detail"]
    # the refused photo left no row behind: the phone sends it again later
    assert len(listed.json()["photos"]) == 1


def test_a_backup_of_an_object_store_restores_into_an_empty_one(
    s3_app: FastAPI,
    s3_settings: Settings,
    s3_server: S3Server,
    world: World,
    tmp_path: Path,
    target_url: str,
) -> None:
    with TestClient(s3_app) as client:
        for colour in [(90, 0, 0), (0, 90, 0)]:
            send_report_with_photo(client, world, colour)
    manifest = backup.backup(settings=s3_settings, target=tmp_path / "backup.tar")
    assert manifest["photos"]["count"] == 4 and manifest["photos_missing"] == []

    target = make_settings(tmp_path / "restored", target_url, photo_store=s3_server.new_store_url())
    backup.restore(settings=target, source=tmp_path / "backup.tar")
    restored = s3_server.objects(target.photo_store)
    assert {key: hashlib.sha256(data).hexdigest() for key, data in restored.items()} == (
        manifest["photos"]["sha256"]
    )
    # into a store that holds photos, never
    again = make_settings(tmp_path / "again", target_url, photo_store=target.photo_store)
    with pytest.raises(backup.BackupError, match="photo store s3://.* already holds files"):
        backup.restore(settings=again, source=tmp_path / "backup.tar")
