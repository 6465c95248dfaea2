"""A decision's ground (DSA Art. 17(3)(d)): contractual (the usage policy's clause) or legal (the
law named), from the case page's form and the API; the law is required exactly when the ground
is legal, recorded on the decision and its trail event, and told to the user. Hostile values in
the API's statement of reasons and territorial scope are a 422 with a message, never a 500."""

import json
import re
from pathlib import Path

import pytest
from flask import render_template
from sqlmodel import select

from cases.decisions.service import DecisionInvalid, decision_terms, preview_notice
from cases.enums import EventType, GroundKind
from cases.models import Decision
from cases.notices.wording import decision_notice
from tests.casework import DECISION_FIELDS, page_token
from tests.decisions.test_decisions import QUICK, decide_form, post
from tests.factories import make_api_key, make_case
from tests.helpers import event_payloads, events, reloaded

LAW = "§ 241 StGB (threats), Germany"


@pytest.fixture
def deciding(client, session, open_case, walk, signed_in, hand_over):
    """A case awaiting a decision, claimed by the signed-in reviewer."""
    case = walk(open_case(), "enforcement")
    hand_over(case, signed_in("reviewer"))
    return case


def only_decision(session) -> Decision:
    return session.exec(select(Decision)).one()


def field_error(response, field: str) -> str | None:
    match = re.search(rf'<p class="error" id="decide-{field}-error">([^<]*)<', response.text)
    return match.group(1) if match else None


def test_the_form_asks_for_the_ground_kind_and_the_law_beside_the_ground(client, deciding):
    page = client.get(f"/cases/{deciding.reference}").get_data(as_text=True)
    block = page.split('id="transition-decide"', 1)[1].split("</details>", 1)[0]
    kind = block.index('name="decide-ground_kind"')
    law = block.index('name="decide-legal_ground"')
    ground = block.index('name="decide-ground"')
    assert kind < law < ground
    assert re.search(r'value="contractual"[^>]*checked|checked[^>]*value="contractual"', block)


def test_a_legal_ground_with_its_law_is_recorded_and_told(client, session, deciding, app):
    case = deciding
    data = decide_form(page_token(client, case), ground_kind="legal", legal_ground=f"  {LAW} ")
    response = post(client, case, data)
    assert response.status_code == 303, response.text
    decision = only_decision(session)
    assert (decision.ground_kind, decision.legal_ground) == (GroundKind.legal, LAW)
    ((_, payload),) = event_payloads(session, case.id, EventType.decision)
    statement = payload["statement_of_reasons"]
    assert (statement["ground_kind"], statement["legal_ground"]) == ("legal", LAW)

    with app.test_request_context():
        notice = decision_notice(session, case=reloaded(session, case))
        html = render_template("notices/_decision_notice.html", notice=notice, link=None)
        text = render_template("notices/mail/_decision_notice.txt", notice=notice, link="L")
    assert "<dt>Legal ground</dt><dd>§ 241 StGB (threats), Germany</dd>" in html
    assert f"Ground for the decision:\n{decision.ground}\nLegal ground: {LAW}\n" in text


def test_a_contractual_ground_names_no_law_and_tells_none(client, session, deciding, app):
    case = deciding
    response = post(client, case, decide_form(page_token(client, case), ground_kind="contractual"))
    assert response.status_code == 303, response.text
    decision = only_decision(session)
    assert (decision.ground_kind, decision.legal_ground) == (GroundKind.contractual, None)
    with app.test_request_context():
        notice = decision_notice(session, case=reloaded(session, case))
        html = render_template("notices/_decision_notice.html", notice=notice, link=None)
    assert "Legal ground" not in html


def test_a_form_without_the_ground_kind_is_contractual(client, session, deciding):
    response = post(client, deciding, decide_form(page_token(client, deciding)))
    assert response.status_code == 303, response.text
    assert only_decision(session).ground_kind == GroundKind.contractual


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"ground_kind": "legal"}, "legal_ground", "A legal ground needs the law named"),
        ({"ground_kind": "legal", "legal_ground": "   "}, "legal_ground", "needs the law named"),
        ({"ground_kind": "contractual", "legal_ground": LAW}, "legal_ground", "names no law"),
        ({"legal_ground": LAW}, "legal_ground", "names no law"),
        ({"ground_kind": "legal", "legal_ground": "x" * 501}, "legal_ground", "500"),
        ({"ground_kind": "sometimes"}, "ground_kind", "Not a valid choice"),
        ({"ground_kind": "<b>legal</b>"}, "ground_kind", "Not a valid choice"),
    ],
)
def test_inconsistent_grounds_are_refused_next_to_the_field(
    client, session, deciding, values, field, message
):
    case = deciding
    before = len(events(session, case))
    response = post(client, case, decide_form(page_token(client, case), **values))
    assert response.status_code == 422
    error = field_error(response, field)
    assert error is not None and message in error, response.text
    assert session.exec(select(Decision)).all() == []
    assert len(events(session, case)) == before and reloaded(session, case).state == "enforcement"


def test_a_law_with_markup_is_kept_verbatim_and_shown_escaped(client, session, deciding):
    case = deciding
    law = '<script>alert("x")</script> Act & Co, art. 5'
    preview = post(
        client,
        case,
        decide_form(
            page_token(client, case), ground_kind="legal", legal_ground=law, action="preview"
        ),
    )
    assert preview.status_code == 200
    assert "<script>alert" not in preview.text
    assert (
        "Legal ground: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Act &amp; Co" in preview.text
    )
    response = post(client, case, decide_form(page_token(client, case), ground_kind="legal",
                                               legal_ground=law))  # fmt: skip
    assert response.status_code == 303
    assert only_decision(session).legal_ground == law


def test_the_preview_tells_the_legal_ground(session, open_case, walk):
    case = walk(open_case(), "enforcement")
    fields = {
        **DECISION_FIELDS,
        "statement_of_reasons": {
            **DECISION_FIELDS["statement_of_reasons"],
            "ground_kind": "legal",
            "legal_ground": LAW,
        },
    }
    notice = preview_notice(session, case=case, transition="decide", fields=fields)
    assert notice.legal_ground == LAW


# --- the service ----------------------------------------------------------------------------------


def _terms(session, case, **statement):
    fields = {
        **DECISION_FIELDS,
        "statement_of_reasons": {**DECISION_FIELDS["statement_of_reasons"], **statement},
    }
    return decision_terms(session, case=case, transition="decide", fields=fields)


@pytest.mark.parametrize(
    ("statement", "kind", "law"),
    [
        ({}, GroundKind.contractual, None),
        ({"ground_kind": None, "legal_ground": None}, GroundKind.contractual, None),
        ({"ground_kind": "contractual", "legal_ground": "  "}, GroundKind.contractual, None),
        ({"ground_kind": "legal", "legal_ground": f" {LAW}\n"}, GroundKind.legal, LAW),
        ({"ground_kind": "legal", "legal_ground": "x" * 500}, GroundKind.legal, "x" * 500),
    ],
)
def test_the_service_reads_the_ground(session, open_case, statement, kind, law):
    terms = _terms(session, open_case(), **statement)
    assert (terms.statement.ground_kind, terms.statement.legal_ground) == (kind, law)
    recorded = terms.as_fields()["statement_of_reasons"]
    assert (recorded["ground_kind"], recorded["legal_ground"]) == (kind.value, law)


@pytest.mark.parametrize(
    ("statement", "field"),
    [
        ({"ground_kind": "legal"}, "legal_ground"),
        ({"ground_kind": "legal", "legal_ground": "x" * 501}, "legal_ground"),
        ({"ground_kind": "contractual", "legal_ground": LAW}, "legal_ground"),
        ({"ground_kind": "legal", "legal_ground": 5}, "legal_ground"),
        ({"ground_kind": "legal", "legal_ground": ["§ 1"]}, "legal_ground"),
        ({"ground_kind": "illegal"}, "ground_kind"),
        ({"ground_kind": 1}, "ground_kind"),
        ({"ground_kind": ["legal"]}, "ground_kind"),
        ({"ground_kind": {"kind": "legal"}}, "ground_kind"),
    ],
)
def test_the_service_refuses_inconsistent_grounds(session, open_case, statement, field):
    with pytest.raises(DecisionInvalid) as refused:
        _terms(session, open_case(), **statement)
    assert refused.value.field == field and str(refused.value)


@pytest.mark.parametrize(
    "scope", [5, [[1]], [1], [None], {"DE": True}, True, "", ["x" * 100_000], [["DE"], "FR"]]
)
def test_the_service_refuses_a_scope_that_is_not_codes(session, open_case, scope):
    """Whatever the channel lets through, the service answers with a message (issue #13)."""
    fields = {**DECISION_FIELDS, "territorial_scope": scope}
    with pytest.raises(DecisionInvalid) as refused:
        decision_terms(session, case=open_case(), transition="decide", fields=fields)
    assert refused.value.field == "territorial_scope"
    assert 0 < len(str(refused.value)) < 200


# --- the API --------------------------------------------------------------------------------------


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def api(app, session):
    """A case awaiting a decision and an integration key that may fire transitions."""
    with app.test_request_context():
        case = make_case(session, state="enforcement", stage="enforcement")
        _, key = make_api_key(session, scopes=["cases:read", "cases:write"])
        session.commit()
    return case, key


def api_decide(client, case, key, *, statement=None, **fields):
    body = {
        **DECISION_FIELDS,
        "statement_of_reasons": {**DECISION_FIELDS["statement_of_reasons"], **(statement or {})},
        **fields,
    }
    return client.post(
        f"/api/v1/cases/{case.reference}/transitions",
        json={"transition": "decide", "fields": body},
        headers=bearer(key),
    )


HOSTILE = [
    ({"statement": {"ground_kind": "legal"}}, "legal_ground"),
    ({"statement": {"ground_kind": "contractual", "legal_ground": LAW}}, "legal_ground"),
    ({"statement": {"legal_ground": LAW}}, "legal_ground"),
    ({"statement": {"ground_kind": "legal", "legal_ground": "x" * 10_000}}, "legal_ground"),
    ({"statement": {"ground_kind": "legal", "legal_ground": {"law": "x"}}}, "legal_ground"),
    ({"statement": {"ground_kind": "legal", "legal_ground": 241}}, "legal_ground"),
    ({"statement": {"ground_kind": 5}}, "ground_kind"),
    ({"statement": {"ground_kind": [["legal"]]}}, "ground_kind"),
    ({"statement": {"ground_kind": "<script>"}}, "ground_kind"),
    ({"territorial_scope": 5}, "territorial_scope"),
    ({"territorial_scope": [[1]]}, "territorial_scope"),
    ({"territorial_scope": [1]}, "territorial_scope"),
    ({"territorial_scope": [None]}, "territorial_scope"),
    ({"territorial_scope": {"DE": True}}, "territorial_scope"),
    ({"territorial_scope": True}, "territorial_scope"),
    ({"territorial_scope": ""}, "territorial_scope"),
    ({"territorial_scope": ["<b>DE</b>"]}, "territorial_scope"),
    ({"territorial_scope": ["x" * 100_000]}, "territorial_scope"),
]


@pytest.mark.parametrize(("changes", "field"), HOSTILE)
def test_hostile_api_values_are_a_422_naming_the_field(client, session, api, changes, field):
    case, key = api
    before = len(events(session, case))
    response = api_decide(client, case, key, **changes)
    assert response.status_code == 422, response.text
    error = response.get_json()["error"]
    # The field by its name or within its JSON path (fields.territorial_scope[0], say).
    named = [path for path in error["fields"] if field in re.split(r"[.\[\]]", path)]
    assert error["message"] and named, error
    assert len(error["message"]) < 300  # a huge value is not echoed back whole
    assert reloaded(session, case).state == "enforcement"
    assert session.exec(select(Decision)).all() == [] and len(events(session, case)) == before


# A deployment's own workflow whose deciding transition the platform fires through the API.
API_QUICK = QUICK.replace('roles = ["reviewer"]', "roles = []").replace(
    "sla = { p1 = 1, p2 = 2, p3 = 3, p4 = 4 }\n",
    "",  # nobody on staff could hurry it
)


@pytest.fixture
def api_quick(app, session):
    folder = Path(app.instance_path) / "workflows"
    folder.mkdir()
    (folder / "quick.toml").write_text(API_QUICK)
    with app.test_request_context():
        case = make_case(session, workflow="quick", state="open", stage="enforcement")
        _, key = make_api_key(session, scopes=["cases:read", "cases:write"])
        session.commit()
    return case, key


def test_the_api_records_a_legal_ground(client, session, api_quick):
    case, key = api_quick
    response = client.post(
        f"/api/v1/cases/{case.reference}/transitions",
        json={
            "transition": "impose",
            "fields": {
                **DECISION_FIELDS,
                "statement_of_reasons": {
                    **DECISION_FIELDS["statement_of_reasons"],
                    "ground_kind": "legal",
                    "legal_ground": LAW,
                },
            },
        },
        headers=bearer(key),
    )
    assert response.status_code == 200, response.text
    decision = only_decision(session)
    assert (decision.ground_kind, decision.legal_ground) == (GroundKind.legal, LAW)
    ((_, payload),) = event_payloads(session, case.id, EventType.decision)
    assert payload["statement_of_reasons"]["legal_ground"] == LAW
    assert json.loads(json.dumps(payload))["statement_of_reasons"]["ground_kind"] == "legal"
