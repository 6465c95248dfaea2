"""The statement of reasons says every DSA Art. 17(3) element in plain words, the same in the text
mail, the HTML mail and the page partial; an appeal's outcome says the outcome, the reasons and
where to go next (Art. 20(5), 21); the confirmation of an appeal reaches the appellant."""

import html as markup
from datetime import timedelta

import pytest
from flask import render_template
from sqlmodel import select

from cases.core.sqltypes import utcnow
from cases.enums import AppealOutcome, AppellantKind, Restriction
from cases.jobs.outbox import enqueue_job
from cases.lifecycle.transitions import appeal_window_closes_at
from cases.models import Appeal, Case, Decision, Report
from cases.notices.wording import decision_notice, long_time
from tests.mailbox import link_in
from tests.notices.conftest import (
    AFFECTED,
    BODY,
    FACTS,
    GROUND,
    REDRESS,
    REPORTER,
    messages,
    sent_events,
)

LABEL = "Threats, intimidation, harassment or defamation"
DESCRIPTION = "Threatening, intimidating or harassing someone, or spreading false statements"


@pytest.fixture
def config_overrides(mail_config) -> dict:
    return {**mail_config, "NOTICE_DELIVERY": "email", "DISPUTE_SETTLEMENT_BODIES": [BODY]}


def renderings(session, inbox, case: Case) -> dict[str, str]:
    """The decision notice as the affected user's text mail, HTML mail and the page partial (the
    HTML unescaped, so that a test reads what a person reads)."""
    (message,) = [m for m in inbox.messages if m["To"] == AFFECTED]
    text = message.get_body(preferencelist=("plain",)).get_content()
    notice = decision_notice(session, case=case)
    partial = render_template("notices/_decision_notice.html", notice=notice)
    return {
        "text mail": text,
        "html mail": markup.unescape(message.get_body(preferencelist=("html",)).get_content()),
        "partial": markup.unescape(partial),
    }


def elements(session, case: Case, link: str | None) -> dict[str, list[str]]:
    decision = session.exec(select(Decision).where(Decision.case_id == case.id)).one()
    closes = appeal_window_closes_at(session, case=case, decision=decision)
    appeal = [f"free of charge until {long_time(closes)}"] + ([link] if link else [])
    return {
        "restriction": ["What we decided", "The account was suspended for a time."],
        "territorial scope": ["Where it applies", "In these countries only: Germany, France."],
        "duration and end date": [
            f"30 days, until {long_time(decision.decided_at + timedelta(days=30))}."
        ],
        "facts": ["Facts we relied on", FACTS],
        "automated detection": ["Automated means were used to detect it."],
        "automated decision": ["The decision was taken by a person, not by automated means."],
        "clause": [LABEL, DESCRIPTION],
        "ground": ["Ground for the decision", GROUND],
        "redress": [REDRESS],
        "appeal": appeal,
        "out-of-court dispute settlement": [
            "certified out-of-court dispute settlement body (Article 21",
            BODY["name"],
            BODY["url"],
        ],
        "courts": ["you can also take the matter to court"],
    }


ELEMENTS = [
    "restriction",
    "territorial scope",
    "duration and end date",
    "facts",
    "automated detection",
    "automated decision",
    "clause",
    "ground",
    "redress",
    "appeal",
    "out-of-court dispute settlement",
    "courts",
]


@pytest.mark.parametrize("rendering", ["text mail", "html mail", "partial"])
@pytest.mark.parametrize("element", ELEMENTS)
def test_every_element_of_the_statement_of_reasons_is_rendered(
    session, inbox, reported, decided, element, rendering
):
    case = decided(reported())
    rendered = renderings(session, inbox, case)
    # Messages carry the private link; the page the partial sits on is that link.
    link = link_in(rendered["text mail"]) if rendering != "partial" else None
    for words in elements(session, case, link)[element]:
        assert words in rendered[rendering], f"{element} missing from the {rendering}"


def test_the_partial_on_the_page_points_to_the_appeal_form(session, inbox, reported, decided):
    case = decided(reported())
    assert "with the appeal form on this page" in renderings(session, inbox, case)["partial"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"territorial_scope": ["worldwide"]}, "Everywhere (worldwide)."),
        (
            {"restriction": Restriction.termination, "duration_days": None},
            "No end date: it stays in place unless it is lifted",
        ),
        (
            {"restriction": Restriction.warn, "duration_days": None},
            "Not applicable: a warning has no duration.",
        ),
        (
            {
                "statement_of_reasons": {
                    "facts": FACTS,
                    "automated_detection": False,
                    "automated_decision": True,
                    "ground": GROUND,
                    "redress": REDRESS,
                }
            },
            "No automated means were used to detect it. The decision was taken by automated means.",
        ),
    ],
)
def test_each_variant_is_worded_the_same_everywhere(
    session, inbox, reported, decided, changes, words
):
    case = decided(reported(), **changes)
    for rendering, rendered in renderings(session, inbox, case).items():
        assert words in rendered, rendering


def test_without_named_bodies_the_notice_says_where_to_find_them(
    app, session, inbox, reported, decided
):
    app.config["DISPUTE_SETTLEMENT_BODIES"] = []
    case = decided(reported())
    for rendering, rendered in renderings(session, inbox, case).items():
        assert "The Digital Services Coordinator of your country lists" in rendered, rendering


def test_once_the_window_has_closed_the_page_says_so(session, inbox, reported, decided):
    case = decided(reported())
    decision = session.exec(select(Decision)).one()
    decision.informed_at = decision.decided_at = utcnow() - timedelta(days=400)
    session.commit()
    partial = renderings(session, inbox, case)["partial"]
    assert "the time to appeal this decision ended on" in partial
    assert "free of charge until" not in partial


def appeal(session, case: Case, **fields) -> Appeal:
    decision = session.exec(select(Decision).where(Decision.case_id == case.id)).one()
    row = Appeal(
        case_id=case.id,
        decision_id=decision.id,
        grounds="I was quoting a film.",
        window_closes_at=utcnow() + timedelta(days=100),
        **{"appellant": AppellantKind.affected_user, **fields},
    )
    session.add(row)
    session.flush()
    return row


def notify(session, job: str, **args) -> None:
    enqueue_job(session, job=job, args=args, case_id=args["case_id"])
    session.commit()


def test_the_appeal_outcome_tells_the_appellant_the_outcome_reasons_and_next_steps(
    session, inbox, reported, decided
):
    case = decided(reported())
    inbox.messages.clear()
    reasons = "The messages are threats whatever film they quote."
    heard = appeal(session, case, outcome=AppealOutcome.upheld, reasons=reasons)
    heard.decided_at = utcnow()
    notify(session, "notify_affected_user", case_id=case.id, event_id=None, transition="uphold")

    (message,) = inbox.messages
    assert message["Subject"] == f"The outcome of your appeal ({case.reference})"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = markup.unescape(message.get_body(preferencelist=("html",)).get_content())
    for part in (text, html):
        assert "The appeal was rejected: the decision stands." in part
        assert reasons in part
        assert BODY["name"] in part and "(Article 21 of the Digital Services Act)" in part
        assert "take the matter to court" in part
        assert "free of charge until" not in part  # this appeal is over
    (row,) = [m for m in messages(session, case) if m.kind == "appeal_outcome"]
    assert row.recipient == AFFECTED and row.status == "sent"


def test_a_reporter_appellant_gets_the_outcome_without_the_restriction(
    session, inbox, reported, decided
):
    case = decided(reported(), restriction=Restriction.no_action, duration_days=None)
    report = session.exec(select(Report).where(Report.case_id == case.id)).one()
    inbox.messages.clear()
    reasons = "On a second look the messages are threats."
    appeal(
        session,
        case,
        appellant=AppellantKind.reporter,
        report_id=report.id,
        outcome=AppealOutcome.upheld,
        reasons=reasons,
    )
    notify(session, "notify_reporter", case_id=case.id, event_id=None, transition="uphold")
    notify(session, "notify_affected_user", case_id=case.id, event_id=None, transition="uphold")

    (message,) = inbox.messages  # nothing changed for the affected user: nothing to tell them
    assert message["To"] == REPORTER
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "The appeal was rejected: the decision stands." in text and reasons in text
    assert BODY["url"] in text and "take the matter to court" in text
    assert "no breach of the policies was found" not in text
    assert sent_events(session, case, kind="appeal_outcome")[0]["recipient"] == REPORTER


@pytest.mark.parametrize("appellant", [AppellantKind.affected_user, AppellantKind.reporter])
def test_an_appeal_is_confirmed_to_its_appellant(session, inbox, reported, decided, appellant):
    case = decided(reported())
    report = session.exec(select(Report).where(Report.case_id == case.id)).one()
    inbox.messages.clear()
    filed = appeal(
        session,
        case,
        appellant=appellant,
        report_id=report.id if appellant == AppellantKind.reporter else None,
    )
    job = "notify_reporter" if appellant == AppellantKind.reporter else "notify_affected_user"
    args = {"report_id": report.id} if appellant == AppellantKind.reporter else {}
    notify(session, job, case_id=case.id, kind="appeal_received", appeal_id=filed.id, **args)

    (message,) = inbox.messages
    assert message["To"] == (REPORTER if appellant == AppellantKind.reporter else AFFECTED)
    assert message["Subject"] == f"We received your appeal ({case.reference})"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "A person who did not take the decision will review it" in text
    assert link_in(text)
    (confirmed,) = sent_events(session, case, kind="appeal_received")
    assert confirmed["recipient_role"] == appellant and confirmed["sent"] is True
