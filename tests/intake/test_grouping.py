"""Grouping: reports about a subject with an open case in the same workflow attach to it."""

import json
import threading

import pytest
from sqlmodel import select

from cases.core.sqltypes import utcnow
from cases.decisions.service import fire_transition
from cases.enums import EventType, ReportSource, Stage
from cases.intake.moderation import parse_moderation
from cases.intake.service import IntakeItem, SubjectRef, receive, receive_all
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import transition_case
from cases.models import Case, Report
from cases.review.claims import claim_case
from cases.trail.models import CaseEvent, EventPayload
from tests.factories import make_user
from tests.intake.conftest import detection, moderation_response

ACTOR = Actor.system("test")


def detected(
    subject: str = "user-1",
    *,
    kind: str = "account",
    source: str = "clf-a",
    api_key_id: int | None = None,
    **scores: float,
) -> IntakeItem:
    body = moderation_response({name.replace("_", "/"): s for name, s in scores.items()})
    return IntakeItem(
        source=ReportSource.classifier,
        subject=SubjectRef(kind=kind, external_id=subject),
        raw_payload=json.dumps(body),
        moderation=parse_moderation(body),
        source_name=source,
        api_key_id=api_key_id,
    )


def event_types(session, case: Case) -> list[str]:
    return list(
        session.exec(select(CaseEvent.type).where(CaseEvent.case_id == case.id).order_by("seq"))
    )


def test_a_report_on_the_same_subject_and_workflow_attaches(session):
    first = receive(session, item=detected(harassment=0.7), actor=ACTOR)
    second = receive(session, item=detected(source="clf-b", violence=0.95), actor=ACTOR)
    session.commit()

    assert first.opened and not second.opened
    case = second.case
    assert case.id == first.case.id
    assert (case.report_count, case.reporter_count) == (2, 2)
    assert case.severity == 1  # the most severe report so far
    assert case.policy_clause == "protect.threats"  # a reviewer decides; intake keeps the first
    assert event_types(session, case) == [EventType.intake, EventType.report_attached]
    assert [r.case_id for r in session.exec(select(Report))] == [case.id, case.id]


def test_reporters_are_counted_by_integration_and_source(session, integration):
    key_id = integration[0].id
    receive(session, item=detected(harassment=0.7, api_key_id=key_id), actor=ACTOR)
    case = receive(session, item=detected(harassment=0.8, api_key_id=key_id), actor=ACTOR).case
    assert (case.report_count, case.reporter_count) == (2, 1)
    other_source = detected(source="clf-b", harassment=0.8, api_key_id=key_id)
    case = receive(session, item=other_source, actor=ACTOR).case
    assert (case.report_count, case.reporter_count) == (3, 2)


def test_another_workflow_opens_a_separate_restricted_case(session):
    standard = receive(session, item=detected(harassment=0.7), actor=ACTOR).case
    child_safety = receive(session, item=detected(sexual_minors=0.9), actor=ACTOR)
    later = receive(session, item=detected(hate=0.8), actor=ACTOR)

    assert child_safety.opened and child_safety.case.id != standard.id
    assert child_safety.case.workflow_name == "child_safety" and child_safety.case.restricted
    assert not standard.restricted
    assert later.case.id == standard.id and not later.opened
    assert child_safety.case.report_count == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [(("account", "u-1"), ("account", "u-2")), (("account", "u-1"), ("safety_id", "u-1"))],
)
def test_different_subjects_never_group(session, first, second):
    one = receive(session, item=detected(first[1], kind=first[0], harassment=0.7), actor=ACTOR)
    two = receive(session, item=detected(second[1], kind=second[0], harassment=0.7), actor=ACTOR)
    assert one.case.id != two.case.id and two.opened


def test_a_resolved_case_takes_no_new_reports(session):
    case = receive(session, item=detected(harassment=0.7), actor=ACTOR).case
    reviewer = Actor.staff(make_user(session))
    transition_case(session, case=case, transition="start_triage", actor=reviewer)
    claim_case(session, case=case, actor=reviewer)
    fire_transition(
        session, case=case, transition="dismiss", actor=reviewer, fields={"note": "satire"}
    )
    session.commit()
    assert case.stage == Stage.resolved

    later = receive(session, item=detected(harassment=0.9), actor=ACTOR)

    assert later.opened and later.case.id != case.id
    assert session.get(Case, case.id).report_count == 1


def test_concurrent_reports_about_a_new_subject_open_one_case(app, post_json, session):
    """The subject row is locked before the open case is looked up (PostgreSQL: FOR UPDATE)."""
    body = json.dumps(detection("user-burst"))
    start = threading.Barrier(8)
    statuses = []

    def send():
        start.wait()
        statuses.append(post_json("/api/v1/detections", body).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [201] * 8
    case = session.exec(select(Case)).one()
    assert case.report_count == 8


def test_a_batch_ends_as_the_same_items_received_one_by_one(session, integration):
    """receive_all is set-based; every case, score and trail payload must match receiving the
    items in order, one at a time (here on twin subjects, prefixed "one-" and "all-")."""
    key_id = integration[0].id
    plan = [  # (subject, source, scores): grouping, new and repeated reporters, severities
        ("u-1", "clf-a", {"harassment": 0.7}),
        ("u-2", "clf-a", {"hate": 0.9}),
        ("u-1", "clf-a", {"violence": 0.95}),
        ("u-1", "clf-b", {"harassment": 0.6}),
        ("u-3", "clf-a", {"sexual_minors": 0.9}),
        ("u-3", "clf-a", {"harassment": 0.8}),
        ("u-2", "clf-b", {"hate": 0.55}),
    ]
    now = utcnow()
    for twin in ("one", "all"):
        item = detected(f"{twin}-u-2", hate=0.6, api_key_id=key_id)
        receive(session, item=item, actor=ACTOR, now=now)

    def items(prefix):
        return [
            detected(f"{prefix}-{subject}", source=source, api_key_id=key_id, **scores)
            for subject, source, scores in plan
        ]

    one_by_one = [receive(session, item=item, actor=ACTOR, now=now) for item in items("one")]
    together = receive_all(session, items=items("all"), actor=ACTOR, now=now)
    session.commit()

    def seen(outcome):
        case = session.get(Case, outcome.case_id)
        payloads = session.exec(
            select(EventPayload.payload)
            .join(CaseEvent, CaseEvent.id == EventPayload.event_id)
            .where(CaseEvent.case_id == case.id)
        )
        payload = next(p for p in map(json.loads, payloads) if p["report_id"] == outcome.report_id)
        return (
            (outcome.opened, outcome.state, outcome.priority, outcome.priority_band),
            (case.report_count, case.reporter_count, case.severity, case.priority),
            (case.priority_band, case.sla_due_at, case.workflow_name),
            payload["priority"],
        )

    assert [seen(o) for o in together] == [seen(o) for o in one_by_one]
    assert [o.opened for o in together] == [True, False, False, False, True, True, False]
