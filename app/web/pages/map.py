"""Pages: the map (地图) — every site in the user's scope on the county's outline.

The page is a frame: the browser draws the sites from the GeoJSON feed
(``/api/v1/map/facilities.geojson``, which the session cookie authenticates) with the
vendored Leaflet (``/static/vendor/leaflet/``) on one canvas, and the county's outline from
``/map/outline.geojson``. It asks for the view's box only: first the clusters
(``/api/v1/map/clusters``, the view's sites counted on a grid), and when the view holds
more than ``CLUSTER_THRESHOLD`` sites it draws those counts, otherwise every site of the
feed in the box. Filters are a plain GET form, so a filtered map has its own URL
and works as a link; ``map.js`` re-fetches the feed with the same filters as they change.
"""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app import access
from app.clock import local_today
from app.counties import service as counties
from app.deps import SessionDep, SettingsDep
from app.geo import clusters
from app.geo.outline import county_bbox
from app.geo.responses import GEOJSON
from app.models import FacilityKind, FacilityStatus, Role, Tier
from app.townships import service as townships
from app.web.forms import whole_number
from app.web.i18n import N_, enum_label
from app.web.session import PageUser
from app.web.templating import gettext, locale_of, render

router = APIRouter()

#: what the state filter offers; the map colours every site by one of them
STATES = {
    "overdue": N_("Overdue"),
    "due_soon": N_("Due within 7 days"),
    "ok": N_("On schedule"),
    "archived": N_("Archived or no longer patrolled"),
}
#: days ahead within which a site counts as due soon (amber), as the clusters count it
DUE_SOON_DAYS = clusters.DUE_SOON_DAYS
#: above this many sites in view the map draws clusters instead of one marker per site
#: (``?clusters_above=N`` overrides it for one page, for tests and a curious admin)
CLUSTER_THRESHOLD = 2000

Text = Annotated[str, Query(max_length=20)]


def _township_id(value: str) -> int | None:
    return whole_number(value)


def _labels(request: Request) -> dict[str, Any]:
    """Every word ``map.js`` shows, in the page's language (the JS holds no text)."""
    _ = gettext(request)
    locale = locale_of(request)
    return {
        "tier": {t.value: enum_label(t, locale) for t in Tier},
        "kind": {k.value: enum_label(k, locale) for k in FacilityKind},
        "status": {s.value: enum_label(s, locale) for s in FacilityStatus},
        "state": {key: _(msgid) for key, msgid in STATES.items()},
        "sites": _("sites"),
        "count": _("%(total)s in all, %(overdue)s overdue"),
        "summary": _(
            "The map shows %(total)s: %(overdue)s overdue, %(due_soon)s due within 7 days,"
            " %(ok)s on schedule, %(archived)s archived or no longer patrolled."
        ),
        "days_overdue": _("%(days)s days overdue"),
        "next_due": _("Next patrol due: %(date)s"),
        "last_inspected": _("Last patrol: %(date)s"),
        "never_inspected": _("Never patrolled"),
        "open_maintenance": _("Open maintenance orders: %(n)s"),
        "open": _("Open the facility's page"),
        "zoom_in": _("Zoom in"),
        "zoom_out": _("Zoom out"),
        "loading": _("Loading the sites…"),
        "failed": _("The sites could not be loaded. Reload the page to try again."),
        "nothing": _("No site matches these filters."),
        "cluster": _("%(count)s here: %(states)s. Click to zoom in."),
        "clustered": _("Too many sites to show one by one: zoom in to see each site."),
    }


@router.get("/map")
def map_page(
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    township_id: Text = "",
    tier: Text = "",
    state: Text = "",
    clusters_above: Text = "",
) -> Response:
    chosen_township = _township_id(township_id)
    if chosen_township is not None:  # another township's: 404, as the feed would answer
        access.ensure_visible(session, user, chosen_township, f"Township {chosen_township}")
    visible = townships.visible(session, user)
    min_lon, min_lat, max_lon, max_lat = counties.outline_bbox(session, user) or county_bbox(
        settings
    )
    threshold = whole_number(clusters_above)
    return render(
        request,
        "map/index.html",
        {
            "townships": visible if access.is_staff(user) else [],
            "tiers": list(Tier),
            "states": STATES,
            "chosen": {
                "township_id": chosen_township,
                "tier": tier if tier in {t.value for t in Tier} else "",
                "state": state if state in STATES else "",
            },
            "is_admin": user.role is Role.admin,
            "map_data": {
                "feed": "/api/v1/map/facilities.geojson",
                "clusters": "/api/v1/map/clusters",
                "cluster_threshold": CLUSTER_THRESHOLD if threshold is None else threshold,
                "outline": "/map/outline.geojson",
                "bbox": orjson.dumps([min_lon, min_lat, max_lon, max_lat]).decode(),
                "today": local_today(settings.tz).isoformat(),
                "timezone": settings.timezone,
                "due_soon_days": DUE_SOON_DAYS,
                "tile_url": settings.tile_url,
                "tile_attribution": settings.tile_attribution,
                "labels": orjson.dumps(_labels(request)).decode(),
            },
        },
    )


@router.get("/map/outline.geojson")
def outline_geojson(user: PageUser, session: SessionDep) -> Response:
    """The outlines of the user's counties, a GeoJSON FeatureCollection (WGS-84), for the
    map's background."""
    return Response(
        orjson.dumps(counties.outline_features(session, user)),
        media_type=GEOJSON,
        headers={"Cache-Control": "private, max-age=3600"},
    )
