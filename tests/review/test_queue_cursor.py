"""A queue page's `after` cursor is whatever the address bar says: a hostile one is a 400 with the
reason shown, never a 5xx (issue 13)."""

import base64
import json

import pytest

from cases.enums import Role
from tests.factories import put_case


def token(*parts) -> str:
    raw = json.dumps(list(parts), separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


HOSTILE = [
    pytest.param("priority", token("priority", 5, 10**25), id="25-digit-id"),
    pytest.param("priority", token("priority", 5, 2**31), id="id-past-integer"),
    pytest.param("priority", token("priority", 5, 0), id="id-zero"),
    pytest.param("priority", token("priority", 10**25, 3), id="25-digit-priority"),
    pytest.param("priority", token("priority", 2**31, 3), id="priority-past-integer"),
    pytest.param("priority", token("priority", -(2**31) - 1, 3), id="priority-below-integer"),
    pytest.param("priority", token("priority", True, 3), id="priority-boolean"),
    pytest.param("priority", base64.urlsafe_b64encode(b"[]").decode(), id="empty-list"),
    pytest.param("oldest", token("oldest", "0001-01-01T00:00:00+01:00", 3), id="time-before-1"),
    pytest.param("oldest", token("oldest", "9999-12-31T23:59:59-14:00", 3), id="time-after-9999"),
    pytest.param("sla", token("sla", "9999-12-31T23:59:59-14:00", 3), id="sla-after-9999"),
    pytest.param("oldest", token("oldest", 10**30, 3), id="time-as-number"),
    pytest.param("priority", base64.urlsafe_b64encode(b"[" * 3000).decode(), id="nested"),
    pytest.param("priority", base64.urlsafe_b64encode(b'["priority",1e400,3]').decode(), id="inf"),
    pytest.param("priority", "A" * 5000, id="long"),
    pytest.param("priority", "%00%ff", id="bytes"),
]


@pytest.mark.parametrize(("sort", "cursor"), HOSTILE)
def test_a_hostile_page_cursor_is_a_400_with_a_message(client, session, signed_in, sort, cursor):
    put_case(session)
    session.commit()
    signed_in(Role.reviewer)
    response = client.get(f"/queues/triage?sort={sort}&after={cursor}")
    assert response.status_code == 400, response.status_code
    page = response.get_data(as_text=True)
    assert 'class="error"' in page or "page link" in page


def test_a_cursor_at_the_edge_of_the_range_still_pages(client, session, signed_in):
    put_case(session, priority=10)
    session.commit()
    signed_in(Role.reviewer)
    response = client.get(
        f"/queues/triage?sort=priority&after={token('priority', 2**31 - 1, 2**31 - 1)}"
    )
    assert response.status_code == 200
