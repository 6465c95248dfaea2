"""A person with a record: a case a classifier detected and a reporter also reported, decided by
staff, appealed by the person and by the reporter; and a restricted child-safety case."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlmodel import select

from cases.decisions.service import decide_case
from cases.enums import AppealOutcome, AppellantKind, ReportSource
from cases.intake.service import IntakeItem, SubjectRef, receive
from cases.lifecycle.actors import Actor
from cases.models import Appeal, Case, Decision, Subject, User
from tests.casework import DECISION_FIELDS, SYSTEM

PERSON = "acct-7"
REPORTER_NAME = "Ada Reporter"
REPORTER_EMAIL = "ada.reporter@example.org"
USER_GROUNDS = "I was joking with a friend; nobody was threatened."


@dataclass
class Record:
    subject: Subject
    case: Case
    decider: User
    appeal_reviewer: User


def user_report(subject: str = PERSON) -> IntakeItem:
    return IntakeItem(
        source=ReportSource.user_report,
        subject=SubjectRef("account", subject),
        raw_payload="{}",
        clause_id="protect.threats",
        explanation=f"I am {REPORTER_NAME} ({REPORTER_EMAIL}); this account threatened me.",
        reporter_name=REPORTER_NAME,
        reporter_email=REPORTER_EMAIL,
        good_faith=True,
    )


@pytest.fixture
def record(session, open_case, walk, staff) -> Record:
    case = open_case("harassment", subject=PERSON)
    receive(session, item=user_report(), actor=SYSTEM)
    session.commit()
    walk(case, "enforcement")
    decider = staff("admin", "worker")
    reviewer = staff("lead", "appeals")
    # Staff sometimes name people in free text: the export must still not.
    facts = f"{REPORTER_NAME} and {decider.email} saw repeated threats on 3 May."
    statement = {**DECISION_FIELDS["statement_of_reasons"], "facts": facts}
    decide_case(
        session,
        case=case,
        transition="decide",
        actor=Actor.staff(decider),
        fields={**DECISION_FIELDS, "statement_of_reasons": statement},
    )
    session.commit()
    decision = session.exec(select(Decision).where(Decision.case_id == case.id)).one()
    closes = decision.decided_at + timedelta(days=183)
    session.add_all(
        [
            Appeal(
                case_id=case.id,
                decision_id=decision.id,
                appellant=AppellantKind.affected_user,
                grounds=USER_GROUNDS,
                window_closes_at=closes,
                reviewer_id=reviewer.id,
                outcome=AppealOutcome.upheld,
                reasons=f"Reviewed by {reviewer.email}: the threats are clear.",
                decided_at=decision.decided_at + timedelta(days=2),
            ),
            Appeal(
                case_id=case.id,
                decision_id=decision.id,
                appellant=AppellantKind.reporter,
                grounds=f"{REPORTER_NAME} here: a week is too short.",
                window_closes_at=closes,
            ),
        ]
    )
    session.commit()
    subject = session.get(Subject, case.subject_id)
    return Record(subject=subject, case=case, decider=decider, appeal_reviewer=reviewer)


@pytest.fixture
def restricted_case(session, record, open_case) -> Case:
    case = open_case("sexual/minors", subject=PERSON)
    assert case.restricted and case.subject_id == record.subject.id
    return case
