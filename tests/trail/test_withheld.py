"""Bundles that withhold files (restricted media, for a recipient not cleared for it): they name
each withheld file by SHA-256 with the reason, the verifier passes and says so, and a withheld
entry cannot cover for a file that was removed or swapped without saying."""

import json
import shutil
from pathlib import Path

import pytest

from cases.trail import merkle
from cases.trail.bundle import write_bundle
from cases.trail.signed_notes import Signer, generate_signer_key
from cases.trail.verify import VerificationError, main, verify_bundle
from tests.trail.test_bundle import AT, ORIGIN, A, World, blob_names, populate, refresh_manifest

REASON = "restricted child-safety media"


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.from_key(generate_signer_key(ORIGIN))


@pytest.fixture
def world(signer, tmp_path) -> World:
    store = tmp_path / "store"
    store.mkdir()
    return populate(World(signer, store))


def export(world: World, out: Path, *, withheld: dict[str, str]) -> Path:
    size = len(world.log.leaves)
    chain = world.chain(A)
    named = set(blob_names(world, A))
    return write_bundle(
        out,
        case_ref=A,
        checkpoint_note=world.checkpoint(),
        verifier_key=world.signer.verifier_key,
        leaves=world.log.leaves,
        events=[(r, merkle.inclusion_proof(r.log_index, size, world.log.node)) for r in chain],
        blobs=world.openers(named - withheld.keys()),
        withheld=withheld,
        created_at=AT,
    )


@pytest.fixture
def secret(world) -> str:
    return blob_names(world, A)[0]


@pytest.fixture
def bundle(world, secret, tmp_path) -> Path:
    return export(world, tmp_path / "bundle", withheld={secret: REASON})


def test_a_bundle_withholding_a_file_passes_and_names_it(bundle, secret, signer):
    result = verify_bundle(bundle, verifier_key=signer.verifier_key)
    assert result.withheld == ((secret, REASON),)
    assert result.blobs == 1  # the other file of case A, present and checked
    assert not (bundle / "blobs" / secret).exists()
    assert json.loads((bundle / "withheld.json").read_text()) == {"withheld": {secret: REASON}}
    assert f"withheld (named by the events, not in this bundle): {secret}: {REASON}" in (
        result.summary()
    )
    assert "withheld.json" in (bundle / "README.txt").read_text()


def test_the_command_line_says_what_was_withheld(bundle, secret, signer, tmp_path, capsys):
    key = tmp_path / "key.txt"
    key.write_text(signer.verifier_key)
    assert main([str(bundle), "--public-key", str(key)]) == 0
    out = capsys.readouterr().out
    assert secret in out and REASON in out and out.rstrip().endswith("PASS")


def test_a_bundle_without_withheld_files_has_no_withheld_list(world, signer, tmp_path):
    bundle = export(world, tmp_path / "full", withheld={})
    assert not (bundle / "withheld.json").exists()
    assert verify_bundle(bundle, verifier_key=signer.verifier_key).withheld == ()


def test_a_removed_file_not_said_to_be_withheld_fails(world, secret, signer, tmp_path):
    bundle = export(world, tmp_path / "bundle", withheld={})
    (bundle / "blobs" / secret).unlink()
    refresh_manifest(bundle)
    with pytest.raises(VerificationError, match=f"blobs/{secret}, named by an event, is missing"):
        verify_bundle(bundle, verifier_key=signer.verifier_key)


def test_a_file_both_present_and_withheld_fails(world, bundle, secret, signer):
    shutil.copy(world.blobs[secret], bundle / "blobs" / secret)
    refresh_manifest(bundle)
    with pytest.raises(VerificationError, match="also said to be withheld"):
        verify_bundle(bundle, verifier_key=signer.verifier_key)


def test_withholding_a_file_no_event_names_fails(world, signer, tmp_path):
    stranger = "ab" * 32
    bundle = export(world, tmp_path / "bundle", withheld={stranger: REASON})
    with pytest.raises(VerificationError, match=f"names {stranger}, which no event references"):
        verify_bundle(bundle, verifier_key=signer.verifier_key)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"withheld":{}}', "non-empty"),
        (b'{"withheld":{"UPPER":"x"}}', "64 lowercase hex"),
        (b'{"withheld":{"SECRET":" "}}', "has no reason"),
        (b'{ "withheld":{"SECRET":"x"}}', "canonical form"),
    ],
)
def test_a_malformed_withheld_list_fails(bundle, secret, signer, content, message):
    content = content.replace(b"SECRET", secret.encode()).replace(b"UPPER", secret.upper().encode())
    (bundle / "withheld.json").write_bytes(content)
    refresh_manifest(bundle)
    with pytest.raises(VerificationError, match=message):
        verify_bundle(bundle, verifier_key=signer.verifier_key)
