"""Recording a provider inquiry: its case (workflow, subject, queue, SLA due at the deadline), its
trail event, what is refused, and the answer that needs a dossier first."""

from datetime import timedelta

import pytest
from sqlmodel import select

from cases.core.errors import InputInvalid
from cases.core.security import PermissionDenied
from cases.core.sqltypes import utcnow
from cases.enums import PROVIDER_INQUIRY_WORKFLOW, EventType, SubjectKind
from cases.inquiries.dossier import generate_dossier
from cases.inquiries.service import answer_inquiry, list_inquiries, record_inquiry
from cases.lifecycle.actors import Actor
from cases.lifecycle.deployed import definitions
from cases.lifecycle.sla import sla_status
from cases.lifecycle.transitions import GuardRefused, allowed_transitions, sweep
from cases.models import Case, ProviderInquiry, Subject
from cases.review.queues import all_queues, list_queue
from cases.trail.models import CaseEvent
from tests.helpers import count, event_payloads, fresh
from tests.inquiries.conftest import PERIOD_END, PERIOD_START

QUEUE = "provider_inquiries"


def test_recording_opens_a_case_due_at_the_deadline(session, inquiry):
    deadline = utcnow() + timedelta(days=9, hours=3)
    found = inquiry(
        clauses=["protect.threats", "empower.high_stakes_automation"], deadline=deadline
    )
    case = fresh(session).get(Case, found.case_id)
    assert (case.workflow_name, case.state, case.stage, case.queue) == (
        PROVIDER_INQUIRY_WORKFLOW,
        "received",
        "escalation",
        QUEUE,
    )
    assert case.policy_clause is None and not case.restricted
    assert case.sla_due_at == deadline and not case.sla_breached
    assert case.reference.startswith("DK-")
    subject = session.get(Subject, case.subject_id)
    assert (subject.kind, subject.external_id) == (SubjectKind.app, "operator")
    workflow = definitions().current(PROVIDER_INQUIRY_WORKFLOW)
    assert (case.workflow_version, case.workflow_digest) == (workflow.version, workflow.digest)
    # The clauses as the taxonomy orders them, ids exactly as in policy.toml.
    assert found.clauses == ["protect.threats", "empower.high_stakes_automation"]
    assert (found.period_start, found.period_end) == (PERIOD_START, PERIOD_END)


def test_the_trail_records_the_inquiry(session, inquiry, staff):
    found = inquiry(summary="Threats in March, please.")
    [(header, payload)] = event_payloads(session, found.case_id, EventType.inquiry_recorded)
    assert header["seq"] == 1 and header["actor"] == f"user:{staff('lead', 'inquiries').id}"
    assert payload["inquiry_id"] == found.id
    assert payload["provider_reference"] == "OAI-TS-2026-0042"
    assert payload["clauses"] == ["protect.threats"]
    assert payload["summary"] == "Threats in March, please."
    assert payload["deadline_at"].endswith("Z") and payload["period"]["start"].endswith("Z")


def test_it_waits_in_its_own_queue_and_no_other(session, inquiry, staff):
    found = inquiry()
    admin = staff("admin")
    for queue in all_queues():
        listed = [e.case.id for e in list_queue(session, queue=queue, viewer=admin).entries]
        assert (found.case_id in listed) is (queue.name == QUEUE)


def test_two_inquiries_are_two_cases_about_the_operator(session, inquiry):
    first, second = inquiry(), inquiry(provider_reference="OAI-TS-2026-0043")
    cases = [fresh(session).get(Case, i.case_id) for i in (first, second)]
    assert cases[0].id != cases[1].id and cases[0].subject_id == cases[1].subject_id
    assert [row.inquiry.id for row in list_inquiries(session)] == [first.id, second.id]


def test_a_missed_deadline_is_an_ordinary_sla_breach(session, inquiry):
    found = inquiry(deadline=utcnow() + timedelta(hours=1))
    case = fresh(session).get(Case, found.case_id)
    assert sla_status(case, now=utcnow()) == "due_soon"
    assert sweep(session, now=utcnow() + timedelta(hours=2)) >= 1
    session.commit()
    case = fresh(session).get(Case, found.case_id)
    assert case.sla_breached and case.state == "received"
    assert event_payloads(session, case.id, EventType.sla_breached)
    assert list_inquiries(session)[0].sla == "breached"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"provider_reference": "   "}, "provider_reference"),
        ({"provider_reference": "x" * 121}, "provider_reference"),
        ({"deadline_at": utcnow() - timedelta(days=3)}, "deadline_at"),
        ({"period_start": PERIOD_END, "period_end": PERIOD_START}, "period_end"),
        ({"clauses": ["protect.threats", "protect.nonsense"]}, "clauses"),
        ({"summary": "x" * 10_001}, "summary"),
    ],
)
def test_refused_input_writes_nothing(session, staff, changes, field):
    values = {
        "provider_reference": "OAI-1",
        "received_at": utcnow() - timedelta(days=1),
        "deadline_at": utcnow() + timedelta(days=7),
        "period_start": PERIOD_START,
        "period_end": PERIOD_END,
        "clauses": [],
        "summary": "",
        **changes,
    }
    with pytest.raises(InputInvalid) as refused:
        record_inquiry(session, **values, actor=Actor.staff(staff("lead")))
    assert refused.value.field == field
    session.rollback()
    assert (count(session, ProviderInquiry), count(session, Case), count(session, CaseEvent)) == (
        0,
        0,
        0,
    )


@pytest.mark.parametrize("role", ["reviewer", "child_safety", "auditor"])
def test_only_leads_and_admins_record_inquiries(session, staff, role):
    with pytest.raises(PermissionDenied):
        record_inquiry(
            session,
            provider_reference="OAI-1",
            received_at=utcnow() - timedelta(days=1),
            deadline_at=utcnow() + timedelta(days=7),
            period_start=PERIOD_START,
            period_end=PERIOD_END,
            clauses=[],
            summary="",
            actor=Actor.staff(staff(role)),
        )


def _generate(session, found, user, format="json"):
    made = generate_dossier(
        session,
        start=found.period_start,
        end=found.period_end,
        clauses=found.clauses,
        format=format,
        inquiry=found,
        actor_label=f"user:{user.id}",
        user=user,
    )
    session.commit()
    return made


def test_an_inquiry_is_answered_only_with_a_dossier(session, inquiry, staff):
    found = inquiry()
    lead = staff("lead", "inquiries")
    case = fresh(session).get(Case, found.case_id)
    assert allowed_transitions(session, case=case, actor=Actor.staff(lead)) == []
    with pytest.raises(GuardRefused, match="generate the dossier first"):
        answer_inquiry(session, inquiry=found, actor=Actor.staff(lead), note="Sent.")
    session.rollback()
    _generate(session, found, lead)
    case = fresh(session).get(Case, found.case_id)
    offered = allowed_transitions(session, case=case, actor=Actor.staff(lead))
    assert [t.name for t in offered] == ["answer"]
    assert allowed_transitions(session, case=case, actor=Actor.staff(staff("reviewer"))) == []
    answer_inquiry(session, inquiry=found, actor=Actor.staff(lead), note="Emailed the PDF.")
    session.commit()
    found = fresh(session).get(ProviderInquiry, found.id)
    case = session.get(Case, found.case_id)
    assert case.resolved_at is not None
    assert (case.state, case.stage, case.sla_due_at) == ("answered", "resolved", None)
    assert list_inquiries(session)[0].answered


def test_no_clause_routes_a_report_into_the_inquiry_workflow(session):
    policy = definitions().policy
    assert all(clause.workflow != PROVIDER_INQUIRY_WORKFLOW for clause in policy.clauses)
    assert all(
        clause.workflow != PROVIDER_INQUIRY_WORKFLOW
        for clauses in policy.moderation.values()
        for clause in map(policy.clause, clauses)
    )


def test_the_inquiry_case_is_in_no_figure(session, inquiry, world):
    from cases.transparency.service import transparency_figures

    found = inquiry()
    figures = transparency_figures(session, start=PERIOD_START, end=PERIOD_END)
    opened = session.exec(select(Case).where(Case.workflow_name != PROVIDER_INQUIRY_WORKFLOW))
    assert figures.cases_opened == len(opened.all())
    assert session.get(Case, found.case_id) is not None
