"""The queue listing service: which queues exist and who sees them, counts, filters, sort orders
and keyset pagination."""

from datetime import timedelta

import pytest

from cases.enums import ReportSource, Role, SlaStatus
from cases.lifecycle.deployed import definitions
from cases.review.queues import (
    ME,
    UNASSIGNED,
    InvalidCursor,
    Position,
    QueueCounts,
    QueueFilters,
    SortOrder,
    all_queues,
    encode_cursor,
    get_queue,
    list_queue,
    queue_counts,
    queues_for,
)
from tests.factories import NOW, put_case
from workflows import KNOWN_GUARDS, KNOWN_JOBS, SHIPPED_DIR, load_workflows

SHIPPED_QUEUES = [
    "triage",
    "enforcement",
    "appeals",
    "escalations",
    "provider_inquiries",
    "child_safety",
]


def refs(page) -> list[str]:
    return [entry.case.reference for entry in page.entries]


def walk(session, queue, viewer, *, sort=SortOrder.priority, filters=QueueFilters(), limit=3):
    """Every page of a queue, following cursors; returns the references in order."""
    seen, cursor = [], None
    while True:
        page = list_queue(
            session,
            queue=queue,
            viewer=viewer,
            filters=filters,
            sort=sort,
            cursor=cursor,
            limit=limit,
            now=NOW,
        )
        seen += refs(page)
        assert len(page.entries) <= limit
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def test_one_queue_per_queue_name_of_the_workflows_restricted_last(app, session):
    queues = all_queues()
    assert [q.name for q in queues] == SHIPPED_QUEUES
    assert [q.name for q in queues if q.restricted] == ["child_safety"]
    named = {
        state.queue
        for workflow in definitions().workflows.values()
        for state in workflow.states.values()
        if state.queue
    }
    assert named == set(SHIPPED_QUEUES)


@pytest.mark.parametrize(
    "role, sees_child_safety",
    [
        (Role.reviewer, False),
        (Role.lead, False),
        (Role.child_safety, True),
        (Role.admin, True),
        (Role.auditor, True),
    ],
)
def test_the_child_safety_queue_is_named_only_to_roles_cleared_for_it(
    session, staff, role, sees_child_safety
):
    viewer = staff(role)
    assert ("child_safety" in [q.name for q in queues_for(viewer)]) is sees_child_safety
    if not sees_child_safety:
        with pytest.raises(LookupError):
            get_queue("child_safety", viewer=viewer)
    with pytest.raises(LookupError):
        get_queue("no_such_queue", viewer=viewer)


def _states():
    """(workflow, state, queue) for every state of the shipped workflows."""
    shipped = load_workflows([SHIPPED_DIR], known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS)
    for workflow in shipped.values():
        for state in workflow.states.values():
            yield workflow.name, state.name, state.queue


@pytest.mark.parametrize("workflow, state, queue", list(_states()))
def test_a_case_is_listed_in_the_queue_of_its_state_and_no_other(
    session, staff, workflow, state, queue
):
    admin = staff(Role.admin)
    case = put_case(session, workflow=workflow, state=state)
    session.commit()
    for candidate in all_queues():
        listed = refs(list_queue(session, queue=candidate, viewer=admin, now=NOW))
        assert (case.reference in listed) is (candidate.name == queue)


def test_restricted_cases_are_never_listed_for_those_not_cleared(session, staff):
    put_case(session, workflow="child_safety", state="new")
    session.commit()
    child_safety = get_queue("child_safety", viewer=staff(Role.child_safety))
    assert len(list_queue(session, queue=child_safety, viewer=staff(Role.child_safety)).entries)
    # Even handed the queue object, a reviewer's query returns nothing.
    assert list_queue(session, queue=child_safety, viewer=staff(Role.reviewer)).entries == []


def test_counts_per_queue_total_unclaimed_and_breached(session, staff):
    reviewer = staff(Role.reviewer)
    put_case(session, state="new")
    put_case(session, state="triage", assignee=reviewer)
    put_case(session, state="triage", assignee=reviewer, claim_expires_at=NOW - timedelta(1))
    put_case(session, state="triage", sla_due_at=NOW - timedelta(minutes=1))
    put_case(session, state="enforcement", sla_breached=True, sla_due_at=NOW + timedelta(1))
    put_case(session, state="appeal")
    put_case(session, state="closed")
    put_case(session, workflow="child_safety", state="assessment")
    session.commit()

    counts = queue_counts(session, viewer=reviewer, now=NOW)
    assert list(counts) == ["triage", "enforcement", "appeals", "escalations", "provider_inquiries"]
    assert counts["triage"] == QueueCounts(total=4, unclaimed=3, breached=1)
    assert (counts["enforcement"].total, counts["enforcement"].breached) == (1, 1)
    assert counts["appeals"].total == 1
    assert counts["escalations"].total == 0
    specialist = queue_counts(session, viewer=staff(Role.child_safety), now=NOW)
    assert specialist["child_safety"].total == 1


def test_counts_stop_at_their_caps(session, staff, monkeypatch):
    monkeypatch.setattr("cases.review.queues.COUNT_CAP", 3)
    monkeypatch.setattr("cases.review.queues.DETAIL_CAP", 1)
    for _ in range(5):
        put_case(session, sla_due_at=NOW - timedelta(hours=1))
    session.commit()
    counts = queue_counts(session, viewer=staff(Role.reviewer), now=NOW)
    assert counts["triage"] == QueueCounts(total=4, unclaimed=2, breached=2, cap=3, detail_cap=1)


def _filter_cases(session, staff):
    """Cases in triage that the filters tell apart; returns {name: case}."""
    reviewer, lead = staff(Role.reviewer), staff(Role.lead)
    return {
        "threats": put_case(session, clause="protect.threats", band="p1", priority=600),
        "self_harm": put_case(session, clause="protect.self_harm", band="p2", priority=400),
        "privacy": put_case(
            session,
            clause="privacy.private_information",
            source=ReportSource.classifier,
            band="p3",
        ),
        "notice": put_case(session, source=ReportSource.provider_notice, band="p4", priority=100),
        "breached": put_case(session, sla_due_at=NOW - timedelta(hours=1)),
        "flagged": put_case(session, sla_due_at=NOW + timedelta(days=1), sla_breached=True),
        "due_soon": put_case(session, sla_due_at=NOW + timedelta(hours=3)),
        "on_track": put_case(session, sla_due_at=NOW + timedelta(hours=5)),
        "paused": put_case(session, sla_paused_at=NOW - timedelta(hours=1)),
        "mine": put_case(session, assignee=reviewer),
        "leads": put_case(session, assignee=lead),
        "expired": put_case(session, assignee=lead, claim_expires_at=NOW - timedelta(seconds=1)),
    }


EVERYONE = frozenset(
    {"threats", "self_harm", "privacy", "notice", "breached", "flagged", "due_soon", "on_track"}
    | {"paused", "mine", "leads", "expired"}
)
WITH_SLA = {"breached", "flagged", "due_soon", "on_track", "paused"}
# (filters, the cases they keep); assignee "lead" stands for the lead's user id.
FILTER_TABLE = [
    (dict(category="protect"), EVERYONE - {"privacy"}),
    (dict(category="privacy"), {"privacy"}),
    (dict(category="minors"), set()),
    (dict(clause="protect.self_harm"), {"self_harm"}),
    (dict(source=ReportSource.classifier), {"privacy"}),
    (dict(source=ReportSource.provider_notice), {"notice"}),
    (dict(source=ReportSource.user_report), EVERYONE - {"privacy", "notice"}),
    (dict(band="p1"), {"threats"}),
    (dict(band="p4"), {"notice"}),
    (dict(sla=SlaStatus.breached), {"breached", "flagged"}),
    (dict(sla=SlaStatus.due_soon), {"due_soon"}),
    (dict(sla=SlaStatus.on_track), {"on_track"}),
    (dict(sla=SlaStatus.paused), {"paused"}),
    (dict(sla=SlaStatus.none), EVERYONE - WITH_SLA),
    (dict(assignee=ME), {"mine"}),
    (dict(assignee=UNASSIGNED), EVERYONE - {"mine", "leads"}),
    (dict(assignee="lead"), {"leads"}),
    (dict(clause="protect.self_harm", band="p1"), set()),
    (dict(category="protect", band="p1", assignee=UNASSIGNED), {"threats"}),
]


@pytest.mark.parametrize(
    "chosen, expected", FILTER_TABLE, ids=[str(chosen) for chosen, _ in FILTER_TABLE]
)
def test_each_filter_keeps_exactly_the_matching_cases(session, staff, chosen, expected):
    cases = _filter_cases(session, staff)
    session.commit()
    assert set(cases) == EVERYONE
    if chosen.get("assignee") == "lead":
        chosen = {**chosen, "assignee": staff(Role.lead).id}
    reviewer = staff(Role.reviewer)
    triage = get_queue("triage", viewer=reviewer)
    listed = walk(session, triage, reviewer, filters=QueueFilters(**chosen), limit=5)
    assert set(listed) == {cases[name].reference for name in expected}


def test_the_filter_table_covers_every_filter_and_sla_state():
    used = {name for chosen, _ in FILTER_TABLE for name in chosen}
    assert used == set(QueueFilters.__dataclass_fields__)
    assert {chosen["sla"] for chosen, _ in FILTER_TABLE if "sla" in chosen} == set(SlaStatus)


def test_priority_sort_is_highest_first_then_oldest_case_first(session, staff):
    low = put_case(session, priority=100)
    high_second = put_case(session, priority=500)
    high_first = put_case(session, priority=500)
    middle = put_case(session, priority=300)
    session.commit()
    triage = get_queue("triage", viewer=staff(Role.reviewer))
    page = list_queue(session, queue=triage, viewer=staff(Role.reviewer), now=NOW)
    # Equal scores keep the order cases arrived in (lower id first).
    assert refs(page) == [c.reference for c in (high_second, high_first, middle, low)]


def test_sla_sort_is_soonest_due_first_and_cases_without_a_due_time_last(session, staff):
    later = put_case(session, sla_due_at=NOW + timedelta(hours=9))
    none_a = put_case(session)
    overdue = put_case(session, sla_due_at=NOW - timedelta(hours=2))
    none_b = put_case(session)
    soon = put_case(session, sla_due_at=NOW + timedelta(hours=1))
    session.commit()
    triage = get_queue("triage", viewer=staff(Role.reviewer))
    page = list_queue(session, queue=triage, viewer=staff(Role.reviewer), sort=SortOrder.sla)
    assert refs(page) == [c.reference for c in (overdue, soon, later, none_a, none_b)]


def test_oldest_sort_is_by_opening_time(session, staff):
    newest = put_case(session, opened_at=NOW - timedelta(hours=1))
    oldest = put_case(session, opened_at=NOW - timedelta(days=3))
    middle = put_case(session, opened_at=NOW - timedelta(days=1))
    session.commit()
    triage = get_queue("triage", viewer=staff(Role.reviewer))
    page = list_queue(session, queue=triage, viewer=staff(Role.reviewer), sort=SortOrder.oldest)
    assert refs(page) == [c.reference for c in (oldest, middle, newest)]


def _tied_cases(session):
    """25 cases with many ties on every sort key, and a few without an SLA due time."""
    cases = []
    for number in range(25):
        cases.append(
            put_case(
                session,
                priority=[500, 300, 300, 300, 100][number % 5],
                opened_at=NOW - timedelta(hours=number % 4),
                sla_due_at=None if number % 6 == 0 else NOW + timedelta(hours=number % 3),
            )
        )
    return cases


SORT_KEYS = {
    SortOrder.priority: lambda c: (-c.priority, c.id),
    SortOrder.sla: lambda c: (c.sla_due_at is None, c.sla_due_at or NOW, c.id),
    SortOrder.oldest: lambda c: (c.opened_at, c.id),
}


@pytest.mark.parametrize("sort", list(SortOrder))
@pytest.mark.parametrize("limit", [1, 2, 4, 7, 25, 50])
def test_keyset_pages_walk_every_case_exactly_once_in_order(session, staff, sort, limit):
    cases = _tied_cases(session)
    put_case(session, state="enforcement")  # another queue: never listed
    session.commit()
    reviewer = staff(Role.reviewer)
    seen = walk(session, get_queue("triage", viewer=reviewer), reviewer, sort=sort, limit=limit)
    expected = [c.reference for c in sorted(cases, key=SORT_KEYS[sort])]
    assert seen == expected
    assert len(set(seen)) == 25


def test_a_page_starts_after_the_cursor_even_when_rows_change_in_between(session, staff):
    first = [put_case(session, priority=900 - n) for n in range(4)]
    session.commit()
    reviewer = staff(Role.reviewer)
    triage = get_queue("triage", viewer=reviewer)
    page = list_queue(session, queue=triage, viewer=reviewer, limit=2, now=NOW)
    assert refs(page) == [first[0].reference, first[1].reference]
    jumped = put_case(session, priority=1000)  # above the cursor: not on the next page
    session.commit()
    after = list_queue(session, queue=triage, viewer=reviewer, limit=2, cursor=page.next_cursor)
    assert refs(after) == [first[2].reference, first[3].reference]
    assert jumped.reference not in refs(after)


@pytest.mark.parametrize(
    "sort, cursor",
    [
        (SortOrder.priority, "not base64 at all!"),
        (SortOrder.priority, "bm90IGpzb24"),  # "not json"
        (SortOrder.priority, encode_cursor(SortOrder.sla, Position(None, 3))),
        (SortOrder.priority, encode_cursor(SortOrder.priority, Position(None, 3))),
        (SortOrder.priority, encode_cursor(SortOrder.priority, Position("high", 3))),
        (SortOrder.oldest, encode_cursor(SortOrder.oldest, Position("yesterday", 3))),
        (SortOrder.oldest, encode_cursor(SortOrder.oldest, Position("2026-01-01T00:00:00", 3))),
        (SortOrder.oldest, encode_cursor(SortOrder.oldest, Position(NOW, "3"))),
    ],
)
def test_a_damaged_or_foreign_cursor_is_refused(session, staff, sort, cursor):
    reviewer = staff(Role.reviewer)
    triage = get_queue("triage", viewer=reviewer)
    with pytest.raises(InvalidCursor):
        list_queue(session, queue=triage, viewer=reviewer, cursor=cursor, sort=sort)
