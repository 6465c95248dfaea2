"""Factories for realistic test data. Each takes a session and commits nothing."""

import itertools
from datetime import datetime, timedelta

from sqlmodel import Session

from cases.accounts.service import create_api_key, create_user
from cases.enums import ApiScope, ReportSource, Role
from cases.lifecycle.deployed import definitions, register_definition
from cases.models import ApiKey, Case, Report, Subject, User
from workflows import get_state

# The smallest valid workflow: one working state, one transition to a terminal state.
MINI_WORKFLOW = """\
name = "mini"
version = 1
label = "Mini"
kind = "standard"
restricted = false
initial = "open"

[states.open]
label = "Open"
stage = "triage"
queue = "triage"
sla = { p1 = 1, p2 = 2, p3 = 3, p4 = 4 }

[states.done]
label = "Done"
stage = "resolved"
terminal = true

[[transitions]]
name = "finish"
label = "Finish"
from = ["open"]
to = "done"
roles = ["reviewer"]
requires = ["note"]
"""

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def make_user(session: Session, *, role: str = Role.reviewer, email: str | None = None) -> User:
    email = email or f"{role.replace('_', '-')}{next(_counter)}@example.org"
    return create_user(session, email=email, password=PASSWORD, role=role, name=f"Test {role}")


def make_api_key(session: Session, *, scopes: list[str] | None = None) -> tuple[ApiKey, str]:
    return create_api_key(
        session,
        name=f"integration-{next(_counter)}",
        scopes=scopes if scopes is not None else [s.value for s in ApiScope],
    )


def make_case(
    session: Session,
    *,
    workflow: str = "standard",
    state: str = "new",
    stage: str = "intake",
    restricted: bool = False,
    subject_id: str | None = None,
) -> Case:
    """A case row as intake would open it (for tests of lower layers; intake has its own),
    running on the deployment's current definition of `workflow`."""
    number = next(_counter)
    subject = Subject(kind="account", external_id=subject_id or f"user-{number}")
    session.add(subject)
    session.flush()
    definition = definitions().current(workflow)
    register_definition(session, definition)
    case = Case(
        reference=f"DK-2026-{number:06d}",
        subject_id=subject.id,
        workflow_name=workflow,
        workflow_version=definition.version,
        workflow_digest=definition.digest,
        state=state,
        stage=stage,
        restricted=restricted,
    )
    session.add(case)
    session.flush()
    return case


NOW = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
LONG_AGO, FAR = NOW - timedelta(days=3650), timedelta(days=7300)
_numbers = itertools.count(1)


def put_case(
    session: Session,
    *,
    workflow: str = "standard",
    state: str = "new",
    priority: int = 300,
    band: str = "p2",
    clause: str = "protect.threats",
    opened_at: datetime | None = None,
    sla_due_at: datetime | None = None,
    sla_paused_at: datetime | None = None,
    sla_breached: bool = False,
    assignee: User | None = None,
    claim_expires_at: datetime | None = None,
    source: ReportSource = ReportSource.user_report,
    subject: str | None = None,
    explanation: str = "",
    location: str = "",
) -> Case:
    """A case in `state` of the current `workflow`, with one report from `source`."""
    number = next(_numbers)
    definition = definitions().current(workflow)
    register_definition(session, definition)
    target = get_state(definition, state)
    person = Subject(kind="account", external_id=subject or f"acct-{number}")
    session.add(person)
    session.flush()
    opened_at = opened_at or NOW - timedelta(hours=number)
    case = Case(
        reference=f"DK-2026-{number:06d}",
        subject_id=person.id,
        workflow_name=definition.name,
        workflow_version=definition.version,
        workflow_digest=definition.digest,
        state=target.name,
        stage=target.stage,
        queue=target.queue,
        policy_clause=clause,
        priority=priority,
        priority_band=band,
        restricted=definition.restricted,
        assignee_id=assignee.id if assignee else None,
        # A live claim unless told otherwise, whatever clock the test runs on.
        claim_expires_at=claim_expires_at or (LONG_AGO + FAR if assignee is not None else None),
        sla_due_at=sla_due_at,
        sla_paused_at=sla_paused_at,
        sla_breached=sla_breached,
        opened_at=opened_at,
        updated_at=opened_at,
        report_count=1,
        reporter_count=1,
    )
    session.add(case)
    session.flush()
    session.add(
        Report(
            case_id=case.id,
            source=source,
            policy_clause=clause,
            explanation=explanation or None,
            location=location or None,
            raw_payload="{}",
            payload_sha256="0" * 64,
            reporter_key=f"report:{number}",
            received_at=opened_at,
        )
    )
    session.flush()
    return case
