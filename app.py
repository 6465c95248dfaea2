"""Docket's application factory."""

import os

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: configuration layers, database, security, blueprints and CLI."""
    from cases import (
        admin_views,
        api,
        audit_views,
        auth_views,
        case_views,
        cli,
        config,
        db,
        definitions,
        errors,
        evidence,
        outbox,
        public_views,
        queue_views,
        web,
        worker,
    )
    from cases.extensions import csrf, limiter

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
    web.init_app(app)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(admin_views.bp)
    app.register_blueprint(audit_views.bp)
    public_views.init_app(app)
    case_views.init_app(app)
    queue_views.init_app(app)
    api.init_app(app)
    cli.init_app(app)
    outbox.init_app(app)
    worker.init_app(app)
    evidence.init_app(app)
    definitions.init_app(app)
    return app
