"""Docket's application factory."""

import importlib
import os

from flask import Flask

# Each has `init_app(app)`: its blueprints, CLI groups or hooks. Order: the shell before the pages.
DOMAIN_MODULES = (
    "cases.core.web",
    "cases.core.cli",
    "cases.accounts.views",
    "cases.accounts.cli",
    "cases.jobs.outbox",
    "cases.jobs.views",
    "cases.notices.views",
    "cases.jobs.cli",
    "cases.lifecycle.cli",
    "cases.intake.views",
    "cases.review.queue_views",
    "cases.review.case_views",
    "cases.evidence.views",
    "cases.child_safety.views",
    "cases.child_safety.ncmec.views",
    "cases.portal.views",
    "cases.child_safety.known_hash_views",
    "cases.audit.views",
    "cases.audit.cli",
    "cases.audit.jobs",
    "cases.retention.cli",
    "cases.privacy.views",
    "cases.transparency.views",
    "cases.transparency.cli",
    "cases.inquiries.views",
    "cases.inquiries.cli",
    "cases.dsa.cli",
    "cases.api",
    "cases.demo",
)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: configuration layers, database, security, then every domain's part."""
    from cases.core import config, db, errors
    from cases.core.extensions import csrf, limiter

    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get(
        "DOCKET_INSTANCE_PATH"
    )
    app = Flask(
        __name__,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
        instance_relative_config=True,
    )
    os.makedirs(app.instance_path, exist_ok=True)
    config.load_config(app, test_config)

    db.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    errors.init_app(app)
    for name in DOMAIN_MODULES:
        importlib.import_module(name).init_app(app)
    return app
