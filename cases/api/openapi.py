"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json. Its schemas are
generated from the models the API validates with (cases.api.schemas), so the document says what
the code accepts."""

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from cases.api import bp
from cases.api import schemas as s

REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


JSON_ERROR = {"content": {"application/json": {"schema": _ref(s.Error)}}}


def _errors(*codes: int) -> dict:
    reasons = {
        400: "Not UTF-8 JSON, or nested too deeply",
        401: "No valid API key",
        403: "The key lacks the scope, or the role may not act",
        404: "No such case visible to the caller",
        409: "Idempotency-Key reused with another body, transition refused, or appeal open",
        413: "Body too large",
        415: "Not declared JSON (Content-Type: application/json)",
        422: "Validation failed (`fields` maps field paths to messages); appeal window closed",
        429: "Rate limited",
    }
    return {str(code): {"description": reasons[code], **JSON_ERROR} for code in codes}


def _json_body(model: type[BaseModel], description: str) -> dict:
    return {
        "required": True,
        "description": description,
        "content": {"application/json": {"schema": _ref(model)}},
    }


def _ok(description: str, model: type[BaseModel]) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _text(description: str) -> dict:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A replay with the same body returns the first response; another body: 409.",
    "schema": {"type": "string", "maxLength": 200},
}
REFERENCE = {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}


def _count(name: str, description: str, *, required: bool = True) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "integer", "minimum": 0},
    }


# Every model the document names; their schemas come from pydantic, each nested model under its
# own name beside them.
MODELS = (
    s.Detection,
    s.DetectionBatch,
    s.Notice,
    s.TransitionRequest,
    s.AppealRequest,
    s.Error,
    s.Me,
    s.DetectionCreated,
    s.BatchResults,
    s.NoticeReceived,
    s.CasePage,
    s.CaseDetail,
    s.CaseEvents,
    s.TransitionFired,
    s.AppealFiled,
    s.InclusionProof,
    s.ConsistencyProof,
)


def component_schemas() -> dict:
    top, nested = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
    schemas = dict(nested.get("$defs", {}))
    for (model, _), schema in top.items():
        schemas.setdefault(model.__name__, schema)
    return dict(sorted(schemas.items()))


DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Docket API",
        "version": "1",
        "description": "Detections and notices in; cases, their evidence trail and the signed "
        "log out. Authenticate with `Authorization: Bearer <API key>`. A body that is not "
        "UTF-8 JSON, or nests deeper than 64 levels, is refused with 400.",
    },
    "servers": [{"url": "/api/v1"}],
    "components": {
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        "schemas": component_schemas(),
    },
    "security": [{"apiKey": []}],
    "paths": {
        "/me": {
            "get": {
                "summary": "The calling key's name and scopes",
                "responses": {"200": _ok("The key", s.Me), **_errors(401)},
            }
        },
        "/detections": {
            "post": {
                "summary": "A detected violation: subject, source, an OpenAI moderation response "
                "verbatim, content and time",
                "parameters": [IDEMPOTENCY],
                "requestBody": _json_body(
                    s.Detection, "Stored verbatim, with the SHA-256 of its exact bytes"
                ),
                "responses": {
                    "201": _ok("The report and its case", s.DetectionCreated),
                    **_errors(400, 401, 403, 409, 413, 415, 422),
                },
            }
        },
        "/detections/batch": {
            "post": {
                "summary": "Up to 500 detections; one result per item, in order",
                "parameters": [IDEMPOTENCY],
                "requestBody": _json_body(
                    s.DetectionBatch,
                    "Each item is validated on its own and stored as its own exact text",
                ),
                "responses": {
                    "207": _ok("One result per item: created, or its error", s.BatchResults),
                    **_errors(400, 401, 403, 409, 413, 415, 422),
                },
            }
        },
        "/reports": {
            "post": {
                "summary": "A public notice of misuse (DSA Art. 16); no key needed",
                "security": [],
                "requestBody": _json_body(s.Notice, "Stored verbatim"),
                "responses": {
                    "201": _ok("The reference and a private status link", s.NoticeReceived),
                    **_errors(400, 413, 415, 422, 429),
                },
            }
        },
        "/cases": {
            "get": {
                "summary": "Cases the caller may see, newest first (keyset pages)",
                "parameters": [
                    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                    for name in (
                        "state",
                        "stage",
                        "queue",
                        "workflow_name",
                        "priority_band",
                        "policy_clause",
                        "cursor",
                    )
                ]
                + [
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    }
                ],
                "responses": {"200": _ok("A page", s.CasePage), **_errors(401, 403, 422)},
            }
        },
        "/cases/{reference}": {
            "get": {
                "summary": "One case and its decisions",
                "parameters": [REFERENCE],
                "responses": {
                    "200": _ok("The case", s.CaseDetail),
                    **_errors(401, 403, 404),
                },
            }
        },
        "/cases/{reference}/events": {
            "get": {
                "summary": "The case's evidence trail: exact header text, payload unless erased",
                "parameters": [REFERENCE],
                "responses": {
                    "200": _ok("The events, oldest first", s.CaseEvents),
                    **_errors(401, 403, 404),
                },
            }
        },
        "/cases/{reference}/events/{seq}/proof": {
            "get": {
                "summary": "Inclusion proof of one event in the log (409 while it is pending)",
                "parameters": [
                    REFERENCE,
                    {
                        "name": "seq",
                        "in": "path",
                        "required": True,
                        "description": "The event's place in the case's chain, from 1",
                        "schema": {"type": "integer", "minimum": 1},
                    },
                    _count("size", "tree size (default: the log's size now)", required=False),
                ],
                "responses": {
                    "200": _ok("The proof", s.InclusionProof),
                    **_errors(401, 403, 404, 409, 422),
                },
            }
        },
        "/cases/{reference}/transitions": {
            "post": {
                "summary": "Fire a transition the workflow leaves to the system",
                "parameters": [REFERENCE],
                "requestBody": _json_body(
                    s.TransitionRequest,
                    "`fields`: those the transition requires, and the optional ones it reads "
                    "(any other is refused by its path, e.g. `fields.appeal_outcome`)",
                ),
                "responses": {
                    "200": _ok("The case", s.TransitionFired),
                    **_errors(400, 401, 403, 404, 409, 415, 422),
                },
            }
        },
        "/cases/{reference}/appeals": {
            "post": {
                "summary": "Relay an appeal filed in the operator's product (scope appeals:write)",
                "parameters": [REFERENCE, IDEMPOTENCY],
                "requestBody": _json_body(s.AppealRequest, "The appellant and the grounds"),
                "responses": {
                    "201": _ok("The appeal", s.AppealFiled),
                    **_errors(400, 401, 403, 404, 409, 415, 422),
                },
            }
        },
        "/log/checkpoint": {
            "get": {
                "summary": "The latest signed checkpoint (C2SP tlog-checkpoint, signed note)",
                "security": [],
                "responses": {"200": _text("The note"), **_errors(404)},
            }
        },
        "/log/proof/inclusion": {
            "get": {
                "summary": "RFC 6962 inclusion proof (base64 hashes)",
                "security": [],
                "parameters": [_count("index", "0-based leaf index"), _count("size", "tree size")],
                "responses": {"200": _ok("The proof", s.InclusionProof), **_errors(422)},
            }
        },
        "/log/proof/consistency": {
            "get": {
                "summary": "RFC 6962 consistency proof between two tree sizes",
                "security": [],
                "parameters": [_count("from", "older size"), _count("to", "newer size")],
                "responses": {"200": _ok("The proof", s.ConsistencyProof), **_errors(422)},
            }
        },
    },
}


@bp.get("/openapi.json")
def openapi():
    return DOCUMENT
