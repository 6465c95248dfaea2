"""Search by reference, subject id and words in report text, on SQLite FTS5 and PostgreSQL full-text
search alike; restricted cases are never found by those not cleared for them."""

import pytest
from sqlmodel import select

from cases.enums import ReportSource, Role
from cases.intake.service import IntakeItem, SubjectRef, receive
from cases.lifecycle.actors import Actor
from cases.models import Report
from cases.review.search import SearchMatch, search_cases
from tests.factories import put_case


@pytest.fixture
def corpus(session):
    cases = {
        "phishing": put_case(
            session,
            subject="acct-7781",
            explanation="The assistant wrote phishing emails pretending to be a bank.",
            location="https://chat.example.com/c/1234",
        ),
        "stalking": put_case(
            session,
            explanation="Used the model to compile a dossier and stalk an ex-partner.",
        ),
        "harassing": put_case(session, explanation="Harassing messages sent to a coworker."),
        "restricted": put_case(
            session,
            workflow="child_safety",
            state="new",
            subject="acct-secret",
            explanation="Grooming conversation with a minor: phishing for photos.",
        ),
    }
    session.commit()
    return cases


def found(session, query, viewer):
    return [
        (hit.case.reference, hit.matched)
        for hit in search_cases(session, query=query, viewer=viewer)
    ]


def test_by_reference_in_any_case(session, staff, corpus):
    reference = corpus["stalking"].reference
    assert found(session, reference.lower(), staff(Role.reviewer)) == [
        (reference, SearchMatch.reference)
    ]


def test_by_subject_id(session, staff, corpus):
    assert found(session, "acct-7781", staff(Role.reviewer))[0] == (
        corpus["phishing"].reference,
        SearchMatch.subject,
    )


@pytest.mark.parametrize(
    "query, expected",
    [
        ("phishing", ["phishing"]),
        ("bank phishing", ["phishing"]),
        ("PHISHING emails", ["phishing"]),
        ("chat.example.com", ["phishing"]),  # in the location
        ("dossier", ["stalking"]),
        ("harassment", ["harassing"]),  # stemmed: harass
        ("stalking", ["stalking"]),
        ("phishing dossier", []),  # every word must be in one report
        ("bicycle", []),
    ],
)
def test_by_words_in_report_text(session, staff, corpus, query, expected):
    hits = found(session, query, staff(Role.reviewer))
    assert hits == [(corpus[name].reference, SearchMatch.report_text) for name in expected]


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "phishing OR", "NEAR(phishing", "*", "-phishing", "a:b", "'; DROP TABLE x"],
)
def test_search_syntax_in_a_query_is_taken_as_plain_words(session, staff, corpus, query):
    search_cases(session, query=query, viewer=staff(Role.reviewer))  # no error


def test_a_text_match_comes_with_the_matching_excerpt(session, staff, corpus):
    [hit] = search_cases(session, query="bank", viewer=staff(Role.reviewer))
    marked = [text for text, is_match in hit.excerpt if is_match]
    assert marked == ["bank"]
    assert "pretending to be a" in "".join(text for text, _ in hit.excerpt)


@pytest.mark.parametrize("role", [Role.reviewer, Role.lead])
def test_a_restricted_case_is_never_found_by_roles_not_cleared(session, staff, corpus, role):
    viewer = staff(role)
    restricted = corpus["restricted"]
    assert found(session, restricted.reference, viewer) == []
    assert found(session, "acct-secret", viewer) == []
    assert found(session, "grooming", viewer) == []
    assert restricted.reference not in [ref for ref, _ in found(session, "phishing", viewer)]


@pytest.mark.parametrize("role", [Role.child_safety, Role.admin, Role.auditor])
def test_roles_cleared_for_restricted_cases_find_them(session, staff, corpus, role):
    viewer = staff(role)
    restricted = corpus["restricted"].reference
    assert found(session, restricted, viewer) == [(restricted, SearchMatch.reference)]
    assert found(session, "acct-secret", viewer) == [(restricted, SearchMatch.subject)]
    assert found(session, "grooming", viewer) == [(restricted, SearchMatch.report_text)]
    phishing = [ref for ref, _ in found(session, "phishing", viewer)]
    assert phishing == [restricted, corpus["phishing"].reference]  # newest first


def test_reports_received_through_intake_are_searchable(app, session, staff):
    with app.test_request_context():
        outcome = receive(
            session,
            item=IntakeItem(
                source=ReportSource.user_report,
                subject=SubjectRef("account", "acct-intake"),
                raw_payload="{}",
                clause_id="protect.threats",
                explanation="Threatening voicemail transcripts generated on request.",
                location="content:msg_42",
                reporter_name="R. Porter",
                reporter_email="r.porter@example.org",
                good_faith=True,
            ),
            actor=Actor.system("test"),
        )
        session.commit()
    viewer = staff(Role.reviewer)
    assert found(session, "voicemail transcripts", viewer) == [
        (outcome.case.reference, SearchMatch.report_text)
    ]


def test_edited_report_text_is_searched_as_it_now_is(session, staff, corpus):
    """Erasure blanks report text: the full-text index must forget the words too."""
    report = session.exec(select(Report).where(Report.case_id == corpus["stalking"].id)).one()
    report.explanation = None
    session.commit()
    assert found(session, "dossier", staff(Role.reviewer)) == []
    report.explanation = "An erased report, reworded."
    session.commit()
    assert found(session, "reworded", staff(Role.reviewer))[0][0] == corpus["stalking"].reference


def test_an_empty_query_finds_nothing(session, staff, corpus):
    assert search_cases(session, query="   ", viewer=staff(Role.admin)) == []


def test_text_search_lists_the_newest_matching_cases_up_to_the_limit(session, staff):
    cases = [put_case(session, explanation=f"Spam wave, batch {n}.") for n in range(5)]
    session.commit()
    hits = search_cases(session, query="spam wave", viewer=staff(Role.reviewer), limit=2)
    assert [hit.case.reference for hit in hits] == [cases[4].reference, cases[3].reference]
