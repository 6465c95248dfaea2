"""The affected user's page: the decision notice, the appeal form while the window is open, the
appeal's confirmation, status and outcome, and a request for a copy of their data."""

import io
import re
from datetime import timedelta

import pytest
import time_machine
from sqlmodel import select

from cases.appeals.service import appeal_option
from cases.decisions.service import fire_transition
from cases.enums import AppellantKind, EventType
from cases.lifecycle.actors import Actor
from cases.models import AccessRequest, Appeal, Case
from cases.notices.wording import long_time
from cases.review.claims import claim_case
from tests.casework import APPEAL
from tests.helpers import count, csrf_token, event_payloads, events, fresh, reloaded

GROUNDS = "Those messages were quotes from a film script I was discussing, not threats."
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def enforced(open_case, decided):
    return decided(open_case())


def send_appeal(client, path: str, grounds: str = GROUNDS, *, files=(), csrf: bool = True):
    data = {"grounds": grounds}
    if csrf:
        data["csrf_token"] = csrf_token(client, path)
    data["attachments"] = [(io.BytesIO(content), name, kind) for content, name, kind in files]
    return client.post(f"{path}/appeal", data=data, content_type="multipart/form-data")


def closes_at(session, case: Case):
    fresh(session)
    return appeal_option(session, case=case, appellant=AppellantKind.affected_user).closes_at


def test_the_page_shows_the_notice_and_the_appeal_form(client, enforced, link_to):
    page = client.get(link_to(enforced)).get_data(as_text=True)
    assert "Statement of reasons" in page and "Repeated threats against another user" in page
    assert "Appeal this decision" in page
    assert re.search(r'<form method="post" action="/my/[^"]+/appeal"', page)
    assert 'name="grounds"' in page and 'name="attachments"' in page
    assert "Request a copy of my data" in page


def test_an_appeal_is_filed_and_confirmed(client, session, enforced, link_to):
    path = link_to(enforced)
    response = send_appeal(client, path, files=[(PNG, "context.png", "image/png")])
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{path}/appeal")

    appeal = fresh(session).exec(select(Appeal)).one()
    assert appeal.appellant == AppellantKind.affected_user and appeal.report_id is None
    assert appeal.grounds == GROUNDS and appeal.channel == "portal"
    assert len(appeal.attachments) == 1
    assert reloaded(session, enforced).state == "appeal"
    (_, filed), *_ = event_payloads(session, enforced.id, EventType.appeal_filed)
    assert filed["appeal_id"] == appeal.id and filed["grounds"] == GROUNDS

    confirmation = client.get(response.headers["Location"])
    assert confirmation.status_code == 200
    assert confirmation.headers["Cache-Control"] == "no-store"
    text = confirmation.get_data(as_text=True)
    assert "Your appeal was received" in text and enforced.reference in text
    assert long_time(appeal.filed_at) in text and "What happens next" in text

    page = client.get(path).get_data(as_text=True)
    assert "is reviewing it" in page and 'name="grounds"' not in page
    used = event_payloads(fresh(session), enforced.id, EventType.link_used)
    uses = [payload["action"] for _, payload in used]
    assert uses == ["viewed", "appealed", "viewed", "viewed"]


def test_the_window_is_open_until_one_second_before_it_closes(client, session, enforced, link_to):
    path = link_to(enforced)
    with time_machine.travel(closes_at(session, enforced) - timedelta(seconds=1), tick=False):
        assert send_appeal(client, path).status_code == 303
    assert count(fresh(session), Appeal) == 1


def test_after_the_window_nothing_can_be_appealed(client, session, enforced, link_to):
    path = link_to(enforced)
    closed = closes_at(session, enforced)
    with time_machine.travel(closed + timedelta(seconds=1), tick=False):
        token = csrf_token(client, "/report")
        page = client.get(path).get_data(as_text=True)
        assert 'name="grounds"' not in page
        ended = f"ended on {closed:%d %B %Y at %H:%M} UTC"
        assert ended in page
        before = len(events(session, enforced))
        response = client.post(
            f"{path}/appeal",
            data={"grounds": GROUNDS, "csrf_token": token},
            content_type="multipart/form-data",
        )
    assert response.status_code == 409
    assert ended in response.get_data(as_text=True)
    assert count(fresh(session), Appeal) == 0
    assert len(events(session, enforced)) == before
    assert reloaded(session, enforced).state == "enforced"


def test_a_decided_appeal_shows_its_outcome_and_reasons(client, session, staff, enforced, link_to):
    path = link_to(enforced)
    assert send_appeal(client, path).status_code == 303
    hearer = Actor.staff(staff("lead", "reviewer"))
    case = reloaded(session, enforced)
    claim_case(session, case=case, actor=hearer)
    fire_transition(session, case=case, transition="start_appeal_review", actor=hearer, fields={})
    fire_transition(session, case=case, transition="uphold", actor=hearer, fields=APPEAL)
    session.commit()
    page = client.get(path).get_data(as_text=True)
    assert "The appeal was rejected: the decision stands." in page
    assert APPEAL["appeal_outcome"] in page
    assert 'name="grounds"' not in page and "is reviewing it" not in page


def test_an_access_request_from_the_link(client, session, enforced, link_to):
    path = link_to(enforced)
    token = csrf_token(client, path)
    response = client.post(f"{path}/access", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"].endswith(path)
    request = fresh(session).exec(select(AccessRequest)).one()
    assert request.subject_id == enforced.subject_id and request.case_id == enforced.id
    assert request.channel == "portal"
    assert request.requested_by.startswith("link:")
    used = event_payloads(session, enforced.id, EventType.link_used)
    assert [payload["action"] for _, payload in used] == ["viewed", "access_requested"]
    assert event_payloads(session, enforced.id, EventType.access_requested)
    page = client.get(path).get_data(as_text=True)
    assert "Your request for a copy of your data was recorded" in page
    assert "Request a copy of my data" not in page
    # Asking again while it is open adds nothing.
    assert client.post(f"{path}/access", data={"csrf_token": token}).status_code == 303
    assert count(fresh(session), AccessRequest) == 1


def test_a_reporter_cannot_ask_for_the_affected_users_data(client, session, reported, link_to):
    report, case = reported()
    path = link_to(case, report)
    assert "Request a copy of my data" not in client.get(path).get_data(as_text=True)
    response = client.post(f"{path}/access", data={"csrf_token": csrf_token(client, "/report")})
    assert response.status_code == 409
    assert count(fresh(session), AccessRequest) == 0
