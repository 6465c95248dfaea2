"""Signed checkpoints: C2SP signed-note and tlog-checkpoint with Ed25519.

Key and note formats are those of Go's golang.org/x/mod/sumdb/note, so the notes and keys
interoperate with the Go tooling (and witnesses) of the transparency-log ecosystem:

    signer key    PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || 32-byte seed)>
    verifier key  <name>+<key id hex>+<base64(0x01 || 32-byte public key)>
    key id        first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), big-endian
    signed note   <text>\n— <name> <base64(key id || 64-byte signature)>\n ...

Parsing is strict and every base64 field must be in its canonical spelling, so one note has
exactly one byte form.
"""

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "KeyFormatError",
    "Signer",
    "format_checkpoint",
    "generate_signer_key",
    "open_checkpoint",
    "parse_verifier_key",
    "sign_checkpoint",
]

_ALG_ED25519 = b"\x01"
_SIG_PREFIX = "\u2014 "  # em dash, space
_KEY_ID = re.compile(r"[0-9a-f]{8}")
_SIZE = re.compile(r"0|[1-9][0-9]*")
_MAX_SIZE = 2**64 - 1
_ROOT_SIZE = 32


class KeyFormatError(ValueError):
    """A signer or verifier key text is malformed or inconsistent."""


class CheckpointError(ValueError):
    """A checkpoint note is malformed or not validly signed by the pinned key."""


@dataclass(frozen=True)
class Checkpoint:
    """An opened checkpoint: the tree it commits to and the note it came from."""

    origin: str
    size: int
    root: bytes
    note: str


def generate_signer_key(name: str) -> str:
    """A fresh Ed25519 signer key in note format. Keep it secret; publish `verifier_key`."""
    _check_name(name)
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    public = _public_bytes(Ed25519PrivateKey.from_private_bytes(seed).public_key())
    key_id = _key_id(name, public)
    return f"PRIVATE+KEY+{name}+{key_id.hex()}+{_b64(_ALG_ED25519 + seed)}"


class Signer:
    """Signs note texts with one Ed25519 key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self._private_key = private_key
        self._public = _public_bytes(private_key.public_key())
        self.key_id = _key_id(name, self._public)

    @classmethod
    def from_key(cls, text: str) -> "Signer":
        """Parse a `PRIVATE+KEY+...` signer key, checking its key id against the key."""
        # maxsplit: the base64 key itself may contain '+'.
        parts = text.strip().split("+", 4) if isinstance(text, str) else []
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise KeyFormatError("malformed signer key: expected PRIVATE+KEY+name+id+key")
        name, key_id, seed = _parse_key_parts(parts[2:], "signer")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if signer.key_id != key_id:
            raise KeyFormatError("malformed signer key: key id does not match the key")
        return signer

    @property
    def verifier_key(self) -> str:
        """The public half, in verifier key format."""
        return f"{self.name}+{self.key_id.hex()}+{_b64(_ALG_ED25519 + self._public)}"

    def sign(self, text: str) -> str:
        """The signed note: `text`, a blank line, and this key's signature line."""
        _check_note_text(text)
        signature = self._private_key.sign(text.encode("utf-8"))
        return f"{text}\n{_SIG_PREFIX}{self.name} {_b64(self.key_id + signature)}\n"


def parse_verifier_key(text: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """(name, key id, public key) from `<name>+<key id>+<base64 key>`."""
    parts = text.strip().split("+", 2) if isinstance(text, str) else []
    if len(parts) != 3:
        raise KeyFormatError("malformed verifier key: expected name+id+key")
    name, key_id, public = _parse_key_parts(parts, "verifier")
    if _key_id(name, public) != key_id:
        raise KeyFormatError("malformed verifier key: key id does not match the key")
    return name, key_id, Ed25519PublicKey.from_public_bytes(public)


def format_checkpoint(origin: str, size: int, root: bytes) -> str:
    """The C2SP tlog-checkpoint body: origin, tree size, base64 root, one per line."""
    _check_origin(origin, ValueError)
    if type(size) is not int or not 0 <= size <= _MAX_SIZE:
        raise ValueError(f"tree size must be an integer in 0..2**64-1, not {size!r}")
    if type(root) is not bytes or len(root) != _ROOT_SIZE:
        raise ValueError("root must be 32 bytes")
    return f"{origin}\n{size}\n{_b64(root)}\n"


def sign_checkpoint(signer: Signer, *, origin: str, size: int, root: bytes) -> str:
    """A signed checkpoint note for the tree (size, root) of the log called `origin`."""
    return signer.sign(format_checkpoint(origin, size, root))


def open_checkpoint(note: str, verifier_key: str) -> Checkpoint:
    """Parse `note` strictly and require a valid signature by exactly `verifier_key`.

    Signature lines of other keys (witness cosignatures, say) are ignored.
    """
    name, key_id, public_key = parse_verifier_key(verifier_key)
    text, signatures = _split_note(note)
    ours = [sig for sig_name, sig in signatures if sig_name == name and sig[:4] == key_id]
    if not ours:
        raise CheckpointError("checkpoint is not signed by the pinned key")
    if len(ours) > 1:
        raise CheckpointError("malformed checkpoint: more than one signature by the pinned key")
    try:
        public_key.verify(ours[0][4:], text.encode("utf-8"))
    except InvalidSignature:
        raise CheckpointError("signature does not verify") from None
    return _parse_body(text, note)


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Text and (name, key id || signature) pairs, Go note.Open's framing rules."""
    if not isinstance(note, str):
        raise CheckpointError("malformed checkpoint: not text")
    if any(ch < " " and ch != "\n" for ch in note) or not _is_utf8(note):
        raise CheckpointError("malformed checkpoint: control characters or invalid UTF-8")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("malformed checkpoint: no signature block")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise CheckpointError("malformed checkpoint: signature block must end with a newline")
    signatures = []
    for line in block[:-1].split("\n"):
        name, _, encoded = line.removeprefix(_SIG_PREFIX).partition(" ")
        signature = _b64decode(encoded)
        if not line.startswith(_SIG_PREFIX) or not _valid_name(name) or len(signature) < 5:
            raise CheckpointError(f"malformed checkpoint: bad signature line {line!r}")
        signatures.append((name, signature))
    return text, signatures


def _parse_body(text: str, note: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) != 4:  # origin, size, root and the empty string after the final newline
        raise CheckpointError("malformed checkpoint: expected origin, size and root lines only")
    origin, size_text, root_text, _ = lines
    _check_origin(origin, CheckpointError)
    if not _SIZE.fullmatch(size_text) or int(size_text) > _MAX_SIZE:
        raise CheckpointError(f"malformed checkpoint: bad tree size {size_text!r}")
    root = _b64decode(root_text)
    if len(root) != _ROOT_SIZE:
        raise CheckpointError("malformed checkpoint: root is not a base64 32-byte hash")
    return Checkpoint(origin=origin, size=int(size_text), root=root, note=note)


def _parse_key_parts(parts: list[str], kind: str) -> tuple[str, bytes, bytes]:
    """(name, key id, 32 key bytes) from the name, hex id and base64 fields of a key text."""
    name, key_id_hex, encoded = parts
    if not _valid_name(name):
        raise KeyFormatError(f"malformed {kind} key: bad name {name!r}")
    if not _KEY_ID.fullmatch(key_id_hex):
        raise KeyFormatError(f"malformed {kind} key: key id must be 8 lowercase hex digits")
    key = _b64decode(encoded)
    if len(key) != 33 or key[:1] != _ALG_ED25519:
        raise KeyFormatError(f"malformed {kind} key: not a base64 Ed25519 key")
    return name, bytes.fromhex(key_id_hex), key[1:]


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ALG_ED25519 + public).digest()[:4]


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _valid_name(name: str) -> bool:
    # Go's isValidName: non-empty, no whitespace, no '+'.
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _valid_name(name) or not _is_utf8(name):
        raise KeyFormatError(f"key name must be non-empty, without spaces or '+': {name!r}")


def _check_origin(origin: str, error: type[ValueError]) -> None:
    if not isinstance(origin, str) or not origin or any(ch < " " for ch in origin):
        raise error(f"malformed checkpoint: bad origin {origin!r}")


def _check_note_text(text: str) -> None:
    # A blank line would be read back as the start of the signature block.
    if (
        not isinstance(text, str)
        or not text.endswith("\n")
        or text.startswith("\n")
        or "\n\n" in text
    ):
        raise ValueError("note text must be non-empty lines, each ending with a newline")
    if any(ch < " " and ch != "\n" for ch in text) or not _is_utf8(text):
        raise ValueError("note text must be UTF-8 without control characters")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict standard base64; b"" for anything else, including non-canonical padding bits."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""
    return data if _b64(data) == text else b""
