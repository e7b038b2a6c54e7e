"""The service's vocabularies with their Chinese labels, for clients that build forms
(the phone's checklist, a county clerk's filters) without hard-coding them."""

from enum import StrEnum

from fastapi import APIRouter, Response
from pydantic import BaseModel

from app.models.enums import (
    CATEGORY_LABELS_ZH,
    CHECKLIST_LABELS_ZH,
    CHECKLIST_PROBLEMS_ZH,
    CONDITION_LABELS_ZH,
    ENTRY_LABELS_ZH,
    KIND_LABELS_ZH,
    ORDER_STATUS_LABELS_ZH,
    REVIEW_LABELS_ZH,
    SOURCE_LABELS_ZH,
    STATUS_LABELS_ZH,
    TIER_LABELS_ZH,
)

router = APIRouter(tags=["vocabulary"])


class Term(BaseModel):
    value: str
    label_zh: str


class ChecklistTerm(Term):
    problem_zh: str


class Vocabulary(BaseModel):
    tiers: list[Term]
    kinds: list[Term]
    facility_statuses: list[Term]
    conditions: list[Term]
    checklist_items: list[ChecklistTerm]
    review_statuses: list[Term]
    maintenance_categories: list[Term]
    order_statuses: list[Term]
    fund_sources: list[Term]
    ledger_kinds: list[Term]


def _terms(labels: dict[StrEnum, str]) -> list[Term]:
    return [Term(value=member.value, label_zh=label) for member, label in labels.items()]


VOCABULARY = Vocabulary(
    tiers=_terms(TIER_LABELS_ZH),
    kinds=_terms(KIND_LABELS_ZH),
    facility_statuses=_terms(STATUS_LABELS_ZH),
    conditions=_terms(CONDITION_LABELS_ZH),
    checklist_items=[
        ChecklistTerm(value=item.value, label_zh=label, problem_zh=CHECKLIST_PROBLEMS_ZH[item])
        for item, label in CHECKLIST_LABELS_ZH.items()
    ],
    review_statuses=_terms(REVIEW_LABELS_ZH),
    maintenance_categories=_terms(CATEGORY_LABELS_ZH),
    order_statuses=_terms(ORDER_STATUS_LABELS_ZH),
    fund_sources=_terms(SOURCE_LABELS_ZH),
    ledger_kinds=_terms(ENTRY_LABELS_ZH),
)


@router.get(
    "/vocabulary",
    response_model=Vocabulary,
    summary="Every enumerated value with its Chinese label (public: no personal data)",
)
def read_vocabulary(response: Response) -> Vocabulary:
    response.headers["Cache-Control"] = "public, max-age=3600"
    return VOCABULARY
