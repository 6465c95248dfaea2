"""A file's chain of custody: every view (who, when, why), every export and every CyberTipline
report of the case that included it, readable by every role that sees the case."""

import pytest

from cases.models import NcmecReport
from tests.casework import page_token
from tests.evidence.test_viewing import png, view_url, written
from tests.factories import make_api_key

REASON = "Reviewing the reported content"


def custody_url(case, sha256: str) -> str:
    return f"/cases/{case.reference}/evidence/{sha256}/custody"


def section(html: str, name: str) -> str:
    return html.split(f'id="{name}-heading"', 1)[1].split("</section>", 1)[0]


def export(client, case) -> str:
    """Export the case's bundle as the signed-in staff member would; the bundle's name."""
    form = {"export-reference": case.reference, "export-csrf_token": page_token(client, case)}
    response = client.post("/audit/export", data=form)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.headers["Content-Disposition"].split("filename=", 1)[1]


def test_custody_lists_every_view_export_and_report_of_the_file(
    app,
    client,
    session,
    open_case,
    signed_in,
    add_image,
):
    case = open_case()
    lead = signed_in("lead", "exporter")
    export(client, case)  # before the files were evidence
    with app.app_context():
        blob = add_image(case, png(), filename="threat.png")
        other = add_image(case, png((1, 2, 3)), filename="other.png")
        secret = add_image(case, png((9, 9, 9)), restricted=True)
    export(client, case)  # carries the two files, withholds restricted media from a lead
    session.add(
        NcmecReport(
            case_id=case.id,
            status="finished",
            ncmec_report_id="9912345",
            files=[
                {"sha256": blob.sha256, "include": True, "file_id": "f-1"},
                {"sha256": other.sha256, "include": True, "file_id": "f-2"},
            ],
        )
    )
    session.add(NcmecReport(case_id=case.id, files=[{"sha256": blob.sha256, "include": False}]))
    session.add(NcmecReport(case_id=case.id, ncmec_report_id="7700001", files=[]))
    session.commit()
    first = signed_in("reviewer", "first")
    form = {"reason": REASON, "csrf_token": page_token(client, case), "deliver": "bytes"}
    assert client.post(view_url(case, blob.sha256), data=form).status_code == 200
    assert client.post(view_url(case, other.sha256), data=form).status_code == 200
    second = signed_in("child_safety", "second")
    form = {"reason": "Second opinion", "csrf_token": page_token(client, case), "deliver": "bytes"}
    assert client.post(view_url(case, blob.sha256), data=form).status_code == 200

    response = client.get(custody_url(case, blob.sha256))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "threat.png" in html and blob.sha256 in html and blob.md5 in html and blob.sha1 in html
    views = section(html, "views")
    assert "Views (2)" in views
    assert views.index(first.email) < views.index(second.email)
    assert REASON in views and "Second opinion" in views and "child safety" in views
    exports = section(html, "exports")
    assert "Exports (1)" in exports and f"{case.reference}-evidence.zip" in exports
    assert lead.email in exports
    reports = section(html, "reports")
    assert "CyberTipline reports (1)" in reports and "9912345" in reports and "f-1" in reports
    assert "7700001" not in reports
    # Restricted media left the lead's bundle as a withheld hash: no export carried it.
    secret_html = client.get(custody_url(case, secret.sha256)).get_data(as_text=True)
    assert "Exports (0)" in secret_html
    # The other file's custody is its own.
    html = client.get(custody_url(case, other.sha256)).get_data(as_text=True)
    assert "Views (1)" in html and "Second opinion" not in html


def test_custody_is_of_this_case_only(app, client, session, open_case, signed_in, add_image):
    mine, other = open_case(subject="acct-1"), open_case(subject="acct-2")
    with app.app_context():
        blob = add_image(mine, png())
        add_image(other, png())
    signed_in("reviewer")
    form = {"reason": "On the other case", "csrf_token": page_token(client, other)}
    assert client.post(view_url(other, blob.sha256), data=form).status_code == 200
    html = client.get(custody_url(mine, blob.sha256)).get_data(as_text=True)
    assert "Views (0)" in html and "On the other case" not in html


@pytest.mark.parametrize("role", ["reviewer", "lead", "auditor", "child_safety", "admin"])
def test_every_role_that_sees_the_case_reads_custody(
    app,
    client,
    session,
    open_case,
    signed_in,
    role,
    add_image,
):
    case = open_case()
    with app.app_context():
        blob = add_image(case, png())
    signed_in(role)
    before = written(session)
    response = client.get(custody_url(case, blob.sha256))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Open the file" in html and f'action="{view_url(case, blob.sha256)}"' in html
    assert '<script src="/static/evidence.js" defer></script>' in html
    assert written(session) == before  # reading custody is not a view


@pytest.mark.parametrize(
    ("role", "status", "opens"),
    [
        ("reviewer", 404, False),
        ("lead", 404, False),
        ("auditor", 200, False),
        ("child_safety", 200, True),
        ("admin", 200, True),
    ],
)
def test_custody_of_restricted_media(
    app,
    client,
    session,
    open_case,
    signed_in,
    role,
    status,
    opens,
    add_image,
):
    case = open_case()
    with app.app_context():
        blob = add_image(case, png(), restricted=True)
    signed_in(role)
    response = client.get(custody_url(case, blob.sha256))
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert ("Open the file" in html) is opens
    assert (f'action="{view_url(case, blob.sha256)}"' in html) is opens


def test_auditors_read_the_custody_of_a_restricted_case(
    app,
    client,
    session,
    open_case,
    signed_in,
    staff,
    add_image,
):
    case = open_case("sexual/minors")
    with app.app_context():
        blob = add_image(case, png())
    signed_in("child_safety")
    form = {"reason": "Preparing a CyberTipline report", "csrf_token": page_token(client, case)}
    assert client.post(view_url(case, blob.sha256), data=form).status_code == 200
    signed_in("auditor")
    html = client.get(custody_url(case, blob.sha256)).get_data(as_text=True)
    assert "Preparing a CyberTipline report" in section(html, "views")
    assert "Open the file" not in html and "data:image" not in html


@pytest.mark.parametrize("role", ["anonymous", "api_key"])
def test_custody_is_for_signed_in_staff_only(app, client, session, open_case, role, add_image):
    case = open_case()
    headers = {}
    with app.app_context():
        blob = add_image(case, png())
        if role == "api_key":
            _, key = make_api_key(session)
            session.commit()
            headers = {"Authorization": f"Bearer {key}"}
    response = client.get(custody_url(case, blob.sha256), headers=headers)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_refused_reason_re_renders_the_custody_page_with_the_error(
    app,
    client,
    session,
    open_case,
    signed_in,
    add_image,
):
    case = open_case()
    with app.app_context():
        blob = add_image(case, png())
    signed_in("reviewer")
    before = written(session)
    form = {"reason": "no", "csrf_token": page_token(client, case)}
    response = client.post(view_url(case, blob.sha256), data=form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Open the file" in html and 'aria-invalid="true"' in html and 'value="no"' in html
    assert "Field must be between 3 and 1000 characters long." in html
    assert written(session) == before
