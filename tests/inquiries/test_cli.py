"""`flask --app app dossier`: a file per extension, the record of it, and bad input (exit 2)."""

import hashlib
import json
from datetime import timedelta

import pytest
from sqlmodel import select

from cases.enums import AccountEventType, EventType
from cases.models import AccountEvent
from cases.trail.models import Checkpoint
from tests.helpers import count, event_payloads, fresh
from tests.inquiries.conftest import LAST_DAY, PARENT_CLAUSE, PERIOD_END, PERIOD_START, day

PERIOD = ["--from", day(PERIOD_START), "--to", day(LAST_DAY)]
MOMENT = "%Y-%m-%dT%H:%M:%S.000000Z"


def covered(document: dict, start, end) -> bool:
    """Whether the dossier covers [start, end), its days named from the first to the last."""
    period = document["dossier"]["period"]
    return (period["start"], period["end"], period["first_day"], period["last_day"]) == (
        start.strftime(MOMENT),
        end.strftime(MOMENT),
        day(start),
        day(end - timedelta(days=1)),
    )


def dossier_events(session) -> list[AccountEvent]:
    return list(
        fresh(session).exec(
            select(AccountEvent).where(AccountEvent.type == AccountEventType.dossier_generated)
        )
    )


@pytest.mark.parametrize(
    ("name", "start"),
    [("out.json", b"{"), ("out.html", b"<!doctype html>"), ("Out.PDF", b"%PDF")],
)
def test_the_extension_chooses_the_format(runner, session, world, tmp_path, name, start):
    out = tmp_path / name
    clauses = ["--clause", "protect.threats"] if name != "Out.PDF" else []
    result = runner.invoke(args=["dossier", *PERIOD, *clauses, "--out", str(out)])
    assert result.exit_code == 0, result.output
    body = out.read_bytes()
    assert body.startswith(start)
    sha256 = hashlib.sha256(body).hexdigest()
    assert f"SHA-256 {sha256}" in result.output
    assert "recorded in the account history" in result.output
    [event] = dossier_events(session)
    assert event.detail["sha256"] == sha256 and event.actor_id is None
    assert event.detail["by"].startswith("operator:")
    assert event.detail["format"] == name.rsplit(".", 1)[1].lower()


def test_clauses_as_in_policy_toml(runner, session, world, tmp_path):
    out = tmp_path / "d.json"
    args = ["dossier", *PERIOD, "--clause", PARENT_CLAUSE, "--clause", "protect.threats"]
    result = runner.invoke(args=[*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["dossier"]["clauses_requested"] == ["protect.threats", PARENT_CLAUSE]
    assert document["clauses"][0]["id"] == "protect.threats"
    assert document["clauses"][0]["cases_covered"] == [world.threats.reference]
    assert document["checkpoint"]["size"] >= 1 and document["checkpoint"]["note"]


def test_for_an_inquiry_it_is_recorded_on_its_trail(runner, session, world, inquiry, tmp_path):
    found = inquiry(clauses=["protect.threats"])
    out = tmp_path / "answer.json"
    result = runner.invoke(args=["dossier", "--inquiry", str(found.id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    # The inquiry's period and clauses, unless given; its days shown both included.
    assert [c["id"] for c in document["clauses"]] == ["protect.threats"]
    assert covered(document, PERIOD_START, PERIOD_END)
    assert f"period: {day(PERIOD_START)} to {day(LAST_DAY)}, both included" in result.output
    [(header, payload)] = event_payloads(session, found.case_id, EventType.dossier_generated)
    assert header["actor"].startswith("operator:")
    assert payload["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert dossier_events(session) == []
    assert f"recorded on case {document['inquiry']['case']}" in result.output


def test_the_last_day_given_is_included(runner, world, tmp_path):
    out = tmp_path / "d.json"
    result = runner.invoke(args=["dossier", *PERIOD, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert covered(json.loads(out.read_text()), PERIOD_START, PERIOD_END)
    assert f"period: {day(PERIOD_START)} to {day(LAST_DAY)}, both included" in result.output


def test_a_period_given_replaces_the_inquiry_s(runner, world, inquiry, tmp_path):
    found = inquiry()
    out = tmp_path / "d.json"
    one_day = ["--from", day(LAST_DAY), "--to", day(LAST_DAY)]
    result = runner.invoke(
        args=["dossier", *one_day, "--inquiry", str(found.id), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert covered(json.loads(out.read_text()), LAST_DAY, PERIOD_END)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "{tmp}/d.docx", *PERIOD], "must end in .json, .html, .pdf"),
        (["--out", "{tmp}/d", *PERIOD], "must end in"),
        (["--out", "{tmp}/d.json", *PERIOD, "--clause", "protect.nonsense"], "Unknown policy"),
        (["--out", "{tmp}/d.json", *PERIOD, "--clause", "<b>"], "Unknown policy"),
        (["--out", "{tmp}/d.json", "--from", "2026-04-01", "--to", "2026-03-01"], "comes before"),
        (["--out", "{tmp}/d.json", "--from", "2026-03-01", "--to", "2101-01-01"], "'--to'"),
        (["--out", "{tmp}/d.json", "--from", "2026-02-30", "--to", "2026-03-01"], "--from"),
        (["--out", "{tmp}/d.json", "--from", "0001-01-01", "--to", "2026-03-01"], "Give a day"),
        (["--out", "{tmp}/d.json", "--from", "2026-03-01"], "Missing option '--to'"),
        (["--out", "{tmp}/d.json", "--to", "2026-03-01", "--inquiry", "1"], "Missing option"),
        (["--out", "{tmp}/d.json"], "give --from and --to (or --inquiry"),
        (["--out", "{tmp}/d.json", "--inquiry", "999"], "no inquiry 999"),
        (["--out", "{tmp}/d.json", "--inquiry", "x"], "--inquiry"),
        (["--out", "{tmp}/missing/d.json", *PERIOD], "no folder"),
        ([*PERIOD], "--out"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(runner, session, tmp_path, args, message):
    folder = tmp_path / "out"
    folder.mkdir()
    args = [a.replace("{tmp}", str(folder)) for a in args]
    result = runner.invoke(args=["dossier", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert list(folder.iterdir()) == []
    assert dossier_events(session) == [] and count(session, Checkpoint) == 0


def test_an_existing_file_is_never_overwritten(runner, session, tmp_path):
    out = tmp_path / "d.json"
    out.write_text("keep me")
    result = runner.invoke(args=["dossier", *PERIOD, "--out", str(out)])
    assert result.exit_code == 2 and "already exists" in result.output
    assert out.read_text() == "keep me"
    assert dossier_events(session) == []
