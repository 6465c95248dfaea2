"""Known-hash matching (issue 11, item 5): hashes confirmed in child-safety cases and imported
lists (command line and admin page); a report carrying a matching file goes to child safety with
a `hash_matched` event, whatever category it was sent under; a known file is restricted on every
case that holds it."""

import dataclasses
import hashlib
import io
import json
import re

import pytest
from sqlmodel import col, func, select

from cases.child_safety.known_hashes import (
    RESTRICTED_EVIDENCE,
    FileHashes,
    HashListInvalid,
    confirm_case_hashes,
    find_matches,
    import_hash_list,
    source_counts,
)
from cases.core.uploads import Attachment
from cases.enums import EventType, ReportSource
from cases.evidence.blobs import blob_store
from cases.evidence.service import list_evidence, store_attachments, withheld_evidence
from cases.intake.service import receive_all
from cases.lifecycle.actors import Actor
from cases.models import Case, KnownHash, Report
from cases.trail.models import Blob, CaseEvent, EventPayload
from tests.casework import detection
from tests.helpers import csrf_token, post_report

SYSTEM = Actor.system("test")
PNG = b"\x89PNG\r\n\x1a\n"
KNOWN = PNG + b"a file on a hash list " * 32
OTHER = PNG + b"an ordinary screenshot " * 32


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def attach(session, case: Case, data: bytes, filename: str = "file.png") -> str:
    attachment = Attachment(
        filename=filename, media_type="image/png", size=len(data), stream=io.BytesIO(data)
    )
    [sha] = store_attachments(
        session, case=case, attachments=[attachment], actor=SYSTEM, context={"appeal_id": 1}
    )
    session.commit()
    return sha


def imported(session, *lines: str, name: str = "NCMEC 2026-11"):
    result = import_hash_list(session, name=name, lines=lines)
    session.commit()
    return result


def events_of(session, case: Case, type: str) -> list[dict]:
    rows = session.exec(
        select(EventPayload.payload)
        .join(CaseEvent, col(CaseEvent.id) == EventPayload.event_id)
        .where(CaseEvent.case_id == case.id, CaseEvent.type == type)
        .order_by(col(CaseEvent.seq))
    )
    return [json.loads(row) for row in rows]


def notice_report(session) -> tuple[Report, Case]:
    report = session.exec(select(Report).where(Report.source == ReportSource.user_report)).one()
    return report, session.get(Case, report.case_id)


# --- hash lists ---------------------------------------------------------------------------------


def test_a_list_imports_sha256_and_md5_lines_and_skips_comments(session):
    result = imported(
        session,
        "# provider list, 2026-11",
        sha256(KNOWN).upper(),
        "",
        f"  {md5(OTHER)}  ",
        sha256(KNOWN),  # a repeat counts once
    )
    assert (result.hashes, result.added, result.already_known) == (2, 2, 0)
    rows = session.exec(select(KnownHash.algorithm, KnownHash.value, KnownHash.source)).all()
    assert sorted(rows) == [
        ("md5", md5(OTHER), "list:NCMEC 2026-11"),
        ("sha256", sha256(KNOWN), "list:NCMEC 2026-11"),
    ]
    again = imported(session, sha256(KNOWN), name="IWF")
    assert (again.added, again.already_known) == (0, 1)  # the first source is kept
    assert session.exec(select(func.count()).select_from(KnownHash)).one() == 2


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["a" * 64, "not a hash", "b" * 63], r"line 2, 3: not a SHA-256"),
        (["z" * 64], "line 1"),
        ([f"{i:x}" for i in range(8)], r"line 1, 2, 3, 4, 5 and 3 more"),
    ],
)
def test_a_list_with_a_bad_line_imports_nothing(session, lines, message):
    with pytest.raises(HashListInvalid, match=message):
        import_hash_list(session, name="bad", lines=lines)
    session.rollback()
    assert session.exec(select(func.count()).select_from(KnownHash)).one() == 0


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\tname"])
def test_a_list_needs_a_name(session, name):
    with pytest.raises(HashListInvalid, match="name the list"):
        import_hash_list(session, name=name, lines=["a" * 64])


def test_the_command_line_imports_a_file(runner, session, tmp_path):
    path = tmp_path / "list.txt"
    path.write_bytes(f"\ufeff{sha256(KNOWN)}\r\n{md5(OTHER)}\r\n".encode())
    result = runner.invoke(args=["hashes", "import", str(path), "--name", "NCMEC"])
    assert result.exit_code == 0, result.output
    assert "list NCMEC: 2 hashes, 2 new, 0 already known" in result.output
    path.write_text(f"{sha256(OTHER)}\nnope\n")
    result = runner.invoke(args=["hashes", "import", str(path), "--name", "NCMEC"])
    assert result.exit_code == 1 and "line 2" in result.output
    assert session.exec(select(func.count()).select_from(KnownHash)).one() == 2
    path.write_bytes(b"\xff\xfe not text")
    result = runner.invoke(args=["hashes", "import", str(path), "--name", "NCMEC"])
    assert result.exit_code == 1 and "not UTF-8" in result.output


# --- the admin page -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("child_safety", 200), ("lead", 403), ("reviewer", 403), ("auditor", 403)],
)
def test_who_reaches_the_admin_page(client, session, signed_in, role, status):
    signed_in(role)
    assert client.get("/admin/known-hashes").status_code == status


def test_the_page_signs_in_first(client):
    response = client.get("/admin/known-hashes")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def upload(client, content: bytes, name: str = "IWF 2026-10"):
    return client.post(
        "/admin/known-hashes",
        data={
            "csrf_token": csrf_token(client, "/admin/known-hashes"),
            "name": name,
            "file": (io.BytesIO(content), "list.txt", "text/plain"),
        },
        content_type="multipart/form-data",
    )


def test_a_specialist_imports_a_list_from_the_page(client, session, signed_in, open_case):
    user = signed_in("child_safety")
    response = upload(client, f"{sha256(KNOWN)}\n{md5(KNOWN)}\n".encode())
    assert response.status_code == 302
    page = client.get("/admin/known-hashes").get_data(as_text=True)
    assert "Imported IWF 2026-10: 2 hashes, 2 new, 0 already known." in page
    assert "List <strong>IWF 2026-10</strong>" in page
    assert {row.added_by_id for row in session.exec(select(KnownHash))} == {user.id}


def test_a_bad_list_is_refused_on_the_page_with_nothing_imported(client, session, signed_in):
    signed_in("admin")
    response = upload(client, b"not a hash\n")
    assert response.status_code == 400
    assert "line 1: not a SHA-256" in response.get_data(as_text=True)
    assert session.exec(select(func.count()).select_from(KnownHash)).one() == 0
    assert upload(client, b"", name="").status_code == 400


def test_counts_by_source_put_lists_first_and_the_cases_together(session, open_case):
    imported(session, sha256(KNOWN), md5(KNOWN))
    for subject, data in (("acct-1", KNOWN + b"1"), ("acct-2", KNOWN + b"2")):
        case = open_case("sexual/minors", subject=subject)
        attach(session, case, data)
        confirm_case_hashes(session, case=case)
    session.commit()
    counts = source_counts(session)
    assert [(c.list_name, c.sources, c.sha256, c.md5) for c in counts] == [
        ("NCMEC 2026-11", 1, 1, 1),
        (None, 2, 2, 2),
    ]


# --- confirmation in child-safety cases ---------------------------------------------------------


def test_a_reported_case_s_files_become_known(session, open_case, staff):
    case = open_case("sexual/minors", subject="acct-cs")
    first, second = attach(session, case, KNOWN), attach(session, case, OTHER)
    specialist = staff("child_safety")
    assert confirm_case_hashes(session, case=case, sha256s=[first], user=specialist) == 2
    assert confirm_case_hashes(session, case=case, user=specialist) == 2  # the other file
    assert confirm_case_hashes(session, case=case) == 0  # already known
    session.commit()
    rows = session.exec(select(KnownHash).order_by(col(KnownHash.id))).all()
    assert {(r.algorithm, r.value) for r in rows} == {
        ("sha256", first),
        ("md5", md5(KNOWN)),
        ("sha256", second),
        ("md5", md5(OTHER)),
    }
    assert {(r.source, r.case_id, r.added_by_id) for r in rows} == {
        (f"case:{case.reference}", case.id, specialist.id)
    }


def test_only_a_child_safety_case_s_own_files_are_confirmed(session, open_case):
    ordinary = open_case("harassment", subject="acct-std")
    attach(session, ordinary, OTHER)
    with pytest.raises(ValueError, match="not a child-safety case"):
        confirm_case_hashes(session, case=ordinary)
    case = open_case("sexual/minors", subject="acct-cs")
    with pytest.raises(ValueError, match="is not evidence of"):
        confirm_case_hashes(session, case=case, sha256s=[sha256(OTHER)])


# --- matching and routing -----------------------------------------------------------------------


def test_matching_by_sha256_md5_and_restricted_evidence(session, open_case):
    imported(session, sha256(KNOWN), md5(OTHER))
    held = PNG + b"held in an open child-safety case"
    attach(session, open_case("sexual/minors", subject="acct-cs"), held)
    files = [
        FileHashes(sha256=sha256(KNOWN)),
        FileHashes(sha256=sha256(OTHER), md5=md5(OTHER)),
        FileHashes(sha256=sha256(held), md5=md5(held)),
        FileHashes(sha256="0" * 64, md5="0" * 32),
        FileHashes(),
    ]
    found = [[(m.algorithm, m.source) for m in ms] for ms in find_matches(session, files=files)]
    assert found == [
        [("sha256", "list:NCMEC 2026-11")],
        [("md5", "list:NCMEC 2026-11")],
        [("sha256", RESTRICTED_EVIDENCE)],
        [],
        [],
    ]


def received_case(client, session, data: bytes, **changes) -> tuple[Report, Case]:
    response = post_report(client, files=[(data, "evidence.png", "image/png")], **changes)
    assert response.status_code == 302, response.get_data(as_text=True)
    return notice_report(session)


def test_a_notice_with_a_known_file_goes_to_child_safety_whatever_its_category(client, session):
    imported(session, sha256(KNOWN))
    report, case = received_case(client, session, KNOWN, category="protect.threats")
    assert case.workflow_name == "child_safety" and case.restricted
    assert case.policy_clause == "minors.csam" and case.severity == 1
    assert report.policy_clause == "protect.threats"  # as the reporter sent it
    [matched] = events_of(session, case, EventType.hash_matched)
    assert matched == {
        "report_id": report.id,
        "matches": [
            {"algorithm": "sha256", "value": sha256(KNOWN), "source": "list:NCMEC 2026-11"}
        ],
        "sent_under": "protect.threats",
        "routed_to": "minors.csam",
    }
    [intake] = events_of(session, case, EventType.intake)
    assert intake["policy_clause"] == "protect.threats" and intake["workflow"] == "child_safety"
    types = session.exec(
        select(CaseEvent.type).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.seq))
    ).all()
    assert types[:3] == [EventType.intake, EventType.hash_matched, EventType.evidence_added]
    # Stored in the restricted area from the start, never in the ordinary one.
    assert session.get(Blob, sha256(KNOWN)).restricted
    assert blob_store().path(sha256(KNOWN), restricted=True).exists()
    assert not blob_store().path(sha256(KNOWN), restricted=False).exists()
    received = client.get("/report/received").get_data(as_text=True)
    path = re.search(r"/my/[A-Za-z0-9._-]+", received)[0]
    assert "with a specialist team" in client.get(path).get_data(as_text=True)


def test_a_notice_matching_by_md5_goes_to_child_safety(client, session):
    imported(session, md5(KNOWN))
    _, case = received_case(client, session, KNOWN, category="privacy.private_information")
    assert case.workflow_name == "child_safety"
    [matched] = events_of(session, case, EventType.hash_matched)
    assert matched["matches"][0]["algorithm"] == "md5"


def test_a_notice_carrying_restricted_evidence_joins_the_specialists(client, session, open_case):
    # The same bytes are already evidence of a child-safety case a specialist is assessing.
    attach(session, open_case("sexual/minors", subject="acct-cs"), KNOWN)
    report, case = received_case(client, session, KNOWN, category="protect.threats")
    assert case.workflow_name == "child_safety"
    [matched] = events_of(session, case, EventType.hash_matched)
    assert matched["matches"][0]["source"] == RESTRICTED_EVIDENCE


def test_a_notice_without_a_known_file_is_routed_as_sent(client, session):
    imported(session, sha256(KNOWN))
    report, case = received_case(client, session, OTHER, category="protect.threats")
    assert case.workflow_name == "standard" and not case.restricted
    assert events_of(session, case, EventType.hash_matched) == []
    assert not session.get(Blob, sha256(OTHER)).restricted


def test_a_batch_routes_only_the_items_that_match(session):
    imported(session, sha256(KNOWN))
    plain = detection("harassment", subject="acct-1")
    known = dataclasses.replace(
        detection("harassment", subject="acct-2"), files=(FileHashes(sha256=sha256(KNOWN)),)
    )
    outcomes = receive_all(session, items=[plain, known], actor=SYSTEM)
    session.commit()
    assert [o.workflow for o in outcomes] == ["standard", "child_safety"]
    assert [o.restricted for o in outcomes] == [False, True]
    # Each report keeps the clause its detection named; only the matching one's case moved.
    assert outcomes[0].policy_clause == outcomes[1].policy_clause != "minors.csam"
    assert outcomes[1].case.policy_clause == "minors.csam"
    assert events_of(session, outcomes[0].case, EventType.hash_matched) == []
    assert len(events_of(session, outcomes[1].case, EventType.hash_matched)) == 1


# --- a known file is restricted wherever it is --------------------------------------------------


def test_a_file_known_later_is_restricted_on_the_case_that_holds_it(session, open_case, staff):
    ordinary = open_case("harassment", subject="acct-std")
    sha = attach(session, ordinary, KNOWN)
    reviewer, specialist = staff("reviewer"), staff("child_safety")
    assert [i.restricted for i in list_evidence(session, case=ordinary, viewer=reviewer)] == [False]
    imported(session, md5(KNOWN))
    assert list_evidence(session, case=ordinary, viewer=reviewer) == []
    [item] = list_evidence(session, case=ordinary, viewer=specialist)
    assert item.restricted and not item.blob.restricted
    assert list(withheld_evidence(session, case=ordinary, viewer=staff("lead"))) == [sha]
    assert withheld_evidence(session, case=ordinary, viewer=specialist) == {}


def test_a_known_file_attached_to_an_ordinary_case_is_stored_restricted(session, open_case):
    imported(session, sha256(KNOWN))
    ordinary = open_case("harassment", subject="acct-std")
    sha = attach(session, ordinary, KNOWN, filename="appeal.png")
    assert session.get(Blob, sha).restricted
    assert not blob_store().path(sha, restricted=False).exists()
    [added] = events_of(session, ordinary, EventType.evidence_added)
    assert added == {"appeal_id": 1, "restricted": True}
