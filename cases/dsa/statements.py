"""A restriction decision as a DSA Transparency Database statement of reasons, and the rules such a
statement must satisfy (``../shared/reference/dsa/statement-of-reasons.md``).

`build_statement` turns a decision, its case and what reported it into the database's JSON:
enumerated fields carry the KEY (``DECISION_VISIBILITY_CONTENT_REMOVED``), never the label, except
``automated_detection`` and ``incompatible_content_illegal`` ("Yes"/"No"). Our restrictions map to
the database's decision fields as follows (`RESTRICTIONS`):

    warn                  decision_visibility  DECISION_VISIBILITY_OTHER, _other "Warning"
    content_removal       decision_visibility  DECISION_VISIBILITY_CONTENT_REMOVED
    feature_restriction   decision_provision   DECISION_PROVISION_PARTIAL_SUSPENSION
                          (with a duration: end_date_service_restriction)
    temporary_suspension  decision_account     DECISION_ACCOUNT_SUSPENDED
                          (end_date_account_restriction: decided + duration)
    termination           decision_account     DECISION_ACCOUNT_TERMINATED
    api_key_revocation    decision_provision   DECISION_PROVISION_TOTAL_TERMINATION
    no_action             not a restriction: never exported

A contractual ground is DECISION_GROUND_INCOMPATIBLE_CONTENT (the clause, and the reviewer's
explanation); a legal one DECISION_GROUND_ILLEGAL_CONTENT (the law named, and the explanation).
The source is the strongest notice among the case's reports: a user's report is an Article 16
notice, the AI provider's an "other notification", a classifier or internal referral our own
initiative.

No personal data may be submitted: nothing identifies the subject or a reporter (no names,
emails, account ids), and every free text is passed through `scrub` first.

`statement_problems` checks a statement against every rule of the reference table; the export,
the submission job and the tests' fake Transparency Database all use it. Pure (no Flask, no
database): callers load what `DecisionFacts` holds.
"""

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cases.enums import GroundKind, ReportSource, Restriction
from cases.models import Case, Decision, Report
from cases.trail.canonical import utc_timestamp
from workflows import Policy, dsa

WORLDWIDE = "worldwide"
MAX_SHORT, MAX_EXPLANATION, MAX_FACTS, MAX_PUID = 500, 2000, 5000, 500
EARLIEST_CONTENT_DATE = date(2000, 1, 1)
EARLIEST_APPLICATION_DATE = date(2020, 1, 1)
LATEST_DATE = date(2038, 1, 1)
REDACTED = "[redacted]"
# Erasure (retention, or a request) may have emptied the facts; the field stays required.
FACTS_ERASED = "The facts recorded for this decision are no longer held: they were erased."
GROUND_ERASED = "The explanation recorded for this decision is no longer held: it was erased."
WARNING = "Warning"

RESTRICTIONS: Mapping[Restriction, Mapping[str, Any]] = {
    Restriction.warn: {
        "decision_visibility": ["DECISION_VISIBILITY_OTHER"],
        "decision_visibility_other": WARNING,
    },
    Restriction.content_removal: {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"]},
    Restriction.feature_restriction: {
        "decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION"
    },
    Restriction.temporary_suspension: {"decision_account": "DECISION_ACCOUNT_SUSPENDED"},
    Restriction.termination: {"decision_account": "DECISION_ACCOUNT_TERMINATED"},
    Restriction.api_key_revocation: {"decision_provision": "DECISION_PROVISION_TOTAL_TERMINATION"},
}
END_DATE_FIELDS = {
    Restriction.feature_restriction: "end_date_service_restriction",
    Restriction.temporary_suspension: "end_date_account_restriction",
}
# Strongest first: a notice about the content outranks our own detection of it.
SOURCES = (
    (ReportSource.user_report, "SOURCE_ARTICLE_16"),
    (ReportSource.provider_notice, "SOURCE_TYPE_OTHER_NOTIFICATION"),
    (ReportSource.classifier, "SOURCE_VOLUNTARY"),
    (ReportSource.internal, "SOURCE_VOLUNTARY"),
)
# The words of a detection's `content.type` (free text from the operator's pipeline, such as
# "conversation" or "generated_image") that say what the content is.
CONTENT_WORDS = {
    "image": "CONTENT_TYPE_IMAGE",
    "picture": "CONTENT_TYPE_IMAGE",
    "photo": "CONTENT_TYPE_IMAGE",
    "video": "CONTENT_TYPE_VIDEO",
    "audio": "CONTENT_TYPE_AUDIO",
    "voice": "CONTENT_TYPE_AUDIO",
    "speech": "CONTENT_TYPE_AUDIO",
    "text": "CONTENT_TYPE_TEXT",
    "conversation": "CONTENT_TYPE_TEXT",
    "message": "CONTENT_TYPE_TEXT",
    "prompt": "CONTENT_TYPE_TEXT",
    "completion": "CONTENT_TYPE_TEXT",
    "chat": "CONTENT_TYPE_TEXT",
    "app": "CONTENT_TYPE_APP",
    "product": "CONTENT_TYPE_PRODUCT",
}
SYNTHETIC_WORDS = frozenset({"synthetic", "generated", "deepfake"})
MEDIA_TYPES = {
    "image": "CONTENT_TYPE_IMAGE",
    "video": "CONTENT_TYPE_VIDEO",
    "audio": "CONTENT_TYPE_AUDIO",
}
DEFAULT_CONTENT_TYPE = "CONTENT_TYPE_TEXT"  # an AI product's content is mostly conversation

_PUID = re.compile(r"[A-Za-z0-9_-]+\Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_EAN13 = re.compile(r"\d{13}\Z")
_URL_WITH_USER = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/?#@]+@\S*", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_HANDLE = re.compile(r"(?<![\w@/])@[A-Za-z0-9_][A-Za-z0-9_.]{1,}")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
MIN_TERM = 2  # one character would blank out half the text


@dataclass(frozen=True)
class DecisionFacts:
    """What a statement is built from: the decision, its case, the case's reports, the media
    types of its evidence, and the personal values to keep out (see `personal_terms`)."""

    decision: Decision
    case: Case
    reports: Sequence[Report]
    media_types: Sequence[str]
    personal: Sequence[str]


def scrub(text: str, *, terms: Iterable[str | None] = ()) -> str:
    """`text` without personal data: URLs carrying user info, email addresses, @handles, IPv4
    addresses, and each of `terms` (names, emails, account ids) wherever it stands as a whole,
    whatever its case."""
    text = _URL_WITH_USER.sub(REDACTED, text)
    text = _EMAIL.sub(REDACTED, text)
    text = _HANDLE.sub(REDACTED, text)
    text = _IPV4.sub(REDACTED, text)
    words = sorted(
        {t.strip() for t in terms if t and len(t.strip()) >= MIN_TERM}, key=len, reverse=True
    )
    if words:
        pattern = "|".join(rf"(?<!\w){re.escape(word)}(?!\w)" for word in words)
        text = re.sub(pattern, REDACTED, text, flags=re.IGNORECASE)
    return text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def puid_for(decision: Decision, case: Case) -> str:
    """The platform's unique id of the statement: stable for a decision, unique across
    deployments (a reset database reuses decision ids, never their time and case), and free of
    personal data."""
    seed = f"{case.reference}|{decision.id}|{utc_timestamp(decision.decided_at)}"
    return f"docket-{decision.id}-{hashlib.sha256(seed.encode()).hexdigest()[:12]}"


def _content_types(reports: Sequence[Report], media_types: Sequence[str]) -> list[str]:
    """From what the detections say of their content; else from the evidence files (often a
    screenshot of text, so only second best); else text."""
    found: list[str] = []
    for report in reports:
        content = _payload(report).get("content")
        if not isinstance(content, Mapping):
            continue
        kind = content.get("type")
        words = {
            word.removesuffix("s")
            for word in re.split(r"[^a-z0-9]+", kind.lower() if isinstance(kind, str) else "")
        }
        found += [CONTENT_WORDS[word] for word in words if word in CONTENT_WORDS]
        if content.get("synthetic") is True or words & SYNTHETIC_WORDS:
            found.append("CONTENT_TYPE_SYNTHETIC_MEDIA")
    if not found:
        found = [
            MEDIA_TYPES[media.split("/", 1)[0]]
            for media in media_types
            if media.split("/", 1)[0] in MEDIA_TYPES
        ]
    return [key for key in dsa.CONTENT_TYPES if key in found] or [DEFAULT_CONTENT_TYPE]


def _payload(report: Report) -> Mapping[str, Any]:
    try:
        body = json.loads(report.raw_payload)
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _source_type(reports: Sequence[Report]) -> str:
    sources = {report.source for report in reports}
    return next((key for source, key in SOURCES if source in sources), "SOURCE_VOLUNTARY")


def _scope(codes: Sequence[str]) -> list[str]:
    if WORLDWIDE in codes:
        return list(dsa.EUROPEAN_COUNTRY_CODES)
    return [code for code in dsa.EUROPEAN_COUNTRY_CODES if code in codes]


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _content_date(facts: DecisionFacts, applied: date) -> date:
    """When the content appeared: the earliest report's `occurred_at`, else its receipt (the case
    opening without reports), kept in the database's range and not after the decision."""
    moments = [r.occurred_at or r.received_at for r in facts.reports] or [facts.case.opened_at]
    latest = min(applied, LATEST_DATE)
    return max(EARLIEST_CONTENT_DATE, min(_day(min(moments)), latest))


def _automated_decision(decision: Decision) -> str:
    if not decision.automated_decision:
        return "AUTOMATED_DECISION_NOT_AUTOMATED"
    # Taken by automated means with nobody signing it: wholly automated.
    return (
        "AUTOMATED_DECISION_FULLY" if decision.author_id is None else "AUTOMATED_DECISION_PARTIALLY"
    )


def build_statement(facts: DecisionFacts, *, policy: Policy, puid: str | None = None) -> dict:
    """The statement of reasons of `facts.decision` in the Transparency Database's format."""
    decision, case = facts.decision, facts.case
    restriction = Restriction(decision.restriction)
    if restriction not in RESTRICTIONS:
        raise ValueError(f"{restriction} is not a restriction: it has no statement of reasons")
    terms = list(facts.personal)

    def clean(text: str | None, limit: int, erased: str) -> str:
        cleaned = scrub(text or "", terms=terms).strip()
        return _clip(cleaned or erased, limit)

    applied = _day(decision.decided_at)
    statement: dict[str, Any] = {"puid": puid or puid_for(decision, case)}
    statement |= copy.deepcopy(RESTRICTIONS[restriction])  # callers may change what they get
    try:
        clause = policy.clause(decision.policy_clause)
        clause_words, category = f"{clause.label} ({clause.id})", clause.dsa_category
    except KeyError:  # a clause since removed from the taxonomy
        clause_words, category = decision.policy_clause, "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    explanation = clean(decision.ground, MAX_EXPLANATION, GROUND_ERASED)
    if decision.ground_kind == GroundKind.legal:
        statement |= {
            "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
            "illegal_content_legal_ground": clean(decision.legal_ground, MAX_SHORT, ""),
            "illegal_content_explanation": explanation,
        }
    else:
        statement |= {
            "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
            "incompatible_content_ground": _clip(f"Usage policy: {clause_words}", MAX_SHORT),
            "incompatible_content_explanation": explanation,
        }
        if _is_url(policy.source_url) and len(policy.source_url) <= MAX_SHORT:
            statement["decision_ground_reference_url"] = policy.source_url
    statement |= {
        "content_type": _content_types(facts.reports, facts.media_types),
        "category": category,
        "territorial_scope": _scope(decision.territorial_scope),
        "content_date": _content_date(facts, applied).isoformat(),
        "application_date": applied.isoformat(),
    }
    if restriction in END_DATE_FIELDS and decision.duration_days:
        ends = _day(decision.decided_at + timedelta(days=decision.duration_days))
        statement[END_DATE_FIELDS[restriction]] = min(ends, LATEST_DATE).isoformat()
    statement |= {
        "decision_facts": clean(decision.facts, MAX_FACTS, FACTS_ERASED),
        "source_type": _source_type(facts.reports),
        "automated_detection": "Yes" if decision.automated_detection else "No",
        "automated_decision": _automated_decision(decision),
    }
    return statement


# --- the rules ------------------------------------------------------------------------------------

DECISION_FIELDS = (
    "decision_visibility",
    "decision_monetary",
    "decision_provision",
    "decision_account",
)
END_DATE_NAMES = (
    "end_date_visibility_restriction",
    "end_date_monetary_restriction",
    "end_date_service_restriction",
    "end_date_account_restriction",
)
KNOWN_FIELDS = frozenset(
    {
        "puid",
        *DECISION_FIELDS,
        "decision_visibility_other",
        "decision_monetary_other",
        "account_type",
        "decision_ground",
        "decision_ground_reference_url",
        "illegal_content_legal_ground",
        "illegal_content_explanation",
        "incompatible_content_ground",
        "incompatible_content_explanation",
        "incompatible_content_illegal",
        "content_type",
        "content_type_other",
        "category",
        "category_addition",
        "category_specification",
        "category_specification_other",
        "territorial_scope",
        "content_language",
        "content_date",
        "application_date",
        *END_DATE_NAMES,
        "decision_facts",
        "source_type",
        "source_identity",
        "automated_detection",
        "automated_decision",
        "content_id",
    }
)


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in value


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class _Check:
    """Collects the problems of one statement, each naming its field."""

    def __init__(self, statement: Mapping[str, Any]):
        self.statement = statement
        self.problems: list[str] = []

    def has(self, name: str) -> bool:
        return self.statement.get(name) not in (None, "", [])

    def fail(self, name: str, message: str) -> None:
        self.problems.append(f"{name}: {message}")

    def text(self, name: str, limit: int, *, required: bool = False) -> None:
        value = self.statement.get(name)
        if value is None:
            if required:
                self.fail(name, "required")
            return
        if not isinstance(value, str) or not value.strip():
            self.fail(name, "must be non-empty text")
        elif len(value) > limit:
            self.fail(name, f"at most {limit} characters, not {len(value)}")

    def key(self, name: str, allowed: Sequence[str], *, required: bool = False) -> None:
        value = self.statement.get(name)
        if value is None:
            if required:
                self.fail(name, "required")
        elif value not in allowed:
            self.fail(name, f"{str(value)[:60]!r} is not one of its keys")

    def keys(self, name: str, allowed: Sequence[str], *, required: bool = False) -> None:
        value = self.statement.get(name)
        if value is None:
            if required:
                self.fail(name, "required")
            return
        if not isinstance(value, list) or not value:
            self.fail(name, "must be a non-empty array")
            return
        unknown = [item for item in value if not isinstance(item, str) or item not in allowed]
        if unknown:
            self.fail(name, f"{str(unknown[0])[:60]!r} is not one of its keys")
        elif len(set(value)) != len(value):
            self.fail(name, "repeats a value")

    def other(self, name: str, key: str, present: bool) -> None:
        """`name` (at most 500 characters) exactly when `key` is chosen."""
        if present:
            self.text(name, MAX_SHORT, required=True)
        elif name in self.statement:
            self.fail(name, f"only with {key}")

    def exactly_when(self, names: Sequence[str], limits: Sequence[int], when: bool, why: str):
        for name, limit in zip(names, limits, strict=True):
            if when:
                self.text(name, limit, required=True)
            elif name in self.statement:
                self.fail(name, f"only with {why}")

    def day(
        self, name: str, earliest: date | None, latest: date, *, required: bool = False
    ) -> date | None:
        value = self.statement.get(name)
        if value is None or (value == "" and not required):
            if required:
                self.fail(name, "required")
            return None
        day = _date(value)
        if day is None:
            self.fail(name, "a date as YYYY-MM-DD")
        elif earliest is not None and day < earliest:
            self.fail(name, f"not before {earliest.isoformat()}")
        elif day > latest:
            self.fail(name, f"not after {latest.isoformat()}")
        else:
            return day
        return None


def statement_problems(statement: Any) -> list[str]:
    """Every rule of the Transparency Database's statement of reasons that `statement` breaks
    (empty: it would be accepted), each as "field: what is wrong"."""
    if not isinstance(statement, Mapping):
        return ["statement: must be a JSON object"]
    check = _Check(statement)
    for name in sorted(set(statement) - KNOWN_FIELDS, key=str):
        check.fail(str(name)[:60], "not a field of a statement of reasons")

    puid = statement.get("puid")
    if not isinstance(puid, str) or not puid:
        check.fail("puid", "required")
    elif len(puid) > MAX_PUID:
        check.fail("puid", f"at most {MAX_PUID} characters")
    elif not _PUID.match(puid):
        check.fail("puid", "only letters, digits, '-' and '_'")

    if not any(check.has(name) for name in DECISION_FIELDS):
        check.fail("decision_visibility", f"at least one of {', '.join(DECISION_FIELDS)}")
    check.keys("decision_visibility", dsa.DECISION_VISIBILITIES)
    visibility = statement.get("decision_visibility")
    check.other(
        "decision_visibility_other",
        "DECISION_VISIBILITY_OTHER",
        isinstance(visibility, list) and "DECISION_VISIBILITY_OTHER" in visibility,
    )
    check.key("decision_monetary", dsa.DECISION_MONETARIES)
    check.other(
        "decision_monetary_other",
        "DECISION_MONETARY_OTHER",
        statement.get("decision_monetary") == "DECISION_MONETARY_OTHER",
    )
    check.key("decision_provision", dsa.DECISION_PROVISIONS)
    check.key("decision_account", dsa.DECISION_ACCOUNTS)
    check.key("account_type", dsa.ACCOUNT_TYPES)

    check.key("decision_ground", dsa.DECISION_GROUNDS, required=True)
    reference = statement.get("decision_ground_reference_url")
    if reference is not None and (not _is_url(reference) or len(reference) > MAX_SHORT):
        check.fail("decision_ground_reference_url", f"an http(s) URL of at most {MAX_SHORT}")
    ground = statement.get("decision_ground")
    check.exactly_when(
        ("illegal_content_legal_ground", "illegal_content_explanation"),
        (MAX_SHORT, MAX_EXPLANATION),
        ground == "DECISION_GROUND_ILLEGAL_CONTENT",
        "DECISION_GROUND_ILLEGAL_CONTENT",
    )
    incompatible = ground == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    check.exactly_when(
        ("incompatible_content_ground", "incompatible_content_explanation"),
        (MAX_SHORT, MAX_EXPLANATION),
        incompatible,
        "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    )
    if "incompatible_content_illegal" in statement and not incompatible:
        check.fail("incompatible_content_illegal", "only with DECISION_GROUND_INCOMPATIBLE_CONTENT")
    else:
        check.key("incompatible_content_illegal", dsa.YES_NO)

    check.keys("content_type", dsa.CONTENT_TYPES, required=True)
    content_type = statement.get("content_type")
    check.other(
        "content_type_other",
        "CONTENT_TYPE_OTHER",
        isinstance(content_type, list) and "CONTENT_TYPE_OTHER" in content_type,
    )
    check.key("category", dsa.STATEMENT_CATEGORIES, required=True)
    check.keys("category_addition", dsa.STATEMENT_CATEGORIES)
    check.keys("category_specification", dsa.KEYWORDS)
    check.text("category_specification_other", MAX_SHORT)
    check.keys("territorial_scope", dsa.EUROPEAN_COUNTRY_CODES, required=True)
    check.key("content_language", dsa.LANGUAGES)

    check.day("content_date", EARLIEST_CONTENT_DATE, LATEST_DATE, required=True)
    applied = check.day("application_date", EARLIEST_APPLICATION_DATE, LATEST_DATE, required=True)
    for name in END_DATE_NAMES:
        # Blank means indefinite; an end comes no earlier than the decision applies.
        check.day(name, applied, LATEST_DATE)

    check.text("decision_facts", MAX_FACTS, required=True)
    check.key("source_type", dsa.SOURCE_TYPES, required=True)
    check.text("source_identity", MAX_SHORT)
    check.key("automated_detection", dsa.YES_NO, required=True)
    check.key("automated_decision", dsa.AUTOMATED_DECISIONS, required=True)
    content_id = statement.get("content_id")
    if content_id is not None and not (
        isinstance(content_id, Mapping)
        and set(content_id) == {"EAN-13"}
        and isinstance(content_id["EAN-13"], str)
        and _EAN13.match(content_id["EAN-13"])
    ):
        check.fail("content_id", 'only {"EAN-13": "<13 digits>"}')

    for name, value in statement.items():
        if isinstance(value, str) and name in KNOWN_FIELDS and scrub(value) != value:
            check.fail(name, "carries personal data (an email, a handle, an address)")
    return check.problems
