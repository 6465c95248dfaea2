"""Error responses: JSON under /api/, styled pages elsewhere. Every error leaves nothing written,
because the session is rolled back when the request ends without a commit."""

import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from cases.core.security import PermissionDenied

log = logging.getLogger(__name__)


class InputInvalid(ValueError):
    """Input a person or an integration sent is at fault; `field` names where (a form field or
    a JSON path), so each channel can show the message beside it."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class ApiError(Exception):
    """An API failure with a stable code; `fields` maps field paths to messages."""

    def __init__(
        self, status: int, code: str, message: str, *, fields: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, fields: dict | None = None):
    if _wants_json():
        body = {"error": {"code": code, "message": message, "fields": fields or {}}}
        return jsonify(body), status
    return render_template("errors/error.html", status=status, message=message), status


def _code_for(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.fields)

    @app.errorhandler(CSRFError)
    def handle_csrf(exc: CSRFError):
        return error_response(
            400,
            "csrf_failed",
            "This form could not be accepted: its security token is missing or expired. "
            "Reload the page and try again.",
        )

    @app.errorhandler(PermissionDenied)
    def handle_denied(exc: PermissionDenied):
        return error_response(403, "forbidden", f"Not allowed: {exc}.")

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        message = exc.description or exc.name
        if exc.code == 413:
            limit = (request.max_content_length or 0) // 1024
            message = f"The request body is too large (limit {limit} KiB)."
        response = make_response(error_response(exc.code or 500, _code_for(exc), message))
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return handle_http(InternalServerError())
