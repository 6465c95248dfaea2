"""`flask --app app dsa export --from --to --out FILE`: the period's statements as Transparency
Database JSON, both days included; bad dates and invalid statements refused with nothing
written."""

import json
from datetime import UTC, datetime

import pytest

from cases.dsa import service as dsa_service
from cases.dsa.statements import statement_problems
from tests.dsa.conftest import bulk_decisions

DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def export(runner, tmp_path, *, start="2026-03-10", end="2026-03-10", name="statements.json"):
    out = tmp_path / name
    args = ["dsa", "export", "--from", start, "--to", end, "--out", str(out)]
    return runner.invoke(args=args), out


def test_the_export_holds_every_restriction_decision_of_the_period(runner, session, tmp_path):
    inside = bulk_decisions(session, 3, decided_at=DAY)
    last_moment = bulk_decisions(session, 1, decided_at=datetime(2026, 3, 11, 23, 59, tzinfo=UTC))
    bulk_decisions(session, 1, decided_at=datetime(2026, 3, 12, 0, 0, tzinfo=UTC))  # after
    bulk_decisions(session, 1, decided_at=datetime(2026, 3, 9, 23, 59, tzinfo=UTC))  # before
    lifted = bulk_decisions(session, 1, decided_at=DAY)[0]
    lifted.restriction = "no_action"  # nothing restricted: no statement
    session.add(lifted)
    session.commit()

    result, out = export(runner, tmp_path, end="2026-03-11")
    assert result.exit_code == 0, result.output
    assert f"wrote 4 statement(s) of reasons to {out}" in result.output
    body = json.loads(out.read_text())
    assert list(body) == ["statements"]
    expected = [d.id for d in inside + last_moment]
    assert [int(s["puid"].split("-")[1]) for s in body["statements"]] == expected
    assert all(statement_problems(s) == [] for s in body["statements"])
    assert not list(tmp_path.glob(".*partial"))


def test_an_empty_period_is_an_empty_list(runner, tmp_path):
    result, out = export(runner, tmp_path)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == {"statements": []}


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-13-01", "2026-03-10", "'--from'"),
        ("2026-03-01", "yesterday", "'--to'"),
        ("2026-03-10", "2026-03-01", "The last day comes before the first."),
        ("2026-03-10", "2026-03-09", "Invalid value for '--to'"),
        ("1999-12-31", "2026-03-01", "Invalid value for '--from': Give a day from 2000-01-01"),
        ("2026-03-01", "2101-01-01", "Invalid value for '--to': Give a day from 2000-01-01"),
        ("2026-02-30", "2026-03-01", "'--from'"),
        ("<script>", "2026-03-01", "'--from'"),
    ],
)
def test_bad_dates_are_refused_and_nothing_is_written(runner, tmp_path, start, end, message):
    result, out = export(runner, tmp_path, start=start, end=end)
    assert result.exit_code == 2 and message in result.output
    assert not out.exists()


def test_a_statement_that_breaks_a_rule_stops_the_export(runner, session, tmp_path):
    good, bad = bulk_decisions(session, 2, decided_at=DAY)
    # A legal ground without its law (written by hand, past the decision service's checks).
    bad.ground_kind, bad.legal_ground = "legal", None
    session.add(bad)
    session.commit()
    result, out = export(runner, tmp_path)
    assert result.exit_code == 1
    assert f"docket-{bad.id}-" in result.output and "illegal_content_legal_ground" in result.output
    assert f"docket-{good.id}-" not in result.output
    assert "nothing was written" in result.output
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_an_unwritable_destination_is_a_message(runner, session, tmp_path):
    bulk_decisions(session, 1, decided_at=DAY)
    result, _ = export(runner, tmp_path, name="missing-folder/statements.json")
    assert result.exit_code == 1 and "cannot write" in result.output


def test_an_existing_file_is_replaced_whole(runner, session, tmp_path):
    (tmp_path / "statements.json").write_text("old contents")
    bulk_decisions(session, 2, decided_at=DAY)
    result, out = export(runner, tmp_path)
    assert result.exit_code == 0, result.output
    assert len(json.loads(out.read_text())["statements"]) == 2


def test_decisions_are_read_in_chunks(runner, session, tmp_path, monkeypatch):
    monkeypatch.setattr(dsa_service, "CHUNK", 2)
    made = bulk_decisions(session, 5, decided_at=DAY)
    result, out = export(runner, tmp_path)
    assert result.exit_code == 0, result.output
    ids = [int(s["puid"].split("-")[1]) for s in json.loads(out.read_text())["statements"]]
    assert ids == [d.id for d in made]
