"""Intake over the JSON API: detected violations from integrations (one at a time or in batches)
and public notices of misuse (DSA Art. 16).

Each body is validated here, every problem reported at once by field path
(`items[3].subject.type`), then handed to the intake service: a detection to `cases.intake.receive`
(a batch's valid items to `receive_all`, together), a notice to `submit_public_report`, as the web
form's are. Each stores the exact text it was sent with its SHA-256. A batch item's payload is its
own exact text within the batch body, so each detection keeps a verbatim record and hash of its
own. The view commits once."""

import json
import re
from datetime import UTC, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import g, request
from sqlmodel import Session

from cases.api import api_key_required, bp
from cases.api.idempotency import respond_once
from cases.child_safety.known_hashes import FileHashes
from cases.core.db import get_session
from cases.core.errors import ApiError
from cases.core.extensions import limiter, public_limit
from cases.core.web import body_limit
from cases.enums import ApiScope, AppellantKind, ReportSource, SubjectKind
from cases.intake.moderation import ModerationFormatError, parse_moderation
from cases.intake.public_reports import PublicReport, submit_public_report
from cases.intake.service import (
    SUBJECT_ID_MAX,
    IntakeError,
    IntakeItem,
    IntakeOutcome,
    SubjectRef,
    receive,
    receive_all,
    route,
)
from cases.lifecycle.actors import Actor
from cases.lifecycle.deployed import definitions
from cases.models import ApiKey
from cases.portal.links import issue_link, link_url
from cases.trail.canonical import utc_timestamp

BATCH_MAX_ITEMS = 500
LOCATION_MAX = 2000  # Report.location
EXPLANATION_MAX = 20_000
SUBJECT_KINDS = frozenset(SubjectKind)

HEX = re.compile(r"[0-9A-Fa-f]+")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*\Z")  # a BCP 47 language tag's shape
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})\Z", re.IGNORECASE
)
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()

FieldErrors = dict[str, str]


def invalid(fields: FieldErrors) -> ApiError:
    return ApiError(
        422, "validation_failed", "Some fields are missing or invalid; see 'fields'.", fields=fields
    )


# --- reading the body ----------------------------------------------------------------------------


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def json_body() -> tuple[bytes, str, Any]:
    """The body as bytes, as text and parsed; 415 unless it is declared JSON."""
    # Requiring the JSON content type also keeps cross-site HTML forms off the public endpoint.
    if not request.is_json:
        raise ApiError(
            415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json)."
        )
    data = request.get_data()  # over the route's body limit: 413 (cases.core.web)
    try:
        text = data.decode("utf-8")
        return data, text, json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ApiError(400, "invalid_json", f"The body is not valid UTF-8 JSON: {exc}.") from None


def item_texts(text: str) -> list[str]:
    """The exact text of each element of the top-level `items` array of `text`, which must be a
    JSON object already known to be valid (the last `items` wins, as in `json.loads`)."""

    def skip(pos: int) -> int:
        return _WHITESPACE.match(text, pos).end()

    found: list[str] = []
    pos = skip(skip(0) + 1)  # past "{"
    while text[pos] != "}":
        key, pos = _DECODER.raw_decode(text, pos)
        pos = skip(skip(pos) + 1)  # past ":"
        if key != "items":
            _, pos = _DECODER.raw_decode(text, pos)
        elif text[pos] != "[":
            found, (_, pos) = [], _DECODER.raw_decode(text, pos)
        else:
            found, pos = [], skip(pos + 1)
            while text[pos] != "]":
                _, end = _DECODER.raw_decode(text, pos)
                found.append(text[pos:end])
                pos = skip(end)
                if text[pos] == ",":
                    pos = skip(pos + 1)
            pos += 1
        pos = skip(pos)
        if text[pos] == ",":
            pos = skip(pos + 1)
    return found


# --- field checks: each records its problem under the field's path and returns None --------------


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def object_field(
    errors: FieldErrors, value: Any, path: str, *, required: bool = True
) -> dict | None:
    if value is None:
        if required:
            errors[path] = "required"
        return None
    if not isinstance(value, dict):
        errors[path] = "expected an object"
        return None
    return value


def text_field(
    errors: FieldErrors, value: Any, path: str, *, max_length: int, required: bool = True
) -> str | None:
    if value is None or value == "":
        if required:
            errors[path] = "required"
        return None
    if not isinstance(value, str):
        errors[path] = "expected a string"
        return None
    if not value.strip():
        errors[path] = "must not be blank"
        return None
    if len(value) > max_length:
        errors[path] = f"at most {max_length} characters"
        return None
    return value


def _subject(errors: FieldErrors, value: Any, path: str, *, required: bool) -> SubjectRef | None:
    subject = object_field(errors, value, path, required=required)
    if subject is None:
        return None
    kind = subject.get("type")
    if not isinstance(kind, str) or kind not in SUBJECT_KINDS:
        errors[f"{path}.type"] = f"one of: {', '.join(SubjectKind)}"
        kind = None
    external_id = text_field(errors, subject.get("id"), f"{path}.id", max_length=SUBJECT_ID_MAX)
    display = text_field(
        errors, subject.get("display"), f"{path}.display", max_length=200, required=False
    )
    contact = object_field(errors, subject.get("contact"), f"{path}.contact", required=False) or {}
    email = _email(errors, contact.get("email"), f"{path}.contact.email")
    locale = text_field(
        errors, contact.get("locale"), f"{path}.contact.locale", max_length=35, required=False
    )
    if locale is not None and not _LOCALE.match(locale):
        errors[f"{path}.contact.locale"] = "a language tag such as en or pt-BR"
        locale = None
    for unknown in sorted(set(contact) - {"email", "locale"}):
        errors[f"{path}.contact.{unknown}"] = "unknown field"
    if kind is None or external_id is None:
        return None
    return SubjectRef(
        kind=SubjectKind(kind),
        external_id=external_id,
        display=display,
        contact_email=email,
        contact_locale=locale,
    )


def timestamp_field(errors: FieldErrors, value: Any, path: str) -> datetime | None:
    if value is None:
        errors[path] = "required"
        return None
    if not isinstance(value, str) or not _RFC3339.match(value):
        errors[path] = "an RFC 3339 date-time with its offset, e.g. 2026-03-01T12:00:00Z"
        return None
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        errors[path] = f"not a valid date-time: {exc}"
        return None


def _email(errors: FieldErrors, value: Any, path: str) -> str | None:
    email = text_field(errors, value, path, max_length=320, required=False)
    if email is None:
        return None
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        errors[path] = str(exc)
        return None


# --- detections ----------------------------------------------------------------------------------


def detection_item(body: Any, text: str, *, api_key_id: int, prefix: str = "") -> IntakeItem:
    """Validate one detection; 422 naming every field at fault."""
    if not isinstance(body, dict):
        raise invalid({prefix or "body": "expected a JSON object"})
    errors: FieldErrors = {}
    subject = _subject(errors, body.get("subject"), _path(prefix, "subject"), required=True)
    source_name = None
    source_path = _path(prefix, "source")
    source = object_field(errors, body.get("source"), source_path)
    if source is not None:
        source_name = text_field(errors, source.get("name"), f"{source_path}.name", max_length=120)
        text_field(
            errors, source.get("model"), f"{source_path}.model", max_length=120, required=False
        )
    moderation = None
    moderation_path = _path(prefix, "moderation")
    if body.get("moderation") is None:
        errors[moderation_path] = "required: the moderation response, verbatim"
    else:
        try:
            moderation = parse_moderation(body["moderation"], path=moderation_path)
        except ModerationFormatError as exc:
            errors[exc.field] = str(exc)
    content_ref, files = None, ()
    content_path = _path(prefix, "content")
    content = object_field(errors, body.get("content"), content_path)
    if content is not None:
        text_field(errors, content.get("type"), f"{content_path}.type", max_length=64)
        content_ref = text_field(
            errors, content.get("ref"), f"{content_path}.ref", max_length=400, required=False
        )
        text_field(
            errors,
            content.get("excerpt"),
            f"{content_path}.excerpt",
            max_length=EXPLANATION_MAX,
            required=False,
        )
        files = _content_hashes(errors, content, content_path)
    occurred_at = timestamp_field(errors, body.get("occurred_at"), _path(prefix, "occurred_at"))
    object_field(errors, body.get("metadata"), _path(prefix, "metadata"), required=False)
    if errors:
        raise invalid(errors)
    item = IntakeItem(
        source=ReportSource.classifier,
        subject=subject,
        raw_payload=text,
        moderation=moderation,
        source_name=source_name,
        content_ref=content_ref,
        occurred_at=occurred_at,
        api_key_id=api_key_id,
        files=files,
    )
    try:
        route(item)  # pure: an item that cannot be routed is refused before anything is written
    except IntakeError as exc:
        raise invalid({_path(prefix, exc.field): str(exc)}) from None
    return item


def _content_hashes(errors: FieldErrors, content: dict, path: str) -> tuple[FileHashes, ...]:
    """The referenced file's hashes, if the pipeline sent them: matched against known material
    before the detection is routed."""
    hashes = {}
    for name, length in (("sha256", 64), ("md5", 32)):
        value = content.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not HEX.fullmatch(value) or len(value) != length:
            errors[f"{path}.{name}"] = f"{length} hexadecimal characters"
            continue
        hashes[name] = value.lower()
    return (FileHashes(**hashes),) if hashes else ()


def integration_actor(api_key: ApiKey) -> Actor:
    return Actor.system(f"api_key:{api_key.id}")


def created_body(item: IntakeItem, outcome: IntakeOutcome) -> dict:
    """The 201 answer: the report, and its case (a restricted case by its reference alone)."""
    if outcome.restricted:
        # Child-safety cases never reach an integration: not their state, priority or workflow,
        # nor whether this report joined a case already open about the subject.
        case = {"reference": outcome.reference, "restricted": True}
    else:
        case = {
            "reference": outcome.reference,
            "workflow": outcome.workflow,
            "state": outcome.state,
            "priority": outcome.priority,
            "priority_band": outcome.priority_band,
            "opened": outcome.opened,
            "restricted": False,
        }
    return {
        "report": {
            "id": outcome.report_id,
            "source": item.source,
            "source_name": item.source_name,
            "policy_clause": outcome.policy_clause,
            "payload_sha256": outcome.payload_sha256,
            "received_at": utc_timestamp(outcome.received_at),
            "moderation_scores": item.moderation.scores if item.moderation else {},
            "unknown_categories": sorted(item.moderation.unknown) if item.moderation else [],
        },
        "case": case,
    }


def _receive(session: Session, item: IntakeItem, actor: Actor, prefix: str = "") -> dict:
    try:
        outcome = receive(session, item=item, actor=actor)
    except IntakeError as exc:
        raise invalid({_path(prefix, exc.field): str(exc)}) from None
    return created_body(item, outcome)


@bp.post("/detections")
@api_key_required(ApiScope.detections_write)
def post_detection():
    data, text, body = json_body()
    item = detection_item(body, text, api_key_id=g.api_key.id)
    session = get_session()
    actor = integration_actor(g.api_key)
    return respond_once(
        session,
        api_key_id=g.api_key.id,
        body=data,
        produce=lambda: (_receive(session, item, actor), 201),
    )


def _error_result(error: ApiError) -> dict:
    return {
        "status": error.status,
        "error": {"code": error.code, "message": error.message, "fields": error.fields},
    }


@bp.post("/detections/batch")
@body_limit(lambda config: config["DETECTIONS_BATCH_MAX_CONTENT_LENGTH"])
@api_key_required(ApiScope.detections_write)
def post_detection_batch():
    data, text, body = json_body()
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= BATCH_MAX_ITEMS:
        raise invalid({"items": f"a list of 1 to {BATCH_MAX_ITEMS} detections"})
    entries: list[IntakeItem | ApiError] = []
    for index, (item, item_text) in enumerate(zip(items, item_texts(text), strict=True)):
        try:
            entries.append(
                detection_item(item, item_text, api_key_id=g.api_key.id, prefix=f"items[{index}]")
            )
        except ApiError as exc:
            entries.append(exc)
    session = get_session()
    actor = integration_actor(g.api_key)

    def produce() -> tuple[dict, int]:
        # Every item that passed validation can be routed, so they are received together: a
        # database failure fails the request and leaves nothing behind.
        valid = [entry for entry in entries if isinstance(entry, IntakeItem)]
        outcomes = iter(receive_all(session, items=valid, actor=actor))
        results = [
            {"status": 201, **created_body(entry, next(outcomes))}
            if isinstance(entry, IntakeItem)
            else _error_result(entry)
            for entry in entries
        ]
        return {"results": results}, 207

    return respond_once(session, api_key_id=g.api_key.id, body=data, produce=produce)


# --- public notices ------------------------------------------------------------------------------

# The JSON names of PublicReport's fields where they differ.
_REPORT_PATHS = {"url": "location"}


def public_report(body: Any) -> PublicReport:
    """Validate a public notice of misuse (DSA Art. 16); 422 naming every field at fault."""
    if not isinstance(body, dict):
        raise invalid({"body": "expected a JSON object"})
    errors: FieldErrors = {}
    category = text_field(errors, body.get("category"), "category", max_length=64)
    if category is not None:
        try:
            definitions().policy.clause(category)
        except KeyError:
            errors["category"] = "not a category of the usage policy (the /report form lists them)"
    # A missing location is the service's to refuse (PublicReport.problems), as for the form.
    location = text_field(
        errors, body.get("location"), "location", max_length=LOCATION_MAX, required=False
    )
    explanation = text_field(
        errors, body.get("explanation"), "explanation", max_length=EXPLANATION_MAX
    )
    reporter_name = text_field(
        errors, body.get("reporter_name"), "reporter_name", max_length=200, required=False
    )
    reporter_email = _email(errors, body.get("reporter_email"), "reporter_email")
    subject = _subject(errors, body.get("subject"), "subject", required=False)
    report = PublicReport(
        category=category or "",
        explanation=explanation or "",
        url=location,
        reporter_name=reporter_name,
        reporter_email=reporter_email,
        good_faith=body.get("good_faith") is True,
        named_subject=subject,
    )
    for problem in report.problems():
        errors.setdefault(_REPORT_PATHS.get(problem.field, problem.field), str(problem))
    if errors:
        raise invalid(errors)
    return report


@bp.post("/reports")
@limiter.limit(public_limit)
def post_report():
    _, text, body = json_body()
    report = public_report(body)
    session = get_session()
    try:
        outcome = submit_public_report(
            session,
            report=report,
            raw_payload=text,
        )
    except IntakeError as exc:
        raise invalid({_REPORT_PATHS.get(exc.field, exc.field): str(exc)}) from None
    link = issue_link(
        session, case=outcome.case, holder=AppellantKind.reporter, report=outcome.report
    )
    session.commit()
    return {
        "reference": outcome.reference,
        "status_url": link_url(link),
        "received_at": utc_timestamp(outcome.received_at),
        "lacks_notice_contact": outcome.report.lacks_notice_contact,
    }, 201
