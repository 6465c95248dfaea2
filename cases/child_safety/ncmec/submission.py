"""Submitting a case's CyberTipline report to NCMEC: a resumable state machine over its
`NcmecReport` row, one NCMEC call per run of the `submit_ncmec_report` job.

The steps: /submit (NCMEC's report id), then for each included file /upload (its file id and MD5)
and /fileinfo, then /finish (the receipt). Each run makes one call, records its answer on the row
and the trail, and queues the next run, all in one transaction: a worker killed between two steps
resumes from the stored report id and file ids, and never opens a second report, uploads a file
twice or finishes twice.

A worker killed *during* a call leaves its outcome unknown: the runner counted an attempt of this
run that recorded no answer (a lost or crashed run), or the call was sent but no answer came (a
timeout). The next run plays safe: an unknown /upload or /fileinfo retracts the report and submits
it afresh, so a finished report never holds a file twice; an unknown /finish is sent again (NCMEC
answers a second finish with 5102, which confirms the first); an unknown /submit is sent again (a
report the lost call may have opened is never finished, and NCMEC deletes it within 24 hours).

NCMEC deletes an unfinished report 24 hours after it was opened or 1 hour after its last change.
A submission stalled that close to deletion is retracted and submitted afresh, by its job's next
run or, when none is pending, by the periodic task (`requeue_stalled`); so is one NCMEC no longer
holds (5001, 5101). A specialist who sends the case back to drafting withdraws it the same way.

A failed call is an `ncmec_request_failed` event with NCMEC's code, description and Request-ID,
then `StepFailed`, which the job turns into a retried `AttemptFailed` that keeps the record.
"""

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlmodel import Session, col, select

from cases.child_safety.known_hashes import confirm_case_hashes
from cases.child_safety.ncmec.builder import ReportInvalid, file_details_xml
from cases.child_safety.ncmec.client import (
    ALREADY_FINISHED,
    ALREADY_RETRACTED,
    REPORT_NOT_FOUND,
    Answer,
    CyberTiplineClient,
    NcmecConfigError,
    NcmecError,
    client_from_config,
)
from cases.child_safety.ncmec.service import (
    SUBMIT_JOB,
    NcmecRefused,
    ReportingPath,
    checked_report_xml,
    current_report,
    deletion_at,
    file_report,
    report_schema,
    reporting_path,
    submit_draft,
)
from cases.core.sqltypes import utcnow
from cases.enums import EventType, NcmecStatus, OutboxStatus
from cases.evidence.blobs import blob_store
from cases.jobs.outbox import enqueue_job
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import case_workflow, transition_case
from cases.models import Case, NcmecReport, Outbox
from cases.trail.models import Blob
from cases.trail.store import append_event

# Retract and resubmit a stalled report this long before NCMEC would delete it, so that the
# retraction itself is on record rather than a silent deletion.
RETRACT_MARGIN = timedelta(hours=1)
GONE = (REPORT_NOT_FOUND, ALREADY_RETRACTED)
OPEN_JOB = (OutboxStatus.pending, OutboxStatus.dispatched)


class StepFailed(Exception):
    """A step failed and its failure is recorded (row and trail): retry the job later."""


def _next_step(report: NcmecReport) -> tuple[str, dict | None]:
    """The call the submission needs next, and the file it concerns."""
    if report.ncmec_report_id is None:
        return "submit", None
    for entry in report.files:
        if not entry["include"]:
            continue
        if entry["file_id"] is None:
            return "upload", entry
        if not entry["details_sent"]:
            return "fileinfo", entry
    return "finish", None


class _Run:
    """One run of the job: the case (locked), its report row (locked) and the outbox row."""

    def __init__(
        self,
        session: Session,
        *,
        case: Case,
        path: ReportingPath,
        report: NcmecReport,
        outbox: Outbox,
        config: Mapping,
        now: datetime,
    ):
        self.session = session
        self.case = case
        self.path = path
        self.report = report
        self.outbox = outbox
        self.config = config
        self.now = now
        self.actor = Actor.system(f"job:{outbox.id}")
        self._client: CyberTiplineClient | None = None

    # --- recording -----------------------------------------------------------------------------

    def client(self, step: str) -> CyberTiplineClient:
        if self._client is None:
            try:
                self._client = client_from_config(self.config)
            except NcmecConfigError as exc:
                self.fail(step, f"the NCMEC settings are unusable: {exc}")
        return self._client

    def note(self, endpoint: str, **answer: Any) -> None:
        """Keep one call's answer on the row, tagged with this run's attempt."""
        entry = {
            "endpoint": endpoint,
            "at": self.now.isoformat(),
            "outbox": self.outbox.id,
            "attempt": self.outbox.attempts,
            **answer,
        }
        self.report.responses = [*self.report.responses, entry]
        self.session.add(self.report)

    def noted(self, endpoint: str, answer: Answer, **extra: Any) -> None:
        self.note(
            endpoint,
            code=answer.code,
            description=answer.description,
            request_id=answer.request_id,
            http_status=answer.http_status,
            **extra,
        )

    def noted_error(self, endpoint: str, error: NcmecError, **extra: Any) -> None:
        self.note(
            endpoint,
            code=error.code,
            description=error.message,
            request_id=error.request_id,
            http_status=error.http_status,
            **extra,
        )

    def event(self, type: EventType, payload: dict, blobs: Sequence[str] = ()) -> None:
        append_event(
            self.session,
            case=self.case,
            type=type,
            actor=self.actor.label,
            payload=payload,
            blobs=blobs,
        )

    def fail(self, step: str, message: str, *, sha256: str | None = None) -> NoReturn:
        """Record a step that failed before any request was sent, and stop this run."""
        self.note(step, code=None, description=message, sent=False, sha256=sha256)
        self._failed(step, message, {"code": None, "request_id": None, "sent": False}, sha256)

    def fail_call(self, step: str, error: NcmecError, *, sha256: str | None = None) -> NoReturn:
        """Record a call NCMEC refused (or never answered), and stop this run."""
        answer = {
            "code": error.code,
            "description": error.message,
            "request_id": error.request_id,
            "http_status": error.http_status,
            "uncertain": error.uncertain,
        }
        self.note(step, **answer, sha256=sha256)
        self._failed(step, str(error), answer, sha256)

    def _failed(self, step: str, message: str, answer: dict, sha256: str | None) -> NoReturn:
        self.report.last_error = message
        self.event(
            EventType.ncmec_request_failed,
            {
                "step": step,
                **answer,
                "message": message,
                "ncmec_report_id": self.report.ncmec_report_id,
                "attempt": self.outbox.attempts + 1,
                "sha256": sha256,
            },
        )
        raise StepFailed(f"CyberTipline /{step} failed: {message}")

    def continue_later(self) -> None:
        """Queue the next run, unless another run of this case's submission is already queued."""
        queued = self.session.exec(
            select(Outbox.id).where(
                Outbox.job == SUBMIT_JOB,
                Outbox.case_id == self.case.id,
                col(Outbox.status).in_(OPEN_JOB),
                Outbox.id != self.outbox.id,
            )
        ).first()
        if queued is None:
            enqueue_job(
                self.session, job=SUBMIT_JOB, args={"case_id": self.case.id}, case_id=self.case.id
            )

    # --- the steps -----------------------------------------------------------------------------

    def outcome_unknown(self) -> bool:
        """Whether this run's previous attempt may have reached NCMEC without its answer being
        recorded: the runner counted it but it left no record, or no answer came after sending."""
        if self.outbox.attempts == 0:
            return False
        previous = [
            r
            for r in self.report.responses
            if r.get("outbox") == self.outbox.id and r.get("attempt") == self.outbox.attempts - 1
        ]
        return not previous or bool(previous[-1].get("uncertain"))

    def freeze(self) -> None:
        """Check the draft against NCMEC's rules and schema and keep the XML to be sent."""
        try:
            document = checked_report_xml(
                self.session, case=self.case, report=self.report, config=self.config, now=self.now
            )
        except ReportInvalid as exc:
            self.fail("submit", f"the report is not valid: {'; '.join(exc.problems)}")
        except NcmecRefused as exc:
            self.fail("submit", str(exc))
        self.report.status = NcmecStatus.submitted
        self.report.report_xml = document.decode("utf-8")

    def submit(self, *, after_unknown: bool) -> None:
        try:
            answer = self.client("submit").submit(self.report.report_xml.encode("utf-8"))
        except NcmecError as error:
            self.fail_call("submit", error)
        self.noted("submit", answer, report_id=answer.report_id)
        self.report.ncmec_report_id = answer.report_id
        self.report.opened_at = self.report.last_changed_at = self.now
        self.report.last_error = None
        self.event(
            EventType.ncmec_report_submitted,
            {
                "ncmec_report_id": answer.report_id,
                "request_id": answer.request_id,
                # A report the lost attempt may have opened is never finished; NCMEC deletes it.
                "after_unknown_outcome": after_unknown,
            },
        )
        self.continue_later()

    def upload(self, entry: dict) -> None:
        sha256 = entry["sha256"]
        blob = self.session.get(Blob, sha256)
        if blob is None:
            self.fail("upload", "the file is not evidence on record", sha256=sha256)
        try:
            # Child-safety media is read from the restricted area it was stored in.
            stream = blob_store().open(sha256, restricted=blob.restricted)
        except FileNotFoundError:
            self.fail("upload", "the file is missing from the evidence store", sha256=sha256)
        with stream:
            try:
                answer = self.client("upload").upload(
                    report_id=self.report.ncmec_report_id,
                    filename=entry["filename"] or sha256,
                    media_type=blob.media_type,
                    stream=stream,
                    size=blob.size,
                )
            except NcmecError as error:
                self._refused(error, "upload", sha256=sha256)
                return
        self.noted("upload", answer, sha256=sha256, file_id=answer.file_id, md5=answer.md5)
        self._update_file(sha256, file_id=answer.file_id, md5=answer.md5)
        self.event(
            EventType.ncmec_file_uploaded,
            {
                "ncmec_report_id": self.report.ncmec_report_id,
                "file_id": answer.file_id,
                "sha256": sha256,
                "md5": answer.md5,
                "md5_matches": answer.md5 == blob.md5,
                "request_id": answer.request_id,
            },
            blobs=[sha256],
        )
        self.continue_later()

    def fileinfo(self, entry: dict) -> None:
        sha256 = entry["sha256"]
        try:
            details = file_details_xml(
                file_report(
                    self.session,
                    entry=entry,
                    report_id=self.report.ncmec_report_id,
                    file_id=entry["file_id"],
                )
            )
            report_schema().check(details)
        except ReportInvalid as exc:
            self.fail("fileinfo", f"the file details are not valid: {exc}", sha256=sha256)
        except NcmecRefused as exc:
            self.fail("fileinfo", str(exc), sha256=sha256)
        try:
            answer = self.client("fileinfo").fileinfo(details)
        except NcmecError as error:
            self._refused(error, "fileinfo", sha256=sha256)
            return
        self.noted("fileinfo", answer, sha256=sha256, file_id=entry["file_id"])
        self._update_file(sha256, details_sent=True, details_xml=details.decode("utf-8"))
        self.continue_later()

    def finish(self) -> None:
        try:
            answer = self.client("finish").finish(self.report.ncmec_report_id)
        except NcmecError as error:
            if error.code == ALREADY_FINISHED:
                # A lost earlier /finish went through: NCMEC's refusal confirms it.
                self.noted_error("finish", error)
                self.finished(receipt=None, request_id=error.request_id)
                return
            self._refused(error, "finish")
            return
        self.noted("finish", answer)
        self.finished(receipt=answer.raw, request_id=answer.request_id)

    def _refused(self, error: NcmecError, step: str, *, sha256: str | None = None) -> None:
        if error.code in GONE:
            self.noted_error(step, error, sha256=sha256)
            self.replace(
                f"NCMEC no longer holds report {self.report.ncmec_report_id} ({error})",
                then=NcmecStatus.submitted,
                retract=False,
            )
            return
        self.fail_call(step, error, sha256=sha256)

    def _update_file(self, sha256: str, **changes: Any) -> None:
        self.report.files = [
            {**entry, **changes} if entry["sha256"] == sha256 else entry
            for entry in self.report.files
        ]
        self.report.last_changed_at = self.now
        self.report.last_error = None
        self.session.add(self.report)

    def finished(self, *, receipt: str | None, request_id: str | None) -> None:
        """Record the finished report and move the case on (the finishing transition places the
        preservation hold)."""
        report = self.report
        report.status = NcmecStatus.finished
        report.finished_at = self.now
        report.receipt = receipt
        report.last_error = None
        self.session.add(report)
        included = [entry for entry in report.files if entry["include"]]
        self.event(
            EventType.ncmec_report_finished,
            {
                "ncmec_report_id": report.ncmec_report_id,
                "request_id": request_id,
                "files": [{"sha256": e["sha256"], "file_id": e["file_id"]} for e in included],
                "receipt_sha256": hashlib.sha256(receipt.encode("utf-8")).hexdigest()
                if receipt
                else None,
                # None: the receipt of a lost /finish; NCMEC's 5102 answer confirmed it instead.
                "receipt_kept": receipt is not None,
            },
            blobs=[e["sha256"] for e in included],
        )
        # What was reported is now known material: a later report carrying it goes to child
        # safety whatever category it was sent under.
        confirm_case_hashes(
            self.session, case=self.case, sha256s=[e["sha256"] for e in included], now=self.now
        )
        self.record_finished_on_case()

    def record_finished_on_case(self) -> None:
        if self.case.state in self.path.finish.sources:
            transition_case(
                self.session,
                case=self.case,
                transition=self.path.finish.name,
                actor=self.actor,
                fields={"ncmec_report_id": self.report.ncmec_report_id},
                now=self.now,
            )

    def replace(self, reason: str, *, then: NcmecStatus, retract: bool = True) -> None:
        """Retract the report at NCMEC (when it may still hold it) and start a new row from the
        same draft: submitted afresh (`then` submitted) or back to the specialist (draft)."""
        report = self.report
        request_id = None
        if retract and report.ncmec_report_id is not None:
            try:
                answer = self.client("retract").retract(report.ncmec_report_id)
                self.noted("retract", answer)
                request_id = answer.request_id
            except NcmecError as error:
                if error.code == ALREADY_FINISHED:
                    self.noted_error("retract", error)
                    self.finished(receipt=None, request_id=error.request_id)
                    return
                if error.code not in GONE:
                    self.fail_call("retract", error)
                self.noted_error("retract", error)
                request_id = error.request_id
        report.status = NcmecStatus.retracted
        report.retracted_at = self.now
        self.session.add(report)
        self.event(
            EventType.ncmec_report_retracted,
            {
                "ncmec_report_id": report.ncmec_report_id,
                "reason": reason,
                "request_id": request_id,
                "next": "resubmitted" if then == NcmecStatus.submitted else "back to the draft",
            },
        )
        successor = NcmecReport(
            case_id=report.case_id,
            status=then,
            incident_type=report.incident_type,
            incident_at=report.incident_at,
            description=report.description,
            additional_info=report.additional_info,
            files=[
                {**entry, "file_id": None, "md5": None, "details_sent": False, "details_xml": None}
                for entry in report.files
            ],
            prepared_by_id=report.prepared_by_id,
            created_at=self.now,
            updated_at=self.now,
        )
        self.session.add(successor)
        self.session.flush()
        if then == NcmecStatus.submitted:
            self.continue_later()


def advance_submission(
    session: Session,
    *,
    case_id: int,
    outbox: Outbox,
    config: Mapping,
    now: datetime | None = None,
) -> None:
    """Take the case's CyberTipline submission one NCMEC call further, record the answer and
    queue the next call; StepFailed (recorded) when the call failed."""
    now = now or utcnow()
    # The case lock orders this run against a specialist sending the case back to drafting.
    case = session.exec(select(Case).where(Case.id == case_id).with_for_update()).one()
    path = reporting_path(case_workflow(session, case))
    report = current_report(session, case=case, lock=True)
    if path is None or report is None or report.status == NcmecStatus.retracted:
        if path is not None and case.state == path.submitted:
            append_event(
                session,
                case=case,
                type=EventType.ncmec_request_failed,
                actor=Actor.system(f"job:{outbox.id}").label,
                payload={"step": "submit", "message": "no CyberTipline report was prepared"},
            )
            raise StepFailed("no CyberTipline report was prepared for this case")
        return
    run = _Run(session, case=case, path=path, report=report, outbox=outbox, config=config, now=now)
    if report.status == NcmecStatus.finished:
        run.record_finished_on_case()  # a no-op unless a lost run left the case behind
        return
    if case.state != path.submitted:
        if report.status == NcmecStatus.submitted:
            _withdraw(run)
        return
    if report.report_xml is None:
        run.freeze()  # a draft submitted from the case page, or a row submitted afresh
    unknown = run.outcome_unknown()
    step, entry = _next_step(report)
    if report.ncmec_report_id is not None and step != "finish":
        deadline = deletion_at(report)
        if now >= deadline - RETRACT_MARGIN:
            run.replace(
                f"unfinished close to NCMEC's deletion at {deadline:%Y-%m-%d %H:%M} UTC",
                then=NcmecStatus.submitted,
            )
            return
        if unknown and step in ("upload", "fileinfo"):
            run.replace(
                f"the outcome of /{step} is unknown: a worker stopped during the call",
                then=NcmecStatus.submitted,
            )
            return
        if _corrupted(session, report):
            run.replace(
                "NCMEC received a file whose MD5 differs from the evidence",
                then=NcmecStatus.submitted,
            )
            return
    match step:
        case "submit":
            run.submit(after_unknown=unknown)
        case "upload":
            run.upload(entry)
        case "fileinfo":
            run.fileinfo(entry)
        case "finish":
            run.finish()


def _withdraw(run: _Run) -> None:
    """The case went back to drafting while its report was being submitted: retract what NCMEC
    may hold, and give the specialist the draft back."""
    report = run.report
    if report.ncmec_report_id is None:
        report.status = NcmecStatus.draft
        report.report_xml = None
        run.session.add(report)
        return
    run.replace("the case was sent back to drafting", then=NcmecStatus.draft)


def _corrupted(session: Session, report: NcmecReport) -> bool:
    """Whether NCMEC answered an upload with an MD5 other than the evidence's own."""
    for entry in report.files:
        if entry["include"] and entry["md5"] is not None:
            blob = session.get(Blob, entry["sha256"])
            if blob is not None and blob.md5 != entry["md5"]:
                return True
    return False


def requeue_stalled(session: Session, *, now: datetime | None = None) -> int:
    """Queue a run for every opened, unfinished report close to NCMEC's deletion with no run
    queued (its job failed for good, or the worker was down): the run retracts and resubmits it.
    Returns how many were queued."""
    now = now or utcnow()
    queued = set(
        session.exec(
            select(Outbox.case_id).where(Outbox.job == SUBMIT_JOB, col(Outbox.status).in_(OPEN_JOB))
        )
    )
    stalled = session.exec(
        select(NcmecReport).where(
            NcmecReport.status == NcmecStatus.submitted,
            col(NcmecReport.ncmec_report_id).is_not(None),
        )
    ).all()
    count = 0
    for report in stalled:
        if report.case_id in queued or now < deletion_at(report) - RETRACT_MARGIN:
            continue
        enqueue_job(
            session, job=SUBMIT_JOB, args={"case_id": report.case_id}, case_id=report.case_id
        )
        queued.add(report.case_id)
        count += 1
    return count


def queue_submission(
    session: Session,
    *,
    case: Case,
    config: Mapping,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> str:
    """Queue the case's prepared report (`ncmec submit`): submit a draft as `actor` (a specialist
    holding the claim), or queue another run of a submission already under way. Says which."""
    path = reporting_path(case_workflow(session, case))
    report = current_report(session, case=case)
    if path is None or report is None:
        raise NcmecRefused(f"{case.reference} has no prepared CyberTipline report")
    if report.status == NcmecStatus.finished:
        raise NcmecRefused(f"the report of {case.reference} is already finished")
    if case.state == path.submitted:
        queued = session.exec(
            select(Outbox.id).where(
                Outbox.job == SUBMIT_JOB,
                Outbox.case_id == case.id,
                col(Outbox.status).in_(OPEN_JOB),
            )
        ).first()
        if queued is not None:
            return f"a submission run is already queued (job {queued})"
        enqueue_job(session, job=SUBMIT_JOB, args={"case_id": case.id}, case_id=case.id)
        return "submission queued"
    if actor is None:
        raise NcmecRefused(
            "the draft is submitted by a specialist: give --as with the email of the "
            "child-safety specialist who holds the case"
        )
    submit_draft(session, case=case, actor=actor, config=config, now=now)
    return "draft checked and submitted"
