"""A synthetic March 2026 of casework whose transparency figures are known, with items on both
sides of the month's boundaries and a provider inquiry that must count nowhere. Built through
intake, the workflow engine, decisions, appeals and the SLA sweep, each step at a set moment
(time-machine), so that every figure, the medians included, is exact.

The month, case by case (times UTC; "work" is triage, then enforcement under the clause named):

- P0 user report (privacy) 1 Feb, decided 2 Feb (warn), appealed 10 Feb, upheld 2 Mar 00:00
  (480 h; decided in March, received before) and closed.
- H internal referral 28 Feb 21:00, decided 1 Mar 00:00 (API key revoked; 3 h, on the start
  boundary); appealed 30 Mar, upheld 2 Apr (after the month).
- K provider notice (protect.illicit) 1 Mar 00:00, left in `new`: breached in triage.
- A user report (protect.threats) 2 Mar 00:00 and a classifier detection on the same account at
  01:00 (one case); suspended 04:00 (4 h; automated detection); appealed 4 Mar, partially
  reversed to a warning 5 Mar 12:00 (36 h) and closed.
- B user report (protect.violence) 3 Mar, content removed 10:00 (10 h; legal ground); appealed
  4 Mar, upheld 12:00 (12 h) and closed.
- C classifier detection (self-harm) 5 Mar, dismissed 02:00 (2 h; no action).
- D classifier detection (harassment) 6 Mar, warned 06:00 (6 h; automated detection and
  decision); appealed 7 Mar, reversed 8 Mar (24 h; no action) and closed.
- E user report (empower.high_stakes_automation.medical, a sub-clause) 10 Mar, feature
  restriction 01:00 (1 h); appealed 11 Mar, omitted 06:00 (6 h).
- Q a provider inquiry (12 Mar): a report, a decision, a decided appeal, a finished NCMEC report
  and an SLA breach, all inside the month, none counted.
- N classifier detection (sexual/minors) 15 Mar, child safety: a retracted CyberTipline report and
  one finished 16 Mar; breached in its queue.
- S1 user report (privacy) and S2 internal referral (protect.weapons) 20 Mar; S2 triaged. The SLA
  sweep of 29 Mar records the breaches of K, N, S1 and S2 (S2 in triage, then escalated).
- I user report (protect.threats) 31 Mar 23:00, terminated 1 Apr 00:00 (on the end boundary).
- J user report 1 Apr 00:00, N2 child-safety detection 1 Apr with a report finished then; a sweep
  on 5 Apr: all after the month.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import time_machine

from cases.appeals.service import file_appeal
from cases.decisions.service import fire_transition
from cases.enums import (
    PROVIDER_INQUIRY_WORKFLOW,
    AppealChannel,
    AppealOutcome,
    AppellantKind,
    GroundKind,
    NcmecStatus,
    ReportSource,
    Restriction,
)
from cases.intake.service import IntakeItem, SubjectRef, receive
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import latest_decision, sweep
from cases.models import Appeal, Case, Decision, NcmecReport
from cases.review.claims import claim_case
from tests.casework import DECISION_FIELDS, SYSTEM, detection
from tests.factories import put_case

MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


def user_report(subject: str, clause: str, source=ReportSource.user_report) -> IntakeItem:
    return IntakeItem(
        source=source,
        subject=SubjectRef("account", subject),
        raw_payload="{}",
        clause_id=clause,
        explanation="This account breaks the usage policies.",
        reporter_email=f"reporter-{subject}@example.org",
        good_faith=True,
    )


def statement(*, detection: bool = False, automated: bool = False, law: str | None = None) -> dict:
    return {
        **DECISION_FIELDS["statement_of_reasons"],
        "automated_detection": detection,
        "automated_decision": automated,
        **({"ground_kind": GroundKind.legal.value, "legal_ground": law} if law else {}),
    }


@dataclass
class Desk:
    """Staff working cases at set moments: an admin decides, a lead reviews the appeals."""

    session: object
    worker: Actor
    reviewer: Actor

    def receive(self, moment: str, item: IntakeItem) -> Case:
        with time_machine.travel(at(moment), tick=False):
            case = receive(self.session, item=item, actor=SYSTEM).case
            self.session.commit()
        return case

    def fire(self, case: Case, moment: str, *steps: tuple) -> None:
        """Fire (transition, actor, fields) steps; an actor who must hold the claim takes it."""
        with time_machine.travel(at(moment), tick=False):
            for transition, actor, fields in steps:
                if transition in CLAIMED and case.assignee_id != actor.user_id:
                    claim_case(self.session, case=case, actor=actor)
                fire_transition(
                    self.session, case=case, transition=transition, actor=actor, fields=fields
                )
            self.session.commit()

    def decide(self, case: Case, moment: str, *, clause: str, restriction: Restriction, **flags):
        fields = {
            "policy_clause": clause,
            "restriction": restriction,
            "territorial_scope": ["worldwide"],
            "statement_of_reasons": statement(**flags),
        }
        if restriction == Restriction.temporary_suspension:
            fields["duration_days"] = 7
        self.fire(
            case,
            moment,
            ("start_triage", self.worker, {}),
            ("send_to_enforcement", self.worker, {"policy_clause": clause}),
            ("decide", self.worker, fields),
        )
        return latest_decision(self.session, case.id)

    def appeal(self, case: Case, moment: str) -> None:
        with time_machine.travel(at(moment), tick=False):
            file_appeal(
                self.session,
                case=case,
                appellant=AppellantKind.affected_user,
                grounds="I did nothing wrong.",
                channel=AppealChannel.portal,
                actor=Actor.system("portal"),
            )
            self.session.commit()

    def review(self, case: Case, moment: str, outcome: str, fields: dict, *, close: bool) -> None:
        reasons = {"appeal_outcome": "Reviewed by a second person.", **fields}
        steps = [("start_appeal_review", self.reviewer, {}), (outcome, self.reviewer, reasons)]
        if close:
            steps.append(("close", self.reviewer, {}))
        self.fire(case, moment, *steps)


CLAIMED = {"send_to_enforcement", "decide", "dismiss", "uphold", "partially_reverse", "reverse"}


def provider_inquiry(session) -> Case:
    """Q: everything a figure could count, on a case of the provider_inquiry workflow."""
    case = put_case(
        session,
        clause="protect.threats",
        opened_at=at("2026-03-12T00:00"),
        sla_due_at=at("2026-03-13T00:00"),
    )
    # A reference of its own: put_case numbers from 1, as intake numbers its cases by id.
    case.workflow_name, case.reference = PROVIDER_INQUIRY_WORKFLOW, f"PI-{case.id}"
    decision = Decision(
        case_id=case.id,
        policy_clause="protect.threats",
        restriction=Restriction.termination,
        automated_detection=True,
        automated_decision=True,
        ground_kind=GroundKind.legal,
        decided_at=at("2026-03-12T01:00"),
    )
    session.add(decision)
    session.flush()
    session.add_all(
        [
            Appeal(
                case_id=case.id,
                decision_id=decision.id,
                appellant=AppellantKind.affected_user,
                grounds="No.",
                filed_at=at("2026-03-12T02:00"),
                window_closes_at=at("2026-09-12T00:00"),
                outcome=AppealOutcome.upheld,
                decided_at=at("2026-03-12T03:00"),
            ),
            NcmecReport(
                case_id=case.id, status=NcmecStatus.finished, finished_at=at("2026-03-12T04:00")
            ),
        ]
    )
    session.commit()
    return case


@pytest.fixture
def march(session, staff) -> dict[str, Case]:
    desk = Desk(
        session,
        worker=Actor.staff(staff("admin", "worker")),
        reviewer=Actor.staff(staff("lead", "appeals")),
    )
    R = Restriction
    cases = {"Q": provider_inquiry(session)}

    def take(name: str, moment: str, item: IntakeItem) -> Case:
        cases[name] = desk.receive(moment, item)
        return cases[name]

    p0 = take("P0", "2026-02-01T00:00", user_report("p0", "privacy.private_information"))
    desk.decide(p0, "2026-02-02T00:00", clause="privacy.private_information", restriction=R.warn)
    desk.appeal(p0, "2026-02-10T00:00")
    h = take(
        "H",
        "2026-02-28T21:00",
        user_report("h", "protect.systems_and_property", source=ReportSource.internal),
    )
    desk.decide(
        h,
        "2026-03-01T00:00",
        clause="protect.systems_and_property",
        restriction=R.api_key_revocation,
    )
    take("K", "2026-03-01T00:00", user_report("k", "protect.illicit", ReportSource.provider_notice))
    desk.review(p0, "2026-03-02T00:00", "uphold", {"statement_of_reasons": statement()}, close=True)

    a = take("A", "2026-03-02T00:00", user_report("a", "protect.threats"))
    assert desk.receive("2026-03-02T01:00", detection("harassment", subject="a")).id == a.id
    desk.decide(
        a,
        "2026-03-02T04:00",
        clause="protect.threats",
        restriction=R.temporary_suspension,
        detection=True,
    )
    b = take("B", "2026-03-03T00:00", user_report("b", "protect.violence"))
    desk.decide(
        b,
        "2026-03-03T10:00",
        clause="protect.violence",
        restriction=R.content_removal,
        law="Criminal Code s. 241",
    )
    desk.appeal(a, "2026-03-04T00:00")
    desk.appeal(b, "2026-03-04T00:00")
    desk.review(b, "2026-03-04T12:00", "uphold", {"statement_of_reasons": statement()}, close=True)

    c = take("C", "2026-03-05T00:00", detection("self-harm", subject="c"))
    desk.fire(
        c,
        "2026-03-05T02:00",
        ("start_triage", desk.worker, {}),
        ("dismiss", desk.worker, {"note": "Fiction writing; no breach."}),
    )
    desk.review(
        a,
        "2026-03-05T12:00",
        "partially_reverse",
        {"statement_of_reasons": statement(), "restriction": R.warn},
        close=True,
    )
    d = take("D", "2026-03-06T00:00", detection("harassment", subject="d"))
    desk.decide(
        d,
        "2026-03-06T06:00",
        clause="protect.threats",
        restriction=R.warn,
        detection=True,
        automated=True,
    )
    desk.appeal(d, "2026-03-07T00:00")
    desk.review(d, "2026-03-08T00:00", "reverse", {"statement_of_reasons": statement()}, close=True)

    medical = "empower.high_stakes_automation.medical"
    e = take("E", "2026-03-10T00:00", user_report("e", medical))
    desk.decide(e, "2026-03-10T01:00", clause=medical, restriction=R.feature_restriction)
    desk.appeal(e, "2026-03-11T00:00")
    desk.fire(
        e,
        "2026-03-11T06:00",
        ("omit_appeal", desk.reviewer, {"appeal_outcome": "Withdrawn.", "note": "Withdrawn."}),
    )

    n = take("N", "2026-03-15T00:00", detection("sexual/minors", subject="n"))
    assert n.workflow_name == "child_safety"
    session.add_all(
        [
            NcmecReport(case_id=n.id, status=NcmecStatus.retracted),
            NcmecReport(
                case_id=n.id, status=NcmecStatus.finished, finished_at=at("2026-03-16T00:00")
            ),
        ]
    )
    session.commit()
    take("S1", "2026-03-20T00:00", user_report("s1", "privacy.private_information"))
    s2 = take("S2", "2026-03-20T00:00", user_report("s2", "protect.weapons", ReportSource.internal))
    desk.fire(s2, "2026-03-20T00:00", ("start_triage", desk.worker, {}))
    with time_machine.travel(at("2026-03-29T00:00"), tick=False):
        sweep(session)
        session.commit()
    assert session.get(Case, s2.id).queue == "escalations"

    desk.appeal(h, "2026-03-30T00:00")
    i = take("I", "2026-03-31T23:00", user_report("i", "protect.threats"))
    desk.decide(i, "2026-04-01T00:00", clause="protect.threats", restriction=R.termination)
    take("J", "2026-04-01T00:00", user_report("j", "protect.threats"))
    n2 = take("N2", "2026-04-01T00:00", detection("sexual/minors", subject="n2"))
    session.add(
        NcmecReport(case_id=n2.id, status=NcmecStatus.finished, finished_at=at("2026-04-01T00:00"))
    )
    session.commit()
    desk.review(h, "2026-04-02T00:00", "uphold", {"statement_of_reasons": statement()}, close=False)
    with time_machine.travel(at("2026-04-05T00:00"), tick=False):
        assert sweep(session) > 0
        session.commit()
    return cases
