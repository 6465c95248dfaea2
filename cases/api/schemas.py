"""The bodies the API takes and gives, as pydantic models: the one source of both its validation
(cases.api.body.validated) and the schemas of its OpenAPI document (cases.api.openapi).

Request models are strict: a JSON string is never taken for a number, a number for a string or
a boolean, nor a float for a whole number (the trail's canonical JSON holds no floats). Text is
checked for its length and for NUL, which no PostgreSQL text column can hold; blank optional text
is as good as absent. The moderation response is read verbatim: unknown keys and categories are
kept. Response models document what the API answers (tests hold the answers to them)."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    create_model,
)
from pydantic_core import PydanticCustomError

from cases.appeals.service import MAX_GROUNDS
from cases.decisions.service import (
    MAX_DURATION_DAYS,
    MAX_FACTS,
    MAX_GROUND,
    MAX_LEGAL_GROUND,
    MAX_REDRESS,
)
from cases.enums import (
    AppellantKind,
    GroundKind,
    ReportSource,
    Restriction,
    SubjectKind,
)
from cases.intake import moderation
from cases.intake.public_reports import PublicReport
from cases.intake.service import SUBJECT_ID_MAX, SubjectRef
from cases.lifecycle.deployed import definitions
from cases.review.notes import MAX_NOTE
from workflows import ModerationCategory

BATCH_MAX_ITEMS = 500
CLAUSE_ID_MAX = 120
LOCATION_MAX = 2000  # Report.location
EXPLANATION_MAX = 20_000
NCMEC_REPORT_ID_MAX = 64  # as the case page's form takes it
COUNTRY_CODE_MAX, COUNTRIES_MAX = 16, 60
ID_MAX = 2**31  # past any row's id (INTEGER columns): PostgreSQL refuses to compare with it

# Patterns in the Rust regex dialect pydantic validates with (and JSON Schema's), each with the
# message a mismatch gets.
LOCALE = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
SHA256, MD5 = r"^[0-9A-Fa-f]{64}$", r"^[0-9A-Fa-f]{32}$"
RFC3339 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
PATTERN_MESSAGES = {
    LOCALE: "a language tag such as en or pt-BR",
    SHA256: "64 hexadecimal characters",
    MD5: "32 hexadecimal characters",
    RFC3339: "an RFC 3339 date-time with its offset, e.g. 2026-03-01T12:00:00Z",
}


class Request(BaseModel):
    """A request body, or part of one: strict types, unknown keys ignored unless forbidden."""

    model_config = ConfigDict(strict=True, extra="ignore")


class Closed(Request):
    """A part whose every key is declared: an unknown one is refused by its path."""

    model_config = ConfigDict(extra="forbid")


class Verbatim(Request):
    """A part of a provider's document, kept as sent: unknown keys are allowed and kept."""

    model_config = ConfigDict(extra="allow")


class Response(BaseModel):
    """A response body (documentation: the views build the JSON)."""


# --- field types ---------------------------------------------------------------------------------


def _plain(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    if "\x00" in value:
        raise PydanticCustomError("nul", "must not contain NUL characters")
    return value


def _absent_if_empty(value: Any) -> Any:
    return None if value == "" else value


def text(max_length: int) -> Any:
    """Required text: not blank, at most `max_length` characters, no NUL."""
    return Annotated[str, Field(min_length=1, max_length=max_length), AfterValidator(_plain)]


def optional_text(max_length: int, *checks: Any) -> Any:
    """Optional text ("" or null: absent), else as `text`."""
    present = Annotated[str, Field(max_length=max_length), AfterValidator(_plain), *checks]
    return Annotated[present | None, BeforeValidator(_absent_if_empty)]


def _email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PydanticCustomError("email", str(exc)) from None


def _utc(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        raise PydanticCustomError(
            "date_time", "not a valid date-time: {reason}", {"reason": str(exc)}
        ) from None
    except OverflowError:
        # e.g. 0001-01-01T00:00:00+01:00: a valid text whose UTC time is before year 1.
        raise PydanticCustomError(
            "date_time_range", "out of range: the time in UTC must fall in the years 1 to 9999"
        ) from None


def _clause(value: str) -> str:
    try:
        definitions().policy.clause(value)
    except KeyError:
        raise PydanticCustomError(
            "clause", "not a category of the usage policy (the /report form lists them)"
        ) from None
    return value


Email = optional_text(320, AfterValidator(_email))
Timestamp = Annotated[
    str, Field(pattern=RFC3339, json_schema_extra={"format": "date-time"}), AfterValidator(_utc)
]
WholeNumber = Annotated[int, Field(gt=0, lt=ID_MAX)]
DateTimeText = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


# --- detections ----------------------------------------------------------------------------------


class Contact(Closed):
    """How to reach the subject about a decision (the latest detection's contact wins)."""

    email: Email = None
    locale: optional_text(35, Field(pattern=LOCALE)) = None


class Subject(Request):
    """Whom or what the report is about."""

    type: Annotated[SubjectKind, Field(strict=False)]
    id: text(SUBJECT_ID_MAX)
    display: optional_text(200) = None
    contact: Contact | None = None

    def ref(self) -> SubjectRef:
        contact = self.contact
        return SubjectRef(
            kind=self.type,
            external_id=self.id,
            display=self.display,
            contact_email=contact.email if contact else None,
            contact_locale=contact.locale if contact else None,
        )


class Source(Request):
    name: text(120)
    model: optional_text(120) = None


class Content(Request):
    """What was detected; `sha256`/`md5` of the file, when the pipeline has them, are matched
    against known child sexual abuse material before the detection is routed."""

    type: text(64)
    ref: optional_text(400) = None
    excerpt: optional_text(EXPLANATION_MAX) = None
    sha256: Annotated[str, Field(pattern=SHA256)] | None = None
    md5: Annotated[str, Field(pattern=MD5)] | None = None


def _per_category(name: str, value: Any, doc: str) -> type[Verbatim]:
    """A model with one optional field per known moderation category (categories this code
    does not know yet are kept as they are)."""
    fields = {c.name: (value | None, Field(None, alias=c.value)) for c in ModerationCategory}
    return create_model(name, __base__=Verbatim, __doc__=doc, **fields)


ModerationFlags = _per_category("ModerationFlags", bool, "Whether each category is flagged.")
ModerationScores = _per_category(
    "ModerationScores", Annotated[float, Field(ge=0, le=1)], "Each category's score, 0 to 1."
)


class ModerationResult(Verbatim):
    flagged: bool = Field(False, description="Missing: whether any category is flagged")
    categories: ModerationFlags
    category_scores: ModerationScores


class ModerationResponse(Verbatim):
    """An OpenAI moderation response (`POST /v1/moderations`), verbatim; its first result is
    the detection's. The intake service's reader (cases.intake.moderation) validates it, and
    keeps what it does not know; this model describes what that reader takes (tests hold the
    two to each other), so the response is read once."""

    results: list[ModerationResult] = Field(min_length=1)


def _moderation(value: Any) -> moderation.ModerationResult:
    try:
        return moderation.parse_moderation(value, path="")
    except moderation.ModerationFormatError as exc:
        # `at`: where in the response, after the field's own path.
        raise PydanticCustomError("moderation", str(exc), {"at": exc.field}) from None


class Detection(Request):
    """A detected violation, as an operator's pipeline posts it."""

    subject: Subject
    source: Source
    # Read into the intake service's `ModerationResult`, documented as the response it reads.
    moderation: Annotated[
        Any, PlainValidator(_moderation, json_schema_input_type=ModerationResponse)
    ]
    content: Content
    occurred_at: Timestamp
    metadata: dict[str, Any] | None = None


class DetectionBatch(Request):
    """Detections in one request; each is validated, and fails, on its own."""

    items: list[Detection] = Field(min_length=1, max_length=BATCH_MAX_ITEMS)


# --- public notices ------------------------------------------------------------------------------


class Notice(Request):
    """A notice of misuse from the public (DSA Art. 16). `location` (where it happened) and
    `good_faith: true` are required by the intake service, in its own words."""

    category: Annotated[text(CLAUSE_ID_MAX), AfterValidator(_clause)]
    location: optional_text(LOCATION_MAX) = None
    explanation: text(EXPLANATION_MAX)
    reporter_name: optional_text(200) = None
    reporter_email: Email = None
    good_faith: bool = False
    subject: Subject | None = None

    def report(self) -> PublicReport:
        return PublicReport(
            category=self.category,
            explanation=self.explanation,
            url=self.location,
            reporter_name=self.reporter_name,
            reporter_email=self.reporter_email,
            good_faith=self.good_faith,
            named_subject=self.subject.ref() if self.subject else None,
        )


# --- appeals -------------------------------------------------------------------------------------


class Appellant(Request):
    kind: Annotated[AppellantKind, Field(strict=False)]
    report_id: WholeNumber | None = Field(
        None, description="A reporter's appeal: the id of their report (the affected user: none)"
    )


class AppealRequest(Closed):
    """An appeal filed in the operator's product, relayed."""

    appellant: Appellant
    grounds: text(MAX_GROUNDS)
    received_at: Timestamp | None = Field(
        None, description="When the person filed it (the appeal window is checked against it)"
    )


# --- transitions ---------------------------------------------------------------------------------


class StatementOfReasons(Closed):
    """The DSA Art. 17(3) statement of reasons sent with a decision."""

    facts: text(MAX_FACTS)
    automated_detection: bool
    automated_decision: bool
    ground: text(MAX_GROUND)
    redress: text(MAX_REDRESS)
    ground_kind: Annotated[GroundKind, Field(strict=False)] | None = None
    legal_ground: optional_text(MAX_LEGAL_GROUND) = None


class TransitionFields(Closed):
    """Every field a transition may require (workflows.RequiredField); a transition accepts only
    those it requires and the optional ones its service reads."""

    policy_clause: text(CLAUSE_ID_MAX) | None = None
    restriction: Annotated[Restriction, Field(strict=False)] | None = None
    duration_days: Annotated[int, Field(ge=1, le=MAX_DURATION_DAYS)] | None = None
    territorial_scope: (
        Annotated[list[text(COUNTRY_CODE_MAX)], Field(min_length=1, max_length=COUNTRIES_MAX)]
        | None
    ) = None
    statement_of_reasons: StatementOfReasons | None = None
    note: text(MAX_NOTE) | None = None
    question: text(MAX_NOTE) | None = None
    answer: text(MAX_NOTE) | None = None
    appeal_outcome: text(MAX_GROUND) | None = None
    ncmec_report_id: text(NCMEC_REPORT_ID_MAX) | None = None
    no_report_reason: text(MAX_GROUND) | None = None


class TransitionRequest(Request):
    transition: text(100)
    fields: TransitionFields = Field(default_factory=TransitionFields)


# --- responses -----------------------------------------------------------------------------------


class ErrorDetail(Response):
    code: str
    message: str
    fields: dict[str, str] = Field(description="Field paths (e.g. `items[3].subject.type`)")


class Error(Response):
    error: ErrorDetail


class Me(Response):
    name: str
    scopes: list[str]
    prefix: str


class ReportCreated(Response):
    id: int
    source: ReportSource
    source_name: str | None
    policy_clause: str
    payload_sha256: str = Field(description="SHA-256 of the exact text received")
    received_at: DateTimeText
    moderation_scores: dict[str, int] = Field(description="Basis points, 0 to 10000")
    unknown_categories: list[str]


class OpenCase(Response):
    reference: str
    workflow: str
    state: str
    priority: int
    priority_band: str
    opened: bool = Field(description="False: the report joined a case already open")
    restricted: Literal[False]


class RestrictedCase(Response):
    """A child-safety case: its reference alone."""

    reference: str
    restricted: Literal[True]


class DetectionCreated(Response):
    report: ReportCreated
    case: OpenCase | RestrictedCase


class BatchItemCreated(DetectionCreated):
    status: Literal[201]


class BatchItemFailed(Response):
    status: int
    error: ErrorDetail


class BatchResults(Response):
    results: list[BatchItemCreated | BatchItemFailed] = Field(description="One per item, in order")


class NoticeReceived(Response):
    reference: str
    status_url: str = Field(description="The reporter's private status page")
    received_at: DateTimeText
    lacks_notice_contact: bool


class CaseSummary(Response):
    reference: str
    workflow: str
    workflow_version: int
    state: str
    stage: str
    queue: str | None
    policy_clause: str | None
    severity: int | None
    priority: int
    priority_band: str | None
    restricted: bool
    report_count: int
    opened_at: DateTimeText
    updated_at: DateTimeText
    sla_due_at: DateTimeText | None
    sla_breached: bool


class CasePage(Response):
    cases: list[CaseSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class DecisionSummary(Response):
    policy_clause: str
    restriction: Restriction
    duration_days: int | None
    territorial_scope: list[str]
    automated_detection: bool
    automated_decision: bool
    decided_at: DateTimeText


class CaseDetail(Response):
    case: CaseSummary
    decisions: list[DecisionSummary]


class TrailEvent(Response):
    seq: int
    type: str
    actor: str
    at: DateTimeText
    log_index: int | None = Field(
        description="Its leaf in the log; null while it is pending integration (a second or two)"
    )
    entry_hash: str
    header: str = Field(description="The exact canonical header text that was hashed")
    payload: dict[str, Any] | None
    erased: bool


class CaseEvents(Response):
    case: str
    events: list[TrailEvent]


class TransitionFired(Response):
    case: CaseSummary


class AppealFiled(Response):
    class Appeal(Response):
        id: int
        case: str
        appellant: AppellantKind
        report_id: int | None
        channel: str
        grounds: str
        filed_at: DateTimeText
        window_closes_at: DateTimeText
        outcome: str | None

    appeal: Appeal


class InclusionProof(Response):
    index: int
    size: int
    leaf_hash: str
    root: str
    proof: list[str]


class ConsistencyProof(Response):
    first: int = Field(alias="from")
    second: int = Field(alias="to")
    root_from: str
    root_to: str
    proof: list[str]
