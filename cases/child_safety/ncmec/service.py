"""A case's CyberTipline report before it leaves: the specialist prepares a draft from the case,
edits it, and submits it; and what the case page and the draft page show of it.

The draft is an `NcmecReport` row (status `draft`). Submitting checks it against NCMEC's schema
and rules, freezes it (status `submitted`, the XML as it will be sent) and fires the workflow's
submitting transition, which queues the submission job (`cases.child_safety.ncmec.submission`).
The workflow is data, so the states involved are found from it: the submitting transition is the
staff transition that runs `submit_ncmec_report`, the finishing one the system transition guarded
by `ncmec_report_finished`.
"""

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlmodel import Session, col, select

from cases.accounts.access import Viewer, sees_restricted
from cases.child_safety.ncmec.builder import (
    INCIDENT_TYPES,
    REPORTED,
    Chat,
    FileReport,
    IncidentReport,
    ReportedPerson,
    Reporter,
    ReportSchema,
    WebPage,
    file_details_xml,
    is_web_url,
    load_schema,
    report_xml,
)
from cases.child_safety.ncmec.client import NcmecConfigError, NcmecError, client_from_config
from cases.core.security import has_permission, require_permission
from cases.core.sqltypes import utcnow
from cases.enums import EventType, NcmecStatus, Permission, ReportSource, SubjectKind
from cases.evidence.service import list_evidence
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import case_workflow, transition_case
from cases.models import Case, EvidenceView, NcmecReport, Report, Subject, User
from cases.trail.models import Blob
from cases.trail.store import append_event
from workflows import Transition, Workflow, WorkflowKind
from workflows.model import NCMEC_REPORT_FINISHED

SUBMIT_JOB = "submit_ncmec_report"
SCHEMA_MAX_AGE = timedelta(days=1)
# NCMEC deletes an unfinished report 24 h after it was opened or 1 h after its last change,
# whichever is later.
DELETION_AFTER_OPENING = timedelta(hours=24)
DELETION_AFTER_CHANGE = timedelta(hours=1)
MAX_DESCRIPTION = 20_000
MAX_ADDITIONAL_INFO = 10_000
# The incident type a policy clause suggests; the specialist confirms or changes it.
CLAUSE_INCIDENT_TYPES = {
    "minors.csam": INCIDENT_TYPES[0],
    "minors.grooming": "Online Enticement of Children for Sexual Acts",
    "minors.age_inappropriate_content": "Unsolicited Obscene Material Sent to a Child",
}
# Subjects that are people (or their keys and apps) the platform can identify to NCMEC.
PERSON_KINDS = (SubjectKind.account, SubjectKind.safety_id, SubjectKind.api_key, SubjectKind.app)
STATUS_LABELS = {
    NcmecStatus.draft: "Draft",
    NcmecStatus.submitted: "Being submitted",
    NcmecStatus.finished: "Finished: received by NCMEC",
    NcmecStatus.retracted: "Retracted",
}


class NcmecRefused(ValueError):
    """A draft action that is not possible now; the message says why, fit to show."""


@dataclass(frozen=True)
class ReportingPath:
    """Where reporting sits in a child-safety workflow."""

    submit: Transition  # the staff transition that queues the submission job
    finish: Transition  # the system transition a finished report fires

    @property
    def drafting(self) -> tuple[str, ...]:
        """The states a draft is prepared, edited and submitted in."""
        return self.submit.sources

    @property
    def submitted(self) -> str:
        return self.submit.to


def reporting_path(workflow: Workflow) -> ReportingPath | None:
    """The submitting and finishing transitions of `workflow`; None for a workflow that does not
    report to NCMEC."""
    if workflow.kind != WorkflowKind.child_safety:
        return None
    submit = next(
        (t for t in workflow.transitions if SUBMIT_JOB in t.jobs and not t.system_only), None
    )
    if submit is None:
        return None
    finish = next(
        (
            t
            for t in workflow.transitions
            if NCMEC_REPORT_FINISHED in t.guards and t.system_only and submit.to in t.sources
        ),
        None,
    )
    return None if finish is None else ReportingPath(submit=submit, finish=finish)


@dataclass(frozen=True)
class DraftFile:
    """How one evidence file goes into the report."""

    sha256: str
    include: bool
    relevance: str = REPORTED
    classification: str | None = None
    annotations: tuple[str, ...] = ()


@dataclass(frozen=True)
class DraftChanges:
    """What the specialist sets on the draft page."""

    incident_type: str
    incident_at: datetime
    description: str
    additional_info: str | None
    files: tuple[DraftFile, ...]


def reports_of(session: Session, *, case: Case) -> list[NcmecReport]:
    """Every CyberTipline report row of `case`, oldest first (retracted ones, then the current)."""
    return list(
        session.exec(
            select(NcmecReport).where(NcmecReport.case_id == case.id).order_by(col(NcmecReport.id))
        )
    )


def current_report(session: Session, *, case: Case, lock: bool = False) -> NcmecReport | None:
    """The case's latest report row: the draft, the submission under way, or the finished one."""
    query = (
        select(NcmecReport)
        .where(NcmecReport.case_id == case.id)
        .order_by(col(NcmecReport.id).desc())
        .limit(1)
    )
    return session.exec(query.with_for_update() if lock else query).first()


def deletion_at(report: NcmecReport) -> datetime | None:
    """When NCMEC deletes the opened, unfinished report if nothing more happens to it."""
    if report.status != NcmecStatus.submitted or report.opened_at is None:
        return None
    changed = report.last_changed_at or report.opened_at
    return max(report.opened_at + DELETION_AFTER_OPENING, changed + DELETION_AFTER_CHANGE)


def _require_specialist(actor: Actor) -> User:
    if actor.user is None:
        raise NcmecRefused("only a child-safety specialist prepares a CyberTipline report")
    require_permission(actor.user.role, Permission.work_restricted)
    return actor.user


def _path(session: Session, case: Case) -> ReportingPath:
    path = reporting_path(case_workflow(session, case))
    if path is None:
        raise NcmecRefused(f"{case.reference} is not a case reported to NCMEC")
    return path


def _require_claim(case: Case, user: User) -> None:
    if case.assignee_id != user.id:
        raise NcmecRefused("claim the case first: only its assignee works the report")


def _excerpt(report: Report) -> str | None:
    """The conversation excerpt a detection carried (`content.excerpt` of its body, verbatim)."""
    if report.source != ReportSource.classifier:
        return None
    try:
        content = json.loads(report.raw_payload).get("content")
    except (ValueError, AttributeError):
        return None
    excerpt = content.get("excerpt") if isinstance(content, dict) else None
    if not isinstance(excerpt, str):
        return None
    return excerpt.strip() or None


def _case_reports(session: Session, case: Case) -> list[Report]:
    return list(
        session.exec(select(Report).where(Report.case_id == case.id).order_by(col(Report.id)))
    )


def _description(case: Case, reports: Sequence[Report]) -> str:
    """A first description from the reports: what each says, with any conversation excerpt, so
    that a text-only report (grooming in an AI chat) carries the words themselves."""
    lines = [f"Docket case {case.reference}: {len(reports)} report(s)."]
    for number, report in enumerate(reports, start=1):
        what = report.source.replace("_", " ")
        lines.append(f"Report {number} ({what}, received {report.received_at:%Y-%m-%d %H:%M} UTC):")
        if report.explanation:
            lines.append(report.explanation.strip())
        if excerpt := _excerpt(report):
            lines.append(f"Conversation excerpt: {excerpt}")
        if report.location:
            lines.append(f"Location: {report.location}")
    return "\n".join(lines)[:MAX_DESCRIPTION]


def _draft_files(
    session: Session,
    case: Case,
    viewer: User,
    chosen: Mapping[str, DraftFile],
    previous: Sequence[Mapping] | None,
) -> list[dict]:
    """The case's evidence as draft file entries, in the order it was added: each file as the
    specialist set it (`chosen`), else as the draft had it (`previous`; None for a new draft,
    which includes every file). A file added to the case after the draft was made starts
    excluded."""
    before = {entry["sha256"]: entry for entry in previous or ()}
    entries = []
    for item in list_evidence(session, case=case, viewer=viewer):
        sha256 = item.blob.sha256
        setting = chosen.get(sha256) or _setting(before.get(sha256), include=previous is None)
        entries.append(
            {
                "sha256": sha256,
                "filename": item.filename,
                "media_type": item.blob.media_type,
                "include": setting.include,
                "relevance": setting.relevance,
                "classification": setting.classification,
                "annotations": list(setting.annotations),
                # Filled in by the submission: NCMEC's file id, its MD5, the details as sent.
                "file_id": None,
                "md5": None,
                "details_sent": False,
                "details_xml": None,
            }
        )
    return entries


def _setting(entry: Mapping | None, *, include: bool) -> DraftFile:
    if entry is None:
        return DraftFile(sha256="", include=include)
    return DraftFile(
        sha256=entry["sha256"],
        include=entry["include"],
        relevance=entry["relevance"],
        classification=entry["classification"],
        annotations=tuple(entry["annotations"]),
    )


def _into_drafting(session: Session, case: Case, path: ReportingPath) -> Transition | None:
    """The staff transition that takes the case from its state into drafting, if any."""
    return next(
        (
            t
            for t in case_workflow(session, case).transitions
            if case.state in t.sources and t.to in path.drafting and not t.system_only
        ),
        None,
    )


def prepare_draft(
    session: Session, *, case: Case, actor: Actor, note: str, now: datetime | None = None
) -> NcmecReport:
    """Start the case's CyberTipline report from what the case holds, moving the case into its
    drafting state (with `note`) if it is not there yet."""
    now = now or utcnow()
    user = _require_specialist(actor)
    path = _path(session, case)
    existing = current_report(session, case=case)
    if existing is not None and existing.status != NcmecStatus.retracted:
        raise NcmecRefused(f"this case already has a report ({STATUS_LABELS[existing.status]})")
    if case.state not in path.drafting:
        into_drafting = _into_drafting(session, case, path)
        if into_drafting is None:
            raise NcmecRefused("a report can be prepared only while the case is being assessed")
        transition_case(
            session, case=case, transition=into_drafting.name, actor=actor, fields={"note": note}
        )
    _require_claim(case, user)
    reports = _case_reports(session, case)
    first_seen = min((r.occurred_at or r.received_at for r in reports), default=case.opened_at)
    draft = NcmecReport(
        case_id=case.id,
        status=NcmecStatus.draft,
        incident_type=CLAUSE_INCIDENT_TYPES.get(case.policy_clause or ""),
        incident_at=min(first_seen, now),
        description=_description(case, reports),
        files=_draft_files(session, case, user, {}, None),
        prepared_by_id=user.id,
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    session.flush()
    _record_draft(session, case=case, draft=draft, actor=actor, what="prepared", note=note)
    return draft


def _record_draft(
    session: Session, *, case: Case, draft: NcmecReport, actor: Actor, what: str, note: str = ""
) -> None:
    append_event(
        session,
        case=case,
        type=EventType.ncmec_report_drafted,
        actor=actor.label,
        payload={
            "draft": draft.id,
            "what": what,
            "note": note,
            "incident_type": draft.incident_type,
            "incident_at": draft.incident_at.isoformat() if draft.incident_at else None,
            "description": draft.description,
            "additional_info": draft.additional_info,
            "files": [
                {
                    k: f[k]
                    for k in ("sha256", "include", "relevance", "classification", "annotations")
                }
                for f in draft.files
            ],
        },
        blobs=[f["sha256"] for f in draft.files if f["include"]],
    )


def _editable(session: Session, case: Case, user: User) -> NcmecReport:
    path = _path(session, case)
    draft = current_report(session, case=case, lock=True)
    if draft is None or draft.status != NcmecStatus.draft:
        raise NcmecRefused("there is no draft to change: prepare one first")
    if case.state not in path.drafting:
        raise NcmecRefused("the draft can be changed only while the case is in its drafting state")
    _require_claim(case, user)
    return draft


def update_draft(
    session: Session,
    *,
    case: Case,
    actor: Actor,
    changes: DraftChanges,
    now: datetime | None = None,
) -> NcmecReport:
    """Apply the specialist's edits to the draft and record them on the trail."""
    now = now or utcnow()
    user = _require_specialist(actor)
    draft = _editable(session, case, user)
    if changes.incident_type not in INCIDENT_TYPES:
        raise NcmecRefused("choose one of NCMEC's incident types")
    if changes.incident_at.tzinfo is None or changes.incident_at > now:
        raise NcmecRefused("the incident time must be in the past, with its offset")
    chosen = {f.sha256: f for f in changes.files}
    evidence = {item.blob.sha256 for item in list_evidence(session, case=case, viewer=user)}
    if not set(chosen) <= evidence:
        raise NcmecRefused("a file that is not evidence of this case cannot be reported")
    draft.incident_type = changes.incident_type
    draft.incident_at = changes.incident_at
    draft.description = changes.description[:MAX_DESCRIPTION]
    draft.additional_info = (changes.additional_info or "")[:MAX_ADDITIONAL_INFO] or None
    draft.files = _draft_files(session, case, user, chosen, draft.files)
    draft.updated_at = now
    session.add(draft)
    _record_draft(session, case=case, draft=draft, actor=actor, what="edited")
    return draft


def reporter_from_config(config: Mapping) -> Reporter:
    return Reporter(
        email=config.get("NCMEC_REPORTER_EMAIL"),
        first_name=config.get("NCMEC_REPORTER_FIRST_NAME"),
        last_name=config.get("NCMEC_REPORTER_LAST_NAME"),
        phone=config.get("NCMEC_REPORTER_PHONE"),
        company=config.get("NCMEC_ESP_NAME"),
    )


def incident_report(
    session: Session, *, case: Case, report: NcmecReport, config: Mapping
) -> IncidentReport:
    """The `<report>` content of `report`: the draft's fields, the reporter from the settings, the
    reported person from the subject, and the internet details from the case's reports."""
    product = config.get("NCMEC_ESP_NAME") or None
    internet: list[WebPage | Chat] = []
    for item in _case_reports(session, case):
        excerpt = _excerpt(item)
        if item.location and is_web_url(item.location):
            internet.append(
                WebPage(urls=(item.location.strip(),), additional_info=item.explanation)
            )
        if excerpt or item.content_ref:
            reference = f"Content reference: {item.content_ref}" if item.content_ref else None
            internet.append(Chat(client=product, content=excerpt, additional_info=reference))
        elif item.explanation and not (item.location and is_web_url(item.location)):
            where = f"Location given by the reporter: {item.location}" if item.location else None
            internet.append(Chat(client=product, content=item.explanation, additional_info=where))
    subject = session.get(Subject, case.subject_id)
    person = None
    about = None
    if subject.kind in PERSON_KINDS:
        person = ReportedPerson(
            esp_identifier=subject.external_id,
            display_name=subject.display,
            email=subject.contact_email,
            service=product,
            additional_info=f"Identifier kind: {subject.kind.replace('_', ' ')}",
        )
    else:
        about = f"The report concerns a {subject.kind} with the identifier {subject.external_id}."
    info = "\n\n".join(p for p in (report.description, report.additional_info, about) if p)
    return IncidentReport(
        incident_type=report.incident_type or "",
        incident_at=report.incident_at,
        reporter=reporter_from_config(config),
        platform=product,
        internet=tuple(dict.fromkeys(internet)),
        person=person,
        additional_info=info or None,
    )


def viewed_by_esp(session: Session, sha256: str) -> bool:
    """Whether a person at the operator opened the file: only a recorded view makes it true."""
    return (
        session.exec(select(EvidenceView.id).where(EvidenceView.blob_sha256 == sha256)).first()
        is not None
    )


def file_report(session: Session, *, entry: Mapping, report_id: str, file_id: str) -> FileReport:
    """The `<fileDetails>` content of one included file."""
    blob = session.get(Blob, entry["sha256"])
    return FileReport(
        report_id=report_id,
        file_id=file_id,
        original_name=entry.get("filename"),
        viewed_by_esp=viewed_by_esp(session, entry["sha256"]),
        relevance=entry.get("relevance") or REPORTED,
        annotations=tuple(entry.get("annotations") or ()),
        classification=entry.get("classification") or None,
        hashes={"MD5": blob.md5, "SHA1": blob.sha1, "SHA256": blob.sha256},
    )


def report_schema() -> ReportSchema:
    """NCMEC's schema: the file NCMEC_SCHEMA_PATH names, else the endpoint's `GET /xsd`, kept in
    the instance folder for a day (a stale copy is used while the endpoint cannot be reached)."""
    config = current_app.config
    if config.get("NCMEC_SCHEMA_PATH"):
        return load_schema(Path(config["NCMEC_SCHEMA_PATH"]))
    cache = Path(current_app.instance_path) / "ncmec" / "cybertipline-report.xsd"
    age = utcnow().timestamp() - cache.stat().st_mtime if cache.exists() else None
    if age is None or age > SCHEMA_MAX_AGE.total_seconds():
        try:
            body = client_from_config(config).schema()
        except (NcmecError, NcmecConfigError) as exc:
            if age is None:
                raise NcmecRefused(f"NCMEC's report schema is not available: {exc}") from exc
        else:
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(".part")
            partial.write_bytes(body)
            os.replace(partial, cache)
    return load_schema(cache)


def checked_report_xml(
    session: Session, *, case: Case, report: NcmecReport, config: Mapping, now: datetime
) -> bytes:
    """The report's XML once it passes NCMEC's rules and schema, its included files' details
    checked as well (with placeholder ids): ReportInvalid otherwise, before anything is sent."""
    schema = report_schema()
    document = report_xml(
        incident_report(session, case=case, report=report, config=config), now=now
    )
    schema.check(document)
    for entry in report.files:
        if entry["include"]:
            schema.check(
                file_details_xml(file_report(session, entry=entry, report_id="0", file_id="0"))
            )
    return document


def submit_draft(
    session: Session, *, case: Case, actor: Actor, config: Mapping, now: datetime | None = None
) -> NcmecReport:
    """Check the draft against NCMEC's rules and schema, freeze it and fire the submitting
    transition (which queues the submission). ReportInvalid or NcmecRefused change nothing."""
    now = now or utcnow()
    user = _require_specialist(actor)
    draft = _editable(session, case, user)
    document = checked_report_xml(session, case=case, report=draft, config=config, now=now)
    transition_case(session, case=case, transition=_path(session, case).submit.name, actor=actor)
    draft.status = NcmecStatus.submitted
    draft.report_xml = document.decode("utf-8")
    draft.updated_at = now
    session.add(draft)
    return draft


@dataclass(frozen=True)
class ReportPanel:
    """The CyberTipline report as the case page and the draft page show it."""

    case: Case
    report: NcmecReport | None
    earlier: list[NcmecReport]
    may_prepare: bool
    may_edit: bool
    deletion_at: datetime | None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.report.status] if self.report else "Not prepared"

    @property
    def files_by_sha256(self) -> dict[str, dict]:
        return {f["sha256"]: f for f in self.report.files} if self.report else {}

    @property
    def included(self) -> list[dict]:
        return [f for f in self.report.files if f["include"]] if self.report else []


def report_panel(
    session: Session, *, case: Case, viewer: Viewer, now: datetime
) -> ReportPanel | None:
    """What `viewer` sees of the case's CyberTipline report; None where the case does not report
    to NCMEC or the viewer is not cleared for it."""
    if not sees_restricted(viewer):
        return None
    path = reporting_path(case_workflow(session, case))
    if path is None:
        return None
    rows = reports_of(session, case=case)
    report = rows[-1] if rows else None
    works = has_permission(viewer.role, Permission.work_restricted)
    reportable = case.state in path.drafting or bool(_into_drafting(session, case, path))
    return ReportPanel(
        case=case,
        report=report,
        earlier=rows[:-1],
        may_prepare=works
        and reportable
        and (report is None or report.status == NcmecStatus.retracted),
        may_edit=works
        and report is not None
        and report.status == NcmecStatus.draft
        and case.state in path.drafting,
        deletion_at=deletion_at(report) if report else None,
    )
