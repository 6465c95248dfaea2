"""Fixtures of the private pages: reports from the public opening cases, cases walked to a
decision or a dismissal through the real services, and private links to them. Mail goes to a
real local SMTP server."""

from urllib.parse import urlsplit

import pytest

from cases.decisions.service import decide_case, fire_transition
from cases.enums import AppellantKind
from cases.intake.public_reports import PublicReport, submit_public_report
from cases.lifecycle.actors import Actor
from cases.models import Case, Report
from cases.portal.links import issue_link, link_url
from cases.review.claims import claim_case
from tests.casework import DECISION_FIELDS


@pytest.fixture
def config_overrides(mail_config) -> dict:
    return mail_config


def notice(**changes) -> PublicReport:
    fields = {
        "category": "protect.threats",
        "explanation": "Threats in direct messages.",
        "account_id": "acct-9001",
        "reporter_name": "Reporter Person",
        "reporter_email": "reporter@example.org",
        "good_faith": True,
    }
    return PublicReport(**{**fields, **changes})


@pytest.fixture
def reported(session):
    """A report from the public opening a standard case: (report, case), committed."""

    def report(**changes) -> tuple[Report, Case]:
        outcome = submit_public_report(session, report=notice(**changes))
        session.commit()
        return outcome.report, outcome.case

    return report


@pytest.fixture
def link_to(session):
    """The path of a fresh private link to `case`: the reporter's of `report`, else the
    affected user's."""

    def path(case: Case, report: Report | None = None) -> str:
        holder = AppellantKind.reporter if report is not None else AppellantKind.affected_user
        link = issue_link(session, case=case, holder=holder, report=report)
        session.commit()
        return urlsplit(link_url(link)).path

    return path


@pytest.fixture
def worker(staff):
    """The admin who works and decides the cases (never the one who hears their appeals)."""
    return Actor.staff(staff("admin", "worker"))


@pytest.fixture
def decided(session, walk, worker):
    """Decide a standard case in `new`, as staff would, with DECISION_FIELDS changed by
    `changes`; the case ends in `enforced` with its appeal window open."""

    def decide(case: Case, **changes) -> Case:
        walk(case, "enforcement")
        decide_case(
            session,
            case=case,
            transition="decide",
            actor=worker,
            fields={**DECISION_FIELDS, **changes},
        )
        session.commit()
        return case

    return decide


@pytest.fixture
def dismissed(session, walk, worker):
    """Dismiss a standard case in `new` after triage: a `no_action` decision a reporter may
    appeal."""

    def dismiss(case: Case) -> Case:
        walk(case, "triage")
        claim_case(session, case=case, actor=worker)
        fire_transition(
            session,
            case=case,
            transition="dismiss",
            actor=worker,
            fields={"note": "The messages quoted are banter between friends, not threats."},
        )
        session.commit()
        assert case.state == "dismissed"
        return case

    return dismiss
