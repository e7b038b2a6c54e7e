"""The dashboard's "六个一" panel: per township the share of active sites meeting all six
and the record's completeness, the same figures as ``app.standard.township_shares`` for
that user; a township officer sees their own township only."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import Database
from app.models import Facility, FacilityStatus, ReviewStatus, Township, User
from app.standard import township_shares
from tests.factories import make_inspection
from tests.web.test_dashboard import TOWNSHIP_OFFICERS, section, signed_in, text_of

ALL_OK = {
    "marker_sign": "ok",
    "biography_plaque": "ok",
    "headstone": "ok",
    "boundary": "ok",
    "access_path": "ok",
}


def meet_all_six(db: Database, township_name: str, how_many: int) -> None:
    """``how_many`` active sites of the township get a custodian, a rule and a good accepted
    report, newer than any other."""
    with db.begin() as session:
        township = session.exec(select(Township).where(Township.name == township_name)).one()
        inspector = session.exec(select(User).where(User.username == "admin")).one()
        sites = session.exec(
            select(Facility)
            .where(Facility.township_id == township.id, Facility.status == FacilityStatus.active)
            .order_by(Facility.id)
            .limit(how_many)
        ).all()
        for site in sites:
            site.custodian_name = "王守义"
            site.management_rule = "看护制度"
            site.commemorates = "张三烈士"
            inspection = make_inspection(
                session,
                facility=site,
                inspector=inspector,
                inspected_at=datetime.now(UTC) - timedelta(minutes=5),
                tz=UTC,
                review_status=ReviewStatus.accepted,
            )
            inspection.checklist = ALL_OK


def rows_of(panel: str) -> dict[str, list[str]]:
    """Township name → the text of its cells."""
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", panel, re.S):
        cells = [text_of(c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        if cells and cells[0] not in ("乡镇", "合计"):
            found[cells[0]] = cells[1:]
    return found


def percent(value: float | None) -> str:
    """As the dashboard's ``percent`` macro: one decimal."""
    return "—" if value is None else f"{value * 100:.1f}%"


def expected(db: Database, username: str) -> dict[str, list[str]]:
    with db.session(write=False) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        names = {t.id: t.name for t in session.exec(select(Township)).all()}
        shares = township_shares(session, user)
    return {
        names[tid]: [
            f"{s.active:,} 处",
            f"{s.all_met:,} 处",
            percent(s.share),
            percent(s.completeness),
        ]
        for tid, s in shares.items()
    }


def test_county_staff_see_the_share_of_every_township(
    page_client: TestClient, seeded: Database
) -> None:
    meet_all_six(seeded, "龙港镇", 2)
    client = signed_in(page_client, "county")
    page = client.get("/")
    assert page.status_code == 200
    panel = section(page.text, "six-title")
    assert "各乡镇“六个一”达标率与采集信息完整度" in panel
    shown = rows_of(panel)
    want = expected(seeded, "county")
    assert want["龙港镇"][1] == "2 处"  # the two made good
    for name, cells in want.items():
        assert shown[name] == cells
    assert '<a href="/facilities?township_id=' in panel
    total = text_of(re.search(r"<tfoot>(.*?)</tfoot>", panel, re.S).group(1))
    assert "2 处" in total
    # at a glance: the county's rate
    glance = text_of(re.search(r'<ul class="stats".*?</ul>', page.text, re.S).group(0))
    assert "“六个一”达标率" in glance


@pytest.mark.parametrize("username", sorted(TOWNSHIP_OFFICERS))
def test_a_township_officer_sees_their_own_share(
    page_client: TestClient, seeded: Database, username: str
) -> None:
    meet_all_six(seeded, "龙港镇", 1)
    client = signed_in(page_client, username)
    panel = section(client.get("/").text, "six-title")
    own = TOWNSHIP_OFFICERS[username]
    shown = rows_of(panel)
    assert list(shown) == [own]
    assert shown == expected(seeded, username)
    assert "<tfoot>" not in panel
    if own == "龙港镇":
        assert shown[own][1] == "1 处"
    else:
        assert shown[own][1] == "0 处"
