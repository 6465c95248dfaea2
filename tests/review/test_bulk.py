"""Bulk actions: which transitions are offered for a selection, and per-case results when each
selected case is checked and changed on its own."""

import json

from sqlmodel import col, select

from cases.enums import EventType, Role
from cases.lifecycle.actors import Actor
from cases.models import Decision, Outbox
from cases.review.bulk import bulk_options, bulk_transition
from cases.trail.models import CaseEvent, EventPayload
from tests.factories import put_case


def transition_events(session, case) -> list[CaseEvent]:
    return list(
        session.exec(
            select(CaseEvent).where(
                CaseEvent.case_id == case.id, CaseEvent.type == EventType.transition
            )
        )
    )


def test_offered_actions_are_those_the_engine_allows_on_some_selected_case(session, staff):
    reviewer = staff(Role.reviewer)
    mine = put_case(session, state="triage", assignee=reviewer)
    free = put_case(session, state="triage")
    new = put_case(session, state="new")
    deciding = put_case(session, state="enforcement", assignee=reviewer)
    session.commit()

    options = bulk_options(session, cases=[mine, free, new, deciding], actor=Actor.staff(reviewer))
    allowed = {option.name: option.allowed for option in options}

    # Dismissing and sending to enforcement need the claim (only `mine` and `deciding` have it).
    assert allowed == {
        "escalate": 3,
        "dismiss": 2,
        "send_to_enforcement": 1,
        "start_triage": 1,
    }
    assert [option.name for option in options][0] == "escalate"  # most widely allowed first
    # `decide` is allowed on `deciding`, but needs a statement of reasons of its own; a question
    # to a reporter is about their own report.
    assert "decide" not in allowed and "request_information" not in allowed


def test_each_case_is_changed_or_refused_on_its_own(session, staff):
    reviewer = staff(Role.reviewer)
    first = put_case(session, state="triage", assignee=reviewer)
    unclaimed = put_case(session, state="triage")
    new = put_case(session, state="new")
    last = put_case(session, state="triage", assignee=reviewer)
    restricted = put_case(session, workflow="child_safety", state="assessment")
    session.commit()
    selection = [first, unclaimed, new, last, restricted]

    results = bulk_transition(
        session,
        references=[c.reference for c in selection] + ["DK-2026-999999"],
        transition="dismiss",
        actor=Actor.staff(reviewer),
        fields={"note": "Duplicate of an earlier report.", "policy_clause": "protect.threats"},
    )
    session.commit()

    outcome = {r.reference: (r.ok, r.message) for r in results}
    assert [r.reference for r in results] == [c.reference for c in selection] + ["DK-2026-999999"]
    assert outcome[first.reference] == (True, "Now: Dismissed; appeal window open.")
    assert outcome[last.reference][0] is True
    assert outcome[unclaimed.reference][0] is False
    assert "claim the case first" in outcome[unclaimed.reference][1]
    assert outcome[new.reference][0] is False
    assert "not available while the case is 'New'" in outcome[new.reference][1]
    # Restricted cases are as unknown to a reviewer as cases that do not exist.
    assert outcome[restricted.reference] == (False, "No such case.")
    assert outcome["DK-2026-999999"] == (False, "No such case.")

    session.expire_all()
    states = {c.reference: session.get(type(c), c.id).state for c in selection}
    assert states == {
        first.reference: "dismissed",
        unclaimed.reference: "triage",
        new.reference: "new",
        last.reference: "dismissed",
        restricted.reference: "assessment",
    }
    for case in (first, last):
        [event] = transition_events(session, case)
        assert event.actor == f"user:{reviewer.id}"
        payload = json.loads(session.get(EventPayload, event.id).payload)
        # Only the fields the transition asks for are taken (the clause given is not); a
        # dismissal is a no-action decision whose facts are the note.
        assert payload["fields"]["note"] == "Duplicate of an earlier report."
        assert payload["fields"]["restriction"] == "no_action"
        decision = session.exec(select(Decision).where(Decision.case_id == case.id)).one()
        assert (decision.facts, decision.author_id) == (payload["fields"]["note"], reviewer.id)
    for case in (unclaimed, new, restricted):
        assert transition_events(session, case) == []
    # The transition's jobs are queued for the changed cases only.
    notified = session.exec(
        select(Outbox.case_id).where(col(Outbox.case_id).in_([c.id for c in selection]))
    ).all()
    assert sorted(notified) == sorted([first.id, last.id])


def test_a_missing_field_refuses_every_case_and_changes_nothing(session, staff):
    reviewer = staff(Role.reviewer)
    cases = [put_case(session, state="triage", assignee=reviewer) for _ in range(2)]
    session.commit()
    results = bulk_transition(
        session,
        references=[c.reference for c in cases],
        transition="dismiss",
        actor=Actor.staff(reviewer),
        fields={},
    )
    assert [r.ok for r in results] == [False, False]
    assert all("note" in r.message for r in results)
    assert all(transition_events(session, c) == [] for c in cases)


def test_a_decision_is_never_taken_in_bulk(session, staff):
    reviewer = staff(Role.reviewer)
    case = put_case(session, state="enforcement", assignee=reviewer)
    session.commit()
    [result] = bulk_transition(
        session,
        references=[case.reference],
        transition="decide",
        actor=Actor.staff(reviewer),
        fields={"note": "x"},
    )
    assert result.ok is False and "one case at a time" in result.message
    assert case.state == "enforcement"


def test_an_unknown_transition_is_refused_per_case(session, staff):
    reviewer = staff(Role.reviewer)
    case = put_case(session, state="triage", assignee=reviewer)
    session.commit()
    [result] = bulk_transition(
        session,
        references=[case.reference],
        transition="teleport",
        actor=Actor.staff(reviewer),
        fields={},
    )
    assert result.ok is False and "no transition 'teleport'" in result.message
