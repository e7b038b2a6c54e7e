"""Liveness and readiness for load balancers and the Docker HEALTHCHECK."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from app.deps import DatabaseDep
from app.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])

#: what the database driver says, in a few words an operator can act on (the driver's own
#: text names hosts and ports, which an anonymous caller of /readyz need not learn)
_REASONS = (
    ("connection refused", "the database server refuses connections (is it running?)"),
    ("timeout expired", "the database server did not answer in time"),
    ("timed out", "the database server did not answer in time"),
    ("shutting down", "the database server is shutting down"),
    ("starting up", "the database server is starting up"),
    ("terminating connection", "the database server closed the connection"),
    ("server closed the connection", "the database server closed the connection"),
    ("password authentication failed", "the database refused the credentials"),
    ("does not exist", "the database does not exist"),
    ("too many clients", "the database server has no free connections"),
    ("unable to open database file", "the database file cannot be opened"),
    ("database is locked", "the database is locked by another writer"),
)


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    revision: str | None
    head: str | None
    #: why the service is not ready, when it is not
    reason: str | None = None


def unavailable_reason(exc: SQLAlchemyError) -> str:
    """Why the database could not be reached, without the driver's host and port details."""
    message = str(getattr(exc, "orig", None) or exc).lower()
    for needle, reason in _REASONS:
        if needle in message:
            return reason
    return f"the database cannot be reached ({type(getattr(exc, 'orig', None) or exc).__name__})"


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    # async: no I/O, so no hop to a worker thread, and it answers on the event loop even
    # while every worker thread is busy (a large feed download, a burst of reports)
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready, and why (`reason`)"}},
    summary="The database answers and its schema is at the newest migration",
)
def readyz(db: DatabaseDep) -> Readiness | JSONResponse:
    head = head_revision()
    try:
        revision = current_revision(db.engine)
    except SQLAlchemyError as exc:
        body = Readiness(
            status="unavailable",
            database="unreachable",
            revision=None,
            head=head,
            reason=unavailable_reason(exc),
        )
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})
    if revision != head:
        body = Readiness(
            status="migrate",
            database="behind",
            revision=revision,
            head=head,
            reason=f"the schema is at {revision or 'no revision'}, not {head}: run the migrations",
        )
        return JSONResponse(body.model_dump(), status_code=503)
    return Readiness(status="ok", database="ok", revision=revision, head=head)
