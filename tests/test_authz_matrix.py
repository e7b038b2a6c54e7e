"""The authorization matrix (DESIGN.md rule 8), built from ``app.routes`` itself.

Every route (method and path: the API, the pages, the feeds, OGC, the exports, the phone
form) is a row of ``MATRIX`` with the status each kind of caller gets:

    anonymous · admin · county · township (a user of township A, which owns the object)
    · other (a user of township B)

Path parameters are filled with real objects of township A. A route that writes gets fresh
objects for every caller it lets through (``params``), so one caller's change never decides
another's answer; reads and refusals share one set. A write is sent with a minimal valid body (``body``), so the
status says who may do it, not whether the input was good.

A route missing from the table fails the test ("add it to the table"), and so does a row
for a route that no longer exists.

Anything in another township answers 404 before any other check: for every route whose path
names an object, township B's user gets the same answer for township A's object as for an
id that does not exist (``test_another_township_is_as_absent_as_nothing``).
"""

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from PIL import Image
from starlette.routing import Mount

from app.config import Settings
from app.db import Database
from app.deps import CSRF_COOKIE, SESSION_COOKIE
from app.main import create_app
from app.models import Role
from app.plates import codes
from app.security import csrf_token_for
from tests import factories
from tests.conftest import make_settings

ROLES = ("anonymous", "admin", "county", "township", "other")
YEAR = 2025
#: an id no row has (within the 32-bit range the routes accept)
MISSING = 2_000_000_000
#: the CSRF seed every caller's browser holds (its token goes in each page form)
SEED = "matrix-csrf-seed"

Params = Callable[["Objects"], dict[str, Any]]
Body = Callable[["Objects"], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    #: the status for: anonymous, admin, county, township (A), other (B)
    expected: str
    #: path parameters made fresh for each caller (a write); default: the shared objects
    params: Params | None = None
    #: keyword arguments of the request: json=, data= (a page form, CSRF added), files=
    body: Body | None = None
    #: the caller is a fresh user of the same role (the route changes the caller itself)
    fresh_caller: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def status(self, role: str) -> int:
        return int(self.expected.split()[ROLES.index(role)])


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(out, "PNG")
    return out.getvalue()


PNG = _png()


def _photo(_o: "Objects") -> dict[str, Any]:
    return {"files": {"file": ("photo.png", PNG, "image/png")}}


def _json(document: dict[str, Any]) -> Body:
    return lambda _o: {"json": document}


def _form(document: dict[str, Any]) -> Body:
    return lambda _o: {"data": document}


def _facility_create(o: "Objects") -> dict[str, Any]:
    return {
        "json": {
            "code": f"M-{uuid.uuid4().hex[:10]}",
            "name": "矩阵测试墓",
            "kind": "grave",
            "township_id": o.world.township_a.id,
            "longitude": factories.LON,
            "latitude": factories.LAT,
        }
    }


def _report(o: "Objects") -> dict[str, Any]:
    return {"json": factories.report_body(o.world.facility_a)}


def _order_create(o: "Objects") -> dict[str, Any]:
    body = {"facility_id": o.world.facility_a.id, "category": "repair", "title": "修补"}
    return {"json": body | {"planned_cost_fen": 1000, "year": YEAR}}


def _allocation(o: "Objects") -> dict[str, Any]:
    return {"json": o.allocation_body(o.world.township_a.id)}


def _user_create(o: "Objects") -> dict[str, Any]:
    return {
        "json": {
            "username": f"m{uuid.uuid4().hex[:12]}",
            "full_name": "矩阵用户",
            "role": "township",
            "township_id": o.world.township_a.id,
            "password": "Matrix-Pass-2025!",
        }
    }


def _township_create(_o: "Objects") -> dict[str, Any]:
    # 140521500–999: no code the world or the factories use (1405211xx, 1405213xx)
    return {"json": {"code": f"140521{uuid.uuid4().int % 500 + 500}", "name": "矩阵乡"}}


def _campaign_create(o: "Objects") -> dict[str, Any]:
    return {
        "json": {
            "name": "矩阵集中巡查",
            "starts_on": f"{YEAR}-03-20",
            "ends_on": f"{YEAR}-04-04",
            "township_ids": [o.world.township_a.id],
        }
    }


def _completion(_o: "Objects") -> dict[str, Any]:
    body = {"actual_cost_fen": 900, "completed_on": f"{YEAR}-06-01"}
    return {"json": body | {"payee": "某某石材厂", "invoice_no": "NO-1"}}


def _page_completion(_o: "Objects") -> dict[str, Any]:
    body = {"actual_cost": "9.00", "completed_on": f"{YEAR}-06-01"}
    return {"data": body | {"payee": "某某石材厂", "invoice_no": "NO-1"}}


def _signin(o: "Objects") -> dict[str, Any]:
    return {"data": {"username": o.world.township_user.username, "password": factories.PASSWORD}}


def _fresh(kind: str, **args: Any) -> Params:
    return lambda o: {f"{kind}_id": getattr(o, f"new_{kind}")(**args)}


#: the table: one row per route (method and path), five statuses each
#:          anonymous admin county township(A) other(B)
MATRIX = [
    # --- the JSON API -------------------------------------------------------------------
    Row("POST", "/api/v1/auth/token", "200 200 200 200 200", body=_signin),
    Row("GET", "/api/v1/me", "401 200 200 200 200"),
    Row(
        "POST",
        "/api/v1/me/password",
        "401 200 200 200 200",
        body=_json({"current_password": factories.PASSWORD, "new_password": "Fresh-Pass-2025!"}),
        fresh_caller=True,
    ),
    # user accounts are the admin's: 403 for anyone else, whatever the id (nothing leaks)
    Row("GET", "/api/v1/users", "401 200 403 403 403"),
    Row("POST", "/api/v1/users", "401 201 403 403 403", body=_user_create),
    Row("GET", "/api/v1/users/{user_id}", "401 200 403 403 403"),
    Row(
        "PATCH",
        "/api/v1/users/{user_id}",
        "401 200 403 403 403",
        params=_fresh("user"),
        body=_json({"full_name": "改过的名字"}),
    ),
    Row("GET", "/api/v1/counties", "401 200 200 200 200"),
    Row("GET", "/api/v1/counties/{county_id}", "401 200 200 200 200"),
    Row("GET", "/api/v1/counties/{county_id}/outline.geojson", "401 200 200 200 200"),
    Row("GET", "/api/v1/townships", "401 200 200 200 200"),
    Row("POST", "/api/v1/townships", "401 201 403 403 403", body=_township_create),
    Row("GET", "/api/v1/townships/{township_id}", "401 200 200 200 404"),
    Row(
        "PATCH",
        "/api/v1/townships/{township_id}",
        "401 200 403 403 404",
        body=lambda o: {"json": {"name": o.world.township_a.name}},
    ),
    Row("GET", "/api/v1/facilities", "401 200 200 200 200"),
    Row("GET", "/api/v1/facilities/completeness", "401 200 200 200 200"),
    Row("POST", "/api/v1/facilities", "401 201 201 403 403", body=_facility_create),
    Row("GET", "/api/v1/facilities/{facility_id}", "401 200 200 200 404"),
    Row(
        "PATCH",
        "/api/v1/facilities/{facility_id}",
        "401 200 200 403 404",  # tier is county work: township A is refused, B never told
        params=_fresh("facility"),
        body=_json({"tier": "county", "village": "矩阵村"}),
    ),
    Row("DELETE", "/api/v1/facilities/{facility_id}", "401 200 200 403 404", _fresh("facility")),
    Row("GET", "/api/v1/inspections", "401 200 200 200 200"),
    Row("POST", "/api/v1/inspections", "401 201 201 201 404", body=_report),
    Row("GET", "/api/v1/inspections/{inspection_id}", "401 200 200 200 404"),
    Row(
        "POST",
        "/api/v1/inspections/{inspection_id}/maintenance",
        "401 201 201 201 404",
        params=_fresh("inspection"),
    ),
    Row(
        "POST",
        "/api/v1/inspections/{inspection_id}/photos",
        "401 201 201 201 404",
        params=_fresh("inspection"),
        body=_photo,
    ),
    Row(
        "POST",
        "/api/v1/inspections/{inspection_id}/review",
        "401 200 200 403 404",
        params=_fresh("inspection"),
        body=_json({"decision": "rejected", "comment": "照片不清楚"}),
    ),
    Row("GET", "/api/v1/photos/{photo_id}", "401 200 200 200 404"),
    Row("GET", "/api/v1/photos/{photo_id}/thumbnail", "401 200 200 200 404"),
    Row("GET", "/api/v1/maintenance", "401 200 200 200 200"),
    Row("POST", "/api/v1/maintenance", "401 201 201 201 404", body=_order_create),
    Row("GET", "/api/v1/maintenance/{order_id}", "401 200 200 200 404"),
    Row(
        "PATCH",
        "/api/v1/maintenance/{order_id}",
        "401 200 200 200 404",
        params=_fresh("order", state="planned"),
        body=_json({"title": "改过的标题"}),
    ),
    Row(
        "POST",
        "/api/v1/maintenance/{order_id}/approve",
        "401 200 200 403 404",
        params=_fresh("order", state="planned"),
    ),
    Row(
        "POST",
        "/api/v1/maintenance/{order_id}/start",
        "401 200 200 200 404",
        params=_fresh("order", state="approved"),
    ),
    Row(
        "POST",
        "/api/v1/maintenance/{order_id}/complete",
        "401 200 200 200 404",
        params=_fresh("order", state="in_progress"),
        body=_completion,
    ),
    Row(
        "POST",
        "/api/v1/maintenance/{order_id}/correct-cost",
        "401 200 200 403 404",
        params=_fresh("order", state="completed"),
        body=_json({"actual_cost_fen": 800, "reason": "发票金额录错"}),
    ),
    Row(
        "POST",
        "/api/v1/maintenance/{order_id}/cancel",
        "401 200 200 200 404",
        params=_fresh("order", state="planned"),
        body=_json({"reason": "不再需要"}),
    ),
    Row(
        "POST",
        "/api/v1/maintenance/{order_id}/photos",
        "401 201 201 201 404",
        params=_fresh("order", state="planned"),
        body=_photo,
    ),
    Row("GET", "/api/v1/fund-allocations", "401 200 200 200 200"),
    Row("POST", "/api/v1/fund-allocations", "401 201 201 403 403", body=_allocation),
    Row("GET", "/api/v1/fund-allocations/{allocation_id}", "401 200 200 200 404"),
    Row(
        "POST",
        "/api/v1/fund-allocations/{allocation_id}/reverse",
        "401 200 200 403 404",
        params=_fresh("allocation"),
        body=_json({"reason": "文号有误"}),
    ),
    Row("GET", "/api/v1/funds/summary", "401 200 200 200 200"),
    Row("GET", "/api/v1/funds/ledger", "401 200 200 200 200"),
    Row("GET", "/api/v1/patrol-policies", "401 200 200 200 200"),
    Row(
        "PUT",
        "/api/v1/patrol-policies",
        "401 200 403 403 403",
        body=_json({"intervals": {"national": 7}}),
    ),
    Row("GET", "/api/v1/overdue", "401 200 200 200 200"),
    Row("GET", "/api/v1/campaigns", "401 200 200 200 200"),
    Row("POST", "/api/v1/campaigns", "401 201 201 403 403", body=_campaign_create),
    Row(
        "POST",
        "/api/v1/campaigns/generate",
        "401 201 200 403 403",  # the year's campaigns are made once: the second call is 200
        body=lambda _o: {"params": {"year": YEAR + 1}},
    ),
    Row("GET", "/api/v1/campaigns/{campaign_id}", "401 200 200 200 404"),
    Row("GET", "/api/v1/campaigns/{campaign_id}/progress", "401 200 200 200 404"),
    Row("GET", "/api/v1/campaigns/{campaign_id}/missing", "401 200 200 200 404"),
    # a county's own patrol intervals: read by whoever reaches the county, set by its admin
    Row("GET", "/api/v1/counties/{county_id}/patrol-policies", "401 200 200 200 200"),
    Row(
        "PUT",
        "/api/v1/counties/{county_id}/patrol-policies",
        "401 200 403 403 403",
        body=_json({"intervals": {"national": 9}}),
    ),
    Row("DELETE", "/api/v1/counties/{county_id}/patrol-policies/{tier}", "401 200 403 403 403"),
    Row("GET", "/api/v1/stats", "401 200 200 200 200"),
    Row("GET", "/api/v1/reports/annual", "401 200 200 200 200"),
    Row("GET", "/api/v1/exports/overdue.csv", "401 200 200 200 200"),
    Row("GET", "/api/v1/exports/overdue.xlsx", "401 200 200 200 200"),
    Row("GET", "/api/v1/exports/funds.xlsx", "401 200 200 200 200"),
    Row("GET", "/api/v1/exports/annual.xlsx", "401 200 200 200 200"),
    Row("GET", "/api/v1/exports/annual.docx", "401 200 200 200 200"),
    Row("GET", "/api/v1/exports/facility/{facility_id}.pdf", "401 200 200 200 404"),
    Row("GET", "/api/v1/exports/township/{township_id}.pdf", "401 200 200 200 404"),
    Row(
        "GET",
        "/api/v1/exports/plates.pdf",
        "401 200 200 200 404",
        body=lambda o: {"params": {"township_id": o.a}},
    ),
    Row("GET", "/api/v1/map/facilities.geojson", "401 200 200 200 200"),
    Row("GET", "/api/v1/map/clusters", "401 200 200 200 200"),
    Row("GET", "/api/v1/audit", "401 200 200 403 403"),
    Row("GET", "/api/v1/vocabulary", "200 200 200 200 200"),
    # --- public, health, documentation ------------------------------------------------
    Row("GET", "/public/facilities.geojson", "200 200 200 200 200"),
    Row("GET", "/healthz", "200 200 200 200 200"),
    Row("GET", "/readyz", "200 200 200 200 200"),
    Row("GET", "/openapi.json", "200 200 200 200 200"),
    Row("HEAD", "/openapi.json", "200 200 200 200 200"),
    Row("GET", "/docs", "200 200 200 200 200"),
    Row("GET", "/static/{path}", "200 200 200 200 200"),
    # --- OGC API - Features (anonymous: the public map, which this app has turned on) ---
    Row("GET", "/ogc", "200 200 200 200 200"),
    Row("GET", "/ogc/", "200 200 200 200 200"),
    Row("GET", "/ogc/api", "200 200 200 200 200"),
    Row("GET", "/ogc/conformance", "200 200 200 200 200"),
    Row("GET", "/ogc/collections", "200 200 200 200 200"),
    Row("GET", "/ogc/collections/{collection_id}", "200 200 200 200 200"),
    Row("GET", "/ogc/collections/{collection_id}/queryables", "200 200 200 200 200"),
    Row("GET", "/ogc/collections/{collection_id}/items", "200 200 200 200 200"),
    Row("GET", "/ogc/collections/{collection_id}/items/{feature_id}", "200 200 200 200 404"),
    # --- the pages (anonymous: 303 to the sign-in page) --------------------------------
    Row("GET", "/signin", "200 200 200 200 200"),
    Row("POST", "/signin", "303 303 303 303 303", body=_signin),
    Row("POST", "/signout", "303 303 303 303 303"),
    Row("GET", "/lang/{locale}", "303 303 303 303 303"),
    Row("GET", "/", "303 200 200 200 200"),
    Row("GET", "/map", "303 200 200 200 200"),
    Row("GET", "/map/outline.geojson", "303 200 200 200 200"),
    Row("GET", "/facilities", "303 200 200 200 200"),
    Row("GET", "/facilities/{facility_id}", "303 200 200 200 404"),
    Row("GET", "/facilities/{facility_id}/edit", "303 200 200 200 404"),
    Row(
        "POST",
        "/facilities/{facility_id}/edit",
        "303 303 303 403 404",  # tier is county work
        params=_fresh("facility"),
        body=_form({"tier": "county"}),
    ),
    Row(
        "POST",
        "/facilities/{facility_id}/record-photo",
        "303 303 303 303 404",  # the township's officers choose it too
        body=lambda o: {"data": {"photo_id": o.shared["photo_id"]}},
    ),
    Row("GET", "/facilities/{facility_id}/archive", "303 200 200 403 404"),
    Row(
        "POST",
        "/facilities/{facility_id}/archive",
        "303 303 303 403 404",
        params=_fresh("facility"),
        body=_form({"confirm": "yes"}),
    ),
    Row("GET", "/review", "303 200 200 200 200"),
    Row(
        "POST",
        "/review/{inspection_id}",
        "303 303 303 403 404",
        params=_fresh("inspection"),
        body=_form({"decision": "accepted"}),
    ),
    Row("GET", "/overdue", "303 200 200 200 200"),
    Row("GET", "/campaigns", "303 200 200 200 200"),
    Row(
        "POST",
        "/campaigns/set-up",
        "303 303 303 403 403",
        body=_form({"year": str(YEAR + 2)}),
    ),
    Row("GET", "/campaigns/{campaign_id}", "303 200 200 200 404"),
    Row("GET", "/maintenance", "303 200 200 200 200"),
    Row("GET", "/maintenance/{order_id}", "303 200 200 200 404"),
    Row(
        "POST",
        "/maintenance/{order_id}/approve",
        "303 303 303 403 404",
        params=_fresh("order", state="planned"),
        body=_form({}),
    ),
    Row(
        "POST",
        "/maintenance/{order_id}/start",
        "303 303 303 303 404",
        params=_fresh("order", state="approved"),
        body=_form({}),
    ),
    Row(
        "POST",
        "/maintenance/{order_id}/complete",
        "303 303 303 303 404",
        params=_fresh("order", state="in_progress"),
        body=_page_completion,
    ),
    Row(
        "POST",
        "/maintenance/{order_id}/cancel",
        "303 303 303 303 404",
        params=_fresh("order", state="planned"),
        body=_form({"reason": "不再需要"}),
    ),
    Row("GET", "/funds", "303 200 200 200 200"),
    Row(
        "POST",
        "/funds/allocations",
        "303 303 303 403 403",
        body=lambda o: {"data": o.allocation_form(o.world.township_a.id)},
    ),
    Row(
        "POST",
        "/funds/allocations/{allocation_id}/reverse",
        "303 303 303 403 404",
        params=_fresh("allocation"),
        body=_form({"reason": "文号有误"}),
    ),
    Row("GET", "/funds/ledger", "303 200 200 200 200"),
    Row("GET", "/annual", "303 200 200 200 200"),
    Row("GET", "/admin", "303 303 403 403 403"),  # to the users' list
    Row("GET", "/admin/users", "303 200 403 403 403"),
    Row("POST", "/admin/users", "303 303 403 403 403", body=lambda o: {"data": o.user_form()}),
    Row("GET", "/admin/users/new", "303 200 403 403 403"),
    Row("GET", "/admin/users/{user_id}", "303 200 403 403 403"),
    Row(
        "POST",
        "/admin/users/{user_id}",
        "303 303 403 403 403",
        params=_fresh("user"),
        body=lambda o: {
            "data": {"full_name": "改过的名字", "role": "township", "township_id": str(o.a)}
        },
    ),
    Row(
        "POST",
        "/admin/users/{user_id}/password",
        "303 303 403 403 403",
        params=_fresh("user"),
        body=_form({"password": "Reset-Pass-2025!", "password_again": "Reset-Pass-2025!"}),
    ),
    Row(
        "POST",
        "/admin/users/{user_id}/active",
        "303 303 403 403 403",
        params=_fresh("user"),
        body=_form({"is_active": "false"}),
    ),
    Row("GET", "/admin/policy", "303 200 403 403 403"),
    Row(
        "POST",
        "/admin/policy",
        "303 303 403 403 403",
        body=_form(
            {"national": "7", "provincial": "14", "municipal": "30", "county": "30"}
            | {"unrated": "30"}
        ),
    ),
    Row("GET", "/admin/import", "303 200 403 403 403"),
    Row("GET", "/admin/import/template.csv", "303 200 403 403 403"),
    Row(
        "POST",
        "/admin/import",
        "303 200 403 403 403",  # the import page answers with its report
        body=lambda o: {"files": {"file": ("sites.csv", o.import_csv(), "text/csv")}},
    ),
    # --- what a QR plate opens (anonymous: the public page, the public map being on) ------
    Row("GET", "/f/{code}", "200 303 303 303 404"),
    Row("HEAD", "/f/{code}", "200 303 303 303 404"),
    # --- the phone form -----------------------------------------------------------------
    Row("GET", "/m", "307 307 307 307 307"),
    Row("GET", "/m/", "303 200 200 200 200"),
    Row("GET", "/m/session.json", "401 200 200 200 200"),
    Row("GET", "/m/manifest.webmanifest", "200 200 200 200 200"),
    Row("GET", "/m/sw.js", "200 200 200 200 200"),
    Row("GET", "/m/signin", "200 200 200 200 200"),
    Row("POST", "/m/signin", "303 303 303 303 303", body=_signin),
    Row("POST", "/m/signout", "303 303 303 303 303"),
    Row("GET", "/m/{name}", "200 200 200 200 200"),
]

#: what a path parameter means, for the check that another township's object is as absent
#: as a missing one (township-owned objects only: users and fixed names are not)
OWNED = ("facility_id", "inspection_id", "photo_id", "order_id", "allocation_id")
OWNED += ("campaign_id", "township_id", "feature_id")
OWNED += ("code",)  # a plate code names a facility


def route_keys(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, from ``app.routes`` (mounts: ``{path}``)."""
    keys: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if isinstance(original, Mount):
            keys.add(("GET", f"{original.path}/{{path}}"))
            continue
        for method in route.methods or ():
            keys.add((method, route.path))
    return keys


class Objects:
    """Township A's objects for the path parameters: shared ones for reads, fresh ones for
    writes, made through the API as the admin (or straight into the database)."""

    def __init__(self, client: TestClient, db: Database, world: factories.World) -> None:
        self.client, self.db, self.world = client, db, world
        self.a = world.township_a.id
        self.admin = world.headers("admin")
        self.client.post(
            "/api/v1/fund-allocations",
            json=self.allocation_body(self.a, amount_fen=100_000_000),
            headers=self.admin,
        ).raise_for_status()

    def _post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.client.post(path, headers=self.admin, **kwargs)
        assert response.status_code in (200, 201), f"{path}: {response.text}"
        return response.json()

    def allocation_body(self, township_id: int, amount_fen: int = 1000) -> dict[str, Any]:
        return {
            "township_id": township_id,
            "year": YEAR,
            "amount_fen": amount_fen,
            "source": "county",
            "document_no": "沁退役军人发〔2025〕8号",
            "allocated_on": f"{YEAR}-03-15",
        }

    def allocation_form(self, township_id: int) -> dict[str, str]:
        return {
            "township_id": str(township_id),
            "year": str(YEAR),
            "amount": "10.00",
            "source": "county",
            "document_no": "沁退役军人发〔2025〕9号",
            "allocated_on": f"{YEAR}-03-16",
        }

    def user_form(self) -> dict[str, str]:
        return {
            "username": f"p{uuid.uuid4().hex[:12]}",
            "full_name": "页面用户",
            "role": "township",
            "township_id": str(self.a),
            "password": "Matrix-Pass-2025!",
            "password_again": "Matrix-Pass-2025!",
        }

    def import_csv(self) -> bytes:
        code = self.world.township_a.code
        row = f"I-{uuid.uuid4().hex[:8]},导入测试墓,grave,unrated,{code},112.19,35.69"
        return f"code,name,kind,tier,township,longitude,latitude\n{row}\n".encode()

    # --- fresh objects --------------------------------------------------------------------

    def new_facility(self) -> int:
        with self.db.begin() as session:
            return factories.make_facility(session, township=self.world.township_a).id  # type: ignore[return-value]

    def new_inspection(self) -> int:
        report = factories.report_body(self.world.facility_a)
        return self._post("/api/v1/inspections", json=report)["id"]

    def new_order(self, state: str) -> int:
        order = self._post("/api/v1/maintenance", json=_order_create(self)["json"])
        steps = {"planned": [], "approved": ["approve"], "in_progress": ["approve", "start"]}
        steps["completed"] = [*steps["in_progress"], "complete"]
        for step in steps[state]:
            body = _completion(self) if step == "complete" else {}
            self._post(f"/api/v1/maintenance/{order['id']}/{step}", **body)
        return order["id"]

    def new_allocation(self) -> int:
        return self._post("/api/v1/fund-allocations", json=self.allocation_body(self.a))["id"]

    def new_user(self) -> int:
        return self._post("/api/v1/users", json=_user_create(self)["json"])["id"]

    # --- the shared objects of reads ------------------------------------------------------

    @cached_property
    def shared(self) -> dict[str, Any]:
        inspection = self.new_inspection()
        photo = self._post(f"/api/v1/inspections/{inspection}/photos", **_photo(self))
        campaign = self._post("/api/v1/campaigns", json=_campaign_create(self)["json"])
        return {
            "facility_id": self.world.facility_a.id,
            "inspection_id": inspection,
            "photo_id": photo["id"],
            "order_id": self.new_order("planned"),
            "allocation_id": self.new_allocation(),
            "campaign_id": campaign["id"],
            "county_id": self.world.township_a.county_id,  # Qinshui
            "tier": "national",
            "township_id": self.a,
            "user_id": self.world.township_user.id,
            "collection_id": "facilities",
            "feature_id": self.world.facility_a.id,
            "locale": "en",
            "name": "app.js",
            "path": "web/app.css",
            "code": codes.encode(self.world.facility_a.id),  # a plate: /f/{code}
        }


def caller(settings: Settings, db: Database, world: factories.World, role: str, fresh: bool):
    """The user a role stands for (a fresh one of the same kind when the row asks)."""
    if role == "anonymous":
        return None
    users = {
        "admin": world.admin,
        "county": world.county,
        "township": world.township_user,
        "other": world.other_township_user,
    }
    if not fresh:
        return users[role]
    kinds = {
        "admin": (Role.admin, None),
        "county": (Role.county, None),
        "township": (Role.township, world.township_a),
        "other": (Role.township, world.township_b),
    }
    role_of, township = kinds[role]
    with db.begin() as session:
        return factories.make_user(session, role=role_of, township=township)


def send(
    client: TestClient, settings: Settings, user: Any, row: Row, params: dict, objects: Objects
):
    """The row's request as ``user`` sends it: the bearer header for the API, the session
    and CSRF cookies for the pages (a page form carries its CSRF token)."""
    client.cookies.clear()
    client.cookies.set(CSRF_COOKIE, SEED)
    headers = {}
    if user is not None:
        token = factories.token(settings, user)
        headers["Authorization"] = f"Bearer {token}"
        client.cookies.set(SESSION_COOKIE, token)
    kwargs = row.body(objects) if row.body else {}
    if row.method == "POST" and not row.path.startswith("/api/") and "json" not in kwargs:
        csrf = csrf_token_for(SEED, key=settings.signing_key())
        kwargs["data"] = {**kwargs.get("data", {}), "csrf_token": csrf}
    return client.request(
        row.method,
        row.path.format(**params),
        headers=headers,
        follow_redirects=False,
        **kwargs,
    )


@pytest.fixture
def matrix_app(tmp_path, database_url: str):
    """The app with everything on (the public map too), so every route is in the table."""
    settings = make_settings(tmp_path, database_url, public_map=True)
    application = create_app(settings)
    yield application
    application.state.db.dispose()


@pytest.fixture
def matrix(matrix_app: FastAPI):
    settings: Settings = matrix_app.state.settings
    db: Database = matrix_app.state.db
    world = factories.make_world(db, settings)
    with TestClient(matrix_app) as client:
        yield client, settings, db, world, Objects(client, db, world)


def test_every_route_is_in_the_table(tmp_path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path}/unused.db", public_map=True)
    app = create_app(settings)
    routes = route_keys(app)
    table = [row.key for row in MATRIX]
    assert len(table) == len(set(table)), "a route has two rows in the table"
    missing = sorted(routes - set(table))
    assert not missing, f"add these routes to the table in tests/test_authz_matrix.py: {missing}"
    gone = sorted(set(table) - routes)
    assert not gone, f"these rows name routes that no longer exist: {gone}"


def test_authorization_matrix(matrix) -> None:
    client, settings, db, world, objects = matrix
    wrong: list[str] = []
    for row in MATRIX:
        for role in ROLES:
            params = dict(objects.shared)
            # fresh objects for a caller who may change them; a refusal changes nothing (and
            # were it let through by mistake, its row fails here anyway)
            if row.params is not None and role != "anonymous" and row.status(role) < 400:
                params |= row.params(objects)
            user = caller(settings, db, world, role, row.fresh_caller)
            response = send(client, settings, user, row, params, objects)
            if response.status_code != row.status(role):
                wrong.append(
                    f"{row.method} {row.path} as {role}: {response.status_code}, expected"
                    f" {row.status(role)}: {response.text[:200]}"
                )
    assert not wrong, "\n".join(wrong)


def test_another_township_is_as_absent_as_nothing(matrix) -> None:
    """Township B's user gets for township A's object exactly what it gets for an id that
    does not exist (status and, for the API, the message but for the id): nothing in the
    answer says that the object is there."""
    client, settings, db, world, objects = matrix
    wrong: list[str] = []
    for row in MATRIX:
        named = [p for p in OWNED if "{" + p + "}" in row.path]
        if not named:
            continue
        params = dict(objects.shared)
        if row.params is not None:
            params |= row.params(objects)
        absent = params | {p: MISSING for p in named}
        user = world.other_township_user
        found = send(client, settings, user, row, params, objects)
        nothing = send(client, settings, user, row, absent, objects)
        if found.status_code != nothing.status_code:
            wrong.append(
                f"{row.method} {row.path}: {found.status_code} for township A's object,"
                f" {nothing.status_code} for a missing one"
            )
        elif row.path.startswith("/api/"):
            text = found.text
            for p in named:
                text = text.replace(str(params[p]), str(MISSING))
            if text != nothing.text:
                wrong.append(f"{row.method} {row.path}: {found.text!r} vs {nothing.text!r}")
    assert not wrong, "\n".join(wrong)
