"""The phone and a client_id another township's report already holds: the server says only
that the id is taken (409 with X-Client-Id-Taken), and the phone gives the report a new id
and sends it again, with its photos, by itself."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from app.db import Database
from app.models import Facility, User
from tests import factories
from tests.live import LiveServer
from tests.web.test_phone_browser import fill, open_phone, photo_file, sign_in, submit


def test_a_client_id_taken_by_another_township_is_renewed_and_sent(
    browser, site: LiveServer, seeded: Database, settings, tmp_path: Path
) -> None:
    # no service worker: the page sends, so its answers can be watched
    phone = open_phone(browser, site, seeded, settings.signing_key(), service_workers="block")
    page = phone.page
    answers: list[tuple[int, str | None]] = []
    page.on(
        "response",
        lambda r: (
            answers.append((r.status, r.headers.get("x-client-id-taken")))
            if r.request.method == "POST" and r.url.endswith("/api/v1/inspections")
            else None
        ),
    )
    try:
        sign_in(phone)
        with phone.db.begin() as session:  # a report of another township holds the id
            inspector = session.scalars(select(User).where(User.username == "duanshi")).one()
            site_b = session.scalars(
                select(Facility).where(Facility.township_id == inspector.township_id)
            ).first()
            theirs = factories.make_inspection(
                session,
                facility=site_b,
                inspector=inspector,
                inspected_at=datetime.now(UTC) - timedelta(hours=3),
                tz=settings.tz,
            )
            taken = str(theirs.client_id)
        page.evaluate(f"MP.newClientId = () => '{taken}'")  # the form makes the clashing id
        fill(phone, photos=[photo_file(tmp_path, "a.jpg")])
        submit(phone)
        renewed = None
        for _ in range(300):
            items = phone.items()
            if len(items) == 1 and items[0][0] != taken and items[0][1] == "sent":
                renewed = items[0][0]
                break
            time.sleep(0.1)
        assert renewed is not None, f"the report was not renewed and sent: {phone.items()}"
        assert answers == [(409, "true"), (201, None)]
        uuid.UUID(renewed)
        [stored] = phone.stored(renewed)
        assert stored.inspector_id == phone.inspector.id
        assert stored.facility_id == phone.facility.id
        assert phone.photos_of(stored.id) == 1
        [kept] = phone.stored(taken)  # the other township's report is untouched
        assert kept.id == theirs.id and kept.inspector_id == inspector.id
    finally:
        phone.context.close()
    assert not phone.errors, phone.errors
