"""Evidence on an S3-compatible object store (a real SeaweedFS server, `tests.object_store`):
written once under its SHA-256, restricted bytes apart, locked in COMPLIANCE mode while a hold
covers them (not even the root credentials delete a locked version), read back by the app's
pages, verification and export, and deleted by erasure when no hold covers them."""

import hashlib
import io
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from sqlmodel import select

from cases.child_safety.holds import extend_hold_by_days, place_hold_for_days
from cases.core.sqltypes import utcnow
from cases.core.uploads import Attachment
from cases.enums import HoldKind
from cases.evidence.blobs import blob_store
from cases.evidence.service import store_attachments
from cases.lifecycle.actors import Actor
from cases.models import Case
from cases.trail.blobs import BlobTooLarge
from cases.trail.objects import Location, S3BlobStore
from tests.casework import page_token
from tests.helpers import fresh, post_report

REPO = Path(__file__).resolve().parents[2]
DATA = b"evidence bytes " * 9000  # several read chunks
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


@pytest.fixture
def config_overrides(object_store_config) -> dict:
    return object_store_config


@pytest.fixture
def s3(s3_server):
    return s3_server.client()


@pytest.fixture
def store(s3, s3_buckets) -> S3BlobStore:
    return S3BlobStore(
        s3,
        location=Location(s3_buckets.evidence, "ev"),
        restricted_location=Location(s3_buckets.restricted, "ev"),
    )


def key(sha256: str, prefix: str = "ev") -> str:
    return f"{prefix}/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def versions(s3, bucket: str, name: str) -> list[dict]:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=name)
    return [v for v in listing.get("Versions", []) if v["Key"] == name]


# --- the store ----------------------------------------------------------------------------------


def test_put_and_open_round_trip_under_the_content_address(store, s3, s3_buckets):
    blob = store.put(io.BytesIO(DATA), restricted=False, max_size=1 << 20)
    assert blob.sha256 == hashlib.sha256(DATA).hexdigest()
    assert (blob.md5, blob.sha1, blob.size) == (
        hashlib.md5(DATA).hexdigest(),
        hashlib.sha1(DATA).hexdigest(),
        len(DATA),
    )
    with store.open(blob.sha256, restricted=False) as stream:
        assert stream.read() == DATA
    body = s3.get_object(Bucket=s3_buckets.evidence, Key=key(blob.sha256))["Body"].read()
    assert body == DATA
    assert store.exists(blob.sha256, restricted=False)
    assert not store.exists(blob.sha256, restricted=True)
    with pytest.raises(FileNotFoundError):
        store.open(blob.sha256, restricted=True)


def test_a_file_over_the_limit_leaves_nothing(store, s3, s3_buckets):
    with pytest.raises(BlobTooLarge):
        store.put(io.BytesIO(DATA), restricted=False, max_size=1024)
    assert "Contents" not in s3.list_objects_v2(Bucket=s3_buckets.evidence)


def test_the_same_content_is_written_once(store, s3, s3_buckets):
    first = store.put(io.BytesIO(DATA), restricted=False, max_size=1 << 20)
    before = s3.head_object(Bucket=s3_buckets.evidence, Key=key(first.sha256))
    again = store.put(io.BytesIO(DATA), restricted=False, max_size=1 << 20)
    after = s3.head_object(Bucket=s3_buckets.evidence, Key=key(first.sha256))
    assert again == first
    assert (after["VersionId"], after["ETag"], after["LastModified"]) == (
        before["VersionId"],
        before["ETag"],
        before["LastModified"],
    )
    assert len(versions(s3, s3_buckets.evidence, key(first.sha256))) == 1
    # A second writer that missed the first (a race) is refused by the server, not let through.
    with pytest.raises(ClientError) as refused:
        s3.put_object(
            Bucket=s3_buckets.evidence, Key=key(first.sha256), Body=b"other", IfNoneMatch="*"
        )
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"


def test_restricted_bytes_land_in_their_own_bucket(store, s3, s3_buckets):
    blob = store.put(io.BytesIO(PNG), restricted=lambda stored: True, max_size=1 << 20)
    assert versions(s3, s3_buckets.restricted, key(blob.sha256))
    assert "Contents" not in s3.list_objects_v2(Bucket=s3_buckets.evidence)


def test_without_a_restricted_url_they_get_a_sibling_prefix(s3, s3_buckets):
    location = Location.parse(f"s3://{s3_buckets.evidence}/docket/")
    store = S3BlobStore(s3, location=location, restricted_location=location.restricted())
    blob = store.put(io.BytesIO(PNG), restricted=True, max_size=1 << 20)
    assert versions(s3, s3_buckets.evidence, key(blob.sha256, "docket-restricted"))
    assert not versions(s3, s3_buckets.evidence, key(blob.sha256, "docket"))
    with pytest.raises(ValueError):
        S3BlobStore(s3, location=location, restricted_location=location)


def test_a_retained_file_cannot_be_deleted_or_overwritten_even_by_root(store, s3, s3_buckets):
    blob = store.put(io.BytesIO(DATA), restricted=False, max_size=1 << 20)
    until = utcnow() + timedelta(days=2)
    assert until <= store.retain(blob.sha256, restricted=False, until=until)
    name = key(blob.sha256)
    head = s3.head_object(Bucket=s3_buckets.evidence, Key=name)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    for bypass in (False, True):  # COMPLIANCE: no governance bypass either
        with pytest.raises(ClientError) as refused:
            s3.delete_object(
                Bucket=s3_buckets.evidence,
                Key=name,
                VersionId=head["VersionId"],
                BypassGovernanceRetention=bypass,
            )
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError):
        store.delete(blob.sha256, restricted=False)  # erasure cannot take it either
    with pytest.raises(ClientError):  # nor can the date be brought forward
        s3.put_object_retention(
            Bucket=s3_buckets.evidence,
            Key=name,
            VersionId=head["VersionId"],
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(days=1)},
        )
    # A plain PUT over the key (no If-None-Match) only adds a version: the locked one stays.
    s3.put_object(Bucket=s3_buckets.evidence, Key=name, Body=b"forged")
    kept = s3.get_object(Bucket=s3_buckets.evidence, Key=name, VersionId=head["VersionId"])
    assert kept["Body"].read() == DATA
    # Retention only moves later: an earlier date leaves the evidence's as it was.
    store.retain(blob.sha256, restricted=False, until=until - timedelta(days=1))
    locked = s3.get_object_retention(
        Bucket=s3_buckets.evidence, Key=name, VersionId=head["VersionId"]
    )["Retention"]["RetainUntilDate"]
    assert until <= locked < until + timedelta(seconds=2)


def test_a_bucket_without_object_lock_stores_but_does_not_lock(s3, s3_buckets):
    location = Location(s3_buckets.unlocked, "")
    store = S3BlobStore(s3, location=location, restricted_location=location.restricted())
    blob = store.put(io.BytesIO(DATA), restricted=False, max_size=1 << 20)
    assert store.retain(blob.sha256, restricted=False, until=utcnow() + timedelta(days=1)) is None
    assert store.delete(blob.sha256, restricted=False)
    assert not store.exists(blob.sha256, restricted=False)
    assert not store.delete(blob.sha256, restricted=False)


# --- the app ------------------------------------------------------------------------------------


def retention(s3, bucket: str, sha256: str):
    head = s3.head_object(Bucket=bucket, Key=key(sha256, "docket"))
    return head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")


def test_an_upload_is_stored_in_s3_and_the_evidence_view_reads_it_back(
    app, client, session, signed_in, s3, s3_buckets
):
    response = post_report(client, files=[(DATA, "transcript.txt", "text/plain")])
    assert response.status_code == 302
    sha256 = hashlib.sha256(DATA).hexdigest()
    assert versions(s3, s3_buckets.evidence, key(sha256, "docket"))
    assert not (Path(app.instance_path) / "blobs").exists()  # nothing in the local folder

    fresh(session)
    case = session.exec(select(Case)).one()
    signed_in("reviewer")
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    assert sha256[:16] in page
    viewed = client.post(
        f"/cases/{case.reference}/evidence/{sha256}/view",
        data={"reason": "Reviewing the report", "csrf_token": page_token(client, case)},
    )
    assert viewed.status_code == 200
    assert viewed.data == DATA


def test_child_safety_uploads_go_to_the_restricted_bucket(app, client, s3, s3_buckets):
    response = post_report(client, category="minors.csam", files=[(PNG, "image.png", "image/png")])
    assert response.status_code == 302
    sha256 = hashlib.sha256(PNG).hexdigest()
    assert versions(s3, s3_buckets.restricted, key(sha256, "docket"))
    assert not versions(s3, s3_buckets.evidence, key(sha256, "docket"))


def test_a_hold_locks_its_files_until_its_end_and_an_extension_extends_it(
    app, session, open_case, add_evidence, staff, s3, s3_buckets
):
    case = open_case(subject="acct-held")
    blob = add_evidence(case, DATA)
    assert retention(s3, s3_buckets.evidence, blob.sha256) == (None, None)
    lead = Actor.staff(staff("lead"))
    hold = place_hold_for_days(
        session, case=case, kind=HoldKind.legal, days=30, reason="Litigation", actor=lead
    )
    session.commit()  # the lock is a job after commit (run in-process here)
    mode, until = retention(s3, s3_buckets.evidence, blob.sha256)
    assert mode == "COMPLIANCE" and hold.until <= until < hold.until + timedelta(seconds=2)

    hold = extend_hold_by_days(
        session, hold=hold, case=case, days=10, reason="Litigation goes on", actor=lead
    )
    session.commit()
    assert hold.until <= retention(s3, s3_buckets.evidence, blob.sha256)[1]

    # Evidence that reaches the held case later (a report's attachment) is locked too.
    later = b"a later screenshot"
    attachment = Attachment("later.txt", "text/plain", len(later), io.BytesIO(later))
    [sha256] = store_attachments(
        session, case=case, attachments=[attachment], actor=lead, context={"n": 2}
    )
    session.commit()
    assert retention(s3, s3_buckets.evidence, sha256)[1] >= hold.until


def test_holds_placed_before_the_object_store_get_their_lock_from_the_command(
    app, session, runner, open_case, add_evidence, staff, s3, s3_buckets
):
    case = open_case(subject="acct-held-earlier")
    blob = add_evidence(case, DATA)
    url, app.config["BLOB_STORE_URL"] = app.config["BLOB_STORE_URL"], None  # the local folder
    hold = place_hold_for_days(
        session,
        case=case,
        kind=HoldKind.legal,
        days=30,
        reason="Litigation",
        actor=Actor.staff(staff("lead")),
    )
    session.commit()
    app.config["BLOB_STORE_URL"] = url
    assert retention(s3, s3_buckets.evidence, blob.sha256) == (None, None)

    result = runner.invoke(args=["holds", "retain-files"])
    assert result.exit_code == 0, result.output
    assert result.output == "queued the lock of the files of 1 held case(s)\n"
    mode, until = retention(s3, s3_buckets.evidence, blob.sha256)
    assert mode == "COMPLIANCE" and until >= hold.until


def test_the_lock_command_needs_an_object_store(app, runner):
    app.config["BLOB_STORE_URL"] = None
    result = runner.invoke(args=["holds", "retain-files"])
    assert result.exit_code == 2 and "no object store is configured" in result.output


def test_verification_and_export_read_the_object_store(
    app, session, runner, open_case, add_evidence, s3, s3_buckets, tmp_path
):
    case = open_case()
    blob = add_evidence(case, DATA)
    result = runner.invoke(args=["trail", "verify"])
    assert result.exit_code == 0, result.output
    assert "blobs: 1 files re-hashed" in result.output

    out = tmp_path / "bundle.zip"
    result = runner.invoke(args=["trail", "export", case.reference, "--out", str(out)])
    assert result.exit_code == 0, result.output
    key_file = tmp_path / "docket.pub"
    key_file.write_text(runner.invoke(args=["trail", "public-key"]).output)
    verified = subprocess.run(
        [sys.executable, "-m", "cases.trail.verify", str(out), "--public-key", str(key_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # Bytes changed behind the app's back are found.
    s3.put_object(Bucket=s3_buckets.evidence, Key=key(blob.sha256, "docket"), Body=b"forged")
    result = runner.invoke(args=["trail", "verify"])
    assert result.exit_code == 1 and "do not match its hash" in result.output


def test_erasure_deletes_every_version_of_unheld_bytes(
    app, session, runner, open_case, add_evidence, s3, s3_buckets
):
    case = open_case()
    blob = add_evidence(case, DATA)
    with app.app_context():
        assert blob_store().exists(blob.sha256, restricted=False)
    result = runner.invoke(args=["trail", "erase", case.reference, "--reason", "GDPR request 7"])
    assert result.exit_code == 0, result.output
    assert versions(s3, s3_buckets.evidence, key(blob.sha256, "docket")) == []
    result = runner.invoke(args=["trail", "verify"])
    assert result.exit_code == 0 and "1 erased" in result.output, result.output
