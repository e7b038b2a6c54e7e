"""Fixtures for the pages: a signed-in test client, and a real browser on a live server.

Browser tests use Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) via
Playwright for Python; nothing is downloaded. Without it they skip, except in the full
suite (``.ci/run``), where a skip fails. The site is the app under uvicorn on a
free port, with the demo's sample data, on each database the suite runs on.
"""

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from app import migrate, seed
from app.db import Database, make_engine
from tests.conftest import (
    BACKENDS,
    POSTGRES_URL,
    _truncate_postgres,
    cleaning_engine,
    empty_public_tables,
    fresh_database_url,
    make_settings,
    public_tables,
)
from tests.live import LiveServer, server  # noqa: F401  (fixture)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
DEMO_PASSWORDS = {login.username: login.password for login in seed.DEMO_LOGINS}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str) -> None:
    """Sign ``client`` in through the sign-in form, as a browser would."""
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


@pytest.fixture(scope="session")
def seeded_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the demo seeded once (seeding takes seconds: argon2
    hashes, 40 reports through the service); each test copies it."""
    folder = tmp_path_factory.mktemp("seeded")
    path = folder / "seeded.db"
    settings = make_settings(folder, f"sqlite:///{path}")
    migrate.upgrade(settings)
    database = Database(settings)
    with database.begin() as session:
        seed.load(session=session, settings=settings, samples=True)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def seeded_postgres_snapshot(postgres_url: str) -> str:
    """The demo seeded once into PostgreSQL and copied to the schema ``seed_snapshot``;
    each test truncates and copies it back (milliseconds instead of seconds)."""
    _truncate_postgres(postgres_url)
    settings = make_settings(Path("."), postgres_url)
    database = Database(settings)
    with database.begin() as session:
        seed.load(session=session, settings=settings, samples=True)
    database.dispose()
    engine = make_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SNAPSHOT} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SNAPSHOT}"))
        for table in public_tables(connection):
            connection.execute(text(f'CREATE TABLE {SNAPSHOT}."{table}" AS TABLE "{table}"'))
    engine.dispose()
    return postgres_url


SNAPSHOT = "seed_snapshot"

#: tables with a serial ``id``: after a restore, their sequences continue past the rows
_SERIAL_ID_TABLES = text(
    "SELECT table_name FROM information_schema.columns "
    "WHERE table_schema = 'public' AND column_name = 'id' "
    "AND pg_get_serial_sequence(quote_ident(table_name), 'id') IS NOT NULL "
    "ORDER BY table_name"
)


def _restore_postgres_snapshot(url: str) -> None:
    with cleaning_engine(url).begin() as connection:
        # replica mode (set by empty_public_tables): the ledger's append-only triggers and
        # the foreign keys stay quiet while the snapshot's rows come back as they were
        empty_public_tables(connection)
        statements = [
            f'INSERT INTO "{table}" SELECT * FROM {SNAPSHOT}."{table}"'
            for table in public_tables(connection)
        ]
        statements += [
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
            f'COALESCE((SELECT max(id) FROM "{table}"), 0) + 1, false)'
            for table in connection.execute(_SERIAL_ID_TABLES).scalars()
        ]
        connection.execute(text("; ".join(statements)))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """As the suite's own, but a test that asks for ``seeded`` starts from the demo."""
    if "seeded" not in request.fixturenames:
        return fresh_database_url(request, tmp_path)
    if request.param == "sqlite":
        path = tmp_path / "memorial.db"
        shutil.copyfile(request.getfixturevalue("seeded_sqlite_template"), path)
        return f"sqlite:///{path}"
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL only, and MEMORIAL_TEST_POSTGRES_URL is not set")
    url = request.getfixturevalue("seeded_postgres_snapshot")
    _restore_postgres_snapshot(url)
    return url


@pytest.fixture
def seeded(db: Database) -> Database:
    """The demo's sample data: 60 facilities, demo sign-ins, reports, funds and orders
    (seeded once per run and copied in, see ``database_url``)."""
    return db


@pytest.fixture
def page_client(app: FastAPI, seeded: Database) -> Iterator[TestClient]:
    """A client with the pages' cookies (sign in with ``sign_in``)."""
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


# --- a real browser -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        # `make test` on a machine with only Python; in .ci/run (PostgreSQL given) the
        # suite's conftest turns this skip into a failure, so CI never skips a page test.
        pytest.skip("Debian's chromium is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def site(seeded: Database, server: LiveServer) -> LiveServer:  # noqa: F811
    """The seeded app under uvicorn."""
    return server


@pytest.fixture
def browser_page(browser: object, site: LiveServer) -> Iterator[object]:
    """A fresh browser context at office-PC size (1366×768), Chinese first."""
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1366, "height": 768}, locale="zh-CN", base_url=site.url
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A page answered 4xx on purpose (a refused form) is fine; a script, style, image or
    # fetch that fails is not. Console errors about loads are covered by the responses.
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and response.request.resource_type != "document"
            else None
        ),
    )
    page.js_errors = errors
    yield page
    context.close()
    assert not errors, f"the page reported errors: {errors}"


def browser_sign_in(page: object, username: str, *, next_path: str = "/") -> None:
    page.goto(f"/signin?next={next_path}")  # type: ignore[attr-defined]
    page.fill("input[name=username]", username)  # type: ignore[attr-defined]
    page.fill("input[name=password]", DEMO_PASSWORDS[username])  # type: ignore[attr-defined]
    page.click("button[type=submit].primary")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]


def screenshot(page: object, name: str) -> Path:
    """A full-page screenshot in tests/artifacts/ (ignored by git), for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    # written aside and renamed: the same test on the other database may be saving this
    # name at the same moment in another xdist worker
    partial = path.with_name(f".{name}.{os.getpid()}.png")
    page.screenshot(path=str(partial), full_page=True)  # type: ignore[attr-defined]
    partial.replace(path)
    return path


def serious_accessibility_violations(page: object) -> list[str]:
    """axe-core's serious and critical findings on the page as it stands."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:5])
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
