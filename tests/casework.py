"""Fixtures for the case page, decisions and the enforcement webhook: cases opened through intake
as production opens them, staff of each role, and helpers that walk a case through its workflow."""

import io
import json
import re

import pytest

from cases.appeals.service import file_appeal
from cases.decisions.service import fire_transition
from cases.enums import AppealChannel, AppellantKind, EventType, ReportSource
from cases.evidence.blobs import blob_store
from cases.intake.moderation import parse_moderation
from cases.intake.service import IntakeItem, SubjectRef, receive
from cases.lifecycle.actors import Actor
from cases.models import Case, User
from cases.review.claims import claim_case, reassign_case, release_case
from cases.trail.blobs import store_blob
from cases.trail.store import append_event
from tests.factories import make_user
from tests.helpers import login

SYSTEM = Actor.system("test")

DECISION_FIELDS = {
    "policy_clause": "protect.threats",
    "restriction": "temporary_suspension",
    "duration_days": 7,
    "territorial_scope": ["worldwide"],
    "statement_of_reasons": {
        "facts": "Repeated threats against another user on 3 May.",
        "automated_detection": True,
        "automated_decision": False,
        "ground": "Clause protect.threats forbids threats and intimidation.",
        "redress": "Appeal within six months through your private link.",
    },
}


def moderation(category: str = "harassment", score: float = 0.93) -> dict:
    return {
        "id": "modr-1",
        "model": "omni-moderation-latest",
        "results": [
            {
                "flagged": True,
                "categories": {category: True, "violence": False},
                "category_scores": {category: score, "violence": 0.12},
            }
        ],
    }


def detection(
    category: str = "harassment", *, score: float = 0.93, subject: str = "acct-1"
) -> IntakeItem:
    body = moderation(category, score)
    return IntakeItem(
        source=ReportSource.classifier,
        subject=SubjectRef("account", subject),
        raw_payload=json.dumps(body),
        moderation=parse_moderation(body),
        source_name="moderation-pipeline",
    )


@pytest.fixture
def open_case(session):
    """Open a case through intake (a classifier detection by default) and commit it."""

    def opener(category: str = "harassment", *, subject: str = "acct-1", item=None) -> Case:
        outcome = receive(session, item=item or detection(category, subject=subject), actor=SYSTEM)
        session.commit()
        return outcome.case

    return opener


@pytest.fixture
def staff(session):
    """Staff users per role (and name), created on demand and committed."""
    made: dict[tuple[str, str], User] = {}

    def user(role: str, name: str = "") -> User:
        if (role, name) not in made:
            made[(role, name)] = make_user(session, role=role)
            session.commit()
        return made[(role, name)]

    return user


@pytest.fixture
def signed_in(client, staff):
    """Sign `client` in as a fresh user of `role`; returns the user."""

    def sign_in(role: str, name: str = "") -> User:
        user = staff(role, name)
        response = login(client, user.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return sign_in


APPEAL = {
    "appeal_outcome": "The threats are clear; the suspension stands.",
    "statement_of_reasons": DECISION_FIELDS["statement_of_reasons"],
}
# How staff move a standard case: the transitions to each state, in order, and what they need.
PATHS = {
    "new": [],
    "triage": ["start_triage"],
    "escalated": ["start_triage", "escalate"],
    "enforcement": ["start_triage", "send_to_enforcement"],
    "enforced": ["start_triage", "send_to_enforcement", "decide"],
    "appeal_review": [
        "start_triage", "send_to_enforcement", "decide", "file_appeal", "start_appeal_review"
    ],
    "upheld": [
        "start_triage", "send_to_enforcement", "decide", "file_appeal", "start_appeal_review",
        "uphold",
    ],
}  # fmt: skip
STEP_FIELDS = {
    "escalate": {"note": "Needs a lead's eye."},
    "send_to_enforcement": {"policy_clause": "protect.threats"},
    "decide": DECISION_FIELDS,
    "uphold": APPEAL,
}
CLAIM_GUARDED = {"send_to_enforcement", "decide", "uphold"}


@pytest.fixture
def walk(session, staff):
    """Move a standard case to `state` as staff would: an admin works and decides it, the portal
    files the appeal, and a lead who did not decide reviews it."""

    def to(case: Case, state: str) -> Case:
        worker = Actor.staff(staff("admin", "worker"))
        reviewer = Actor.staff(staff("lead", "reviewer"))
        for name in PATHS[state]:
            if name == "file_appeal":
                file_appeal(
                    session,
                    case=case,
                    appellant=AppellantKind.affected_user,
                    grounds="I was joking; nobody was threatened.",
                    channel=AppealChannel.portal,
                    actor=Actor.system("portal"),
                )
                continue
            actor = {"start_appeal_review": reviewer, "uphold": reviewer}.get(name, worker)
            if name in CLAIM_GUARDED and case.assignee_id != actor.user_id:
                if case.assignee_id is not None:
                    release_case(session, case=case, actor=worker)
                claim_case(session, case=case, actor=actor)
            fire_transition(
                session, case=case, transition=name, actor=actor, fields=STEP_FIELDS.get(name, {})
            )
        session.commit()
        assert case.state == state
        return case

    return to


@pytest.fixture
def hand_over(session, staff):
    """Give `case`'s claim to `user`, as a lead reassigning it would."""

    def give(case: Case, user: User) -> Case:
        reassign_case(session, case=case, assignee=user, actor=Actor.staff(staff("admin", "lead")))
        session.commit()
        return case

    return give


@pytest.fixture
def add_evidence(session):
    """Store `data` as evidence of `case` (as the public report form does) and commit."""

    def add(
        case: Case,
        data: bytes,
        *,
        filename: str = "screenshot.txt",
        media_type: str = "text/plain",
        restricted=None,
    ):
        restricted = case.restricted if restricted is None else restricted
        blob = store_blob(
            session,
            store=blob_store(),
            stream=io.BytesIO(data),
            media_type=media_type,
            restricted=restricted,
            max_size=1 << 20,
        )
        append_event(
            session,
            case=case,
            type=EventType.evidence_added,
            actor="system:test",
            payload={"filename": filename, "media_type": media_type, "size": len(data)},
            blobs=[blob.sha256],
        )
        session.commit()
        return blob

    return add


FORM_TOKEN = re.compile(r'name="(?:[a-z_]+-)?csrf_token"[^>]*value="([^"]+)"')


def page_token(client, case: Case) -> str:
    """A CSRF token from the case page's own forms."""
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    match = FORM_TOKEN.search(page)
    assert match, "no CSRF token on the case page"
    return match.group(1)


def offered_transitions(html: str) -> list[str]:
    return re.findall(r'<input type="hidden" name="transition" value="([a-z_]+)">', html)


@pytest.fixture
def add_image(add_evidence):
    """Store a picture as evidence of `case` (see tests.casework.add_evidence) and commit."""

    def add(case: Case, data: bytes, *, filename: str = "photo.png", restricted=None):
        return add_evidence(
            case, data, filename=filename, media_type="image/png", restricted=restricted
        )

    return add
