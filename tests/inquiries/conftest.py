"""Provider inquiries and dossiers: an inquiry recorded as a lead would, and a world of cases to
count (a decided and appealed case reported three ways and held, a case of another clause, a
reported child-safety case, a case under a sub-clause)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from cases.child_safety.holds import place_hold
from cases.core.sqltypes import utcnow
from cases.enums import HoldKind, NcmecStatus, ReportSource
from cases.inquiries.service import record_inquiry
from cases.intake.service import IntakeItem, SubjectRef, receive
from cases.lifecycle.actors import Actor
from cases.models import Case, NcmecReport, ProviderInquiry
from tests.casework import SYSTEM


def today() -> datetime:
    now = utcnow()
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


# Wide enough around the test's own moment that midnight never splits it. Stored as the services
# take it, [start, end); forms and commands name its days, the last one included.
PERIOD_START, PERIOD_END = today() - timedelta(days=2), today() + timedelta(days=3)
LAST_DAY = PERIOD_END - timedelta(days=1)
SUB_CLAUSE = "empower.high_stakes_automation.employment"
PARENT_CLAUSE = "empower.high_stakes_automation"


def day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def inquiry_form(**changes) -> dict:
    """A complete, valid inquiry form (as a browser posts it); `changes` replace fields."""
    form = {
        "provider_reference": "OAI-TS-2026-0042",
        "received_at": (today() - timedelta(days=1)).strftime("%Y-%m-%dT09:30"),
        "deadline_at": (today() + timedelta(days=13)).strftime("%Y-%m-%dT17:00"),
        "period_start": day(PERIOD_START),
        "period_end": day(LAST_DAY),
        "clauses": ["protect.threats", PARENT_CLAUSE],
        "summary": "Please describe how you handled threats and automated decisions.",
    }
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


@pytest.fixture
def inquiry(session, staff):
    """Record an inquiry (the lead's, through the service) and commit it."""

    def record(*, clauses=("protect.threats",), deadline: datetime | None = None, **changes):
        received = utcnow() - timedelta(hours=2)
        found = record_inquiry(
            session,
            provider_reference=changes.pop("provider_reference", "OAI-TS-2026-0042"),
            received_at=received,
            deadline_at=deadline or received + timedelta(days=14),
            period_start=changes.pop("period_start", PERIOD_START),
            period_end=changes.pop("period_end", PERIOD_END),
            clauses=list(clauses),
            summary=changes.pop("summary", "How were threats handled?"),
            actor=Actor.staff(staff("lead", "inquiries")),
        )
        session.commit()
        return found

    return record


def item(source: ReportSource, clause: str, subject: str, **extra) -> IntakeItem:
    return IntakeItem(
        source=source,
        subject=SubjectRef("account", subject),
        raw_payload="{}",
        clause_id=clause,
        explanation="What I saw.",
        reporter_name="Ada Reporter" if source == ReportSource.user_report else None,
        reporter_email="ada@example.org" if source == ReportSource.user_report else None,
        good_faith=source == ReportSource.user_report,
        **extra,
    )


@dataclass
class World:
    threats: Case
    self_harm: Case
    child_safety: Case
    sub_clause: Case


@pytest.fixture
def world(session, open_case, walk, staff) -> World:
    threats = open_case("harassment", subject="acct-threats")
    for source in (ReportSource.user_report, ReportSource.provider_notice):
        receive(session, item=item(source, "protect.threats", "acct-threats"), actor=SYSTEM)
    session.commit()
    walk(threats, "upheld")
    place_hold(
        session,
        case=threats,
        kind=HoldKind.legal,
        reason="Litigation expected.",
        until=utcnow() + timedelta(days=400),
        actor=Actor.staff(staff("admin")),
    )
    self_harm = open_case("self-harm/intent", subject="acct-self-harm")
    child_safety = open_case("sexual/minors", subject="acct-cs")
    session.add(
        NcmecReport(
            case_id=child_safety.id,
            status=NcmecStatus.finished,
            ncmec_report_id="123456",
            finished_at=utcnow(),
        )
    )
    sub_clause = receive(
        session, item=item(ReportSource.user_report, SUB_CLAUSE, "acct-hr"), actor=SYSTEM
    ).case
    session.commit()
    return World(threats, self_harm, child_safety, sub_clause)


def inquiries(session) -> list[ProviderInquiry]:
    from sqlmodel import select

    session.rollback()
    return list(session.exec(select(ProviderInquiry).order_by(ProviderInquiry.id)))
