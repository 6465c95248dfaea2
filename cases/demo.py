"""Demo data for a new installation: one account per role (printed with its password) and a
realistic mix of cases, opened and moved through the same services production uses, so every
demo case has a verifiable trail. Demo users have email contacts, so their decision notices,
appeal confirmations and outcomes land in the embedded outbox (/admin/mail) with working private
links; four cases have been appealed to each outcome, and fresh decisions are open to appeal.
Behind them lie eleven weeks of history (every clause group, the high-stakes sub-clauses and
intellectual property, each source, restriction, ground and appeal outcome, SLA breaches) and a
provider inquiry, so the transparency figures and the dossier have something to show."""

import io
import json
import random
import struct
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta

import click
from flask import Flask
from sqlmodel import Session, select

from cases.accounts.service import create_user, get_user_by_email
from cases.appeals.service import file_appeal
from cases.core.db import session_scope
from cases.core.sqltypes import clock_at, utcnow
from cases.core.uploads import inspect_attachment
from cases.decisions.service import DecisionInvalid, fire_transition
from cases.enums import AppealChannel, AppellantKind, ReportSource, Role
from cases.inquiries.service import record_inquiry
from cases.intake.moderation import parse_moderation
from cases.intake.public_reports import PublicReport, submit_public_report
from cases.intake.service import IntakeItem, SubjectRef, receive
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import TransitionRefused, sweep
from cases.models import Subject, User
from cases.review.claims import claim_case

DEMO_PASSWORD = "docket-demo-password"
DEMO_SUBJECT_PREFIX = "demo-"

CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "illicit",
    "illicit/violent",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "violence",
    "violence/graphic",
)
NOTICES = (
    ("protect.threats", "Sent me repeated messages saying they know where I live."),
    ("privacy.private_information", "Posted my home address and phone number in a chatbot reply."),
    ("empower.deception", "The app impersonates a bank's support line to collect card numbers."),
    ("protect.illicit", "Their assistant gives step-by-step instructions to buy stolen data."),
    ("minors.grooming", "An adult user is asking a 13-year-old to move to a private chat."),
)
# The path each demo case takes after intake: (transition, fields), in order.
JOURNEYS = (
    (),
    (("start_triage", {}),),
    (("start_triage", {}), ("escalate", {"note": "Possible coordinated campaign."})),
    (("start_triage", {}), ("dismiss", {"note": "Satire; no violation of the policy."})),
    (("start_triage", {}), ("send_to_enforcement", {"policy_clause": None})),
    (
        ("start_triage", {}),
        ("request_information", {"question": "Could you send a screenshot of the message?"}),
    ),
    (
        ("start_triage", {}),
        ("send_to_enforcement", {"policy_clause": None}),
        (
            "decide",
            {
                "policy_clause": None,
                "restriction": "temporary_suspension",
                "duration_days": 7,
                "territorial_scope": ["worldwide"],
                "statement_of_reasons": {
                    "facts": "Several messages detected by the moderation pipeline and "
                    "confirmed on review breach the clause.",
                    "automated_detection": True,
                    "automated_decision": False,
                    "ground": "The usage policies prohibit this use; see the clause.",
                    "redress": "You can appeal within six months through the link in "
                    "this notice; a different reviewer will decide.",
                },
            },
        ),
    ),
)
DECIDED = JOURNEYS[-1]
REVIEW = {
    "appeal_outcome": "A second reviewer looked at the messages again with your explanation.",
    "statement_of_reasons": {
        "facts": "On appeal, the messages were read again with the account holder's context.",
        "automated_detection": True,
        "automated_decision": False,
        "ground": "The usage policies prohibit this use; see the clause.",
        "redress": "You may refer this to a certified out-of-court dispute settlement body or "
        "go to court.",
    },
    "note": "The appellant withdrew the appeal by email.",
    "restriction": "warn",
}
# The history: (clause, how it arrived, what became of it), one case each, spread over the
# eleven weeks before today. "moderation:<category>" arrives as a classifier detection.
HISTORY_WEEKS = 11
HISTORY = (
    ("protect.threats", "user_report", "content_removal"),
    ("moderation:harassment/threatening", "classifier", "temporary_suspension"),
    ("protect.intellectual_property", "user_report", "content_removal"),
    ("empower.high_stakes_automation.housing", "provider_notice", "feature_restriction"),
    ("privacy.private_information", "user_report", "content_removal"),
    ("moderation:illicit", "classifier", "termination"),
    ("empower.high_stakes_automation.employment", "user_report", "dismiss"),
    ("empower.deception", "provider_notice", "api_key_revocation"),
    ("moderation:hate", "classifier", "warn"),
    ("empower.high_stakes_automation.medical", "provider_notice", "open"),
    ("protect.intellectual_property", "provider_notice", "api_key_revocation"),
    ("moderation:self-harm/instructions", "classifier", "content_removal"),
    ("empower.high_stakes_automation.financial_activities", "user_report", "feature_restriction"),
    ("privacy.facial_recognition_databases", "provider_notice", "termination"),
    ("moderation:violence", "classifier", "dismiss"),
    ("empower.political", "user_report", "warn"),
    ("empower.high_stakes_automation.law_enforcement", "provider_notice", "temporary_suspension"),
    ("protect.illicit", "user_report", "open"),
)
# Which decisions of the history are appealed, and to which outcome (cycling).
HISTORY_APPEALS = ("uphold", "reverse", "partially_reverse", "omit_appeal")
# Laws named where a decision's ground is legal rather than the usage policy.
LEGAL_GROUNDS = {
    "privacy": "Regulation (EU) 2016/679 (GDPR), Art. 5 and 6",
    "protect.intellectual_property": "Directive (EU) 2019/790, Art. 17",
}
# Cases appealed by their affected user and heard by a lead, one per outcome.
APPEALS = (
    ("I was quoting song lyrics; I have asked them since.", "uphold"),
    ("It was a single message, a week is too long.", "partially_reverse"),
    ("My account was compromised that day; I have reset my password.", "reverse"),
    ("Sorry, I want to withdraw my appeal.", "omit_appeal"),
)


def seed_demo(session: Session) -> Iterator[str]:
    """Create what is missing and say what exists; never duplicates."""
    yield from _seed_users(session)
    yield from _seed_cases(session)


def _seed_users(session: Session) -> Iterator[str]:
    yield f"Demo staff accounts (password for each: {DEMO_PASSWORD}):"
    for role in Role:
        email = f"{role.value.replace('_', '-')}@docket.example"
        if get_user_by_email(session, email=email):
            yield f"  {email:32} {role.value:13} (already there)"
            continue
        create_user(
            session,
            email=email,
            password=DEMO_PASSWORD,
            role=role,
            name=f"Demo {role.value.replace('_', ' ')}",
        )
        yield f"  {email:32} {role.value:13} created"


def _detection(rng: random.Random, category: str, subject: SubjectRef) -> IntakeItem:
    """A moderation pipeline's detection of `category` about `subject`."""
    body = _moderation(rng, category)
    return IntakeItem(
        source=ReportSource.classifier,
        source_name="moderation-pipeline",
        subject=subject,
        moderation=parse_moderation(body),
        raw_payload=json.dumps(body),
        content_ref=f"msg_{rng.randrange(10**9)}",
    )


def _moderation(rng: random.Random, category: str) -> dict:
    scores = {c: round(rng.uniform(0.0005, 0.08), 6) for c in CATEGORIES}
    scores[category] = round(rng.uniform(0.55, 0.99), 6)
    return {
        "id": f"modr-demo-{rng.randrange(10**8)}",
        "model": "omni-moderation-latest",
        "results": [
            {
                "flagged": True,
                "categories": {c: c == category for c in CATEGORIES},
                "category_scores": scores,
            }
        ],
    }


def _seed_cases(session: Session) -> Iterator[str]:
    existing = session.exec(
        select(Subject).where(Subject.external_id.startswith(DEMO_SUBJECT_PREFIX))
    ).first()
    if existing is not None:
        yield "Demo cases: already there"
        return
    rng = random.Random(2026)
    reviewer = Actor.staff(_user(session, "reviewer@docket.example"))
    now = utcnow()
    opened = 0
    for number in range(36):
        subject = _demo_subject(number % 24)
        when = now - timedelta(hours=rng.randrange(1, 96))
        if number % 3 == 0:
            clause, text = NOTICES[number % len(NOTICES)]
            item = IntakeItem(
                source=ReportSource.user_report,
                subject=subject,
                clause_id=clause,
                location=f"https://app.example/c/{rng.randrange(10**6)}",
                explanation=text,
                reporter_name=None if clause.startswith("minors.") else f"Reporter {number}",
                reporter_email=None if clause.startswith("minors.") else f"r{number}@example.org",
                good_faith=True,
                raw_payload=json.dumps({"category": clause, "explanation": text}),
            )
        else:
            item = _detection(rng, CATEGORIES[number % len(CATEGORIES)], subject)
        outcome = receive(session, item=item, actor=Actor.system("demo"), now=when)
        opened += outcome.opened
        if outcome.opened and not outcome.case.restricted:
            _walk(session, outcome.case, JOURNEYS[number % len(JOURNEYS)], reviewer)
    yield f"Demo cases: {opened} opened from 36 reports and detections"
    hearer = Actor.staff(_user(session, "lead@docket.example"))
    for number, (grounds, outcome) in enumerate(APPEALS, start=24):
        item = _detection(rng, "harassment/threatening", _demo_subject(number))
        case = receive(session, item=item, actor=Actor.system("demo"), now=now).case
        _walk(session, case, DECIDED, reviewer)
        file_appeal(
            session,
            case=case,
            appellant=AppellantKind.affected_user,
            grounds=grounds,
            channel=AppealChannel.portal,
            actor=Actor.system("portal"),
        )
        _walk(session, case, (("start_appeal_review", {}), (outcome, REVIEW)), hearer)
    yield f"Demo appeals: {len(APPEALS)} heard, one per outcome"
    _seed_child_safety_image(session)
    yield "Demo child safety: a text-only grooming report and one with an image, for a specialist"
    yield from _seed_history(session, now=now)


def _seed_history(session: Session, *, now: datetime) -> Iterator[str]:
    """Eleven weeks of cases, each step recorded at the time it happened (see `clock_at`)."""
    rng = random.Random(11)
    reviewer = Actor.staff(_user(session, "reviewer@docket.example"))
    hearer = Actor.staff(_user(session, "lead@docket.example"))
    start = now - timedelta(weeks=HISTORY_WEEKS)
    rounds = HISTORY_WEEKS * 7 // len(HISTORY) * 2
    appealed = 0
    for number in range(rounds * len(HISTORY)):
        arrival, source, outcome = HISTORY[number % len(HISTORY)]
        at = start + timedelta(hours=number * 11 + rng.randrange(0, 6))
        subject = _demo_subject(100 + number % 60)
        with clock_at(at):
            case = receive(
                session,
                item=_history_item(rng, arrival, source, subject, number),
                actor=Actor.system("demo"),
            ).case
        if outcome == "open" or case.restricted:
            # Left untouched past its SLA: the sweep of that day records the breach.
            with clock_at(at + timedelta(days=4)):
                sweep(session)
            continue
        at += timedelta(hours=rng.randrange(1, 30))
        if outcome == "dismiss":
            _walk_at(session, case, at, JOURNEYS[3], reviewer)
            continue
        _walk_at(session, case, at, _history_decision(case.policy_clause, outcome, rng), reviewer)
        if number % 3 or at + timedelta(days=9) > now:
            continue
        heard = HISTORY_APPEALS[appealed % len(HISTORY_APPEALS)]
        appealed += 1
        at += timedelta(days=rng.randrange(1, 5))
        with clock_at(at):
            file_appeal(
                session,
                case=case,
                appellant=AppellantKind.affected_user,
                grounds="I think the decision was a mistake; here is the context.",
                channel=AppealChannel.portal,
                actor=Actor.system("portal"),
            )
        at += timedelta(hours=rng.randrange(2, 30))
        _walk_at(session, case, at, (("start_appeal_review", {}), (heard, REVIEW)), hearer)
    with clock_at(now - timedelta(days=3)):
        record_inquiry(
            session,
            provider_reference="PROV-INQ-2026-0117",
            received_at=now - timedelta(days=3),
            deadline_at=now + timedelta(days=11),
            period_start=start,
            period_end=now - timedelta(days=3),
            clauses=["empower.high_stakes_automation", "protect.intellectual_property"],
            summary="The provider asks how we detect and enforce high-stakes automation without "
            "human review and intellectual-property infringement by our users.",
            actor=hearer,
        )
    yield (
        f"Demo history: {rounds * len(HISTORY)} cases over {HISTORY_WEEKS} weeks, "
        f"{appealed} appealed; a provider inquiry on /inquiries"
    )


def _history_item(
    rng: random.Random, arrival: str, source: str, subject: SubjectRef, number: int
) -> IntakeItem:
    if arrival.startswith("moderation:"):
        return _detection(rng, arrival.removeprefix("moderation:"), subject)
    text = f"Notice {number} about {arrival}: see the conversation linked."
    notifier = source == ReportSource.user_report
    return IntakeItem(
        source=ReportSource(source),
        source_name=None if notifier else "provider-trust-and-safety",
        subject=subject,
        clause_id=arrival,
        location=f"https://app.example/c/{rng.randrange(10**6)}",
        explanation=text,
        reporter_name=f"Notifier {number}" if notifier else None,
        reporter_email=f"notifier{number}@example.org" if notifier else None,
        good_faith=True,
        raw_payload=json.dumps({"category": arrival, "explanation": text}),
    )


def _history_decision(clause: str, restriction: str, rng: random.Random) -> tuple:
    law = LEGAL_GROUNDS.get(clause) or LEGAL_GROUNDS.get(clause.split(".")[0])
    decision = {
        "policy_clause": None,
        "restriction": restriction,
        "territorial_scope": ["worldwide"] if rng.random() < 0.7 else ["DE", "FR", "NL"],
        "statement_of_reasons": {
            **DECIDED[-1][1]["statement_of_reasons"],
            "automated_detection": rng.random() < 0.6,
            "ground_kind": "legal" if law else "contractual",
            "legal_ground": law,
        },
    }
    if restriction in ("temporary_suspension", "feature_restriction"):
        decision["duration_days"] = rng.choice((7, 14, 30))
    return (*DECIDED[:-1], ("decide", decision))


def _walk_at(session: Session, case, at: datetime, journey, actor: Actor) -> None:
    """`_walk`, one step every few hours from `at`."""
    for step, move in enumerate(journey):
        with clock_at(at + timedelta(hours=3 * step)):
            _walk(session, case, (move,), actor)


def _placeholder_png() -> bytes:
    """A plain grey 64×64 PNG: the demo's stand-in for reported media (it depicts nothing)."""
    row = b"\x00" + b"\x80" * 64
    chunks = [
        (b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 0, 0, 0, 0)),
        (b"IDAT", zlib.compress(row * 64)),
        (b"IEND", b""),
    ]
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        for kind, data in chunks
    )


def _seed_child_safety_image(session: Session) -> None:
    # The text-only grooming reports come with the notices above; this one carries media.
    image = inspect_attachment(
        io.BytesIO(_placeholder_png()), filename="shared-image.png", max_bytes=1 << 20
    )
    submit_public_report(
        session,
        report=PublicReport(
            category="minors.csam",
            explanation="This account sent an image of a child in a group chat of the app.",
            url="https://app.example/c/880011",
            account_id=f"{DEMO_SUBJECT_PREFIX}user-040",
            good_faith=True,
        ),
        attachments=[image],
    )


def _demo_subject(number: int) -> SubjectRef:
    return SubjectRef(
        "account",
        f"{DEMO_SUBJECT_PREFIX}user-{number:03d}",
        f"demo user {number}",
        contact_email=f"demo-user-{number:03d}@users.example",
        contact_locale="en",
    )


def _walk(session: Session, case, journey, actor: Actor) -> None:
    for transition, fields in journey:
        claim_case(session, case=case, actor=actor)
        values = {k: (v if v is not None else case.policy_clause) for k, v in fields.items()}
        try:
            fire_transition(session, case=case, transition=transition, actor=actor, fields=values)
        except (TransitionRefused, DecisionInvalid):
            return


def _user(session: Session, email: str) -> User:
    return session.exec(select(User).where(User.email == email)).one()


@click.command("demo")
def demo_command() -> None:
    """Seed demo data (one user per role, realistic cases); safe to run twice."""
    with session_scope() as session:
        for line in seed_demo(session):
            click.echo(line)
        session.commit()


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_command)
