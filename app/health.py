"""Liveness and readiness for load balancers and the Docker HEALTHCHECK."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from app.deps import DatabaseDep
from app.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    revision: str | None
    head: str | None


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness}},
    summary="The database answers and its schema is at the newest migration",
)
def readyz(db: DatabaseDep) -> Readiness | JSONResponse:
    head = head_revision()
    try:
        revision = current_revision(db.engine)
    except SQLAlchemyError:
        body = Readiness(status="unavailable", database="unreachable", revision=None, head=head)
        return JSONResponse(body.model_dump(), status_code=503)
    if revision != head:
        body = Readiness(status="migrate", database="behind", revision=revision, head=head)
        return JSONResponse(body.model_dump(), status_code=503)
    return Readiness(status="ok", database="ok", revision=revision, head=head)
