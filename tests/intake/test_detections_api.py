"""The contract of POST /api/v1/detections: what an integration sends and gets back."""

import hashlib
import json
import threading

import pytest
from sqlmodel import select

from cases.accounts.service import revoke_api_key
from cases.api import idempotency
from cases.api.idempotency import _stored as stored
from cases.api.idempotency import claim_key, request_fingerprint
from cases.child_safety.known_hashes import import_hash_list
from cases.enums import ApiScope, EventType
from cases.models import ApiKey, Case, IdempotentResponse, Report, Subject
from cases.trail.models import CaseEvent
from tests.factories import make_api_key
from tests.helpers import count, reloaded
from tests.intake.conftest import detection, moderation_response

URL = "/api/v1/detections"


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def test_a_detection_opens_a_case_and_answers_201(post_json, session):
    response = post_json(URL, detection("user-42", scores={"harassment/threatening": 0.97}))

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"report", "case"}
    case = body["case"]
    assert case["reference"].startswith("DK-") and case["workflow"] == "standard"
    assert case["state"] == "new" and case["opened"] is True
    assert isinstance(case["priority"], int) and case["priority_band"] in {"p1", "p2", "p3", "p4"}
    report = body["report"]
    assert report["source"] == "classifier" and report["source_name"] == "openai-moderation"
    assert report["policy_clause"] == "protect.threats"
    assert report["moderation_scores"]["harassment/threatening"] == 9700
    stored = session.get(Report, report["id"])
    assert stored.case_id == session.exec(select(Case.id)).one()
    assert stored.occurred_at.isoformat() == "2026-03-01T12:00:00+00:00"


def test_the_raw_body_is_stored_verbatim_with_its_sha256(post_json, session):
    # Odd spacing, key order and a non-ASCII excerpt: nothing may be re-serialised.
    text = json.dumps(detection(content={"type": "image", "excerpt": "café ☕"}), indent=3)[::1]
    text = text.replace('"subject"', '  "subject"', 1)
    response = post_json(URL, text.encode("utf-8"))

    assert response.status_code == 201
    report = session.get(Report, response.get_json()["report"]["id"])
    assert report.raw_payload == text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert report.payload_sha256 == digest == response.get_json()["report"]["payload_sha256"]


def test_all_13_categories_are_read_and_unknown_ones_kept(post_json, session):
    moderation = moderation_response({"sexual": 0.2})
    moderation["results"][0]["categories"]["deepfakes"] = True
    moderation["results"][0]["category_scores"]["deepfakes"] = 0.88
    response = post_json(URL, detection(moderation=moderation))

    assert response.status_code == 201
    report = response.get_json()["report"]
    assert len(report["moderation_scores"]) == 13 and report["moderation_scores"]["sexual"] == 2000
    assert report["unknown_categories"] == ["deepfakes"]
    assert "deepfakes" in session.get(Report, report["id"]).raw_payload


@pytest.mark.parametrize("illicit", ["missing", None])
def test_missing_or_null_illicit_scores_are_tolerated(post_json, illicit):
    moderation = moderation_response({"violence": 0.8})
    result = moderation["results"][0]
    for name in ("illicit", "illicit/violent"):
        for table in (result["categories"], result["category_scores"]):
            if illicit == "missing":
                del table[name]
            else:
                table[name] = None
    response = post_json(URL, detection(moderation=moderation))

    assert response.status_code == 201
    scores = response.get_json()["report"]["moderation_scores"]
    assert "illicit" not in scores and len(scores) == 11
    assert response.get_json()["report"]["policy_clause"] == "protect.violence"


def test_a_second_detection_about_the_subject_attaches(post_json, session):
    first = post_json(URL, detection("user-7")).get_json()
    second = post_json(URL, detection("user-7", source="in-house-classifier")).get_json()

    assert second["case"]["reference"] == first["case"]["reference"]
    assert second["case"]["opened"] is False
    assert count(session, Case) == 1 and count(session, Report) == 2


# --- Idempotency-Key -----------------------------------------------------------------------------


def test_a_replay_returns_the_original_response_and_writes_nothing(post_json, session):
    body = detection()
    headers = {"Idempotency-Key": "det-0001"}
    first = post_json(URL, body, headers=headers)
    again = post_json(URL, body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(session, Report) == 1
    stored = session.exec(select(IdempotentResponse)).one()
    assert (stored.key, stored.status, stored.body) == ("det-0001", 201, first.get_json())


def test_the_same_key_with_a_different_body_is_409(post_json, session):
    headers = {"Idempotency-Key": "det-0002"}
    assert post_json(URL, detection("user-1"), headers=headers).status_code == 201
    error = error_of(
        post_json(URL, detection("user-2"), headers=headers), 409, "idempotency_conflict"
    )

    assert "Idempotency-Key" in error["fields"]
    assert count(session, Report) == 1


def test_keys_belong_to_one_integration(post_json, session):
    _, other_key = make_api_key(session, scopes=[ApiScope.detections_write])
    session.commit()
    headers = {"Idempotency-Key": "shared-name"}
    assert post_json(URL, detection(), headers=headers).status_code == 201
    response = post_json(URL, detection(), headers=headers, key=other_key)

    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert count(session, Report) == 2


def test_a_refused_request_does_not_use_up_its_key(post_json, session):
    headers = {"Idempotency-Key": "det-0003"}
    bad = detection(occurred_at="yesterday")
    assert post_json(URL, bad, headers=headers).status_code == 422
    assert post_json(URL, detection(), headers=headers).status_code == 201
    assert count(session, IdempotentResponse) == 1


@pytest.mark.parametrize("key", ["", "x" * 201, "naïve", "two words"])
def test_a_malformed_key_is_422(post_json, key):
    error = error_of(
        post_json(URL, detection(), headers={"Idempotency-Key": key}), 422, "validation_failed"
    )
    assert list(error["fields"]) == ["Idempotency-Key"]


def test_two_concurrent_identical_requests_create_once(app, integration, session):
    body = json.dumps(detection("user-race"))
    headers = {
        "Authorization": f"Bearer {integration[1]}",
        "Content-Type": "application/json",
        "Idempotency-Key": "race-1",
    }
    start = threading.Barrier(2)
    responses = []

    def send():
        client = app.test_client()
        start.wait()
        responses.append(client.post(URL, data=body, headers=headers))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status_code for r in responses) == [201, 201]
    assert responses[0].get_json() == responses[1].get_json()
    assert sorted(r.headers.get("Idempotent-Replayed", "-") for r in responses) == ["-", "true"]
    assert count(session, Report) == 1


def test_losing_the_race_for_a_key_replays_the_winners_row(session, integration, monkeypatch):
    """The IntegrityError path: another transaction committed the key after this one looked."""
    api_key_id = integration[0].id
    fingerprint = request_fingerprint(path=URL, body=b"{}")
    session.add(
        IdempotentResponse(
            api_key_id=api_key_id, key="k", request_sha256=fingerprint, status=201, body={"a": 1}
        )
    )
    session.commit()
    lookups = []

    def lookup_before_the_winner_committed(session, **where):
        lookups.append(where)
        return None if len(lookups) == 1 else stored(session, **where)

    monkeypatch.setattr(idempotency, "_stored", lookup_before_the_winner_committed)
    row, claimed = claim_key(session, api_key_id=api_key_id, key="k", fingerprint=fingerprint)

    assert not claimed and row.body == {"a": 1} and len(lookups) == 2
    assert count(session, IdempotentResponse) == 1


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer dk_unknown"}, {"Authorization": "Basic abc"}],
)
def test_unauthenticated_is_401(client, session, headers):
    response = client.post(
        URL, data=json.dumps(detection()), headers={"Content-Type": "application/json", **headers}
    )
    error_of(response, 401, "unauthorized")
    assert count(session, Report) == 0


def test_a_revoked_key_is_401_and_a_key_without_the_scope_403(post_json, session, integration):
    _, read_only = make_api_key(session, scopes=[ApiScope.cases_read])
    revoke_api_key(session, api_key=session.get(ApiKey, integration[0].id), actor=None)
    session.commit()
    error_of(post_json(URL, detection()), 401, "unauthorized")
    error_of(post_json(URL, detection(), key=read_only), 403, "forbidden")


def test_an_oversized_body_is_413(app, post_json, session):
    body = detection(metadata={"padding": "x" * app.config["MAX_CONTENT_LENGTH"]})
    error = error_of(post_json(URL, body), 413, "request_entity_too_large")
    assert "10240 KiB" in error["message"]
    assert count(session, Report) == 0


def test_not_json_is_refused(post_json, client, integration):
    error_of(post_json(URL, "{not json"), 400, "invalid_json")
    error_of(post_json(URL, b"\xff\xfe{}"), 400, "invalid_json")
    error_of(post_json(URL, '{"occurred_at": NaN}'), 400, "invalid_json")
    response = client.post(
        URL,
        data=json.dumps(detection()),
        headers={"Authorization": f"Bearer {integration[1]}", "Content-Type": "text/plain"},
    )
    error_of(response, 415, "unsupported_media_type")


def _without(path: str) -> dict:
    body = detection()
    *parents, last = path.split(".")
    target = body
    for name in parents:
        target = target[name]
    del target[last]
    return body


def _with(path: str, value) -> dict:
    body = detection()
    *parents, last = path.split(".")
    target = body
    for name in parents:
        target = target[name]
    target[last] = value
    return body


def _moderation_with(mutate) -> dict:
    body = detection()
    mutate(body["moderation"])
    return body


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        pytest.param([], {"body"}, id="not-an-object"),
        pytest.param({}, {"subject", "source", "moderation", "content", "occurred_at"}, id="empty"),
        pytest.param(_without("subject.id"), {"subject.id"}, id="subject.id-missing"),
        pytest.param(_with("subject.id", 42), {"subject.id"}, id="subject.id-number"),
        pytest.param(_with("subject.id", "x" * 201), {"subject.id"}, id="subject.id-long"),
        pytest.param(_with("subject.type", "planet"), {"subject.type"}, id="subject.type"),
        pytest.param(
            _with("subject", {"type": None, "id": " "}),
            {"subject.type", "subject.id"},
            id="subject-both",
        ),
        pytest.param(_with("subject.contact", "a@b.c"), {"subject.contact"}, id="contact-text"),
        pytest.param(
            _with("subject.contact", {"email": "not an address"}),
            {"subject.contact.email"},
            id="contact-email",
        ),
        pytest.param(
            _with("subject.contact", {"email": ["a@example.org"]}),
            {"subject.contact.email"},
            id="contact-email-list",
        ),
        pytest.param(
            _with("subject.contact", {"email": "<script>@example.org"}),
            {"subject.contact.email"},
            id="contact-markup",
        ),
        pytest.param(
            _with("subject.contact", {"locale": "en_US; DROP"}),
            {"subject.contact.locale"},
            id="contact-locale",
        ),
        pytest.param(
            _with("subject.contact", {"phone": "+1 555"}),
            {"subject.contact.phone"},
            id="contact-unknown",
        ),
        pytest.param(_with("source.name", ""), {"source.name"}, id="source.name"),
        pytest.param(_with("source.model", 3), {"source.model"}, id="source.model"),
        pytest.param(_without("content.type"), {"content.type"}, id="content.type"),
        pytest.param(_with("content", "chat"), {"content"}, id="content-not-object"),
        pytest.param(_with("metadata", ["a"]), {"metadata"}, id="metadata"),
        pytest.param(_with("occurred_at", "2026-03-01 12:00"), {"occurred_at"}, id="no-zone"),
        pytest.param(_with("occurred_at", "2026-13-01T12:00:00Z"), {"occurred_at"}, id="month"),
        pytest.param(_with("occurred_at", 1767225600), {"occurred_at"}, id="epoch"),
        pytest.param(_with("moderation", {"id": "x"}), {"moderation.results"}, id="no-results"),
        pytest.param(
            _moderation_with(lambda m: m["results"][0]["category_scores"].update(hate="high")),
            {"moderation.results[0].category_scores.hate"},
            id="score-text",
        ),
        pytest.param(
            _moderation_with(lambda m: m["results"][0]["category_scores"].update(violence=1.5)),
            {"moderation.results[0].category_scores.violence"},
            id="score-range",
        ),
        pytest.param(
            _moderation_with(lambda m: m["results"][0]["categories"].update(sexual="yes")),
            {"moderation.results[0].categories.sexual"},
            id="flag-text",
        ),
        pytest.param(
            _moderation_with(lambda m: m["results"][0].update(category_scores={})),
            {"moderation"},
            id="no-known-scores",
        ),
    ],
)
def test_invalid_detections_are_422_with_field_paths(post_json, session, body, fields):
    error = error_of(post_json(URL, body), 422, "validation_failed")
    assert set(error["fields"]) == fields
    assert all(error["fields"].values())
    assert count(session, Report) == 0 and count(session, Case) == 0


@pytest.mark.parametrize(
    ("occurred_at", "stored"),
    [
        ("2026-03-01T12:00:00Z", "2026-03-01T12:00:00+00:00"),
        ("2026-03-01t12:00:00.123456z", "2026-03-01T12:00:00.123456+00:00"),
        ("2026-03-01T14:30:00+02:30", "2026-03-01T12:00:00+00:00"),
        ("2026-03-01T07:00:00.5-05:00", "2026-03-01T12:00:00.500000+00:00"),
    ],
)
def test_occurred_at_accepts_rfc3339_offsets(post_json, session, occurred_at, stored):
    response = post_json(URL, detection(occurred_at=occurred_at))
    assert response.status_code == 201
    report = session.get(Report, response.get_json()["report"]["id"])
    assert report.occurred_at.isoformat() == stored


def test_the_subjects_contact_is_kept_and_the_latest_wins(post_json, session):
    def about_kim(contact: dict | None) -> dict:
        body = detection("user-kim")
        if contact is not None:
            body["subject"]["contact"] = contact
        return body

    assert (
        post_json(URL, about_kim({"email": "Kim@Users.Example", "locale": "pt-BR"})).status_code
        == 201
    )
    subject = session.exec(select(Subject)).one()
    assert (subject.contact_email, subject.contact_locale) == ("Kim@users.example", "pt-BR")
    # A later detection without a contact keeps it; one with a new address replaces it.
    assert post_json(URL, about_kim(None)).status_code == 201
    assert reloaded(session, subject).contact_email == "Kim@users.example"
    assert post_json(URL, about_kim({"email": "kim@new.example"})).status_code == 201
    assert reloaded(session, subject).contact_email == "kim@new.example"
    assert reloaded(session, subject).contact_locale == "pt-BR"


KNOWN = hashlib.sha256(b"known file bytes").hexdigest()


def test_a_detection_referencing_a_known_file_goes_to_child_safety(session, post_json):
    import_hash_list(session, name="list", lines=[KNOWN])
    session.commit()
    body = detection("user-kh", scores={"harassment": 0.91})
    body["content"]["sha256"] = KNOWN.upper()
    answer = post_json("/api/v1/detections", body)
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["case"] == {
        "reference": answer.get_json()["case"]["reference"],
        "restricted": True,
    }
    case = session.exec(select(Case)).one()
    assert case.workflow_name == "child_safety"
    assert session.exec(select(CaseEvent).where(CaseEvent.type == EventType.hash_matched)).all()


@pytest.mark.parametrize("value", ["abc", "z" * 64, 64, ["a"], "a" * 65])
def test_a_malformed_content_hash_is_422(session, post_json, value):
    body = detection("user-kh")
    body["content"]["md5"] = value
    answer = post_json("/api/v1/detections", body)
    assert answer.status_code == 422 and "content.md5" in answer.get_json()["error"]["fields"]
    assert count(session, Case) == 0
