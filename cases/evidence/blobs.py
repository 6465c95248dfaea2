"""The blob store the app writes evidence into: instance/blobs/ unless BLOB_ROOT says otherwise."""

from pathlib import Path

from flask import current_app

from cases.trail.blobs import FileBlobStore


def blob_store() -> FileBlobStore:
    return FileBlobStore(Path(current_app.config["BLOB_ROOT"] or current_app.instance_path))
