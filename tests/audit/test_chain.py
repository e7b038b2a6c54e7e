"""The audit log is a hash chain: an entry edited or deleted behind the app's back is
found at the row where it happened, and concurrent writers never fork the chain."""

import logging
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from typer.testing import CliRunner

from app import migrate
from app.audit import chain
from app.cli import cli
from app.config import Settings
from app.db import Database, make_engine
from app.models import AuditEntry
from tests.concurrency import run_together
from tests.conftest import make_settings, postgresql_only
from tests.factories import World
from tests.test_migrations import empty_database  # noqa: F401  (fixture, both databases)


def rename(client: TestClient, world: World, n: int, who: str = "county") -> None:
    facility = world.facility_a if n % 2 else world.facility_b
    response = client.patch(
        f"/api/v1/facilities/{facility.id}", json={"name": f"烈士墓{n}"}, headers=world.headers(who)
    )
    assert response.status_code == 200, response.text


def audit_ids(db: Database) -> list[int]:
    with db.engine.connect() as connection:
        return list(connection.execute(text("SELECT id FROM audit_log ORDER BY id")).scalars())


def audit_hashes(db: Database) -> list[str]:
    with db.engine.connect() as connection:
        return list(
            connection.execute(text("SELECT entry_hash FROM audit_log ORDER BY id")).scalars()
        )


def tamper(db: Database, statement: str, params: dict | None = None) -> None:
    """Run ``statement`` as someone with the database's own rights would: round the
    append-only triggers of the log and its head (PostgreSQL: a superuser's replica mode;
    SQLite: drop them)."""
    with db.engine.begin() as connection:
        if db.dialect == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for trigger in GUARDS:
                connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        connection.execute(text(statement), params or {})


#: SQLite's triggers that refuse to rewrite the log or its head
GUARDS = (
    "audit_log_no_update",
    "audit_log_no_delete",
    "audit_chain_head_no_delete",
    "audit_chain_head_forward",
)


def head(db: Database) -> tuple[str, int] | None:
    with db.engine.connect() as connection:
        row = connection.execute(text("SELECT last_hash, length FROM audit_chain_head")).first()
    return None if row is None else (row.last_hash, row.length)


def facility_name(client: TestClient, world: World) -> str:
    response = client.get(
        f"/api/v1/facilities/{world.facility_a.id}", headers=world.headers("county")
    )
    return response.json()["name"]


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("MEMORIAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MEMORIAL_DATA_DIR", str(tmp_path))
    return CliRunner()


def test_every_entry_links_to_the_one_before(client: TestClient, world: World, db: Database):
    for n in range(5):
        rename(client, world, n)
    with db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT prev_hash, entry_hash FROM audit_log ORDER BY id")
        ).all()
    assert len(rows) >= 5
    assert rows[0].prev_hash == chain.GENESIS
    assert all(
        later.prev_hash == earlier.entry_hash
        for earlier, later in zip(rows, rows[1:], strict=False)
    )
    result = chain.verify_database(db.engine)
    assert (result.intact, result.entries, result.last_hash) == (True, len(rows), rows[-1][1])


def test_the_audit_api_shows_each_entrys_hashes(client: TestClient, world: World) -> None:
    rename(client, world, 1)
    rename(client, world, 2)
    newest, older = client.get("/api/v1/audit", headers=world.headers("county")).json()["items"][:2]
    assert newest["prev_hash"] == older["entry_hash"]
    assert len(newest["entry_hash"]) == 64


def test_audit_verify_reports_an_intact_chain_and_its_length(
    cli_env: CliRunner, client: TestClient, world: World, db: Database
) -> None:
    for n in range(3):
        rename(client, world, n)
    result = cli_env.invoke(cli, ["audit-verify"])
    assert result.exit_code == 0, result.output
    assert f"intact: {len(audit_ids(db))} entries" in result.output


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor_username", "'admin'"),
        ("after", """'{"name": "别的名字"}'"""),
        ("at", "'2020-01-01 00:00:00'"),
        ("object_id", "'999'"),
    ],
)
def test_an_entry_edited_behind_the_apps_back_is_caught_at_that_row(
    cli_env: CliRunner, client: TestClient, world: World, db: Database, column: str, value: str
) -> None:
    for n in range(5):
        rename(client, world, n)
    victim = audit_ids(db)[2]
    tamper(db, f"UPDATE audit_log SET {column} = {value} WHERE id = :id", {"id": victim})

    broken = chain.verify_database(db.engine).broken
    assert broken is not None
    assert (broken.row_id, broken.kind) == (victim, "content changed")
    result = cli_env.invoke(cli, ["audit-verify"])
    assert result.exit_code == 1
    assert f"row {victim}: content changed" in result.output


def test_an_edit_with_a_recomputed_hash_is_caught_at_the_next_row(
    client: TestClient, world: World, db: Database
) -> None:
    for n in range(4):
        rename(client, world, n)
    ids = audit_ids(db)
    # a careful forger edits an entry and gives it the right hash for its new content...
    with db.engine.connect() as connection:
        row = connection.execute(
            select(AuditEntry.__table__).where(AuditEntry.__table__.c.id == ids[1])
        ).one()
    forged = SimpleNamespace(**(row._asdict() | {"after": {"name": "伪造"}}))
    digest = chain.entry_hash(forged, prev_hash=row.prev_hash)
    tamper(
        db,
        "UPDATE audit_log SET after = :after, entry_hash = :h WHERE id = :id",
        {"after": '{"name": "伪造"}', "h": digest, "id": ids[1]},
    )
    broken = chain.verify_database(db.engine).broken
    # ... but the next entry still points at the hash the entry had
    assert broken is not None
    assert (broken.row_id, broken.kind) == (ids[2], "row missing")
    assert "rewritten" in broken.detail


def test_a_deleted_entry_is_caught_at_the_row_after_it(
    cli_env: CliRunner, client: TestClient, world: World, db: Database
) -> None:
    for n in range(5):
        rename(client, world, n)
    ids = audit_ids(db)
    tamper(db, "DELETE FROM audit_log WHERE id = :id", {"id": ids[2]})

    broken = chain.verify_database(db.engine).broken
    assert broken is not None
    assert (broken.row_id, broken.kind) == (ids[3], "row missing")
    result = cli_env.invoke(cli, ["audit-verify"])
    assert result.exit_code == 1
    assert f"row {ids[3]}: row missing" in result.output


def test_deleting_the_newest_entries_is_caught_at_the_end_of_the_log(
    client: TestClient, world: World, db: Database
) -> None:
    for n in range(4):
        rename(client, world, n)
    ids = audit_ids(db)
    tamper(db, "DELETE FROM audit_log WHERE id >= :id", {"id": ids[-2]})
    broken = chain.verify_database(db.engine).broken
    assert broken is not None
    assert (broken.row_id, broken.kind) == (None, "row missing")
    assert "the last 2 row(s) are missing" in broken.detail


def test_a_write_after_the_newest_entries_were_deleted_does_not_hide_it(
    client: TestClient, world: World, db: Database
) -> None:
    """The head still names the deleted entry: the next entry follows it, and so points at
    a row no longer in the log."""
    for n in range(4):
        rename(client, world, n)
    ids = audit_ids(db)
    tamper(db, "DELETE FROM audit_log WHERE id >= :id", {"id": ids[-2]})
    rename(client, world, 5)
    newest = audit_ids(db)[-1]
    broken = chain.verify_database(db.engine).broken
    assert broken is not None
    assert (broken.row_id, broken.kind) == (newest, "row missing")


def test_deleting_the_newest_entries_and_the_head_is_caught_and_blocks_writes(
    cli_env: CliRunner,
    client: TestClient,
    world: World,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Deleting the head along with the newest entries leaves a log that ends consistently;
    the app does not make a new head that would bless it: no audited change is saved
    (503, the phone's outbox tries again later) and audit-verify keeps reporting it."""
    for n in range(4):
        rename(client, world, n)
    ids = audit_ids(db)
    tamper(db, "DELETE FROM audit_log WHERE id >= :id", {"id": ids[-2]})
    tamper(db, "DELETE FROM audit_chain_head")
    name = facility_name(client, world)

    with caplog.at_level(logging.ERROR, logger="app.audit.chain"):
        refused = client.patch(
            f"/api/v1/facilities/{world.facility_a.id}",
            json={"name": "掩盖之后"},
            headers=world.headers("county"),
        )
    assert refused.status_code == 503, refused.text
    assert refused.json() == {"detail": chain.HEAD_MISSING}
    assert refused.headers["Retry-After"] == "300"
    assert "audit_chain_head is missing" in caplog.text
    assert facility_name(client, world) == name  # the change went nowhere
    assert audit_ids(db) == ids[:-2] and head(db) is None

    broken = chain.verify_database(db.engine).broken
    assert broken is not None
    assert (broken.row_id, broken.kind) == (None, "head mismatch")
    last = audit_hashes(db)[-1]
    assert f"holds {len(ids) - 2} entries ending in {last}" in broken.detail
    result = cli_env.invoke(cli, ["audit-verify"])
    assert result.exit_code == 1
    assert "audit_chain_head" in result.output


def test_the_refusal_speaks_chinese_when_asked(
    client: TestClient, world: World, db: Database
) -> None:
    rename(client, world, 1)
    tamper(db, "DELETE FROM audit_chain_head")
    refused = client.patch(
        f"/api/v1/facilities/{world.facility_a.id}",
        json={"name": "烈士墓"},
        headers=world.headers("county") | {"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    assert refused.status_code == 503
    assert "审计日志" in refused.json()["detail"]


def test_an_emptied_log_gets_a_new_head(client: TestClient, world: World, db: Database) -> None:
    """A database emptied by hand (as the tests do between tests on PostgreSQL): the head
    is made again from nothing, and the chain starts over."""
    rename(client, world, 1)
    tamper(db, "DELETE FROM audit_log")
    tamper(db, "DELETE FROM audit_chain_head")
    rename(client, world, 2)
    result = chain.verify_database(db.engine)
    assert (result.intact, result.entries) == (True, 1)
    assert head(db) == (result.last_hash, 1)


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM audit_chain_head",
        "UPDATE audit_chain_head SET length = length - 1",
        "UPDATE audit_chain_head SET length = length + 1",
        # set back to the entry before, or rewritten to match a log with its tail cut off
        "UPDATE audit_chain_head SET last_hash ="
        " (SELECT prev_hash FROM audit_log ORDER BY id DESC LIMIT 1)",
        "UPDATE audit_chain_head SET last_hash ="
        " (SELECT prev_hash FROM audit_log ORDER BY id DESC LIMIT 1), length = length - 1",
        "UPDATE audit_chain_head SET last_hash ="
        " (SELECT prev_hash FROM audit_log ORDER BY id DESC LIMIT 1), length = length + 1",
    ],
)
def test_the_database_refuses_to_remove_or_move_back_the_chain_head(
    client: TestClient, world: World, db: Database, statement: str
) -> None:
    rename(client, world, 1)
    rename(client, world, 2)
    before = head(db)
    with pytest.raises(DBAPIError, match="only moves forward"), db.engine.begin() as connection:
        connection.execute(text(statement))
    assert head(db) == before
    assert chain.verify_database(db.engine).intact


@postgresql_only
def test_postgresql_refuses_to_truncate_the_chain_head(
    client: TestClient, world: World, db: Database
) -> None:
    rename(client, world, 1)
    with pytest.raises(DBAPIError, match="only moves forward"), db.engine.begin() as connection:
        connection.execute(text("TRUNCATE audit_chain_head"))
    assert chain.verify_database(db.engine).intact


def test_an_entry_that_does_not_follow_the_head_is_refused(
    client: TestClient, world: World, db: Database
) -> None:
    """An entry slipped in with a made-up predecessor cannot move the head to itself."""
    rename(client, world, 1)
    before = head(db)
    with pytest.raises(DBAPIError, match="only moves forward"), db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_log (at, action, object_type, object_id, prev_hash,"
                " entry_hash) SELECT at, 'forged', 'facility', '1', :p, :h"
                " FROM audit_log ORDER BY id DESC LIMIT 1"
            ),
            {"p": "f" * 64, "h": "e" * 64},
        )
    assert head(db) == before
    assert chain.verify_database(db.engine).intact


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"],
)
def test_the_database_refuses_to_rewrite_the_audit_log(
    client: TestClient, world: World, db: Database, statement: str
) -> None:
    rename(client, world, 1)
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text(statement))
    assert chain.verify_database(db.engine).intact


def test_two_entries_cannot_follow_the_same_one(
    client: TestClient, world: World, db: Database
) -> None:
    rename(client, world, 1)
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        # a writer that skipped the lock and read a stale tip: the fork is refused
        connection.execute(
            text(
                "INSERT INTO audit_log (at, action, object_type, object_id, prev_hash,"
                " entry_hash) SELECT at, 'forged', 'facility', '1', prev_hash, :h"
                " FROM audit_log ORDER BY id DESC LIMIT 1"
            ),
            {"h": "e" * 64},
        )


def test_concurrent_writers_make_one_unbroken_chain(
    app, client: TestClient, world: World, db: Database
) -> None:
    before = len(audit_ids(db))

    def writer(n: int):
        def run(c: TestClient) -> list[int]:
            statuses = []
            for k in range(4):
                who = "county" if (n + k) % 2 else "admin"
                facility = world.facility_a if n % 2 else world.facility_b
                statuses.append(
                    c.patch(
                        f"/api/v1/facilities/{facility.id}",
                        json={"name": f"墓{n}-{k}"},
                        headers=world.headers(who),
                    ).status_code
                )
            return statuses

        return run

    results = run_together(app, [writer(n) for n in range(8)])
    assert [s for statuses in results for s in statuses] == [200] * 32
    result = chain.verify_database(db.engine)
    assert result.broken is None
    assert result.entries == before + 32


def test_the_upgrade_chains_the_entries_already_there(empty_database: str, tmp_path: Path):  # noqa: F811
    settings = make_settings(tmp_path, empty_database)
    migrate.upgrade(settings, "0006")
    engine = make_engine(empty_database)
    try:
        with engine.begin() as connection:
            for n in range(3):
                connection.execute(
                    text(
                        "INSERT INTO audit_log (at, actor_username, action, object_type,"
                        " object_id, before, after) VALUES (:at, '石立', 'facility.update',"
                        " 'facility', '1', :before, :after)"
                    ),
                    {
                        "at": f"2026-01-0{n + 1} 03:04:05.123456+00:00",
                        "before": '{"name": "旧"}',
                        "after": f'{{"name": "新{n}", "lon": 112.19}}',
                    },
                )
        migrate.upgrade(settings)
        result = chain.verify_database(engine)
        assert (result.intact, result.entries) == (True, 3)
        with engine.connect() as connection:
            head = connection.execute(text("SELECT last_hash, length FROM audit_chain_head")).one()
        assert tuple(head) == (result.last_hash, 3)
    finally:
        engine.dispose()


def test_the_hasher_for_many_entries_hashes_the_bytes_entry_hash_does() -> None:
    at = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
    hashed = chain.entry_hasher(at=at, actor_id=7, actor_username="管理员", object_type="facility")
    prev = chain.GENESIS
    for action, object_id, before, after in [
        ("facility.create", "41", None, {"名称": "烈士墓", "b": [{"note": None, "name": '甲"\\'}]}),
        ("facility.update", 'x"\n', {"name": "旧"}, {"name": "新", "area_m2": 1.5}),
    ]:
        entry = SimpleNamespace(
            at=at,
            actor_id=7,
            actor_username="管理员",
            action=action,
            object_type="facility",
            object_id=object_id,
            before=before,
            after=after,
        )
        expected = chain.entry_hash(entry, prev_hash=prev)
        as_text = [chain.canonical_json(value) for value in (before, after)]
        assert hashed(action, object_id, *as_text, prev) == expected
        prev = expected
