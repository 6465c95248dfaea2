"""Every intake appends exactly one event (intake, or report_attached), and the trail verifies."""

import json
from collections import Counter

from sqlmodel import select

from cases.audit.signing import signer
from cases.enums import EventType
from cases.evidence.blobs import blob_store
from cases.models import Case, Report
from cases.trail.audit import verify_trail
from cases.trail.models import CaseEvent, EventPayload
from tests.intake.conftest import detection

INTAKE_EVENTS = (EventType.intake, EventType.report_attached)


def test_each_report_is_one_event_and_the_trail_verifies(post_json, session):
    for subject in ("user-1", "user-2", "user-1"):
        assert post_json("/api/v1/detections", detection(subject)).status_code == 201
    items = [detection("user-2"), {"subject": {}}, detection("user-3", scores={"sexual/minors": 1})]
    assert post_json("/api/v1/detections/batch", {"items": items}).status_code == 207
    notice = {
        "category": "protect.threats",
        "location": "https://chat.example/c/1",
        "explanation": "threats",
        "good_faith": True,
        "subject": {"type": "account", "id": "user-1"},
    }
    assert post_json("/api/v1/reports", notice, key=None).status_code == 201

    rows = session.exec(
        select(CaseEvent, EventPayload)
        .join(EventPayload, EventPayload.event_id == CaseEvent.id)
        .where(CaseEvent.type.in_(INTAKE_EVENTS))
    ).all()
    per_report = Counter(json.loads(payload.payload)["report_id"] for _, payload in rows)
    reports = session.exec(select(Report)).all()
    assert len(reports) == 6
    assert per_report == Counter(report.id for report in reports)
    for report in reports:
        event = next(e for e, p in rows if json.loads(p.payload)["report_id"] == report.id)
        assert event.case_id == report.case_id
    opened = Counter(event.type for event, _ in rows)
    assert opened == {EventType.intake: 3, EventType.report_attached: 3}
    assert len(session.exec(select(Case)).all()) == 3

    audit = verify_trail(session, verifier_key=signer().verifier_key, store=blob_store())
    assert audit.cases == 3 and audit.events >= 6 and audit.leaves == audit.events
