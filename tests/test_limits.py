"""Body limits hold while a chunked body streams in, against the real server (uvicorn).

Starlette's TestClient hands a request body to the app in one piece, so only a server
that reads the socket chunk by chunk exercises the counting in ``app/limits.py``.
"""

import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests import live
from tests.factories import World, report_body
from tests.live import LiveServer
from tests.photos.images import jpeg

CHUNK = 64 * 1024
PART = b'--x\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n\r\n'

server = live.server  # the fixture: the test app under uvicorn

# the limits are about HTTP, not SQL: one temporary SQLite database is enough
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def send_chunked(server: LiveServer, path: str, headers: dict[str, str], chunks: int) -> bytes:
    """Stream a file part of up to ``chunks`` chunks of 64 KiB (chunked, no length),
    stopping as soon as an answer arrives, and never the closing chunk: an answer can only
    come from a server that counts the body as it streams. Returns the answer.

    The answer is read by a thread of its own while the body streams: a server that answers
    early closes a connection it has not read to the end, and the reset that follows would
    take the answer with it if it were read only after sending."""
    head = [f"POST {path} HTTP/1.1", f"Host: {server.host}:{server.port}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head += ["Content-Type: multipart/form-data; boundary=x", "Transfer-Encoding: chunked"]
    head += ["Connection: close", "", f"{len(PART):x}", ""]
    answer = bytearray()
    with socket.create_connection((server.host, server.port), timeout=10) as connection:

        def read() -> None:
            try:
                while data := connection.recv(65536):
                    answer.extend(data)
            except OSError:  # reset once the server has answered and closed
                pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            connection.sendall("\r\n".join(head).encode() + PART + b"\r\n")
            for _ in range(chunks):
                if answer:
                    break
                connection.sendall(f"{CHUNK:x}\r\n".encode() + b"\xff" * CHUNK + b"\r\n")
        except OSError:  # the server stopped reading: its answer is on the way
            pass
        reader.join(10)
    return bytes(answer)


def status_and_body(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize(
    ("limit_mib", "path"),
    [(1, "/api/v1/auth/token"), (10, "/api/v1/inspections/{report_id}/photos")],
    ids=["default", "photo"],
)
def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(
    server: LiveServer, world: World, limit_mib: int, path: str
) -> None:
    headers = world.headers("township")
    report = httpx.post(
        f"{server.url}/api/v1/inspections", json=report_body(world.facility_a), headers=headers
    )
    assert report.status_code == 201, report.text
    # the body is twice the limit: the 413 must come before the client has sent it all
    answer = send_chunked(
        server,
        path.format(report_id=report.json()["id"]),
        headers,
        chunks=2 * limit_mib * 16,
    )
    status, body = status_and_body(answer)
    assert status == 413, answer[:300]
    assert f"{limit_mib} MiB" in body["detail"]
    # the server carries on serving
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_chunked_body_under_the_limit_is_accepted(server: LiveServer, world: World) -> None:
    headers = world.headers("township")
    report = httpx.post(
        f"{server.url}/api/v1/inspections", json=report_body(world.facility_a), headers=headers
    ).json()
    photo = jpeg()

    def body() -> Iterator[bytes]:  # a generator: httpx sends it chunked, with no length
        yield PART
        for start in range(0, len(photo), 1024):
            yield photo[start : start + 1024]
        yield b"\r\n--x--\r\n"

    response = httpx.post(
        f"{server.url}/api/v1/inspections/{report['id']}/photos",
        content=body(),
        headers=headers | {"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 201, response.text
