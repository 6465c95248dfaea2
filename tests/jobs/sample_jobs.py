"""Jobs registered for the tests (tests/jobs/conftest.py lists this module in JOB_MODULES).

Their effect is a row in a table of their own, so a test sees exactly what committed."""

import os
import time
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from cases.jobs.registry import AttemptFailed, job
from cases.models import Outbox

effects = sa.Table(
    "test_job_effect",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("outbox_id", sa.Integer, nullable=False),
    sa.Column("label", sa.String(100), nullable=False),
)

HOLD_SECONDS = 30


def _record(session: Session, outbox: Outbox, label: str) -> None:
    session.execute(effects.insert().values(outbox_id=outbox.id, label=label))
    session.flush()


@job("test_record", queue="notify")
def record(session: Session, outbox: Outbox, *, label: str, hold: str | None = None) -> None:
    """Record the effect; while the file `hold` exists, then wait (so a test can kill us)."""
    _record(session, outbox, label)
    if hold and os.path.exists(hold):
        Path(f"{hold}.pid").write_text(str(os.getpid()))
        deadline = time.monotonic() + HOLD_SECONDS
        while os.path.exists(hold) and time.monotonic() < deadline:
            time.sleep(0.05)


@job("test_flaky", queue="webhooks", max_attempts=3)
def flaky(session: Session, outbox: Outbox, *, label: str, failures: int) -> None:
    """Record the effect, then raise on the first `failures` attempts (the effect rolls back)."""
    _record(session, outbox, label)
    if outbox.attempts < failures:
        raise RuntimeError(f"boom on attempt {outbox.attempts + 1}")


@job("test_recorded_failure", max_attempts=2)
def recorded_failure(session: Session, outbox: Outbox, *, label: str) -> None:
    """Record the attempt, then fail it with AttemptFailed (so the record is kept)."""
    _record(session, outbox, label)
    raise AttemptFailed(f"receiver refused attempt {outbox.attempts + 1}")
