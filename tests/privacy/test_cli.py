"""`flask --app app access-request export SUBJECT_ID --out DIR`."""

import hashlib
import json

from sqlmodel import select

from cases.enums import AccessRequestStatus, EventType
from cases.models import AccessRequest
from cases.privacy.service import request_access
from tests.helpers import count, event_payloads, fresh
from tests.privacy.conftest import PERSON, REPORTER_EMAIL, REPORTER_NAME


def test_export_writes_json_and_html_and_records_fulfilment(
    runner, session, record, restricted_case, tmp_path
):
    out = tmp_path / "answers"
    result = runner.invoke(args=["access-request", "export", PERSON, "--out", str(out)])
    assert result.exit_code == 0, result.output
    request = fresh(session).exec(select(AccessRequest)).one()
    paths = [out / f"access-request-{request.id}.{ext}" for ext in ("json", "html")]
    for path in paths:
        assert f"wrote {path}" in result.output
    document = paths[0].read_bytes()
    assert request.status == AccessRequestStatus.fulfilled and request.channel == "staff"
    assert request.requested_by.startswith("operator:") and request.fulfilled_by_id is None
    assert hashlib.sha256(document).hexdigest() == request.export_sha256
    export = json.loads(document)
    # The operator sees everything, restricted cases included, and is told so.
    assert {c["reference"] for c in export["cases"]} == {
        record.case.reference,
        restricted_case.reference,
    }
    assert "includes 1 restricted (child-safety) case" in result.output
    html = paths[1].read_text()
    for text in (document.decode(), html):
        assert REPORTER_NAME not in text and REPORTER_EMAIL not in text
    for case in (record.case, restricted_case):
        [(_header, payload)] = event_payloads(session, case.id, EventType.access_fulfilled)
        assert payload["export_sha256"] == request.export_sha256
    verified = runner.invoke(args=["trail", "verify"])
    assert verified.exit_code == 0 and "PASS" in verified.output


def test_export_answers_the_open_request(runner, session, record, tmp_path):
    portal = request_access(
        session,
        subject=record.subject,
        case=record.case,
        channel="portal",
        requested_by="system:portal",
    )
    session.commit()
    result = runner.invoke(args=["access-request", "export", PERSON, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    [request] = fresh(session).exec(select(AccessRequest)).all()
    assert request.id == portal.id and request.status == AccessRequestStatus.fulfilled
    assert "includes" not in result.output, "no restricted case, no warning"


def test_unknown_subjects_are_a_clear_error(runner, session, record, tmp_path):
    for args in (["nobody"], [PERSON, "--kind", "app"], ["acct\x00-7"]):
        result = runner.invoke(
            args=["access-request", "export", *args, "--out", str(tmp_path / "x")]
        )
        assert result.exit_code != 0 and "no " in result.output and "with id" in result.output
    assert not (tmp_path / "x").exists()
    assert count(fresh(session), AccessRequest) == 0


def test_existing_files_are_not_overwritten_and_nothing_is_recorded(
    runner, session, record, tmp_path
):
    (tmp_path / "access-request-1.json").write_text("keep me")
    result = runner.invoke(args=["access-request", "export", PERSON, "--out", str(tmp_path)])
    assert result.exit_code != 0 and "already exists" in result.output
    assert (tmp_path / "access-request-1.json").read_text() == "keep me"
    assert count(fresh(session), AccessRequest) == 0
    assert event_payloads(session, record.case.id, EventType.access_requested) == []
