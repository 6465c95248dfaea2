"""Signed-note checkpoints: Go-compatible keys and notes, strict parsing, pinned-key checks."""

import base64

import pytest

from cases.trail.signed_notes import (
    Checkpoint,
    CheckpointError,
    KeyFormatError,
    Signer,
    format_checkpoint,
    generate_signer_key,
    open_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
)

# The example of golang.org/x/mod/sumdb/note's documentation: Ed25519 signatures are
# deterministic, so the same key and text must give exactly Go's note.
GO_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2p"
    "ZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

ORIGIN = "docket.example/trail"
ROOT = bytes(range(32))


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.from_key(generate_signer_key(ORIGIN))


@pytest.fixture(scope="module")
def note(signer) -> str:
    return sign_checkpoint(signer, origin=ORIGIN, size=42, root=ROOT)


def test_keys_and_signatures_match_go():
    signer = Signer.from_key(GO_SIGNER_KEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_id == bytes.fromhex("c74f20a3")
    assert signer.verifier_key == GO_VERIFIER_KEY
    assert signer.sign(GO_TEXT) == GO_NOTE


def test_generated_key_round_trips(signer):
    name, key_id, _ = parse_verifier_key(signer.verifier_key)
    assert (name, key_id) == (ORIGIN, signer.key_id)
    assert signer.verifier_key.startswith(f"{ORIGIN}+{signer.key_id.hex()}+")


def test_checkpoint_format():
    assert format_checkpoint(ORIGIN, 42, ROOT) == (
        f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\n"
    )


def test_round_trip(signer, note):
    assert note.startswith(format_checkpoint(ORIGIN, 42, ROOT) + "\n\u2014 " + ORIGIN + " ")
    assert open_checkpoint(note, signer.verifier_key) == Checkpoint(
        origin=ORIGIN, size=42, root=ROOT, note=note
    )


def test_other_signers_lines_are_ignored(signer, note):
    witness = Signer.from_key(generate_signer_key("witness.example"))
    cosigned = note + witness.sign(format_checkpoint(ORIGIN, 42, ROOT)).split("\n\n")[1]
    assert open_checkpoint(cosigned, signer.verifier_key).size == 42
    assert open_checkpoint(cosigned, witness.verifier_key).size == 42


def test_wrong_key(note):
    other = Signer.from_key(generate_signer_key(ORIGIN))  # same name, different key
    with pytest.raises(CheckpointError, match="checkpoint is not signed by the pinned key"):
        open_checkpoint(note, other.verifier_key)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (ORIGIN + "\n", "docket.example/other\n"),
        ("\n42\n", "\n43\n"),
        ("\n42\n", "\n4\n"),
        (base64.b64encode(ROOT).decode()[:4], "BBEC"),
    ],
    ids=["origin", "size", "shorter size", "root"],
)
def test_edited_body(signer, note, old, new):
    with pytest.raises(CheckpointError, match="signature does not verify"):
        open_checkpoint(note.replace(old, new, 1), signer.verifier_key)


def test_edited_signature(signer, note):
    text, line = note.split("\n\n")
    name, encoded = line.rstrip("\n").split(" ")[1:]
    raw = bytearray(base64.b64decode(encoded))
    raw[10] ^= 1
    edited = f"{text}\n\n\u2014 {name} {base64.b64encode(raw).decode()}\n"
    with pytest.raises(CheckpointError, match="signature does not verify"):
        open_checkpoint(edited, signer.verifier_key)


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n42\n",  # no root line
        f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\nextension\n",
        f"\n42\n{base64.b64encode(ROOT).decode()}\n",  # would be a blank line: refused to sign
        f"{ORIGIN}\n042\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n-1\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n+1\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n{2**64}\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n42\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode().rstrip('=')}\n",
        f"{ORIGIN}\n42\n{base64.urlsafe_b64encode(bytes([251] * 32)).decode()}\n",
    ],
)
def test_malformed_bodies_even_when_signed(signer, body):
    if body.startswith("\n"):
        with pytest.raises(ValueError, match="note text"):
            signer.sign(body)
        return
    with pytest.raises(CheckpointError, match="malformed checkpoint"):
        open_checkpoint(signer.sign(body), signer.verifier_key)


def test_non_canonical_base64_root_is_refused(signer):
    # 'AAB=' decodes like 'AAA=' (the last character's spare bits are ignored by lenient
    # decoders); only the canonical spelling is accepted, so one checkpoint has one text.
    root_text = base64.b64encode(ROOT).decode()
    assert root_text.endswith("8=")
    body = f"{ORIGIN}\n42\n{root_text[:-2]}9=\n"
    assert base64.b64decode(root_text[:-2] + "9=") == ROOT
    with pytest.raises(CheckpointError, match="malformed checkpoint"):
        open_checkpoint(signer.sign(body), signer.verifier_key)


@pytest.mark.parametrize(
    "edit",
    [
        lambda n: n.replace("\n\n", "\n"),  # no signature block
        lambda n: n[:-1],  # no final newline
        lambda n: n.replace("\u2014 ", "- "),
        lambda n: n.replace("\u2014 ", "\u2014  "),
        lambda n: n[:-6] + "!!!!=\n",
        lambda n: n + "\u2014 x\n",
        lambda n: n + n.split("\n\n")[1],  # the pinned key's signature twice
        lambda n: n.replace("42", "4\t2"),
        lambda n: n + "\n",
    ],
    ids=[
        "no blank line",
        "no final newline",
        "ascii dash",
        "double space",
        "bad base64",
        "short signature line",
        "duplicate signature",
        "control character",
        "trailing blank line",
    ],
)
def test_malformed_notes(signer, note, edit):
    with pytest.raises(CheckpointError, match="malformed checkpoint"):
        open_checkpoint(edit(note), signer.verifier_key)


def test_not_text(signer):
    with pytest.raises(CheckpointError, match="malformed checkpoint"):
        open_checkpoint(b"bytes", signer.verifier_key)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "name+c74f20a3",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX",  # non-canonical
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # id mismatch
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # bad length
        "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not Ed25519
        GO_SIGNER_KEY,
        None,
    ],
)
def test_verifier_key_parsing_errors(key, note):
    with pytest.raises(KeyFormatError, match="malformed verifier key"):
        parse_verifier_key(key)
    with pytest.raises(KeyFormatError):
        open_checkpoint(note, key)


@pytest.mark.parametrize(
    "key",
    [
        GO_VERIFIER_KEY,
        "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKD",
        "PRIVATE+KEY+Peter+Neumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "private+key+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    ],
)
def test_signer_key_parsing_errors(key):
    with pytest.raises(KeyFormatError, match="malformed signer key"):
        Signer.from_key(key)


@pytest.mark.parametrize("name", ["", "with space", "with+plus", "tab\there"])
def test_key_names(name):
    with pytest.raises(KeyFormatError, match="key name"):
        generate_signer_key(name)


@pytest.mark.parametrize("text", ["no newline", "", "\n", "a\n\nb\n", "bell\x07\n"])
def test_sign_refuses_texts_that_cannot_be_read_back(signer, text):
    with pytest.raises(ValueError, match="note text"):
        signer.sign(text)


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [("", 1, ROOT), ("a\nb", 1, ROOT), (ORIGIN, -1, ROOT), (ORIGIN, True, ROOT), (ORIGIN, 1, b"")],
)
def test_format_checkpoint_validates(origin, size, root):
    with pytest.raises(ValueError):
        format_checkpoint(origin, size, root)
