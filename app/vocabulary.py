"""The service's vocabularies with their Chinese labels, for clients that build forms
(the phone's checklist, a county clerk's filters) without hard-coding them."""

from enum import StrEnum

from fastapi import APIRouter, Response
from pydantic import BaseModel

from app.facilities.completeness import COLLECTION_FIELDS
from app.models.enums import (
    CATEGORY_LABELS_ZH,
    CHECKLIST_LABELS_ZH,
    CHECKLIST_PROBLEMS_ZH,
    CONDITION_LABELS_ZH,
    ENTRY_LABELS_ZH,
    HEADSTONE_LABELS_ZH,
    KIND_LABELS_ZH,
    MATERIAL_LABELS_ZH,
    ORDER_STATUS_LABELS_ZH,
    PROTECTION_UNIT_LABELS_ZH,
    REVIEW_LABELS_ZH,
    SOURCE_LABELS_ZH,
    STATUS_LABELS_ZH,
    TIER_LABELS_ZH,
)
from app.standard import SIX_LABELS_ZH

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
    protection_units: list[Term]
    headstone_types: list[Term]
    main_materials: list[Term]
    #: the national collection's fields of a facility (全国烈士纪念设施信息采集), in order:
    #: ``value`` is the field's name in the API, the importer's header and the exports
    collection_fields: list[Term]
    #: "六个一": the six items every scattered site should have (app.standard)
    six_items: list[Term]


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
    protection_units=_terms(PROTECTION_UNIT_LABELS_ZH),
    headstone_types=_terms(HEADSTONE_LABELS_ZH),
    main_materials=_terms(MATERIAL_LABELS_ZH),
    collection_fields=[
        Term(value=field, label_zh=label) for field, label in COLLECTION_FIELDS.items()
    ],
    six_items=_terms(SIX_LABELS_ZH),
)


@router.get(
    "/vocabulary",
    response_model=Vocabulary,
    summary="Every enumerated value with its Chinese label (public: no personal data)",
)
def read_vocabulary(response: Response) -> Vocabulary:
    response.headers["Cache-Control"] = "public, max-age=3600"
    return VOCABULARY
