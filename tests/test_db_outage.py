"""The database down: 503 with Retry-After and a clear detail (never a 500 or a hang),
/readyz says why, and the app serves again by itself once the database is back."""

import contextlib
import shutil
import socket
import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app.main import create_app
from app.security import create_access_token
from tests.conftest import SECRET, make_settings
from tests.factories import World

#: nothing listens on port 1: a connection is refused at once
UNREACHABLE = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/memorial",
    "sqlite": "sqlite:///{tmp}/memorial.db",  # made a directory: SQLite cannot open it
}
REASONS = {
    "postgresql": "the database server refuses connections (is it running?)",
    "sqlite": "the database file cannot be opened",
}


@pytest.fixture(params=["postgresql", "sqlite"])
def down(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, TestClient]]:
    (tmp_path / "memorial.db").mkdir()
    url = UNREACHABLE[request.param].format(tmp=tmp_path)
    app = create_app(make_settings(tmp_path, url))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield request.param, client
    app.state.db.dispose()


def bearer(user_id: int = 1) -> dict[str, str]:
    token = create_access_token(user_id=user_id, key=SECRET, ttl=timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


def test_a_request_gets_503_with_retry_after_while_the_database_is_down(down) -> None:
    _, client = down
    for response in (
        client.get("/api/v1/facilities", headers=bearer()),
        client.post("/api/v1/inspections", json={}, headers=bearer()),
        client.post("/api/v1/auth/token", data={"username": "a", "password": "b"}),
    ):
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "5"
        assert response.json() == {
            "detail": "The database is busy or unreachable; please retry shortly"
        }


def test_the_503_speaks_chinese_when_asked(down) -> None:
    _, client = down
    response = client.get(
        "/api/v1/facilities", headers=bearer() | {"Accept-Language": "zh-CN,zh;q=0.9"}
    )
    assert response.status_code == 503
    assert "数据库" in response.json()["detail"]


def test_readyz_says_why_and_healthz_stays_up(down) -> None:
    kind, client = down
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["Retry-After"] == "5"
    body = ready.json()
    assert (body["status"], body["database"]) == ("unavailable", "unreachable")
    assert body["reason"] == REASONS[kind]
    assert "127.0.0.1" not in ready.text  # the driver's own text stays in the log
    assert client.get("/healthz").json() == {"status": "ok"}


class Proxy:
    """A TCP forwarder in front of the test's PostgreSQL that can be cut and restored, as a
    server restart would: cutting closes every connection through it and, until restored,
    closes each new one as soon as it is accepted. The listening socket stays bound from
    start to ``close``, so no other process can take its port meanwhile."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._up = True
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self._up = False
            for sock in self._sockets:
                _close(sock)
            self._sockets.clear()

    def restore(self) -> None:
        with self._lock:
            self._up = True

    def close(self) -> None:
        self.cut()
        _close(self._listener)  # ends the accepting thread

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if not self._up:
                    _close(client)  # the server is "down": the connection ends at once
                    continue
                try:
                    server = socket.create_connection(self.target)
                except OSError:
                    _close(client)
                    continue
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def test_the_app_serves_again_once_the_database_returns(
    database_url: str, tmp_path: Path, world: World
) -> None:
    """No restart: PostgreSQL through a proxy that is cut and restored (the pool's dead
    connections are replaced at checkout); SQLite from a file that could not be opened."""
    county = world.headers("county")
    if database_url.startswith("sqlite"):
        stored = tmp_path / "stored.db"
        with (
            sqlite3.connect(make_url(database_url).database) as source,
            sqlite3.connect(stored) as copy,
        ):
            source.backup(copy)  # the rows in the WAL too
        target = tmp_path / "later.db"
        target.mkdir()
        app = create_app(make_settings(tmp_path, f"sqlite:///{target}"))

        def cut() -> None:
            pass

        def restore() -> None:
            target.rmdir()
            shutil.copyfile(stored, target)

    else:
        url = make_url(database_url)
        proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
        through = url.set(host="127.0.0.1", port=proxy.port)
        app = create_app(make_settings(tmp_path, through.render_as_string(hide_password=False)))
        cut, restore = proxy.cut, proxy.restore
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            if database_url.startswith("postgresql"):  # up first: the pool holds connections
                assert client.get("/api/v1/facilities", headers=county).status_code == 200
                assert client.get("/readyz").status_code == 200
            cut()
            down = client.get("/api/v1/facilities", headers=county)
            assert down.status_code == 503, down.text
            assert "Retry-After" in down.headers
            assert client.get("/readyz").status_code == 503
            restore()
            again = client.get("/api/v1/facilities", headers=county)
            assert again.status_code == 200, again.text
            assert again.json()["total"] == 2
            assert client.get("/readyz").status_code == 200
    finally:
        app.state.db.dispose()
        if database_url.startswith("postgresql"):
            proxy.close()


def test_a_session_that_cannot_close_still_lets_the_route_answer(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database shutting down between a route's work and its session's closing
    ROLLBACK: the client still gets the route's answer, not a dropped connection."""
    from sqlalchemy.exc import OperationalError
    from sqlmodel import Session

    closing = Session.close

    def dies(self: Session) -> None:
        closing(self)
        raise OperationalError("ROLLBACK", None, Exception("terminating connection"))

    monkeypatch.setattr(Session, "close", dies)
    response = client.get(
        f"/api/v1/facilities/{world.facility_a.id}", headers=world.headers("county")
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == world.facility_a.id
