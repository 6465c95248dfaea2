"""The periodic SLA sweep. Listed in the JOB_MODULES setting."""

from sqlmodel import Session

from cases.jobs.registry import periodic
from cases.lifecycle.transitions import sweep


@periodic("sla_sweep", every_seconds=60)
def sla_sweep(session: Session) -> None:
    sweep(session)
