"""Canonical bytes for everything the trail hashes.

RFC 8785 (JCS) via the `rfc8785` package, restricted to integers: a float's text form is not
something two implementations reliably agree on, so hashed structures never contain one.
Timestamps are RFC 3339 UTC with exactly six fractional digits, one spelling per instant.
"""

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import rfc8785

__all__ = ["CanonicalError", "canonical", "parse_utc_timestamp", "utc_timestamp"]

# [0-9], not \d: \d also matches non-ASCII digits, which would admit a second spelling.
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


class CanonicalError(ValueError):
    """A value cannot be turned into (or read from) its canonical form."""


def canonical(obj: Any) -> bytes:
    """RFC 8785 bytes of `obj`; refuses floats and anything that is not plain JSON."""
    _check_json(obj, "$")
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as exc:  # integer range, lone surrogates
        raise CanonicalError(str(exc)) from exc


def _check_json(obj: Any, path: str) -> None:
    # bool is an int subclass and both are fine; float is refused even when integral.
    if obj is None or isinstance(obj, str | bool | int) and not isinstance(obj, float):
        return
    if isinstance(obj, float):
        raise CanonicalError(f"float at {path}: hashed structures use integers only")
    if isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            _check_json(item, f"{path}[{i}]")
        return
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise CanonicalError(f"non-string key {key!r} at {path}")
            _check_json(value, f"{path}.{key}")
        return
    raise CanonicalError(f"unsupported type {type(obj).__name__} at {path}")


def utc_timestamp(dt: datetime) -> str:
    """`2026-11-22T01:46:28.000123Z`: UTC, microseconds always written."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise CanonicalError("naive datetime: the trail records only aware times")
    u = dt.astimezone(UTC)
    # Formatted by hand: strftime("%Y") does not zero-pad years before 1000 on glibc.
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"
    )


def parse_utc_timestamp(s: str) -> datetime:
    """Inverse of `utc_timestamp`; accepts that exact format only."""
    if not isinstance(s, str) or not _TIMESTAMP.fullmatch(s):
        raise CanonicalError(f"not a canonical UTC timestamp: {s!r}")
    try:
        # The pattern fixed the spelling; fromisoformat (C, reads "Z" since 3.11) the calendar.
        return datetime.fromisoformat(s)
    except ValueError as exc:  # 2026-02-30 and friends
        raise CanonicalError(f"not a valid timestamp: {s!r}") from exc
