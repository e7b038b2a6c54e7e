"""The "六个一" standard for scattered memorial sites, judged per facility from what the
service knows. One rule, in one place (``judge``); the facility page, the dashboard, the
annual report and the archives (一处一表, 一乡一册) all read it.

The six items, and what each is judged on:

=================  ==================================  ========================================
item               judged on                           met when
=================  ==================================  ========================================
一个醒目标示        the report's ``marker_sign``         answered ``ok``
一份事迹简介        the report's ``biography_plaque``    answered ``ok``
一座规范墓碑        the report's ``headstone``           answered ``ok``; ``na`` on a site that
                                                       is not a grave (kind other than
                                                       ``grave``/``cemetery``) is met, as
                                                       not applicable
一个保护边界        the report's ``boundary``            answered ``ok``
一份管理制度        the record                          a custodian (看护人) and a management
                                                       rule (管理制度) are both on file
一条通行道路        the report's ``access_path``         answered ``ok``
=================  ==================================  ========================================

"The report" is the facility's **latest accepted** report (审核通过, newest
``inspected_at``, then the highest id): a report still waiting for review, or rejected,
is no evidence, so a site whose last report was rejected is judged on the accepted one
before it. An item with no evidence — no accepted report, the item not answered, or
answered ``na`` where it applies — is not met: "六个一" is an attestation, and an
attestation needs evidence. The evidence and its date (the report's local date, or the
rule's adoption date) come with every verdict.

``township_shares`` counts, per township, the active sites meeting all six ("六个一"达标率)
and how much of the national collection's record they have filled, in one SQL aggregate
that reads the checklist JSON in the database: ``all_met_sql`` is ``judge`` written in SQL,
and ``tests/test_standard.py`` holds the two to the same answers.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from app import access
from app.facilities.completeness import COLLECTION_FIELDS, filled_count
from app.models import (
    ChecklistAnswer,
    ChecklistItem,
    Facility,
    FacilityKind,
    FacilityStatus,
    Inspection,
    ReviewStatus,
    User,
)
from app.models.enums import CHECKLIST_LABELS_ZH


class SixItem(StrEnum):
    """六个一."""

    sign = "sign"
    biography = "biography"
    headstone = "headstone"
    boundary = "boundary"
    management = "management"
    access = "access"


SIX_LABELS_ZH = {
    SixItem.sign: "一个醒目标示",
    SixItem.biography: "一份事迹简介",
    SixItem.headstone: "一座规范墓碑",
    SixItem.boundary: "一个保护边界",
    SixItem.management: "一份管理制度",
    SixItem.access: "一条通行道路",
}

#: the items judged on the latest accepted report, and the checklist answer each reads
FROM_REPORT: dict[SixItem, ChecklistItem] = {
    SixItem.sign: ChecklistItem.marker_sign,
    SixItem.biography: ChecklistItem.biography_plaque,
    SixItem.headstone: ChecklistItem.headstone,
    SixItem.boundary: ChecklistItem.boundary,
    SixItem.access: ChecklistItem.access_path,
}
#: kinds that are graves: a headstone always applies to them
GRAVE_KINDS = frozenset({FacilityKind.grave, FacilityKind.cemetery})


@dataclass(frozen=True)
class Evidence:
    """The report a verdict reads: enough to name it and link to it."""

    inspection_id: int
    inspected_on: date
    receipt: str
    checklist: dict[str, str]


@dataclass(frozen=True)
class Verdict:
    item: SixItem
    met: bool
    #: what the judgement rests on, in Chinese (shown on the pages and in the archives)
    evidence_zh: str
    #: the date of that evidence (the report's local date, the rule's adoption date)
    evidence_on: date | None
    #: the report it was read from, when it was
    inspection_id: int | None = None

    @property
    def label_zh(self) -> str:
        return SIX_LABELS_ZH[self.item]


@dataclass(frozen=True)
class Standing:
    """A facility's six verdicts, in the standard's order."""

    verdicts: tuple[Verdict, ...]

    @property
    def met(self) -> int:
        return sum(v.met for v in self.verdicts)

    @property
    def all_met(self) -> bool:
        return all(v.met for v in self.verdicts)


def judge(facility: Facility, report: Evidence | None, *, until: date | None = None) -> Standing:
    """The six verdicts for ``facility`` given its latest accepted report (or none); with
    ``until`` (a past year's report), a management rule adopted after that day does not
    count yet."""
    verdicts = []
    for item in SixItem:
        if item is SixItem.management:
            verdicts.append(_management(facility, until))
        else:
            verdicts.append(_from_report(item, facility, report))
    return Standing(tuple(verdicts))


def _from_report(item: SixItem, facility: Facility, report: Evidence | None) -> Verdict:
    checked = FROM_REPORT[item]
    label = CHECKLIST_LABELS_ZH[checked]
    if report is None:
        return Verdict(item, False, "尚无审核通过的巡查报告", None)
    answer = report.checklist.get(checked.value)
    on, receipt, rid = report.inspected_on, report.receipt, report.inspection_id
    if answer == ChecklistAnswer.ok:
        return Verdict(item, True, f"巡查（回执 {receipt}）：{label}完好", on, rid)
    if answer == ChecklistAnswer.problem:
        return Verdict(item, False, f"巡查（回执 {receipt}）：{label}存在问题", on, rid)
    if (
        answer == ChecklistAnswer.na
        and item is SixItem.headstone
        and facility.kind not in GRAVE_KINDS
    ):
        return Verdict(item, True, f"巡查（回执 {receipt}）：非墓葬，不适用", on, rid)
    said = "填写不适用" if answer == ChecklistAnswer.na else "未检查此项"
    return Verdict(item, False, f"巡查（回执 {receipt}）：{label}{said}", on, rid)


def _management(facility: Facility, until: date | None = None) -> Verdict:
    custodian = (facility.custodian_name or "").strip()
    rule = (facility.management_rule or "").strip()
    adopted = facility.management_rule_on
    if custodian and rule and until is not None and adopted is not None and adopted > until:
        return Verdict(
            SixItem.management,
            False,
            f"管理制度于{adopted.isoformat()}制定，晚于统计截止日",
            adopted,
        )
    if custodian and rule:
        return Verdict(
            SixItem.management, True, f"看护人 {custodian}；{rule}", facility.management_rule_on
        )
    lacking = [what for what, have in (("看护人", custodian), ("管理制度", rule)) if not have]
    return Verdict(
        SixItem.management, False, "档案未登记" + "、".join(lacking), facility.management_rule_on
    )


def _ranked_accepted(facilities: Any, until: date | None, *columns: Any) -> Any:
    """A subquery of the accepted reports of ``facilities`` (a condition on
    ``Inspection.facility_id``), inspected on or before ``until`` when given, with
    ``facility_id``, ``columns`` and ``rank``: 1 for each facility's latest (newest
    ``inspected_at``, then the highest id)."""
    return (
        select(
            Inspection.facility_id,
            *columns,
            func.row_number()
            .over(
                partition_by=Inspection.facility_id,
                order_by=(Inspection.inspected_at.desc(), Inspection.id.desc()),
            )
            .label("rank"),
        )
        .where(
            facilities,
            Inspection.review_status == ReviewStatus.accepted,
            *([Inspection.inspected_on <= until] if until is not None else []),
        )
        .subquery()
    )


def latest_accepted(
    session: Session, facility_ids: Iterable[int], *, until: date | None = None
) -> dict[int, Evidence]:
    """Each facility's latest accepted report (newest ``inspected_at``, then highest id),
    one query for any number of facilities (in chunks the databases' parameter limits
    allow); with ``until``, of the reports inspected (county date) on or before it."""
    ids = list(dict.fromkeys(facility_ids))
    found: dict[int, Evidence] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        ranked = _ranked_accepted(
            Inspection.facility_id.in_(chunk),
            until,
            Inspection.id,
            Inspection.inspected_on,
            Inspection.receipt,
            Inspection.checklist,
        )
        rows = session.execute(
            select(
                ranked.c.facility_id,
                ranked.c.id,
                ranked.c.inspected_on,
                ranked.c.receipt,
                ranked.c.checklist,
            ).where(ranked.c.rank == 1)
        )
        for facility_id, inspection_id, inspected_on, receipt, checklist in rows:
            found[facility_id] = Evidence(inspection_id, inspected_on, receipt, checklist or {})
    return found


def standings(
    session: Session, facilities: Sequence[Facility], *, until: date | None = None
) -> dict[int, Standing]:
    """``judge`` for many facilities, their reports read in one query (``until``: as
    ``latest_accepted``)."""
    reports = latest_accepted(session, (f.id for f in facilities if f.id is not None), until=until)
    return {f.id: judge(f, reports.get(f.id), until=until) for f in facilities if f.id is not None}


def standing(session: Session, facility: Facility) -> Standing:
    assert facility.id is not None
    return standings(session, [facility])[facility.id]


def _answer(checklist: Any, item: SixItem) -> ColumnElement[str]:
    """SQL: the report's answer for ``item`` (NULL when not answered, or no report)."""
    return checklist[FROM_REPORT[item].value].as_string()


def _on_file(column: Any) -> ColumnElement[bool]:
    return func.trim(func.coalesce(column, "")) != ""


def all_met_sql(checklist: Any, *, until: date | None = None) -> ColumnElement[bool]:
    """SQL: ``judge(facility, report).all_met`` for a row of ``Facility`` joined to its
    latest accepted report's ``checklist`` (NULL: no report). Kept to ``judge``'s rule by
    ``tests/test_standard.py``."""
    ok = ChecklistAnswer.ok.value
    graves = [kind.value for kind in GRAVE_KINDS]
    return and_(
        *(_answer(checklist, item) == ok for item in FROM_REPORT if item is not SixItem.headstone),
        or_(
            _answer(checklist, SixItem.headstone) == ok,
            and_(
                _answer(checklist, SixItem.headstone) == ChecklistAnswer.na.value,
                Facility.kind.not_in(graves),
            ),
        ),
        _on_file(Facility.custodian_name),
        _on_file(Facility.management_rule),
        *(
            [or_(Facility.management_rule_on.is_(None), Facility.management_rule_on <= until)]
            if until is not None
            else []
        ),
    )


@dataclass(frozen=True)
class TownshipShare:
    """A township's active sites, how many meet all six, and how much of the national
    collection's record they hold."""

    township_id: int
    active: int
    all_met: int
    #: the collection's fields filled, summed over the sites
    fields_filled: int

    @property
    def fields_total(self) -> int:
        return self.active * len(COLLECTION_FIELDS)

    @property
    def share(self) -> float | None:
        """ "六个一"达标率: a ratio to four places, None without active sites."""
        return round(self.all_met / self.active, 4) if self.active else None

    @property
    def completeness(self) -> float | None:
        """The record's completeness: fields filled of fields asked, None without sites."""
        total = self.fields_total
        return round(self.fields_filled / total, 4) if total else None


def township_shares(
    session: Session,
    viewer: User,
    *,
    registered_by: date | None = None,
    until: date | None = None,
) -> dict[int, TownshipShare]:
    """Per township ``viewer`` sees (``access.scope``), its active sites (registered on or
    before ``registered_by``, when given), how many meet all six on their latest accepted
    report (inspected on or before ``until``, when given) and the record as it is now, and
    the collection's fields they have filled — one aggregate, the checklist read by the
    database. Townships without active sites are absent."""
    # Each site's latest accepted report by a probe of its (facility_id, inspected_at)
    # index, newest first, stopping at the first: a province's 43,000 sites read 43,000
    # reports, where ranking all of their accepted reports read 390,000 (issue 12).
    candidate = aliased(Inspection)
    latest_id = (
        select(candidate.id)
        .where(
            candidate.facility_id == Facility.id,
            candidate.review_status == ReviewStatus.accepted,
            *([candidate.inspected_on <= until] if until is not None else []),
        )
        .order_by(candidate.inspected_at.desc(), candidate.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    met = case((all_met_sql(Inspection.checklist, until=until), 1), else_=0)
    query = (
        select(
            Facility.township_id,
            func.count(),
            func.coalesce(func.sum(met), 0),
            func.coalesce(func.sum(filled_count()), 0),
        )
        .select_from(Facility)
        .outerjoin(Inspection, Inspection.id == latest_id)
        .where(Facility.status == FacilityStatus.active)
        .group_by(Facility.township_id)
    )
    if registered_by is not None:
        query = query.where(Facility.registered_on <= registered_by)
    query = access.scope(query, viewer, Facility.township_id)
    return {
        township_id: TownshipShare(township_id, active, int(all_met), int(filled))
        for township_id, active, all_met, filled in session.execute(query)
    }
