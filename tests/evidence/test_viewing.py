"""Viewing evidence: a POST with a reason (never a GET), recorded as an `evidence_viewed` event and
an EvidenceView row; images blurred until revealed; restricted media only for cleared roles; the
reviewer's exposure counter and break prompt; and hostile requests refused with nothing written."""

import json
import re
import struct
import zlib
from datetime import timedelta

import pytest
from sqlmodel import select

from cases.core.sqltypes import utcnow
from cases.enums import EventType
from cases.evidence.viewing import MAX_REASON, exposure
from cases.models import Case, EvidenceView, User
from cases.trail.models import CaseEvent, EventPayload
from tests.casework import page_token
from tests.factories import make_api_key
from tests.helpers import count, events, fresh

REASON = "Reviewing the reported content"


def png(rgb: tuple[int, int, int] = (200, 30, 30), size: int = 8) -> bytes:
    """A small, valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def view_url(case: Case, sha256: str) -> str:
    return f"/cases/{case.reference}/evidence/{sha256}/view"


def written(session) -> tuple[int, int]:
    """How many events and evidence views exist."""
    fresh(session)
    return count(session, CaseEvent), count(session, EvidenceView)


def evidence_section(html: str) -> str:
    return html.split('id="evidence-heading"', 1)[1].split("</section>", 1)[0]


@pytest.fixture
def image_case(app, session, open_case, add_image):
    """A standard case with one image as evidence, and the image."""
    case = open_case()
    with app.app_context():
        blob = add_image(case, png())
    return case, blob


def test_opening_is_a_post_with_a_reason_recorded_as_event_and_view_row(
    client, session, open_case, signed_in, add_evidence
):
    case = open_case()
    data = b"<html><script>alert(1)</script></html>"
    blob = add_evidence(case, data, filename="page.html")
    user = signed_in("reviewer")
    token = page_token(client, case)
    before = len(events(session, case))

    response = client.post(
        view_url(case, blob.sha256), data={"reason": REASON, "csrf_token": token}
    )
    assert response.status_code == 200
    assert response.data == data
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert f"evidence-{blob.sha256[:16]}.txt" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "sandbox" in response.headers["Content-Security-Policy"]

    viewed = events(session, case)[before:]
    assert [e.type for e in viewed] == [EventType.evidence_viewed]
    assert viewed[0].actor == f"user:{user.id}"
    assert json.loads(viewed[0].header)["blobs"] == [blob.sha256]
    payload = json.loads(session.get(EventPayload, viewed[0].id).payload)
    assert payload == {
        "sha256": blob.sha256,
        "media_type": "text/plain",
        "filename": "page.html",
        "reason": REASON,
    }
    (row,) = session.exec(select(EvidenceView)).all()
    assert (row.case_id, row.blob_sha256, row.user_id) == (case.id, blob.sha256, user.id)
    assert (row.reason, row.media_type, row.viewed_at) == (REASON, "text/plain", viewed[0].at)
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    assert "Evidence viewed: page.html" in page


def test_no_get_serves_or_records_evidence(client, session, image_case, signed_in):
    case, blob = image_case
    signed_in("admin")
    before = written(session)
    assert client.get(view_url(case, blob.sha256)).status_code == 405
    assert client.head(view_url(case, blob.sha256)).status_code == 405
    assert client.get(f"/cases/{case.reference}/evidence/{blob.sha256}").status_code == 404
    assert written(session) == before


@pytest.mark.parametrize("reason", [None, "", "   \n ", "ok", "x" * (MAX_REASON + 1)])
def test_a_view_without_a_proper_reason_is_refused_and_nothing_written(
    client, session, image_case, signed_in, reason
):
    case, blob = image_case
    signed_in("reviewer")
    form = {"csrf_token": page_token(client, case)}
    if reason is not None:
        form["reason"] = reason
    before = written(session)
    response = client.post(view_url(case, blob.sha256), data=form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in html and 'class="error"' in html
    assert "data:image/png" not in html
    assert written(session) == before


def test_a_view_without_a_csrf_token_is_refused(client, session, image_case, signed_in):
    case, blob = image_case
    signed_in("reviewer")
    before = written(session)
    assert client.post(view_url(case, blob.sha256), data={"reason": REASON}).status_code == 400
    assert written(session) == before


def test_without_script_an_image_opens_blurred_on_a_page_of_its_own(
    client, session, image_case, signed_in
):
    case, blob = image_case
    signed_in("reviewer")
    token = page_token(client, case)
    response = client.post(
        view_url(case, blob.sha256), data={"reason": REASON, "csrf_token": token}
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    # The bytes are in the page itself: no URL exists that would serve them again unrecorded.
    assert 'src="data:image/png;base64,' in html
    figure = html.split('<figure class="evidence-media">', 1)[1].split("</figure>", 1)[0]
    assert '<input type="checkbox" class="reveal"' in figure and "Reveal this image" in figure
    assert "<script" not in html and "style=" not in html
    assert "Reviewing the reported content" in html
    assert re.search(r"<strong data-exposure-count>1</strong>", html)
    assert written(session)[1] == 1


def test_the_case_page_script_gets_the_bytes_and_the_exposure(
    client, session, image_case, signed_in
):
    case, blob = image_case
    signed_in("reviewer")
    token = page_token(client, case)
    form = {"reason": REASON, "csrf_token": token, "deliver": "bytes"}
    response = client.post(view_url(case, blob.sha256), data=form)
    assert response.status_code == 200 and response.data == png()
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Docket-Exposure"] == "1"
    assert response.headers["Docket-Break-Due"] == "0"
    before = written(session)
    form["deliver"] = "inline<script>"
    assert client.post(view_url(case, blob.sha256), data=form).status_code == 422
    assert written(session) == before


def test_the_case_page_shows_images_blurred_behind_a_reason_and_no_bytes(
    client, image_case, signed_in
):
    case, blob = image_case
    signed_in("reviewer")
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    section = evidence_section(page)
    assert f'action="{view_url(case, blob.sha256)}"' in section
    assert 'method="post"' in section and "data-evidence-open" in section
    assert 'name="reason"' in section and "required" in section
    assert "data-evidence-shield" in section and "Open blurred" in section
    # Nothing of the file is on the page before a reason is given: no data, no link to bytes.
    assert "data:image" not in section and "<img src" not in section
    assert f"/evidence/{blob.sha256}/custody" in section
    assert '<script src="/static/evidence.js" defer></script>' in section
    assert "style=" not in page and "<script>" not in page
    assert "Graphic items you opened in the last 24 hours" in section


def test_other_files_download_after_a_reason(client, add_evidence, open_case, signed_in):
    case = open_case()
    blob = add_evidence(case, b"chat log", filename="chat.txt")
    signed_in("reviewer")
    section = evidence_section(client.get(f"/cases/{case.reference}").get_data(as_text=True))
    assert f'action="{view_url(case, blob.sha256)}"' in section and "Download" in section
    assert "data-evidence-open" not in section and "data-evidence-shield" not in section


@pytest.mark.parametrize(
    ("role", "opens"),
    [
        ("reviewer", False),
        ("lead", False),
        ("auditor", False),  # auditors read a file's history, never restricted media
        ("child_safety", True),
        ("admin", True),
    ],
)
def test_restricted_media_opens_only_for_cleared_roles_and_needs_a_reason(
    app, client, session, open_case, signed_in, add_evidence, role, opens
):
    # Restricted media on a standard case (e.g. moved there by a specialist's triage).
    case = open_case()
    with app.app_context():
        blob = add_evidence(
            case, png(), filename="media.png", media_type="image/png", restricted=True
        )
    signed_in(role)
    token = page_token(client, case)
    section = evidence_section(client.get(f"/cases/{case.reference}").get_data(as_text=True))
    assert (f'action="{view_url(case, blob.sha256)}"' in section) is opens
    before = written(session)
    response = client.post(view_url(case, blob.sha256), data={"csrf_token": token})
    assert response.status_code == (422 if opens else 404)
    assert written(session) == before
    form = {"reason": "Confirming the classifier match", "csrf_token": token, "deliver": "bytes"}
    response = client.post(view_url(case, blob.sha256), data=form)
    assert response.status_code == (200 if opens else 404)
    assert (response.data == png()) is opens
    if opens:
        assert "Restricted child-safety media" in section
        # The ordinary case's timeline, open to uncleared readers, learns nothing of the file.
        viewed = events(session, case, EventType.evidence_viewed)[-1]
        assert json.loads(fresh(session).get(EventPayload, viewed.id).payload) == {
            "sha256": blob.sha256,
            "restricted": True,
            "reason": "Confirming the classifier match",
        }
    elif role == "auditor":
        assert "only child-safety specialists open it" in section
    else:
        assert "media.png" not in section
    assert written(session)[1] == (1 if opens else 0)


def test_specialists_open_evidence_of_a_restricted_case(
    app, client, session, open_case, signed_in, add_image
):
    case = open_case("sexual/minors")
    assert case.restricted
    with app.app_context():
        blob = add_image(case, png())
    assert blob.restricted
    signed_in("child_safety")
    form = {"reason": "Preparing a CyberTipline report", "csrf_token": page_token(client, case)}
    response = client.post(view_url(case, blob.sha256), data={**form, "deliver": "bytes"})
    assert response.status_code == 200 and response.data == png()
    assert events(session, case)[-1].type == EventType.evidence_viewed


@pytest.mark.parametrize("role", ["reviewer", "lead"])
def test_evidence_of_a_restricted_case_does_not_exist_for_uncleared_roles(
    app, client, session, open_case, signed_in, role, add_image
):
    case = open_case("sexual/minors")
    with app.app_context():
        blob = add_image(case, png())
    signed_in(role)
    token = page_token(client, open_case(subject="acct-2"))
    before = written(session)
    form = {"reason": REASON, "csrf_token": token}
    assert client.post(view_url(case, blob.sha256), data=form).status_code == 404
    assert written(session) == before


def test_evidence_of_another_case_is_not_found(client, session, open_case, signed_in, add_evidence):
    mine, other = open_case(subject="acct-1"), open_case(subject="acct-2")
    blob = add_evidence(other, b"someone else's file")
    signed_in("reviewer")
    form = {"reason": REASON, "csrf_token": page_token(client, mine)}
    before = written(session)
    assert client.post(view_url(mine, blob.sha256), data=form).status_code == 404
    assert client.post(view_url(mine, "0" * 64), data=form).status_code == 404
    assert written(session) == before


def _view(session, user: User, case: Case, sha256: str, media_type: str, hours_ago: float):
    session.add(
        EvidenceView(
            case_id=case.id,
            blob_sha256=sha256,
            user_id=user.id,
            reason=REASON,
            media_type=media_type,
            viewed_at=utcnow() - timedelta(hours=hours_ago),
        )
    )


def test_exposure_counts_distinct_graphic_items_of_the_last_day(app, session, open_case, staff):
    case = open_case()
    me, colleague = staff("reviewer", "me"), staff("reviewer", "colleague")
    _view(session, me, case, "a" * 64, "image/png", 1)
    _view(session, me, case, "a" * 64, "image/png", 2)  # the same image again: one item
    _view(session, me, case, "b" * 64, "image/jpeg", 23)
    _view(session, me, case, "c" * 64, "video/mp4", 0.1)
    _view(session, me, case, "d" * 64, "text/plain", 0.1)  # not graphic
    _view(session, me, case, "e" * 64, "image/png", 25)  # more than a day ago
    _view(session, colleague, case, "f" * 64, "image/png", 1)  # someone else's
    session.commit()
    with app.app_context():
        mine = exposure(session, user=me, now=utcnow(), break_after=3)
        theirs = exposure(session, user=colleague, now=utcnow(), break_after=3)
    assert (mine.count, mine.break_due) == (3, True)
    assert (theirs.count, theirs.break_due) == (1, False)


@pytest.mark.parametrize("config_overrides", [{"WELLNESS_BREAK_AFTER": 2}])
def test_the_break_prompt_appears_after_the_configured_number_of_graphic_items(
    app, client, session, open_case, signed_in, add_image
):
    case = open_case()
    with app.app_context():
        first = add_image(case, png((10, 10, 10)), filename="one.png")
        second = add_image(case, png((20, 20, 20)), filename="two.png")
    signed_in("reviewer")
    token = page_token(client, case)

    def prompt_hidden() -> bool:
        section = evidence_section(client.get(f"/cases/{case.reference}").get_data(as_text=True))
        prompt = re.search(r"<div [^>]*data-break-prompt[^>]*>", section).group(0)
        return " hidden" in prompt

    assert prompt_hidden()
    form = {"reason": REASON, "csrf_token": token, "deliver": "bytes"}
    response = client.post(view_url(case, first.sha256), data=form)
    assert response.headers["Docket-Exposure"] == "1"
    assert response.headers["Docket-Break-Due"] == "0"
    assert prompt_hidden()
    response = client.post(view_url(case, second.sha256), data=form)
    assert response.headers["Docket-Exposure"] == "2"
    assert response.headers["Docket-Break-Due"] == "1"
    assert not prompt_hidden()
    section = evidence_section(client.get(f"/cases/{case.reference}").get_data(as_text=True))
    assert "Time for a break." in section and "<strong data-exposure-count>2</strong>" in section


ROLES = ["reviewer", "lead", "auditor", "child_safety", "admin"]


@pytest.mark.parametrize("role", ["anonymous", "api_key", *ROLES])
def test_the_view_route_per_role(app, client, session, image_case, signed_in, role):
    case, blob = image_case
    headers = {}
    if role == "api_key":
        with app.app_context():
            _, key = make_api_key(session)
            session.commit()
        headers = {"Authorization": f"Bearer {key}"}
    if role in ROLES:
        signed_in(role)
        token = page_token(client, case)
    else:
        token = "not-a-token"
    before = written(session)
    form = {"reason": REASON, "csrf_token": token, "deliver": "bytes"}
    response = client.post(view_url(case, blob.sha256), data=form, headers=headers)
    if role in ROLES:
        assert response.status_code == 200 and response.data == png()
        assert written(session) == (before[0] + 1, before[1] + 1)
    else:
        assert response.status_code in (302, 400, 401)
        assert response.data != png()
        assert written(session) == before


HOSTILE_SHAS = [
    "0" * 63,
    "0" * 65,
    "g" * 64,
    "%00" + "0" * 61,
    "0" * 63 + "%00",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "a" * 10_000,
]


def test_hostile_sha256_shapes_are_not_found_and_nothing_written(
    client, session, image_case, signed_in
):
    case, blob = image_case
    signed_in("admin")
    form = {"reason": REASON, "csrf_token": page_token(client, case)}
    before = written(session)
    for sha256 in [*HOSTILE_SHAS, blob.sha256.upper(), f" {blob.sha256}"]:
        assert client.post(view_url(case, sha256), data=form).status_code == 404, sha256
        assert client.get(f"{view_url(case, sha256)[:-5]}/custody").status_code == 404, sha256
    assert written(session) == before


@pytest.mark.parametrize(
    "reference",
    ["DK-2026-%00", "%3Cb%3Ex%3C%2Fb%3E", "DK-" + "9" * 5000, "'; DROP TABLE case_file"],
)
def test_hostile_case_references_are_not_found(client, session, image_case, signed_in, reference):
    case, blob = image_case
    signed_in("admin")
    form = {"reason": REASON, "csrf_token": page_token(client, case)}
    before = written(session)
    url = f"/cases/{reference}/evidence/{blob.sha256}"
    assert client.post(f"{url}/view", data=form).status_code == 404
    assert client.get(f"{url}/custody").status_code == 404
    assert written(session) == before


@pytest.mark.parametrize(
    "reason",
    ["nul\x00byte", "bell\x07", "x" * 100_000],
)
def test_hostile_reasons_are_refused_and_nothing_written(
    client, session, image_case, signed_in, reason
):
    case, blob = image_case
    signed_in("reviewer")
    before = written(session)
    form = {"reason": reason, "csrf_token": page_token(client, case)}
    response = client.post(view_url(case, blob.sha256), data=form)
    assert response.status_code == 422
    assert written(session) == before


def test_a_body_over_the_limit_is_refused(client, session, image_case, signed_in):
    case, blob = image_case
    signed_in("reviewer")
    before = written(session)
    form = {"reason": "x" * (11 << 20), "csrf_token": page_token(client, case)}
    assert client.post(view_url(case, blob.sha256), data=form).status_code == 413
    assert written(session) == before


def test_markup_in_a_reason_is_kept_as_text_and_never_rendered(
    client, session, image_case, signed_in
):
    # A reason may quote what a reviewer saw; it is stored as typed and escaped wherever shown.
    case, blob = image_case
    signed_in("reviewer")
    reason = '<img src=x onerror="alert(1)"> quoted from the chat'
    form = {"reason": reason, "csrf_token": page_token(client, case), "deliver": "bytes"}
    assert client.post(view_url(case, blob.sha256), data=form).status_code == 200
    assert fresh(session).exec(select(EvidenceView)).one().reason == reason
    custody = client.get(f"/cases/{case.reference}/evidence/{blob.sha256}/custody")
    html = custody.get_data(as_text=True)
    assert reason not in html and "&lt;img src=x onerror=" in html
