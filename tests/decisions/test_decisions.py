"""Decisions: made through the case page's form in one transaction with their transition and
events, validated field by field (errors next to the field), previewed as the affected user will
see them, and revised on appeal from the decision under appeal."""

import json
import re
from pathlib import Path

import pytest
from sqlmodel import select

from cases.decisions import service as decisions
from cases.decisions.service import DecisionInvalid, decision_terms, fire_transition
from cases.enums import EventType, Restriction
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import DecisionRequired, transition_case
from cases.models import Decision, Outbox
from cases.trail.models import EventPayload
from tests.casework import DECISION_FIELDS, page_token
from tests.factories import MINI_WORKFLOW, make_case
from tests.helpers import events, reloaded

STATEMENT = {
    "facts": "Three threatening messages to another user on 3 May.",
    "automated_detection": "yes",
    "automated_decision": "no",
    "ground": "Threats are prohibited by clause protect.threats.",
    "redress": "Appeal within six months through your private link.",
}


def decide_form(token: str, *, transition: str = "decide", action: str = "apply", **values):
    """The posted decision form (field names prefixed by the transition); None drops a field."""
    fields = {
        "policy_clause": "protect.threats",
        "restriction": "temporary_suspension",
        "duration_days": "14",
        "territorial_scope": ["FR", "DE"],
        **STATEMENT,
        **values,
    }
    data = {f"{transition}-{name}": value for name, value in fields.items() if value is not None}
    return {**data, f"{transition}-csrf_token": token, "transition": transition, "action": action}


@pytest.fixture
def deciding(client, session, open_case, walk, signed_in, hand_over):
    """A case awaiting a decision, claimed by the signed-in reviewer."""
    case = walk(open_case(), "enforcement")
    hand_over(case, signed_in("reviewer"))
    return case


def post(client, case, data):
    return client.post(f"/cases/{case.reference}/transitions", data=data)


def test_a_decision_through_the_form_writes_decision_transition_and_events(
    client, session, deciding
):
    case = deciding
    before = len(events(session, case))
    response = post(client, case, decide_form(page_token(client, case)))
    assert response.status_code == 303, response.get_data(as_text=True)

    assert reloaded(session, case).state == "enforced"
    decision = session.exec(select(Decision).where(Decision.case_id == case.id)).one()
    assert (decision.restriction, decision.duration_days) == ("temporary_suspension", 14)
    assert decision.territorial_scope == ["DE", "FR"]
    assert (decision.automated_detection, decision.automated_decision) == (True, False)
    assert decision.facts == STATEMENT["facts"] and decision.redress == STATEMENT["redress"]
    assert decision.policy_clause == "protect.threats" and decision.transition == "decide"

    new = events(session, case)[before:]
    transition, recorded = new[0], new[1]
    assert (transition.type, recorded.type) == (EventType.transition, EventType.decision)
    assert decision.transition_event_id == transition.id
    payload = json.loads(session.get(EventPayload, recorded.id).payload)
    assert payload["decision_id"] == decision.id
    assert payload["restriction"] == "temporary_suspension"
    assert payload["statement_of_reasons"]["facts"] == STATEMENT["facts"]
    webhook = session.exec(select(Outbox).where(Outbox.job == "send_enforcement_webhook")).one()
    assert webhook.args["event_id"] == transition.id and webhook.queue == "webhooks"


def test_a_failure_in_the_trail_leaves_nothing_written(client, session, deciding, monkeypatch):
    case = deciding
    before = [e.id for e in events(session, case)]
    real_append = decisions.append_event

    def failing_append(session, **kwargs):
        if kwargs["type"] == EventType.decision:
            raise RuntimeError("the trail is unavailable")
        return real_append(session, **kwargs)

    monkeypatch.setattr(decisions, "append_event", failing_append)
    response = post(client, case, decide_form(page_token(client, case)))
    assert response.status_code == 500
    assert reloaded(session, case).state == "enforcement"
    assert session.exec(select(Decision)).all() == []
    assert [e.id for e in events(session, case)] == before
    assert session.exec(select(Outbox).where(Outbox.case_id == case.id)).all() == []


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("facts", "State the facts."),
        ("ground", "Explain the ground."),
        ("territorial_scope", "Say where the decision applies."),
        ("automated_detection", "Answer yes or no."),
        ("restriction", "Choose the restriction."),
    ],
)
def test_a_missing_required_field_shows_its_error_next_to_it(
    client, session, deciding, missing, message
):
    case = deciding
    before = len(events(session, case))
    response = post(client, case, decide_form(page_token(client, case), **{missing: None}))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(rf'<p class="error" id="decide-{missing}-error">{re.escape(message)}', page)
    assert '<details class="transition" id="transition-decide" open>' in page
    assert len(events(session, case)) == before and reloaded(session, case).state == "enforcement"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"duration_days": ""}, "duration_days", "A temporary restriction needs its length"),
        ({"restriction": "termination"}, "duration_days", "This restriction takes no duration"),
        ({"territorial_scope": ["worldwide", "DE"]}, "territorial_scope", "not both"),
        ({"duration_days": "0"}, "duration_days", "between 1 and 3650"),
    ],
)
def test_inconsistent_terms_are_refused_next_to_the_field(
    client, session, deciding, values, field, message
):
    case = deciding
    response = post(client, case, decide_form(page_token(client, case), **values))
    assert response.status_code == 422
    error = re.search(rf'id="decide-{field}-error">([^<]*)<', response.get_data(as_text=True))
    assert error and message in error.group(1)
    assert session.exec(select(Decision)).all() == []


def test_the_preview_shows_the_notice_and_writes_nothing(client, session, deciding):
    case = deciding
    before = len(events(session, case))
    response = post(client, case, decide_form(page_token(client, case), action="preview"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    preview = page.split('<pre class="decision-preview">', 1)[1].split("</pre>", 1)[0]
    assert "STATEMENT OF REASONS" in preview and case.reference in preview
    assert "The account was suspended for a time." in preview and "14 days, until " in preview
    assert "Where it applies: In these countries only: Germany, France." in preview
    assert STATEMENT["facts"] in preview and "Threats, intimidation" in preview
    assert "Automated means were used to detect it." in preview
    assert "The decision was taken by a person, not by automated means." in preview
    assert "Appeal within six months" in preview
    # The form keeps what was entered, so the reviewer can correct it and decide.
    assert STATEMENT["ground"] in page.split("</pre>", 1)[1]
    assert len(events(session, case)) == before
    assert session.exec(select(Decision)).all() == []


def test_appeal_outcomes_revise_the_decision_under_appeal(
    client, session, open_case, walk, signed_in, hand_over
):
    case = walk(open_case(), "appeal_review")
    hand_over(case, signed_in("reviewer"))
    data = decide_form(
        page_token(client, case),
        transition="partially_reverse",
        restriction="warn",
        duration_days=None,
        territorial_scope=None,
        policy_clause=None,
        appeal_outcome="The messages were threatening but a first offence: a warning suffices.",
    )
    response = post(client, case, data)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert reloaded(session, case).state == "partially_reversed"
    first, revised = session.exec(select(Decision).order_by(Decision.id)).all()
    assert revised.transition == "partially_reverse" and revised.restriction == "warn"
    assert revised.policy_clause == first.policy_clause
    assert revised.territorial_scope == first.territorial_scope == ["worldwide"]
    assert revised.duration_days is None


def _terms(session, case, transition="decide", **changes):
    fields = {**DECISION_FIELDS, **changes}
    return decision_terms(session, case=case, transition=transition, fields=fields)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"policy_clause": "nope.nothing"}, "policy_clause"),
        ({"restriction": "banish"}, "restriction"),
        ({"duration_days": 4000}, "duration_days"),
        ({"duration_days": True}, "duration_days"),
        ({"territorial_scope": []}, "territorial_scope"),
        ({"territorial_scope": ["US"]}, "territorial_scope"),
        ({"statement_of_reasons": None}, "facts"),
        ({"statement_of_reasons": {**DECISION_FIELDS["statement_of_reasons"], "ground": " "}},
         "ground"),
        ({"statement_of_reasons": {**DECISION_FIELDS["statement_of_reasons"],
                                   "automated_decision": "no"}}, "automated_decision"),
        ({"statement_of_reasons": {**DECISION_FIELDS["statement_of_reasons"],
                                   "facts": "x" * 5001}}, "facts"),
    ],
)  # fmt: skip
def test_the_service_validates_every_element(session, open_case, changes, field):
    with pytest.raises(DecisionInvalid) as refused:
        _terms(session, open_case(), **changes)
    assert refused.value.field == field


def test_terms_are_normalised(session, open_case):
    terms = _terms(session, open_case(), territorial_scope=["FR", "DE", "FR"])
    assert terms.territorial_scope == ("DE", "FR")
    assert terms.restriction is Restriction.temporary_suspension
    assert _terms(session, open_case(), territorial_scope="worldwide").territorial_scope == (
        "worldwide",
    )


def test_a_reversal_lifts_the_restriction_of_the_decision_under_appeal(session, open_case, walk):
    case = walk(open_case(), "appeal_review")
    terms = _terms(session, case, "reverse", restriction=None, policy_clause=None)
    assert terms.restriction is Restriction.no_action and terms.duration_days is None
    assert terms.policy_clause == "protect.threats" and terms.territorial_scope == ("worldwide",)
    with pytest.raises(DecisionInvalid, match="reverse the decision"):
        _terms(session, case, "partially_reverse", restriction="no_action")


def test_revising_needs_a_decision_to_revise(session, open_case):
    with pytest.raises(DecisionInvalid, match="no decision on this case"):
        _terms(session, open_case(), "reverse")
    with pytest.raises(ValueError, match="does not decide"):
        _terms(session, open_case(), "escalate")


# A deployment's own workflow whose deciding transition has a name the code never heard of.
QUICK = (
    MINI_WORKFLOW.replace('name = "mini"', 'name = "quick"')
    .replace('stage = "triage"\nqueue = "triage"', 'stage = "enforcement"\nqueue = "enforcement"')
    .replace('name = "finish"', 'name = "impose"')
    .replace(
        'requires = ["note"]',
        'requires = ["policy_clause", "restriction", "statement_of_reasons", "territorial_scope"]\n'
        'decides = "decision"',
    )
)


@pytest.fixture
def quick_case(app, session):
    """A case on the deployment's own `quick` workflow (instance/workflows/quick.toml)."""
    folder = Path(app.instance_path) / "workflows"
    folder.mkdir()
    (folder / "quick.toml").write_text(QUICK)
    with app.app_context():
        case = make_case(session, workflow="quick", state="open", stage="enforcement")
        session.commit()
        yield case


def test_a_custom_deciding_transition_writes_a_decision(quick_case, session, staff):
    reviewer = Actor.staff(staff("reviewer"))
    fire_transition(
        session, case=quick_case, transition="impose", actor=reviewer, fields=DECISION_FIELDS
    )
    session.commit()
    decision = session.exec(select(Decision).where(Decision.case_id == quick_case.id)).one()
    assert (decision.transition, decision.restriction) == ("impose", "temporary_suspension")
    assert decision.author_id == reviewer.user_id
    assert [e.type for e in events(session, quick_case)][-2:] == ["transition", "decision"]


def test_a_deciding_transition_is_refused_outside_the_decision_service(quick_case, session, staff):
    with pytest.raises(DecisionRequired, match="records a decision"):
        transition_case(
            session,
            case=quick_case,
            transition="impose",
            actor=Actor.staff(staff("reviewer")),
            fields=DECISION_FIELDS,
        )
    session.rollback()
    assert reloaded(session, quick_case).state == "open"
    assert events(session, quick_case) == []
    assert session.exec(select(Decision)).all() == []
