"""Evidence files, content-addressed by SHA-256 (no Flask).

Files are hashed while they stream in (a client's claimed hash is never trusted), written once
and made read-only. MD5 and SHA-1 are recorded too because NCMEC asks for them. Child-safety media
lives in a separate area so that access to it can be restricted and logged on its own. An
S3-compatible store with Object Lock is the scale-out; it implements the same `BlobStore`.
"""

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlmodel import Session

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
    def put(self, stream: BinaryIO, *, restricted: Area, max_size: int) -> StoredBlob: ...

    def open(self, sha256: str, *, restricted: bool) -> BinaryIO: ...

    def path(self, sha256: str, *, restricted: bool) -> Path: ...


class FileBlobStore:
    """Blobs as read-only files under `root/blobs` and `root/blobs-restricted`; uploads are read
    into `root/blobs-incoming` first, so no byte reaches an area before its area is known."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.incoming = self.root / "blobs-incoming"

    def _area(self, restricted: bool) -> Path:
        return self.root / ("blobs-restricted" if restricted else "blobs")

    def path(self, sha256: str, *, restricted: bool) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self._area(restricted) / sha256[:2] / sha256[2:4] / sha256

    def put(self, stream: BinaryIO, *, restricted: Area, max_size: int) -> StoredBlob:
        self.incoming.mkdir(parents=True, exist_ok=True, mode=0o700)
        sha256, md5, sha1 = hashlib.sha256(), hashlib.md5(), hashlib.sha1()
        size = 0
        fd, temp = tempfile.mkstemp(dir=self.incoming, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > max_size:
                        raise BlobTooLarge(f"the file is larger than {max_size // 1024} KiB")
                    for digest in (sha256, md5, sha1):
                        digest.update(chunk)
                    out.write(chunk)
            blob = StoredBlob(sha256.hexdigest(), md5.hexdigest(), sha1.hexdigest(), size)
            target = self.path(
                blob.sha256, restricted=restricted(blob) if callable(restricted) else restricted
            )
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
        chosen = restricted(stored) if callable(restricted) else restricted
        return chosen

    stored = store.put(stream, restricted=area, max_size=max_size)
    if existing is not None:
        return existing
    blob = Blob(
        sha256=stored.sha256,
        md5=stored.md5,
        sha1=stored.sha1,
        size=stored.size,
        media_type=media_type,
        restricted=chosen,
    )
    session.add(blob)
    return blob


def file_digests(path: Path) -> StoredBlob:
    """A stored file's SHA-256, MD5, SHA-1 and size, recomputed from its bytes."""
    sha256, md5, sha1 = hashlib.sha256(), hashlib.md5(), hashlib.sha1()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            size += len(chunk)
            for digest in (sha256, md5, sha1):
                digest.update(chunk)
    return StoredBlob(sha256.hexdigest(), md5.hexdigest(), sha1.hexdigest(), size)
