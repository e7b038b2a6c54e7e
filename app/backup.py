"""Backup and restore: the database and the photos in one tar archive with a manifest.

The database is copied as one consistent snapshot while the app keeps writing: SQLite
through its online backup API, PostgreSQL through ``pg_dump`` (custom format) reading a
snapshot exported from a transaction that also counts the rows. The photos backed up are
those the snapshot's rows name; the store writes a photo's files before its row commits,
so each is there. ``manifest.json`` holds the counts of every table, the ledger's sums,
the audit chain's head and the SHA-256 of the database dump and of every photo file.

A restore refuses a database that has tables or a photo store that has files, checks
every checksum before it writes anything, restores, and checks the counts again.
"""

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL, make_url

from app.audit import chain
from app.config import Settings
from app.db import make_engine
from app.models.base import utcnow
from app.photos.store import PhotoStore, StoredObject, photo_store_for

FORMAT = "memorial-patrol-backup"
VERSION = 1
MANIFEST = "manifest.json"
PHOTOS = "photos"
MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class RestoreResult:
    manifest: dict[str, Any]
    #: the restored database's audit chain, walked
    audit: chain.Verification


# --- reading a snapshot --------------------------------------------------------------------


def snapshot_figures(connection: Connection) -> dict[str, Any]:
    """Counts per table, ledger sums, the audit chain head and the photo keys, as the
    connection's transaction sees them."""
    if connection.dialect.name == "sqlite":
        tables = connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).scalars()
    else:
        tables = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
    names = sorted(tables)
    counts = {
        name: connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
        for name in names
    }
    figures: dict[str, Any] = {"counts": counts}
    if "alembic_version" in counts:
        figures["revision"] = connection.execute(
            text("SELECT version_num FROM alembic_version")
        ).scalar_one_or_none()
    if "ledger_entries" in counts:
        by_kind = connection.execute(
            text(
                "SELECT kind, count(*), sum(amount_fen) FROM ledger_entries"
                " GROUP BY kind ORDER BY kind"
            )
        ).all()
        totals = connection.execute(
            text(
                "SELECT coalesce(sum(allocated_fen), 0), coalesce(sum(committed_fen), 0),"
                " coalesce(sum(spent_fen), 0) FROM fund_accounts"
            )
        ).one()
        figures["ledger"] = {
            "by_kind": {kind: {"entries": n, "sum_fen": int(s)} for kind, n, s in by_kind},
            "sum_fen": sum(int(s) for _kind, _n, s in by_kind),
            "accounts": {
                "allocated_fen": int(totals[0]),
                "committed_fen": int(totals[1]),
                "spent_fen": int(totals[2]),
            },
        }
    if "audit_chain_head" in counts:
        head = connection.execute(text("SELECT last_hash, length FROM audit_chain_head")).first()
        figures["audit_chain"] = (
            None if head is None else {"last_hash": head.last_hash, "length": int(head.length)}
        )
    keys: set[str] = set()
    if "photos" in counts:
        for stored, thumbnail in connection.execute(
            text("SELECT stored_key, thumbnail_key FROM photos")
        ):
            keys.update((stored, thumbnail))
    figures["photo_keys"] = sorted(keys)
    return figures


def _compared(manifest: dict[str, Any], figures: dict[str, Any]) -> list[str]:
    differences = []
    for name, count in manifest["counts"].items():
        found = figures["counts"].get(name)
        if found != count:
            differences.append(f"table {name}: {found} rows, the backup had {count}")
    for key in ("ledger", "audit_chain"):
        if manifest.get(key) != figures.get(key):
            differences.append(f"{key}: {figures.get(key)}, the backup had {manifest.get(key)}")
    return differences


# --- files ---------------------------------------------------------------------------------


class _Hashing:
    """A file read through, hashing what passes (tarfile reads members through it)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.sha256.update(data)
        return data


def _safe_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if path.is_absolute() or ".." in path.parts or "\\" in key or not path.parts:
        raise BackupError(f"Refusing a photo key that leaves the photo store: {key!r}")
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(target: Path, source: IO[bytes]) -> str:
    """Write ``source`` to ``target`` aside, flushed, then renamed; its SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".restore-")
    try:
        with os.fdopen(fd, "wb") as handle:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest.hexdigest()


# --- PostgreSQL tools ----------------------------------------------------------------------


def _tool(name: str, given: str | None) -> str:
    found = shutil.which(given or name)
    if found is None:
        raise BackupError(
            f"{given or name} was not found: install the PostgreSQL client tools of the"
            f" server's major version (Debian: apt-get install postgresql-client-15) or give"
            f" its path with --{name.replace('_', '-')}"
        )
    return found


def _tool_major(path: str) -> int:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackupError(f"{path} --version failed: {exc}") from None
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    if match is None:
        raise BackupError(f"{path} does not look like a PostgreSQL tool: {out.strip()!r}")
    return int(match.group(1))


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for ``url`` (password in the environment, not argv)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()}")


# --- backup --------------------------------------------------------------------------------


def backup(*, settings: Settings, target: Path, pg_dump: str | None = None) -> dict[str, Any]:
    """Write the database and its photos to the archive ``target``; the manifest."""
    target = target.resolve()
    if target.exists():
        raise BackupError(f"{target} already exists: give the backup a new name")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory")
    url = make_url(settings.database_url)
    dialect = url.get_backend_name()
    if dialect not in MEMBERS:
        raise BackupError(f"Cannot back up a {dialect} database (SQLite or PostgreSQL only)")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".backup-") as work:
        dump = Path(work) / MEMBERS[dialect]
        if dialect == "sqlite":
            figures, database = _dump_sqlite(url, dump)
        else:
            figures, database = _dump_postgresql(url, dump, pg_dump)
        partial = Path(work) / "archive.tar"
        store = photo_store_for(settings)
        manifest = _write_archive(partial, store, dump, figures, database)
        partial.chmod(0o600)  # password hashes and personal data: for its owner only
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
        _fsync_dir(target.parent)
    return manifest


def _dump_sqlite(url: URL, dump: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    import sqlite3

    path = url.database
    if not path or path == ":memory:" or not Path(path).exists():
        raise BackupError(f"No SQLite database at {path!r}")
    source = sqlite3.connect(path, timeout=30)
    copy = sqlite3.connect(dump)
    try:
        # One step: the whole database from one read snapshot, while writers go on (WAL).
        source.backup(copy)
        # a self-contained file in the archive (no -wal beside it); the app sets WAL again
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        source.close()
    engine = create_engine(f"sqlite:///file:{dump}?mode=ro&uri=true")
    try:
        with engine.connect() as connection:
            figures = snapshot_figures(connection)
            version = connection.exec_driver_sql("SELECT sqlite_version()").scalar_one()
    finally:
        engine.dispose()
    return figures, {"dialect": "sqlite", "sqlite_version": version}


def _dump_postgresql(
    url: URL, dump: Path, pg_dump: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    tool = _tool("pg_dump", pg_dump)
    tool_major = _tool_major(tool)
    engine = make_engine(url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    try:
        repeatable = engine.execution_options(isolation_level="REPEATABLE READ")
        with repeatable.connect() as connection, connection.begin():
            server = int(connection.execute(text("SHOW server_version_num")).scalar_one())
            if tool_major < server // 10000:
                raise BackupError(
                    f"{tool} is version {tool_major} but the server runs PostgreSQL"
                    f" {server // 10000}: pg_dump must be at least the server's version"
                    f" (install postgresql-client-{server // 10000} or pass --pg-dump)"
                )
            # pg_dump reads the very snapshot the figures below are counted in.
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            figures = snapshot_figures(connection)
            conninfo, env = _libpq(url)
            _run(
                [
                    tool,
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--file={dump}",
                    f"--dbname={conninfo}",
                ],
                env,
                "pg_dump",
            )
    finally:
        engine.dispose()
    return figures, {
        "dialect": "postgresql",
        "server_version_num": server,
        "pg_dump_major": tool_major,
    }


def _write_archive(
    archive: Path,
    store: PhotoStore,
    dump: Path,
    figures: dict[str, Any],
    database: dict[str, Any],
) -> dict[str, Any]:
    files: dict[str, str] = {}
    missing: list[str] = []
    total = 0
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        database["member"] = dump.name
        database["sha256"], database["bytes"] = _add(tar, dump, dump.name)
        for key in figures["photo_keys"]:
            stored = store.open(_safe_key(key).as_posix())
            if stored is None:
                missing.append(key)
                continue
            files[key] = _add_photo(tar, stored, f"{PHOTOS}/{key}")
            total += stored.size
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": utcnow().isoformat(),
            "revision": figures.get("revision"),
            "database": database,
            "counts": figures["counts"],
            "ledger": figures.get("ledger"),
            "audit_chain": figures.get("audit_chain"),
            "photos": {"count": len(files), "bytes": total, "sha256": files},
            "photos_missing": missing,
        }
        body = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(body)
        info.mtime = int(utcnow().timestamp())
        tar.addfile(info, io.BytesIO(body))
    return manifest


def _add(tar: tarfile.TarFile, source: Path, name: str) -> tuple[str, int]:
    info = tar.gettarinfo(str(source), arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    with open(source, "rb") as handle:
        reader = _Hashing(handle)
        tar.addfile(info, reader)
    return reader.sha256.hexdigest(), info.size


def _add_photo(tar: tarfile.TarFile, stored: StoredObject, name: str) -> str:
    """Add a photo read from the store (a directory or an object store); its SHA-256."""
    info = tarfile.TarInfo(name)
    info.size = stored.size
    info.mode = 0o644
    info.mtime = int(utcnow().timestamp())
    reader = _Hashing(_ChunkReader(stored.chunks))
    tar.addfile(info, reader)
    return reader.sha256.hexdigest()


class _ChunkReader:
    """A file over the chunks a store hands out: ``read(n)`` gives n bytes until the end."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        if size < 0:
            size = len(self.buffer)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


# --- restore -------------------------------------------------------------------------------


def restore(
    *,
    settings: Settings,
    source: Path,
    pg_restore: str | None = None,
) -> RestoreResult:
    """Restore the archive ``source`` into an empty database and photo store."""
    url = make_url(settings.database_url)
    dialect = url.get_backend_name()
    try:
        tar = tarfile.open(source, "r:")  # noqa: SIM115  (closed by the with below)
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{source} is not a backup archive: {exc}") from None
    with tar:
        manifest, members = _read_manifest(tar, source)
        if manifest["database"]["dialect"] != dialect:
            raise BackupError(
                f"This backup holds a {manifest['database']['dialect']} database; the target"
                f" (MEMORIAL_DATABASE_URL) is {dialect}"
            )
        tool = _tool("pg_restore", pg_restore) if dialect == "postgresql" else None
        store = photo_store_for(settings)
        _refuse_non_empty(url, store)
        _verify_checksums(tar, manifest, members)
        with tempfile.TemporaryDirectory(prefix=".restore-") as work:
            if dialect == "sqlite":
                _restore_sqlite(tar, members[manifest["database"]["member"]], url)
            else:
                assert tool is not None
                _restore_postgresql(tar, members[manifest["database"]["member"]], url, tool, work)
        for key, expected in manifest["photos"]["sha256"].items():
            member = tar.extractfile(members[f"{PHOTOS}/{key}"])
            assert member is not None
            data = member.read()  # one photo, at most 10 MiB
            # keys are content addresses: the store files the bytes under the same key
            written = store.put(data, suffix=PurePosixPath(key).suffix)
            if written != key or hashlib.sha256(data).hexdigest() != expected:
                raise BackupError(f"photo {key} was written with a different SHA-256")
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as connection, connection.begin():
            differences = _compared(manifest, snapshot_figures(connection))
        if differences:
            raise BackupError("Restored, but it differs from the backup: " + "; ".join(differences))
        audit = chain.verify_database(engine)
    finally:
        engine.dispose()
    return RestoreResult(manifest=manifest, audit=audit)


def _read_manifest(
    tar: tarfile.TarFile, source: Path
) -> tuple[dict[str, Any], dict[str, tarfile.TarInfo]]:
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        if not member.isfile() or member.name in members:
            raise BackupError(f"{source}: unexpected entry {member.name!r} in the archive")
        members[member.name] = member
    if MANIFEST not in members:
        raise BackupError(f"{source} has no {MANIFEST}: not a Memorial Patrol backup")
    handle = tar.extractfile(members[MANIFEST])
    assert handle is not None
    try:
        manifest = json.loads(handle.read())
    except ValueError as exc:
        raise BackupError(f"{source}: {MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{source} is not a Memorial Patrol backup")
    if manifest.get("version") != VERSION:
        raise BackupError(
            f"{source} is backup format {manifest.get('version')}; this version reads {VERSION}"
        )
    return manifest, members


def _refuse_non_empty(url: URL, store: PhotoStore) -> None:
    if next(iter(store.keys()), None) is not None:
        raise BackupError(
            f"The photo store {store.describe()} already holds files: restore only into an"
            " empty photo directory (MEMORIAL_PHOTO_DIR) or object store prefix"
            " (MEMORIAL_PHOTO_STORE)"
        )
    if url.get_backend_name() == "sqlite":
        path = url.database
        if not path or path == ":memory:":
            raise BackupError("Restore needs a SQLite database file, not an in-memory database")
        if Path(path).exists() and Path(path).stat().st_size > 0:
            raise BackupError(
                f"The database file {path} already exists: restore only into a new database"
                " (a path where no file is yet)"
            )
        for leftover in (Path(f"{path}-wal"), Path(f"{path}-journal")):
            if leftover.exists():  # SQLite would replay it into the restored file
                raise BackupError(
                    f"{leftover} is left from an earlier database: remove it, then restore"
                )
        return
    engine = make_engine(url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    try:
        with engine.connect() as connection:
            tables = connection.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar_one()
    except Exception as exc:  # any failure to connect: say which database
        raise BackupError(
            f"Cannot reach the database {url.database!r} to restore into (create it first:"
            f" createdb {url.database}): {exc.__class__.__name__}: {str(exc).strip()}"
        ) from None
    finally:
        engine.dispose()
    if tables:
        raise BackupError(
            f"The database {url.database!r} already has {tables} tables: restore only into a"
            f" new, empty database (createdb NEW_NAME, then point MEMORIAL_DATABASE_URL at it)"
        )


def _verify_checksums(
    tar: tarfile.TarFile, manifest: dict[str, Any], members: dict[str, tarfile.TarInfo]
) -> None:
    expected = {manifest["database"]["member"]: manifest["database"]["sha256"]}
    for key, digest in manifest["photos"]["sha256"].items():
        _safe_key(key)
        expected[f"{PHOTOS}/{key}"] = digest
    unlisted = sorted(set(members) - set(expected) - {MANIFEST})
    if unlisted:
        raise BackupError(f"The archive holds files its manifest does not list: {unlisted[:5]}")
    for name, digest in expected.items():
        if name not in members:
            raise BackupError(f"The archive lacks {name}, which its manifest lists")
        handle = tar.extractfile(members[name])
        assert handle is not None
        sha = hashlib.sha256()
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
        if sha.hexdigest() != digest:
            raise BackupError(
                f"The archive is damaged or was altered: {name} has SHA-256"
                f" {sha.hexdigest()}, its manifest says {digest}. Nothing was restored."
            )


def _restore_sqlite(tar: tarfile.TarFile, member: tarfile.TarInfo, url: URL) -> None:
    handle = tar.extractfile(member)
    assert handle is not None and url.database
    _write_file(Path(url.database), handle)
    _fsync_dir(Path(url.database).parent)


def _restore_postgresql(
    tar: tarfile.TarFile, member: tarfile.TarInfo, url: URL, tool: str, work: str
) -> None:
    handle = tar.extractfile(member)
    assert handle is not None
    dump = Path(work) / member.name
    _write_file(dump, handle)
    conninfo, env = _libpq(url)
    _run(
        [
            tool,
            "--exit-on-error",
            "--single-transaction",
            "--no-owner",
            "--no-privileges",
            f"--dbname={conninfo}",
            str(dump),
        ],
        env,
        "pg_restore",
    )
