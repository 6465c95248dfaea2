"""`trail erase CASE_REF --reason TEXT` (GDPR Art. 17): every personal value of the case leaves
every table, every file and the database file itself; markers say when and why; the chain and an
export still verify; holds refuse it, by name."""

import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from cases.child_safety.holds import place_hold_for_days
from cases.core.sqltypes import utcnow
from cases.enums import EventType, HoldKind, MessageStatus
from cases.evidence.blobs import blob_store
from cases.evidence.viewing import open_evidence
from cases.lifecycle.actors import Actor
from cases.models import (
    Appeal,
    Case,
    Decision,
    EvidenceView,
    IdempotentResponse,
    Message,
    Report,
    Subject,
)
from cases.trail.models import Blob, EventPayload
from tests.factories import make_api_key
from tests.helpers import count, event_payloads, fresh, reloaded
from tests.retention.conftest import (
    SEEDS,
    SHARED_BYTES,
    left_in_bytes,
    left_in_database,
    left_in_files,
    sqlite_file_bytes,
)

REASON = "GDPR request 7"
REPO = Path(__file__).resolve().parents[2]


def erase(runner, case: Case, reason: str = REASON):
    return runner.invoke(args=["trail", "erase", case.reference, "--reason", reason])


def stored(session, sha256: str) -> Path:
    blob = session.get(Blob, sha256)
    return blob_store().path(sha256, restricted=blob.restricted)


def found(session, app, database_url) -> set[str]:
    """The seeds still found anywhere: rows, files, and on SQLite the database file's bytes."""
    left = left_in_database(session, SEEDS) + left_in_files(Path(app.instance_path), SEEDS)
    names = {entry.split(" in ")[0] for entry in left}
    if database_url.startswith("sqlite"):
        names |= set(left_in_bytes(sqlite_file_bytes(database_url), SEEDS))
    return names


def test_no_personal_value_is_left_in_any_table_file_or_page(
    app, session, runner, seed, database_url
):
    seeded = seed()
    # Every seed is somewhere to begin with: the search below would otherwise prove nothing.
    assert found(session, app, database_url) == set(SEEDS)
    paths = {name: stored(session, getattr(seeded, name)) for name in ("evidence", "restricted")}
    assert all(path.exists() for path in paths.values())
    assert list((Path(app.instance_path) / "mail").glob("*.eml"))

    result = erase(runner, seeded.case)
    assert result.exit_code == 0, result.output
    assert f"erased the personal data of {seeded.case.reference}" in result.output

    fresh(session)
    assert left_in_database(session, SEEDS) == []
    assert left_in_files(Path(app.instance_path), SEEDS) == []
    if database_url.startswith("sqlite"):
        assert left_in_bytes(sqlite_file_bytes(database_url), SEEDS) == []
    assert not any(path.exists() for path in paths.values())
    # The rows stay, hashes and all: the trail's commitments name them.
    assert session.get(Blob, seeded.evidence) is not None


def test_markers_say_when_and_why(app, session, runner, seed):
    seeded = seed()
    case = seeded.case
    assert erase(runner, case).exit_code == 0
    marker = f"[erased {utcnow():%Y-%m-%d}: {REASON}]"
    fresh(session)
    (report,) = session.exec(select(Report).where(Report.case_id == case.id)).all()
    assert (report.explanation, report.location, report.reporter_name, report.content_ref) == (
        marker,
        marker,
        marker,
        marker,
    )
    assert report.raw_payload == marker and report.reporter_email is None
    assert report.reporter_key == "erased:1"
    subject = session.get(Subject, case.subject_id)
    assert subject.display == marker and subject.external_id == f"{marker} #{subject.id}"
    assert (subject.contact_email, subject.contact_locale) == (None, None)
    for decision in session.exec(select(Decision).where(Decision.case_id == case.id)):
        assert (decision.facts, decision.ground, decision.redress) == (marker,) * 3
    (appeal,) = session.exec(select(Appeal).where(Appeal.case_id == case.id)).all()
    assert (appeal.grounds, appeal.reasons) == (marker, marker)
    assert appeal.attachments == [seeded.attachment]  # a hash, like the blob row's
    messages = session.exec(select(Message).where(Message.case_id == case.id)).all()
    assert messages and all(m.recipient in (marker, None) for m in messages)
    assert all(m.subject == marker for m in messages)
    assert all(m.status in (MessageStatus.sent, MessageStatus.not_sent) for m in messages)
    (view,) = session.exec(select(EvidenceView).where(EvidenceView.case_id == case.id)).all()
    assert view.reason == marker and view.blob_sha256 == seeded.evidence
    assert reloaded(session, case).erased_at is not None

    (_, erased), *_ = reversed(event_payloads(session, case.id, EventType.erased))
    assert erased["reason"] == REASON
    # The shared file stays (the other case still has it); the others' bytes went.
    assert erased["files"] == sorted([seeded.evidence, seeded.attachment, seeded.restricted])
    assert erased["rows"]["report"] == 1 and erased["rows"]["subject"] == 1


def test_a_file_another_case_still_holds_stays(app, session, runner, seed, staff):
    seeded = seed()
    shared = stored(session, seeded.shared)
    assert erase(runner, seeded.case).exit_code == 0
    assert shared.exists()
    assert not stored(session, seeded.evidence).exists()
    # The other case still opens its file.
    _, stream = open_evidence(
        fresh(session),
        case=session.get(Case, seeded.other.id),
        sha256=seeded.shared,
        actor=Actor.staff(staff("admin")),
        reason="checking",
    )
    with stream:
        assert stream.read() == SHARED_BYTES
    session.rollback()

    # Once the other case is erased too, nothing holds the file any more.
    assert erase(runner, seeded.other, "retention ended").exit_code == 0
    assert not shared.exists()


def test_the_chain_and_an_export_still_verify(app, session, runner, seed, tmp_path):
    seeded = seed()
    assert erase(runner, seeded.case).exit_code == 0
    result = runner.invoke(args=["trail", "verify"])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output and "3 erased" in result.output

    out = tmp_path / "bundle.zip"
    result = runner.invoke(args=["trail", "export", seeded.case.reference, "--out", str(out)])
    assert result.exit_code == 0, result.output
    key = tmp_path / "docket.pub"
    key.write_text(runner.invoke(args=["trail", "public-key"]).output)
    verified = subprocess.run(
        [sys.executable, "-m", "cases.trail.verify", str(out), "--public-key", str(key)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"erased {utcnow():%Y-%m-%d}: {REASON}" in verified.stdout


def test_erasing_again_keeps_the_first_erasures_record(app, session, runner, seed):
    seeded = seed()
    assert erase(runner, seeded.case).exit_code == 0
    result = erase(runner, seeded.case, "second request")
    assert result.exit_code == 0, result.output
    records = [p for _, p in event_payloads(fresh(session), seeded.case.id, EventType.erased)]
    assert [p["reason"] for p in records] == [REASON, "second request"]
    assert runner.invoke(args=["trail", "verify"]).exit_code == 0
    assert left_in_database(session, SEEDS) == []


def test_a_hold_refuses_the_erasure_by_name_and_nothing_changes(app, session, runner, seed, staff):
    seeded = seed()
    hold = place_hold_for_days(
        session,
        case=seeded.case,
        kind=HoldKind.legal,
        days=30,
        reason="Litigation",
        actor=Actor.staff(staff("lead", "holder")),
    )
    session.commit()
    payloads = count(session, EventPayload)
    result = erase(runner, seeded.case)
    assert result.exit_code == 1
    assert (
        f"case {seeded.case.reference} is under a legal hold until "
        f"{hold.until:%Y-%m-%d} (hold {hold.id})" in result.output
    )
    fresh(session)
    assert count(session, EventPayload) == payloads
    assert session.get(Case, seeded.case.id).erased_at is None
    (report,) = session.exec(select(Report).where(Report.case_id == seeded.case.id)).all()
    assert report.reporter_email == SEEDS["reporter_email"]
    assert stored(session, seeded.evidence).exists()


@pytest.mark.parametrize(
    "reason",
    ["", "   ", "x" * 201, "a\x00b", "two\nlines", "tab\there", "bad \udcff byte"],
    ids=["empty", "blank", "huge", "nul", "newline", "tab", "invalid-utf8"],
)
def test_a_bad_reason_is_refused_and_nothing_is_written(session, runner, seed, reason):
    seeded = seed()
    payloads = count(session, EventPayload)
    result = erase(runner, seeded.case, reason)
    assert result.exit_code == 2, result.output
    assert "reason" in result.output and "Traceback" not in result.output
    fresh(session)
    assert count(session, EventPayload) == payloads
    assert session.get(Case, seeded.case.id).erased_at is None


def test_a_long_reason_is_cut_to_fit_each_column(session, runner, seed):
    seeded = seed()
    reason = "r" * 200
    assert erase(runner, seeded.case, reason).exit_code == 0
    fresh(session)
    report = session.exec(select(Report).where(Report.case_id == seeded.case.id)).one()
    assert report.explanation == f"[erased {utcnow():%Y-%m-%d}: {reason}]"  # text: no limit
    assert len(report.reporter_name) == 200 and report.reporter_name.endswith("r…]")
    subject = session.get(Subject, seeded.case.subject_id)
    assert len(subject.external_id) <= 200 and subject.external_id.endswith(f"…] #{subject.id}")


def test_markup_in_a_reason_is_kept_as_text(session, runner, client, signed_in, seed):
    seeded = seed()
    assert erase(runner, seeded.case, "<b>ticket</b> 9").exit_code == 0
    signed_in("admin")
    page = client.get(f"/cases/{seeded.case.reference}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "&lt;b&gt;ticket&lt;/b&gt; 9" in html and "<b>ticket</b>" not in html


def test_an_unknown_case_is_a_usage_error(runner):
    result = runner.invoke(args=["trail", "erase", "DK-1999-000001", "--reason", "x"])
    assert result.exit_code == 2 and "no case DK-1999-000001" in result.output


def test_the_grounds_stored_for_an_api_appeal_replay_are_erased(
    app, session, client, runner, open_case, walk
):
    case = walk(open_case(), "enforced")
    _, key = make_api_key(session, scopes=["appeals:write"])
    session.commit()
    response = client.post(
        f"/api/v1/cases/{case.reference}/appeals",
        json={"appellant": {"kind": "affected_user"}, "grounds": SEEDS["grounds"]},
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "appeal-7"},
    )
    assert response.status_code == 201, response.get_json()
    assert erase(runner, case).exit_code == 0
    (stored_answer,) = fresh(session).exec(select(IdempotentResponse)).all()
    assert stored_answer.body["appeal"]["grounds"] == f"[erased {utcnow():%Y-%m-%d}: {REASON}]"
    assert stored_answer.body["appeal"]["case"] == case.reference
    assert left_in_database(session, {"grounds": SEEDS["grounds"]}) == []


def test_the_case_page_shows_the_erased_case(session, runner, client, signed_in, seed):
    seeded = seed()
    assert erase(runner, seeded.case).exit_code == 0
    signed_in("admin")
    page = client.get(f"/cases/{seeded.case.reference}")
    assert page.status_code == 200
    html = page.get_data(as_text=True).lower()
    assert f"personal data erased: {REASON}".lower() in html
    assert not [name for name, seed in SEEDS.items() if seed.lower() in html]


@pytest.mark.postgres_only
def test_postgres_dead_row_versions_are_vacuumed(app, session, runner, seed):
    seeded = seed()
    assert erase(runner, seeded.case).exit_code == 0
    connection = fresh(session).connection()
    vacuumed = connection.exec_driver_sql(
        "SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL"
    ).scalars()
    assert {"report", "subject", "decision", "appeal", "message", "event_payload"} <= set(vacuumed)
    session.rollback()
    with app.extensions["docket.db"].connect() as raw:
        raw = raw.execution_options(isolation_level="AUTOCOMMIT")
        try:
            raw.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        except Exception:
            pytest.skip("pgstattuple is not available to count dead row versions")
        try:
            for table in ("report", "subject", "decision", "appeal", "event_payload"):
                dead = raw.exec_driver_sql(
                    f"SELECT dead_tuple_count FROM pgstattuple('{table}')"
                ).scalar()
                assert dead == 0, table
        finally:
            raw.exec_driver_sql("DROP EXTENSION IF EXISTS pgstattuple")


def test_nothing_else_of_the_other_case_changed(session, runner, seed):
    seeded = seed()
    before = [
        (r.explanation, r.raw_payload)
        for r in session.exec(select(Report).where(Report.case_id == seeded.other.id))
    ]
    assert erase(runner, seeded.case).exit_code == 0
    after = [
        (r.explanation, r.raw_payload)
        for r in fresh(session).exec(select(Report).where(Report.case_id == seeded.other.id))
    ]
    assert after == before
    assert session.get(Case, seeded.other.id).erased_at is None
    assert count(session, EventPayload) > 0
    other = session.get(Subject, seeded.other.subject_id)
    assert (other.external_id, other.display) == ("acct-other", None)
