"""The dossier on seeded data: per-clause figures and holds, the procedures in force, the signed
checkpoint (its signature, and that it covers every counted case's events, down to verifying a
case's bundle offline against it), the three renderings, and the record of its handing over."""

import contextlib
import hashlib
import io
import json
import re
import zlib

import pytest
from sqlmodel import select

from cases.audit.signing import signer
from cases.core.errors import InputInvalid
from cases.enums import PROVIDER_INQUIRY_WORKFLOW, AccountEventType, EventType
from cases.inquiries.dossier import UnknownFormat, build_dossier, generate_dossier, render
from cases.lifecycle.deployed import definitions
from cases.models import AccountEvent, Case
from cases.trail import verify
from cases.trail.models import CaseEvent
from cases.trail.signed_notes import open_checkpoint
from cases.trail.store import root_at
from cases.transparency.service import transparency_figures
from tests.helpers import event_payloads, fresh
from tests.inquiries.conftest import PARENT_CLAUSE, PERIOD_END, PERIOD_START, SUB_CLAUSE


def dossier_json(session, **options) -> dict:
    dossier = build_dossier(session, start=PERIOD_START, end=PERIOD_END, **options)
    return json.loads(render(dossier, "json"))


def by_id(document: dict) -> dict[str, dict]:
    return {section["id"]: section for section in document["clauses"]}


def test_the_whole_taxonomy_has_a_section_per_clause_in_policy_order(session, world):
    document = dossier_json(session)
    assert [c["id"] for c in document["clauses"]] == [c.id for c in definitions().policy.clauses]
    assert document["dossier"]["scope"] == "whole_taxonomy"
    assert document["dossier"]["clauses_requested"] == []
    assert document["inquiry"] is None


def test_per_clause_figures_on_seeded_data(session, world):
    sections = by_id(dossier_json(session))
    threats = sections["protect.threats"]
    figures = threats["figures"]
    assert figures["cases_opened"] == 1
    assert figures["notices_by_source"] == {"user_report": 1, "provider_notice": 1}
    assert figures["own_initiative_by_source"]["classifier"] == 1
    assert figures["decisions_by_restriction"]["temporary_suspension"] == 1
    assert figures["decisions"] == 1 and figures["median_hours_to_action"] is not None
    assert (figures["appeals"]["received"], figures["appeals"]["upheld"]) == (1, 1)
    assert figures["ncmec_reports"] == 0
    assert threats["holds"] == {"placed": 1, "by_kind": {"legal": 1}}
    assert threats["cases_covered"] == [world.threats.reference]

    csam = sections["minors.csam"]
    assert csam["figures"]["ncmec_reports"] == 1 and csam["figures"]["cases_opened"] == 1
    # A child-safety case is counted, never named.
    assert csam["cases_covered"] == [] and csam["restricted_cases_covered"] == 1
    assert threats["restricted_cases_covered"] == 0
    assert sections["protect.self_harm"]["cases_covered"] == [world.self_harm.reference]

    # A clause counts its sub-clauses, which are listed on their own too.
    parent, sub = sections[PARENT_CLAUSE], sections[SUB_CLAUSE]
    assert parent["counts_clauses"][0] == PARENT_CLAUSE and SUB_CLAUSE in parent["counts_clauses"]
    assert parent["figures"]["cases_opened"] == sub["figures"]["cases_opened"] == 1
    assert parent["figures"]["notices_by_source"]["user_report"] == 1
    assert parent["cases_covered"] == sub["cases_covered"] == [world.sub_clause.reference]
    assert sections[f"{PARENT_CLAUSE}.education"]["figures"]["cases_opened"] == 0

    quiet = sections["protect.weapons"]
    assert quiet["figures"]["cases_opened"] == 0 and quiet["cases_covered"] == []
    assert quiet["holds"] == {"placed": 0, "by_kind": {}}


def test_figures_are_the_transparency_figures_of_each_clause(session, world):
    for section in dossier_json(session)["clauses"]:
        expected = transparency_figures(
            session, start=PERIOD_START, end=PERIOD_END, clauses=section["counts_clauses"]
        ).as_dict()
        assert section["figures"] == json.loads(json.dumps(expected)), section["id"]


def test_the_inquiry_case_is_never_counted(session, world, inquiry):
    found = inquiry(clauses=[])
    reference = fresh(session).get(Case, found.case_id).reference
    document = dossier_json(session, inquiry=found)
    assert document["inquiry"]["case"] == reference
    assert document["inquiry"]["provider_reference"] == "OAI-TS-2026-0042"
    assert all(reference not in c["cases_covered"] for c in document["clauses"])
    assert PROVIDER_INQUIRY_WORKFLOW not in [p["workflow"] for p in document["procedures"]]


def test_clauses_in_question_and_their_sub_clauses(session, world):
    document = dossier_json(session, clauses=["protect.threats", PARENT_CLAUSE])
    listed = [c["id"] for c in document["clauses"]]
    subs = [c.id for c in definitions().policy.subclauses(PARENT_CLAUSE)]
    assert listed == ["protect.threats", PARENT_CLAUSE, *subs] and len(subs) == 13
    assert document["dossier"]["scope"] == "clauses"
    assert document["dossier"]["clauses_requested"] == ["protect.threats", PARENT_CLAUSE]
    only_sub = dossier_json(session, clauses=[SUB_CLAUSE])
    assert [c["id"] for c in only_sub["clauses"]] == [SUB_CLAUSE]
    # Only the cases in question are covered by its checkpoint's count.
    assert only_sub["checkpoint"]["covers"]["cases"] == 1


@pytest.mark.parametrize(
    "clauses", [["protect.nonsense"], ["protect.threats", "<script>"], ["x" * 5000]]
)
def test_unknown_clauses_are_refused(session, world, clauses):
    with pytest.raises(InputInvalid, match="Unknown policy clause"):
        build_dossier(session, start=PERIOD_START, end=PERIOD_END, clauses=clauses)


def test_a_period_that_ends_before_it_starts_is_refused(session):
    with pytest.raises(InputInvalid):
        build_dossier(session, start=PERIOD_END, end=PERIOD_START)


def test_procedures_in_force(session, world):
    procedures = {p["workflow"]: p for p in dossier_json(session)["procedures"]}
    assert set(procedures) == {"standard", "child_safety"}
    for name, procedure in procedures.items():
        workflow = definitions().current(name)
        assert (procedure["version"], procedure["digest"]) == (workflow.version, workflow.digest)
        assert [s["name"] for s in procedure["states"]] == list(workflow.states)
        assert [t["name"] for t in procedure["transitions"]] == [
            t.name for t in workflow.transitions
        ]
    standard = procedures["standard"]
    triage = next(s for s in standard["states"] if s["name"] == "triage")
    assert triage["sla_hours"] == {"p1": 4, "p2": 24, "p3": 72, "p4": 168}
    decide = next(t for t in standard["transitions"] if t["name"] == "decide")
    assert decide["roles"] == ["admin", "lead", "reviewer"]
    assert "claimed_by_actor" in decide["guards"]
    file_appeal = next(t for t in standard["transitions"] if t["name"] == "file_appeal")
    assert file_appeal["roles"] == ["system"]
    # Three cases of the period ran on the standard workflow's current version.
    assert [v["cases"] for v in standard["versions_in_period"]] == [3]
    assert [v["cases"] for v in procedures["child_safety"]["versions_in_period"]] == [1]


def test_the_checkpoint_is_signed_and_covers_every_counted_case(session, world):
    document = dossier_json(session)
    checkpoint = document["checkpoint"]
    assert checkpoint["public_key"] == signer().verifier_key
    opened = open_checkpoint(checkpoint["note"], checkpoint["public_key"])
    assert (opened.size, opened.root.hex()) == (checkpoint["size"], checkpoint["root"])
    assert root_at(session, size=opened.size).hex() == checkpoint["root"]
    named = {ref for c in document["clauses"] for ref in c["cases_covered"]}
    assert named == {world.threats.reference, world.self_harm.reference, world.sub_clause.reference}
    assert sum(c["restricted_cases_covered"] for c in document["clauses"]) == 1
    covered = named | {world.child_safety.reference}
    events = session.exec(
        select(CaseEvent)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(Case.reference.in_(covered))
    ).all()
    assert all(event.log_index < opened.size for event in events)
    assert checkpoint["covers"] == {
        "cases": 4,
        "events": len(events),
        "highest_log_index": max(e.log_index for e in events),
    }
    other_key = signer().verifier_key.replace(signer().verifier_key[-8:], "AAAAAAA=")
    with pytest.raises(ValueError):
        open_checkpoint(checkpoint["note"], other_key)


def test_any_case_verifies_offline_against_the_dossier_checkpoint(
    session, world, runner, tmp_path, capsys
):
    document = dossier_json(session)
    session.commit()
    (tmp_path / "docket.pub").write_text(document["checkpoint"]["public_key"] + "\n")
    (tmp_path / "dossier-checkpoint.txt").write_text(document["checkpoint"]["note"])
    reference = world.threats.reference
    bundle = tmp_path / f"{reference}.zip"
    result = runner.invoke(args=["trail", "export", reference, "--out", str(bundle)])
    assert result.exit_code == 0, result.output
    arguments = [str(bundle), "--public-key", str(tmp_path / "docket.pub")]
    previous = ["--previous-checkpoint", str(tmp_path / "dossier-checkpoint.txt")]
    assert verify.main(arguments + previous) == 0
    assert "PASS" in capsys.readouterr().out


def test_the_html_is_one_self_contained_page_with_every_section(session, world):
    dossier = build_dossier(session, start=PERIOD_START, end=PERIOD_END)
    page = render(dossier, "html").decode()
    for clause in definitions().policy.clauses:
        assert f'id="clause-{clause.id}"' in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="workflow-diagram"') == 2
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert dossier.checkpoint.note.splitlines()[0] in page
    assert "python -m cases.trail.verify" in page and "trail export" in page
    assert world.threats.reference in page and world.child_safety.reference not in page


def test_clause_text_is_escaped(session, world, inquiry):
    found = inquiry(summary='<img src=x onerror="alert(1)"> & more', provider_reference="<b>x</b>")
    page = render(build_dossier(session, start=PERIOD_START, end=PERIOD_END, inquiry=found), "html")
    assert b"<img src=x" not in page and b"&lt;img src=x" in page
    assert b"<b>x</b>" not in page


def page_count(pdf: bytes) -> int:
    """The page tree's count, read from the file's (compressed) object streams too."""
    parts = [pdf]
    for stream in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        with contextlib.suppress(zlib.error):
            parts.append(zlib.decompress(stream.group(1)))
    counts = [int(n) for part in parts for n in re.findall(rb"/Count (\d+)", part)]
    assert counts, "no page tree found"
    return max(counts)


def test_the_pdf_is_a_real_pdf_of_several_pages(session, world):
    pdf = render(build_dossier(session, start=PERIOD_START, end=PERIOD_END), "pdf")
    assert pdf.startswith(b"%PDF")
    assert page_count(pdf) > 1
    assert pdf.rstrip().endswith(b"%%EOF")


def test_unknown_formats_are_refused(session):
    dossier = build_dossier(session, start=PERIOD_START, end=PERIOD_END)
    with pytest.raises(UnknownFormat):
        render(dossier, "docx")


def test_generating_for_an_inquiry_is_a_trail_event(session, world, inquiry, staff):
    found = inquiry(clauses=["protect.threats"])
    lead = staff("lead", "inquiries")
    made = generate_dossier(
        session,
        start=found.period_start,
        end=found.period_end,
        clauses=found.clauses,
        format="json",
        inquiry=found,
        actor_label=f"user:{lead.id}",
        user=lead,
    )
    session.commit()
    [(header, payload)] = event_payloads(session, found.case_id, EventType.dossier_generated)
    assert header["actor"] == f"user:{lead.id}"
    assert payload == {
        "format": "json",
        "sha256": hashlib.sha256(made.document).hexdigest(),
        "period": {
            "start": PERIOD_START.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "end": PERIOD_END.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        },
        "clauses": ["protect.threats"],
        "checkpoint": {"size": made.dossier.checkpoint.size, "root": made.dossier.checkpoint.root},
    }
    assert made.sha256 == payload["sha256"]
    assert json.load(io.BytesIO(made.document))["inquiry"]["id"] == found.id
    dossier_events = select(AccountEvent).where(
        AccountEvent.type == AccountEventType.dossier_generated
    )
    assert fresh(session).exec(dossier_events).all() == []


def test_generating_without_an_inquiry_is_an_account_event(session, world, staff):
    admin = staff("admin")
    made = generate_dossier(
        session,
        start=PERIOD_START,
        end=PERIOD_END,
        clauses=[],
        format="html",
        inquiry=None,
        actor_label=f"user:{admin.id}",
        user=admin,
    )
    session.commit()
    [event] = (
        fresh(session)
        .exec(select(AccountEvent).where(AccountEvent.type == AccountEventType.dossier_generated))
        .all()
    )
    assert (event.type, event.actor_id, event.user_id) == (
        AccountEventType.dossier_generated,
        admin.id,
        None,
    )
    assert event.detail["sha256"] == made.sha256 and event.detail["format"] == "html"
    assert event.detail["clauses"] == [] and event.detail["by"] == f"user:{admin.id}"
