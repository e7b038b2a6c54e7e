"""Limits on what a request may hold: bodies, list pages, text, query values, dates.

Body limits hold while a chunked body streams in, against the real server (uvicorn):
Starlette's TestClient hands a request body to the app in one piece, so only a server
that reads the socket chunk by chunk exercises the counting in ``app/limits.py``.

The rest is read from the app itself: every list operation has a maximum ``limit`` and
every string a request may carry a maximum length (a new route without them fails here),
JSON bodies over 1 MiB are a 413, values out of range a 422 naming the parameter, and dates
are ISO 8601 text only (a number is not a day in 1970).
"""

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from annotated_types import Le, Lt
from fastapi import FastAPI
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from app.limits import too_large_message
from app.main import DEFAULT_BODY_LIMIT, create_app
from app.ogc import params as ogc_params
from tests import live
from tests.conftest import make_settings
from tests.factories import COUNTY_TZ, World, report_body
from tests.live import LiveServer
from tests.photos.images import jpeg

CHUNK = 64 * 1024
PART = b'--x\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n\r\n'

server = live.server  # the fixture: the test app under uvicorn

# the streaming limits are about HTTP, not SQL: one temporary SQLite database is enough
http_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


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


@http_only
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


@http_only
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


# --- read from the app itself: every list has a maximum limit, every string a length ---

#: string formats whose values are bounded by their syntax, or (a file) by the body limit
BOUNDED_FORMATS = {"date", "date-time", "uuid", "binary"}
#: the lists of the API today: the walk must find at least these
LISTS = 10


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app, for its routes and OpenAPI document only (its database is never opened)."""
    folder = tmp_path_factory.mktemp("openapi")
    return create_app(make_settings(folder, f"sqlite:///{folder / 'unused.db'}"))


@pytest.fixture(scope="module")
def spec(api_app: FastAPI) -> dict[str, Any]:
    return api_app.openapi()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def unbounded_strings(spec: dict[str, Any], schema: dict[str, Any], where: str) -> Iterator[str]:
    """Where in ``schema`` a string may be of any length."""
    schema = resolve(spec, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        for part in schema.get(key, []):
            yield from unbounded_strings(spec, part, where)
    if (
        schema.get("type") == "string"
        and "maxLength" not in schema
        and "enum" not in schema
        and "const" not in schema
        and schema.get("format") not in BOUNDED_FORMATS
        and "contentMediaType" not in schema  # an uploaded file (OpenAPI 3.1)
    ):
        yield where
    for name, part in schema.get("properties", {}).items():
        yield from unbounded_strings(spec, part, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from unbounded_strings(spec, schema["items"], f"{where}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from unbounded_strings(spec, schema["additionalProperties"], f"{where}{{}}")


def test_every_string_a_request_carries_has_a_maximum_length(spec: dict[str, Any]) -> None:
    unbounded = []
    for name, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            where = f"{name} {parameter['in']} {parameter['name']}"
            unbounded += unbounded_strings(spec, parameter["schema"], where)
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
            unbounded += unbounded_strings(spec, content["schema"], f"{name} {media_type} body")
    assert not unbounded, "strings without maxLength:\n" + "\n".join(unbounded)


def is_page(spec: dict[str, Any], operation: dict[str, Any]) -> bool:
    """Answers a page of a list: ``items`` with ``limit`` beside them."""
    content = operation["responses"].get("200", {}).get("content", {})
    schema = resolve(spec, content.get("application/json", {}).get("schema", {}))
    return {"items", "limit"} <= set(schema.get("properties", {}))


def test_every_list_operation_takes_a_bounded_limit(spec: dict[str, Any]) -> None:
    lists = [name for name, operation in operations(spec) if is_page(spec, operation)]
    assert len(lists) >= LISTS, lists  # found (a renamed field would hide them)
    missing = []
    for name, operation in operations(spec):
        parameters = {p["name"]: p["schema"] for p in operation.get("parameters", [])}
        for paging in ("limit", "offset") if is_page(spec, operation) else ():
            if paging not in parameters:
                missing.append(f"{name}: no {paging}")
        for paging in ("limit", "offset"):
            schema = parameters.get(paging)
            if schema is not None and not any(
                "maximum" in part for part in [schema, *schema.get("anyOf", [])]
            ):
                missing.append(f"{name}: {paging} has no maximum")
    assert not missing, "\n".join(missing)


def test_routes_outside_the_api_document_bound_their_limit_too(api_app: FastAPI) -> None:
    """The pages and the OGC feed are not in /openapi.json: their ``limit`` is checked here."""
    unbounded = []
    for route in api_app.routes:
        if not isinstance(route, APIRoute):
            continue
        for field in get_flat_params(route.dependant):
            if field.alias in ("limit", "offset") and not any(
                isinstance(m, Le | Lt) for m in field.field_info.metadata
            ):
                unbounded.append(f"{route.path} {field.alias}")
    assert not unbounded, unbounded
    # the OGC items route reads its query by hand: past the maximum it answers the maximum
    assert ogc_params.limit_of({"limit": str(10**12)}) == ogc_params.MAX_LIMIT


# --- bodies over 1 MiB, values out of range, dates that are numbers ---


@http_only
def test_a_json_body_over_one_mib_is_refused_with_413(client: TestClient, world: World) -> None:
    padding = "x" * DEFAULT_BODY_LIMIT
    over = json.dumps({"name": "碑", "description": padding}).encode()
    response = client.post(
        "/api/v1/facilities",
        content=over,
        headers=world.headers("county") | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert response.json()["detail"] == too_large_message("at most 1 MiB is accepted here")
    # just under the limit is read, and refused for what it says (description is too long)
    under = json.dumps({"description": padding[: DEFAULT_BODY_LIMIT - 100]}).encode()
    assert len(under) <= DEFAULT_BODY_LIMIT
    response = client.post(
        "/api/v1/facilities",
        content=under,
        headers=world.headers("county") | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("path", "parameter", "value"),
    [
        ("/api/v1/facilities", "limit", "0"),
        ("/api/v1/facilities", "limit", "501"),
        ("/api/v1/facilities", "offset", "-1"),
        ("/api/v1/facilities", "offset", str(2**31)),
        ("/api/v1/facilities", "township_id", "0"),
        ("/api/v1/facilities", "township_id", str(2**31)),
        ("/api/v1/facilities", "q", "墓" * 101),
        ("/api/v1/facilities", "tier", "imperial"),
        ("/api/v1/inspections", "limit", "100000"),
        ("/api/v1/inspections", "from", "0"),
        ("/api/v1/inspections", "receipt", "X" * 17),
        ("/api/v1/overdue", "as_of", "0"),
        ("/api/v1/overdue", "as_of", "1899-12-31"),
        ("/api/v1/overdue", "as_of", "20250404"),
        ("/api/v1/stats", "as_of", "1700000000"),
        ("/api/v1/campaigns", "year", "2101"),
        ("/api/v1/funds/ledger", "year", "1999"),
        ("/api/v1/audit", "from", "0"),
        ("/api/v1/audit", "to", "2025-04-04"),
        ("/api/v1/audit", "object_type", "x" * 33),
        ("/api/v1/map/facilities.geojson", "limit", "1000001"),
    ],
)
def test_an_out_of_range_query_parameter_is_a_422_naming_it(
    client: TestClient, world: World, path: str, parameter: str, value: str
) -> None:
    response = client.get(path, params={parameter: value}, headers=world.headers("admin"))
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["query", parameter]]


@pytest.mark.parametrize("as_of", [0, "0", 20250315, "1742000000", "2025-03-15T00:00:00"])
def test_a_date_is_iso_text_only(client: TestClient, world: World, as_of: Any) -> None:
    """``"allocated_on": 0`` was stored as 1970-01-01; now only YYYY-MM-DD is a date."""
    body = {
        "township_id": world.township_a.id,
        "year": 2025,
        "amount_fen": 100_000,
        "source": "county",
        "document_no": "沁退役军人发〔2025〕8号",
        "allocated_on": as_of,
    }
    headers = world.headers("county")
    response = client.post("/api/v1/fund-allocations", json=body, headers=headers)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "allocated_on"]
    assert "ISO 8601" in error["msg"] and "2025-04-04" in error["msg"]
    assert client.get("/api/v1/fund-allocations", headers=headers).json()["total"] == 0
    # the same allocation dated in ISO text is stored on that day
    response = client.post(
        "/api/v1/fund-allocations", json=body | {"allocated_on": "2025-03-15"}, headers=headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["allocated_on"] == "2025-03-15"


@pytest.mark.parametrize("inspected_at", [0, 1_742_000_000, "1742000000", "2025-03-15"])
def test_an_instant_is_iso_text_only(client: TestClient, world: World, inspected_at: Any) -> None:
    body = report_body(world.facility_a, inspected_at=inspected_at)
    response = client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "inspected_at"]
    assert "ISO 8601" in error["msg"]
    # an instant with its offset, as the phone sends it, is taken
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    body = report_body(world.facility_a, inspected_at=moment.astimezone(COUNTY_TZ).isoformat())
    response = client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
    assert response.status_code == 201, response.text
    assert datetime.fromisoformat(response.json()["inspected_at"]) == moment


def test_a_body_that_is_not_utf8_is_a_400_saying_what_to_send(
    client: TestClient, world: World
) -> None:
    response = client.post(
        "/api/v1/facilities",
        content=b'{"name": "\xff\xfe"}',
        headers=world.headers("county") | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json() == {
        "detail": "The request body could not be read: send JSON (or a form) in UTF-8"
    }
