"""CyberTipline tests run against the fake server (`tests.child_safety.fake_cybertipline`) served
in a thread, with the app pointed at it: child-safety cases opened through intake, specialists who
take them up, and helpers to prepare, submit and resume a report as the job runner would."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from cases.child_safety.ncmec.service import prepare_draft
from cases.core.sqltypes import utcnow
from cases.enums import OutboxStatus, ReportSource
from cases.intake.moderation import parse_moderation
from cases.intake.service import IntakeItem, SubjectRef, receive
from cases.jobs.outbox import relay_outbox
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import transition_case
from cases.models import Case, EvidenceView, NcmecReport, Outbox, User
from cases.review.claims import claim_case
from tests.child_safety.fake_cybertipline import SCHEMA_PATH, FakeCyberTipline, serve
from tests.helpers import fresh

EXCERPT = "user: how old are you? answer honestly\nassistant: I can't help with that."
PRODUCT = "Acme Assistant"
REPORTER = "safety@acme.example"
OCCURRED = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)


@pytest.fixture
def fake() -> FakeCyberTipline:
    return FakeCyberTipline()


@pytest.fixture
def ncmec_url(fake):
    with serve(fake) as url:
        yield url


@pytest.fixture
def config_overrides(ncmec_url, fake) -> dict:
    return {
        "NCMEC_URL": ncmec_url,
        "NCMEC_USERNAME": fake.username,
        "NCMEC_PASSWORD": fake.password,
        "NCMEC_REPORTER_EMAIL": REPORTER,
        "NCMEC_REPORTER_FIRST_NAME": "Sam",
        "NCMEC_REPORTER_LAST_NAME": "Safety",
        "NCMEC_ESP_NAME": PRODUCT,
        "NCMEC_SCHEMA_PATH": str(SCHEMA_PATH),
    }


def detection_with_excerpt(subject: str = "acct-77", excerpt: str = EXCERPT) -> IntakeItem:
    """A classifier detection of sexual content involving a minor in a conversation with the AI
    product, carrying the conversation excerpt as the API receives it."""
    body = {
        "subject": {"type": "account", "id": subject},
        "source": {"name": "moderation-pipeline"},
        "moderation": {
            "id": "modr-9",
            "model": "omni-moderation-latest",
            "results": [
                {
                    "flagged": True,
                    "categories": {"sexual/minors": True},
                    "category_scores": {"sexual/minors": 0.97},
                }
            ],
        },
        "content": {"type": "conversation", "ref": "conv-4471", "excerpt": excerpt},
        "occurred_at": "2026-01-10T09:30:00Z",
    }
    return IntakeItem(
        source=ReportSource.classifier,
        subject=SubjectRef("account", subject),
        raw_payload=json.dumps(body),
        moderation=parse_moderation(body["moderation"]),
        source_name="moderation-pipeline",
        content_ref="conv-4471",
        occurred_at=OCCURRED,
    )


@pytest.fixture
def child_case(session):
    """A child-safety case opened through intake from a detection with a conversation excerpt."""

    def opener(subject: str = "acct-77") -> Case:
        outcome = receive(session, item=detection_with_excerpt(subject), actor=Actor.system("test"))
        session.commit()
        case = outcome.case
        assert case.workflow_name == "child_safety" and case.restricted
        return case

    return opener


@pytest.fixture
def evidence(add_evidence):
    """Store `data` as restricted evidence of `case`, as intake stores a reporter's file."""

    def add(case: Case, data: bytes, *, filename: str, media_type: str = "image/png") -> str:
        return add_evidence(
            case, data, filename=filename, media_type=media_type, restricted=True
        ).sha256

    return add


@pytest.fixture
def viewed(session):
    """Record that `user` opened the file (what the evidence viewer writes)."""

    def view(case: Case, sha256: str, user: User) -> None:
        session.add(
            EvidenceView(case_id=case.id, blob_sha256=sha256, user_id=user.id, reason="triage")
        )
        session.commit()

    return view


@pytest.fixture
def take_up(session, staff):
    """A specialist starts the assessment and claims the case; returns the specialist."""

    def take(case: Case, name: str = "") -> User:
        specialist = staff("child_safety", name)
        actor = Actor.staff(specialist)
        if case.state == "new":
            transition_case(session, case=case, transition="start_assessment", actor=actor)
        claim_case(session, case=case, actor=actor)
        session.commit()
        return specialist

    return take


@pytest.fixture
def drafted(session, take_up):
    """A case taken up by a specialist with its report prepared; returns (case, specialist)."""

    def draft(case: Case, *, note: str = "Apparent grooming of a minor.") -> tuple[Case, User]:
        specialist = take_up(case)
        prepare_draft(session, case=case, actor=Actor.staff(specialist), note=note)
        session.commit()
        return case, specialist

    return draft


def reports(session, case: Case) -> list[NcmecReport]:
    fresh(session)
    return list(
        session.exec(
            select(NcmecReport).where(NcmecReport.case_id == case.id).order_by(NcmecReport.id)
        )
    )


def submission_jobs(session, case: Case) -> list[Outbox]:
    fresh(session)
    return list(
        session.exec(
            select(Outbox)
            .where(Outbox.case_id == case.id, Outbox.job == "submit_ncmec_report")
            .order_by(Outbox.id)
        )
    )


def restart_worker(session, *, lost: bool = False) -> None:
    """Run every due job again, as a restarted worker's relay does. `lost`: the run in flight
    died without a word, so the relay counts it as a lost attempt when its acknowledgement is
    overdue (what happens to a killed RQ work-horse)."""
    fresh(session)
    now = utcnow()
    for outbox in session.exec(select(Outbox).where(Outbox.status == OutboxStatus.pending)):
        outbox.available_at = now  # due now, whatever backoff a failed attempt set
        if lost:
            outbox.status = OutboxStatus.dispatched
            outbox.dispatched_at = now - timedelta(hours=1)
        session.add(outbox)
    session.commit()
    relay_outbox(session)
    session.commit()
