"""DSA tests: restriction decisions made as production makes them (intake, the standard
workflow, the decision service), with personal data seeded where a careless export would leak
it, and a fake Transparency Database served in a thread."""

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from cases.core.sqltypes import utcnow
from cases.decisions.service import fire_transition
from cases.enums import ReportSource
from cases.intake.moderation import parse_moderation
from cases.intake.service import IntakeItem, SubjectRef, receive
from cases.lifecycle.actors import Actor
from cases.models import Case, Decision, Subject, User
from cases.review.claims import claim_case, release_case
from tests.casework import moderation
from tests.dsa.fake_transparency_db import FakeTransparencyDb, serve
from tests.factories import put_case

SUBJECT_NAME = "Jane Offender"
SUBJECT_EMAIL = "jane.offender@example.net"
REPORTER_NAME = "Ada Reporter"
REPORTER_EMAIL = "ada.reporter@example.org"
HANDLE, ADDRESS = "@janeoff", "203.0.113.7"
OCCURRED = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
SYSTEM = Actor.system("test")
_subjects = itertools.count(1)


def leaky_facts(subject_id: str, *, reporter: bool = True) -> str:
    """Facts as a careless reviewer writes them: every personal value the case knows of (the
    reporter's, when a person reported it), which the export must keep out."""
    who = f"{REPORTER_NAME} ({REPORTER_EMAIL}) reported that " if reporter else "We found that "
    return (
        f"{who}{SUBJECT_NAME}, account {subject_id}, mailed {SUBJECT_EMAIL.upper()} threats; "
        f"see https://{subject_id}:pw@social.example/x and {HANDLE}, from {ADDRESS}."
    )


def reported(
    source: ReportSource = ReportSource.user_report,
    clause: str = "protect.threats",
    *,
    subject: str | None = None,
    content_type: str | None = None,
    synthetic: bool = False,
) -> IntakeItem:
    """An intake item of `source` about `subject` (a fresh one by default), as each channel
    delivers it: a user's notice names its reporter; a detection describes its content."""
    subject = subject or f"acct-{next(_subjects):04d}-7f3a"
    person = SubjectRef("account", subject, display=SUBJECT_NAME, contact_email=SUBJECT_EMAIL)
    if source == ReportSource.classifier:
        content = {"type": content_type or "conversation", "ref": "conv-1"}
        if synthetic:
            content["synthetic"] = True
        body = {"subject": {"type": "account", "id": subject}, "content": content}
        body["moderation"] = moderation("harassment")
        return IntakeItem(
            source=source,
            subject=person,
            raw_payload=json.dumps(body),
            moderation=parse_moderation(body["moderation"]),
            source_name="moderation-pipeline",
            occurred_at=OCCURRED,
        )
    notice = source == ReportSource.user_report
    return IntakeItem(
        source=source,
        subject=person,
        raw_payload=json.dumps({"category": clause, "explanation": "See the thread."}),
        clause_id=clause,
        location="https://social.example/posts/991",
        explanation=f"Reported by {REPORTER_NAME}.",
        reporter_name=REPORTER_NAME if notice else None,
        reporter_email=REPORTER_EMAIL if notice else None,
        good_faith=notice,
        source_name="OpenAI" if source == ReportSource.provider_notice else None,
        occurred_at=None if source == ReportSource.internal else OCCURRED,
    )


def decision_fields(
    subject_id: str,
    *,
    reporter: bool = True,
    clause: str = "protect.threats",
    restriction: str = "temporary_suspension",
    duration: int | None = None,
    scope: list[str] | None = None,
    legal: str | None = None,
    facts: str | None = None,
    automated_detection: bool = False,
    automated_decision: bool = False,
) -> dict:
    statement = {
        "facts": leaky_facts(subject_id, reporter=reporter) if facts is None else facts,
        "automated_detection": automated_detection,
        "automated_decision": automated_decision,
        "ground": f"The content breaches {clause}; {SUBJECT_NAME} was warned before.",
        "redress": "Appeal within six months through your private link.",
    }
    if legal:
        statement |= {"ground_kind": "legal", "legal_ground": legal}
    return {
        "policy_clause": clause,
        "restriction": restriction,
        "duration_days": 7
        if duration is None and restriction == "temporary_suspension"
        else duration,
        "territorial_scope": scope or ["worldwide"],
        "statement_of_reasons": statement,
    }


def decision_of(session, case: Case) -> Decision:
    return session.exec(
        select(Decision).where(Decision.case_id == case.id).order_by(col(Decision.id).desc())
    ).first()


@pytest.fixture
def decide(session, staff, walk):
    """Open a case from `item` and decide it as a reviewer would (see `decision_fields`)."""

    def make(item: IntakeItem | None = None, **changes) -> Decision:
        item = item or reported()
        case = receive(session, item=item, actor=SYSTEM).case
        session.commit()
        walk(case, "enforcement")
        reporter = item.reporter_name is not None
        fields = decision_fields(item.subject.external_id, reporter=reporter, **changes)
        worker = Actor.staff(staff("admin", "worker"))
        fire_transition(session, case=case, transition="decide", actor=worker, fields=fields)
        session.commit()
        return decision_of(session, case)

    return make


@pytest.fixture
def lessened(session, staff, walk):
    """A suspension appealed by its user and lessened to a warning by a lead: the warning."""

    def make() -> Decision:
        item = reported()
        case = receive(session, item=item, actor=SYSTEM).case
        session.commit()
        walk(case, "appeal_review")
        lead = Actor.staff(staff("lead", "reviewer"))
        if case.assignee_id is not None:
            release_case(session, case=case, actor=Actor.staff(staff("admin", "worker")))
        claim_case(session, case=case, actor=lead)
        fields = decision_fields(item.subject.external_id, restriction="warn", duration=None)
        del fields["policy_clause"], fields["territorial_scope"]
        fields["appeal_outcome"] = "A warning suffices for a first offence."
        fire_transition(
            session, case=case, transition="partially_reverse", actor=lead, fields=fields
        )
        session.commit()
        return decision_of(session, case)

    return make


@pytest.fixture
def dismissed(session, staff, walk):
    """A decision not to act on a user's notice (a `no_action` decision)."""

    def make() -> Decision:
        case = receive(session, item=reported(), actor=SYSTEM).case
        session.commit()
        walk(case, "triage")
        worker = Actor.staff(staff("admin", "worker"))
        claim_case(session, case=case, actor=worker)
        fire_transition(
            session,
            case=case,
            transition="dismiss",
            actor=worker,
            fields={"note": f"Nothing wrong; {REPORTER_NAME} misread it."},
        )
        session.commit()
        return decision_of(session, case)

    return make


# One clause per DSA statement category the shipped taxonomy uses (standard workflow).
CATEGORY_CLAUSES = {
    "STATEMENT_CATEGORY_CYBER_VIOLENCE": "protect.threats",
    "STATEMENT_CATEGORY_SELF_HARM": "protect.self_harm",
    "STATEMENT_CATEGORY_VIOLENCE": "protect.violence",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY": "protect.weapons",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS": "protect.illicit",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS": "protect.intellectual_property",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC": "protect.licensed_advice",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS": "privacy.private_information",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS": "minors.unhealthy_dieting",
}
RESTRICTION_DURATIONS = {
    "warn": None,
    "content_removal": None,
    "feature_restriction": 30,
    "temporary_suspension": 14,
    "termination": None,
    "api_key_revocation": None,
}


@pytest.fixture
def dataset(session, decide, lessened, dismissed, add_image):
    """A realistic period: every restriction, both grounds, every source, worldwide and EEA
    scopes, durations, a clause of each DSA category in use, synthetic and image content, an
    appeal that lessened a restriction, a dismissal and an erased case; the decisions by name."""
    made = {}
    for source in ReportSource:
        made[f"source:{source}"] = decide(
            reported(source), automated_detection=source == ReportSource.classifier
        )
    for restriction, duration in RESTRICTION_DURATIONS.items():
        made[f"restriction:{restriction}"] = decide(restriction=restriction, duration=duration)
    made["indefinite"] = decide(restriction="feature_restriction", duration=None)
    made["legal"] = decide(legal="§ 241 StGB (threats), Germany", scope=["DE", "AT"])
    made["eea_subset"] = decide(scope=["FR", "NL", "IE"])
    made["automated"] = decide(automated_detection=True, automated_decision=True)
    for category, clause in CATEGORY_CLAUSES.items():
        made[f"category:{category}"] = decide(clause=clause, restriction="content_removal")
    made["synthetic"] = decide(
        reported(ReportSource.classifier, content_type="generated_image", synthetic=True),
        restriction="content_removal",
    )
    made["image"] = decide(restriction="content_removal")
    add_image(session.get(Case, made["image"].case_id), b"\x89PNG\r\n\x1a\n an image")
    made["lessened"] = lessened()
    made["dismissal"] = dismissed()
    made["erased"] = decide(restriction="termination")
    # Erasure emptied the facts recorded on the decision along with the case's personal data.
    made["erased"].facts = ""
    session.get(Case, made["erased"].case_id).erased_at = utcnow()
    session.commit()
    return made


def personal_values(session) -> list[str]:
    """Every value that identifies a person in the database: the export must hold none."""
    subjects = session.exec(select(Subject)).all()
    staff = session.exec(select(User)).all()
    return sorted(
        {s.external_id for s in subjects}
        | {SUBJECT_NAME, SUBJECT_EMAIL, REPORTER_NAME, REPORTER_EMAIL, HANDLE, ADDRESS}
        | {u.email for u in staff}
        | {u.name for u in staff if u.name}
    )


def bulk_decisions(session, count: int, *, decided_at: datetime | None = None) -> list[Decision]:
    """`count` content removals on as many cases, written directly (fast, for volume)."""
    decided_at = decided_at or utcnow() - timedelta(hours=1)
    decisions = []
    for number in range(count):
        case = put_case(session, state="enforced", source=ReportSource.user_report)
        decision = Decision(
            case_id=case.id,
            policy_clause="protect.threats",
            restriction="content_removal",
            territorial_scope=["worldwide"],
            facts=f"Threatening message number {number}.",
            ground="Threats are prohibited by the usage policy.",
            redress="Appeal within six months.",
            decided_at=decided_at,
        )
        session.add(decision)
        decisions.append(decision)
    session.commit()
    return decisions


@pytest.fixture
def fake() -> FakeTransparencyDb:
    return FakeTransparencyDb()


@pytest.fixture
def transparency_url(fake):
    with serve(fake) as url:
        yield url
