"""Closed sets of names shared by the whole application.

Pure ``StrEnum`` definitions, so any layer (the trail, services, views) can use them. ``Role``,
``Stage`` and ``AppealOutcome`` are part of the workflow language, so they are defined by the
engine (which imports nothing of ``cases``) and re-exported here. A member compares equal to its
string value, so values read from the database, TOML or JSON need no conversion before a
comparison.
"""

from enum import StrEnum

from workflows.model import AppealOutcome as AppealOutcome
from workflows.model import Role as Role
from workflows.model import Stage as Stage


class Permission(StrEnum):
    """What a role may do; the role → permission table lives in `cases.core.security`."""

    view_cases = "view_cases"
    view_restricted = "view_restricted"
    work_cases = "work_cases"
    work_restricted = "work_restricted"
    reassign_cases = "reassign_cases"
    view_audit = "view_audit"
    export_evidence = "export_evidence"
    manage_users = "manage_users"
    manage_api_keys = "manage_api_keys"
    view_jobs = "view_jobs"
    view_transparency = "view_transparency"
    manage_inquiries = "manage_inquiries"


class SlaStatus(StrEnum):
    """Where a case's SLA clock stands (`cases.sla.sla_status`; queues filter on it)."""

    breached = "breached"
    due_soon = "due_soon"
    on_track = "on_track"
    paused = "paused"
    none = "none"


class AccountEventType(StrEnum):
    """What is recorded about staff accounts (who changed whom, and how)."""

    created = "created"
    role_changed = "role_changed"
    login_succeeded = "login_succeeded"
    login_failed = "login_failed"
    locked = "locked"  # recorded before sign-in throttling replaced the account lockout
    deactivated = "deactivated"
    api_key_created = "api_key_created"
    api_key_revoked = "api_key_revoked"
    login_throttled = "login_throttled"
    logged_out = "logged_out"
    password_changed = "password_changed"
    reactivated = "reactivated"
    job_retried = "job_retried"
    trail_verified = "trail_verified"
    dossier_generated = "dossier_generated"


class SessionEndReason(StrEnum):
    """Why a server-side staff session was ended before its lifetime ran out."""

    logged_out = "logged_out"
    replaced = "replaced"  # the same browser signed in again
    deactivated = "deactivated"
    role_changed = "role_changed"
    password_changed = "password_changed"


PROVIDER_INQUIRY_WORKFLOW = "provider_inquiry"
"""The workflow a provider inquiry is worked in (cases about the operator itself): its cases are
counted in no figure (transparency, dossiers)."""


class ApiScope(StrEnum):
    """What an integration's API key may do."""

    detections_write = "detections:write"
    cases_read = "cases:read"
    cases_write = "cases:write"
    appeals_write = "appeals:write"


class SubjectKind(StrEnum):
    """What a case can be about."""

    account = "account"
    safety_id = "safety_id"
    api_key = "api_key"
    app = "app"
    conversation = "conversation"
    content = "content"


class ReportSource(StrEnum):
    """Where an intake item came from."""

    user_report = "user_report"
    classifier = "classifier"
    provider_notice = "provider_notice"
    internal = "internal"


class Restriction(StrEnum):
    """Enforcement outcomes a decision can impose."""

    warn = "warn"
    content_removal = "content_removal"
    feature_restriction = "feature_restriction"
    temporary_suspension = "temporary_suspension"
    termination = "termination"
    api_key_revocation = "api_key_revocation"
    no_action = "no_action"


class AppellantKind(StrEnum):
    """Who may appeal a decision."""

    affected_user = "affected_user"
    reporter = "reporter"


class AppealChannel(StrEnum):
    """Where an appeal was filed: the private page, or the operator's product through the API."""

    portal = "portal"
    api = "api"


class NoticeKind(StrEnum):
    """What a message to a person is about."""

    receipt = "receipt"
    decision_notice = "decision_notice"
    information_request = "information_request"
    outcome = "outcome"
    appeal_received = "appeal_received"
    appeal_outcome = "appeal_outcome"
    access_request = "access_request"


class MessageChannel(StrEnum):
    """How a message reaches its recipient: SMTP, the operator's product (a signed `notice`
    webhook), or the embedded outbox (`.eml` files under instance/mail/, no mail server)."""

    email = "email"
    webhook = "webhook"
    outbox = "outbox"


class MessageStatus(StrEnum):
    """Where a message stands; `not_sent` carries why (no contact, no channel configured)."""

    pending = "pending"
    sent = "sent"
    failed = "failed"
    not_sent = "not_sent"


class AccessRequestStatus(StrEnum):
    """A data subject's access request (GDPR Art. 15): due within a month of receipt."""

    open = "open"
    fulfilled = "fulfilled"


class HoldKind(StrEnum):
    """Why evidence is kept beyond its retention."""

    legal = "legal"
    preservation = "preservation"
    law_enforcement = "law_enforcement"


class NcmecStatus(StrEnum):
    """Where a CyberTipline report stands (`NcmecReport.status`)."""

    draft = "draft"
    submitted = "submitted"
    finished = "finished"
    retracted = "retracted"


class OutboxStatus(StrEnum):
    """Where a side effect stands."""

    pending = "pending"
    dispatched = "dispatched"
    done = "done"
    failed = "failed"


class EventType(StrEnum):
    """The closed vocabulary of the evidence trail: every fact about a case is one of these."""

    intake = "intake"
    report_attached = "report_attached"
    subject_updated = "subject_updated"
    triaged = "triaged"
    claimed = "claimed"
    released = "released"
    reassigned = "reassigned"
    note = "note"
    transition = "transition"
    approval_requested = "approval_requested"
    decision = "decision"
    enforcement_sent = "enforcement_sent"
    notification_sent = "notification_sent"
    link_issued = "link_issued"
    link_used = "link_used"
    link_revoked = "link_revoked"
    appeal_filed = "appeal_filed"
    appeal_decided = "appeal_decided"
    evidence_added = "evidence_added"
    evidence_viewed = "evidence_viewed"
    hold_placed = "hold_placed"
    hold_extended = "hold_extended"
    sla_breached = "sla_breached"
    ncmec_report_drafted = "ncmec_report_drafted"
    ncmec_report_submitted = "ncmec_report_submitted"
    ncmec_file_uploaded = "ncmec_file_uploaded"
    ncmec_request_failed = "ncmec_request_failed"
    ncmec_report_finished = "ncmec_report_finished"
    ncmec_report_retracted = "ncmec_report_retracted"
    hash_matched = "hash_matched"
    exported = "exported"
    access_requested = "access_requested"
    access_fulfilled = "access_fulfilled"
    erased = "erased"
    verified = "verified"
    dsa_statement_submitted = "dsa_statement_submitted"
    inquiry_recorded = "inquiry_recorded"
    dossier_generated = "dossier_generated"


class GroundKind(StrEnum):
    """A decision's ground (DSA Art. 17(3)(d)): the usage policy, or a law named."""

    contractual = "contractual"
    legal = "legal"


class DsaSubmissionStatus(StrEnum):
    """A statement of reasons' submission to the Transparency Database."""

    pending = "pending"
    submitted = "submitted"
    failed = "failed"
