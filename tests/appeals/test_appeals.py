"""Filing and hearing appeals (DSA Art. 20): who may appeal what, the window to the second, one
appeal open at a time, no other way into the appeal stage, and hearings never by the decision's
author, with each outcome stored on the appeal."""

from datetime import timedelta

import pytest
from sqlmodel import select

from cases.appeals.service import (
    AppealAlreadyOpen,
    AppealInvalid,
    AppealWindowClosed,
    NothingToAppeal,
    appeal_option,
    file_appeal,
)
from cases.decisions.service import fire_transition
from cases.enums import AppealChannel, AppealOutcome, AppellantKind, Restriction
from cases.intake.public_reports import PublicReport, submit_public_report
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import AppealRequired, GuardRefused, transition_case
from cases.models import Appeal, Case, Decision, Outbox
from cases.review.claims import claim_case
from tests.casework import APPEAL
from tests.helpers import count, event_payloads

PORTAL = Actor.system("portal")
GROUNDS = "I was quoting a film; nobody was threatened."


def appeal(session, case: Case, *, appellant=AppellantKind.affected_user, report=None, **extra):
    return file_appeal(
        session,
        case=case,
        appellant=appellant,
        report=report,
        grounds=extra.pop("grounds", GROUNDS),
        channel=AppealChannel.portal,
        actor=PORTAL,
        **extra,
    )


@pytest.fixture
def enforced(open_case, walk):
    return walk(open_case(), "enforced")


def test_an_appeal_is_written_with_its_transition_and_waits_unclaimed(session, enforced, staff):
    decider = staff("admin", "worker")
    assert enforced.assignee_id == decider.id  # the decider still holds the claim

    filed = appeal(session, enforced)
    session.commit()

    assert enforced.state == "appeal" and enforced.queue == "appeals"
    assert enforced.assignee_id is None
    decision = session.exec(select(Decision).where(Decision.case_id == enforced.id)).one()
    assert (filed.decision_id, filed.appellant, filed.channel) == (
        decision.id,
        "affected_user",
        "portal",
    )
    assert filed.window_closes_at == decision.decided_at + timedelta(days=183)
    ((_, payload),) = event_payloads(session, enforced.id, "appeal_filed")
    assert payload["grounds"] == GROUNDS and payload["appeal_id"] == filed.id
    (_, transition), *_ = reversed(event_payloads(session, enforced.id, "transition"))
    assert transition["transition"] == "file_appeal"
    assert transition["fields"] == {"appeal_id": filed.id}
    assert session.exec(
        select(Outbox).where(Outbox.case_id == enforced.id, Outbox.job == "notify_affected_user")
    ).all()[-1].args == {"case_id": enforced.id, "kind": "appeal_received", "appeal_id": filed.id}


@pytest.mark.parametrize(("offset", "allowed"), [(-1, True), (0, False), (1, False)])
def test_the_window_closes_to_the_second(session, enforced, offset, allowed):
    decision = session.exec(select(Decision).where(Decision.case_id == enforced.id)).one()
    closes = decision.decided_at + timedelta(days=183)
    at = closes + timedelta(seconds=offset)
    option = appeal_option(session, case=enforced, appellant=AppellantKind.affected_user, now=at)
    assert option.open is allowed and option.closes_at == closes
    if allowed:
        appeal(session, enforced, now=at)
        assert enforced.state == "appeal"
        return
    before = count(session, Appeal)
    with pytest.raises(AppealWindowClosed) as refused:
        appeal(session, enforced, now=at)
    assert refused.value.closed_at == closes
    assert closes.strftime("%d %B %Y") in str(refused.value)
    session.rollback()
    assert count(session, Appeal) == before and enforced.state == "enforced"


def test_the_window_runs_from_when_the_user_was_informed(session, enforced):
    decision = session.exec(select(Decision).where(Decision.case_id == enforced.id)).one()
    decision.informed_at = decision.decided_at + timedelta(days=10)
    late = decision.decided_at + timedelta(days=190)
    assert appeal_option(
        session, case=enforced, appellant=AppellantKind.affected_user, now=late
    ).open
    filed = appeal(session, enforced, now=late)
    assert filed.window_closes_at == decision.informed_at + timedelta(days=183)


def test_a_relayed_appeal_is_judged_by_when_it_was_received(session, enforced):
    decision = session.exec(select(Decision).where(Decision.case_id == enforced.id)).one()
    closes = decision.decided_at + timedelta(days=183)
    filed = appeal(
        session, enforced, received_at=closes - timedelta(hours=1), now=closes + timedelta(days=1)
    )
    assert filed.filed_at == closes - timedelta(hours=1)


def test_one_appeal_at_a_time_and_one_per_decision(session, enforced, walk):
    appeal(session, enforced)
    session.commit()
    with pytest.raises(AppealAlreadyOpen):
        appeal(session, enforced)


@pytest.mark.parametrize(
    ("grounds", "message"),
    [("   ", "Say why"), ("x" * 5001, "at most 5000"), ("a\x00b", "NUL"), (None, "Say why")],
)
def test_bad_grounds_write_nothing(session, enforced, grounds, message):
    before = count(session, Appeal)
    with pytest.raises(AppealInvalid, match=message):
        appeal(session, enforced, grounds=grounds)
    session.rollback()
    assert count(session, Appeal) == before


def test_nothing_to_appeal_before_a_decision(session, open_case):
    case = open_case()
    with pytest.raises(NothingToAppeal, match="No decision"):
        appeal(session, case)


def test_no_other_path_files_an_appeal(session, enforced):
    with pytest.raises(AppealRequired):
        transition_case(session, case=enforced, transition="file_appeal", actor=PORTAL)


def reported_and_dismissed(session, staff):
    outcome = submit_public_report(
        session,
        report=PublicReport(
            category="protect.threats",
            explanation="He threatened me in a group chat.",
            account_id="acct-77",
            reporter_name="Ana",
            reporter_email="ana@example.org",
            good_faith=True,
        ),
    )
    case = outcome.case
    worker = Actor.staff(staff("reviewer", "dismisser"))
    transition_case(session, case=case, transition="start_triage", actor=worker)
    claim_case(session, case=case, actor=worker)
    fire_transition(
        session, case=case, transition="dismiss", actor=worker, fields={"note": "Banter."}
    )
    session.commit()
    return case, outcome.report


def test_a_dismissal_is_a_no_action_decision_with_its_author(session, staff):
    case, _ = reported_and_dismissed(session, staff)
    decision = session.exec(select(Decision).where(Decision.case_id == case.id)).one()
    assert decision.restriction == Restriction.no_action
    assert decision.author_id == staff("reviewer", "dismisser").id
    assert decision.facts == "Banter."


def test_a_reporter_appeals_a_decision_not_to_act_and_only_that(session, staff, enforced):
    case, report = reported_and_dismissed(session, staff)
    with pytest.raises(NothingToAppeal, match="nothing to appeal"):
        appeal(session, case)  # the affected user was not restricted
    filed = appeal(session, case, appellant=AppellantKind.reporter, report=report)
    assert (filed.appellant, filed.report_id, case.state) == ("reporter", report.id, "appeal")
    # …and a reporter cannot appeal a decision that acted, nor with another case's report
    with pytest.raises(NothingToAppeal):
        appeal(session, enforced, appellant=AppellantKind.reporter, report=report)


def test_the_decision_author_is_refused_every_appeal_transition(session, enforced, staff):
    author = Actor.staff(staff("admin", "worker"))
    appeal(session, enforced)
    session.commit()
    claim_case(session, case=enforced, actor=author)
    for name in ("start_appeal_review", "omit_appeal"):
        with pytest.raises(GuardRefused, match="author of a decision"):
            fire_transition(
                session,
                case=enforced,
                transition=name,
                actor=author,
                fields={"appeal_outcome": "Withdrawn.", "note": "Withdrawn by phone."},
            )
    other = Actor.staff(staff("reviewer", "hearer"))
    enforced.assignee_id = None
    transition_case(session, case=enforced, transition="start_appeal_review", actor=other)
    enforced.assignee_id = author.user_id
    fields = {**APPEAL, "restriction": "warn", "note": "Withdrawn by phone."}
    for name in ("omit_appeal", "uphold", "partially_reverse", "reverse"):
        with pytest.raises(GuardRefused, match="author of a decision"):
            fire_transition(session, case=enforced, transition=name, actor=author, fields=fields)


OUTCOMES = [
    ("omit_appeal", AppealOutcome.omitted, "closed", None),
    ("uphold", AppealOutcome.upheld, "upheld", None),
    ("partially_reverse", AppealOutcome.partially_reversed, "partially_reversed", "warn"),
    ("reverse", AppealOutcome.reversed, "reversed", "no_action"),
]


@pytest.mark.parametrize(("transition", "outcome", "state", "restriction"), OUTCOMES)
def test_each_outcome_is_stored_on_the_appeal(
    session, enforced, staff, transition, outcome, state, restriction
):
    filed = appeal(session, enforced)
    hearer = Actor.staff(staff("reviewer", "hearer"))
    transition_case(session, case=enforced, transition="start_appeal_review", actor=hearer)
    claim_case(session, case=enforced, actor=hearer)
    fields = {**APPEAL, "note": "Withdrawn by the user.", "restriction": "warn"}
    fire_transition(session, case=enforced, transition=transition, actor=hearer, fields=fields)
    session.commit()

    assert enforced.state == state
    assert (filed.outcome, filed.reasons, filed.reviewer_id) == (
        outcome,
        APPEAL["appeal_outcome"],
        hearer.user_id,
    )
    assert filed.decided_at is not None
    ((_, payload),) = event_payloads(session, enforced.id, "appeal_decided")
    assert payload["outcome"] == outcome and payload["appeal_id"] == filed.id
    jobs = [
        o.job
        for o in session.exec(select(Outbox).where(Outbox.case_id == enforced.id)).all()
        if o.args.get("transition") == transition
    ]
    assert "notify_affected_user" in jobs
    if restriction is None:
        assert filed.resulting_decision_id is None
        assert "send_enforcement_webhook" not in jobs
    else:
        resulting = session.get(Decision, filed.resulting_decision_id)
        assert resulting.restriction == restriction and resulting.author_id == hearer.user_id
        assert "send_enforcement_webhook" in jobs
