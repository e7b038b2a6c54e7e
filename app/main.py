"""The application factory: settings, database, error handlers, routers, static files."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app import health
from app.archives.router import router as archives_router
from app.audit.router import router as audit_router
from app.auth.router import router as auth_router
from app.config import Settings, get_settings
from app.counties.router import router as counties_router
from app.db import Database
from app.errors import install_error_handlers
from app.exports.router import router as exports_router
from app.facilities.router import router as facilities_router
from app.funds.router import router as funds_router
from app.geo.router import public_router as public_map_router
from app.geo.router import router as map_router
from app.inspections.router import router as inspections_router
from app.limits import BodyLimitMiddleware, size_text
from app.maintenance.router import router as maintenance_router
from app.ogc import errors as ogc_errors
from app.ogc.router import router as ogc_router
from app.photos.gate import DecodeGate
from app.photos.processing import MAX_BYTES as MAX_PHOTO_BYTES
from app.photos.router import router as photos_router
from app.photos.store import photo_store_for
from app.plates.router import api_router as plates_router
from app.plates.router import router as plate_pages_router
from app.reports.router import router as reports_router
from app.schedule.router import router as schedule_router
from app.townships.router import router as townships_router
from app.vocabulary import router as vocabulary_router
from app.web import router as web
from app.web.headers import SecurityHeadersMiddleware

STATIC_DIR = Path(__file__).parent / "static"
#: JSON bodies are small; photo uploads get room for one photo plus multipart framing
DEFAULT_BODY_LIMIT = 1024 * 1024
IMPORT_BYTES = 10 * 1024 * 1024
BODY_LIMITS = [
    (
        r"/api/v1/(inspections|maintenance)/\d+/photos",
        MAX_PHOTO_BYTES + 64 * 1024,
        f"a photo may be at most {size_text(MAX_PHOTO_BYTES)}",
    ),
    # the administration page's facility spreadsheet (a county's registry is a few MB)
    (r"/admin/import", IMPORT_BYTES, f"a spreadsheet may be at most {size_text(IMPORT_BYTES)}"),
]

DESCRIPTION = """
零散烈士纪念设施巡查管护系统 — registry, patrols, maintenance and protection funds
for scattered martyr memorial facilities.

Sign in with **Authorize** (username and password of a user), then try the endpoints.
Lists take `limit` / `offset` and answer `{items, total, limit, offset}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    db = Database(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        db.dispose()

    app = FastAPI(
        title="Memorial Patrol 烈士纪念设施巡查",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.photo_store = photo_store_for(settings)
    app.state.decode_gate = DecodeGate.from_settings(settings)  # one per worker process
    install_error_handlers(app)
    ogc_errors.install(app)
    app.add_middleware(BodyLimitMiddleware, default=DEFAULT_BODY_LIMIT, routes=BODY_LIMITS)
    app.add_middleware(SecurityHeadersMiddleware, tile_url=settings.tile_url)

    api = APIRouter(prefix="/api/v1")
    for router in (
        auth_router,
        townships_router,
        counties_router,
        facilities_router,
        inspections_router,
        photos_router,
        schedule_router,
        maintenance_router,
        funds_router,
        reports_router,
        exports_router,
        archives_router,
        plates_router,
        map_router,
        audit_router,
        vocabulary_router,
    ):
        api.include_router(router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(ogc_router)
    if settings.public_map:
        app.include_router(public_map_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        # Served from our own static files: county intranets often have no internet.
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Memorial Patrol API 接口文档",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    app.include_router(plate_pages_router)  # /f/{code}: what a QR plate opens
    web.install(app)  # the pages: "/" is the dashboard
    return app
