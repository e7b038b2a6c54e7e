"""A route that opens its own short sessions (the photo uploads) must not also get a
request session through its dependencies: on PostgreSQL that session would hold a pooled
connection, idle in a transaction, while the upload waits to decode and decodes."""

from pathlib import Path

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.deps import get_db, get_session
from app.main import create_app
from tests.conftest import make_settings


def _calls(dependant: Dependant) -> set[object]:
    found: set[object] = set()
    for sub in dependant.dependencies:
        found.add(sub.call)
        found |= _calls(sub)
    return found


def test_routes_that_open_their_own_sessions_get_no_request_session(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}"))
    own_sessions = []
    for context in iter_route_contexts(app.routes):
        route = context.route
        if not isinstance(route, APIRoute):
            continue
        direct = {sub.call for sub in route.dependant.dependencies}
        if get_db in direct and get_session not in direct:
            own_sessions.append((context, route))
            assert get_session not in _calls(route.dependant), (
                f"{sorted(route.methods)} {context.path} opens its own sessions but its"
                " dependencies open a request session too: use UploadingUser"
            )
    paths = {context.path for context, _ in own_sessions}
    assert "/api/v1/inspections/{inspection_id}/photos" in paths
    assert "/api/v1/maintenance/{order_id}/photos" in paths
