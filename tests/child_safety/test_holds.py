"""Holds: placed, extended and never shortened (service and `flask --app app holds`),
law-enforcement requests (90 days, renewable by 90), the preservation period's floor, what a
hold covers, and erasure refused or skipping what is held. Every change is a trail event."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import Session, select

from app import create_app
from cases.child_safety.holds import (
    MAX_HOLD_DAYS,
    HoldError,
    HoldSettingsError,
    extend_hold,
    extend_hold_by_days,
    law_enforcement_period,
    place_hold,
    place_hold_for_days,
    preservation_period,
)
from cases.core.security import PermissionDenied
from cases.core.sqltypes import utcnow
from cases.enums import EventType, HoldKind
from cases.lifecycle.actors import Actor
from cases.models import Case, Hold
from cases.trail.canonical import utc_timestamp
from cases.trail.erasure import ErasureRefused, covering_holds, erase_payload, is_held
from cases.trail.events import verify_chain
from cases.trail.models import CaseEvent, EventPayload
from cases.trail.store import case_records
from tests.helpers import count, event_payloads, events, fresh

SYSTEM = Actor.system("test")
HOLD_EVENTS = (EventType.hold_placed, EventType.hold_extended)


def hold_events(session, case) -> list[CaseEvent]:
    return [e for e in events(session, case) if e.type in HOLD_EVENTS]


def written(session) -> tuple[int, int]:
    fresh(session)
    return count(session, Hold), count(session, CaseEvent)


def close_to(moment, expected) -> bool:
    return abs(moment - expected) < timedelta(minutes=1)


@pytest.fixture
def lead(staff):
    return Actor.staff(staff("lead"))


@pytest.fixture
def standard(open_case):
    return open_case(subject="acct-held")


@pytest.fixture
def restricted(open_case):
    case = open_case("sexual/minors", subject="acct-held")
    assert case.restricted
    return case


# --- placing, extending, never shortening -------------------------------------------------------


def test_a_legal_hold_is_placed_for_days_and_recorded(session, standard, lead):
    now = utcnow()
    hold = place_hold_for_days(
        session,
        case=standard,
        kind=HoldKind.legal,
        days=30,
        reason="Litigation",
        actor=lead,
        now=now,
    )
    session.commit()
    assert (hold.kind, hold.reason, hold.placed_by_id) == ("legal", "Litigation", lead.user_id)
    assert hold.until == now + timedelta(days=30)
    ((header, payload),) = event_payloads(session, standard.id, EventType.hold_placed)
    assert header["actor"] == lead.label
    assert payload == {
        "hold_id": hold.id,
        "kind": "legal",
        "reason": "Litigation",
        "until": utc_timestamp(now + timedelta(days=30)),
    }


def test_placing_again_extends_the_hold_and_never_shortens_it(session, standard, lead):
    now = utcnow()
    first = place_hold_for_days(
        session, case=standard, kind="legal", days=30, reason="Claim filed", actor=lead, now=now
    )
    again = place_hold_for_days(
        session, case=standard, kind="legal", days=60, reason="Claim amended", actor=lead, now=now
    )
    session.commit()
    assert again.id == first.id and again.until == now + timedelta(days=60)
    ((_, extended),) = event_payloads(session, standard.id, EventType.hold_extended)
    assert extended == {
        "hold_id": first.id,
        "kind": "legal",
        "from": utc_timestamp(now + timedelta(days=30)),
        "until": utc_timestamp(now + timedelta(days=60)),
        "reason": "Claim amended",
    }
    before = written(session)
    with pytest.raises(HoldError, match="it can be extended, never shortened"):
        place_hold_for_days(
            session, case=standard, kind="legal", days=10, reason="Shorter", actor=lead, now=now
        )
    session.rollback()
    assert written(session) == before
    assert fresh(session).get(Hold, first.id).until == now + timedelta(days=60)


def test_extending_adds_days_to_the_end_and_an_earlier_end_is_refused(session, standard, lead):
    hold = place_hold_for_days(
        session, case=standard, kind="legal", days=30, reason="Claim", actor=lead
    )
    end = hold.until
    extend_hold_by_days(session, hold=hold, case=standard, days=15, reason="More", actor=lead)
    session.commit()
    assert fresh(session).get(Hold, hold.id).until == end + timedelta(days=15)
    with pytest.raises(HoldError, match="never shortened"):
        extend_hold(
            session, hold=hold, case=standard, until=end, reason="Back to the start", actor=lead
        )
    session.rollback()
    assert fresh(session).get(Hold, hold.id).until == end + timedelta(days=15)
    assert [e.type for e in hold_events(session, standard)] == list(HOLD_EVENTS)


def test_an_ended_hold_is_not_extended_and_a_new_one_is_placed(session, standard, lead):
    past = utcnow() - timedelta(days=400)
    ended = place_hold_for_days(
        session, case=standard, kind="legal", days=30, reason="Old", actor=lead, now=past
    )
    session.commit()
    with pytest.raises(HoldError, match="ended on .*: place a new one"):
        extend_hold_by_days(session, hold=ended, case=standard, days=5, reason="Late", actor=lead)
    session.rollback()
    fresh_hold = place_hold_for_days(
        session, case=standard, kind="legal", days=5, reason="New claim", actor=lead
    )
    session.commit()
    assert fresh_hold.id != ended.id
    assert len(hold_events(session, standard)) == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"days": 0}, "from 1 to"),
        ({"days": -5}, "from 1 to"),
        ({"days": MAX_HOLD_DAYS + 1}, "from 1 to"),
        ({"days": 10**30}, "from 1 to"),
        ({"days": None}, "from 1 to"),
        ({"days": "30"}, "from 1 to"),
        ({"reason": "  "}, "give the reason"),
        ({"reason": "x" * 2001}, "at most 2000"),
        ({"reason": "a\x00b"}, "control characters"),
        ({"request_reference": "LE-1"}, "only a law-enforcement"),
        ({"kind": HoldKind.preservation}, "legal hold or record"),
        ({"kind": "bogus"}, "legal hold or record"),
    ],
)
def test_bad_hold_requests_are_refused_with_nothing_written(
    session, standard, lead, changes, message
):
    before = written(session)
    request = {"kind": HoldKind.legal, "days": 30, "reason": "Claim", **changes}
    with pytest.raises(HoldError, match=message):
        place_hold_for_days(session, case=standard, actor=lead, **request)
    session.rollback()
    assert written(session) == before


# --- law-enforcement preservation requests ------------------------------------------------------


def test_a_law_enforcement_request_runs_90_days_and_each_renewal_adds_90(session, standard, lead):
    now = utcnow()
    hold = place_hold_for_days(
        session,
        case=standard,
        kind=HoldKind.law_enforcement,
        request_reference="FBI-2026-0042",
        reason="2703(f) letter received by email",
        actor=lead,
        now=now,
    )
    session.commit()
    assert hold.until == now + timedelta(days=90)
    renewed = extend_hold_by_days(
        session,
        hold=hold,
        case=standard,
        request_reference="FBI-2026-0042-R1",
        reason="Renewed request",
        actor=lead,
    )
    session.commit()
    assert renewed.until == now + timedelta(days=180)
    (placed,), (extended,) = (
        [p for _, p in event_payloads(session, standard.id, t)] for t in HOLD_EVENTS
    )
    assert placed["request_reference"] == "FBI-2026-0042"
    assert extended["request_reference"] == "FBI-2026-0042-R1"
    assert extended["until"] == utc_timestamp(now + timedelta(days=180))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"days": 30}, "runs 90 days"),
        ({"request_reference": None}, "request's reference"),
        ({"request_reference": " "}, "request's reference"),
        ({"request_reference": "R" * 121}, "at most 120"),
        ({"request_reference": "R\x001"}, "control characters"),
    ],
)
def test_a_law_enforcement_request_needs_its_reference_and_no_days(
    session, standard, lead, changes, message
):
    before = written(session)
    request = {"request_reference": "LE-7", "reason": "Request", **changes}
    with pytest.raises(HoldError, match=message):
        place_hold_for_days(
            session, case=standard, kind=HoldKind.law_enforcement, actor=lead, **request
        )
    session.rollback()
    assert written(session) == before


# --- the periods: configurable upwards only ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PRESERVATION_DAYS", 364, "PRESERVATION_DAYS is 364: .* at least 365 days"),
        ("PRESERVATION_DAYS", 0, "at least 365 days"),
        ("PRESERVATION_DAYS", -1, "at least 365 days"),
        ("PRESERVATION_DAYS", MAX_HOLD_DAYS + 1, "at most"),
        ("PRESERVATION_DAYS", "400", "whole number of days"),
        ("PRESERVATION_DAYS", True, "whole number of days"),
        ("LAW_ENFORCEMENT_HOLD_DAYS", 89, "at least 90 days"),
    ],
)
def test_a_period_below_the_law_is_refused_at_startup(database_url, tmp_path, name, value, message):
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test",
        name: value,
    }
    with pytest.raises(HoldSettingsError, match=message):
        create_app(config)


def test_a_period_is_checked_again_at_use_and_may_be_longer(app):
    with app.app_context():
        assert preservation_period() == timedelta(days=365)
        assert law_enforcement_period() == timedelta(days=90)
        app.config.update(PRESERVATION_DAYS=400, LAW_ENFORCEMENT_HOLD_DAYS=120)
        assert preservation_period() == timedelta(days=400)
        assert law_enforcement_period() == timedelta(days=120)
        app.config["PRESERVATION_DAYS"] = 30
        with pytest.raises(HoldSettingsError, match="configured upwards only"):
            preservation_period()


def test_the_system_places_a_year_long_preservation_hold(session, restricted):
    # What the place_preservation_hold job does once a CyberTipline report is finished.
    now = utcnow()
    hold = place_hold(
        session,
        case=restricted,
        kind=HoldKind.preservation,
        reason="CyberTipline report finished",
        until=now + preservation_period(),
        actor=Actor.system("job:7"),
        now=now,
    )
    session.commit()
    assert hold.until - now >= timedelta(days=365) and hold.placed_by_id is None
    ((header, _),) = event_payloads(session, restricted.id, EventType.hold_placed)
    assert header["actor"] == "system:job:7"


def test_the_preservation_job_preserves_a_reported_case(session, restricted):
    from cases.child_safety.jobs import place_preservation_hold

    place_preservation_hold(session, SimpleNamespace(id=3), case_id=restricted.id)
    place_preservation_hold(session, SimpleNamespace(id=4), case_id=restricted.id)  # a re-run
    session.commit()
    (hold,) = fresh(session).exec(select(Hold)).all()
    assert hold.kind == "preservation" and hold.until - utcnow() > timedelta(days=364)
    assert len(hold_events(session, restricted)) == 1


# --- who may place holds -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "on_standard", "on_restricted"),
    [
        ("admin", True, True),
        ("lead", True, False),
        ("child_safety", False, True),
        ("reviewer", False, False),
        ("auditor", False, False),
    ],
)
def test_who_may_place_a_hold(
    session, staff, standard, restricted, role, on_standard, on_restricted
):
    actor = Actor.staff(staff(role))
    for case, allowed in ((standard, on_standard), (restricted, on_restricted)):
        before = written(session)
        place = dict(case=case, kind="legal", days=5, reason="Claim", actor=actor)
        if allowed:
            place_hold_for_days(session, **place)
            session.commit()
            assert written(session) != before
        else:
            with pytest.raises(PermissionDenied):
                place_hold_for_days(session, **place)
            session.rollback()
            assert written(session) == before


# --- what a hold covers --------------------------------------------------------------------------


def test_a_legal_hold_covers_its_case_and_files_not_the_subjects_other_cases(
    session, open_case, restricted, add_evidence
):
    held, other = restricted, open_case("hate", subject="acct-held")
    assert held.subject_id == other.subject_id and held.id != other.id
    shared = add_evidence(held, b"shared screenshot")
    add_evidence(other, b"shared screenshot")
    own = add_evidence(other, b"only the other case's")
    hold = place_hold_for_days(session, case=held, kind="legal", days=5, reason="C", actor=SYSTEM)
    session.commit()
    assert covering_holds(session, case_id=held.id) == [hold]
    assert not is_held(session, case_id=other.id)
    assert is_held(session, blob_sha256=shared.sha256)  # through the held case
    assert not is_held(session, blob_sha256=own.sha256)
    assert not is_held(session, case_id=held.id, now=hold.until)  # not after its end


@pytest.mark.parametrize("kind", [HoldKind.preservation, HoldKind.law_enforcement])
def test_preservation_and_law_enforcement_cover_the_subjects_other_cases(
    session, open_case, restricted, add_evidence, kind
):
    other = open_case("hate", subject="acct-held")
    unrelated = open_case("hate", subject="acct-unrelated")
    file = add_evidence(other, b"context about the reported person")
    hold = place_hold(
        session,
        case=restricted,
        kind=kind,
        reason="Preserved",
        until=utcnow() + timedelta(days=90),
        actor=SYSTEM,
        request_reference="LE-1" if kind == HoldKind.law_enforcement else None,
    )
    session.commit()
    assert covering_holds(session, case_id=other.id) == [hold]
    assert is_held(session, blob_sha256=file.sha256)
    assert not is_held(session, case_id=unrelated.id)


def test_is_held_names_exactly_one_thing(session, standard):
    for kwargs in ({}, {"case_id": standard.id, "blob_sha256": "0" * 64}):
        with pytest.raises(ValueError, match="either a case or an evidence file"):
            is_held(session, **kwargs)
    with pytest.raises(ValueError, match="not a SHA-256"):
        is_held(session, blob_sha256="%")


# --- erasure -------------------------------------------------------------------------------------


def test_erasure_is_refused_under_a_hold_and_through_the_subject(session, open_case, restricted):
    other = open_case("hate", subject="acct-held")
    place_hold(
        session,
        case=restricted,
        kind=HoldKind.preservation,
        reason="CyberTipline report finished",
        until=utcnow() + timedelta(days=365),
        actor=SYSTEM,
    )
    session.commit()
    for case, where in ((restricted, ""), (other, f"placed on {restricted.reference}")):
        before = written(session), count(session, EventPayload)
        with pytest.raises(ErasureRefused, match=f"under a preservation hold until .*{where}"):
            erase_payload(session, case=case, actor="operator:dpo", reason="GDPR request")
        session.rollback()
        assert (written(session), count(session, EventPayload)) == before


def test_erasure_keeps_the_custody_record_of_a_held_file(session, open_case, add_evidence, lead):
    held, other = open_case(subject="acct-5"), open_case(subject="acct-6")
    shared = add_evidence(held, b"shared screenshot")
    add_evidence(other, b"shared screenshot", filename="copy.png")
    add_evidence(other, b"nothing held", filename="own.png")
    place_hold_for_days(session, case=held, kind="legal", days=5, reason="Claim", actor=lead)
    session.commit()
    assert is_held(session, blob_sha256=shared.sha256)

    erased = erase_payload(session, case=other, actor="operator:dpo", reason="GDPR request")
    session.commit()
    records = case_records(session, case_id=other.id)
    kept = [r.seq for r in records[:-1] if r.payload is not None]
    (copy,) = [r for r in records if r.payload and json.loads(r.payload).get("filename")]
    assert json.loads(copy.payload)["filename"] == "copy.png" and kept == [copy.seq]
    assert json.loads(records[-1].payload) == {
        "reason": "GDPR request",
        "through_seq": erased.seq - 1,
        "kept": [copy.seq],
    }
    assert verify_chain(other.reference, records).erased == len(records) - 2


def erase_alone(engine, case_id: int) -> None:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        erase_payload(session, case=case, actor="operator:dpo", reason="GDPR request")
        session.commit()


@pytest.mark.postgres_only
def test_an_erasure_waits_for_a_hold_being_placed_on_the_subject(
    app, session, open_case, restricted
):
    other = open_case("hate", subject="acct-held")
    engine = app.extensions["docket.db"]
    with Session(engine) as placing, ThreadPoolExecutor(1) as pool:
        place_hold(
            placing,
            case=placing.get(Case, restricted.id),
            kind=HoldKind.preservation,
            reason="CyberTipline report finished",
            until=utcnow() + timedelta(days=365),
            actor=SYSTEM,
        )
        erasing = pool.submit(erase_alone, engine, other.id)
        time.sleep(0.5)
        assert not erasing.done()  # queued behind the hold on the subject's row
        placing.commit()
        with pytest.raises(ErasureRefused, match=f"placed on {restricted.reference}"):
            erasing.result(timeout=30)
    assert all(r.payload is not None for r in case_records(fresh(session), case_id=other.id))


# --- the command line ----------------------------------------------------------------------------


def hold_cli(runner, *args):
    return runner.invoke(args=["holds", *args])


def test_holds_place_and_extend_from_the_command_line(runner, session, standard):
    ref = standard.reference
    result = hold_cli(runner, "place", ref, "--days", "30", "--reason", "Litigation hold")
    assert result.exit_code == 0, result.output
    assert f"legal hold 1 on {ref} until" in result.output
    hold = fresh(session).exec(select(Hold)).one()
    assert close_to(hold.until, utcnow() + timedelta(days=30))

    result = hold_cli(runner, "place", ref, "--days", "10", "--reason", "Shorter")
    assert result.exit_code == 1 and "it can be extended, never shortened" in result.output
    result = hold_cli(runner, "extend", ref, "--days", "10", "--reason", "Ten more")
    assert result.exit_code == 0, result.output
    assert close_to(fresh(session).get(Hold, hold.id).until, utcnow() + timedelta(days=40))

    changes = hold_events(session, standard)
    assert [e.type for e in changes] == list(HOLD_EVENTS)
    assert all(e.actor.startswith("operator:") for e in changes)


def test_a_law_enforcement_request_from_the_command_line(runner, session, restricted):
    ref = restricted.reference
    place = ["place", ref, "--kind", "law_enforcement", "--reason", "2703(f) letter"]
    result = hold_cli(runner, *place, "--days", "30", "--request-reference", "LE-9")
    assert result.exit_code == 1 and "runs 90 days" in result.output
    result = hold_cli(runner, *place, "--request-reference", "LE-9")
    assert result.exit_code == 0, result.output
    renew = ["extend", ref, "--kind", "law_enforcement", "--reason", "Renewed"]
    assert hold_cli(runner, *renew).exit_code == 1  # a renewal names its request
    result = hold_cli(runner, *renew, "--request-reference", "LE-9-R")
    assert result.exit_code == 0, result.output
    hold = fresh(session).exec(select(Hold)).one()
    assert hold.kind == "law_enforcement"
    assert close_to(hold.until, utcnow() + timedelta(days=180))


@pytest.mark.parametrize(
    "args",
    [
        ["--days", "-5", "--reason", "x"],
        ["--days", "0", "--reason", "x"],
        ["--days", "ten", "--reason", "x"],
        ["--days", "1e3", "--reason", "x"],
        ["--days", str(10**30), "--reason", "x"],
        ["--reason", "no days"],
        ["--days", "5", "--reason", "x" * 2001],
        ["--days", "5", "--reason", "a\x00b"],
        ["--days", "5", "--reason", ""],
        ["--days", "5"],
        ["--days", "5", "--reason", "x", "--kind", "preservation"],
        ["--days", "5", "--reason", "x", "--request-reference", "LE-1"],
    ],
)
def test_the_command_line_refuses_bad_input_and_writes_nothing(runner, session, standard, args):
    before = written(session)
    result = hold_cli(runner, "place", standard.reference, *args)
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output and written(session) == before


def test_the_command_line_names_what_is_missing(runner, session, standard):
    result = hold_cli(runner, "place", "DK-0000-000000", "--days", "5", "--reason", "x")
    assert result.exit_code == 2 and "no case DK-0000-000000" in result.output
    result = hold_cli(runner, "extend", standard.reference, "--days", "5", "--reason", "x")
    assert result.exit_code == 1 and "has no active legal hold" in result.output


def test_trail_erase_is_refused_under_a_hold_placed_from_the_command_line(
    runner, session, standard
):
    assert (
        hold_cli(runner, "place", standard.reference, "--days", "5", "--reason", "Claim").exit_code
        == 0
    )
    result = runner.invoke(args=["trail", "erase", standard.reference, "--reason", "request"])
    assert result.exit_code == 1
    assert f"case {standard.reference} is under a legal hold until" in result.output
    assert all(
        p is not None
        for p in (r.payload for r in case_records(fresh(session), case_id=standard.id))
    )
