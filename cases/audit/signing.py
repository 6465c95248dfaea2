"""The log's settings for this deployment: the checkpoint signer (its key from TRAIL_SIGNING_KEY
or the instance folder) and how long an event may wait for integration."""

from datetime import timedelta
from pathlib import Path

from flask import current_app

from cases.trail.checkpoints import load_signer
from cases.trail.signed_notes import Signer

SIGNING_KEY_FILE = "trail-signing.key"


def signer() -> Signer:
    """The checkpoint signer: `TRAIL_SIGNING_KEY`, or instance/trail-signing.key (made once)."""
    if "docket.signer" not in current_app.extensions:
        current_app.extensions["docket.signer"] = load_signer(
            key_text=current_app.config["TRAIL_SIGNING_KEY"],
            key_path=Path(current_app.instance_path) / SIGNING_KEY_FILE,
            name=current_app.config["TRAIL_ORIGIN"],
        )
    return current_app.extensions["docket.signer"]


def pending_alert() -> timedelta:
    """How long an event may stay pending integration before it is reported."""
    return timedelta(seconds=current_app.config["TRAIL_PENDING_ALERT_SECONDS"])
