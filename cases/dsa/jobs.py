"""The Transparency Database submission job: one batch of at most 100 statements per run (see
`cases.dsa.service`). Listed in the JOB_MODULES setting."""

from flask import current_app
from sqlmodel import Session

from cases.dsa.service import SUBMIT_JOB, submit_batch
from cases.jobs.registry import job
from cases.lifecycle.actors import Actor
from cases.models import Outbox


# Backoff from 30 s doubling to the hour: ten attempts wait out about three hours.
@job(SUBMIT_JOB, max_attempts=10)
def submit_dsa_statements(
    session: Session, outbox: Outbox, *, statement_ids: list[int], **_args
) -> None:
    """Post the batch's unsubmitted statements and record what became of each."""
    submit_batch(
        session,
        statement_ids=statement_ids,
        config=current_app.config,
        actor=Actor.system(f"job:{outbox.id}").label,
        last_try=outbox.attempts + 1 >= outbox.max_attempts,
    )
