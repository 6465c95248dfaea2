"""verify_trail cut into tasks: in real processes, when the log moves under it, and at the edges
of tasks, where the failure named must be the one a single pass names."""

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from cases.enums import EventType
from cases.trail import audit
from cases.trail.events import TrailError
from cases.trail.models import CaseEvent, EventPayload, LogHead, LogLeaf, LogNode
from cases.trail.store import append_event
from tests.trail.conftest import ACTOR
from tests.trail.tampering import tamper


def test_processes_verify_and_name_the_first_failure(scene, session, monkeypatch):
    monkeypatch.setattr(audit, "PARALLEL_FROM", 0)
    monkeypatch.setattr(audit, "PROCESSES", 2)
    report = scene.verify(session)
    assert report.processes == 2
    assert (report.leaves, report.nodes, report.cases, report.events) == (12, 10, 3, 12)

    b3 = scene.event(session, "B", 3)
    edited = sa.update(EventPayload).where(EventPayload.event_id == b3.id).values(payload="{}")
    tamper(session, edited)
    message = f"case {scene.cases['B'].reference} event 3: payload does not match its commitment"
    with pytest.raises(TrailError, match=f"^{message}$"):
        scene.verify(session)
    # With a leaf gone as well, the log's failure comes first, as in a single pass.
    tamper(session, sa.delete(LogLeaf).where(LogLeaf.index == 10))
    with pytest.raises(TrailError, match=r"^log leaf 10 is missing \(next stored leaf is 11\)$"):
        scene.verify(session)


def test_a_log_grown_since_the_head_was_read(scene, session, tasks, monkeypatch, app):
    """An append committed after the caller read the log head: PostgreSQL's tasks read the
    caller's snapshot and do not see it; SQLite's do, so the pass is done again in one."""
    run_in_parallel = audit._run_in_parallel

    def append_first(*args):
        with Session(app.extensions["docket.db"]) as other:
            append_event(other, case=scene.a, type=EventType.note, actor=ACTOR, payload={})
            other.commit()
        return run_in_parallel(*args)

    monkeypatch.setattr(audit, "_run_in_parallel", append_first)
    report = scene.verify(session)
    postgres = session.get_bind().dialect.name == "postgresql"
    assert (report.events, report.processes) == (12, 6 if postgres else 1)
    assert scene.verify(session).events == 13


NODE_END = sa.cast(LogNode.index + 1, sa.BigInteger).op("<<")(LogNode.level)


@pytest.fixture
def cut_off(scene, session):
    """Leaves 6 to 11 deleted, nothing else: the log tasks from leaf 6 on find none."""
    tamper(session, sa.delete(LogLeaf).where(LogLeaf.index >= 6))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # A single pass runs out of leaves at 6 with subtrees stored beyond.
        (lambda s: None, "the log stores subtree hashes beyond its leaves"),
        # ...and without them, finds the head disagreeing.
        (
            lambda s: tamper(s, sa.delete(LogNode).where(NODE_END > 6)),
            r"the log head says 12 leaves but 6 are stored, or its border differs",
        ),
    ],
    ids=["subtrees beyond", "head"],
)
def test_a_log_that_ends_early(scene, session, cut_off, passes, edit, message):
    edit(session)
    with pytest.raises(TrailError, match=f"^{message}$"):
        scene.verify(session)


def test_a_stray_subtree_row_is_named_as_in_one_pass(scene, session, passes):
    # No append makes a level-0 row; in append order it comes just before subtree (1, 2).
    tamper(session, sa.insert(LogNode).values(level=0, index=5, hash=bytes(32)))
    with pytest.raises(TrailError, match=r"^stored subtree \(1, 2\) is missing$"):
        scene.verify(session)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            sa.insert(LogNode).values(level=1, index=6, hash=bytes(32)),
            "the log stores subtree hashes beyond its leaves",
        ),
        (
            sa.update(LogHead).values(border=[bytes(32).hex()] * 2),
            "the log head says 12 leaves but 12 are stored, or its border differs",
        ),
    ],
    ids=["a subtree beyond the log", "the head's border"],
)
def test_the_end_of_the_log(scene, session, passes, edit, message):
    tamper(session, edit)
    with pytest.raises(TrailError, match=f"^{message}$"):
        scene.verify(session)


def test_an_integrated_event_made_to_look_pending(scene, session, passes):
    # In no log range: its chain is judged apart and holds; the leaf it leaves behind does not.
    a4 = scene.event(session, "A", 4)
    message = f"log leaf {a4.log_index} has no event: an event was deleted"
    tamper(session, sa.update(CaseEvent).where(CaseEvent.id == a4.id).values(log_index=None))
    with pytest.raises(TrailError, match=f"^{message}$"):
        scene.verify(session)
