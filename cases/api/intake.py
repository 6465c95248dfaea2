"""Intake over the JSON API: detected violations from integrations (one at a time or in batches)
and public notices of misuse (DSA Art. 16).

Each body is validated against its model (cases.api.schemas), every problem reported at once by
field path (`items[3].subject.type`; a batch's items each on their own), then handed to the intake
service: a detection to `cases.intake.receive` (a batch's valid items to `receive_all`, together),
a notice to `submit_public_report`, as the web form's are. Each stores the exact text it was sent
with its SHA-256. A batch item's payload is its own exact text within the batch body, so each
detection keeps a verbatim record and hash of its own. The view commits once."""

import re
from typing import Any

from flask import g, request
from sqlmodel import Session

from cases.api import api_key_required, bp
from cases.api.body import (
    DECODER,
    invalid,
    json_body,
    json_path,
    json_text,
    not_json,
    read_json,
    validated,
)
from cases.api.idempotency import respond_once
from cases.api.schemas import BATCH_MAX_ITEMS, Detection, Notice
from cases.child_safety.known_hashes import FileHashes
from cases.core.db import get_session
from cases.core.errors import ApiError
from cases.core.extensions import limiter, public_limit
from cases.core.web import body_limit
from cases.enums import ApiScope, AppellantKind, ReportSource
from cases.intake.public_reports import PublicReport, submit_public_report
from cases.intake.service import IntakeError, IntakeItem, IntakeOutcome, receive, receive_all
from cases.lifecycle.actors import Actor
from cases.models import ApiKey
from cases.portal.links import issue_link, link_url
from cases.trail.canonical import utc_timestamp

_WHITESPACE = re.compile(r"[ \t\n\r]*")


def batch_items(text: str) -> list[tuple[Any, str]] | None:
    """Each element of the top-level `items` array of the JSON text `text`, parsed and as its
    own exact text (the last `items` wins, as in `json.loads`); None when `text` is JSON but not
    an object with an `items` array, ValueError when it is not JSON. One pass: every element is
    read once, where parsing the body and then finding each element's text would read it twice."""

    def skip(pos: int) -> int:
        return _WHITESPACE.match(text, pos).end()

    def expect(char: str, pos: int) -> int:
        if text[pos : pos + 1] != char:
            raise ValueError(f"expected {char!r} at position {pos}")
        return skip(pos + 1)

    def elements(pos: int) -> tuple[list[tuple[Any, str]], int]:
        found: list[tuple[Any, str]] = []
        pos = expect("[", pos)
        if text[pos : pos + 1] != "]":
            while True:
                value, end = DECODER.raw_decode(text, pos)
                found.append((value, text[pos:end]))
                pos = skip(end)
                if text[pos : pos + 1] != ",":
                    break
                pos = skip(pos + 1)
        return found, expect("]", pos)

    pos = skip(0)
    if text[pos : pos + 1] != "{":
        DECODER.decode(text)  # JSON, just not an object; else ValueError
        return None
    items, pos = None, expect("{", pos)
    if text[pos : pos + 1] != "}":
        while True:
            if text[pos : pos + 1] != '"':
                raise ValueError(f"expected a key at position {pos}")
            key, pos = DECODER.raw_decode(text, pos)
            pos = expect(":", skip(pos))
            if key == "items" and text[pos : pos + 1] == "[":
                items, pos = elements(pos)
            else:
                _, pos = DECODER.raw_decode(text, pos)
                items = None if key == "items" else items
            pos = skip(pos)
            if text[pos : pos + 1] != ",":
                break
            pos = skip(pos + 1)
    if expect("}", pos) != len(text):
        raise ValueError(f"extra data after position {pos}")
    return items


# --- detections ----------------------------------------------------------------------------------


def detection_item(
    detection: Detection, text: str, *, api_key_id: int, prefix: str = ""
) -> IntakeItem:
    """A validated detection (`text` is its exact text) as an intake item; 422 if it cannot be
    routed."""
    content = detection.content
    # The referenced file's hashes, if the pipeline sent them: matched against known material
    # before the detection is routed.
    hashes = {
        name: value.lower()
        for name, value in (("sha256", content.sha256), ("md5", content.md5))
        if value is not None
    }
    item = IntakeItem(
        source=ReportSource.classifier,
        subject=detection.subject.ref(),
        raw_payload=text,
        moderation=detection.moderation,
        source_name=detection.source.name,
        content_ref=content.ref,
        occurred_at=detection.occurred_at,
        api_key_id=api_key_id,
        files=(FileHashes(**hashes),) if hashes else (),
    )
    try:
        # Pure, and kept on the item for intake: one that cannot be routed is refused before
        # anything is written.
        item.routed  # noqa: B018
    except IntakeError as exc:
        raise invalid({json_path(prefix, (exc.field,)): str(exc)}) from None
    return item


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
        raise invalid({json_path(prefix, (exc.field,)): str(exc)}) from None
    return created_body(item, outcome)


@bp.post("/detections")
@api_key_required(ApiScope.detections_write)
def post_detection():
    data, text, detection = read_json(Detection)
    item = detection_item(detection, text, api_key_id=g.api_key.id)
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
    data, text = json_text()
    try:
        items = batch_items(text)
    except ValueError as exc:
        raise not_json(exc) from None
    if items is None or not 1 <= len(items) <= BATCH_MAX_ITEMS:
        raise invalid({"items": f"a list of 1 to {BATCH_MAX_ITEMS} detections"})
    entries: list[IntakeItem | ApiError] = []
    for index, (item, item_text) in enumerate(items):
        prefix = f"items[{index}]"
        try:
            detection = validated(Detection, item, item_text, root=prefix)
            entries.append(
                detection_item(detection, item_text, api_key_id=g.api_key.id, prefix=prefix)
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


def _problems(report: PublicReport) -> dict[str, str]:
    return {_REPORT_PATHS.get(p.field, p.field): str(p) for p in report.problems()}


def public_report(body: Any, text: str) -> PublicReport:
    """Validate a public notice of misuse (DSA Art. 16); 422 naming every field at fault, the
    intake service's own checks (where it happened, good faith) among them, as for the form."""
    try:
        report = validated(Notice, body, text).report()
    except ApiError as exc:
        if not isinstance(body, dict):
            raise
        # The service's checks need only these two, so they are reported beside the others.
        partial = PublicReport(
            category="",
            explanation="",
            url=body.get("location"),
            good_faith=body.get("good_faith") is True,
        )
        raise invalid({**_problems(partial), **exc.fields}) from None
    if problems := _problems(report):
        raise invalid(problems)
    return report


@bp.post("/reports")
@limiter.limit(public_limit)
def post_report():
    _, text, body = json_body()
    report = public_report(body, text)
    session = get_session()
    try:
        outcome = submit_public_report(
            session,
            report=report,
            raw_payload=text,
            client=request.remote_addr,
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
