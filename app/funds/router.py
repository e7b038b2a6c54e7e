from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app import regions
from app.clock import local_today
from app.deps import CurrentUser, KeysetPageDep, SessionDep, SettingsDep, StaffUser
from app.errors import BODY, OTHER_TOWNSHIP, SIGNED_IN, error_responses
from app.funds import service
from app.funds.schemas import (
    AccountRead,
    AllocationCreate,
    AllocationRead,
    AllocationReverse,
    CountyTotals,
    LedgerEntryRead,
    SummaryRead,
    Totals,
)
from app.models import FundAllocation, LedgerEntry, Township, User
from app.schemas import Id, Page, TownshipRef

router = APIRouter(tags=["funds"], responses=SIGNED_IN)


def allocation_read(allocation: FundAllocation, township: Township) -> AllocationRead:
    return AllocationRead(
        **allocation.model_dump(exclude={"township_id", "created_by_id"}),
        township=TownshipRef.model_validate(township),
    )


def entry_read(entry: LedgerEntry, actor: User | None) -> LedgerEntryRead:
    return LedgerEntryRead(
        **entry.model_dump(),
        actor_username=actor.username if actor else None,
        actor_name=actor.full_name if actor else None,
    )


def report_year(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    year: Annotated[
        int | None,
        Query(ge=2000, le=2100, description="default: the latest year with allocations"),
    ] = None,
) -> int:
    """The year a summary or report is about (DESIGN.md rule 10 for the default)."""
    fallback = local_today(settings.tz).year
    return year or service.default_year(session, fallback=fallback, user=user)


ReportYear = Annotated[int, Depends(report_year)]

#: the division a summary or report is about: one inside the caller's reach (a 404
#: otherwise), by default the caller's own (``app.regions``)
ReportDivision = Annotated[
    str | None,
    Query(
        max_length=9,
        pattern=regions.DIVISION_PATTERN,
        description="a division code within your reach: a province (2 digits), a city (4),"
        " a county (6) or a township (9); default: your own",
    ),
]
#: what a 404 of a report about a division means
OTHER_DIVISION = error_responses(
    404, why={404: "division is outside your reach, or names no county or township"}
)


@router.post(
    "/fund-allocations",
    response_model=AllocationRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": AllocationRead, "description": "a replay: the stored allocation"},
        **error_responses(
            *BODY, 403, 409, why={409: "client_id already names a different allocation"}
        ),
    },
    summary="Record funds handed to a township (经费下拨; send it again safely with a client_id)",
)
def create_allocation(
    session: SessionDep, user: StaffUser, response: Response, data: AllocationCreate
) -> AllocationRead:
    allocation, created = service.allocate_once(session=session, actor=user, data=data)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return allocation_read(allocation, session.get(Township, allocation.township_id))  # type: ignore[arg-type]


@router.get(
    "/fund-allocations",
    response_model=Page[AllocationRead],
    responses=OTHER_TOWNSHIP,
    summary="Allocations",
)
def list_allocations(
    session: SessionDep,
    user: CurrentUser,
    page: KeysetPageDep,
    township_id: Id | None = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Page[AllocationRead]:
    listed = service.list_allocations(
        session=session,
        user=user,
        township_id=township_id,
        year=year,
        window=page.window,
    )
    return Page.of(listed, [allocation_read(a, t) for a, t in listed.rows], page)


@router.get(
    "/fund-allocations/{allocation_id}",
    response_model=AllocationRead,
    responses=error_responses(404),
    summary="One allocation",
)
def read_allocation(session: SessionDep, user: CurrentUser, allocation_id: Id) -> AllocationRead:
    allocation = service.get_allocation(session=session, user=user, allocation_id=allocation_id)
    return allocation_read(allocation, session.get(Township, allocation.township_id))  # type: ignore[arg-type]


@router.post(
    "/fund-allocations/{allocation_id}/reverse",
    response_model=AllocationRead,
    responses=error_responses(*BODY, 403, 404, 409),
    summary="Reverse an allocation with a ledger entry (409 if its money is already used)",
)
def reverse_allocation(
    session: SessionDep, user: CurrentUser, allocation_id: Id, data: AllocationReverse
) -> AllocationRead:
    allocation = service.reverse(
        session=session,
        actor=user,
        allocation_id=allocation_id,
        reason=data.reason,
        override_reason=data.override_reason,
    )
    return allocation_read(allocation, session.get(Township, allocation.township_id))  # type: ignore[arg-type]


@router.get(
    "/funds/summary",
    response_model=SummaryRead,
    responses=OTHER_DIVISION,
    summary="Allocated, committed, spent and available per township and county for a year",
)
def read_summary(
    session: SessionDep, user: CurrentUser, year: ReportYear, division: ReportDivision = None
) -> SummaryRead:
    area = regions.area(session, user, division)
    accounts = service.summary(
        session=session, user=area.viewer, year=year, townships_seen=area.townships
    )
    rows = [AccountRead.of(t, a) for t, a in accounts]
    return SummaryRead(
        year=year,
        division=area.division,
        townships=rows,
        counties=CountyTotals.per_county(area.counties, rows),
        totals=Totals.of(rows),
    )


@router.get(
    "/funds/ledger",
    response_model=Page[LedgerEntryRead],
    responses=OTHER_TOWNSHIP,
    summary="The ledger (经费台账), in the order it was written",
)
def read_ledger(
    session: SessionDep,
    user: CurrentUser,
    page: KeysetPageDep,
    township_id: Id | None = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Page[LedgerEntryRead]:
    listed = service.ledger(
        session=session,
        user=user,
        township_id=township_id,
        year=year,
        window=page.window,
    )
    return Page.of(listed, [entry_read(e, u) for e, u in listed.rows], page)
