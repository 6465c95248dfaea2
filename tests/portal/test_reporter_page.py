"""The reporter's page: their own report and the outcome in general terms, never the affected
user's restriction; an appeal against a decision not to act; the reviewer's question and the
reporter's answer."""

import pytest
from sqlmodel import select

from cases.enums import AppellantKind, EventType, Restriction
from cases.lifecycle.transitions import transition_case
from cases.models import Appeal
from cases.portal.links import issue_link, status_token
from tests.helpers import count, csrf_token, event_payloads, events, fresh, reloaded

GROUNDS = "The messages threatened my sister by name; please look at the second screenshot."
QUESTION = "Which of the messages in the thread did you mean? Please quote its first words."

# Each restriction, with its length in days where it has one.
RESTRICTIONS = {
    Restriction.warn: None,
    Restriction.content_removal: None,
    Restriction.feature_restriction: 14,
    Restriction.temporary_suspension: 7,
    Restriction.termination: None,
    Restriction.api_key_revocation: None,
}
# What would give the restriction away: its words, its length, where it applies.
GIVEAWAYS = ("suspend", "closed", "removed", "restricted", "revoked", "warning", "days", "Germany")


@pytest.mark.parametrize("restriction", list(RESTRICTIONS))
def test_the_reporter_never_learns_the_restriction(client, reported, decided, link_to, restriction):
    report, case = reported()
    decided(
        case,
        restriction=restriction,
        duration_days=RESTRICTIONS[restriction],
        territorial_scope=["DE"],
    )
    page = client.get(link_to(case, report)).get_data(as_text=True)
    assert "We took action under Threats, intimidation, harassment or defamation." in page
    assert case.reference in page and "Threats in direct messages" not in page
    lowered = page.lower()
    for word in GIVEAWAYS:
        assert word.lower() not in lowered, word
    for private in ("acct-9001", "Repeated threats against another user", " DE"):
        assert private not in page
    # Nothing to appeal for a reporter when action was taken, so no form.
    assert 'name="grounds"' not in page


def test_a_reporter_appeals_a_decision_not_to_act(client, session, reported, dismissed, link_to):
    report, case = reported()
    dismissed(case)
    path = link_to(case, report)
    page = client.get(path).get_data(as_text=True)
    assert "We found no violation of our usage policies." in page
    assert "Appeal the decision not to act" in page and 'name="grounds"' in page
    # The reviewer's note is the dismissal's facts: the affected user's notice, not this page.
    assert "banter between friends" not in page

    response = client.post(
        f"{path}/appeal",
        data={"grounds": GROUNDS, "csrf_token": csrf_token(client, "/report")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    appeal = fresh(session).exec(select(Appeal)).one()
    assert (appeal.appellant, appeal.report_id) == (AppellantKind.reporter, report.id)
    assert reloaded(session, case).state == "appeal"
    confirmation = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your appeal was received" in confirmation and case.reference in confirmation
    assert "is reviewing it" in client.get(path).get_data(as_text=True)


def test_another_reporter_sees_nothing_of_an_appeal_not_theirs(
    client, session, reported, dismissed, link_to
):
    first, case = reported()
    second, _ = reported(reporter_name="Second Person", reporter_email="second@example.org")
    dismissed(case)
    first_path, second_path = link_to(case, first), link_to(case, second)
    client.post(
        f"{first_path}/appeal",
        data={"grounds": GROUNDS, "csrf_token": csrf_token(client, "/report")},
        content_type="multipart/form-data",
    )
    assert count(fresh(session), Appeal) == 1
    page = client.get(second_path).get_data(as_text=True)
    assert "You appealed" not in page and GROUNDS not in page
    assert "Reporter Person" not in page and "reporter@example.org" not in page


def test_a_reporter_cannot_appeal_when_action_was_taken(
    client, session, reported, decided, link_to
):
    report, case = reported()
    decided(case)
    path = link_to(case, report)
    token = csrf_token(client, "/report")
    before = len(events(session, case))
    response = client.post(
        f"{path}/appeal",
        data={"grounds": GROUNDS, "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert response.status_code == 409
    assert count(fresh(session), Appeal) == 0 and len(events(session, case)) == before


def test_the_reporter_answers_the_reviewers_question(
    client, session, reported, walk, worker, link_to
):
    report, case = reported()
    walk(case, "triage")
    path = link_to(case, report)
    assert "We need more information" not in client.get(path).get_data(as_text=True)
    transition_case(
        session,
        case=case,
        transition="request_information",
        actor=worker,
        fields={"question": QUESTION},
    )
    session.commit()

    page = client.get(path).get_data(as_text=True)
    assert "We need more information from you" in page and QUESTION in page
    # The affected user is never asked, nor shown the question.
    assert QUESTION not in client.get(link_to(case)).get_data(as_text=True)

    answer = "The one starting 'You will regret', sent at 22:14."
    response = client.post(
        f"{path}/answer", data={"answer": f"  {answer}\n", "csrf_token": csrf_token(client, path)}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(path)
    assert reloaded(session, case).state == "triage"
    header, answered = event_payloads(session, case.id, EventType.transition)[-1]
    assert answered["transition"] == "information_received"
    assert answered["fields"] == {"answer": answer} and header["actor"] == "system:portal"
    uses = [p["action"] for _, p in event_payloads(session, case.id, EventType.link_used)]
    assert "answered" in uses

    page = client.get(path).get_data(as_text=True)
    assert "your answer was passed to the reviewer" in page and QUESTION not in page
    # A second answer finds no question and writes nothing.
    before = len(events(session, case))
    again = client.post(
        f"{path}/answer", data={"answer": "Again.", "csrf_token": csrf_token(client, "/report")}
    )
    assert again.status_code == 409 and "no open question" in again.get_data(as_text=True)
    assert len(events(session, case)) == before


def test_only_the_reporter_can_answer(client, session, reported, walk, worker, link_to):
    _, case = reported()
    walk(case, "triage")
    transition_case(
        session,
        case=case,
        transition="request_information",
        actor=worker,
        fields={"question": QUESTION},
    )
    link = issue_link(session, case=case, holder=AppellantKind.affected_user)
    session.commit()
    response = client.post(
        f"/my/{status_token(link)}/answer",
        data={"answer": "Not me.", "csrf_token": csrf_token(client, "/report")},
    )
    assert response.status_code == 409
    assert reloaded(session, case).state == "awaiting_information"
