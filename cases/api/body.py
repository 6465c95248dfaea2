"""Reading JSON request bodies and validating them against the API's models (cases.api.schemas).

A body is refused before any model sees it when it is not declared JSON (415), not UTF-8 JSON or
nested more than MAX_DEPTH deep (400). Validation reports every problem at once, each under the
JSON path of the field at fault (`subject.id`, `items[3].subject.type`), in the 422's `fields`.
A string holding a lone surrogate (`"\\ud800"`: no UTF-8 text, no canonical JSON, no database
column can hold it) is refused by its path wherever it is in the body."""

import json
import re
from collections.abc import Iterator
from itertools import accumulate
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from cases.api.schemas import PATTERN_MESSAGES
from cases.core.errors import ApiError

FieldErrors = dict[str, str]

# Deeper than any body the API takes (a batch of detections nests 8 deep); the limit keeps a
# hostile body from the recursive parser and from anything that walks what it parsed.
MAX_DEPTH = 64
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_NOT_OPENING = bytes(sorted(set(range(256)) - set(b"[{")))
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
# Only an escape can put a lone surrogate in a string (text decoded from strict UTF-8 holds none).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD]")


def invalid(fields: FieldErrors) -> ApiError:
    return ApiError(
        422, "validation_failed", "Some fields are missing or invalid; see 'fields'.", fields=fields
    )


# --- reading the body ----------------------------------------------------------------------------


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def too_deep(data: bytes) -> bool:
    """Whether arrays and objects nest more than MAX_DEPTH deep in the JSON `data`, counted
    outside strings, without parsing it."""
    if len(data.translate(None, _NOT_OPENING)) <= MAX_DEPTH:
        return False
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    brackets = outside_strings.translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > MAX_DEPTH


def not_json(exc: ValueError) -> ApiError:
    return ApiError(400, "invalid_json", f"The body is not valid UTF-8 JSON: {exc}.")


def json_text() -> tuple[bytes, str]:
    """The body as bytes and as text; 415 unless it is declared JSON, 400 unless it is UTF-8
    nested at most MAX_DEPTH deep."""
    # Requiring the JSON content type also keeps cross-site HTML forms off the public endpoint.
    if not request.is_json:
        raise ApiError(
            415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json)."
        )
    data = request.get_data()  # over the route's body limit: 413 (cases.core.web)
    if too_deep(data):
        raise ApiError(
            400, "invalid_json", f"JSON nested too deeply: at most {MAX_DEPTH} levels are read."
        )
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_json(exc) from None


def parsed(text: str) -> Any:
    try:
        return DECODER.decode(text)
    except ValueError as exc:  # JSONDecodeError, or a constant such as NaN
        raise not_json(exc) from None


def json_body() -> tuple[bytes, str, Any]:
    """The body as bytes, as text and parsed (see `json_text`); 400 unless it is JSON."""
    data, text = json_text()
    return data, text, parsed(text)


# --- validating it -------------------------------------------------------------------------------


def json_path(root: str, loc: tuple[int | str, ...]) -> str:
    """`items[3]` + ("subject", "type") → `items[3].subject.type`; the body itself is `body`."""
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or "body"


def _strings(value: Any, path: tuple) -> Iterator[tuple[tuple, str]]:
    """Every key and string in `value` with its location; iterative, as nesting is bounded by
    the reader, not by Python's stack."""
    pending = [(path, value)]
    while pending:
        here, item = pending.pop()
        if isinstance(item, str):
            yield here, item
        elif isinstance(item, dict):
            for key, member in item.items():
                yield here, key
                pending.append(((*here, key), member))
        elif isinstance(item, list):
            pending.extend(((*here, index), member) for index, member in enumerate(item))


def unicode_errors(value: Any, text: str, root: str = "") -> FieldErrors:
    """A message for each place in `value` (parsed from `text`) holding a lone surrogate."""
    if not _SURROGATE_ESCAPE.search(text):
        return {}
    errors: FieldErrors = {}
    for loc, string in _strings(value, ()):
        try:
            string.encode("utf-8")
        except UnicodeEncodeError:
            errors[json_path(root, loc)] = "not valid Unicode text (a lone surrogate escape)"
    return errors


_MESSAGES = {
    "missing": "required",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "bool_type": "expected true or false",
    "float_type": "expected a number",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "list_type": "expected a list",
    "string_too_short": "must not be empty",
    "string_too_long": "at most {max_length} characters",
    "too_short": "at least {min_length} items",
    "too_long": "at most {max_length} items",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "extra_forbidden": "unknown field",
}


def message(error: ErrorDetails) -> str:
    """The API's wording of one pydantic error."""
    kind, context = error["type"], error.get("ctx", {})
    if kind in ("enum", "literal_error"):
        return "one of: " + context["expected"].replace("'", "").replace(" or ", ", ")
    if kind == "string_pattern_mismatch":
        return PATTERN_MESSAGES[context["pattern"]]
    if kind in _MESSAGES:
        return _MESSAGES[kind].format(**context)
    return error["msg"]


def field_errors(details: list[ErrorDetails], root: str = "") -> FieldErrors:
    errors: FieldErrors = {}
    for error in details:
        # A field's own reader may name a place within it (`at`, e.g. `.results[0].categories`).
        path = json_path(root, error["loc"]) + error.get("ctx", {}).get("at", "")
        errors.setdefault(path, message(error))
    return errors


M = TypeVar("M", bound=BaseModel)


def read_json(model: type[M]) -> tuple[bytes, str, M]:
    """The body as bytes, as text and validated as `model` (see `json_text` and `validated`).
    Read in one pass by pydantic's own JSON reader where that reads it as `json.loads` does: not
    where it holds a surrogate escape (refused without saying where) or a NaN or Infinity (taken,
    where `json.loads` here refuses them)."""
    data, text = json_text()
    if not (_SURROGATE_ESCAPE.search(text) or b"NaN" in data or b"Infinity" in data):
        try:
            return data, text, model.model_validate_json(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            if all(error["type"] != "json_invalid" for error in errors):
                raise invalid(field_errors(errors)) from None
    # Not JSON to pydantic's reader: `json.loads` has the last word, and the message.
    return data, text, validated(model, parsed(text), text)


def validated(model: type[M], value: Any, text: str, *, root: str = "") -> M:
    """`value` (parsed from `text`) as `model`; 422 naming every field at fault."""
    errors = unicode_errors(value, text, root)
    try:
        result = model.model_validate(value)
    except ValidationError as exc:
        details = exc.errors(include_url=False, include_input=False)
        errors = {**field_errors(details, root), **errors}
    if errors:
        raise invalid(errors)
    return result
