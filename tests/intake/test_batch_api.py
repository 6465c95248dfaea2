"""POST /api/v1/detections/batch: one result per item, in order; a bad item fails alone."""

import hashlib
import json
import threading

import pytest
from sqlmodel import select

from cases.api.intake import BATCH_MAX_ITEMS, batch_items
from cases.models import Case, IdempotentResponse, Report, Subject
from tests.helpers import count
from tests.intake.conftest import detection

URL = "/api/v1/detections/batch"


def test_a_bad_item_fails_alone_and_the_others_are_committed(post_json, session):
    bad_subject = detection("user-b")
    bad_subject["subject"]["type"] = "planet"
    no_scores = detection("user-c")
    no_scores["moderation"]["results"][0]["category_scores"] = {}
    items = [detection("user-a"), bad_subject, no_scores, "not an object", detection("user-a")]

    response = post_json(URL, {"items": items})

    assert response.status_code == 207
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == [201, 422, 422, 422, 201]
    assert set(results[1]["error"]["fields"]) == {"items[1].subject.type"}
    assert set(results[2]["error"]["fields"]) == {"items[2].moderation"}
    assert set(results[3]["error"]["fields"]) == {"items[3]"}
    for failed in results[1:4]:
        assert set(failed) == {"status", "error"}
        assert set(failed["error"]) == {"code", "message", "fields"}
    assert set(results[0]) == {"status", "report", "case"}
    assert results[0]["case"]["opened"] and not results[4]["case"]["opened"]
    assert results[4]["case"]["reference"] == results[0]["case"]["reference"]
    assert count(session, Report) == 2 and count(session, Case) == 1
    assert session.exec(select(Subject.external_id)).all() == ["user-a"]


def test_each_item_keeps_its_own_exact_text_and_hash(post_json, session):
    items = [detection("user-x"), detection("user-y", content={"type": "image", "ref": "ü"})]
    text = '{ "items" :[\n  ' + json.dumps(items[0]) + " ,\n" + json.dumps(items[1], indent=2)
    text += '], "note": {"items": 1} }'

    results = post_json(URL, text).get_json()["results"]

    for result, item in zip(
        results, [json.dumps(items[0]), json.dumps(items[1], indent=2)], strict=True
    ):
        report = session.get(Report, result["report"]["id"])
        assert report.raw_payload == item
        assert report.payload_sha256 == hashlib.sha256(item.encode()).hexdigest()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"items": []}', []),
        ('{"items":[1,"a]",{"b":[2]}],"x":null}', ["1", '"a]"', '{"b":[2]}']),
        ('{"a": {"items": [9]}, "items": [ 3 ] }', ["3"]),
        ('{"items": [1], "items": [2, 3]}', ["2", "3"]),
        ('{"items": "none"}', []),
        ('{"items": [1], "items": "x"}', []),
    ],
)
def test_batch_items_finds_the_top_level_items(text, expected):
    assert [item_text for _, item_text in batch_items(text) or ()] == expected


def test_a_full_batch_of_500_is_accepted(post_json, session):
    items = [detection(f"user-{n % 200}") for n in range(BATCH_MAX_ITEMS)]

    response = post_json(URL, {"items": items})

    assert response.status_code == 207
    results = response.get_json()["results"]
    assert len(results) == BATCH_MAX_ITEMS and {r["status"] for r in results} == {201}
    assert count(session, Report) == BATCH_MAX_ITEMS and count(session, Case) == 200


@pytest.mark.parametrize(
    "body",
    [
        {"items": [detection() for _ in range(BATCH_MAX_ITEMS + 1)]},
        {"items": []},
        {"items": detection()},
        {"detections": [detection()]},
        [detection()],
    ],
    ids=["501-items", "empty", "not-a-list", "no-items", "bare-list"],
)
def test_malformed_batches_are_refused_whole(post_json, session, body):
    response = post_json(URL, body)

    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"items"}
    assert count(session, Report) == 0


def test_a_batch_over_its_size_limit_is_413(app, post_json, session):
    app.config["DETECTIONS_BATCH_MAX_CONTENT_LENGTH"] = 4096
    response = post_json(URL, {"items": [detection() for _ in range(5)]})

    assert response.status_code == 413
    assert "limit 4 KiB" in response.get_json()["error"]["message"]
    assert count(session, Report) == 0


def test_a_batch_may_exceed_the_single_request_limit(app, post_json, session):
    app.config["MAX_CONTENT_LENGTH"] = 4096
    assert post_json(URL, {"items": [detection() for _ in range(5)]}).status_code == 207
    assert post_json("/api/v1/detections", detection(metadata={"x": "y" * 4096})).status_code == 413


def test_a_batch_replay_returns_the_original_results(post_json, session):
    body = {"items": [detection(), {"subject": None}]}
    headers = {"Idempotency-Key": "batch-0001"}
    first = post_json(URL, body, headers=headers)
    again = post_json(URL, body, headers=headers)

    assert first.status_code == again.status_code == 207
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert count(session, Report) == 1 and count(session, IdempotentResponse) == 1
    changed = post_json(URL, {"items": [detection()]}, headers=headers)
    assert changed.status_code == 409


def test_a_batch_needs_a_key(client, session):
    response = client.post(
        URL, data=json.dumps({"items": [detection()]}), content_type="application/json"
    )
    assert response.status_code == 401
    assert count(session, Report) == 0


def test_concurrent_batches_naming_subjects_in_opposite_orders_do_not_deadlock(app, post_json):
    """Every batch locks all its subjects first, in one order (PostgreSQL would otherwise find
    a batch holding the log head and waiting for a subject the other holds)."""
    subjects = [f"user-{n}" for n in range(12)]
    forward = json.dumps({"items": [detection(s) for s in subjects]})
    backward = json.dumps({"items": [detection(s) for s in reversed(subjects)]})
    start = threading.Barrier(4)
    statuses = []

    def send(body: str) -> None:
        start.wait()
        for _ in range(3):
            response = post_json(URL, body)
            statuses.append(response.status_code)
            statuses.extend(r["status"] for r in response.get_json()["results"])

    threads = [threading.Thread(target=send, args=(b,)) for b in (forward, backward) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses.count(207) == 12 and statuses.count(201) == 12 * 12
    assert len(statuses) == 12 * 13
