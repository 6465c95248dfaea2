"""Holds from the case page: who may place and extend them (per role, restricted cases too),
never shortened, law-enforcement requests renewed by 90 days, and hostile input answered with a
4xx or a form error and nothing written. The holds partial as each role sees it."""

from datetime import timedelta

import pytest
from flask import render_template
from sqlmodel import select

from cases.child_safety.holds import MAX_HOLD_DAYS, case_holds, place_hold
from cases.core.sqltypes import utcnow
from cases.enums import EventType, HoldKind, Role
from cases.lifecycle.actors import Actor
from cases.models import Hold
from cases.trail.models import CaseEvent
from tests.factories import make_api_key
from tests.helpers import count, csrf_token, event_payloads, fresh

SYSTEM = Actor.system("test")
# Who may place and extend holds: on a standard case, and on a restricted (child-safety) one,
# which roles not cleared for it cannot see at all.
STANDARD = {Role.admin: 303, Role.lead: 303, Role.reviewer: 403, Role.auditor: 403}
STANDARD[Role.child_safety] = 403
RESTRICTED = {Role.admin: 303, Role.child_safety: 303, Role.lead: 404, Role.reviewer: 404}
RESTRICTED[Role.auditor] = 403


@pytest.fixture
def standard(open_case):
    return open_case(subject="acct-held")


@pytest.fixture
def restricted(open_case):
    case = open_case("sexual/minors", subject="acct-held")
    assert case.restricted
    return case


def held(session, case, kind=HoldKind.legal, days=30):
    hold = place_hold(
        session,
        case=case,
        kind=kind,
        reason="Placed earlier",
        until=utcnow() + timedelta(days=days),
        actor=SYSTEM,
        request_reference="LE-1" if kind == HoldKind.law_enforcement else None,
    )
    session.commit()
    return hold


def written(session) -> tuple[int, int, list]:
    fresh(session)
    untils = [h.until for h in session.exec(select(Hold).order_by(Hold.id))]
    return count(session, Hold), count(session, CaseEvent), untils


def token(client) -> str:
    return csrf_token(client, "/report")


def place(client, case, *, kind="legal", csrf=True, **fields):
    data = {"kind": kind, **{f"{kind}-{name}": value for name, value in fields.items()}}
    if csrf:
        data[f"{kind}-csrf_token"] = token(client)
    return client.post(f"/cases/{case.reference}/holds", data=data)


def extend(client, case, hold_id: int, *, csrf=True, **fields):
    prefix = f"extend-{hold_id}"
    data = {f"{prefix}-{name}": value for name, value in fields.items()}
    if csrf:
        data[f"{prefix}-csrf_token"] = token(client)
    return client.post(f"/cases/{case.reference}/holds/{hold_id}/extend", data=data)


def close_to(moment, expected) -> bool:
    return abs(moment - expected) < timedelta(minutes=1)


# --- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("which", ["standard", "restricted"])
def test_who_may_place_a_hold(request, client, session, signed_in, role, which):
    case = request.getfixturevalue(which)
    expected = (STANDARD if which == "standard" else RESTRICTED)[role]
    user = signed_in(role)
    before = written(session)
    response = place(client, case, days="30", reason="Litigation")
    assert response.status_code == expected
    if expected != 303:
        assert written(session) == before
        return
    assert response.headers["Location"].endswith(f"/cases/{case.reference}#holds")
    hold = fresh(session).exec(select(Hold)).one()
    assert (hold.case_id, hold.kind, hold.placed_by_id) == (case.id, "legal", user.id)
    assert close_to(hold.until, utcnow() + timedelta(days=30))
    ((header, payload),) = event_payloads(session, case.id, EventType.hold_placed)
    assert header["actor"] == f"user:{user.id}" and payload["reason"] == "Litigation"


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("which", ["standard", "restricted"])
def test_who_may_extend_a_hold(request, client, session, signed_in, role, which):
    case = request.getfixturevalue(which)
    hold = held(session, case)
    end = hold.until
    expected = (STANDARD if which == "standard" else RESTRICTED)[role]
    user = signed_in(role)
    before = written(session)
    response = extend(client, case, hold.id, days="10", reason="Claim amended")
    assert response.status_code == expected
    if expected != 303:
        assert written(session) == before
        return
    assert fresh(session).get(Hold, hold.id).until == end + timedelta(days=10)
    ((header, payload),) = event_payloads(session, case.id, EventType.hold_extended)
    assert header["actor"] == f"user:{user.id}" and payload["reason"] == "Claim amended"


def test_anyone_signed_out_gets_nothing(client, session, standard):
    hold = held(session, standard)
    before = written(session)
    for response in (
        place(client, standard, days="30", reason="x"),
        extend(client, standard, hold.id, days="30", reason="x"),
    ):
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert place(client, standard, csrf=False, days="30", reason="x").status_code == 400
    assert written(session) == before


def test_an_api_key_gets_nothing(client, session, standard):
    hold = held(session, standard)
    _key, secret = make_api_key(session)
    session.commit()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    before = written(session)
    for response in (
        place(client, standard, days="30", reason="x"),
        extend(client, standard, hold.id, days="30", reason="x"),
        place(client, standard, csrf=False, days="30", reason="x"),
    ):
        assert response.status_code in (302, 400)
        assert response.status_code == 400 or "/login" in response.headers["Location"]
    assert written(session) == before


def test_the_routes_only_take_posts(client, session, signed_in, standard):
    hold = held(session, standard)
    signed_in("lead")
    for url in (
        f"/cases/{standard.reference}/holds",
        f"/cases/{standard.reference}/holds/1/extend",
    ):
        assert client.get(url).status_code == 405
    assert hold.id == 1


def test_a_form_without_its_csrf_token_is_refused(client, session, signed_in, standard):
    hold = held(session, standard)
    signed_in("lead")
    before = written(session)
    assert place(client, standard, csrf=False, days="30", reason="x").status_code == 400
    assert extend(client, standard, hold.id, csrf=False, days="5", reason="x").status_code == 400
    assert written(session) == before


def test_a_hold_is_extended_only_under_its_own_case(client, session, signed_in, open_case):
    case, other = open_case(subject="acct-1"), open_case(subject="acct-2")
    hold = held(session, case)
    signed_in("lead")
    before = written(session)
    assert extend(client, other, hold.id, days="5", reason="x").status_code == 404
    assert extend(client, case, hold.id + 99, days="5", reason="x").status_code == 404
    assert extend(client, case, hold.id, days="5", reason="x").status_code == 303
    assert written(session) != before


# --- never shortened; law-enforcement requests ---------------------------------------------------


def test_a_hold_is_never_shortened_from_the_page(client, session, signed_in, standard):
    signed_in("lead")
    assert place(client, standard, days="100", reason="Claim").status_code == 303
    before = written(session)
    response = place(client, standard, days="10", reason="Shorter")
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "it can be extended, never shortened; nothing was changed." in text
    assert 'name="legal-reason"' in text and "Shorter" in text  # the form, as it was sent
    assert written(session) == before


def test_an_ended_hold_cannot_be_extended_from_the_page(client, session, signed_in, standard):
    past = utcnow() - timedelta(days=60)
    hold = Hold(case_id=standard.id, kind="legal", reason="Old", placed_at=past, until=past)
    session.add(hold)
    session.commit()
    signed_in("lead")
    before = written(session)
    response = extend(client, standard, hold.id, days="5", reason="Late")
    assert response.status_code == 409 and "place a new one" in response.get_data(as_text=True)
    assert written(session) == before


def test_a_law_enforcement_request_is_recorded_and_renewed_by_90_days(
    client, session, signed_in, restricted
):
    signed_in("child_safety")
    response = place(
        client,
        restricted,
        kind="law_enforcement",
        request_reference="FBI-2026-0042",
        reason="2703(f) letter",
    )
    assert response.status_code == 303
    hold = fresh(session).exec(select(Hold)).one()
    end = hold.until
    assert hold.kind == "law_enforcement" and close_to(end, utcnow() + timedelta(days=90))
    response = extend(client, restricted, hold.id, request_reference="FBI-R1", reason="Renewed")
    assert response.status_code == 303
    assert fresh(session).get(Hold, hold.id).until == end + timedelta(days=90)
    payloads = [p for t in (EventType.hold_placed, EventType.hold_extended)
                for _, p in event_payloads(session, restricted.id, t)]  # fmt: skip
    assert [p["request_reference"] for p in payloads] == ["FBI-2026-0042", "FBI-R1"]
    # A renewal names its request; days are not asked for.
    before = written(session)
    response = extend(client, restricted, hold.id, days="30", reason="Renewed")
    assert response.status_code == 422 and "agency put on its request" in response.get_data(
        as_text=True
    )
    assert written(session) == before


# --- hostile input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"days": "", "reason": "x"}, "Give a number of days."),
        ({"days": "-5", "reason": "x"}, "from 1 to"),
        ({"days": "0", "reason": "x"}, "from 1 to"),
        ({"days": str(MAX_HOLD_DAYS + 1), "reason": "x"}, "from 1 to"),
        ({"days": "9" * 40, "reason": "x"}, "from 1 to"),
        ({"days": "ten", "reason": "x"}, "integer"),
        ({"days": "1e3", "reason": "x"}, "integer"),
        ({"days": "30", "reason": ""}, "Say why the case is held."),
        ({"days": "30", "reason": "x" * 100_000}, "at most 2000 characters"),
        ({"days": "30", "reason": "a\x00b"}, "control characters"),
        ({"days": "30"}, "Say why the case is held."),
        ({"reason": "x"}, "Give a number of days."),
    ],
    ids=[
        "days-blank", "days-negative", "days-zero", "days-over", "days-huge", "days-text",
        "days-float", "reason-blank", "reason-huge", "reason-nul", "reason-missing",
        "days-missing",
    ],
)  # fmt: skip
def test_hostile_input_is_a_form_error_with_nothing_written(
    client, session, signed_in, standard, fields, message
):
    hold = held(session, standard)
    signed_in("lead")
    before = written(session)
    for response in (
        place(client, standard, **fields),
        extend(client, standard, hold.id, **fields),
    ):
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    assert written(session) == before


@pytest.mark.parametrize("kind", ["preservation", "", "bogus", "x" * 10_000, "legal\x00"])
def test_a_hold_of_no_placeable_kind_is_refused(client, session, signed_in, standard, kind):
    signed_in("admin")
    before = written(session)
    data = {"kind": kind, "legal-days": "30", "legal-reason": "x", "csrf_token": token(client)}
    response = client.post(f"/cases/{standard.reference}/holds", data=data)
    assert response.status_code == 400
    assert written(session) == before


def test_hostile_law_enforcement_references_are_form_errors(client, session, signed_in, standard):
    signed_in("lead")
    before = written(session)
    for reference, message in (
        ("", "agency put on"),
        ("R" * 121, "at most 120"),
        ("R\x00", "control"),
    ):
        response = place(
            client, standard, kind="law_enforcement", request_reference=reference, reason="x"
        )
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert written(session) == before


def test_markup_in_a_reason_is_kept_as_text_and_shown_escaped(client, session, signed_in, standard):
    signed_in("lead")
    markup = '<script>alert("held")</script><b>bold</b>'
    assert place(client, standard, days="30", reason=markup).status_code == 303
    hold = fresh(session).exec(select(Hold)).one()
    assert hold.reason == markup
    response = place(client, standard, days="1", reason=markup)  # refused: shows the holds page
    text = response.get_data(as_text=True)
    assert response.status_code == 409 and "<script>alert" not in text
    assert "&lt;script&gt;alert(&#34;held&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in text


# --- the partial on the case page ----------------------------------------------------------------


def render(app, session, case, viewer) -> str:
    with app.test_request_context():
        holds = case_holds(session, case=case, viewer=viewer, now=utcnow())
        return render_template("child_safety/_case_holds.html", holds=holds, case=case)


def test_the_partial_shows_holds_to_all_and_forms_to_those_who_may(app, session, staff, standard):
    hold = held(session, standard)
    lead, reviewer = staff("lead"), staff("reviewer")
    for_lead, for_reviewer = (
        render(app, session, standard, lead),
        render(app, session, standard, reviewer),
    )
    for html in (for_lead, for_reviewer):
        assert 'id="holds"' in html and "Placed earlier" in html and "Legal hold" in html
        assert "can be erased before" in html
    assert f"/cases/{standard.reference}/holds/{hold.id}/extend" in for_lead
    assert 'name="extend-1-days"' in for_lead and 'name="legal-days"' in for_lead
    assert 'name="law_enforcement-request_reference"' in for_lead
    assert "<form" not in for_reviewer


def test_a_restricted_cases_hold_reaches_the_subjects_cases_but_shows_only_to_the_cleared(
    app, session, staff, standard, restricted
):
    held(session, restricted, kind=HoldKind.preservation, days=365)
    lead, admin = staff("lead"), staff("admin")
    for_lead, for_admin = (
        render(app, session, standard, lead),
        render(app, session, standard, admin),
    )
    assert restricted.reference not in for_lead and "No active hold is placed" in for_lead
    assert restricted.reference in for_admin and "covers this case until" in for_admin
    assert case_holds(session, case=standard, viewer=lead, now=utcnow()).held_until is None
