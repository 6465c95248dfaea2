"""The export (GDPR Art. 15): what it says, what it withholds, and what it records."""

import hashlib
import json
from datetime import timedelta

import pytest

from cases.enums import AccessRequestStatus, EventType
from cases.models import AccessRequest, Decision, Subject
from cases.privacy.service import (
    RequestClosed,
    build_export,
    fulfil_request,
    list_requests,
    render_export_html,
    request_access,
)
from tests.factories import NOW
from tests.helpers import count, event_payloads, events
from tests.privacy.conftest import PERSON, REPORTER_EMAIL, REPORTER_NAME, USER_GROUNDS, user_report


def case_entry(export: dict, reference: str) -> dict:
    return next(c for c in export["cases"] if c["reference"] == reference)


def portal_request(session, record, **extra) -> AccessRequest:
    return request_access(
        session,
        subject=record.subject,
        case=record.case,
        channel="portal",
        requested_by="system:portal",
        **extra,
    )


def test_third_parties_never_appear_in_json_or_html(session, record, staff):
    admin = staff("admin")
    done = fulfil_request(
        session,
        request=portal_request(session, record),
        actor_label=f"user:{admin.id}",
        fulfilled_by_id=admin.id,
    )
    session.commit()
    people = [REPORTER_NAME, REPORTER_EMAIL, record.decider.email, record.decider.name]
    people += [record.appeal_reviewer.email, record.appeal_reviewer.name, admin.email]
    for text in (done.json.decode(), done.html):
        for identity in people:
            assert identity.lower() not in text.lower()
        assert PERSON in text and USER_GROUNDS in text

    entry = case_entry(done.export, record.case.reference)
    by_people = [r for r in entry["reports"] if r["reported_by"] == "a reporter"]
    assert by_people and all(r["what_they_wrote"] == "[redacted]" for r in by_people)
    decision = entry["decisions"][0]
    assert decision["decided_by"] == "a reviewer"
    assert (
        decision["facts_and_circumstances"]
        == "[redacted] and [redacted] saw repeated threats on 3 May."
    )
    mine, theirs = entry["appeals"]
    assert (mine["filed_by"], mine["grounds"], mine["decided_by"]) == (
        "you",
        USER_GROUNDS,
        "a reviewer",
    )
    assert mine["outcome_in_words"].startswith("The appeal was rejected")
    assert (theirs["filed_by"], theirs["grounds"], theirs["outcome"]) == (
        "a reporter",
        "[redacted]",
        None,
    )


def test_every_statement_of_reasons_element_is_given(session, record):
    export = build_export(session, subject=record.subject)
    entry = case_entry(export, record.case.reference)
    assert entry["status"] and entry["status_explained"] and entry["policy"]["name"]
    decision = entry["decisions"][0]
    assert decision["what_we_did"] == "the account was suspended for a time"
    assert decision["duration_days"] == 7 and decision["where_it_applies"] == ["worldwide"]
    assert decision["policy"]["clause"] == "protect.threats"
    assert decision["legal_or_contractual_ground"].startswith("Clause protect.threats")
    assert decision["how_to_seek_redress"].startswith("Appeal within six months")
    assert decision["detected_by_automated_means"] is True
    assert decision["decided_by_automated_means"] is False
    assert decision["appeal_possible_until"] > decision["decided_at"]
    assert export["you"]["id"] == PERSON and export["you"]["kind_in_words"] == "an account"
    # Plain JSON: it survives a round trip unchanged.
    assert json.loads(json.dumps(export)) == export


def test_automated_involvement_is_explained_for_a_classifier_detection(session, record):
    export = build_export(session, subject=record.subject)
    html = render_export_html(export)
    auto = case_entry(export, record.case.reference)["automated_involvement"]
    assert auto["detected_automatically"] is True and "classifier" in auto["detection"]
    [signal] = auto["classifier_signals"]
    assert signal["classifier"] == "moderation-pipeline"
    assert signal["scores_that_triggered"] == [{"category": "harassment", "score": "93%"}]
    assert signal["threshold"] == "50%"
    assert auto["decided_automatically"] is False and auto["reviewed_by_a_person"] is True
    assert "A reviewer examined the case" in auto["human_review"]
    assert "Automated involvement" in html and "93%" in html and "moderation-pipeline" in html


def test_a_case_only_a_person_reported_says_so(session, open_case):
    case = open_case(item=user_report("acct-99"))
    export = build_export(session, subject=session.get(Subject, case.subject_id))
    auto = export["cases"][0]["automated_involvement"]
    assert auto["detected_automatically"] is False and auto["classifier_signals"] == []
    assert auto["decided_automatically"] is False and auto["reviewed_by_a_person"] is False
    assert "No decision has been taken" in auto["decision"]


def test_restricted_cases_are_left_out_for_those_not_cleared(
    session, record, restricted_case, staff
):
    def references(viewer) -> set[str]:
        export = build_export(session, subject=record.subject, viewer=viewer)
        return {c["reference"] for c in export["cases"]}

    both = {record.case.reference, restricted_case.reference}
    assert references(staff("reviewer")) == {record.case.reference}
    assert references(staff("lead")) == {record.case.reference}
    assert references(staff("admin")) == both
    assert references(None) == both, "the operator's CLI sees everything"


def test_request_and_fulfilment_are_trail_events_with_a_one_month_sla(
    session, record, restricted_case, staff
):
    request = portal_request(session, record, now=NOW)
    session.commit()
    assert request.due_at == NOW + timedelta(days=30)
    assert (request.status, request.channel) == (AccessRequestStatus.open, "portal")
    for case in (record.case, restricted_case):
        [(header, payload)] = event_payloads(session, case.id, EventType.access_requested)
        assert header["actor"] == "system:portal"
        assert payload == {
            "request_id": request.id,
            "channel": "portal",
            "received_at": NOW.isoformat(),
            "due_at": (NOW + timedelta(days=30)).isoformat(),
            "through_case": record.case.reference,
        }

    again = request_access(
        session, subject=record.subject, case=None, channel="staff", requested_by="user:1"
    )
    assert again.id == request.id, "one open request per subject"
    assert len(events(session, record.case, EventType.access_requested)) == 1

    lead = staff("lead")
    late = NOW + timedelta(days=31)
    done = fulfil_request(
        session, request=request, actor_label=f"user:{lead.id}", fulfilled_by_id=lead.id, now=late
    )
    session.commit()
    digest = hashlib.sha256(done.json).hexdigest()
    assert (request.status, request.export_sha256, request.fulfilled_at) == (
        AccessRequestStatus.fulfilled,
        digest,
        late,
    )
    [(header, payload)] = event_payloads(session, record.case.id, EventType.access_fulfilled)
    assert header["actor"] == f"user:{lead.id}"
    assert payload["export_sha256"] == digest and payload["on_time"] is False
    assert payload["cases_in_export"] == 1
    # The lead may not see the restricted case: its data was not handed over, and its trail says so.
    assert event_payloads(session, restricted_case.id, EventType.access_fulfilled) == []

    with pytest.raises(RequestClosed):
        fulfil_request(session, request=request, actor_label="user:1")
    session.rollback()
    fresh_request = request_access(
        session, subject=record.subject, case=None, channel="staff", requested_by="user:1"
    )
    assert fresh_request.id != request.id, "after fulfilment, a new request is a new one"


def test_overdue_requests_are_flagged(session, record, staff):
    request = portal_request(session, record, now=NOW)
    session.commit()
    auditor = staff("auditor")
    on_time = list_requests(session, viewer=auditor, now=NOW + timedelta(days=30))
    late = list_requests(session, viewer=auditor, now=NOW + timedelta(days=30, seconds=1))
    assert [(r.request.id, r.overdue) for r in on_time.open] == [(request.id, False)]
    assert [(r.request.id, r.overdue) for r in late.open] == [(request.id, True)]
    assert late.open[0].through_case == record.case.reference


def test_a_request_through_someone_elses_case_is_refused(session, record, open_case):
    other = open_case(subject="acct-8")
    with pytest.raises(ValueError, match="not about this subject"):
        request_access(
            session, subject=record.subject, case=other, channel="portal", requested_by="x"
        )
    session.rollback()
    assert count(session, AccessRequest) == 0


@pytest.mark.parametrize("config_overrides", [{"ACCESS_REQUEST_DAYS": 10}])
def test_the_sla_follows_the_setting(session, record, config_overrides):
    request = portal_request(session, record, now=NOW)
    assert request.due_at == NOW + timedelta(days=10)


def test_a_decision_taken_by_the_system_is_explained(session, open_case):
    case = open_case(subject="acct-auto")
    session.add(
        Decision(
            case_id=case.id,
            policy_clause="protect.threats",
            restriction="warn",
            automated_detection=True,
            automated_decision=True,
            facts="The classifier scored the message 93% for harassment.",
            ground="Clause protect.threats.",
            redress="Appeal through your private link.",
        )
    )
    session.commit()
    export = build_export(session, subject=session.get(Subject, case.subject_id))
    [entry] = export["cases"]
    assert entry["decisions"][0]["decided_by"] == "an automated system"
    auto = entry["automated_involvement"]
    assert auto["decided_automatically"] is True and auto["reviewed_by_a_person"] is False
    assert "without a person reviewing it" in auto["human_review"]
