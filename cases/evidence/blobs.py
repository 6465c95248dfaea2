"""The blob store the app writes evidence into: an S3-compatible object store when BLOB_STORE_URL
is set (see `cases.core.config`), else the folder instance/blobs/ (or under BLOB_ROOT)."""

from pathlib import Path

import boto3
from botocore.config import Config
from flask import Flask, current_app

from cases.trail.blobs import BlobStore, FileBlobStore
from cases.trail.objects import Location, S3BlobStore

OBJECT_STORE = "docket.object_store"


def _connect(app: Flask) -> S3BlobStore:
    config = app.config
    location = Location.parse(config["BLOB_STORE_URL"])
    restricted = config["BLOB_STORE_RESTRICTED_URL"]
    client = boto3.client(
        "s3",
        endpoint_url=config["BLOB_STORE_ENDPOINT"],
        region_name=config["BLOB_STORE_REGION"],
        # None leaves boto3 its own chain: AWS_ACCESS_KEY_ID…, profiles, the instance's role.
        aws_access_key_id=config["BLOB_STORE_ACCESS_KEY_ID"],
        aws_secret_access_key=config["BLOB_STORE_SECRET_ACCESS_KEY"],
        # S3-compatible servers (SeaweedFS, MinIO, Ceph) answer on one host: path-style keys.
        config=Config(s3={"addressing_style": "path"}) if config["BLOB_STORE_ENDPOINT"] else None,
    )
    return S3BlobStore(
        client,
        location=location,
        restricted_location=Location.parse(restricted) if restricted else location.restricted(),
    )


def object_store() -> S3BlobStore | None:
    """The configured object store (one client per app), or None for the local folder."""
    app = current_app._get_current_object()
    if not app.config["BLOB_STORE_URL"]:
        return None
    if OBJECT_STORE not in app.extensions:
        app.extensions[OBJECT_STORE] = _connect(app)
    return app.extensions[OBJECT_STORE]


def blob_store() -> BlobStore:
    return object_store() or FileBlobStore(
        Path(current_app.config["BLOB_ROOT"] or current_app.instance_path)
    )
