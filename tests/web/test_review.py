"""The review queue (审核): reports waiting, oldest first; accept, or reject with a comment;
the next report opens after each decision; a township officer reads their own queue."""

import re

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import select

from app.db import Database
from app.models import Facility, Inspection, ReviewStatus, Township, User
from app.photos import service as photos
from tests.photos.images import jpeg
from tests.web.conftest import DEMO_PASSWORDS, csrf_of, sign_in

WAITING = "没有待审核的巡查报告"


def waiting_ids(db: Database, township_name: str | None = None) -> list[int]:
    """The waiting reports, oldest first, read straight from the database."""
    query = (
        select(Inspection.id)
        .join(Facility, Facility.id == Inspection.facility_id)
        .join(Township, Township.id == Facility.township_id)
        .where(Inspection.review_status == ReviewStatus.submitted)
        .order_by(Inspection.inspected_at, Inspection.id)
    )
    if township_name:
        query = query.where(Township.name == township_name)
    with db.session(write=False) as session:
        return list(session.exec(query).all())


def status_of(db: Database, inspection_id: int) -> tuple[ReviewStatus, str | None]:
    with db.session(write=False) as session:
        inspection = session.get(Inspection, inspection_id)
        assert inspection is not None
        return inspection.review_status, inspection.review_comment


def open_report(html: str) -> int | None:
    """The report whose decision form the page shows."""
    match = re.search(r'action="/review/(\d+)', html)
    return int(match.group(1)) if match else None


def listed(html: str) -> list[int]:
    """The waiting reports listed below the open one, in page order."""
    return [int(i) for i in re.findall(r'href="/review\?(?:township_id=\d+&amp;)?id=(\d+)"', html)]


def signed_in(client: TestClient, username: str) -> TestClient:
    sign_in(client, username, DEMO_PASSWORDS[username])
    return client


def decide(client: TestClient, report: int, decision: str, comment: str = ""):
    page = client.get("/review")
    return client.post(
        f"/review/{report}",
        data={"decision": decision, "comment": comment, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def test_the_oldest_waiting_report_opens_first_and_the_list_is_oldest_first(
    page_client: TestClient, seeded: Database
) -> None:
    expected = waiting_ids(seeded)
    assert len(expected) > 20  # the demo has more than one page of waiting reports
    page = signed_in(page_client, "county").get("/review")
    assert page.status_code == 200
    assert open_report(page.text) == expected[0]
    assert listed(page.text) == expected[:20]
    assert f"待审核 {len(expected)} 份" in page.text
    second = page_client.get("/review?offset=20")
    assert listed(second.text) == expected[20:40]
    assert open_report(second.text) == expected[0]  # the oldest stays open on every page


def test_accepting_records_it_and_opens_the_next_report(
    page_client: TestClient, seeded: Database
) -> None:
    first, second = waiting_ids(seeded)[:2]
    answer = decide(signed_in(page_client, "county"), first, "accepted")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/review?reviewed={first}"
    assert status_of(seeded, first) == (ReviewStatus.accepted, None)
    page = page_client.get(answer.headers["location"])
    assert open_report(page.text) == second
    assert "已通过" in page.text and 'class="success"' in page.text


def test_rejecting_without_a_comment_shows_the_error_and_changes_nothing(
    page_client: TestClient, seeded: Database
) -> None:
    first = waiting_ids(seeded)[0]
    answer = decide(signed_in(page_client, "county"), first, "rejected", comment="   ")
    assert answer.status_code == 422
    assert "退回报告须填写审核意见" in answer.text
    assert 'id="comment-error"' in answer.text and 'aria-invalid="true"' in answer.text
    assert open_report(answer.text) == first  # the same report stays open
    assert status_of(seeded, first) == (ReviewStatus.submitted, None)


def test_rejecting_with_a_comment_records_it_and_opens_the_next(
    page_client: TestClient, seeded: Database
) -> None:
    first, second = waiting_ids(seeded)[:2]
    answer = decide(signed_in(page_client, "county"), first, "rejected", comment="照片看不清")
    assert answer.status_code == 303
    assert status_of(seeded, first) == (ReviewStatus.rejected, "照片看不清")
    page = page_client.get(answer.headers["location"])
    assert open_report(page.text) == second
    assert "已退回" in page.text


def test_the_township_filter_keeps_to_one_township_after_a_decision(
    page_client: TestClient, seeded: Database
) -> None:
    with seeded.session(write=False) as session:
        longgang = session.exec(select(Township).where(Township.name == "龙港镇")).one()
    expected = waiting_ids(seeded, "龙港镇")
    client = signed_in(page_client, "county")
    page = client.get(f"/review?township_id={longgang.id}")
    assert listed(page.text) == expected[:20]
    assert open_report(page.text) == expected[0]
    assert f'action="/review/{expected[0]}?township_id={longgang.id}"' in page.text
    answer = client.post(
        f"/review/{expected[0]}?township_id={longgang.id}",
        data={"decision": "accepted", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.headers["location"] == f"/review?township_id={longgang.id}&reviewed={expected[0]}"
    assert open_report(client.get(answer.headers["location"]).text) == expected[1]


def test_a_township_officer_sees_their_own_waiting_reports_read_only(
    page_client: TestClient, seeded: Database
) -> None:
    own = waiting_ids(seeded, "龙港镇")
    others = [i for i in waiting_ids(seeded) if i not in own]
    assert own and others
    page = signed_in(page_client, "longgang").get("/review")
    assert page.status_code == 200
    assert listed(page.text) == own[:20]
    assert open_report(page.text) is None  # no decision form
    assert 'name="decision"' not in page.text
    assert f"待审核 {len(own)} 份" in page.text
    assert page_client.get(f"/review?id={others[0]}").status_code == 404
    refused = page_client.post(
        f"/review/{own[0]}",
        data={"decision": "accepted", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert status_of(seeded, own[0])[0] is ReviewStatus.submitted


def test_a_report_reviewed_meanwhile_is_not_decided_again(
    page_client: TestClient, seeded: Database
) -> None:
    first = waiting_ids(seeded)[0]
    client = signed_in(page_client, "county")
    page = client.get("/review")
    with seeded.begin() as session:
        session.execute(
            update(Inspection)
            .where(Inspection.id == first)
            .values(review_status=ReviewStatus.accepted)
        )
    answer = client.post(
        f"/review/{first}",
        data={"decision": "rejected", "comment": "迟到的意见", "csrf_token": csrf_of(page.text)},
    )
    assert answer.status_code == 409
    assert "这份报告已经审核" in answer.text
    assert status_of(seeded, first) == (ReviewStatus.accepted, None)


def test_a_decision_without_the_form_token_is_refused(
    page_client: TestClient, seeded: Database
) -> None:
    first = waiting_ids(seeded)[0]
    signed_in(page_client, "county").get("/review")
    answer = page_client.post(f"/review/{first}", data={"decision": "accepted"})
    assert answer.status_code == 403
    assert status_of(seeded, first)[0] is ReviewStatus.submitted


def test_the_report_shows_its_checklist_flags_and_distance_in_chinese(
    page_client: TestClient, seeded: Database
) -> None:
    with seeded.begin() as session:
        off_site = next(
            i
            for i in session.exec(
                select(Inspection).where(Inspection.review_status == ReviewStatus.submitted)
            )
            if "off_site" in i.flags
        )
        off_site.flags = ["off_site", "probable_gcj02"]
        session.add(off_site)
        report_id, distance = off_site.id, off_site.distance_m
    page = signed_in(page_client, "county").get(f"/review?id={report_id}")
    assert open_report(page.text) == report_id
    assert "不在现场" in page.text and "疑似 GCJ-02（火星）坐标" in page.text
    assert f"{distance:,.0f} 米" in page.text
    assert "保护标志" in page.text and "正常" in page.text  # checklist item and answer
    assert "示例巡查记录" in page.text  # the notes


def test_a_report_without_a_position_says_so(page_client: TestClient, seeded: Database) -> None:
    first = waiting_ids(seeded)[0]
    with seeded.begin() as session:
        session.execute(
            update(Inspection)
            .where(Inspection.id == first)
            .values(
                longitude=None,
                latitude=None,
                accuracy_m=None,
                source_crs=None,
                source_longitude=None,
                source_latitude=None,
                distance_m=None,
                on_site=None,
                flags=["no_position"],
            )
        )
    page = signed_in(page_client, "county").get("/review")
    assert open_report(page.text) == first
    assert page.text.count("无定位") >= 2  # the distance and the flag


def test_photos_are_thumbnails_linking_to_the_full_photo(
    page_client: TestClient, seeded: Database
) -> None:
    first = waiting_ids(seeded)[0]
    app = page_client.app
    with seeded.session(write=False) as session:
        report = session.get(Inspection, first)
        clerk = session.exec(select(User).where(User.username == "county")).one()
    photo, _created = photos.attach(
        db=seeded,
        store=app.state.photo_store,  # type: ignore[attr-defined]
        settings=app.state.settings,  # type: ignore[attr-defined]
        user=clerk,
        owner=photos.PhotoOwner(
            column="inspection_id",
            id=first,
            facility_id=report.facility_id,  # type: ignore[union-attr]
            model=Inspection,
            label=f"Inspection {first}",
        ),
        data=jpeg(),
    )
    page = signed_in(page_client, "county").get("/review")
    assert f'<a href="/api/v1/photos/{photo.id}"' in page.text
    assert f'<img src="/api/v1/photos/{photo.id}/thumbnail"' in page.text
    thumbnail = page_client.get(f"/api/v1/photos/{photo.id}/thumbnail")
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"


def test_an_empty_queue_says_there_is_nothing_to_review(
    page_client: TestClient, seeded: Database
) -> None:
    with seeded.begin() as session:
        session.execute(update(Inspection).values(review_status=ReviewStatus.accepted))
    page = signed_in(page_client, "county").get("/review")
    assert page.status_code == 200
    assert WAITING in page.text
    assert open_report(page.text) is None


def test_the_page_reads_in_english_after_the_switch(
    page_client: TestClient, seeded: Database
) -> None:
    client = signed_in(page_client, "county")
    client.get("/lang/en?next=/review")
    page = client.get("/review")
    assert page.headers["content-language"] == "en"
    assert "Review of patrol reports" in page.text and ">Accept<" in page.text
    assert "巡查报告审核" not in page.text
