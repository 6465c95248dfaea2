"""Evidence files on an S3-compatible object store (no Flask): the `BlobStore` for several
application machines, which cannot share a local folder.

Keys are content-addressed like the folder's paths, `<prefix>/<sha[:2]>/<sha[2:4]>/<sha>`. An
upload is hashed while it streams into an unnamed temporary file (its key is its SHA-256, known
only at its end), then written once: a PUT with `If-None-Match: *` never replaces an object, so
a second upload of the same bytes, or a racing one, leaves the first untouched. Restricted
(child-safety) bytes live in a location of their own (another bucket, or another prefix), so that
access to them can be granted apart.

Preservation: where the bucket has Object Lock, `retain` gives an object a retention date in
COMPLIANCE mode (the end of the holds covering it). In that mode nobody, the operator's root
credentials included, can shorten or remove the date or delete the object's version before it;
GOVERNANCE mode would let any principal with `s3:BypassGovernanceRetention` do both, which is
the operator's own credentials. The app never shortens a hold either, so the two agree. A later
hold or an extension moves the date later, never earlier. The bucket's versioning (which Object
Lock turns on) keeps the locked version even if someone writes over its key or adds a delete
marker; erasure deletes every version of an unheld object.
"""

import base64
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from cases.trail.blobs import Area, StoredBlob, check_sha256, choose_area, hash_stream

LOCK_MODE = "COMPLIANCE"
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}


@dataclass(frozen=True)
class Location:
    """A bucket and a key prefix ("" or "a/b", no slash at either end)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> "Location":
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"an object store URL is s3://bucket/prefix, not {url!r}")
        return cls(parts.netloc, parts.path.strip("/"))

    def restricted(self) -> "Location":
        """The default location of restricted bytes: a sibling prefix in the same bucket."""
        return Location(self.bucket, f"{self.prefix}-restricted" if self.prefix else "restricted")

    def key(self, sha256: str) -> str:
        check_sha256(sha256)
        return "/".join(filter(None, (self.prefix, sha256[:2], sha256[2:4], sha256)))


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _whole_second_after(moment: datetime) -> datetime:
    # Object Lock dates have whole seconds: round up, so a retention never ends before the hold.
    return moment.replace(microsecond=0) + timedelta(seconds=1 if moment.microsecond else 0)


class S3BlobStore:
    """Blobs as objects in `location`, restricted ones in `restricted_location`."""

    def __init__(self, client, *, location: Location, restricted_location: Location):
        if location == restricted_location:
            raise ValueError("restricted evidence needs a bucket or prefix of its own")
        self.client = client
        self.locations = {False: location, True: restricted_location}
        self._object_lock: dict[str, bool] = {}

    def _head(self, sha256: str, *, restricted: bool) -> dict | None:
        where = self.locations[restricted]
        try:
            return self.client.head_object(Bucket=where.bucket, Key=where.key(sha256))
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                return None
            raise

    def put(self, stream: BinaryIO, *, restricted: Area, max_size: int) -> StoredBlob:
        with tempfile.TemporaryFile(prefix="docket-incoming-") as spool:
            blob = hash_stream(stream, out=spool, max_size=max_size)
            area = choose_area(restricted, blob)
            if self._head(blob.sha256, restricted=area) is not None:
                return blob  # same content already stored: written once
            where = self.locations[area]
            spool.seek(0)
            try:
                self.client.put_object(
                    Bucket=where.bucket,
                    Key=where.key(blob.sha256),
                    Body=spool,
                    ContentLength=blob.size,
                    # The server checks the bytes it received against the hash read here.
                    ContentMD5=base64.b64encode(bytes.fromhex(blob.md5)).decode("ascii"),
                    IfNoneMatch="*",
                )
            except ClientError as exc:
                # 412: a concurrent upload of the same bytes stored them first.
                if _error_code(exc) != "PreconditionFailed":
                    raise
            return blob

    def open(self, sha256: str, *, restricted: bool) -> BinaryIO:
        where = self.locations[restricted]
        try:
            response = self.client.get_object(Bucket=where.bucket, Key=where.key(sha256))
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise FileNotFoundError(f"s3://{where.bucket}/{where.key(sha256)}") from None
            raise
        return response["Body"]

    def exists(self, sha256: str, *, restricted: bool) -> bool:
        return self._head(sha256, restricted=restricted) is not None

    def delete(self, sha256: str, *, restricted: bool) -> bool:
        """Delete every version of the object (and its delete markers), so that no copy of
        erased bytes is left behind in the bucket's history; a locked version is refused."""
        where = self.locations[restricted]
        key = where.key(sha256)
        listing = self.client.list_object_versions(Bucket=where.bucket, Prefix=key)
        versions = [v for v in listing.get("Versions", []) if v["Key"] == key]
        markers = [m for m in listing.get("DeleteMarkers", []) if m["Key"] == key]
        for entry in versions + markers:
            self.client.delete_object(Bucket=where.bucket, Key=key, VersionId=entry["VersionId"])
        return bool(versions)

    def object_lock(self, *, restricted: bool) -> bool:
        """Whether the area's bucket has Object Lock (asked once per bucket)."""
        bucket = self.locations[restricted].bucket
        if bucket not in self._object_lock:
            try:
                found = self.client.get_object_lock_configuration(Bucket=bucket)
                enabled = found["ObjectLockConfiguration"].get("ObjectLockEnabled") == "Enabled"
            except ClientError as exc:
                if _error_code(exc) != "ObjectLockConfigurationNotFoundError":
                    raise
                enabled = False
            self._object_lock[bucket] = enabled
        return self._object_lock[bucket]

    def retain(self, sha256: str, *, restricted: bool, until: datetime) -> datetime | None:
        """Keep every version of the object from deletion and change until at least `until`
        (later only: a version locked longer keeps its date); `until` as the store rounded it,
        or None where nothing was locked (no Object Lock on the bucket, or nothing stored)."""
        if not self.object_lock(restricted=restricted):
            return None
        where = self.locations[restricted]
        key = where.key(sha256)
        listing = self.client.list_object_versions(Bucket=where.bucket, Prefix=key)
        # Every version: should someone have written over the key, the first one is the evidence.
        found = [v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == key]
        until = _whole_second_after(until)
        for version in found:
            head = self.client.head_object(Bucket=where.bucket, Key=key, VersionId=version)
            current = head.get("ObjectLockRetainUntilDate")
            if current is None or current < until:
                self.client.put_object_retention(
                    Bucket=where.bucket,
                    Key=key,
                    VersionId=version,
                    Retention={"Mode": LOCK_MODE, "RetainUntilDate": until},
                )
        return until if found else None
