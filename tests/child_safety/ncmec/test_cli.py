"""`flask --app app ncmec status` and `ncmec submit CASE_REF`, and where the schema comes from."""

import os
import time
from pathlib import Path

import pytest

from cases.child_safety.ncmec.service import NcmecRefused, report_schema, submit_draft
from cases.enums import OutboxStatus
from cases.lifecycle.actors import Actor
from tests.child_safety.fake_cybertipline import SCHEMA_PATH
from tests.child_safety.ncmec.conftest import reports, submission_jobs
from tests.child_safety.ncmec.test_submission import assert_reported_once
from tests.helpers import reloaded


def test_status_prints_ncmecs_answer(runner, fake):
    result = runner.invoke(args=["ncmec", "status"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: http://127.0.0.1:") and "(test)" in result.output
    assert "Remote User : docket" in result.output
    assert fake.calls[-1].request_id in result.output


def test_status_fails_with_wrong_credentials(app, runner):
    app.config["NCMEC_PASSWORD"] = "wrong"
    result = runner.invoke(args=["ncmec", "status"])
    assert result.exit_code == 1
    assert "FAIL: /status: 2000 Authentication required (Request-ID" in result.output


def test_status_fails_on_settings_that_could_misdirect_a_report(app, runner, fake):
    app.config["NCMEC_ENVIRONMENT"] = "production"
    result = runner.invoke(args=["ncmec", "status"])
    assert result.exit_code == 1 and "not a production HTTPS endpoint" in result.output
    assert fake.calls == []


def test_submit_queues_a_submission_under_way_again(
    app, runner, session, fake, child_case, drafted
):
    case, specialist = drafted(child_case())
    fake.fail_next("submit", 1000)
    submit_draft(session, case=case, actor=Actor.staff(specialist), config=app.config)
    session.commit()
    [job] = submission_jobs(session, case)
    job.status = OutboxStatus.failed  # its attempts ran out while NCMEC was down
    session.add(job)
    session.commit()

    result = runner.invoke(args=["ncmec", "submit", case.reference])
    assert result.exit_code == 0, result.output
    assert f"{case.reference}: submission queued" in result.output
    assert_reported_once(session, fake, case, files=0)
    result = runner.invoke(args=["ncmec", "submit", case.reference])
    assert result.exit_code == 1 and "already finished" in result.output


def test_submit_sends_a_draft_as_the_specialist_holding_the_case(
    runner, session, fake, child_case, drafted, staff
):
    case, specialist = drafted(child_case())
    result = runner.invoke(args=["ncmec", "submit", case.reference])
    assert result.exit_code == 1 and "--as" in result.output
    other = staff("child_safety", "not holding it")
    result = runner.invoke(args=["ncmec", "submit", case.reference, "--as", other.email])
    assert result.exit_code == 1 and "claim" in result.output
    assert fake.calls == [] and reloaded(session, case).state == "report_drafted"

    result = runner.invoke(args=["ncmec", "submit", case.reference, "--as", specialist.email])
    assert result.exit_code == 0, result.output
    assert_reported_once(session, fake, case, files=0)


def test_submit_refuses_what_it_cannot_find(runner, child_case, staff):
    assert runner.invoke(args=["ncmec", "submit", "DK-2099-000001"]).exit_code == 2
    case = child_case()
    result = runner.invoke(args=["ncmec", "submit", case.reference])
    assert result.exit_code == 1 and "no prepared CyberTipline report" in result.output
    result = runner.invoke(args=["ncmec", "submit", case.reference, "--as", "nobody@example.org"])
    assert result.exit_code == 2


def test_without_a_schema_path_the_endpoints_schema_is_fetched_once_and_kept(
    app, session, fake, child_case, drafted
):
    app.config["NCMEC_SCHEMA_PATH"] = None
    first = report_schema()
    second = report_schema()
    assert fake.count("xsd") == 1 and first is second
    cached = Path(app.instance_path) / "ncmec" / "cybertipline-report.xsd"
    assert cached.read_bytes() == fake.schema_text

    # A copy older than a day is fetched again; while the endpoint refuses, the old copy serves.
    old = time.time() - 2 * 24 * 3600
    os.utime(cached, (old, old))
    app.config["NCMEC_PASSWORD"] = "wrong"
    report_schema().check((SCHEMA_PATH.parent / "sample_report.xml").read_bytes())
    assert [c.code for c in fake.calls if c.endpoint == "xsd"] == [0, 2000]
    # Without any copy, nothing can be checked, so nothing is sent.
    os.remove(cached)
    with pytest.raises(NcmecRefused, match="schema is not available"):
        report_schema()
    assert reports(session, child_case()) == []
