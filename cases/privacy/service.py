"""Access requests (GDPR Art. 15): a subject's request, due one month after receipt, and its
fulfilment by an export of their cases in JSON and as a readable page.

Trail events: a request is an `access_requested` event on every case about the subject (the
request covers all their data, so each case's history shows that it was asked for, whoever may
see the case); fulfilment is an `access_fulfilled` event, with the export's SHA-256, on exactly the
cases the export contains. A restricted case left out of an export made by someone not cleared for
it therefore shows the request and no fulfilment: its history says truthfully that its data was
not handed over.

Redaction: the export names no third party. Reporters are "a reporter" and what they wrote is
withheld (free text can identify its author); staff are "a reviewer"; no other subject's data is
read. As a second line, every known reporter's and staff member's name and email is scrubbed from
the free text that is included (statements of reasons, appeals)."""

import hashlib
import io
import json
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from flask import current_app, render_template
from sqlmodel import Session, col, select

from cases.accounts.access import visible_cases
from cases.core.security import PermissionDenied
from cases.core.sqltypes import utcnow
from cases.enums import (
    AccessRequestStatus,
    AppealChannel,
    AppellantKind,
    EventType,
    ReportSource,
    Role,
    SubjectKind,
)
from cases.intake.moderation import DETECTION_THRESHOLD
from cases.lifecycle.transitions import appeal_window_closes_at
from cases.models import AccessRequest, Appeal, Case, Decision, Report, Subject, User
from cases.notices.wording import APPEAL_OUTCOME_WORDS, RESTRICTION_WORDS, clause_words
from cases.portal.service import public_status
from cases.trail.store import NewEvent, append_events

EXPORT_FORMAT = "docket-access-export/1"
REDACTED = "[redacted]"
A_REPORTER = "a reporter"
A_REVIEWER = "a reviewer"
SUBJECT_ID_MAX = 200  # Subject.external_id
# Shorter names are not scrubbed from free text: "Al" would also be cut out of "Also".
MIN_SCRUB_LENGTH = 3
LIST_LIMIT = 200
RECENTLY_FULFILLED = 20
# Leads and admins answer access requests: handing a person's record out of the system is a
# disclosure decision for someone accountable across cases. Reviewers work single cases and do
# not hold `export_evidence`; auditors read the list and change nothing.
MANAGING_ROLES = frozenset({Role.admin, Role.lead})
READING_ROLES = MANAGING_ROLES | {Role.auditor}
# PostgreSQL refuses NUL in text, and no platform id contains a control character.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class AccessChannel(StrEnum):
    """Where an access request came in: the affected user's private link, or staff recording it."""

    portal = "portal"
    staff = "staff"


class SubjectNotFound(LookupError):
    """No such subject, or none with a case the viewer may see (indistinguishable on purpose)."""


class RequestClosed(ValueError):
    """The access request was already fulfilled."""


SUBJECT_KIND_WORDS = {
    SubjectKind.account: "an account",
    SubjectKind.safety_id: "an account, known by its safety identifier",
    SubjectKind.api_key: "an API key",
    SubjectKind.app: "an app",
    SubjectKind.conversation: "a conversation",
    SubjectKind.content: "a piece of content",
}
SOURCE_WORDS = {
    ReportSource.user_report: ("a report from a person", A_REPORTER),
    ReportSource.classifier: ("automated detection by a classifier", "an automated classifier"),
    ReportSource.provider_notice: ("a notice from our AI provider", "our AI provider"),
    ReportSource.internal: ("a referral by our staff", A_REVIEWER),
}
CHANNEL_WORDS = {
    AccessChannel.portal: "your private link",
    AccessChannel.staff: "our staff",
}


def answers_requests(user: User) -> bool:
    """Whether `user` may open and fulfil access requests."""
    return user.role in MANAGING_ROLES


def require_request_role(user: User, *, write: bool) -> None:
    """Raise PermissionDenied unless `user` may list access requests (with `write`: open and
    fulfil them)."""
    if not (answers_requests(user) if write else user.role in READING_ROLES):
        doing = "answer" if write else "see"
        raise PermissionDenied(f"the {user.role} role may not {doing} access requests")


def access_request_period() -> timedelta:
    return timedelta(days=int(current_app.config["ACCESS_REQUEST_DAYS"]))


def find_subject(
    session: Session, *, kind: str, external_id: str, viewer: User | None = None
) -> Subject:
    """The subject of `kind` with `external_id`; with a viewer, only one with a case they may
    see, so that the lookup does not reveal subjects known only from restricted cases."""
    external_id = external_id.strip()
    if (
        not external_id
        or len(external_id) > SUBJECT_ID_MAX
        or CONTROL_CHARACTERS.search(external_id)
    ):
        raise SubjectNotFound(f"no {kind} with id {external_id!r}")
    statement = select(Subject).where(Subject.kind == kind, Subject.external_id == external_id)
    if viewer is not None:
        seen = visible_cases(viewer, select(Case.id).where(Case.subject_id == Subject.id))
        statement = statement.where(seen.exists())
    subject = session.exec(statement).first()
    if subject is None:
        raise SubjectNotFound(f"no {kind} with id {external_id!r} in cases you may see")
    return subject


def _lock(session: Session, model, row_id: int):
    # PostgreSQL: queue concurrent requesters on the row (SQLite's BEGIN IMMEDIATE already has).
    return session.exec(
        select(model)
        .where(model.id == row_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _subject_cases(session: Session, subject: Subject, viewer: User | None) -> list[Case]:
    statement = select(Case).where(Case.subject_id == subject.id)
    if viewer is not None:
        statement = visible_cases(viewer, statement)
    return list(session.exec(statement.order_by(Case.opened_at, Case.id)))


def open_request_for(session: Session, *, subject: Subject) -> AccessRequest | None:
    """The subject's open access request, if any."""
    return session.exec(
        select(AccessRequest).where(
            AccessRequest.subject_id == subject.id,
            AccessRequest.status == AccessRequestStatus.open,
        )
    ).first()


def request_access(
    session: Session,
    *,
    subject: Subject,
    case: Case | None,
    channel: str,
    requested_by: str,
    now: datetime | None = None,
) -> AccessRequest:
    """Record `subject`'s access request, due ACCESS_REQUEST_DAYS after receipt; while one is open
    for them, return that one. `requested_by` is the trail actor (`system:portal`, `user:ID`)."""
    channel = AccessChannel(channel)
    if case is not None and case.subject_id != subject.id:
        raise ValueError(f"case {case.reference} is not about this subject")
    _lock(session, Subject, subject.id)
    existing = open_request_for(session, subject=subject)
    if existing is not None:
        return existing
    now = now or utcnow()
    request = AccessRequest(
        subject_id=subject.id,
        case_id=case.id if case is not None else None,
        channel=channel,
        requested_by=requested_by,
        received_at=now,
        due_at=now + access_request_period(),
        status=AccessRequestStatus.open,
    )
    session.add(request)
    session.flush()
    payload = {
        "request_id": request.id,
        "channel": channel.value,
        "received_at": now.isoformat(),
        "due_at": request.due_at.isoformat(),
        "through_case": case.reference if case is not None else None,
    }
    events = [
        NewEvent(case=c, type=EventType.access_requested, actor=requested_by, payload=payload)
        for c in _subject_cases(session, subject, viewer=None)
    ]
    append_events(session, events, at=now)
    return request


def staff_request(
    session: Session, *, staff: User, kind: str, external_id: str, now: datetime | None = None
) -> AccessRequest:
    """A staff member records the access request of the subject `kind`/`external_id`."""
    require_request_role(staff, write=True)
    subject = find_subject(session, kind=kind, external_id=external_id, viewer=staff)
    return request_access(
        session,
        subject=subject,
        case=None,
        channel=AccessChannel.staff,
        requested_by=f"user:{staff.id}",
        now=now,
    )


@dataclass(frozen=True)
class RequestRow:
    request: AccessRequest
    subject: Subject
    # The case the request came through, when the viewer may see it.
    through_case: str | None
    # Open: past its due date. Fulfilled: answered after it.
    overdue: bool


@dataclass(frozen=True)
class RequestList:
    open: list[RequestRow]
    fulfilled: list[RequestRow]
    limit: int


def list_requests(session: Session, *, viewer: User, now: datetime | None = None) -> RequestList:
    """Open requests, soonest due first (each flagged when overdue), and the latest fulfilled."""
    require_request_role(viewer, write=False)
    now = now or utcnow()
    waiting = session.exec(
        select(AccessRequest)
        .where(AccessRequest.status == AccessRequestStatus.open)
        .order_by(AccessRequest.due_at, AccessRequest.id)
        .limit(LIST_LIMIT)
    ).all()
    done = session.exec(
        select(AccessRequest)
        .where(AccessRequest.status == AccessRequestStatus.fulfilled)
        .order_by(col(AccessRequest.fulfilled_at).desc(), col(AccessRequest.id).desc())
        .limit(RECENTLY_FULFILLED)
    ).all()
    rows = [*waiting, *done]
    subjects = {
        s.id: s
        for s in session.exec(
            select(Subject).where(col(Subject.id).in_(sorted({r.subject_id for r in rows})))
        )
    }
    case_ids = {r.case_id for r in rows if r.case_id is not None}
    references = {
        c.id: c.reference
        for c in session.exec(
            visible_cases(viewer, select(Case).where(col(Case.id).in_(sorted(case_ids))))
        )
    }

    def row(request: AccessRequest, overdue: bool) -> RequestRow:
        return RequestRow(
            request=request,
            subject=subjects[request.subject_id],
            through_case=references.get(request.case_id),
            overdue=overdue,
        )

    return RequestList(
        open=[row(r, now > r.due_at) for r in waiting],
        fulfilled=[row(r, r.fulfilled_at > r.due_at) for r in done],
        limit=LIST_LIMIT,
    )


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _policy(clause_id: str | None) -> dict[str, str] | None:
    if not clause_id:
        return None
    label, description = clause_words(clause_id)
    return {"clause": clause_id, "name": label, "description": description}


def _percent(basis_points: int) -> str:
    return f"{basis_points / 100:g}%"


def _scrubber(terms: Iterable[str | None], keep: Iterable[str | None]) -> Callable[[str], str]:
    """Replace each term (names, emails) in free text with REDACTED, except the subject's own."""
    kept = {k.strip().casefold() for k in keep if k}
    words = sorted(
        {
            term.strip()
            for term in terms
            if term
            and len(term.strip()) >= MIN_SCRUB_LENGTH
            and term.strip().casefold() not in kept
        },
        key=len,
        reverse=True,
    )
    if not words:
        return lambda text: text
    pattern = re.compile(
        "|".join(rf"(?<!\w){re.escape(word)}(?!\w)" for word in words), re.IGNORECASE
    )
    return lambda text: pattern.sub(REDACTED, text)


def _scrubbed(value: Any, scrub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrubbed(item, scrub) for item in value]
    if isinstance(value, dict):
        return {key: _scrubbed(item, scrub) for key, item in value.items()}
    return value


def _report(report: Report) -> dict[str, Any]:
    how, by = SOURCE_WORDS.get(report.source, (report.source, "someone"))
    if report.source == ReportSource.classifier and report.source_name:
        by = f"{by} ({report.source_name})"
    entry = {
        "received_at": _when(report.received_at),
        "how_it_came_in": how,
        "reported_by": by,
        "policy": _policy(report.policy_clause),
    }
    if report.source != ReportSource.classifier:
        # The author's own words can identify them; the decision's facts say what was found.
        entry["what_they_wrote"] = REDACTED if report.explanation else None
    return entry


def _decision(session: Session, case: Case, decision: Decision) -> dict[str, Any]:
    """Every element of the statement of reasons (DSA Art. 17(3)), in plain keys."""
    return {
        "decided_at": _when(decision.decided_at),
        "decided_by": A_REVIEWER if decision.author_id is not None else "an automated system",
        "restriction": decision.restriction,
        "what_we_did": RESTRICTION_WORDS.get(decision.restriction, decision.restriction),
        "duration_days": decision.duration_days,
        "where_it_applies": list(decision.territorial_scope),
        "policy": _policy(decision.policy_clause),
        "facts_and_circumstances": decision.facts,
        "legal_or_contractual_ground": decision.ground,
        "detected_by_automated_means": decision.automated_detection,
        "decided_by_automated_means": decision.automated_decision,
        "how_to_seek_redress": decision.redress,
        "appeal_possible_until": _when(
            appeal_window_closes_at(session, case=case, decision=decision)
        ),
    }


def _appeal(appeal: Appeal, decisions: dict[int, Decision]) -> dict[str, Any]:
    by_you = appeal.appellant == AppellantKind.affected_user
    decided = decisions.get(appeal.decision_id)
    return {
        "filed_at": _when(appeal.filed_at),
        "filed_by": "you" if by_you else A_REPORTER,
        "filed_through": "a private link"
        if appeal.channel == AppealChannel.portal
        else "our platform",
        "against_decision_of": _when(decided.decided_at) if decided is not None else None,
        # A reporter's grounds, and the reasons answering them, are written by or for them.
        "grounds": appeal.grounds if by_you else REDACTED,
        "attachments": len(appeal.attachments),
        "outcome": appeal.outcome,
        "outcome_in_words": APPEAL_OUTCOME_WORDS.get(appeal.outcome) if appeal.outcome else None,
        "reasons": (appeal.reasons if by_you else REDACTED) if appeal.reasons else None,
        "decided_at": _when(appeal.decided_at),
        "decided_by": A_REVIEWER if appeal.reviewer_id is not None else None,
    }


def _signal(report: Report) -> dict[str, Any]:
    scores = report.moderation_scores or {}
    triggered = {c: s for c, s in scores.items() if s >= DETECTION_THRESHOLD}
    if not triggered and scores:
        top = max(scores, key=scores.get)
        triggered = {top: scores[top]}
    return {
        "received_at": _when(report.received_at),
        "classifier": report.source_name or "a moderation classifier",
        "policy": _policy(report.policy_clause),
        "scores_that_triggered": [
            {"category": category, "score": _percent(score)}
            for category, score in sorted(triggered.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "threshold": _percent(DETECTION_THRESHOLD),
    }


def _automated_involvement(
    reports: list[Report], decisions: list[Decision], appeals: list[Appeal]
) -> dict[str, Any]:
    """Whether and how automated means took part, and where people did (GDPR Art. 15(1)(h), 22)."""
    classified = [r for r in reports if r.source == ReportSource.classifier]
    detected = bool(classified) or any(d.automated_detection for d in decisions)
    if classified:
        detection = (
            "An automated classifier flagged content linked to you. The categories and scores "
            "that led to this case are listed below; a score is the classifier's confidence, and "
            f"a category counts from {_percent(DETECTION_THRESHOLD)} or when the classifier "
            "flags it."
        )
    elif detected:
        detection = "Automated means were used to detect the content this case is about."
    else:
        detection = "No automated detection: this case started from a report or a referral."
    # A decision without an author was taken by the system itself, whatever its flags say.
    unattended = [d for d in decisions if d.author_id is None]
    automated = bool(unattended) or any(d.automated_decision for d in decisions)
    if automated:
        decision = (
            "At least one decision on this case was taken by automated means; each decision "
            "below says whether it was."
        )
    elif decisions:
        decision = "No decision on this case was taken by automated means."
    else:
        decision = "No decision has been taken on this case yet."
    if unattended:
        human = (
            "At least one decision was taken without a person reviewing it first. Appeals are "
            "decided by people: appeal it to have a reviewer look at it."
        )
    elif decisions:
        human = (
            "A reviewer examined the case and took each decision; automated detection was at "
            "most one input and never decided the case by itself."
        )
    else:
        human = "A reviewer will examine the case; automated detection alone never decides it."
    if any(a.decided_at is not None for a in appeals):
        human += " Appeals are decided by a reviewer who did not take the original decision."
    return {
        "detected_automatically": detected,
        "detection": detection,
        "classifier_signals": [_signal(r) for r in classified],
        "decided_automatically": automated,
        "decision": decision,
        "reviewed_by_a_person": bool(decisions) and not unattended,
        "human_review": human,
    }


def _case_entries(session: Session, cases: list[Case]) -> tuple[list[dict[str, Any]], list[Report]]:
    ids = [c.id for c in cases]
    reports, decisions, appeals = defaultdict(list), defaultdict(list), defaultdict(list)
    all_reports = session.exec(
        select(Report).where(col(Report.case_id).in_(ids)).order_by(Report.received_at, Report.id)
    ).all()
    for report in all_reports:
        reports[report.case_id].append(report)
    decision_rows = session.exec(
        select(Decision)
        .where(col(Decision.case_id).in_(ids))
        .order_by(Decision.decided_at, Decision.id)
    ).all()
    for decision in decision_rows:
        decisions[decision.case_id].append(decision)
    for appeal in session.exec(
        select(Appeal).where(col(Appeal.case_id).in_(ids)).order_by(Appeal.filed_at, Appeal.id)
    ):
        appeals[appeal.case_id].append(appeal)
    by_id = {d.id: d for d in decision_rows}
    entries = []
    for case in cases:
        status = public_status(session, case=case)
        entries.append(
            {
                "reference": case.reference,
                "opened_at": _when(case.opened_at),
                "status": status.value,
                "status_explained": status.explanation,
                "policy": _policy(case.policy_clause),
                "reports": [_report(r) for r in reports[case.id]],
                "decisions": [_decision(session, case, d) for d in decisions[case.id]],
                "appeals": [_appeal(a, by_id) for a in appeals[case.id]],
                "automated_involvement": _automated_involvement(
                    reports[case.id], decisions[case.id], appeals[case.id]
                ),
            }
        )
    return entries, list(all_reports)


def _export(
    session: Session,
    *,
    subject: Subject,
    cases: list[Case],
    request: AccessRequest | None,
    now: datetime,
) -> dict[str, Any]:
    entries, reports = _case_entries(session, cases)
    # Every staff member, not only this case's: free text may name a colleague.
    staff = session.exec(select(User.name, User.email)).all()
    scrub = _scrubber(
        [*(r.reporter_name for r in reports), *(r.reporter_email for r in reports)]
        + [term for person in staff for term in person],
        keep=[subject.external_id, subject.display, subject.contact_email],
    )
    return {
        "about_this_export": {
            "title": "Your data in our trust-and-safety cases",
            "legal_basis": "GDPR Article 15: the right of access by the data subject",
            "format": EXPORT_FORMAT,
            "produced_at": now.isoformat(),
            "request": {
                "number": request.id,
                "received_at": _when(request.received_at),
                "answer_due_by": _when(request.due_at),
                "made_through": CHANNEL_WORDS[AccessChannel(request.channel)],
            }
            if request is not None
            else None,
            "what_it_contains": (
                "Every case about you, with the reports that opened it, each decision with its "
                "full statement of reasons (EU Digital Services Act, Article 17), the appeals "
                "against them and their outcomes, and whether automated means took part "
                "(GDPR Article 22)."
            ),
            "what_is_withheld": [
                "Who reported you, how to reach them, and what they wrote, because it can "
                f"identify them: they appear as “{A_REPORTER}” and their words as “{REDACTED}”.",
                f"The names and contact details of our staff: they appear as “{A_REVIEWER}”.",
                "Other people's accounts and data.",
            ],
        },
        "you": {
            "kind": subject.kind,
            "kind_in_words": SUBJECT_KIND_WORDS.get(subject.kind, subject.kind),
            "id": subject.external_id,
            "name": subject.display,
            "email": subject.contact_email,
            "language": subject.contact_locale,
            "first_seen_at": _when(subject.created_at),
        },
        "cases": _scrubbed(entries, scrub),
    }


def build_export(
    session: Session,
    *,
    subject: Subject,
    viewer: User | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The subject's export as plain JSON-ready data: the cases `viewer` may see (all of them
    without a viewer: the operator's CLI)."""
    cases = _subject_cases(session, subject, viewer)
    return _export(session, subject=subject, cases=cases, request=None, now=now or utcnow())


def export_json(export: dict[str, Any]) -> bytes:
    """The export as the UTF-8 JSON document handed over (its SHA-256 is what is recorded)."""
    return (json.dumps(export, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def render_export_html(export: dict[str, Any]) -> str:
    """The export as one self-contained HTML page (inline styles, no links out): readable
    offline, saved as a file."""
    return render_template("privacy/export.html", export=export)


# Download format → media type; the format is also the file's extension.
FILE_TYPES = {
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "zip": "application/zip",
}


@dataclass(frozen=True)
class Fulfilment:
    request: AccessRequest
    export: dict[str, Any]
    json: bytes
    cases: list[Case]

    @property
    def name(self) -> str:
        return f"access-request-{self.request.id}"

    @property
    def html(self) -> str:
        return render_export_html(self.export)

    def file(self, format: str) -> bytes:
        """The export as a file of `format` (see FILE_TYPES): the zip holds both documents."""
        if format == "json":
            return self.json
        if format == "html":
            return self.html.encode("utf-8")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{self.name}.json", self.json)
            archive.writestr(f"{self.name}.html", self.html)
        return buffer.getvalue()


def fulfil_request(
    session: Session,
    *,
    request: AccessRequest,
    actor_label: str,
    fulfilled_by_id: int | None = None,
    now: datetime | None = None,
) -> Fulfilment:
    """Build the export for the request's subject, as staff member `fulfilled_by_id` may see it
    (everything without one: the operator), and record the request fulfilled."""
    viewer = session.get(User, fulfilled_by_id) if fulfilled_by_id is not None else None
    if fulfilled_by_id is not None:
        if viewer is None:
            raise PermissionDenied("no such staff member")
        require_request_role(viewer, write=True)
    request = _lock(session, AccessRequest, request.id)
    if request.status != AccessRequestStatus.open:
        raise RequestClosed(f"access request {request.id} was already fulfilled")
    now = now or utcnow()
    subject = session.get(Subject, request.subject_id)
    cases = _subject_cases(session, subject, viewer)
    export = _export(session, subject=subject, cases=cases, request=request, now=now)
    document = export_json(export)
    digest = hashlib.sha256(document).hexdigest()
    request.status = AccessRequestStatus.fulfilled
    request.fulfilled_at = now
    request.fulfilled_by_id = fulfilled_by_id
    request.export_sha256 = digest
    session.add(request)
    payload = {
        "request_id": request.id,
        "export_sha256": digest,
        "format": EXPORT_FORMAT,
        "cases_in_export": len(cases),
        "due_at": request.due_at.isoformat(),
        "on_time": now <= request.due_at,
    }
    append_events(
        session,
        [
            NewEvent(case=c, type=EventType.access_fulfilled, actor=actor_label, payload=payload)
            for c in cases
        ],
        at=now,
    )
    return Fulfilment(request=request, export=export, json=document, cases=cases)
