"""Hostile input on the private pages' forms: every refusal is a 4xx or the form again with the
error beside its field, never a 5xx, and nothing is half-written."""

import io

import pytest
from sqlmodel import select

from cases.appeals.service import MAX_GROUNDS
from cases.lifecycle.transitions import transition_case
from cases.models import AccessRequest, Appeal, StatusLink
from cases.portal.service import MAX_ANSWER
from cases.trail.models import CaseEvent
from tests.helpers import count, csrf_token, fresh


@pytest.fixture
def appealable(client, open_case, decided, link_to):
    """The path of the affected user's page on an enforced case, and a CSRF token."""
    path = link_to(decided(open_case()))
    return path, csrf_token(client, path)


def rows(session) -> tuple[int, int, int, int]:
    fresh(session)
    return tuple(count(session, model) for model in (Appeal, AccessRequest, StatusLink, CaseEvent))


def post_appeal(client, path, token, grounds, files=()):
    data = {"grounds": grounds, "csrf_token": token}
    data["attachments"] = [(io.BytesIO(content), name, kind) for content, name, kind in files]
    return client.post(f"{path}/appeal", data=data, content_type="multipart/form-data")


def error_of(page: str, field: str) -> str:
    start = page.index(f'<p class="error" id="{field}-error">')
    return page[start : page.index("</p>", start)]


@pytest.mark.parametrize(
    ("grounds", "files", "field", "message"),
    [
        ("", (), "grounds", "Say why the decision is wrong."),
        ("   \n\t ", (), "grounds", "Say why the decision is wrong."),
        ("x" * (MAX_GROUNDS + 1), (), "grounds", f"at most {MAX_GROUNDS} characters"),
        ("It was a joke\x00", (), "grounds", "control characters"),
        ("Fine", [(b"MZ\x90\x00\x03", "setup.pdf", "application/pdf")], "attachments", "is not"),
        ("Fine", [(b"", "empty.txt", "text/plain")], "attachments", "is empty"),
        ("Fine", [(b"words", "notes.txt", "text/plain")] * 6, "attachments", "at most 5 files"),
    ],
    ids=["empty", "blank", "huge", "nul", "executable", "empty-file", "too-many-files"],
)
def test_a_bad_appeal_is_shown_again_with_its_error(
    client, session, appealable, grounds, files, field, message
):
    path, token = appealable
    before = rows(session)
    response = post_appeal(client, path, token, grounds, files)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in error_of(page, field)
    assert 'aria-invalid="true"' in page
    assert rows(session) == before


def test_markup_is_kept_as_text_and_never_rendered(client, session, appealable):
    path, token = appealable
    markup = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    # Refused for its NUL, the form comes back with the text escaped.
    page = post_appeal(client, path, token, markup + "\x00").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert post_appeal(client, path, token, markup).status_code == 303
    assert fresh(session).exec(select(Appeal.grounds)).one() == markup


@pytest.mark.parametrize(
    "body",
    [b"grounds=%FF%FE%FD&csrf_token=", b"grounds=\xff\xfe\xc0\xaf&csrf_token="],
    ids=["percent-encoded", "raw"],
)
def test_invalid_utf8_in_the_form_body_is_no_server_error(client, session, appealable, body):
    path, token = appealable
    before = rows(session)
    response = client.post(
        f"{path}/appeal",
        data=body + token.encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code < 500
    written = rows(session)
    if response.status_code == 303:
        assert written[0] == before[0] + 1  # a whole appeal, its text made valid
    else:
        assert written == before


def test_a_form_without_its_csrf_token_is_refused(client, session, appealable):
    path, _ = appealable
    before = rows(session)
    for action in ("appeal", "answer", "access"):
        response = client.post(f"{path}/{action}", data={"grounds": "x", "answer": "x"})
        assert response.status_code == 400
    assert rows(session) == before


@pytest.mark.parametrize(
    "token",
    ["garbage", "A" * 20_000, "MQ.forged-signature", "%00", "..%2F..%2Fetc"],
    ids=["garbage", "huge", "forged", "nul", "traversal"],
)
def test_a_bad_token_on_a_form_is_404(client, session, appealable, token):
    _, csrf = appealable
    before = rows(session)
    for action in ("appeal", "answer", "access"):
        response = client.post(
            f"/my/{token}/{action}", data={"csrf_token": csrf, "grounds": "x", "answer": "x"}
        )
        assert response.status_code == 404, action
    assert client.get(f"/my/{token}").status_code == 404
    assert rows(session) == before


def test_a_body_over_the_limit_is_refused_before_it_is_read(app, client, session, appealable):
    path, token = appealable
    app.config["REPORT_ATTACHMENT_MAX_BYTES"] = 1024
    app.config["REPORT_ATTACHMENT_MAX_FILES"] = 1
    before = rows(session)
    big = b"a" * (3 << 20)
    response = post_appeal(client, path, token, "Fine", [(big, "big.txt", "text/plain")])
    assert response.status_code == 413
    assert rows(session) == before


def test_a_wrong_method_is_405(client, appealable):
    path, _ = appealable
    assert client.put(f"{path}/appeal").status_code == 405


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("", "Write your answer."),
        ("x" * (MAX_ANSWER + 1), f"at most {MAX_ANSWER} characters"),
        ("line\x00", "control characters"),
    ],
    ids=["empty", "huge", "nul"],
)
def test_a_bad_answer_is_shown_again_with_its_error(
    client, session, reported, walk, worker, link_to, answer, message
):
    report, case = reported()
    walk(case, "triage")
    transition_case(
        session,
        case=case,
        transition="request_information",
        actor=worker,
        fields={"question": "Which message?"},
    )
    session.commit()
    path = link_to(case, report)
    token = csrf_token(client, path)
    before = rows(session)
    response = client.post(f"{path}/answer", data={"answer": answer, "csrf_token": token})
    assert response.status_code == 422
    assert message in error_of(response.get_data(as_text=True), "answer")
    assert rows(session) == before
