"""`Cache-Control: no-store` on every response but a static file (cases.core.web): case and queue
pages, the audit workspace, private links, admin pages and every API answer, whoever asks and
whatever the status, so no browser or shared cache keeps a page or an API key's answer."""

from urllib.parse import urlsplit

import pytest

from cases.enums import AppellantKind
from cases.portal.links import issue_link, link_url
from tests.factories import make_api_key
from tests.helpers import login

ROLES = ["anonymous", "admin", "lead", "reviewer", "child_safety", "auditor", "api_key", "link"]
PAGES = [
    "/",
    "/healthz",
    "/report",
    "/report/received",
    "/login",
    "/queues",
    "/queues/triage",
    "/search?q=acct",
    "/cases/{ref}",
    "/cases/{ref}/ncmec",
    "/audit/",
    "/audit/public-key.txt",
    "/transparency",
    "/inquiries",
    "/admin/users",
    "/admin/jobs",
    "/admin/mail",
    "/admin/access-requests",
    "/admin/known-hashes",
    "{link}",
    "/api/v1/me",
    "/api/v1/cases",
    "/api/v1/cases/{ref}",
    "/api/v1/cases/{ref}/events",
    "/api/v1/openapi.json",
    "/api/v1/log/checkpoint",
    "/api/v1/log/proof/inclusion?leaf_index=0&tree_size=1",
    "/no/such/page",
    "/cases/DK-0000-000000",
]


@pytest.fixture
def visitor(app, client, session, open_case, staff):
    """A client as `role` sees the app, and the pages with the case's reference and a private
    link to it filled in (a link holder holds a link to another case)."""

    def become(role: str):
        case = open_case(subject="acct-1")
        link = issue_link(session, case=case, holder=AppellantKind.affected_user)
        session.commit()
        headers = {}
        if role == "api_key":
            headers["Authorization"] = f"Bearer {make_api_key(session)[1]}"
            session.commit()
        elif role == "link":
            other = open_case(subject="acct-2")
            own = issue_link(session, case=other, holder=AppellantKind.affected_user)
            session.commit()
            assert client.get(urlsplit(link_url(own)).path).status_code == 200
        elif role != "anonymous":
            assert login(client, staff(role).email).status_code == 302
        path = urlsplit(link_url(link)).path
        return client, headers, {page: page.format(ref=case.reference, link=path) for page in PAGES}

    return become


@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_api_answer_is_no_store(visitor, role):
    client, headers, pages = visitor(role)
    stored = {}
    for page in pages.values():
        response = client.get(page, headers=headers)
        if response.headers.get("Cache-Control") != "no-store":
            stored[page] = (response.status_code, response.headers.get("Cache-Control"))
    assert stored == {}


def test_the_pages_checked_are_the_real_ones(visitor):
    """The sweep above is not passed by error pages alone: staff and an API key get the pages."""
    client, _, pages = visitor("admin")
    for page in ("/queues", "/queues/triage", "/audit/", "/admin/users", "/cases/{ref}", "{link}"):
        assert client.get(pages[page]).status_code == 200, page
    client, headers, pages = visitor("api_key")
    for page in ("/api/v1/me", "/api/v1/cases", "/api/v1/cases/{ref}", "/api/v1/openapi.json"):
        assert client.get(pages[page], headers=headers).status_code == 200, page


@pytest.mark.parametrize("role", ["anonymous", "admin"])
def test_posts_and_redirects_are_no_store_too(visitor, role):
    client, headers, _ = visitor(role)
    for response in (
        client.post("/api/v1/reports", json={}),
        client.post("/api/v1/detections", json={}, headers=headers),
        client.get("/queues/../cases", follow_redirects=False),
        client.get("/logout"),
    ):
        assert response.headers["Cache-Control"] == "no-store", response.status_code


@pytest.mark.parametrize("role", ["anonymous", "reviewer"])
def test_static_files_stay_cacheable(visitor, role):
    client, _, _ = visitor(role)
    response = client.get("/static/docket.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
