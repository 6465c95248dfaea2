"""Submitting a CyberTipline report against the fake server: the whole chain, text-only
reports, refusals before anything is sent, NCMEC's error codes, workers killed at every step,
retraction and resubmission near NCMEC's deletion, and withdrawal by the specialist."""

import contextlib
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
import time_machine
from sqlmodel import select

from cases.child_safety.ncmec.builder import ReportInvalid
from cases.child_safety.ncmec.client import CyberTiplineClient
from cases.child_safety.ncmec.service import DraftChanges, DraftFile, submit_draft, update_draft
from cases.child_safety.ncmec.submission import requeue_stalled
from cases.core.sqltypes import utcnow
from cases.enums import EventType, HoldKind, NcmecStatus, OutboxStatus
from cases.jobs import outbox as outbox_module
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import transition_case
from cases.models import Hold, KnownHash
from cases.trail.events import verify_chain
from cases.trail.store import case_records
from tests.child_safety.fake_cybertipline import DESCRIPTIONS
from tests.child_safety.ncmec.conftest import (
    EXCERPT,
    PRODUCT,
    REPORTER,
    reports,
    restart_worker,
    submission_jobs,
)
from tests.helpers import event_payloads, events, fresh, reloaded


def submit(session, case, specialist, app):
    submit_draft(session, case=case, actor=Actor.staff(specialist), config=app.config)
    session.commit()


def set_file(session, case, specialist, sha256, **settings):
    """Change one file's settings on the draft, as the draft page does."""
    draft = reports(session, case)[-1]
    files = [
        DraftFile(
            sha256=f["sha256"],
            include=f["include"],
            relevance=f["relevance"],
            classification=f["classification"],
            annotations=tuple(f["annotations"]),
        )
        for f in draft.files
    ]
    files = [DraftFile(**{**f.__dict__, **settings}) if f.sha256 == sha256 else f for f in files]
    update_draft(
        session,
        case=case,
        actor=Actor.staff(specialist),
        changes=DraftChanges(
            incident_type=draft.incident_type or "Online Enticement of Children for Sexual Acts",
            incident_at=draft.incident_at,
            description=draft.description,
            additional_info=draft.additional_info,
            files=tuple(files),
        ),
    )
    session.commit()


def test_a_report_with_two_files_is_finished_and_preserved(
    app, session, fake, child_case, evidence, viewed, drafted, staff
):
    case = child_case()
    seen = evidence(case, b"\x89PNG first image", filename="first.png")
    unseen = evidence(case, b"\x89PNG second image", filename="second.png")
    case, specialist = drafted(case)
    viewed(case, seen, specialist)
    set_file(session, case, specialist, seen, annotations=("generativeAi",), classification="B2")

    submit(session, case, specialist, app)

    assert reloaded(session, case).state == "reported"
    [report] = reports(session, case)
    assert report.status == NcmecStatus.finished and report.finished_at is not None
    [sent] = fake.finished()
    assert report.ncmec_report_id == str(sent.report_id)
    # The raw reportDoneResponse is the receipt, listing both files.
    receipt = ET.fromstring(report.receipt)
    assert receipt.tag == "reportDoneResponse" and receipt.findtext("responseCode") == "0"
    assert sorted(e.text for e in receipt.iter("fileId")) == sorted(sent.files)
    assert sorted(f.filename for f in sent.files.values()) == ["first.png", "second.png"]
    details = {f.filename: ET.fromstring(f.details) for f in sent.files.values() if f.details}
    assert details["first.png"].findtext("fileViewedByEsp") == "true"
    assert details["second.png"].findtext("fileViewedByEsp") == "false"
    assert details["first.png"].find("fileAnnotations/generativeAi") is not None
    assert details["first.png"].findtext("industryClassification") == "B2"
    hashes = {h.get("hashType"): h.text for h in details["second.png"].iter("originalFileHash")}
    assert hashes["SHA256"] == unseen and set(hashes) == {"MD5", "SHA1", "SHA256"}
    # Each call once: no duplicate of anything.
    assert [fake.count(e) for e in ("submit", "upload", "fileinfo", "finish")] == [1, 2, 2, 1]
    # The trail: submitted, each upload, finished; then the transition and the hold.
    types = [e.type for e in events(session, case)]
    assert types.count(EventType.ncmec_file_uploaded) == 2
    assert EventType.ncmec_report_finished in types and EventType.hold_placed in types
    hold = session.exec(select(Hold).where(Hold.case_id == case.id)).one()
    assert hold.kind == HoldKind.preservation and hold.until >= utcnow() + timedelta(days=364)
    [(_, finished)] = event_payloads(session, case.id, EventType.ncmec_report_finished)
    assert finished["receipt_kept"] is True and len(finished["files"]) == 2
    assert all(job.status == OutboxStatus.done for job in submission_jobs(session, case))
    assert {f["details_xml"] for f in report.files} == {f.details for f in sent.files.values()}
    verify_chain(case.reference, case_records(session, case_id=case.id))  # the trail holds
    # What was reported is known material from now on.
    known = session.exec(select(KnownHash.value).where(KnownHash.algorithm == "sha256")).all()
    assert sorted(known) == sorted([seen, unseen])


def test_a_text_only_report_carries_the_conversation(app, session, fake, child_case, drafted):
    case, specialist = drafted(child_case())
    [draft] = reports(session, case)
    assert draft.files == [] and EXCERPT in draft.description

    submit(session, case, specialist, app)

    assert reloaded(session, case).state == "reported"
    [sent] = fake.finished()
    assert sent.files == {}
    report = ET.fromstring(sent.xml)
    assert report.findtext("incidentSummary/incidentType") == (
        "Child Pornography (possession, manufacture, and distribution)"
    )
    assert report.findtext("incidentSummary/incidentDateTime") == "2026-01-10T09:30:00+00:00"
    chat = report.find("internetDetails/chatImIncident")
    assert chat.findtext("chatClient") == PRODUCT and chat.findtext("content") == EXCERPT
    assert EXCERPT in report.findtext("additionalInfo")
    assert report.findtext("reporter/reportingPerson/email") == REPORTER
    assert report.findtext("personOrUserReported/espIdentifier") == "acct-77"
    assert [fake.count(e) for e in ("submit", "upload", "fileinfo", "finish")] == [1, 0, 0, 1]


def two_file_case(session, child_case, evidence, drafted):
    case = child_case()
    evidence(case, b"\x89PNG first image", filename="first.png")
    evidence(case, b"\x89PNG second image", filename="second.png")
    return drafted(case)


def assert_reported_once(session, fake, case, files: int = 2):
    """Exactly one finished report at NCMEC, holding each file once with its details once."""
    assert reloaded(session, case).state == "reported"
    [finished] = fake.finished()
    assert len(finished.files) == files
    assert len({f.md5 for f in finished.files.values()}) == files
    assert all(f.details is not None for f in finished.files.values())
    assert reports(session, case)[-1].ncmec_report_id == str(finished.report_id)


# --- refused before anything is sent ---------------------------------------------------------


def test_no_reporter_email_refuses_the_submission_and_sends_nothing(
    app, session, fake, child_case, drafted
):
    case, specialist = drafted(child_case())
    app.config["NCMEC_REPORTER_EMAIL"] = None
    with pytest.raises(ReportInvalid) as refused:
        submit(session, case, specialist, app)
    session.rollback()
    assert "NCMEC_REPORTER_EMAIL" in str(refused.value)
    assert fake.calls == []
    assert reloaded(session, case).state == "report_drafted"
    assert [r.status for r in reports(session, case)] == [NcmecStatus.draft]
    assert submission_jobs(session, case) == []


def test_an_invalid_draft_submitted_from_the_case_page_is_refused_by_the_job(
    app, session, fake, child_case, drafted
):
    """The workflow's submit transition fired without the draft page: the job checks the draft
    itself, records why it cannot go, and sends nothing."""
    case, specialist = drafted(child_case())
    [draft] = reports(session, case)
    draft.incident_at = utcnow() + timedelta(days=2)  # corrupted behind the form's back
    session.add(draft)
    session.commit()
    transition_case(session, case=case, transition="submit_report", actor=Actor.staff(specialist))
    session.commit()

    assert fake.calls == []
    [(_, failed)] = event_payloads(session, case.id, EventType.ncmec_request_failed)
    assert failed["sent"] is False and "incident time must be in the past" in failed["message"]
    [job] = submission_jobs(session, case)
    assert job.status == OutboxStatus.pending and job.attempts == 1


# --- NCMEC's answers ---------------------------------------------------------------------------

# Every code NCMEC's documentation lists besides 0.
DOCUMENTED_CODES = sorted(code for code in DESCRIPTIONS if code)


@pytest.mark.parametrize("code", DOCUMENTED_CODES)
def test_every_error_code_is_recorded_and_the_job_retries(
    app, session, fake, child_case, drafted, code
):
    case, specialist = drafted(child_case())
    fake.fail_next("submit", code)
    submit(session, case, specialist, app)

    [(header, failed)] = event_payloads(session, case.id, EventType.ncmec_request_failed)
    [call] = [c for c in fake.calls if c.code == code]
    assert failed["code"] == code and failed["request_id"] == call.request_id
    assert failed["step"] == "submit" and header["actor"].startswith("system:job:")
    [report] = reports(session, case)
    assert str(code) in report.last_error and call.request_id in report.last_error
    assert report.responses[-1]["code"] == code
    [job] = submission_jobs(session, case)
    assert job.status == OutboxStatus.pending and job.attempts == 1
    assert reloaded(session, case).state == "report_submitted"

    restart_worker(session)
    assert_reported_once(session, fake, case, files=0)
    assert fake.count("submit") == 1


@pytest.mark.parametrize("endpoint", ["upload", "fileinfo", "finish"])
def test_a_failed_step_is_retried_from_where_it_stopped(
    app, session, fake, child_case, evidence, drafted, endpoint
):
    case, specialist = two_file_case(session, child_case, evidence, drafted)
    fake.fail_next(endpoint, 1000)
    submit(session, case, specialist, app)
    assert reloaded(session, case).state == "report_submitted"

    restart_worker(session)
    assert_reported_once(session, fake, case)
    assert [fake.count(e) for e in ("submit", "upload", "fileinfo", "finish")] == [1, 2, 2, 1]


def test_wrong_credentials_are_recorded_and_fixing_them_resumes(
    app, session, fake, child_case, drafted
):
    case, specialist = drafted(child_case())
    app.config["NCMEC_PASSWORD"] = "not-the-password"
    submit(session, case, specialist, app)
    [(_, failed)] = event_payloads(session, case.id, EventType.ncmec_request_failed)
    assert failed["code"] == 2000 and failed["request_id"]
    assert fake.reports == {}

    app.config["NCMEC_PASSWORD"] = fake.password
    restart_worker(session)
    assert_reported_once(session, fake, case, files=0)


def test_a_report_ncmec_no_longer_holds_is_submitted_afresh(
    app, session, fake, child_case, evidence, drafted
):
    case, specialist = two_file_case(session, child_case, evidence, drafted)
    fake.fail_next("upload", 5001)
    submit(session, case, specialist, app)

    assert_reported_once(session, fake, case)
    first, second = reports(session, case)
    assert first.status == NcmecStatus.retracted and second.status == NcmecStatus.finished
    [(_, retracted)] = event_payloads(session, case.id, EventType.ncmec_report_retracted)
    assert "no longer holds" in retracted["reason"] and retracted["next"] == "resubmitted"


# --- workers killed ----------------------------------------------------------------------------


class WorkerKilled(BaseException):
    """The worker process dies: nothing catches it, nothing after it runs, nothing commits."""


# The calls of a report with two files, in order: (client method, which call of it).
STEPS = [
    ("submit", 0),
    ("upload", 0),
    ("fileinfo", 0),
    ("upload", 1),
    ("fileinfo", 1),
    ("finish", 0),
]


def kill_once(monkeypatch, method: str, nth: int, *, after_the_call: bool) -> None:
    """Kill the worker running the `nth` call of `method`: before the call is sent, or after
    NCMEC acted on it but before its answer was recorded. Only that run dies; the rest of the
    system (the dispatcher that started it) carries on, as it would in another process."""
    real = getattr(CyberTiplineClient, method)
    seen = []

    def dying(self, *args, **kwargs):
        seen.append(method)
        if len(seen) != nth + 1:
            return real(self, *args, **kwargs)
        if after_the_call:
            real(self, *args, **kwargs)
        raise WorkerKilled(f"killed at {method} #{nth}")

    run = outbox_module.run_outbox_job

    def in_its_own_process(outbox_id: int) -> None:
        with contextlib.suppress(WorkerKilled):
            run(outbox_id)

    monkeypatch.setattr(CyberTiplineClient, method, dying)
    monkeypatch.setattr(outbox_module, "run_outbox_job", in_its_own_process)


@pytest.mark.parametrize(("method", "nth"), STEPS)
def test_a_worker_killed_between_two_steps_resumes_from_the_stored_ids(
    app, session, fake, child_case, evidence, drafted, monkeypatch, method, nth
):
    case, specialist = two_file_case(session, child_case, evidence, drafted)
    kill_once(monkeypatch, method, nth, after_the_call=False)
    submit(session, case, specialist, app)
    assert reloaded(session, case).state == "report_submitted"

    restart_worker(session)
    assert_reported_once(session, fake, case)
    # Resumed, not restarted: every call exactly once, one report opened at NCMEC.
    assert [fake.count(e) for e in ("submit", "upload", "fileinfo", "finish")] == [1, 2, 2, 1]
    assert len(fake.reports) == 1 and len(reports(session, case)) == 1


@pytest.mark.parametrize(("method", "nth"), STEPS)
def test_a_worker_killed_during_a_call_never_duplicates_what_ncmec_keeps(
    app, session, fake, child_case, evidence, drafted, monkeypatch, method, nth
):
    """NCMEC acted on the call but its answer died with the worker: the next run cannot know
    what NCMEC holds, so it plays safe and the finished report still holds each file once."""
    case, specialist = two_file_case(session, child_case, evidence, drafted)
    kill_once(monkeypatch, method, nth, after_the_call=True)
    submit(session, case, specialist, app)
    assert reloaded(session, case).state == "report_submitted"

    restart_worker(session, lost=True)
    assert_reported_once(session, fake, case)
    assert fake.count("finish") == 1  # never a second finish
    rows = reports(session, case)
    if method in ("upload", "fileinfo"):
        # The report that may hold a file twice was retracted, and a fresh one finished.
        first, _second = rows
        assert first.status == NcmecStatus.retracted
        assert fake.reports[int(first.ncmec_report_id)].status == "retracted"
    elif method == "finish":
        # NCMEC refused the second finish (5102): that confirms the first; the receipt was lost.
        [report] = rows
        assert report.status == NcmecStatus.finished and report.receipt is None
        [(_, finished)] = event_payloads(session, case.id, EventType.ncmec_report_finished)
        assert finished["receipt_kept"] is False
    else:
        # The report the lost /submit opened is never finished; NCMEC deletes it in 24 hours.
        assert fake.count("submit") == 2 and len(rows) == 1
        [(_, submitted)] = event_payloads(session, case.id, EventType.ncmec_report_submitted)
        assert submitted["after_unknown_outcome"] is True


# --- NCMEC's deletion of unfinished reports ----------------------------------------------------


def stall_at_upload(session, fake, case, specialist, app) -> str:
    """Submit, with the first upload failing: the report is open at NCMEC, the job waits."""
    fake.fail_next("upload", 1000)
    submit(session, case, specialist, app)
    [report] = reports(session, case)
    assert report.ncmec_report_id and report.status == NcmecStatus.submitted
    return report.ncmec_report_id


@pytest.mark.parametrize(
    ("later", "ncmec_state"),
    [(timedelta(hours=23, minutes=30), "retracted"), (timedelta(hours=26), "deleted")],
)
def test_a_stalled_report_is_retracted_and_submitted_afresh(
    app, session, fake, child_case, evidence, drafted, later, ncmec_state
):
    case, specialist = two_file_case(session, child_case, evidence, drafted)
    stalled = stall_at_upload(session, fake, case, specialist, app)

    with time_machine.travel(utcnow() + later):
        restart_worker(session)
    assert fake.reports[int(stalled)].status == ncmec_state
    assert_reported_once(session, fake, case)
    first, second = reports(session, case)
    assert first.status == NcmecStatus.retracted and first.retracted_at is not None
    assert second.ncmec_report_id != stalled
    [(_, retracted)] = event_payloads(session, case.id, EventType.ncmec_report_retracted)
    assert retracted["ncmec_report_id"] == stalled and retracted["next"] == "resubmitted"


def test_a_stalled_report_whose_job_gave_up_is_picked_up_by_the_periodic_task(
    app, session, fake, child_case, evidence, drafted
):
    case, specialist = two_file_case(session, child_case, evidence, drafted)
    stall_at_upload(session, fake, case, specialist, app)
    [job] = [j for j in submission_jobs(session, case) if j.status == OutboxStatus.pending]
    job.status = OutboxStatus.failed  # its attempts ran out
    session.add(job)
    session.commit()
    assert requeue_stalled(session) == 0  # not yet close to NCMEC's deletion
    session.commit()

    with time_machine.travel(utcnow() + timedelta(hours=23, minutes=30)):
        assert requeue_stalled(session) == 1
        session.commit()
    assert_reported_once(session, fake, case)
    assert [r.status for r in reports(session, case)] == [
        NcmecStatus.retracted,
        NcmecStatus.finished,
    ]


# --- the specialist takes the report back ------------------------------------------------------


def test_sending_the_case_back_to_drafting_withdraws_the_open_report(
    app, session, fake, child_case, evidence, drafted
):
    case, specialist = two_file_case(session, child_case, evidence, drafted)
    stalled = stall_at_upload(session, fake, case, specialist, app)
    transition_case(
        session,
        case=case,
        transition="redraft_report",
        actor=Actor.staff(specialist),
        fields={"note": "The second file is from another conversation."},
    )
    session.commit()

    restart_worker(session)
    assert fake.reports[int(stalled)].status == "retracted"
    first, second = reports(session, case)
    assert first.status == NcmecStatus.retracted and second.status == NcmecStatus.draft
    [(_, retracted)] = event_payloads(session, case.id, EventType.ncmec_report_retracted)
    assert retracted["next"] == "back to the draft"

    second_file = second.files[1]["sha256"]
    set_file(session, case, specialist, second_file, include=False)
    submit(session, case, specialist, app)
    assert_reported_once(session, fake, case, files=1)


def test_a_draft_withdrawn_before_ncmec_opened_it_goes_back_without_a_call(
    app, session, fake, child_case, drafted
):
    case, specialist = drafted(child_case())
    fake.fail_next("submit", 1000)
    submit(session, case, specialist, app)
    transition_case(
        session,
        case=case,
        transition="redraft_report",
        actor=Actor.staff(specialist),
        fields={"note": "Wrong incident type."},
    )
    session.commit()
    restart_worker(session)
    [report] = reports(session, case)
    assert report.status == NcmecStatus.draft and report.report_xml is None
    assert fake.count("retract") == 0 and fake.reports == {}
    fresh(session)
