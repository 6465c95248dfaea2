"""Evidence files, content-addressed by SHA-256 (no Flask).

Files are hashed while they stream in (a client's claimed hash is never trusted), written once
and made read-only. MD5 and SHA-1 are recorded too because NCMEC asks for them. Child-safety media
lives in a separate area so that access to it can be restricted and logged on its own. An
S3-compatible store with Object Lock is the scale-out (`cases.trail.objects.S3BlobStore`); it
implements the same `BlobStore`, so no caller reads a file by its path.
"""

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from cases.core.sqltypes import utcnow
from cases.trail.models import Blob

CHUNK = 1 << 16


class BlobTooLarge(ValueError):
    """The upload went past the size limit; nothing was kept."""


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    md5: str
    sha1: str
    size: int


# Which area a file goes to: fixed, or chosen from its digests once it has been read.
Area = bool | Callable[[StoredBlob], bool]


class BlobStore(Protocol):
    def put(self, stream: BinaryIO, *, restricted: Area, max_size: int) -> StoredBlob:
        """Store the stream's bytes once under their SHA-256, in the area `restricted` chooses."""

    def open(self, sha256: str, *, restricted: bool) -> BinaryIO:
        """The stored bytes; FileNotFoundError when they are not (or no longer) stored."""

    def exists(self, sha256: str, *, restricted: bool) -> bool:
        """Whether the bytes are stored."""

    def delete(self, sha256: str, *, restricted: bool) -> bool:
        """Delete the bytes (erasure); False when they were not stored."""


def check_sha256(sha256: str) -> str:
    """`sha256` if it is a SHA-256 hex digest (it names a file or a key), else ValueError."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


def hash_stream(
    stream: BinaryIO, *, out: BinaryIO | None = None, max_size: int | None = None
) -> StoredBlob:
    """Read `stream` to its end, copying it to `out`: its SHA-256, MD5, SHA-1 and size.

    BlobTooLarge as soon as it passes `max_size`: the caller discards what `out` received.
    """
    sha256, md5, sha1 = hashlib.sha256(), hashlib.md5(), hashlib.sha1()
    size = 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if max_size is not None and size > max_size:
            raise BlobTooLarge(f"the file is larger than {max_size // 1024} KiB")
        for digest in (sha256, md5, sha1):
            digest.update(chunk)
        if out is not None:
            out.write(chunk)
    return StoredBlob(sha256.hexdigest(), md5.hexdigest(), sha1.hexdigest(), size)


def stored_digests(store: BlobStore, sha256: str, *, restricted: bool) -> StoredBlob:
    """A stored file's SHA-256, MD5, SHA-1 and size, recomputed from its bytes
    (FileNotFoundError when it is not stored)."""
    with store.open(sha256, restricted=restricted) as stream:
        return hash_stream(stream)


class FileBlobStore:
    """Blobs as read-only files under `root/blobs` and `root/blobs-restricted`; uploads are read
    into `root/blobs-incoming` first, so no byte reaches an area before its area is known."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.incoming = self.root / "blobs-incoming"

    def _area(self, restricted: bool) -> Path:
        return self.root / ("blobs-restricted" if restricted else "blobs")

    def path(self, sha256: str, *, restricted: bool) -> Path:
        """Where the file is (this store's own: callers go through the `BlobStore` methods)."""
        check_sha256(sha256)
        return self._area(restricted) / sha256[:2] / sha256[2:4] / sha256

    def put(self, stream: BinaryIO, *, restricted: Area, max_size: int) -> StoredBlob:
        self.incoming.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(dir=self.incoming, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                blob = hash_stream(stream, out=out, max_size=max_size)
            target = self.path(blob.sha256, restricted=choose_area(restricted, blob))
            if target.exists():
                os.unlink(temp)  # same content already stored: written once
            else:
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.chmod(temp, 0o444)
                os.replace(temp, target)
            return blob
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise

    def open(self, sha256: str, *, restricted: bool) -> BinaryIO:
        return self.path(sha256, restricted=restricted).open("rb")

    def exists(self, sha256: str, *, restricted: bool) -> bool:
        return self.path(sha256, restricted=restricted).exists()

    def delete(self, sha256: str, *, restricted: bool) -> bool:
        try:
            os.unlink(self.path(sha256, restricted=restricted))
        except FileNotFoundError:
            return False
        return True


def choose_area(restricted: Area, blob: StoredBlob) -> bool:
    """Whether `blob` goes to the restricted area."""
    return restricted(blob) if callable(restricted) else restricted


def store_blob(
    session: Session,
    *,
    store: BlobStore,
    stream: BinaryIO,
    media_type: str,
    restricted: Area,
    max_size: int,
) -> Blob:
    """Store a file and its row (once per content); the caller references it from an event.

    `restricted` is the area for content not stored yet (or a function choosing it from the
    digests). Content already stored stays where its row says, whoever sends it again: bytes
    first kept as restricted are never written a second time into the ordinary area.
    """
    existing: Blob | None = None
    chosen = False

    def area(stored: StoredBlob) -> bool:
        nonlocal existing, chosen
        existing = session.get(Blob, stored.sha256)
        if existing is not None:
            return existing.restricted
        chosen = choose_area(restricted, stored)
        return chosen

    stored = store.put(stream, restricted=area, max_size=max_size)
    if existing is not None:
        return existing
    # The same new bytes uploaded at the same moment elsewhere (another machine, another worker)
    # may insert the row first: PostgreSQL waits for that transaction, then this inserts nothing
    # and the row read back is that one.
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(Blob).on_conflict_do_nothing(index_elements=["sha256"]),
        {
            "sha256": stored.sha256,
            "md5": stored.md5,
            "sha1": stored.sha1,
            "size": stored.size,
            "media_type": media_type,
            "restricted": chosen,
            "created_at": utcnow(),
        },
    )
    return session.get(Blob, stored.sha256)
