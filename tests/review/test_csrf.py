"""Every form of the case page is refused without its CSRF token, and nothing is written.
(Claim and release post to the queue endpoints; tests/queues checks those.)"""

import pytest
from sqlmodel import select

from cases.models import Decision
from tests.helpers import events, reloaded

FORMS = [
    ("notes", {"note-text": "a note"}),
    ("transitions", {"transition": "start_triage"}),
    ("transitions", {"transition": "decide", "action": "preview"}),
]


@pytest.mark.parametrize(("path", "data"), FORMS)
@pytest.mark.parametrize("token", [None, "forged-token"])
def test_every_form_rejects_a_missing_or_forged_csrf_token(
    client, session, open_case, signed_in, path, data, token
):
    case = open_case()
    signed_in("admin")
    before = len(events(session, case))
    if token is not None:
        data = {**data, "csrf_token": token}
    response = client.post(f"/cases/{case.reference}/{path}", data=data)
    assert response.status_code == 400
    assert "security token is missing or expired" in response.get_data(as_text=True)
    assert len(events(session, case)) == before
    assert reloaded(session, case).state == "new" and case.assignee_id is None
    assert session.exec(select(Decision)).all() == []
