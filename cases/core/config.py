"""Configuration layers: these defaults → instance/config.py → environment → test overrides.

The environment layer is Flask's `FLASK_*` prefix plus the unprefixed names operators expect
(`DATABASE_URL`, `REDIS_URL`, `SECRET_KEY`), which win over the instance file.
"""

import os
import secrets
from pathlib import Path

from flask import Flask

from cases.core.db import sqlite_url

DEFAULTS = {
    "DATABASE_URL": None,  # None → SQLite at instance/docket.db
    "REDIS_URL": None,  # None → jobs run in-process right after commit
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
    # POST /api/v1/detections/batch: 500 detections with generous excerpts and metadata.
    "DETECTIONS_BATCH_MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,  # also set per request when served over HTTPS
    "REMEMBER_COOKIE_HTTPONLY": True,
    "WTF_CSRF_TIME_LIMIT": 3600 * 8,
    # Staff sessions live server-side (staff_session): a session ends this long after sign-in
    # however active it is, and after this long without a request. The cookie's own signature
    # expires with the lifetime too (PERMANENT_SESSION_LIFETIME is set from it).
    "SESSION_LIFETIME_SECONDS": 12 * 3600,
    "SESSION_IDLE_SECONDS": 3600,
    # Sign-in throttling counts failed attempts within this sliding window.
    "LOGIN_THROTTLE_SECONDS": 900,
    # Failures of one account from one client before each further attempt must wait (2 s,
    # doubling per failure, never longer than the window).
    "LOGIN_FAILURES_BEFORE_DELAY": 3,
    # Failures of one account from one client before that client may not try that account again
    # until the window passes; other clients still can, so a stranger cannot lock a user out.
    "LOGIN_FAILURES_BEFORE_BLOCK": 10,
    # Failures from one client across all accounts before it may not sign in at all for a window.
    "LOGIN_CLIENT_FAILURES_BEFORE_BLOCK": 50,
    "RATELIMIT_ENABLED": True,
    # Where rate-limit counters live; None → REDIS_URL when set (shared by every worker), else
    # memory:// (one process's own counts).
    "RATELIMIT_STORAGE_URI": None,
    # Passed to the Redis client: a request waits at most this long on an unanswering Redis.
    "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    # Redis down: each worker limits from its own memory until Redis answers again, rather than
    # failing every limited request or letting them all through.
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    "RATELIMIT_LOGIN": "20 per minute",
    "RATELIMIT_PUBLIC": "10 per minute",
    "PROXY_FIX_HOPS": 0,
    "TRAIL_ORIGIN": "docket.example/trail",
    # Events still pending integration after this long are reported by `trail verify` and /audit.
    "TRAIL_PENDING_ALERT_SECONDS": 60,
    "TRAIL_SIGNING_KEY": None,  # None → generated once into instance/trail-signing.key
    "BLOB_ROOT": None,  # None → the instance folder
    # Evidence on an S3-compatible object store, for several application machines (they cannot
    # share instance/blobs/): s3://bucket/prefix. None → the local folder above. Each file is
    # written once under <prefix>/<sha[:2]>/<sha[2:4]>/<sha>; where the bucket has Object Lock,
    # the files a hold covers get a COMPLIANCE retention until the hold's end (a job after
    # commit; see cases.trail.objects). From the environment: FLASK_BLOB_STORE_URL and so on.
    "BLOB_STORE_URL": None,
    # Child-safety bytes: their own bucket (recommended) or prefix, s3://bucket/prefix. None →
    # the same bucket under "<prefix>-restricted" ("restricted" without a prefix).
    "BLOB_STORE_RESTRICTED_URL": None,
    "BLOB_STORE_ENDPOINT": None,  # an S3-compatible server's URL (path-style); None → AWS S3
    "BLOB_STORE_REGION": None,  # None → boto3's (AWS_DEFAULT_REGION, ~/.aws/config)
    # None → boto3's own chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, instance role.
    "BLOB_STORE_ACCESS_KEY_ID": None,
    "BLOB_STORE_SECRET_ACCESS_KEY": None,
    # Imported at start so that web and workers know every job.
    "JOB_MODULES": [
        "cases.jobs.outbox",
        "cases.lifecycle.jobs",
        "cases.audit.jobs",
        "cases.child_safety.jobs",
        "cases.decisions.jobs",
        "cases.notices.jobs",
        "cases.dsa.jobs",
        "cases.retention.jobs",
        "cases.accounts.jobs",
    ],
    "JOB_QUEUE_PREFIX": "",  # prepended to RQ queues, job ids, worker names, scheduler locks
    "JOB_TIMEOUT": 180,  # seconds before RQ kills a job; keep below OUTBOX_ACK_TIMEOUT
    "OUTBOX_ACK_TIMEOUT": 300,  # seconds a dispatched job may stay undone before the relay resends
    "PERIODIC_SECONDS": {},  # interval overrides by periodic task name; 0 disables a task
    "QUEUE_PAGE_SIZE": 50,  # cases per queue page and search results per search
    "WEBHOOK_URL": None,  # the operator's enforcement endpoint; None → enforcement not sent
    "WEBHOOK_SECRET": None,  # HMAC-SHA256 key of the X-Docket-Signature header (required with URL)
    "WEBHOOK_TIMEOUT": 10,  # seconds per delivery attempt
    "REPORT_ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,  # per file on the public report form
    "REPORT_ATTACHMENT_MAX_FILES": 5,
    "STATUS_LINK_MAX_AGE_DAYS": 400,  # private status links outlive the six-month appeal window
    # How notices reach affected users: "email", "webhook" (a signed `notice` event to
    # WEBHOOK_URL, which the operator shows in its product) or "both"; each where configured.
    "NOTICE_DELIVERY": "both",
    # Certified out-of-court dispute settlement bodies named in appeal outcomes (DSA Art. 21):
    # a list of {"name": …, "url": …}.
    "DISPUTE_SETTLEMENT_BODIES": [],
    "ACCESS_REQUEST_DAYS": 30,  # GDPR Art. 12(3): one month to answer an access request
    # NCMEC CyberTipline (DESIGN section 9). The test endpoint unless NCMEC_ENVIRONMENT is
    # "production"; in test mode any URL is accepted (a local fake server included).
    "NCMEC_URL": "https://exttest.cybertip.org/ispws",
    "NCMEC_ENVIRONMENT": "test",
    "NCMEC_USERNAME": None,
    "NCMEC_PASSWORD": None,
    "NCMEC_TIMEOUT": 30,  # seconds per request
    "NCMEC_SCHEMA_PATH": None,  # None → the endpoint's GET /xsd, cached under the instance folder
    "NCMEC_REPORTER_EMAIL": None,  # required by the schema: nothing is submitted without it
    "NCMEC_REPORTER_FIRST_NAME": None,
    "NCMEC_REPORTER_LAST_NAME": None,
    "NCMEC_REPORTER_PHONE": None,
    "NCMEC_ESP_NAME": None,
    "PRESERVATION_DAYS": 365,  # REPORT Act 2024: at least a year; a lower value is refused
    "LAW_ENFORCEMENT_HOLD_DAYS": 90,  # 18 U.S.C. 2703(f): 90 days, renewable by 90
    "WELLNESS_BREAK_AFTER": 20,  # graphic items a reviewer opens in a day before a break prompt
    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",  # where emailed links point (never a Host header)
    "MAIL_SERVER": "",  # empty: messages are written as .eml files under MAIL_OUTBOX_DIR
    "MAIL_OUTBOX_DIR": None,  # None → instance/mail (the embedded outbox, shown at /admin/mail)
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,  # STARTTLS
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_FROM": "Docket <no-reply@docket.example>",
    # DSA Transparency Database (statements of reasons, Art. 24(5)): the API's base URL (the
    # path /api/v1/... is appended) and the platform's token. Empty: `dsa submit` is refused.
    "DSA_TRANSPARENCY_URL": "",
    "DSA_TRANSPARENCY_TOKEN": "",
    "DSA_TRANSPARENCY_TIMEOUT": 30,  # seconds per request
}

UNPREFIXED_ENV = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")


def load_config(app: Flask, test_config: dict | None) -> None:
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    for name in UNPREFIXED_ENV:
        if os.environ.get(name):
            app.config[name] = os.environ[name]
    app.config.from_prefixed_env()
    if test_config:
        app.config.update(test_config)
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = sqlite_url(app.instance_path)
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config.get("REDIS_URL") or "memory://"
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / "secret_key")


def _instance_secret(path: Path) -> str:
    """Generate the secret once per deployment and keep it beside the database, never in code."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()
