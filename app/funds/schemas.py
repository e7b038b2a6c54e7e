import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.funds.money import PositiveFen, Year, rate
from app.models import County, EntryKind, FundAccount, FundSource, Township
from app.schemas import CountyRef, Day, Id, InputModel, Reason, TownshipRef


class AllocationCreate(InputModel):
    client_id: uuid.UUID | None = Field(
        default=None,
        description="made by the client (a UUID): sending the same allocation again with it"
        " stores it once and answers 200 with the stored one",
    )
    township_id: Id
    year: Year
    amount_fen: PositiveFen = Field(description="integer fen (分): 10000000 = 100,000.00 yuan")
    source: FundSource
    document_no: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="文号, e.g. 沁退役军人发〔2025〕12号"
    )
    allocated_on: Day
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None


class AllocationReverse(InputModel):
    reason: Reason
    override_reason: Reason | None = Field(
        default=None, description="admins only: reverse even if the balance goes below zero"
    )


class AllocationRead(BaseModel):
    id: int
    client_id: uuid.UUID | None
    township: TownshipRef
    year: int
    amount_fen: int
    source: FundSource
    document_no: str
    allocated_on: Day
    note: str | None
    created_at: datetime
    reversed_at: datetime | None


class AccountRead(BaseModel):
    township: TownshipRef
    county_id: int = Field(description="the township's county")
    allocated_fen: int
    committed_fen: int
    spent_fen: int
    available_fen: int
    execution_rate: float | None = Field(description="spent / allocated (4 places)")

    @classmethod
    def of(cls, township: Township, account: FundAccount) -> "AccountRead":
        return cls(
            township=TownshipRef.model_validate(township),
            county_id=township.county_id,
            allocated_fen=account.allocated_fen,
            committed_fen=account.committed_fen,
            spent_fen=account.spent_fen,
            available_fen=account.available_fen,
            execution_rate=rate(account.spent_fen, account.allocated_fen),
        )


class Totals(BaseModel):
    allocated_fen: int
    committed_fen: int
    spent_fen: int
    available_fen: int
    execution_rate: float | None

    @classmethod
    def of(cls, rows: Sequence[AccountRead]) -> "Totals":
        allocated = sum(r.allocated_fen for r in rows)
        spent = sum(r.spent_fen for r in rows)
        return cls(
            allocated_fen=allocated,
            committed_fen=sum(r.committed_fen for r in rows),
            spent_fen=spent,
            available_fen=sum(r.available_fen for r in rows),
            execution_rate=rate(spent, allocated),
        )


class CountyTotals(Totals):
    """One county's accounts added up (its townships are the AccountReads with its id)."""

    county: CountyRef

    @classmethod
    def per_county(
        cls, counties: Sequence[County], rows: Sequence[AccountRead]
    ) -> list["CountyTotals"]:
        """A row per county (in the order given) of the accounts of its townships."""
        return [
            cls(
                county=CountyRef.model_validate(county),
                **Totals.of([r for r in rows if r.county_id == county.id]).model_dump(),
            )
            for county in counties
        ]


class SummaryRead(BaseModel):
    year: int
    division: str = Field(description="the division code summed up ('' : the whole country)")
    townships: list[AccountRead]
    counties: list[CountyTotals] = Field(description="per county, in division-code order")
    totals: Totals


class LedgerEntryRead(BaseModel):
    id: int
    township_id: int
    year: int
    kind: EntryKind
    amount_fen: int = Field(description="signed: its effect on what is available")
    order_id: int | None
    allocation_id: int | None
    actor_id: int | None
    actor_username: str | None
    actor_name: str | None
    at: datetime
    reason: str | None
    override_reason: str | None
