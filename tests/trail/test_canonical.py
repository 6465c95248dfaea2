"""Canonical JSON (RFC 8785, integers only) and canonical UTC timestamps."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases.trail.canonical import CanonicalError, canonical, parse_utc_timestamp, utc_timestamp


def test_keys_sort_by_utf16_code_units():
    # RFC 8785 section 3.2.3's example: U+1F600 (a surrogate pair in UTF-16) sorts before
    # U+FB33, although its code point is larger.
    obj = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    expected = "{" + ",".join(f'"{k}":"{obj[k]}"' for k in keys).replace("\r", "\\r") + "}"
    assert canonical(obj) == expected.encode("utf-8")


def test_no_whitespace_minimal_escapes_and_literals():
    obj = {"b": [True, False, None, -7, 2**53 - 1], "a": 'q"\\\n\u000f/é\u2028'}
    assert canonical(obj) == (
        b'{"a":"q\\"\\\\\\n\\u000f/\xc3\xa9\xe2\x80\xa8","b":[true,false,null,-7,9007199254740991]}'
    )
    assert canonical(("x", 1)) == b'["x",1]'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": [1, {"b": 1.0}]}, r"float at \$\.a\[1\]\.b"),
        (0.5, r"float at \$"),
        ({"a": {1, 2}}, r"unsupported type set at \$\.a"),
        ([b"bytes"], r"unsupported type bytes at \$\[0\]"),
        ({"when": datetime(2026, 1, 1, tzinfo=UTC)}, "unsupported type datetime"),
        ({"amount": Decimal("1.5")}, "unsupported type Decimal"),
        ({1: "x"}, "non-string key 1"),
        ({"n": 2**53}, "exceeds safe integer domain"),
        ({"s": "\ud800"}, "non-UTF-8"),
    ],
)
def test_refuses_what_is_not_integer_json(value, message):
    with pytest.raises(CanonicalError, match=message):
        canonical(value)


def test_utc_timestamp_always_writes_microseconds_in_utc():
    plus_two = timezone(timedelta(hours=2))
    assert utc_timestamp(datetime(2026, 11, 22, 3, 46, 28, 123, plus_two)) == (
        "2026-11-22T01:46:28.000123Z"
    )
    assert utc_timestamp(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000000Z"
    assert utc_timestamp(datetime(5, 1, 1, tzinfo=UTC)) == "0005-01-01T00:00:00.000000Z"


def test_utc_timestamp_refuses_naive_times():
    with pytest.raises(CanonicalError, match="naive"):
        utc_timestamp(datetime(2026, 11, 22))


def test_parse_utc_timestamp():
    parsed = parse_utc_timestamp("2026-11-22T01:46:28.000123Z")
    assert parsed == datetime(2026, 11, 22, 1, 46, 28, 123, tzinfo=UTC)
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-22T01:46:28Z",
        "2026-11-22T01:46:28.123Z",
        "2026-11-22T01:46:28.000123+00:00",
        "2026-11-22T01:46:28.000123z",
        "2026-11-22 01:46:28.000123Z",
        "2026-11-22T01:46:28.000123Z\n",
        "\uff12026-11-22T01:46:28.000123Z",  # a fullwidth digit
        "2026-02-30T01:46:28.000123Z",
        "2026-11-22T24:00:00.000000Z",
        "",
        None,
        20261122,
    ],
)
def test_parse_utc_timestamp_accepts_one_spelling_only(text):
    with pytest.raises(CanonicalError):
        parse_utc_timestamp(text)


@given(st.datetimes(timezones=st.timezones()))
def test_timestamps_round_trip(moment):
    text = utc_timestamp(moment)
    # Compared in UTC: Python's == between zones is False for times in a DST fold.
    assert parse_utc_timestamp(text) == moment.astimezone(UTC)
    assert utc_timestamp(parse_utc_timestamp(text)) == text
