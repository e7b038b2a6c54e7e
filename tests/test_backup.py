"""`memorial backup` takes one consistent snapshot of the database and its photos while
reports keep coming in; `memorial restore` puts it back into an empty database and photo
store, and refuses a target that holds data or an archive that was altered."""

import hashlib
import io
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from app import backup
from app.cli import cli
from app.config import Settings
from app.db import make_engine
from tests.conftest import POSTGRES_URL, make_settings, postgresql_only
from tests.factories import World, report_body
from tests.funds.helpers import allocate, open_order
from tests.photos.images import jpeg


@pytest.fixture
def target_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database of the same kind as the app's, to restore into."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'memorial.db'}"
        return
    assert POSTGRES_URL
    name = f"memorial_restore_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def restored_settings(tmp_path: Path, url: str) -> Settings:
    return make_settings(tmp_path / "restored", url)  # photos in restored/photos


def submit_with_photo(client: TestClient, world: World, n: int) -> None:
    report = client.post(
        "/api/v1/inspections", json=report_body(world.facility_a), headers=world.headers("township")
    )
    assert report.status_code == 201, report.text
    photo = client.post(
        f"/api/v1/inspections/{report.json()['id']}/photos",
        files={"file": ("p.jpg", jpeg(size=(64 + n % 50, 48)), "application/octet-stream")},
        headers=world.headers("township"),
    )
    assert photo.status_code == 201, photo.text


def live_figures(url: str) -> dict:
    engine = make_engine(url)
    try:
        with engine.connect() as connection, connection.begin():
            return backup.snapshot_figures(connection)
    finally:
        engine.dispose()


def sha256_of_files(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


@pytest.fixture
def archive_of(
    client: TestClient, world: World, settings: Settings, tmp_path: Path
) -> Iterator[Path]:
    """A backup of a database with funds, an order, reports and photos."""
    allocate(client, world, 1_000_000)
    open_order(client, world, planned_cost_fen=250_000)
    for n in range(3):
        submit_with_photo(client, world, n)
    path = tmp_path / "backup.tar"
    backup.backup(settings=settings, target=path)
    yield path


def test_a_backup_taken_while_reports_arrive_restores_to_its_own_snapshot(
    client: TestClient, world: World, settings: Settings, tmp_path: Path, target_url: str
) -> None:
    allocate(client, world, 1_000_000)
    open_order(client, world, planned_cost_fen=250_000)
    for n in range(3):
        submit_with_photo(client, world, n)

    stop, written, failures = threading.Event(), [0], []

    def keep_reporting() -> None:
        try:
            while not stop.is_set():
                submit_with_photo(client, world, 100 + written[0])
                written[0] += 1
        except BaseException as exc:  # reported below, so a failure is not lost
            failures.append(exc)

    writer = threading.Thread(target=keep_reporting)
    writer.start()
    try:
        while written[0] < 2 and writer.is_alive():  # the backup starts mid-stream
            threading.Event().wait(0.01)
        path = tmp_path / "backup.tar"
        manifest = backup.backup(settings=settings, target=path)
        during = written[0]
        while written[0] < during + 2 and writer.is_alive():  # and the stream goes on after
            threading.Event().wait(0.01)
    finally:
        stop.set()
        writer.join()
    assert failures == []
    assert manifest["counts"]["inspections"] >= 5
    # the app kept writing after the snapshot: the live database is ahead of the backup
    assert (
        live_figures(settings.database_url)["counts"]["inspections"]
        > (manifest["counts"]["inspections"])
    )

    target = restored_settings(tmp_path, target_url)
    result = backup.restore(settings=target, source=path)

    restored = live_figures(target_url)
    assert restored["counts"] == manifest["counts"]
    assert restored["ledger"] == manifest["ledger"]
    assert restored["ledger"]["sum_fen"] == 1_000_000  # the allocation (the order is planned)
    assert restored["audit_chain"] == manifest["audit_chain"]
    assert result.audit.intact and result.audit.entries == manifest["audit_chain"]["length"]
    assert sha256_of_files(target.photo_path) == manifest["photos"]["sha256"]
    assert sorted(manifest["photos"]["sha256"]) == restored["photo_keys"]
    assert manifest["photos_missing"] == []


def test_restore_refuses_a_database_that_has_tables(
    archive_of: Path, settings: Settings, tmp_path: Path
) -> None:
    target = make_settings(tmp_path / "t", settings.database_url)  # photos: an empty t/photos
    with pytest.raises(backup.BackupError, match="already"):
        backup.restore(settings=target, source=archive_of)
    assert not target.photo_path.exists()


def test_restore_refuses_a_photo_store_that_has_files(
    archive_of: Path, tmp_path: Path, target_url: str
) -> None:
    target = restored_settings(tmp_path, target_url)
    (target.photo_path / "ab").mkdir(parents=True)
    (target.photo_path / "ab" / "old.jpg").write_bytes(b"x")
    with pytest.raises(backup.BackupError, match="photo store .* already holds files"):
        backup.restore(settings=target, source=archive_of)
    assert live_figures(target_url)["counts"] == {}


def _altered(archive: Path, tmp_path: Path, member_prefix: str) -> Path:
    """A copy of ``archive`` with one byte changed in the first member named so."""
    altered = tmp_path / "altered.tar"
    with tarfile.open(archive) as source, tarfile.open(altered, "w") as copy:
        done = False
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if not done and member.name.startswith(member_prefix):
                data = data[:-1] + bytes([data[-1] ^ 1])
                done = True
            copy.addfile(member, io.BytesIO(data))
    assert done
    return altered


@pytest.mark.parametrize("member", ["photos/", "database."])
def test_restore_refuses_an_altered_archive_and_writes_nothing(
    archive_of: Path, tmp_path: Path, target_url: str, member: str
) -> None:
    target = restored_settings(tmp_path, target_url)
    with pytest.raises(backup.BackupError, match=f"altered: {member}.*Nothing was restored"):
        backup.restore(settings=target, source=_altered(archive_of, tmp_path, member))
    assert live_figures(target_url)["counts"] == {}
    assert not target.photo_path.exists()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_restore_refuses_a_sqlite_path_with_an_old_wal_beside_it(
    archive_of: Path, tmp_path: Path, target_url: str
) -> None:
    target = restored_settings(tmp_path, target_url)
    wal = Path(f"{make_url(target_url).database}-wal")
    wal.parent.mkdir(parents=True)
    wal.write_bytes(b"stale")
    with pytest.raises(backup.BackupError, match="left from an earlier database"):
        backup.restore(settings=target, source=archive_of)


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path, target_url: str) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar file at all" * 100)
    with pytest.raises(backup.BackupError, match="not a backup archive"):
        backup.restore(settings=restored_settings(tmp_path, target_url), source=junk)


def test_backup_and_restore_from_the_command_line(
    client: TestClient,
    world: World,
    settings: Settings,
    tmp_path: Path,
    target_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submit_with_photo(client, world, 1)
    path = tmp_path / "cli-backup.tar"
    monkeypatch.setenv("MEMORIAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MEMORIAL_PHOTO_DIR", str(settings.photo_path))
    monkeypatch.setenv("MEMORIAL_DATA_DIR", str(tmp_path))
    made = CliRunner().invoke(cli, ["backup", str(path)])
    assert made.exit_code == 0, made.output
    assert "inspections" in made.output and "2 photo files" in made.output
    again = CliRunner().invoke(cli, ["backup", str(path)])
    assert again.exit_code == 1 and "already exists" in again.output

    monkeypatch.setenv("MEMORIAL_DATABASE_URL", target_url)
    monkeypatch.setenv("MEMORIAL_PHOTO_DIR", str(tmp_path / "restored-photos"))
    restored = CliRunner().invoke(cli, ["restore", str(path)])
    assert restored.exit_code == 0, restored.output
    assert "Restored" in restored.output and "audit chain is intact" in restored.output
    refused = CliRunner().invoke(cli, ["restore", str(path)])
    assert refused.exit_code == 1 and "already" in refused.output


@postgresql_only
def test_backup_names_a_missing_pg_dump(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(backup.BackupError, match="was not found: install the PostgreSQL client"):
        backup.backup(settings=settings, target=tmp_path / "b.tar", pg_dump="/nonexistent/pg_dump")


@postgresql_only
def test_backup_refuses_a_pg_dump_older_than_the_server(settings: Settings, tmp_path: Path):
    old = tmp_path / "pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    old.chmod(0o755)
    with pytest.raises(backup.BackupError, match="version 9 but the server runs PostgreSQL"):
        backup.backup(settings=settings, target=tmp_path / "b.tar", pg_dump=str(old))
    assert not (tmp_path / "b.tar").exists()
