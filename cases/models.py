"""Working tables (DESIGN section 3). History lives in the evidence trail (`cases.trail.models`);
these rows are the current state, kept for queries and queues."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cases.core.sqltypes import UTCDateTime, utcnow


def _time(*, nullable: bool = True, index: bool = False, default: bool = False) -> Any:
    return Field(
        default_factory=utcnow if default else (lambda: None),
        sa_type=UTCDateTime(),
        nullable=nullable,
        index=index,
    )


def _json(default_factory=dict) -> Any:
    return Field(default_factory=default_factory, sa_type=sa.JSON, nullable=False)


class User(SQLModel, table=True):
    """A staff account. Appellants and reporters never get one."""

    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=20)
    active: bool = Field(default=True)
    last_login_at: datetime | None = _time()
    created_at: datetime = _time(nullable=False, default=True)

    # Flask-Login's protocol, spelled out so no mixin fights the pydantic model.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class AccountEvent(SQLModel, table=True):
    """Who did what to a staff account (role changes, lockouts, keys). Insert-only."""

    __tablename__ = "account_event"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="staff_user.id")
    type: str = Field(max_length=40)
    detail: dict = _json()
    at: datetime = _time(nullable=False, default=True)


class ApiKey(SQLModel, table=True):
    """An integration's key; only its SHA-256 is stored (keys are random, not passwords)."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True, index=True)
    scopes: list = _json(list)
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = _time(nullable=False, default=True)
    last_used_at: datetime | None = _time()
    revoked_at: datetime | None = _time()


class Subject(SQLModel, table=True):
    """Who or what cases are about: an account, API key, app, conversation or content item."""

    __tablename__ = "subject"
    __table_args__ = (sa.UniqueConstraint("kind", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    external_id: str = Field(max_length=200)
    display: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=320)
    # BCP 47 language tag for messages to this person, as the operator's platform knows it.
    contact_locale: str | None = Field(default=None, max_length=35)
    created_at: datetime = _time(nullable=False, default=True)


class Case(SQLModel, table=True):
    __tablename__ = "case_file"
    # Queue pages read one index range per sort order (keyset pagination, tie-break on id), so a
    # page costs the same on the first and the ten-thousandth page. The third, (queue, priority
    # DESC, id), is created by migration 0003: SQLite cannot reflect a descending column, so
    # autogenerate could neither render nor compare it (cases.migrate.MIGRATION_ONLY_INDEXES).
    # Queue counts read only the counting index (every column their conditions name); "my cases"
    # starts from the assignee.
    __table_args__ = (
        sa.Index("ix_case_file_queue_sla_due", "queue", "sla_due_at", "id"),
        sa.Index("ix_case_file_queue_opened", "queue", "opened_at", "id"),
        sa.Index(
            "ix_case_file_queue_counts",
            "queue",
            "restricted",
            "sla_paused_at",
            "sla_breached",
            "sla_due_at",
            "assignee_id",
            "claim_expires_at",
        ),
        sa.Index("ix_case_file_assignee_queue", "assignee_id", "queue"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=32, unique=True, index=True)
    subject_id: int = Field(foreign_key="subject.id", index=True)
    workflow_name: str = Field(max_length=64)
    workflow_version: int
    workflow_digest: str = Field(max_length=64)
    state: str = Field(max_length=64, index=True)
    stage: str = Field(max_length=20, index=True)
    queue: str | None = Field(default=None, max_length=64)
    policy_clause: str | None = Field(default=None, max_length=64, index=True)
    severity: int = Field(default=3)
    priority: int = Field(default=0, index=True)
    priority_band: str = Field(default="p3", max_length=4)
    # No index of its own: a flag true for a few cases would mislead SQLite's planner (without
    # statistics it takes `restricted = 0` for selective); the counting index covers it.
    restricted: bool = Field(default=False)
    report_count: int = Field(default=0)
    reporter_count: int = Field(default=0)
    assignee_id: int | None = Field(default=None, foreign_key="staff_user.id")
    claim_expires_at: datetime | None = _time()
    sla_due_at: datetime | None = _time(index=True)
    sla_paused_at: datetime | None = _time()
    # Time left on the clock when it paused (the case waits on the end user); resumed from.
    sla_remaining_seconds: int | None = None
    sla_breached: bool = Field(default=False)
    opened_at: datetime = _time(nullable=False, default=True)
    updated_at: datetime = _time(nullable=False, default=True)
    # When the case last entered each stage (DESIGN: timestamps per stage).
    intake_at: datetime | None = _time()
    triage_at: datetime | None = _time()
    enforcement_at: datetime | None = _time()
    appeal_at: datetime | None = _time()
    escalation_at: datetime | None = _time()
    resolved_at: datetime | None = _time()
    erased_at: datetime | None = _time()
    """When its personal data was erased (end of retention, or on request); see the trail."""


class Report(SQLModel, table=True):
    """One intake item, its raw payload kept verbatim with its SHA-256."""

    __tablename__ = "report"
    # One index for a case's reports and for counting its distinct reporters (index-only).
    __table_args__ = (sa.Index("ix_report_case_reporter", "case_id", "reporter_key"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id")
    source: str = Field(max_length=20)
    source_name: str | None = Field(default=None, max_length=120)
    policy_clause: str | None = Field(default=None, max_length=64)
    location: str | None = Field(default=None, max_length=2000)
    explanation: str | None = Field(default=None)
    reporter_name: str | None = Field(default=None, max_length=200)
    reporter_email: str | None = Field(default=None, max_length=320)
    # Who reported, for counting distinct reporters: an email, an integration, or the report.
    reporter_key: str = Field(default="", max_length=400)
    content_ref: str | None = Field(default=None, max_length=400)
    # Moderation scores in basis points (0–10000), by category, for the case page's chart.
    moderation_scores: dict = _json()
    occurred_at: datetime | None = _time()
    good_faith: bool = Field(default=False)
    lacks_notice_contact: bool = Field(default=False)
    raw_payload: str = Field(sa_type=sa.Text)
    payload_sha256: str = Field(max_length=64)
    api_key_id: int | None = Field(default=None, foreign_key="api_key.id")
    received_at: datetime = _time(nullable=False, default=True)


class Decision(SQLModel, table=True):
    """An enforcement or no-action decision with its statement of reasons (DSA Art. 17)."""

    __tablename__ = "decision"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    author_id: int | None = Field(default=None, foreign_key="staff_user.id")
    policy_clause: str = Field(max_length=64)
    restriction: str = Field(max_length=32)
    duration_days: int | None = None
    territorial_scope: list = _json(list)
    automated_detection: bool = Field(default=False)
    automated_decision: bool = Field(default=False)
    facts: str = Field(default="", sa_type=sa.Text)
    ground_kind: str = Field(default="contractual", max_length=12)  # GroundKind
    legal_ground: str | None = Field(default=None, max_length=500)
    """The law named, when the ground is legal (DSA Art. 17(3)(d))."""
    ground: str = Field(default="", sa_type=sa.Text)
    redress: str = Field(default="", sa_type=sa.Text)
    decided_at: datetime = _time(nullable=False, default=True)
    # The transition that made the decision and its trail event, so that a job it enqueued (the
    # enforcement webhook) acts on exactly this decision even after later ones were made.
    transition: str | None = Field(default=None, max_length=64)
    transition_event_id: int | None = Field(default=None, foreign_key="case_event.id", unique=True)
    # When the person it restricts was first told of it (any channel): the appeal window runs
    # from here (DSA Art. 20(1)); until then, from `decided_at`.
    informed_at: datetime | None = _time()


class Appeal(SQLModel, table=True):
    """An appeal against a decision (DSA Art. 20), by the affected user or a reporter."""

    __tablename__ = "appeal"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    decision_id: int = Field(foreign_key="decision.id")
    appellant: str = Field(max_length=20)
    # The reporter's report, when a reporter appeals a decision not to act on it.
    report_id: int | None = Field(default=None, foreign_key="report.id")
    channel: str = Field(default="portal", max_length=12)
    grounds: str = Field(sa_type=sa.Text)
    # SHA-256 of each file the appellant attached (the files are the case's evidence).
    attachments: list = _json(list)
    filed_at: datetime = _time(nullable=False, default=True)
    window_closes_at: datetime = _time(nullable=False)
    reviewer_id: int | None = Field(default=None, foreign_key="staff_user.id")
    outcome: str | None = Field(default=None, max_length=24)
    reasons: str | None = Field(default=None, sa_type=sa.Text)
    # The decision a partial reversal or a reversal put in place of the one under appeal.
    resulting_decision_id: int | None = Field(default=None, foreign_key="decision.id")
    decided_at: datetime | None = _time()


class StatusLink(SQLModel, table=True):
    """A private link's record: its token is signed and carries only this row's id, so a link
    expires with `expires_at` and ends early when revoked."""

    __tablename__ = "status_link"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    holder: str = Field(max_length=20)
    report_id: int | None = Field(default=None, foreign_key="report.id")
    issued_at: datetime = _time(nullable=False, default=True)
    expires_at: datetime = _time(nullable=False)
    revoked_at: datetime | None = _time()
    revoked_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    last_used_at: datetime | None = _time()


class Message(SQLModel, table=True):
    """One notice to one person through one channel, and where its delivery stands."""

    __tablename__ = "message"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    outbox_id: int | None = Field(default=None, foreign_key="outbox.id", index=True)
    kind: str = Field(max_length=24)
    recipient_role: str = Field(max_length=20)
    report_id: int | None = Field(default=None, foreign_key="report.id")
    decision_id: int | None = Field(default=None, foreign_key="decision.id")
    link_id: int | None = Field(default=None, foreign_key="status_link.id")
    channel: str = Field(max_length=12)
    # An email address, or where a webhook went; None when no contact was known.
    recipient: str | None = Field(default=None, max_length=320)
    subject: str = Field(default="", max_length=300)
    template: str = Field(default="", max_length=120)
    status: str = Field(default="pending", max_length=12)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    attempts: int = Field(default=0)
    message_id: str | None = Field(default=None, max_length=200)
    created_at: datetime = _time(nullable=False, default=True)
    sent_at: datetime | None = _time()


class AccessRequest(SQLModel, table=True):
    """A data subject's request for their data (GDPR Art. 15), due within one month."""

    __tablename__ = "access_request"

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", index=True)
    # The case whose private link it came through; None when staff opened it.
    case_id: int | None = Field(default=None, foreign_key="case_file.id")
    channel: str = Field(max_length=12)
    requested_by: str = Field(max_length=80)
    received_at: datetime = _time(nullable=False, default=True)
    due_at: datetime = _time(nullable=False)
    status: str = Field(default="open", max_length=12, index=True)
    fulfilled_at: datetime | None = _time()
    fulfilled_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    # SHA-256 of the JSON export handed over, so what was given can be shown later.
    export_sha256: str | None = Field(default=None, max_length=64)


class Hold(SQLModel, table=True):
    """Legal or preservation hold: erasure skips held cases. Extended, never shortened."""

    __tablename__ = "hold"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    kind: str = Field(max_length=20)
    reason: str = Field(sa_type=sa.Text)
    placed_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    placed_at: datetime = _time(nullable=False, default=True)
    until: datetime = _time(nullable=False)


class NcmecReport(SQLModel, table=True):
    """A CyberTipline report of a case: the specialist's draft, then a resumable submission
    (submit → upload each file → fileinfo → finish), every step's answer kept, and the receipt.

    `status`: draft → submitted (NCMEC gave a report id) → finished (irreversible), or retracted
    (before finish; a new row is then drafted and submitted). `files` lists, per evidence file,
    whether it is included, its classification, and the NCMEC file id once uploaded and whether
    its fileinfo was sent, so a worker that dies between two steps resumes without repeating one.
    """

    __tablename__ = "ncmec_report"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    status: str = Field(default="draft", max_length=20)
    incident_type: str | None = Field(default=None, max_length=120)
    incident_at: datetime | None = _time()
    description: str | None = Field(default=None, sa_type=sa.Text)
    additional_info: str | None = Field(default=None, sa_type=sa.Text)
    files: list = _json(list)
    ncmec_report_id: str | None = Field(default=None, max_length=32)
    opened_at: datetime | None = _time()
    last_changed_at: datetime | None = _time()
    finished_at: datetime | None = _time()
    retracted_at: datetime | None = _time()
    report_xml: str | None = Field(default=None, sa_type=sa.Text)
    # The raw <reportDoneResponse> of /finish: the receipt to keep.
    receipt: str | None = Field(default=None, sa_type=sa.Text)
    # Every call's answer: endpoint, responseCode, responseDescription, Request-ID, at.
    responses: list = _json(list)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    prepared_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = _time(nullable=False, default=True)
    updated_at: datetime = _time(nullable=False, default=True)


class KnownHash(SQLModel, table=True):
    """A hash of a file known to be child sexual abuse material: one confirmed in a child-safety
    case, or imported from a hash list. A report whose file matches goes to child safety."""

    __tablename__ = "known_hash"
    __table_args__ = (sa.UniqueConstraint("algorithm", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    algorithm: str = Field(max_length=10)  # sha256 | md5
    value: str = Field(max_length=64)  # lower-case hex
    source: str = Field(max_length=120)  # "case:<reference>" or "list:<name>"
    case_id: int | None = Field(default=None, foreign_key="case_file.id")
    added_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    added_at: datetime = _time(nullable=False, default=True)


class EvidenceView(SQLModel, table=True):
    """A person opening an evidence file, with why: for chain of custody, a reviewer's daily
    exposure count, and `fileViewedByEsp` in a CyberTipline report. (The trail's
    `evidence_viewed` event is the proof; this row is for queries.)"""

    __tablename__ = "evidence_view"
    __table_args__ = (sa.Index("ix_evidence_view_user_viewed", "user_id", "viewed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id")
    blob_sha256: str = Field(max_length=64, index=True)
    user_id: int = Field(foreign_key="staff_user.id")
    reason: str = Field(sa_type=sa.Text)
    media_type: str = Field(default="", max_length=100)
    viewed_at: datetime = _time(nullable=False, default=True)


class Outbox(SQLModel, table=True):
    """A side effect to run after commit, written in the same transaction as the change."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64)
    queue: str = Field(default="default", max_length=20)
    args: dict = _json()
    case_id: int | None = Field(default=None, foreign_key="case_file.id", index=True)
    status: str = Field(default="pending", max_length=12, index=True)
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=5)
    available_at: datetime = _time(nullable=False, default=True)
    dispatched_at: datetime | None = _time()
    done_at: datetime | None = _time()
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _time(nullable=False, default=True)


class WorkflowDefinition(SQLModel, table=True):
    """Every workflow definition a case has run on, verbatim: in-flight cases keep their version
    when the file changes, because their transitions are checked against this text."""

    __tablename__ = "workflow_definition"

    digest: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=64, index=True)
    version: int
    source: str = Field(sa_type=sa.Text)
    registered_at: datetime = _time(nullable=False, default=True)


class PendingApproval(SQLModel, table=True):
    """A transition that needs a second person: requested by one, fired when another approves."""

    __tablename__ = "pending_approval"
    __table_args__ = (sa.UniqueConstraint("case_id", "transition"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    transition: str = Field(max_length=64)
    requested_by_id: int = Field(foreign_key="staff_user.id")
    fields: dict = _json()
    requested_at: datetime = _time(nullable=False, default=True)


class IdempotentResponse(SQLModel, table=True):
    """The response first given to an API request with an Idempotency-Key, replayed on repeats."""

    __tablename__ = "idempotent_response"
    __table_args__ = (sa.UniqueConstraint("api_key_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    api_key_id: int = Field(foreign_key="api_key.id")
    key: str = Field(max_length=200)
    request_sha256: str = Field(max_length=64)
    status: int
    body: dict = _json()
    created_at: datetime = _time(nullable=False, default=True)


class ProviderInquiry(SQLModel, table=True):
    """A notice or compliance inquiry from the AI provider. It is worked as a case of the
    `provider_inquiry` workflow (its SLA, queue and trail), and answered with a dossier."""

    __tablename__ = "provider_inquiry"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", unique=True)
    provider_reference: str = Field(max_length=120)
    received_at: datetime = _time(nullable=False)
    deadline_at: datetime = _time(nullable=False)
    period_start: datetime = _time(nullable=False)
    period_end: datetime = _time(nullable=False)
    clauses: list = _json(list)
    """Clause ids in question; empty: the whole taxonomy."""
    summary: str = Field(default="", sa_type=sa.Text)
    recorded_by_id: int | None = Field(default=None, foreign_key="staff_user.id")


class DsaStatement(SQLModel, table=True):
    """A restriction decision's statement of reasons as sent to the DSA Transparency Database."""

    __tablename__ = "dsa_statement"

    id: int | None = Field(default=None, primary_key=True)
    decision_id: int = Field(foreign_key="decision.id", unique=True)
    puid: str = Field(max_length=500, unique=True)
    status: str = Field(default="pending", max_length=12)  # DsaSubmissionStatus
    attempts: int = Field(default=0)
    submitted_at: datetime | None = _time()
    last_error: str | None = Field(default=None, sa_type=sa.Text)


class StaffSession(SQLModel, table=True):
    """A signed-in browser session, kept server-side so it can be ended (sign-out, deactivation,
    a role or password change) however long the cookie would otherwise last."""

    __tablename__ = "staff_session"

    id: str = Field(primary_key=True, max_length=64)  # SHA-256 of the token in the cookie
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    created_at: datetime = _time(nullable=False, default=True)
    last_seen_at: datetime = _time(nullable=False, default=True)
    ended_at: datetime | None = _time()
    ended_reason: str | None = Field(default=None, max_length=40)


class LoginAttempt(SQLModel, table=True):
    """One sign-in attempt, for throttling per account and client and per client overall."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        sa.Index("ix_login_attempt_email_client_at", "email", "client", "at"),
        sa.Index("ix_login_attempt_client_at", "client", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)  # as typed, lower-cased: attempts on unknown emails count
    client: str = Field(max_length=64)  # salted hash of the client address
    succeeded: bool = Field(default=False)
    at: datetime = _time(nullable=False, default=True)
