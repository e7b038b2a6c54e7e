"""``/api/v1/counties``: the counties a user reaches (added with ``memorial add-county``)."""

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from app.counties import service
from app.deps import CurrentUser, PageDep, SessionDep
from app.errors import SIGNED_IN, error_responses
from app.models import County
from app.schemas import Id, Page

router = APIRouter(prefix="/counties", tags=["counties"], responses=SIGNED_IN)


class CountyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    timezone: str
    has_outline: bool
    created_at: datetime

    @classmethod
    def of(cls, county: County) -> "CountyRead":
        return cls(
            id=county.id,  # type: ignore[arg-type]
            code=county.code,
            name=county.name,
            timezone=county.timezone,
            has_outline=county.outline is not None,
            created_at=county.created_at,
        )


@router.get("", response_model=Page[CountyRead], summary="Counties you reach, by code")
def list_counties(session: SessionDep, user: CurrentUser, page: PageDep) -> Page[CountyRead]:
    rows, total = service.list_counties(
        session=session, user=user, limit=page.limit, offset=page.offset
    )
    return Page(
        items=[CountyRead.of(c) for c in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{county_id}",
    response_model=CountyRead,
    responses=error_responses(404),
    summary="One county",
)
def read_county(session: SessionDep, user: CurrentUser, county_id: Id) -> CountyRead:
    return CountyRead.of(service.get_county(session=session, user=user, county_id=county_id))


@router.get(
    "/{county_id}/outline.geojson",
    responses=error_responses(404),
    summary="The county's outline as a GeoJSON Feature (null geometry: none on file)",
)
def county_outline(session: SessionDep, user: CurrentUser, county_id: Id) -> dict[str, object]:
    county = service.get_county(session=session, user=user, county_id=county_id)
    return {
        "type": "Feature",
        "id": county.code,
        "geometry": county.outline,
        "properties": {"code": county.code, "name": county.name},
    }
