"""Claiming: claim next, expiry, release, reassignment by a lead; and 20 concurrent claimers."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from cases.core.security import PermissionDenied
from cases.enums import EventType, Role
from cases.lifecycle.actors import Actor
from cases.models import Case, User
from cases.review.claims import (
    CLAIM_TTL,
    ClaimConflict,
    claim_case,
    claim_next,
    reassign_case,
    release_case,
)
from cases.trail.models import CaseEvent
from tests.factories import NOW, make_user, put_case
from tests.helpers import events


def test_claim_next_takes_the_highest_priority_unclaimed_case(session, staff):
    reviewer, lead = staff(Role.reviewer), staff(Role.lead)
    put_case(session, priority=900, assignee=lead)  # held by someone else
    put_case(session, priority=800, state="enforcement")  # another queue
    tie_first = put_case(session, priority=700)
    put_case(session, priority=700)
    put_case(session, priority=100)
    session.commit()

    case = claim_next(session, queue="triage", actor=Actor.staff(reviewer), now=NOW)
    session.commit()

    assert case.id == tie_first.id
    assert case.assignee_id == reviewer.id
    assert case.claim_expires_at == NOW + CLAIM_TTL
    [claimed] = events(session, case, EventType.claimed)
    assert claimed.actor == f"user:{reviewer.id}"


def test_claim_next_skips_restricted_cases_for_reviewers_and_returns_none_when_empty(
    session, staff
):
    put_case(session, workflow="child_safety", state="new", priority=999)
    session.commit()
    reviewer = Actor.staff(staff(Role.reviewer))
    assert claim_next(session, queue="child_safety", actor=reviewer, now=NOW) is None
    assert claim_next(session, queue="triage", actor=reviewer, now=NOW) is None
    specialist = Actor.staff(staff(Role.child_safety))
    assert claim_next(session, queue="child_safety", actor=specialist, now=NOW) is not None


def test_an_expired_claim_returns_the_case_to_the_queue(session, staff):
    lead, reviewer = staff(Role.lead), staff(Role.reviewer)
    abandoned = put_case(
        session, priority=900, assignee=lead, claim_expires_at=NOW - timedelta(minutes=1)
    )
    put_case(session, priority=100)
    session.commit()
    with pytest.raises(ClaimConflict):
        claim_case(session, case=abandoned, actor=Actor.staff(reviewer), now=NOW - timedelta(2))
    case = claim_next(session, queue="triage", actor=Actor.staff(reviewer), now=NOW)
    assert case.id == abandoned.id and case.assignee_id == reviewer.id


def test_claiming_a_case_held_by_someone_else_is_refused(session, staff):
    held = put_case(session, assignee=staff(Role.lead))
    session.commit()
    with pytest.raises(ClaimConflict, match="already claimed"):
        claim_case(session, case=held, actor=Actor.staff(staff(Role.reviewer)), now=NOW)


def test_release_gives_the_case_back_and_records_it(session, staff):
    reviewer = staff(Role.reviewer)
    case = put_case(session, priority=500)
    session.commit()
    claim_case(session, case=case, actor=Actor.staff(reviewer), now=NOW)
    release_case(session, case=case, actor=Actor.staff(reviewer), now=NOW)
    session.commit()
    assert case.assignee_id is None and case.claim_expires_at is None
    assert len(events(session, case, EventType.released)) == 1
    assert claim_next(session, queue="triage", actor=Actor.staff(staff(Role.lead))).id == case.id


def test_releasing_an_unclaimed_case_is_refused(session, staff):
    case = put_case(session)
    session.commit()
    with pytest.raises(ClaimConflict, match="not claimed"):
        release_case(session, case=case, actor=Actor.staff(staff(Role.reviewer)), now=NOW)


# (role, action on a case another reviewer holds, allowed?)
CLAIM_TABLE = [
    (Role.reviewer, "release", False),
    (Role.reviewer, "reassign", False),
    (Role.lead, "release", True),
    (Role.lead, "reassign", True),
    (Role.admin, "release", True),
    (Role.admin, "reassign", True),
    (Role.child_safety, "release", False),
    (Role.child_safety, "reassign", False),
    (Role.auditor, "release", False),
    (Role.auditor, "reassign", False),
]


@pytest.mark.parametrize("role, action, allowed", CLAIM_TABLE)
def test_only_leads_and_admins_release_or_reassign_another_persons_claim(
    session, staff, role, action, allowed
):
    holder, other_reviewer = (make_user(session, role=Role.reviewer) for _ in range(2))
    case = put_case(session, assignee=holder)
    session.commit()
    actor = Actor.staff(staff(role))
    act = {
        "release": lambda: release_case(session, case=case, actor=actor, now=NOW),
        "reassign": lambda: reassign_case(
            session, case=case, assignee=other_reviewer, actor=actor, now=NOW
        ),
    }[action]
    if not allowed:
        with pytest.raises(PermissionDenied):
            act()
        assert case.assignee_id == holder.id
        return
    act()
    session.commit()
    expected = None if action == "release" else other_reviewer.id
    assert case.assignee_id == expected
    type_ = EventType.released if action == "release" else EventType.reassigned
    [event] = events(session, case, type_)
    assert event.actor == f"user:{staff(role).id}"


def test_a_case_is_reassigned_only_to_someone_who_may_work_it(session, staff):
    lead = Actor.staff(staff(Role.lead))
    case = put_case(session)
    session.commit()
    with pytest.raises(PermissionDenied):
        reassign_case(session, case=case, assignee=staff(Role.auditor), actor=lead, now=NOW)
    restricted = put_case(session, workflow="child_safety", state="assessment")
    session.commit()
    admin = Actor.staff(staff(Role.admin))
    with pytest.raises(PermissionDenied):
        reassign_case(session, case=restricted, assignee=staff(Role.reviewer), actor=admin)
    # A lead may not move a restricted case at all: it is not theirs to see.
    with pytest.raises(PermissionDenied):
        reassign_case(session, case=restricted, assignee=staff(Role.child_safety), actor=lead)
    reassign_case(session, case=restricted, assignee=staff(Role.child_safety), actor=admin)
    assert restricted.assignee_id == staff(Role.child_safety).id


CLAIMERS = 20


@pytest.mark.postgres_only
def test_twenty_concurrent_claimers_get_twenty_distinct_cases(app, session, staff):
    """Each thread commits claim_next in its own session; SKIP LOCKED lets them pass each other."""
    for number in range(CLAIMERS + 5):
        put_case(session, priority=500 + number % 3)
    claimers = [make_user(session, role=Role.reviewer) for _ in range(CLAIMERS)]
    session.commit()
    # A pool with a connection per claimer, so all twenty really are in flight together.
    url = app.extensions["docket.db"].url
    engine = sa.create_engine(url, isolation_level="READ COMMITTED", pool_size=CLAIMERS)
    barrier = threading.Barrier(CLAIMERS, timeout=30)
    claimed: dict[int, int] = {}
    errors: list[BaseException] = []

    def claim(user_id: int) -> None:
        try:
            with app.app_context(), Session(engine, expire_on_commit=False) as own:
                user = own.get(User, user_id)
                barrier.wait()
                case = claim_next(own, queue="triage", actor=Actor.staff(user))
                own.commit()
                claimed[user_id] = case.id
        except BaseException as exc:  # reported below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(u.id,)) for u in claimers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    engine.dispose()
    assert errors == []
    assert len(claimed) == CLAIMERS
    assert len(set(claimed.values())) == CLAIMERS, "a case was claimed twice"
    session.expire_all()
    held = dict(
        session.exec(
            select(Case.id, Case.assignee_id).where(col(Case.assignee_id).is_not(None))
        ).all()
    )
    assert held == {case_id: user_id for user_id, case_id in claimed.items()}
    per_case = dict(
        session.exec(
            select(CaseEvent.case_id, func.count())
            .where(CaseEvent.type == EventType.claimed)
            .group_by(CaseEvent.case_id)
        ).all()
    )
    assert per_case == {case_id: 1 for case_id in claimed.values()}
    # The highest-priority cases went first: nobody got a case while a better one was free.
    free = session.exec(select(func.max(Case.priority)).where(col(Case.assignee_id).is_(None)))
    assert free.one() <= min(session.get(Case, c).priority for c in claimed.values())
