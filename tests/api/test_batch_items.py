"""`batch_items` reads a batch body in one pass: it must agree with `json.loads` on every text,
valid or not, and give each item's exact text."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.api.intake import batch_items

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)
spaces = st.text(" \t\n\r", max_size=2)
# A loaded machine (the suite in parallel) can make one draw slow; that says nothing of the code.
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def bodies(draw) -> str:
    """A JSON object's text with odd spacing, maybe an `items` array, maybe several `items`."""
    keys = draw(st.lists(st.sampled_from(["items", "a", "b"]), max_size=4))
    members = []
    for key in keys:
        if key == "items" and draw(st.booleans()):
            elements = [
                json.dumps(v, indent=draw(st.none() | st.integers(0, 2)))
                for v in draw(st.lists(values, max_size=4))
            ]
            value = "[" + draw(spaces) + ("," + draw(spaces)).join(elements) + draw(spaces) + "]"
        else:
            value = json.dumps(draw(values))
        members.append(f"{draw(spaces)}{json.dumps(key)}{draw(spaces)}:{draw(spaces)}{value}")
    return draw(spaces) + "{" + ",".join(members) + draw(spaces) + "}" + draw(spaces)


def loads(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return ValueError


@RELAXED
@given(bodies())
def test_it_agrees_with_json_loads_on_objects(text):
    items = loads(text).get("items")
    found = batch_items(text)
    if not isinstance(items, list):
        assert found is None
    else:
        assert [value for value, _ in found] == items
        assert [json.loads(item_text) for _, item_text in found] == items
        assert all(item_text == item_text.strip() for _, item_text in found)


@RELAXED
@given(bodies(), st.integers(min_value=0), st.sampled_from(["", ",", "]", "}", "x", ":", '"']))
def test_it_refuses_what_json_loads_refuses(text, position, inserted):
    position %= len(text) + 1
    broken = text[:position] + inserted + text[position + 1 :]
    expected = loads(broken)
    if expected is ValueError:
        with pytest.raises(ValueError):
            batch_items(broken)
    else:
        items = expected.get("items") if isinstance(expected, dict) else None
        found = batch_items(broken)
        assert (found is None) if not isinstance(items, list) else [v for v, _ in found] == items


@pytest.mark.parametrize(
    "text",
    ['{"items": [1,]}', '{"items": [1], }', '{"items": [1]} x', "{'items': []}", '{"items" [1]}'],
)
def test_malformed_bodies_are_refused(text):
    with pytest.raises(ValueError):
        batch_items(text)


@pytest.mark.parametrize("text", ["[1]", "3", '"items"', "null"])
def test_json_that_is_not_an_object_has_no_items(text):
    assert batch_items(text) is None
