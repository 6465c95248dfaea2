"""The workspace's lists a page at a time (two rows a page here), newest first."""

import re

import pytest

from tests.factories import put_case
from tests.helpers import csrf_token


@pytest.fixture
def config_overrides():
    return {"QUEUE_PAGE_SIZE": 2}


def walk_pages(client, url: str, pattern: str) -> list[str]:
    """What `pattern` finds on each page, following the pager's links to the end."""
    seen = []
    while url is not None:
        page = client.get(url).get_data(as_text=True)
        seen += re.findall(pattern, page.split("</form>")[-1])
        following = re.search(r'href="([^"]+)" rel="next"', page)
        url = following.group(1).replace("&amp;", "&") if following else None
    return seen


def test_cases_newest_first(client, session, signed_in):
    cases = [put_case(session, clause="protect.threats") for _ in range(5)]
    put_case(session, clause="privacy.doxxing")
    session.commit()
    signed_in("auditor")
    listed = walk_pages(
        client, "/audit/?clause=protect.threats", r'href="/audit/cases/(DK-[0-9-]+)"'
    )
    assert listed == [c.reference for c in reversed(cases)]
    last = client.get(f"/audit/?after={cases[0].id}").get_data(as_text=True)
    assert "No more cases" in last and "First page" in last


def test_search_hits_newest_first(client, session, signed_in):
    cases = [put_case(session, explanation="a bomb threat again") for _ in range(3)]
    session.commit()
    signed_in("auditor")
    listed = walk_pages(client, "/audit/?q=bomb+threat", r'href="/audit/cases/(DK-[0-9-]+)"')
    assert listed == [c.reference for c in reversed(cases)]


def test_custody_newest_first(client, session, audited, signed_in):
    signed_in("auditor")
    token = csrf_token(client, "/audit/")
    client.post(
        "/audit/export",
        data={"export-reference": audited.case.reference, "export-csrf_token": token},
    )
    what = r"<td>(Viewed|Exported|Reported to NCMEC)</td>"
    expected = ["Exported", "Reported to NCMEC", "Exported", "Viewed"]
    assert walk_pages(client, "/audit/custody", what) == expected
    one_case = f"/audit/cases/{audited.case.reference}/custody"
    assert walk_pages(client, one_case, what) == expected
