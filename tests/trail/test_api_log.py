"""The log over HTTP: the signed checkpoint, proofs a client verifies on its own against the
signed roots, and a case's events for callers allowed to see the case."""

import base64

import pytest

from cases.enums import EventType
from cases.trail import merkle
from cases.trail.erasure import erase_payload
from cases.trail.events import leaf_data
from cases.trail.signed_notes import open_checkpoint
from cases.trail.store import append_event
from tests.factories import make_api_key, make_case, make_user
from tests.helpers import login

LOG = "/api/v1/log"


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    return error


def signed_root(scene, size: int) -> bytes:
    (note,) = [c.note for c in scene.checkpoints if c.size == size]
    return open_checkpoint(note, scene.signer.verifier_key).root


# --- checkpoint ---------------------------------------------------------------------------------


def test_checkpoint_is_404_json_before_any_is_signed(client, session):
    assert_error(client.get(f"{LOG}/checkpoint"), 404, "not_found")


def test_checkpoint_serves_the_newest_signed_note(client, scene):
    response = client.get(f"{LOG}/checkpoint")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == scene.checkpoints[-1].note
    opened = open_checkpoint(response.get_data(as_text=True), scene.signer.verifier_key)
    assert opened.size == 12


# --- proofs -------------------------------------------------------------------------------------

INCLUSION = [(0, 6), (3, 6), (5, 6), (0, 12), (5, 12), (9, 12), (11, 12)]


@pytest.mark.parametrize(("index", "size"), INCLUSION)
def test_inclusion_proof_verifies_against_the_signed_root(client, scene, index, size):
    body = client.get(f"{LOG}/proof/inclusion?index={index}&size={size}").get_json()
    assert (body["index"], body["size"]) == (index, size)
    root = signed_root(scene, size)
    assert b64(body["root"]) == root
    proof = [b64(h) for h in body["proof"]]
    merkle.verify_inclusion(b64(body["leaf_hash"]), index, size, proof, root)
    # The proof is for that leaf only.
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(merkle.leaf_hash(b"other"), index, size, proof, root)


def test_inclusion_of_a_case_event_from_its_entry_hash(client, session, scene):
    # What a client holding an event (from /cases/<ref>/events) does: rebuild its leaf.
    event = scene.event(session, "A", 3)
    leaf = merkle.leaf_hash(leaf_data(scene.a.reference, bytes.fromhex(event.entry_hash)))
    body = client.get(f"{LOG}/proof/inclusion?index={event.log_index}&size=12").get_json()
    assert b64(body["leaf_hash"]) == leaf
    proof = [b64(h) for h in body["proof"]]
    merkle.verify_inclusion(leaf, event.log_index, 12, proof, signed_root(scene, 12))


@pytest.mark.parametrize(("first", "second"), [(0, 12), (1, 12), (6, 12), (6, 6), (4, 11)])
def test_consistency_proof_verifies_between_roots(client, scene, first, second):
    body = client.get(f"{LOG}/proof/consistency?from={first}&to={second}").get_json()
    assert (body["from"], body["to"]) == (first, second)
    root_from, root_to = b64(body["root_from"]), b64(body["root_to"])
    for size, root in ((first, root_from), (second, root_to)):
        if size in (6, 12):
            assert root == signed_root(scene, size)
    proof = [b64(h) for h in body["proof"]]
    merkle.verify_consistency(first, second, proof, root_from, root_to)


def test_consistency_between_the_signed_checkpoints(client, scene):
    body = client.get(f"{LOG}/proof/consistency?from=6&to=12").get_json()
    proof = [b64(h) for h in body["proof"]]
    merkle.verify_consistency(6, 12, proof, signed_root(scene, 6), signed_root(scene, 12))
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(6, 12, proof, merkle.leaf_hash(b"x"), signed_root(scene, 12))


BAD_PARAMETERS = [
    ("inclusion", "size=12", "index"),
    ("inclusion", "index=0", "size"),
    ("inclusion", "index=-1&size=12", "index"),
    ("inclusion", "index=one&size=12", "index"),
    ("inclusion", "index=1.5&size=12", "index"),
    ("inclusion", "index=%C2%B2&size=12", "index"),  # a Unicode digit, not a number
    ("inclusion", "index=0&size=0", "size"),
    ("inclusion", "index=0&size=13", "size"),
    ("inclusion", "index=12&size=12", "index"),
    ("inclusion", f"index=0&size={10**30}", "size"),
    ("inclusion", f"index={'9' * 5000}&size=12", "index"),  # past int()'s digit limit
    ("consistency", "to=12", "from"),
    ("consistency", "from=0", "to"),
    ("consistency", "from=7&to=6", "from"),
    ("consistency", "from=0&to=13", "to"),
    ("consistency", "from=%EF%BC%91&to=12", "from"),  # a full-width digit
]


@pytest.mark.parametrize(("proof", "query", "field"), BAD_PARAMETERS)
def test_bad_proof_parameters_are_422_with_the_field(client, scene, proof, query, field):
    error = assert_error(client.get(f"{LOG}/proof/{proof}?{query}"), 422, "invalid_parameter")
    assert list(error["fields"]) == [field]


# --- a case's events ----------------------------------------------------------------------------


@pytest.fixture
def restricted_case(session):
    case = make_case(session, restricted=True)
    append_event(session, case=case, type=EventType.intake, actor="system", payload={"n": 1})
    session.commit()
    return case


def test_events_need_a_caller(client, scene):
    assert_error(client.get(f"/api/v1/cases/{scene.a.reference}/events"), 401, "unauthorized")


def test_events_need_the_cases_read_scope(client, session, scene):
    _, key = make_api_key(session, scopes=["detections:write"])
    session.commit()
    response = client.get(f"/api/v1/cases/{scene.a.reference}/events", headers=bearer(key))
    assert_error(response, 403, "forbidden")


def test_events_for_an_api_key_with_cases_read(client, session, scene):
    _, key = make_api_key(session, scopes=["cases:read"])
    session.commit()
    response = client.get(f"/api/v1/cases/{scene.a.reference}/events", headers=bearer(key))
    assert response.status_code == 200
    body = response.get_json()
    assert body["case"] == scene.a.reference
    assert [e["seq"] for e in body["events"]] == [1, 2, 3, 4]
    assert [e["log_index"] for e in body["events"]] == [0, 3, 6, 9]
    second = body["events"][1]
    stored = scene.event(session, "A", 2)
    assert (second["type"], second["actor"], second["erased"]) == ("note", "user:1", False)
    assert second["payload"]["text"] == "A note 2"
    assert (second["header"], second["entry_hash"]) == (stored.header, stored.entry_hash)


def test_unknown_case_is_404(client, session, scene):
    _, key = make_api_key(session, scopes=["cases:read"])
    session.commit()
    response = client.get("/api/v1/cases/DK-1999-000000/events", headers=bearer(key))
    assert_error(response, 404, "not_found")


def test_restricted_case_is_404_for_an_api_key(client, session, restricted_case):
    _, key = make_api_key(session)  # every scope
    session.commit()
    response = client.get(f"/api/v1/cases/{restricted_case.reference}/events", headers=bearer(key))
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(("role", "status"), [("reviewer", 404), ("auditor", 200)])
def test_restricted_case_for_staff_sessions(client, session, restricted_case, role, status):
    user = make_user(session, role=role)
    session.commit()
    login(client, user.email)
    response = client.get(f"/api/v1/cases/{restricted_case.reference}/events")
    assert response.status_code == status
    if status == 200:
        assert [e["type"] for e in response.get_json()["events"]] == ["intake"]
    else:
        assert_error(response, 404, "not_found")


def test_erased_payloads_show_as_erased(client, session, scene):
    erase_payload(session, case=scene.a, actor="operator:dpo", reason="request 12")
    session.commit()
    _, key = make_api_key(session, scopes=["cases:read"])
    session.commit()
    events = client.get(
        f"/api/v1/cases/{scene.a.reference}/events", headers=bearer(key)
    ).get_json()["events"]
    assert [(e["erased"], e["payload"]) for e in events[:4]] == [(True, None)] * 4
    assert events[4]["type"] == "erased" and events[4]["erased"] is False
    assert events[4]["payload"] == {"reason": "request 12", "through_seq": 4}
