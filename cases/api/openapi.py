"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

from cases.api import bp

ERROR = {"$ref": "#/components/schemas/Error"}
JSON_ERROR = {"content": {"application/json": {"schema": ERROR}}}


def _errors(*codes: int) -> dict:
    reasons = {
        401: "No valid API key",
        403: "The key lacks the scope, or the role may not act",
        404: "No such case visible to the caller",
        409: "Idempotency-Key reused with another body, transition refused, or appeal open",
        413: "Body too large",
        422: "Validation failed (`fields` maps field paths to messages); appeal window closed",
        429: "Rate limited",
    }
    return {str(code): {"description": reasons[code], **JSON_ERROR} for code in codes}


def _json_body(description: str) -> dict:
    return {
        "required": True,
        "description": description,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }


def _ok(description: str, media: str = "application/json") -> dict:
    return {"description": description, "content": {media: {"schema": {"type": "object"}}}}


IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A replay with the same body returns the first response; another body: 409.",
    "schema": {"type": "string", "maxLength": 200},
}
REFERENCE = {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}


def _count(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": True,
        "description": description,
        "schema": {"type": "integer", "minimum": 0},
    }


DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Docket API",
        "version": "1",
        "description": "Detections and notices in; cases, their evidence trail and the signed "
        "log out. Authenticate with `Authorization: Bearer <API key>`.",
    },
    "servers": [{"url": "/api/v1"}],
    "components": {
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message", "fields"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "fields": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    }
                },
            }
        },
    },
    "security": [{"apiKey": []}],
    "paths": {
        "/me": {
            "get": {
                "summary": "The calling key's name and scopes",
                "responses": {"200": _ok("The key"), **_errors(401)},
            }
        },
        "/detections": {
            "post": {
                "summary": "A detected violation: subject, source, an OpenAI moderation response "
                "verbatim, content and time",
                "parameters": [IDEMPOTENCY],
                "requestBody": _json_body(
                    "{subject, source, moderation, content, occurred_at, metadata?}"
                ),
                "responses": {
                    "201": _ok("The report and its case"),
                    **_errors(401, 403, 409, 413, 422),
                },
            }
        },
        "/detections/batch": {
            "post": {
                "summary": "Up to 500 detections; one result per item, in order",
                "parameters": [IDEMPOTENCY],
                "requestBody": _json_body("{items: [detection, …]}"),
                "responses": {
                    "207": _ok("{results: [{status, case?, report?, error?}]}"),
                    **_errors(401, 403, 409, 413, 422),
                },
            }
        },
        "/reports": {
            "post": {
                "summary": "A public notice of misuse (DSA Art. 16); no key needed",
                "security": [],
                "requestBody": _json_body(
                    "{category, location, explanation, reporter_name?, reporter_email?, good_faith}"
                ),
                "responses": {
                    "201": _ok("The reference and a private status link"),
                    **_errors(413, 422, 429),
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
                        "limit",
                    )
                ],
                "responses": {"200": _ok("{cases, next_cursor}"), **_errors(401, 403, 422)},
            }
        },
        "/cases/{reference}": {
            "get": {
                "summary": "One case and its decisions",
                "parameters": [REFERENCE],
                "responses": {"200": _ok("{case, decisions}"), **_errors(401, 403, 404)},
            }
        },
        "/cases/{reference}/events": {
            "get": {
                "summary": "The case's evidence trail: exact header text, payload unless erased",
                "parameters": [REFERENCE],
                "responses": {"200": _ok("{case, events}"), **_errors(401, 403, 404)},
            }
        },
        "/cases/{reference}/transitions": {
            "post": {
                "summary": "Fire a transition the workflow leaves to the system",
                "parameters": [REFERENCE],
                "requestBody": _json_body("{transition, fields}"),
                "responses": {"200": _ok("{case}"), **_errors(401, 403, 404, 409, 422)},
            }
        },
        "/cases/{reference}/appeals": {
            "post": {
                "summary": "Relay an appeal filed in the operator's product (scope appeals:write)",
                "parameters": [REFERENCE, IDEMPOTENCY],
                "requestBody": _json_body(
                    "{appellant: {kind: affected_user|reporter, report_id?}, grounds, received_at?}"
                ),
                "responses": {
                    "201": _ok("{appeal}"),
                    **_errors(401, 403, 404, 409, 422),
                },
            }
        },
        "/log/checkpoint": {
            "get": {
                "summary": "The latest signed checkpoint (C2SP tlog-checkpoint, signed note)",
                "security": [],
                "responses": {"200": _ok("The note", "text/plain"), **_errors(404)},
            }
        },
        "/log/proof/inclusion": {
            "get": {
                "summary": "RFC 6962 inclusion proof (base64 hashes)",
                "security": [],
                "parameters": [_count("index", "0-based leaf index"), _count("size", "tree size")],
                "responses": {"200": _ok("{index, size, leaf_hash, root, proof}"), **_errors(422)},
            }
        },
        "/log/proof/consistency": {
            "get": {
                "summary": "RFC 6962 consistency proof between two tree sizes",
                "security": [],
                "parameters": [_count("from", "older size"), _count("to", "newer size")],
                "responses": {"200": _ok("{from, to, root_from, root_to, proof}"), **_errors(422)},
            }
        },
    },
}


@bp.get("/openapi.json")
def openapi():
    return DOCUMENT
