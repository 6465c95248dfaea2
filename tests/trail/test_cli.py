"""`flask --app app trail …`, and the offline verifier run as an auditor would run it: a separate
`python -m cases.trail.verify` process given the published public key."""

import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from cases.core.sqltypes import utcnow
from cases.models import Hold
from cases.trail.models import CaseEvent, Checkpoint, EventPayload
from cases.trail.signed_notes import Signer, generate_signer_key, open_checkpoint
from tests.trail.tampering import rewrite_log, stored_leaves, tamper

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_overrides(signer_key, blob_root):
    # The app signs with the scene's key and reads the scene's blob store.
    return {"TRAIL_SIGNING_KEY": signer_key, "BLOB_ROOT": str(blob_root)}


def run_verifier(bundle: Path, key_file: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cases.trail.verify", str(bundle), "--public-key", str(key_file)]
        + list(extra),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def key_file(runner, tmp_path) -> Path:
    """The published key, as `trail public-key` prints it, saved by the auditor."""
    result = runner.invoke(args=["trail", "public-key"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "docket.pub"
    path.write_text(result.output)
    return path


def test_public_key_is_the_signers_verifier_key(runner, signer):
    result = runner.invoke(args=["trail", "public-key"])
    assert (result.exit_code, result.output) == (0, signer.verifier_key + "\n")


@pytest.mark.parametrize("bundle_name", ["bundle", "bundle.zip"])
def test_export_then_offline_verify_passes(runner, session, scene, key_file, tmp_path, bundle_name):
    out = tmp_path / bundle_name
    result = runner.invoke(args=["trail", "export", scene.a.reference, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert out.is_dir() if out.suffix != ".zip" else zipfile.is_zipfile(out)
    previous = tmp_path / "previous.txt"
    previous.write_text(scene.checkpoints[-1].note)
    verified = run_verifier(out, key_file, "--previous-checkpoint", str(previous))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    lines = verified.stdout.splitlines()
    assert lines[-1] == "PASS"
    assert f"case {scene.a.reference}" in lines
    assert any(line.startswith("events: 5 (0 erased payloads)") for line in lines)
    # The export is on the record, and the checkpoint it signed is stored.
    assert session.exec(select(Checkpoint.size).order_by(Checkpoint.id.desc())).first() == 13


def test_offline_verify_fails_on_an_edited_bundle(runner, scene, key_file, tmp_path):
    out = tmp_path / "bundle"
    assert (
        runner.invoke(args=["trail", "export", scene.a.reference, "--out", str(out)]).exit_code == 0
    )
    with (out / "events.jsonl").open("ab") as f:
        f.write(b"\n")
    verified = run_verifier(out, key_file)
    assert verified.returncode == 1
    assert verified.stdout == "FAIL: events.jsonl does not match its SHA-256 in manifest.json\n"


def test_offline_verify_refuses_another_key(runner, scene, tmp_path):
    out = tmp_path / "bundle"
    assert (
        runner.invoke(args=["trail", "export", scene.a.reference, "--out", str(out)]).exit_code == 0
    )
    other = tmp_path / "other.pub"
    other.write_text(Signer.from_key(generate_signer_key("docket.example/trail")).verifier_key)
    verified = run_verifier(out, other)
    assert verified.returncode == 1
    assert verified.stdout == "FAIL: checkpoint.txt: checkpoint is not signed by the pinned key\n"


def test_export_refuses_an_existing_target_and_an_unknown_case(runner, scene, tmp_path):
    result = runner.invoke(args=["trail", "export", scene.a.reference, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "already exists" in result.output
    result = runner.invoke(args=["trail", "export", "DK-1999-000000", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "no case DK-1999-000000" in result.output


def test_verify_passes_then_fails_after_tampering(runner, session, scene):
    result = runner.invoke(args=["trail", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "PASS"
    assert "cases: 3 chains, 12 events (0 payloads erased)" in result.output
    assert "checkpoints: 2 signatures and roots checked" in result.output
    event = scene.event(session, "B", 3)
    tamper(
        session,
        sa.update(EventPayload)
        .where(EventPayload.event_id == event.id)
        .values(payload='{"text":"B note 3, edited"}'),
    )
    result = runner.invoke(args=["trail", "verify"])
    assert result.exit_code == 1
    expected = f"FAIL: case {scene.cases['B'].reference} event 3: payload does not match its "
    assert result.output == expected + "commitment\n"
    # Verifying another case still looks at the whole log, but not at B's chain.
    result = runner.invoke(args=["trail", "verify", "--case", scene.a.reference])
    assert result.exit_code == 0 and "cases: 1 chains, 4 events" in result.output


def test_checkpoint_command_signs_the_current_log(runner, scene, signer):
    result = runner.invoke(args=["trail", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert result.output == scene.checkpoints[-1].note  # nothing appended since: same note
    assert open_checkpoint(result.output, signer.verifier_key).size == 12


def test_checkpoint_and_export_refuse_a_truncated_log(runner, session, scene, tmp_path):
    # The last round of events (log indexes 9-11) removed, and the log cut back to match.
    gone = select(CaseEvent.id).where(CaseEvent.log_index >= 9)
    tamper(
        session,
        sa.delete(EventPayload).where(EventPayload.event_id.in_(gone)),
        sa.delete(CaseEvent).where(CaseEvent.log_index >= 9),
        *rewrite_log(stored_leaves(session)[:9]),
    )
    result = runner.invoke(args=["trail", "checkpoint"])
    assert result.exit_code == 1
    assert "refusing to sign: the log has 9 leaves but checkpoint" in result.output
    result = runner.invoke(
        args=["trail", "export", scene.a.reference, "--out", str(tmp_path / "bundle")]
    )
    assert result.exit_code == 1
    assert "refusing to export: the log has 10 leaves but checkpoint" in result.output
    assert not (tmp_path / "bundle").exists()


def test_erase_then_verify_and_export_still_pass(runner, scene, key_file, tmp_path):
    result = runner.invoke(args=["trail", "erase", scene.a.reference, "--reason", "ticket 9"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["trail", "verify"])
    assert result.exit_code == 0 and "13 events (4 payloads erased)" in result.output
    out = tmp_path / "erased.zip"
    assert (
        runner.invoke(args=["trail", "export", scene.a.reference, "--out", str(out)]).exit_code == 0
    )
    verified = run_verifier(out, key_file)
    assert verified.returncode == 0 and "events: 6 (4 erased payloads)" in verified.stdout


def test_erase_is_refused_under_a_hold(runner, session, scene):
    until = utcnow().replace(year=utcnow().year + 1)
    session.add(Hold(case_id=scene.a.id, kind="legal", reason="litigation", until=until))
    session.commit()
    result = runner.invoke(args=["trail", "erase", scene.a.reference, "--reason", "request"])
    assert result.exit_code == 1
    assert f"case {scene.a.reference} is under a legal hold until" in result.output
    assert session.exec(select(EventPayload)).all()  # nothing erased


def test_signing_key_is_generated_once_in_the_instance_folder(app, tmp_path):
    app.config["TRAIL_SIGNING_KEY"] = None
    app.extensions.pop("docket.signer", None)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["trail", "public-key"]).output
    app.extensions.pop("docket.signer")  # as a fresh process would
    second = runner.invoke(args=["trail", "public-key"]).output
    assert first == second and first.startswith("docket.example/trail+")
    key = Path(app.instance_path) / "trail-signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("PRIVATE+KEY+docket.example/trail+")
